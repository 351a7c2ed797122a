"""Engines, sessions and migrations for SQLite (WAL) and PostgreSQL."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from attunement.store.audit_hash import canonical
from attunement.store.errors import StorageFull

# one advisory lock serialises writers on PostgreSQL (the audit chain needs a total order)
WRITE_LOCK = 0x617474  # "att"
MIGRATION_LOCK = 0x617475
_LOCK_SQL = text("SELECT pg_advisory_xact_lock(:k)")


def driver_execute(session: Session, sql: str, params: tuple = ()) -> Any:
    """Run one plain statement on the session's own driver connection, inside its transaction.

    Bypasses SQLAlchemy's statement layer, which costs several times what SQLite takes to
    run the few plain-typed statements every write runs (the audit chain).

    Parameters
    ----------
    session : Session
        The open transaction.
    sql : str
        The statement, with ``?`` placeholders (turned into ``%s`` on PostgreSQL).
    params : tuple, optional
        The values.

    Returns
    -------
    cursor
        The driver's cursor, to fetch from.

    Examples
    --------
    >>> with store.db.read() as s:
    ...     driver_execute(s, "SELECT name FROM sites WHERE name = ?", ("North",)).fetchall()
    [('North',)]
    """
    cur, sql = _driver_cursor(session, sql)
    cur.execute(sql, params)
    return cur


def driver_executemany(session: Session, sql: str, rows: list[tuple]) -> None:
    """Run one plain statement for many rows (psycopg pipelines them in one round trip).

    Parameters
    ----------
    session : Session
        The open write transaction.
    sql : str
        The statement, with ``?`` placeholders.
    rows : list of tuple
        One tuple of values per execution.

    Examples
    --------
    >>> with store.db.write() as s:
    ...     driver_executemany(s, "UPDATE sites SET name = name WHERE name = ?",
    ...                        [("North",), ("South",)])
    """
    cur, sql = _driver_cursor(session, sql)
    cur.executemany(sql, rows)


def _driver_cursor(session: Session, sql: str) -> tuple[Any, str]:
    """A cursor of the session's DBAPI connection, and ``sql`` in the driver's paramstyle."""
    conn = session.connection()
    if conn.dialect.paramstyle != "qmark":
        sql = _PYFORMAT.get(sql) or _PYFORMAT.setdefault(sql, sql.replace("?", "%s"))
    return conn.connection.driver_connection.cursor(), sql  # type: ignore[union-attr]


_PYFORMAT: dict[str, str] = {}


def _is_disk_full(exc: BaseException) -> bool:
    """Whether a database error says the disk (or the database's size limit) is full."""
    orig = getattr(exc, "orig", exc)
    if getattr(orig, "sqlstate", None) == "53100":  # PostgreSQL disk_full
        return True
    code = getattr(orig, "sqlite_errorcode", None)
    return code == 13 or "database or disk is full" in str(orig)  # SQLITE_FULL


def default_url() -> str:
    """Give the database the CLI and the web app open when none is named.

    Returns
    -------
    str
        ``$ATTUNEMENT_DB``, or a SQLite file in the user's data directory.

    Examples
    --------
    >>> import os
    >>> os.environ.get("ATTUNEMENT_DB", default_url()) == default_url()
    True
    """
    env = os.environ.get("ATTUNEMENT_DB")
    if env:
        return env
    from platformdirs import user_data_dir

    path = Path(user_data_dir("attunement")) / "attunement.db"
    return f"sqlite:///{path}"


def default_key_path() -> Path:
    """Give the identifier key file used when none is named.

    Returns
    -------
    Path
        ``$ATTUNEMENT_KEY_FILE``, or ``identifier.key`` in the user's data directory.

    Examples
    --------
    >>> default_key_path().name in ("identifier.key", os.path.basename(
    ...     os.environ.get("ATTUNEMENT_KEY_FILE", "identifier.key")))
    True
    """
    env = os.environ.get("ATTUNEMENT_KEY_FILE")
    if env:
        return Path(env)
    from platformdirs import user_data_dir

    return Path(user_data_dir("attunement")) / "identifier.key"


def normalise_url(url: str) -> str:
    """Read ``postgres://`` and ``postgresql://`` URLs as psycopg 3, the driver shipped.

    Parameters
    ----------
    url : str
        A database URL, as configured or typed.

    Returns
    -------
    str
        The URL SQLAlchemy should open.

    Examples
    --------
    >>> normalise_url("postgres://care@db.example.org/attunement")
    'postgresql+psycopg://care@db.example.org/attunement'
    >>> normalise_url("sqlite:///attunement.db")
    'sqlite:///attunement.db'
    """
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _make_engine(url: str) -> Engine:
    # JSON columns are written as canonical JSON (sorted keys, no spaces), the text their
    # records' audit hashes are taken over: audit.verify can then hash the stored text of
    # an assessment without decoding it (store/audit_records.py)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = None
        if parsed.database and parsed.database != ":memory:":
            path = Path(parsed.database)
            path.parent.mkdir(parents=True, exist_ok=True)
            # owner-only from the start (SQLite gives -wal/-shm the main file's mode)
            with suppress(FileExistsError):
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        engine = create_engine(
            url,
            connect_args={"timeout": 60, "check_same_thread": False},
            pool_size=8,
            max_overflow=64,
            json_serializer=canonical,
        )

        @event.listens_for(engine, "connect")
        def _connect(dbapi_conn, record):  # type: ignore[no-untyped-def]
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (below)
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=60000")
            # WAL + NORMAL: no fsync per commit (the WAL is synced at checkpoints). A committed
            # submission survives any crash of the application; an OS crash or power cut may
            # lose the last transactions, never corrupt the file or half-write one
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()
            if path is not None:  # a file made by an older version may be world-readable
                for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                    with suppress(FileNotFoundError):
                        os.chmod(p, 0o600)

        @event.listens_for(engine, "begin")
        def _begin(conn):  # type: ignore[no-untyped-def]
            # writers take the lock up front so read-then-write never hits SQLITE_BUSY midway
            immediate = conn.get_execution_options().get("attunement_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    if parsed.get_backend_name() == "postgresql":
        return create_engine(url, pool_size=10, max_overflow=90, pool_pre_ping=True,
                             json_serializer=canonical)
    raise ValueError(f"unsupported database URL {parsed.render_as_string(hide_password=True)}")


class AuditHook:
    """How a database's writers reach the audit chain key (set by the store that opens it).

    ``key(session)`` returns the chain key (see :mod:`attunement.store.audit`).
    """

    def __init__(self) -> None:
        self.key: Callable[[Session], bytes] | None = None


class Database:
    """An engine with read transactions and serialised write transactions.

    Writers queue on one lock (in a process; across processes SQLite's ``BEGIN IMMEDIATE``
    or a PostgreSQL advisory lock), because the audit chain needs a total order.

    Parameters
    ----------
    url : str
        A SQLite or PostgreSQL URL (see :func:`normalise_url`).

    Examples
    --------
    >>> from sqlalchemy import text
    >>> db = store.db
    >>> db.dialect
    'sqlite'
    >>> with db.read() as s:
    ...     s.execute(text("SELECT count(*) FROM sites")).scalar()
    2
    """

    def __init__(self, url: str) -> None:
        url = normalise_url(url)
        self.url = url
        self.engine = _make_engine(url)
        self.dialect = self.engine.dialect.name
        self._sqlite_lock = threading.Lock()
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self.audit_hook = AuditHook()
        # run at the end of every write transaction, before it commits (a hook's error rolls
        # the transaction back): derived data kept exact with the records (schedule_summary)
        self.commit_hooks: list[Callable[[Session], None]] = []
        self._write = sessionmaker(
            self.engine.execution_options(attunement_write=True),
            expire_on_commit=False,
            info={"audit": self.audit_hook},
        )

    @contextmanager
    def read(self, *, snapshot: bool = False) -> Iterator[Session]:
        """Open one read transaction.

        Parameters
        ----------
        snapshot : bool
            Every statement in it sees the same committed state (PostgreSQL: REPEATABLE
            READ; a SQLite read transaction always does), so several statements about one
            list, such as a page and its counts, cannot disagree.

        Yields
        ------
        Session
            The session; its transaction ends with the block.
        """
        with self._read() as session, session.begin():
            if snapshot and self.dialect == "postgresql":
                session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            yield session

    @contextmanager
    def write(self, *, lock: bool = True) -> Iterator[Session]:
        """Open a write transaction: it commits on success and rolls back on any exception.

        Parameters
        ----------
        lock : bool, default True
            Take the writers' lock at once. ``False`` (PostgreSQL) lets the caller read first and
            take it later with :meth:`lock`, so it is held only for the writing part.

        Yields
        ------
        Session
            The write session; the commit hooks run before it commits.

        Raises
        ------
        StorageFull
            When the disk is full (nothing was written).
        """
        try:
            if self.dialect == "sqlite":
                # queue this process's writers on a lock: SQLite's busy handler polls with
                # growing sleeps, which starves some writers (seconds of tail latency) under
                # contention; other processes still wait on BEGIN IMMEDIATE + busy_timeout
                with self._sqlite_lock, self._write() as session, session.begin():
                    yield session
                    self._before_commit(session)
                return
            with self._write() as session, session.begin():
                if lock:
                    self.lock(session)
                yield session
                self._before_commit(session)
        except Exception as exc:  # also the driver's own errors (see driver_execute)
            if _is_disk_full(exc):
                raise StorageFull(
                    "the database's disk is full; nothing was written (free space, then retry)"
                ) from exc
            raise

    def _before_commit(self, session: Session) -> None:
        for hook in self.commit_hooks:
            hook(session)

    def analyze(self, tables: tuple[str, ...]) -> None:
        """Refresh PostgreSQL's planner statistics of these tables now (``ANALYZE``), as
        autovacuum would later: after a bulk load, a plan made without them may read every
        row of a table for a page's few. Nothing on SQLite (its planner prefers the indexes
        without statistics).

        Parameters
        ----------
        tables : tuple of str
            Table names of the store's schema (never user input).
        """
        if self.dialect != "postgresql":
            return
        with self.engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.exec_driver_sql("ANALYZE " + ", ".join(tables))

    def lock(self, session: Session) -> None:
        """Take the writers' lock now (PostgreSQL; SQLite writers hold it from ``BEGIN``).

        Parameters
        ----------
        session : Session
            A write session opened with ``lock=False``.
        """
        if self.dialect == "postgresql":
            session.execute(_LOCK_SQL, {"k": WRITE_LOCK})

    def upgrade(self, *, keyring: Callable[[bool], Any] | None = None) -> None:
        """Migrate the database to the newest schema (Alembic ``upgrade head``).

        Parameters
        ----------
        keyring : callable, optional
            ``keyring(create)`` gives the key ring to migrations that encrypt data an older
            schema kept in clear (``create``: a new key file may be made).
        """
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", "attunement.store:migrations")
        cfg.attributes["keyring"] = keyring
        # SQLite: BEGIN IMMEDIATE, so processes opening a fresh file at once migrate in turn
        with self.engine.execution_options(attunement_write=True).connect() as conn:
            if self.dialect == "postgresql":
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK})
                conn.commit()
            try:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
                conn.commit()
            finally:
                if self.dialect == "postgresql":
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK})
                    conn.commit()

    def dispose(self) -> None:
        """Close the engine's pooled connections."""
        self.engine.dispose()
