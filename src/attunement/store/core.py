"""The store's core: the database, the key ring and audit-chain key, the clock, the audit
writer and the system actor. Every service of the store is built on one :class:`Core`.

>>> from attunement.store.core import Core                          # doctest: +SKIP
>>> core = Core(Database("sqlite:///a.db"), Path("identifier.key"))  # doctest: +SKIP
>>> with core.db.write() as s:                                      # doctest: +SKIP
...     core.audit(s, actor=core.system_actor(), action="init", entity="store")
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

    Parameters
    ----------
    db : Database
        The opened database (engine, read and write transactions).
    key_path : Path
        The identifier key file (created 0600 on first use of a fresh store).
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
        """The current time (UTC, aware): the one clock of the store (see :meth:`at`)."""
        return utcnow()

    @staticmethod
    def today() -> date:
        """Today's date (local; the clock's UTC date inside :meth:`at`), for default dates."""
        fixed = CLOCK.get()
        return fixed.date() if fixed is not None else date.today()

    @staticmethod
    @contextmanager
    def at(when: datetime) -> Iterator[None]:
        """Write records as of ``when``: their own times (registration, submission, alerts,
        links) and the store's defaults follow this clock; the audit log keeps the real
        time of each write, so it always says when a record was really made.

        Parameters
        ----------
        when : datetime
            A timezone-aware time, not in the future.

        Examples
        --------
        >>> with store.core.at(datetime(2026, 3, 1, 10, tzinfo=UTC)):   # doctest: +SKIP
        ...     submit_assessment(store, actor, fid, "mother", "epds", "6w", answers)
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
        """Refuse a key file that is not this database's, or a missing one the data needs."""
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
        """The key ring, creating the key file (0600) on first use of a fresh store."""
        if self.keys is None:
            if not self.key_path.exists():
                create_key_file(self.key_path)
            self.keys = KeyRing(load_key_file(self.key_path))
        if session is not None and session.get(Setting, "key_id") is None:
            session.add(Setting(key="key_id", value=self.keys.key_id))
        return self.keys

    def audit_chain_key(self, session: Session) -> bytes:
        """The audit chain key for a writer (records the key's id on a fresh store)."""
        if self.keys is None or not self._key_recorded:
            self.keyring(session)
            self._key_recorded = True
        assert self.keys is not None
        return self.keys.audit_chain

    def migration_keyring(self, create: bool) -> KeyRing:
        """The key ring for a migration; ``create``: a fresh key file is allowed."""
        if self.keys is None:
            if not self.key_path.exists() and not create:
                raise KeyFileError(
                    f"identifier key file {self.key_path} is missing; this upgrade encrypts "
                    "data an older version left in clear and needs the key"
                )
            return self.keyring()
        return self.keys

    def keys_for_rows(self) -> KeyRing | None:
        """The key ring if there is one (rows written before encryption need none)."""
        if self.keys is None and self.key_path.exists():
            self.keys = KeyRing(load_key_file(self.key_path))
        return self.keys

    # ------------------------------------------------------------------ audit and actors
    @staticmethod
    def audit(s: Session, **entry: Any) -> Any:
        """Append one row to the hash-chained audit log inside the caller's write
        (see :func:`attunement.store.audit.append` for the fields)."""
        return audit.append(s, **entry)

    @staticmethod
    def system_actor() -> Actor:
        """The local operator running the CLI: unrestricted, audited as ``system``."""
        return Actor(None, "system", "system", frozenset(), frozenset())

    def safe_url(self) -> str:
        """The database URL with any password hidden (for messages and audit rows)."""
        return make_url(self.url).render_as_string(hide_password=True)
