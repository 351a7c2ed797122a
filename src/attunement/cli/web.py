"""CLI commands for the web service: ``attunement platform serve`` and ``attunement demo``."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from attunement.cli._common import PLATFORM_PANEL, DbOption, KeyOption


def serve(
    db: str | None = DbOption,
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port."),
    workers: int = typer.Option(
        1, "--workers", min=1, max=64, help="Worker processes (they share the database)."
    ),
    key_file: Path | None = KeyOption,
    proxy_headers: bool = typer.Option(
        False, "--proxy-headers/--no-proxy-headers",
        help="Trust X-Forwarded-* from the reverse proxy (HTTPS termination).",
    ),
) -> None:
    """Serve the web app and the JSON API (OpenAPI documentation at /docs)."""
    from attunement.web.server import run

    run(db, host=host, port=port, workers=workers, key_file=key_file,
        proxy_headers=proxy_headers)


def demo(
    db: str | None = typer.Option(
        None, "--db", help="Database URL for the demo; default a fresh SQLite file in the "
        "user data directory (rebuilt each run)."
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port."),
    serve_app: bool = typer.Option(
        True, "--serve/--no-serve", help="Serve the web app after building the demo."
    ),
) -> None:
    """Build a demo database of clearly synthetic families and serve it at http://127.0.0.1:8000."""
    from rich.console import Console

    from attunement.web.demo import build_demo

    console = Console()
    info = build_demo(db, console=console)
    if not serve_app:
        return
    from attunement.web.server import run

    os.environ.setdefault("ATTUNEMENT_SECRET_KEY", info.secret)
    os.environ.setdefault("ATTUNEMENT_SAMPLE_TEXT_PACKS", "1")  # sample wording, marked as such
    console.print(f"\nServing the demo at [bold]http://{host}:{port}[/] — press Ctrl+C to stop.")
    run(info.url, host=host, port=port, workers=1, key_file=info.key_file, log_level="warning")


def register(app: typer.Typer, platform_app: typer.Typer) -> None:
    """Add ``demo`` to the main app and ``serve`` to ``attunement platform``."""
    platform_app.command("serve")(serve)
    app.command("demo", rich_help_panel=PLATFORM_PANEL)(demo)
