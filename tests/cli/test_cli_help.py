"""`attunement --help`: library commands and the platform in two panels, within 80 columns;
the platform commands under `attunement platform`, their old top-level names hidden aliases."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from attunement.cli import MOVED_TO_PLATFORM, app

runner = CliRunner()
LIBRARY = ("score", "instruments", "profile", "match", "interventions", "observe", "trials",
           "power", "effect-sizes", "meta")


def _panels(text: str) -> dict[str, list[str]]:
    """Panel title -> the command names listed in it (rich's boxed help)."""
    panels: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        head = re.match(r"╭─ (.+?) ─", line)
        if head:
            current = head.group(1)
            panels[current] = []
        elif current and (row := re.match(r"│ ([a-z][a-z-]*)\s", line)):
            panels[current].append(row.group(1))
    return panels


def test_help_has_a_library_panel_and_a_platform_panel_within_80_columns() -> None:
    r = runner.invoke(app, ["--help"], env={"COLUMNS": "80"})
    assert r.exit_code == 0, r.output
    assert max(len(line) for line in r.stdout.splitlines()) <= 80
    panels = _panels(r.stdout)
    library = next(v for k, v in panels.items() if k.startswith("Library"))
    platform = next(v for k, v in panels.items() if k.startswith("Platform"))
    assert sorted(library) == sorted(LIBRARY)
    assert sorted(platform) == ["demo", "platform"]
    listed = [name for names in panels.values() for name in names]
    assert not set(MOVED_TO_PLATFORM) & set(listed)  # the old names are hidden


def test_platform_help_lists_every_platform_command() -> None:
    r = runner.invoke(app, ["platform", "--help"], env={"COLUMNS": "80"})
    assert r.exit_code == 0, r.output
    assert max(len(line) for line in r.stdout.splitlines()) <= 80
    listed = [n for names in _panels(r.stdout).values() for n in names]
    assert sorted(listed) == sorted(MOVED_TO_PLATFORM.values())


@pytest.mark.parametrize("old", sorted(MOVED_TO_PLATFORM))
def test_an_old_name_runs_the_platform_command_with_a_note(old: str) -> None:
    new = MOVED_TO_PLATFORM[old]
    r_new = runner.invoke(app, ["platform", new, "--help"], env={"COLUMNS": "80"})
    r_old = runner.invoke(app, [old, "--help"], env={"COLUMNS": "80"})
    assert r_new.exit_code == r_old.exit_code == 0, r_old.output
    assert r_old.stdout == r_new.stdout
    assert f"attunement platform {new} " in " ".join(r_new.stdout.split())  # the usage line
    assert r_new.stderr == ""
    assert r_old.stderr == f"note: `attunement {old}` is now `attunement platform {new}`\n"


def test_library_commands_are_not_renamed() -> None:
    for name in LIBRARY:
        r = runner.invoke(app, [name, "--help"])
        assert r.exit_code == 0 and r.stderr == "", (name, r.output)
    assert runner.invoke(app, ["platform", "score", "--help"]).exit_code == 2


def test_the_database_options_say_their_defaults() -> None:
    """The defaults were written in brackets, which rich's help took for markup and dropped."""
    r = runner.invoke(app, ["platform", "init", "--help"], env={"COLUMNS": "200"})
    text = " ".join(r.stdout.split())
    assert "(default: a SQLite file in your data directory)" in text
    assert "(default: identifier.key in your data directory)" in text
