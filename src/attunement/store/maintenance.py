"""Maintenance of a store: audit verification and checkpoints, files at rest, backup and a
restore that checks everything before it replaces anything, PostgreSQL roles.

See ``docs/security.md`` for the promises these keep and the tests that hold them.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from attunement import policy
from attunement.policy import Action
from attunement.store import audit, schedule_summary
from attunement.store.core import Core
from attunement.store.crypto import KeyRing, load_key_file
from attunement.store.errors import KeyFileError, StoreError, StoreValidationError
from attunement.store.models import AuditEntry, Family
from attunement.store.scope import get_scoped, sees_allocation_sequence

if TYPE_CHECKING:
    from attunement.store.scope import Actor

PRIVATE = 0o600


# ---------------------------------------------------------------------- audit
def verify_audit(
    core: Core,
    *,
    checkpoint: dict | None = None,
    progress: Callable[[int, int], None] | None = None,
    **tuning: int,
) -> audit.AuditReport:
    """Verify a store's audit log: the keyed chain, a signed checkpoint, the immutable records.

    Parameters
    ----------
    core : Core
        The store's core.
    checkpoint : dict, optional
        A signed checkpoint (:func:`read_checkpoint`): only the rows from it on are read.
    progress : callable, optional
        Called as ``progress(done, total)`` after each chunk of rows.
    **tuning
        :func:`attunement.store.audit.verify`'s ``workers``, ``parallel_after`` and ``chunk``.

    Returns
    -------
    AuditReport
        ``ok``, the first broken row and every problem found.

    Examples
    --------
    >>> verify_audit(store.core).ok
    True
    """
    keys = _keys_if_any(core)
    with core.db.read() as s:
        return audit.verify(
            s,
            keys.audit_chain if keys else None,
            checkpoint_key=keys.audit_checkpoint if keys else None,
            key_id=keys.key_id if keys else None,
            from_checkpoint=checkpoint,
            progress=progress,
            **tuning,
        )


def audit_checkpoint(core: Core) -> dict[str, Any]:
    """Sign a checkpoint of the audit chain's head, once the chain verifies.

    Parameters
    ----------
    core : Core
        The store's core.

    Returns
    -------
    dict
        The signed checkpoint (see :func:`attunement.store.audit.checkpoint`).

    Raises
    ------
    KeyFileError
        Without the key file.
    StoreError
        When the audit log does not verify (no checkpoint is made).

    Examples
    --------
    >>> audit_checkpoint(store.core)["format"]
    'attunement-audit-checkpoint-v1'
    """
    keys = _keys_if_any(core)
    if keys is None:
        raise KeyFileError(f"identifier key file {core.key_path} is needed to sign a checkpoint")
    report = verify_audit(core)
    if not report.ok:
        raise StoreError(f"the audit log does not verify, no checkpoint made: {report.reason}")
    with core.db.read() as s:
        return audit.checkpoint(s, keys.audit_checkpoint, keys.key_id)


def write_checkpoint(core: Core, out: Path) -> dict[str, Any]:
    """Write a signed checkpoint to a new file, readable by its owner only.

    Parameters
    ----------
    core : Core or Store
        The store (or its core).
    out : Path
        The file to create; an existing one is never overwritten.

    Returns
    -------
    dict
        The checkpoint written.

    Raises
    ------
    StoreValidationError
        When ``out`` exists.

    Examples
    --------
    >>> body = write_checkpoint(store, tmp_path / "audit-checkpoint.json")
    >>> read_checkpoint(tmp_path / "audit-checkpoint.json") == body
    True
    """
    body = audit_checkpoint(getattr(core, "core", core))  # a Store or its Core
    _write_private(out, (json.dumps(body, indent=2) + "\n").encode())
    return body


def read_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint file written by :func:`write_checkpoint`.

    Parameters
    ----------
    path : Path
        The file.

    Returns
    -------
    dict
        The checkpoint (its signature is checked when the audit log is verified from it).

    Raises
    ------
    StoreValidationError
        When the file cannot be read or is not an audit checkpoint.

    Examples
    --------
    >>> (tmp_path / "notes.txt").write_text("not JSON")
    8
    >>> read_checkpoint(tmp_path / "notes.txt")
    Traceback (most recent call last):
    ...
    attunement.store.errors.StoreValidationError: checkpoint: ...notes.txt is not a checkpoint (not JSON)
    """
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise StoreValidationError("checkpoint", f"cannot read {path}: {exc.strerror}") from None
    except ValueError:
        raise StoreValidationError("checkpoint", f"{path} is not a checkpoint (not JSON)") from None
    if not isinstance(data, dict) or data.get("format") != audit.CHECKPOINT_FORMAT:
        raise StoreValidationError("checkpoint", f"{path} is not an attunement audit checkpoint")
    return data


def _keys_if_any(core: Core) -> KeyRing | None:
    return core.keys_for_rows()


# ---------------------------------------------------------------------- files at rest
def _sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL (None for PostgreSQL or in-memory)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def secure_files(core: Core) -> None:
    """Set owner-only modes on a SQLite database and its ``-wal`` and ``-shm`` files.

    A key file with loose modes is refused when loaded, never quietly fixed.

    Parameters
    ----------
    core : Core
        The store's core (nothing to do on PostgreSQL).

    Examples
    --------
    >>> secure_files(store.core)
    >>> oct((tmp_path / "store.db").stat().st_mode & 0o777)
    '0o600'
    """
    path = _sqlite_path(core.url)
    if path is not None:
        _chmod_private(path)


def _chmod_private(path: Path) -> None:
    """0600 on a SQLite file and its -wal/-shm companions (those that exist)."""
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        with contextlib.suppress(FileNotFoundError):
            os.chmod(p, PRIVATE)


def _create_private(path: Path) -> None:
    """Create an empty file with mode 0600 (refuses an existing one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE))


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE)
    except FileExistsError:
        raise StoreValidationError("out", f"{path} already exists") from None
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


# ---------------------------------------------------------------------- restore
def _head_revision() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", "attunement.store:migrations")
    return ScriptDirectory.from_config(cfg).get_current_head() or ""


def _known_revisions() -> set[str]:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", "attunement.store:migrations")
    return {r.revision for r in ScriptDirectory.from_config(cfg).walk_revisions()}


def _check_backup_content(url: str, source: Path, key_path: Path) -> None:
    """Refuse a restored copy (at ``url``, not yet in place) whose schema this version does
    not know or whose identifiers were encrypted with another key file."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            try:
                rev = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
                key_row = conn.execute(
                    text("SELECT value FROM settings WHERE key = 'key_id'")
                ).scalar()
            except Exception:
                raise StoreValidationError(
                    "source", f"{source} is not an attunement backup (no schema version)"
                ) from None
    finally:
        engine.dispose()
    if rev not in _known_revisions():
        raise StoreValidationError(
            "source",
            f"{source} has schema version {rev!r}, which this version of attunement does not "
            f"know (newest known: {_head_revision()}); upgrade attunement first",
        )
    if key_row is not None:
        if not key_path.exists():
            raise KeyFileError(
                f"{source} holds encrypted identifiers but the key file {key_path} does not exist"
            )
        if KeyRing(load_key_file(key_path)).key_id != key_row:
            raise KeyFileError(
                f"{source} was encrypted with another identifier key than {key_path}; "
                "nothing was restored (use the key file that belongs to this backup)"
            )


def restore_sqlite(source: Path, target: Path, opener: Any) -> None:
    """Restore a SQLite backup over a database file, checking it before anything is replaced.

    The backup is copied into a new 0600 file next to ``target``, opened, migrated and
    verified there; only then does it replace ``target``.

    Parameters
    ----------
    source : Path
        The backup.
    target : Path
        The database file to replace.
    opener : callable
        ``opener(url)`` opens (and migrates) a store; it carries the key file as
        ``opener.key_path``.

    Raises
    ------
    StoreValidationError
        When the backup is not a sound attunement backup or does not verify.
    KeyFileError
        When it was encrypted with another key file.

    Examples
    --------
    >>> from attunement.store import Store
    >>> backup = store.maintenance.backup(tmp_path / "backup.db")
    >>> def opener(url):
    ...     return Store.open(url, key_path=store.key_path)
    >>> opener.key_path = store.key_path
    >>> restore_sqlite(backup, tmp_path / "restored.db", opener)
    >>> with opener(f"sqlite:///{tmp_path / 'restored.db'}") as restored:
    ...     [s["name"] for s in restored.accounts.list_sites(admin)]
    ['North', 'South']
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.restore-{secrets.token_hex(4)}"
    _create_private(tmp)
    try:
        try:
            src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        except sqlite3.DatabaseError as exc:
            raise StoreValidationError("source", f"{source} is not a SQLite backup") from exc
        try:
            ok = src.execute("PRAGMA integrity_check").fetchone()
            if not ok or ok[0] != "ok":
                raise StoreValidationError("source", f"{source} is not a sound SQLite backup")
            dst = sqlite3.connect(tmp)
            try:
                src.backup(dst)
            finally:
                dst.close()
        except sqlite3.DatabaseError as exc:
            raise StoreValidationError("source", f"{source} is not a SQLite backup") from exc
        finally:
            src.close()
        url = f"sqlite:///{tmp}"
        _check_candidate(url, source, opener)
        _fold_wal(tmp)
        if target.exists():
            _fold_wal(target)  # a stale WAL must never be replayed onto the restored file
        os.replace(tmp, target)
        for suffix in ("-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        _chmod_private(target)
    finally:
        for p in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
            p.unlink(missing_ok=True)


def _fold_wal(path: Path) -> None:
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def _check_candidate(url: str, source: Path, opener: Any) -> None:
    """Schema version, key and the backup's own audit verification, on the candidate copy."""
    _check_backup_content(url, source, opener.key_path)
    store = opener(url)
    try:
        report = store.maintenance.verify_audit()
    finally:
        store.close()
    if not report.ok:
        raise StoreValidationError(
            "source",
            f"{source} does not verify (audit row {report.first_broken}: {report.reason}); "
            "nothing was restored",
        )


def restore_postgres(source: Path, url: str, opener: Any, pg_run: Any) -> str | None:
    """Restore a ``pg_dump`` backup over a PostgreSQL database, checking it first.

    The backup goes into a new database on the same server and is verified there; then the
    target is renamed aside and the new database renamed into its place.

    Parameters
    ----------
    source : Path
        The backup (``pg_dump -Fc``).
    url : str
        The database to replace.
    opener : callable
        ``opener(url)`` opens (and migrates) a store; it carries ``opener.key_path``.
    pg_run : callable
        Runs a PostgreSQL client tool (:func:`pg_run`).

    Returns
    -------
    str or None
        The name the replaced database is kept under (None when there was none).

    Raises
    ------
    StoreValidationError, KeyFileError
        As :func:`restore_sqlite`; the target is then untouched.
    StoreError
        When the target cannot be renamed (the service is still connected).

    Examples
    --------
    Needs a PostgreSQL server; ``attunement platform restore`` calls it through
    :meth:`attunement.store.service.Store.restore`. Not run with the other examples: their
    store is SQLite, and this one needs ``pg_restore`` and a server to restore into.

    >>> kept = restore_postgres(Path("nightly.dump"), "postgresql+psycopg://localhost/care",
    ...                         opener, pg_run)  # doctest: +SKIP
    """
    parsed = make_url(url)
    target = parsed.database or ""
    scratch = f"{target}_restore_{secrets.token_hex(4)}"[:63]
    admin = create_engine(
        parsed.set(database="postgres").render_as_string(hide_password=False),
        isolation_level="AUTOCOMMIT",
    )
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{scratch}"'))
        scratch_url = parsed.set(database=scratch).render_as_string(hide_password=False)
        try:
            libpq = make_url(scratch_url).set(drivername="postgresql")
            pg_run(
                "pg_restore",
                ["--no-owner", "--exit-on-error", "-d",
                 libpq.render_as_string(hide_password=False), str(source)],
            )
            _check_candidate(scratch_url, source, opener)
        except BaseException:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)'))
            raise
        kept = None
        with admin.connect() as conn:
            exists = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": target}
            ).first()
            if exists:
                kept = f"{target}_replaced_{secrets.token_hex(4)}"[:63]
                try:
                    conn.execute(text(f'ALTER DATABASE "{target}" RENAME TO "{kept}"'))
                except Exception as exc:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)'))
                    raise StoreError(
                        f"cannot replace database {target} (is the service still connected? "
                        f"stop it first); nothing was restored: {exc.__class__.__name__}"
                    ) from exc
            conn.execute(text(f'ALTER DATABASE "{scratch}" RENAME TO "{target}"'))
        return kept
    finally:
        admin.dispose()


# ---------------------------------------------------------------------- PostgreSQL roles
# history: the service may add rows, never change or remove them
APPEND_ONLY = ("audit_log", "assessments", "trial_allocations", "consents")
# ... except the one column a withdrawal sets
COLUMN_UPDATES = {"consents": ("withdrawn_on",)}
READ_ONLY = ("alembic_version",)


def grant_service_role(url: str, role: str, password: str | None = None) -> list[str]:
    """Create the PostgreSQL role the service connects as, with only the rights it needs.

    It may add rows to the history tables (audit log, assessments, allocations, consents)
    but never change or remove them, and owns nothing, so it cannot alter, drop or truncate
    tables or disable their triggers. Run it as the role that owns the tables.

    Parameters
    ----------
    url : str
        The database, connected as the owner role.
    role : str
        The service's role name (letters, digits and ``_``, a letter first).
    password : str, optional
        A password to set for it.

    Returns
    -------
    list of str
        The statements run, the password shown as ``***``.

    Raises
    ------
    StoreValidationError
        For a database that is not PostgreSQL, a bad name, or the owner's own role.

    Examples
    --------
    >>> grant_service_role(f"sqlite:///{tmp_path / 'store.db'}", "attunement_app")
    Traceback (most recent call last):
    ...
    attunement.store.errors.StoreValidationError: db: database roles exist on PostgreSQL only
    """
    if make_url(url).get_backend_name() != "postgresql":
        raise StoreValidationError("db", "database roles exist on PostgreSQL only")
    if not role.replace("_", "").isalnum() or not role[0].isalpha() or len(role) > 63:
        raise StoreValidationError("service_role", "letters, digits and _ only, a letter first")
    engine = create_engine(url)
    done: list[str] = []
    try:
        with engine.begin() as conn:
            def run(sql: str, shown: str | None = None) -> None:
                conn.exec_driver_sql(sql)
                done.append(shown or sql)

            owner = conn.execute(text("SELECT current_user")).scalar()
            if role == owner:
                raise StoreValidationError(
                    "service_role", "must differ from the owner role that runs migrations"
                )
            db = conn.execute(text("SELECT current_database()")).scalar()
            exists = conn.execute(
                text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}
            ).first()
            if not exists:
                run(f'CREATE ROLE "{role}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE')
            if password:
                quoted = conn.execute(text("SELECT quote_literal(:p)"), {"p": password}).scalar()
                run(f'ALTER ROLE "{role}" PASSWORD {quoted}',
                    f'ALTER ROLE "{role}" PASSWORD ***')
            run(f'GRANT CONNECT ON DATABASE "{db}" TO "{role}"')
            run(f'GRANT USAGE ON SCHEMA public TO "{role}"')
            run(f'REVOKE CREATE ON SCHEMA public FROM "{role}"')
            tables = [
                r[0] for r in conn.execute(text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"))
            ]
            for t in tables:
                run(f'REVOKE ALL ON TABLE "{t}" FROM "{role}"')
                if t in READ_ONLY:
                    run(f'GRANT SELECT ON TABLE "{t}" TO "{role}"')
                elif t in APPEND_ONLY:
                    run(f'GRANT SELECT, INSERT ON TABLE "{t}" TO "{role}"')
                    cols = COLUMN_UPDATES.get(t)
                    if cols:
                        run(f'GRANT UPDATE ({", ".join(cols)}) ON TABLE "{t}" TO "{role}"')
                else:
                    run(f'GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE "{t}" TO "{role}"')
            run(f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO "{role}"')
    finally:
        engine.dispose()
    return done


# ---------------------------------------------------------------------- the service
class Maintenance:
    """The audit log, its verification and checkpoints, the caseload's nightly refresh, backups.

    Examples
    --------
    >>> log = store.maintenance.audit_log(admin, limit=3)
    >>> sorted(log[0])[:4]
    ['action', 'actor', 'actor_id', 'after']
    >>> store.maintenance.verify_audit().ok
    True
    >>> store.maintenance.refresh_caseload(full=True)
    1
    >>> store.maintenance.backup(tmp_path / "nightly.db").name
    'nightly.db'
    """

    def __init__(self, core: Core) -> None:
        self.core = core

    def audit_log(
        self, actor: Actor, *, limit: int = 200, family_id: int | None = None
    ) -> list[dict]:
        """List audit rows, newest first.

        Parameters
        ----------
        actor : Actor
            An administrator (every row) or a site lead (rows about their sites).
        limit : int, default 200
            How many rows (1 to 10,000).
        family_id : int, optional
            Only the rows about this family (which must be in the actor's scope).

        Returns
        -------
        list of dict
            ``id``, ``at``, ``actor``, ``role``, ``action``, ``entity``, ``before``, ``after``,
            ``reason``, ``hash``, ...; a randomisation's sequence is hidden from recruiters.

        Raises
        ------
        Forbidden
            For roles that may not read the audit log.
        NotFound
            When ``family_id`` is out of scope.
        """
        policy.require(actor, Action.READ_AUDIT)
        limit = max(1, min(int(limit), 10000))
        with self.core.db.read() as s:
            stmt = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
            if not policy.allows(actor, Action.ANY_SITE):  # a site lead: their sites' rows
                stmt = stmt.where(AuditEntry.site_id.in_(sorted(actor.site_ids)))
            if family_id is not None:
                get_scoped(s, actor, Family, family_id, what="family")
                stmt = stmt.where(AuditEntry.family_id == int(family_id))
            return [
                {
                    "id": e.id,
                    "at": e.at,
                    "actor_id": e.actor_id,
                    "actor": e.actor_email,
                    "role": e.actor_role,
                    "action": e.action,
                    "entity": e.entity,
                    "entity_id": e.entity_id,
                    "family_id": e.family_id,
                    "site_id": e.site_id,
                    "before": json.loads(e.before) if e.before else None,
                    "after": _concealed_after(actor, e),
                    "reason": e.reason,
                    "client": e.client,
                    "hash": e.hash,
                }
                for e in s.execute(stmt).scalars()
            ]

    def verify_audit(
        self, *, checkpoint: dict | None = None, progress: Any = None
    ) -> audit.AuditReport:
        """Check the keyed chain and every immutable record against it.

        Parameters
        ----------
        checkpoint : dict, optional
            A signed checkpoint: only the rows from it on are read.
        progress : callable, optional
            Called as ``progress(done, total)`` as rows are read.

        Returns
        -------
        AuditReport
            ``ok``; ``first_broken`` names the first bad row, ``problems`` every finding.
        """
        return verify_audit(self.core, checkpoint=checkpoint, progress=progress)

    def audit_checkpoint(self) -> dict:
        """Sign a checkpoint of the chain's head, to keep outside the database.

        Returns
        -------
        dict
            The checkpoint (see :func:`audit_checkpoint`).
        """
        return audit_checkpoint(self.core)

    def refresh_caseload(self, *, full: bool = False) -> int:
        """Bring the caseload's stored schedule up to today (``docs/caseload-queries.md``).

        Recomputes the rows whose counts change by today and adds rows for families written
        outside the store; either way the counts (``caseload_counts``) are recounted from
        the rows.

        Parameters
        ----------
        full : bool, default False
            Recompute every row instead (after a bulk load); then, on PostgreSQL, the
            planner's statistics of the tables a caseload page reads are refreshed
            (``ANALYZE``) rather than left to autovacuum.

        Returns
        -------
        int
            How many families were computed.
        """
        day = schedule_summary.today()
        with self.core.db.write() as s:
            if not full:
                return schedule_summary.refresh_stale(s, day)
            done = schedule_summary.rebuild(s, day)
            schedule_summary.recount(s)
        self.core.db.analyze(schedule_summary.READ_BY_A_PAGE)
        return done

    def backup(self, dest: str | Path) -> Path:
        """Write a consistent copy of the database (SQLite online backup, or ``pg_dump -Fc``).

        The identifier key file is not included: keep it separately.

        Parameters
        ----------
        dest : str or Path
            The backup file to create (mode 0600).

        Returns
        -------
        Path
            ``dest``.

        Raises
        ------
        StoreValidationError
            When ``dest`` exists.
        """
        dest = Path(dest)
        if dest.exists():
            raise StoreValidationError("dest", f"{dest} already exists")
        with self.core.db.write() as s:
            audit.append(
                s,
                actor=self.core.system_actor(),
                action="backup",
                entity="store",
                after={"dest": dest.name},
            )
        try:
            _create_private(dest)  # 0600 from the start, never after the fact
        except FileExistsError:
            raise StoreValidationError("dest", f"{dest} already exists") from None
        if self.core.dialect == "sqlite":
            src_path = make_url(self.core.url).database
            src = sqlite3.connect(src_path)
            dst = sqlite3.connect(dest)
            try:
                with dst:
                    src.backup(dst)
            finally:
                dst.close()
                src.close()
        else:
            pg_run("pg_dump", ["-Fc", "-f", str(dest), _libpq(self.core.url)])
        os.chmod(dest, 0o600)
        return dest

def _concealed_after(actor: Actor, e: AuditEntry) -> Any:
    """An audit row's ``after``; a randomisation's sequence, stratum and draws are hidden
    from recruiters (allocation concealment, :func:`scope.sees_allocation_sequence`)."""
    after = json.loads(e.after) if e.after else None
    if e.entity == "trial_allocation" and isinstance(after, dict) and not (
        sees_allocation_sequence(actor)
    ):
        return {"study": after.get("study"), "concealed": True}
    return after

def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)

def pg_run(tool: str, args: list[str]) -> None:
    """Run a PostgreSQL client tool (``pg_dump``, ``pg_restore``) and fail loudly if it fails.

    Parameters
    ----------
    tool : str
        The program, looked up on ``PATH`` and in ``/usr/lib/postgresql/*/bin``.
    args : list of str
        Its arguments.

    Raises
    ------
    RuntimeError
        When the tool is missing or exits with an error (its message included).

    Examples
    --------
    >>> pg_run("pg_no_such_tool", [])
    Traceback (most recent call last):
    ...
    RuntimeError: pg_no_such_tool not found (install the PostgreSQL client tools)
    """
    import glob

    exe = shutil.which(tool) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{tool}"), reverse=True)), None
    )
    if exe is None:
        raise RuntimeError(f"{tool} not found (install the PostgreSQL client tools)")
    result = subprocess.run([exe, *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{tool} failed: {result.stderr.strip()[:2000]}")
