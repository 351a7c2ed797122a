"""The ``attunement`` command: a thin face over the libraries and the platform.

Two kinds of command, two panels of ``attunement --help``:

- library commands work on files, with no database: ``score``, ``instruments``, ``profile``,
  ``match``, ``interventions``, ``observe``, ``trials``, ``power``, ``effect-sizes``, ``meta``;
- ``attunement platform ...`` holds what needs the database: ``init``, ``backup``,
  ``restore``, ``serve``, ``worker``, ``sites``, ``users``, ``audit``, ``db``, ``trial`` and
  ``outreach``; ``attunement demo`` builds a demo database and serves it.

The platform commands' old top-level names (``attunement init``, ``attunement study-trial``,
...) still work, hidden from the help, with a one-line note on stderr naming the new command.
Each area registers its own commands from its own module, so the areas stay independent.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from attunement import __version__
from attunement.cli import (
    evidence,
    instruments,
    observe,
    outreach,
    platform,
    screening,
    study_trials,
    trials,
    web,
)
from attunement.cli._common import PLATFORM_PANEL, note

#: old top-level name -> its name under ``attunement platform``
MOVED_TO_PLATFORM = {
    "init": "init", "backup": "backup", "restore": "restore", "serve": "serve",
    "worker": "worker", "sites": "sites", "users": "users", "audit": "audit", "db": "db",
    "study-trial": "trial", "outreach": "outreach",
}


class _Root(TyperGroup):
    """The root group: an old top-level platform name runs its ``platform`` command after a
    note on stderr, and is listed nowhere (not in ``--help``)."""

    def resolve_command(
        self, ctx: typer.Context, args: list[str]
    ) -> tuple[str | None, Any, list[str]]:
        if args and args[0] in MOVED_TO_PLATFORM and args[0] not in self.commands:
            old, new = args[0], MOVED_TO_PLATFORM[args[0]]
            note(f"`attunement {old}` is now `attunement platform {new}`")
            args = ["platform", new, *args[1:]]
        return super().resolve_command(ctx, args)


app = typer.Typer(
    name="attunement",
    cls=_Root,
    help="Attachment-informed perinatal care and research.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
platform_app = typer.Typer(
    help="The platform: its database, accounts, audit log, server, worker, trials and "
    "outreach.",
    no_args_is_help=True,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"attunement {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """Attachment-informed perinatal care and research."""


for _module in (instruments, screening, observe, trials, evidence):
    _module.register(app)
for _module in (platform, study_trials, outreach):
    _module.register(platform_app)
web.register(app, platform_app)
app.add_typer(platform_app, name="platform", rich_help_panel=PLATFORM_PANEL)


def main() -> None:
    """Run the ``attunement`` command."""
    app()
