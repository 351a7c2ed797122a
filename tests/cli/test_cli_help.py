"""`attunement --help`: library commands and the platform in two panels, within 80 columns;
the platform commands under `attunement platform`, their old top-level names hidden aliases."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer
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
    # every command that moved under `platform` is listed there (new ones start there too)
    assert set(MOVED_TO_PLATFORM.values()) <= set(listed)
    assert "export-jobs" in listed


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


def _leaf_commands() -> list[list[str]]:
    """Every runnable command, as its words after `attunement`."""
    root = typer.main.get_command(app)
    found: list[list[str]] = []

    def walk(cmd, path: list[str], ctx: typer.Context) -> None:
        if not hasattr(cmd, "list_commands"):
            found.append(path)
            return
        for name in cmd.list_commands(ctx):
            sub = cmd.get_command(ctx, name)
            walk(sub, [*path, name], typer.Context(sub, parent=ctx, info_name=name))

    walk(root, [], typer.Context(root))
    return found


def test_docs_cli_md_names_every_command() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text()
    commands = _leaf_commands()
    assert len(commands) > 40
    for words in commands:
        group, last = " ".join(words[:-1]), words[-1]
        # a table row names the command in full, or after a slash beside its group's first one
        assert f"`attunement {' '.join(words)}" in text or (
            f"`attunement {group} " in text and f"/ `{words[-2]} {last}" in text), words
