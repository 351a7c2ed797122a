"""The ``attunement`` command: a thin face over the libraries and the server.

Each area registers its own commands from its own module, so the areas stay independent:
``instruments`` (score, instruments), ``screening`` (profile, match, interventions),
``observe``, ``trials`` (trials, power), ``evidence`` (effect-sizes, meta) and
``platform`` (init, sites, users, audit, backup, restore) and ``web`` (serve, demo).
"""

from __future__ import annotations

import typer

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

app = typer.Typer(
    name="attunement",
    help="Attachment-informed perinatal care and research.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
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


for _module in (instruments, screening, observe, trials, evidence, platform, web, study_trials,
                outreach):
    _module.register(app)


def main() -> None:
    app()
