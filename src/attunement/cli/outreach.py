"""CLI commands for outreach: ``attunement platform outreach run-once``, ``outreach contact``
and ``attunement platform worker``.

Configuration comes from ``$ATTUNEMENT_OUTREACH_FILE`` and ``ATTUNEMENT_SMTP`` & co. (see
:mod:`attunement.outreach.config`); the commands act as the audited ``system`` operator.
"""

from __future__ import annotations

import signal
import threading
from datetime import UTC, datetime
from pathlib import Path

import typer

from attunement.cli._common import DbOption, KeyOption, fail, open_store, print_json

outreach_app = typer.Typer(help="Invitations, reminders and urgent-flag escalation.",
                           no_args_is_help=True)


def _config():  # type: ignore[no-untyped-def]
    from attunement.outreach import OutreachConfig, OutreachConfigError

    try:
        config = OutreachConfig.from_env()
    except OutreachConfigError as exc:
        fail(exc, code=1)
    if not config.configured:
        fail("outreach is not configured: set ATTUNEMENT_SMTP=host:port (and/or "
             "ATTUNEMENT_SMS_URL) or ATTUNEMENT_OUTREACH_FILE", code=1)
    return config


def _parse_now(now: str | None) -> datetime | None:
    if now is None:
        return None
    try:
        value = datetime.fromisoformat(now)
    except ValueError:
        fail(f"--now: {now!r} is not an ISO date-time (e.g. 2026-10-18T09:00)", code=1)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def run_once(
    db: str | None = DbOption,
    key_file: Path | None = KeyOption,
    now: str | None = typer.Option(
        None, "--now", help="Act as if it were this moment (ISO date-time, UTC if no zone)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object per message."),
) -> None:
    """Send everything that is due now and print what was sent."""
    from attunement.outreach import Worker

    config = _config()
    moment = _parse_now(now)
    with open_store(db, key_file) as store:
        results = Worker(store, config).run_once(moment)
    for r in results:
        if as_json:
            print_json(r, indent=None, sort_keys=True)
        else:
            extra = f" ({r['error']})" if r.get("error") else ""
            typer.echo(f"{r['status']:8} {r['kind']:11} {r['channel']:5} family {r['family_id']}"
                       f" message {r['id']}{extra}")
    if not as_json:
        sent = sum(r["status"] == "sent" for r in results)
        typer.echo(f"{sent} sent, {len(results) - sent} not sent")


def contact(
    family: int = typer.Argument(..., help="Family (database id)."),
    caregiver: str = typer.Argument(..., help="Caregiver id in the family (e.g. mother)."),
    db: str | None = DbOption,
    key_file: Path | None = KeyOption,
    language: str | None = typer.Option(None, "--language", help="Preferred language (en, es…)."),
    method: str | None = typer.Option(None, "--method", help="email or sms."),
    opt_out: bool | None = typer.Option(None, "--opt-out/--opt-in", help="Stop or allow messages."),
) -> None:
    """Record a caregiver's preferred language, contact method or opt-out."""
    from attunement.store import OutreachRecords

    with open_store(db, key_file) as store:
        pref = OutreachRecords(store).set_contact_preferences(
            store.system_actor(), family, caregiver, language=language, method=method,
            opted_out=opt_out)
    print_json(pref, indent=None, sort_keys=True)


def worker(
    db: str | None = DbOption,
    key_file: Path | None = KeyOption,
) -> None:
    """Run the outreach worker until stopped (Ctrl+C or SIGTERM); several may run at once."""
    import logging

    from attunement.outreach import Worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    config = _config()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with open_store(db, key_file) as store:
        w = Worker(store, config)
        typer.echo(f"outreach worker {w.name} running (Ctrl+C to stop)")
        try:
            w.run_forever(stop)
        except KeyboardInterrupt:
            stop.set()


def register(app: typer.Typer) -> None:
    """Add this area's commands to ``attunement platform``."""
    outreach_app.command("run-once")(run_once)
    outreach_app.command("contact")(contact)
    app.add_typer(outreach_app, name="outreach")
    app.command("worker")(worker)
