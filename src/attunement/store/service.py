"""The platform store: one object the web app and the CLI open, close and reach every service
through (``store.accounts``, ``store.families``, ``store.assessments``, ``store.care``,
``store.observations``, ``store.exports``, ``store.trials``, ``store.referrals``,
``store.outreach``, ``store.maintenance``)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url

from attunement.store import audit, maintenance
from attunement.store.accounts import Accounts
from attunement.store.assessments import Assessments, Submission
from attunement.store.care import (
    CONTRIBUTION_KINDS,
    SAFETY_REVIEW_OUTCOMES,
    SESSION_FEEDBACK_ITEMS,
    WISH_FIELDS,
    Care,
)
from attunement.store.core import Core
from attunement.store.db import Database, default_key_path, default_url, normalise_url
from attunement.store.errors import StoreValidationError
from attunement.store.export_jobs import ExportJobs
from attunement.store.exports import Exports
from attunement.store.families import Families
from attunement.store.observations import Observations
from attunement.store.outreach import OutreachRecords
from attunement.store.referrals import Referrals
from attunement.store.scope import Actor
from attunement.store.trials import StudyTrials


class Store:
    """The platform's database: scoped, audited, identifiers encrypted.

    Open with :meth:`open`; every service method that touches family data takes an
    :class:`Actor` and is restricted to that actor's scope (see :mod:`attunement.policy` and
    :mod:`attunement.store.scope`).

    Examples
    --------
    >>> url = f"sqlite:///{tmp_path / 'new.db'}"
    >>> with Store.open(url, key_path=tmp_path / "new-keys" / "identifier.key") as fresh:
    ...     fresh.init("admin@example.org", "a long passphrase")
    ...     [s["name"] for s in fresh.accounts.list_sites(fresh.system_actor())]
    []
    >>> store.ping(), store.dialect
    (True, 'sqlite')
    """

    def __init__(self, db: Database, key_path: Path) -> None:
        self.core = Core(db, key_path)
        self.db = db
        self.url = db.url
        self.key_path = key_path
        self.accounts = Accounts(self.core)
        self.assessments = Assessments(self.core)
        self.families = Families(self.core, self.assessments)
        self.care = Care(self.core, self.assessments)
        self.observations = Observations(self.core)
        self.exports = Exports(self.core)
        self.export_jobs = ExportJobs(self.core)
        self.trials = StudyTrials(self.core)
        self.referrals = Referrals(self.core)
        self.outreach = OutreachRecords(self.core)
        self.maintenance = maintenance.Maintenance(self.core)

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    def open(cls, url: str | None = None, *, key_path: str | Path | None = None) -> Store:
        """Open (and migrate to the newest schema) the store at ``url``.

        Refuses to start when the identifier key file is readable by group or others, or
        missing or different while the database holds encrypted identifiers.

        Parameters
        ----------
        url : str, optional
            SQLAlchemy URL (default: :func:`attunement.store.db.default_url`).
        key_path : str or Path, optional
            The identifier key file (default: :func:`attunement.store.db.default_key_path`).

        Returns
        -------
        Store
            The opened store; close it (or use it as a context manager).
        """
        db = Database(url or default_url())
        try:
            store = cls(db, Path(key_path) if key_path else default_key_path())
            # a migration that encrypts what an older schema left in clear needs the key
            db.upgrade(keyring=store.core.migration_keyring)
            store.core.check_key()
            maintenance.secure_files(store.core)
        except BaseException:
            db.dispose()
            raise
        return store

    def close(self) -> None:
        """Release the database's connections."""
        self.db.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.db.dialect

    def ping(self) -> bool:
        """Tell whether the database answers (for health checks).

        Returns
        -------
        bool
            False on any error, never raising.
        """
        try:
            with self.db.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
            return True
        except Exception:
            return False

    def system_actor(self) -> Actor:
        """Give the local operator running the CLI.

        Returns
        -------
        Actor
            Unrestricted, audited as ``system``.
        """
        return self.core.system_actor()

    def actor(self, user_id: int) -> Actor:
        """Give the actor of an active user (see :meth:`Accounts.actor`).

        Parameters
        ----------
        user_id : int
            Their account's id; an unknown, disabled or expired account is refused
            (``AuthError``).

        Returns
        -------
        Actor
            The user with their sites and studies.

        Raises
        ------
        AuthError
            For an unknown, disabled or expired account.
        """
        return self.accounts.actor(user_id)

    def init(self, admin_email: str, admin_password: str) -> None:
        """Create the identifier key (0600) and the first administrator of a new store.

        Parameters
        ----------
        admin_email : str
            Their e-mail, which is also their sign-in name.
        admin_password : str
            At least 8 characters, not the address.

        Raises
        ------
        StoreValidationError
            For a bad address or password, or when there is an administrator already.
        """
        self.accounts.init(admin_email, admin_password)

    def safe_url(self) -> str:
        """Give the database URL with any password hidden.

        Returns
        -------
        str
            The URL, password shown as ``***``.
        """
        return self.core.safe_url()

    @classmethod
    def restore(
        cls, source: str | Path, url: str | None = None, *, key_path: str | Path | None = None
    ) -> Store:
        """Replace the database at ``url`` with a backup and open it.

        The backup is restored into a new database first (SQLite: a temp file next to the
        target; PostgreSQL: a new database on the same server) and checked there: its schema
        version, that it was encrypted with this key file, and its own audit verification.
        Only then does it replace the target (``os.replace`` / a rename); on any failure the
        target is untouched. On PostgreSQL the replaced database is kept, renamed (its name is
        in the ``restore`` audit row).

        Parameters
        ----------
        source : str or Path
            The backup file.
        url : str, optional
            The database to replace (default: :func:`attunement.store.db.default_url`).
        key_path : str or Path, optional
            The identifier key file the backup was encrypted with.

        Returns
        -------
        Store
            The restored store, open.

        Raises
        ------
        StoreValidationError
            When the source is missing, not a sound backup, or does not verify.
        KeyFileError
            When it was encrypted with another key file.
        """
        source = Path(source)
        if not source.exists():
            raise StoreValidationError("source", f"{source} does not exist")
        url = normalise_url(url or default_url())
        parsed = make_url(url)
        kp = Path(key_path) if key_path else default_key_path()

        def opener(candidate: str) -> Store:
            return cls.open(candidate, key_path=kp)

        opener.key_path = kp  # type: ignore[attr-defined]
        kept = None
        if parsed.get_backend_name() == "sqlite":
            maintenance.restore_sqlite(source, Path(parsed.database or ""), opener)
        else:
            kept = maintenance.restore_postgres(source, url, opener, maintenance.pg_run)
        store = cls.open(url, key_path=kp)
        with store.db.write() as s:
            audit.append(
                s,
                actor=store.system_actor(),
                action="restore",
                entity="store",
                after={"source": source.name, "replaced_kept_as": kept},
            )
        return store


__all__ = [
    "CONTRIBUTION_KINDS",
    "SAFETY_REVIEW_OUTCOMES",
    "SESSION_FEEDBACK_ITEMS",
    "WISH_FIELDS",
    "Store",
    "Submission",
]
