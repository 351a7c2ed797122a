"""The store's core: the database, the key ring and audit-chain key, the clock, the audit
writer and the system actor. Every service of the store is built on one :class:`Core`.

An open store's core (``Core(Database(url), key_path)``, built by
:meth:`attunement.store.service.Store.open`) writes an audit row inside a write, and the
chain still verifies:

>>> core = store.core
>>> with core.db.write() as s:
...     row_id = core.audit(s, actor=core.system_actor(), action="key_check", entity="store")
>>> report = store.maintenance.verify_audit()
>>> report.ok, report.rows == row_id, core.now().tzinfo
(True, True, datetime.timezone.utc)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from attunement.store import audit, schedule_summary
from attunement.store.crypto import KeyRing, create_key_file, load_key_file
from attunement.store.db import Database
from attunement.store.errors import KeyFileError
from attunement.store.models import Identity, Setting, utcnow
from attunement.store.models.core import CLOCK
from attunement.store.scope import Actor


class Core:
    """What every store service shares: one database, one key ring, one audit chain.

    The services (``store.accounts``, ``store.families``, ...) each hold the same ``Core``;
    a caller reaches it as ``store.core``.

    Parameters
    ----------
    db : Database
        The opened database (engine, read and write transactions).
    key_path : Path
        The identifier key file (created 0600 on first use of a fresh store).

    Examples
    --------
    >>> core = store.core
    >>> core.system_actor().role
    'system'
    >>> core.keyring().key_id == core.keys_for_rows().key_id
    True
    >>> with core.db.write() as s:
    ...     row_id = core.audit(s, actor=admin, action="note", entity="store")
    >>> store.maintenance.audit_log(admin, limit=1)[0]["id"] == row_id
    True
    """

    def __init__(self, db: Database, key_path: Path) -> None:
        self.db = db
        self.url = db.url
        self.key_path = key_path
        self.keys: KeyRing | None = None
        # study id -> its time point names (a study's schedule never changes once written)
        self.schedules: dict[int, list[str]] = {}
        self._key_recorded = False
        db.audit_hook.key = self.audit_chain_key
        if schedule_summary.refresh_written not in db.commit_hooks:
            db.commit_hooks.append(schedule_summary.refresh_written)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.db.dialect

    # ------------------------------------------------------------------ the clock
    @staticmethod
    def now() -> datetime:
        """Give the store's current time (see :meth:`at` for writing as of another time).

        Returns
        -------
        datetime
            Now, timezone-aware, in UTC.
        """
        return utcnow()

    @staticmethod
    def today() -> date:
        """Give today's date for default dates (registration, completion).

        Returns
        -------
        date
            The local date, or the clock's UTC date inside :meth:`at`.
        """
        fixed = CLOCK.get()
        return fixed.date() if fixed is not None else date.today()

    @staticmethod
    @contextmanager
    def at(when: datetime) -> Iterator[None]:
        """Write records as of ``when``.

        Their own times (registration, submission, alerts, links) and the store's default dates
        follow this clock; the audit log keeps the real time of each write, so it always says
        when a record was really made.

        Parameters
        ----------
        when : datetime
            A timezone-aware time, not in the future.

        Yields
        ------
        None
            Inside the block the store's clock reads ``when``.

        Raises
        ------
        ValueError
            For a naive time (no timezone), or one in the future.

        Examples
        --------
        >>> from datetime import UTC, datetime
        >>> with store.core.at(datetime(2026, 3, 1, 10, tzinfo=UTC)):
        ...     store.core.today()
        datetime.date(2026, 3, 1)
        """
        if when.tzinfo is None:
            raise ValueError("the clock needs a timezone-aware time")
        if when > datetime.now(UTC):
            raise ValueError(f"the clock cannot be set in the future ({when.isoformat()})")
        token = CLOCK.set(when.astimezone(UTC))
        try:
            yield
        finally:
            CLOCK.reset(token)

    # ------------------------------------------------------------------ keys
    def check_key(self) -> None:
        """Refuse a key file that is not this database's, or a missing one the data needs.

        Raises
        ------
        KeyFileError
            When the key file differs from the one the database was encrypted with, or is
            missing while encrypted identifiers exist.
        """
        with self.db.read() as s:
            key_id = s.get(Setting, "key_id")
            has_identities = s.execute(select(Identity.id).limit(1)).first() is not None
        if self.key_path.exists():
            self.keys = KeyRing(load_key_file(self.key_path))
            if key_id is not None and key_id.value != self.keys.key_id:
                raise KeyFileError(
                    f"identifier key file {self.key_path} is not the key this database was "
                    "encrypted with"
                )
        elif key_id is not None or has_identities:
            raise KeyFileError(
                f"identifier key file {self.key_path} is missing but the database holds "
                "encrypted identifiers; restore the key file (it is not in the database)"
            )

    def keyring(self, session: Session | None = None) -> KeyRing:
        """Give the key ring, creating the key file (0600) on first use of a fresh store.

        Parameters
        ----------
        session : Session, optional
            A write transaction: the key's id is recorded in it if the database has none yet.

        Returns
        -------
        KeyRing
            The keys derived from the key file.
        """
        if self.keys is None:
            if not self.key_path.exists():
                create_key_file(self.key_path)
            self.keys = KeyRing(load_key_file(self.key_path))
        if session is not None and session.get(Setting, "key_id") is None:
            session.add(Setting(key="key_id", value=self.keys.key_id))
        return self.keys

    def audit_chain_key(self, session: Session) -> bytes:
        """Give a writer the key of the audit log's hash chain.

        Parameters
        ----------
        session : Session
            The write transaction (on a fresh store the key's id is recorded in it).

        Returns
        -------
        bytes
            The audit chain's HMAC key.
        """
        if self.keys is None or not self._key_recorded:
            self.keyring(session)
            self._key_recorded = True
        assert self.keys is not None
        return self.keys.audit_chain

    def migration_keyring(self, create: bool) -> KeyRing:
        """Give a migration the key ring it needs to encrypt data an older schema kept in clear.

        Parameters
        ----------
        create : bool
            Whether a fresh key file may be made (a database with nothing to encrypt yet).

        Returns
        -------
        KeyRing
            The key ring.

        Raises
        ------
        KeyFileError
            When the key file is missing and ``create`` is false.
        """
        if self.keys is None:
            if not self.key_path.exists() and not create:
                raise KeyFileError(
                    f"identifier key file {self.key_path} is missing; this upgrade encrypts "
                    "data an older version left in clear and needs the key"
                )
            return self.keyring()
        return self.keys

    def keys_for_rows(self) -> KeyRing | None:
        """Give the key ring for reading rows, if there is a key file.

        Returns
        -------
        KeyRing or None
            None when no key file exists (rows written before encryption need none).
        """
        if self.keys is None and self.key_path.exists():
            self.keys = KeyRing(load_key_file(self.key_path))
        return self.keys

    # ------------------------------------------------------------------ audit and actors
    @staticmethod
    def audit(s: Session, **entry: Any) -> Any:
        """Append one row to the hash-chained audit log inside the caller's write.

        Parameters
        ----------
        s : Session
            The open write transaction.
        **entry
            The row's fields: ``actor``, ``action``, ``entity`` and optionally ``entity_id``,
            ``family``, ``before``, ``after``, ``reason`` (see :func:`attunement.store.audit.append`).

        Returns
        -------
        int
            The new row's id.
        """
        return audit.append(s, **entry)

    @staticmethod
    def system_actor() -> Actor:
        """Give the local operator running the CLI.

        Returns
        -------
        Actor
            An unrestricted actor, audited as ``system``.
        """
        return Actor(None, "system", "system", frozenset(), frozenset())

    def safe_url(self) -> str:
        """Give the database URL for messages and audit rows.

        Returns
        -------
        str
            The URL with any password shown as ``***``.
        """
        return make_url(self.url).render_as_string(hide_password=True)
