"""``attunement platform`` commands for the store: init, sites, users, audit, backup, restore,
db.

Every command takes ``--db URL`` (or ``$ATTUNEMENT_DB``) and ``--key-file PATH`` (or
``$ATTUNEMENT_KEY_FILE``); commands run as the local operator and are audited as ``system``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from attunement.cli._common import DbOption, KeyOption, fail, open_store, with_store
from attunement.usecases import exports as uc_exports
from attunement.vocabulary import user_roles

if TYPE_CHECKING:
    from attunement.store import Store


def _password(password_file: Path | None, *, confirm: bool = True) -> str:
    if password_file is not None:
        try:
            text = password_file.read_text()
        except OSError as exc:
            fail(f"cannot read password file {password_file}: {exc.strerror}", code=1)
        password = text.rstrip("\r\n")
        if not password:
            fail(f"password file {password_file} is empty", code=1)
        return password
    return typer.prompt("Password", hide_input=True, confirmation_prompt=confirm)


def init(
    db: str | None = DbOption,
    key_file: Path | None = KeyOption,
    admin_email: str | None = typer.Option(None, "--admin-email", help="First admin's email."),
    password_file: Path | None = typer.Option(
        None, "--password-file", help="Read the admin password from this file (else prompt)."
    ),
) -> None:
    """Create the database, the identifier key (mode 0600) and the first administrator."""
    from rich.console import Console

    email = admin_email or typer.prompt("Administrator email")
    password = _password(password_file)
    with open_store(db, key_file) as store:
        store.init(email, password)
        Console().print(
            f"[green]initialised[/] {store.safe_url()}\n"
            f"identifier key: {store.key_path} (mode 0600) — back it up separately from the "
            "database; without it identifiers cannot be read.\n"
            f"administrator: {email.strip().lower()}",
            highlight=False,
        )


sites_app = typer.Typer(help="Sites (centres) and their families.", no_args_is_help=True)
users_app = typer.Typer(help="User accounts and roles.", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)


@sites_app.command("add")
@with_store
def sites_add(store: Store, name: str = typer.Argument(..., help="Site name.")) -> None:
    """Add a site."""
    site = store.accounts.add_site(store.system_actor(), name)
    typer.echo(f"site {site['id']}: {site['name']}")


@sites_app.command("list")
@with_store
def sites_list(store: Store) -> None:
    """List sites."""
    for site in store.accounts.list_sites(store.system_actor()):
        typer.echo(f"{site['id']}\t{site['name']}")


@users_app.command("add")
def users_add(
    email: str = typer.Argument(..., help="The user's email (their login)."),
    role: str = typer.Option(..., "--role", help=" | ".join(t.id for t in user_roles())),
    site: list[str] = typer.Option([], "--site", help="Site name (repeat for several)."),
    study: list[str] = typer.Option([], "--study", help="Study name a researcher may see."),
    expires: str | None = typer.Option(
        None, "--expires", help="Access ends on this date (YYYY-MM-DD)."
    ),
    password_file: Path | None = typer.Option(
        None, "--password-file", help="Read the password from this file (else prompt, hidden)."
    ),
    db: str | None = DbOption,
    key_file: Path | None = KeyOption,
) -> None:
    """Add a user with a role at one or more sites."""
    password = _password(password_file)
    with open_store(db, key_file) as store:
        user = store.accounts.add_user(
            store.system_actor(),
            email,
            role,
            list(site),
            password,
            studies=list(study),
            expires_on=expires,
        )
        where = ", ".join(user["sites"]) or "no site"
        typer.echo(f"user {user['id']}: {user['email']} ({user['role']}; {where})")


@users_app.command("list")
@with_store
def users_list(store: Store) -> None:
    """List users, roles and sites."""
    for u in store.accounts.list_users(store.system_actor()):
        state = "" if u["active"] else "\t(disabled)"
        typer.echo(f"{u['id']}\t{u['email']}\t{u['role']}\t{', '.join(u['sites'])}{state}")


def _verify_with_progress(store: Any, cp: dict | None) -> Any:
    """``verify_audit`` with a progress bar (rows/s) on a terminal's stderr."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    console = Console(stderr=True)
    if not console.is_terminal:
        return store.maintenance.verify_audit(checkpoint=cp)
    columns = (TextColumn("audit rows"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[rate]}"), TimeRemainingColumn())
    started = time.perf_counter()
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("verify", total=None, rate="")

        def progress(done: int, total: int) -> None:
            rate = done / max(time.perf_counter() - started, 1e-9)
            bar.update(task, completed=done, total=total, rate=f"{rate:,.0f} rows/s")

        return store.maintenance.verify_audit(checkpoint=cp, progress=progress)


@audit_app.command("verify")
def audit_verify(
    db: str | None = DbOption,
    key_file: Path | None = KeyOption,
    from_checkpoint: Path | None = typer.Option(
        None, "--from-checkpoint", help="A checkpoint file made by `audit checkpoint`."
    ),
) -> None:
    """Check the keyed audit chain and every immutable record against it (exit 1 if not)."""
    from attunement.store import maintenance

    with open_store(db, key_file) as store:
        cp = maintenance.read_checkpoint(from_checkpoint) if from_checkpoint else None
        report = _verify_with_progress(store, cp)
    if report.ok:
        since = f", matches checkpoint {from_checkpoint}" if from_checkpoint else ""
        typer.echo(
            f"audit log intact: {report.rows} rows, keyed hash chain and records verified{since}"
        )
        return
    where = f" at row {report.first_broken}" if report.first_broken is not None else ""
    lines = "\n".join(f"  - {p}" for p in report.problems)
    fail(f"audit log broken{where}: {report.reason} ({report.rows} rows read)\n{lines}",
         code=1)


@audit_app.command("checkpoint")
@with_store
def audit_checkpoint(
    store: Store,
    out: Path = typer.Option(..., "--out", help="File to write (must not exist; mode 0600)."),
) -> None:
    """Write a signed checkpoint of the audit chain; keep it outside the database's reach."""
    from attunement.store import maintenance

    body = maintenance.write_checkpoint(store, out)
    typer.echo(
        f"checkpoint written to {out}: audit row {body['last_id']} ({body['last_hash'][:16]}…); "
        "store it where whoever can write to the database cannot"
    )


@audit_app.command("show")
@with_store
def audit_show(
    store: Store,
    limit: int = typer.Option(20, "--limit", min=1, help="How many of the newest rows."),
) -> None:
    """Print the newest audit rows."""
    for e in reversed(store.maintenance.audit_log(store.system_actor(), limit=limit)):
        target = f"{e['entity']} {e['entity_id'] or ''}".strip()
        typer.echo(
            f"{e['id']}\t{e['at']}\t{e['actor']}\t{e['action']}\t{target}"
            + (f"\treason: {e['reason']}" if e["reason"] else "")
        )


@with_store
def backup(
    store: Store, dest: Path = typer.Argument(..., help="Backup file to write (must not exist).")
) -> None:
    """Write a consistent backup (SQLite online backup; pg_dump -Fc for PostgreSQL)."""
    try:
        path = store.maintenance.backup(dest)
    except RuntimeError as exc:
        fail(exc, code=1)
    typer.echo(
        f"backup written to {path} (the identifier key file is not in it: keep that separately)"
    )


def restore(
    source: Path = typer.Argument(..., help="Backup file made by `attunement platform backup`."),
    db: str | None = DbOption,
    key_file: Path | None = KeyOption,
    yes: bool = typer.Option(False, "--yes", help="Do not ask before replacing the database."),
) -> None:
    """Replace the database with a backup, checked first (key, schema version, its audit log)
    in a new file/database that replaces the old one only when every check passed."""
    from attunement.store import Store, StoreError, default_url

    url = db or default_url()
    if not yes:
        typer.confirm(f"Replace the database {url} with {source}?", abort=True)
    try:
        store = Store.restore(source, url, key_path=key_file)
    except (StoreError, RuntimeError) as exc:
        fail(exc, code=1)
    report = store.maintenance.verify_audit()
    store.close()
    state = "intact" if report.ok else f"BROKEN: {report.reason}"
    typer.echo(f"restored {source}; audit log {state} ({report.rows} rows)")


db_app = typer.Typer(help="Database administration (PostgreSQL roles).", no_args_is_help=True)


@db_app.command("grant")
def db_grant(
    service_role: str = typer.Option(
        ..., "--service-role", help="Role the service (web, workers) connects as."
    ),
    password_file: Path | None = typer.Option(
        None, "--password-file", help="Set the role's password from this file."
    ),
    db: str | None = DbOption,
    key_file: Path | None = KeyOption,
) -> None:
    """Create/grant the PostgreSQL service role: INSERT/SELECT only on history tables.

    Run with --db as the owner role that runs migrations (re-run after each upgrade); the
    service then connects as SERVICE_ROLE and cannot change, delete or truncate history,
    alter tables or disable their triggers.
    """
    from attunement.store import StoreValidationError, maintenance

    password = _password(password_file, confirm=False) if password_file else None
    with open_store(db, key_file) as store:  # migrates first, as the owner
        url = store.url
    try:
        done = maintenance.grant_service_role(url, service_role, password)
    except StoreValidationError as exc:
        fail(exc, code=1)
    typer.echo(f"service role {service_role}: {len(done)} statements run")


@with_store
def export_jobs(
    store: Store,
    once: bool = typer.Option(False, "--once", help="Run the queued jobs, then stop."),
    poll: float = typer.Option(5.0, "--poll", min=0.5, help="Seconds between looks."),
) -> None:
    """Run queued background exports (several workers may share one PostgreSQL database:
    each job is claimed by one); expired export files are deleted on each pass."""
    while True:
        for job in uc_exports.run_export_jobs(store):
            typer.echo(f"export {job['id']}: {job['status']}"
                       + (f" ({job['rows_done']} rows)" if job["status"] == "done"
                          else f": {job['error']}"))
        if once:
            return
        time.sleep(poll)


def refresh_caseload(
    full: bool = typer.Option(False, "--full", help="Recompute every family's row."),
    db: str | None = DbOption,
    key_file: Path | None = KeyOption,
) -> None:
    """Bring the caseload's stored schedule up to today (run nightly, after midnight UTC):
    the families whose due or overdue counts change today, and any family loaded outside
    the platform. Pages refresh what they show anyway; this keeps the first page fast."""
    with open_store(db, key_file) as store:
        n = store.maintenance.refresh_caseload(full=full)
    typer.echo(f"caseload: {n} families computed")


def register(app: typer.Typer) -> None:
    """Add this area's commands to ``attunement platform``."""
    app.command("init")(init)
    app.add_typer(sites_app, name="sites")
    app.add_typer(users_app, name="users")
    app.add_typer(audit_app, name="audit")
    app.command("backup")(backup)
    app.command("restore")(restore)
    app.add_typer(db_app, name="db")
    app.command("export-jobs")(export_jobs)
    app.command("refresh-caseload")(refresh_caseload)
