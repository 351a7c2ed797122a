"""The declarative base, the UTC timestamp type, the audit chain and settings."""

from __future__ import annotations

from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Annotated, Any

from sqlalchemy import DateTime, ForeignKey, Integer, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

__all__ = ["NAMING", "AuditEntry", "AuditHead", "Base", "Setting", "UTCDateTime", "utcnow"]


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator):
    """A timestamp column stored as naive UTC and always read back timezone-aware, in UTC.

    Examples
    --------
    >>> from datetime import datetime, timedelta, timezone
    >>> column = UTCDateTime()
    >>> london_summer = datetime(2026, 7, 1, 9, 30, tzinfo=timezone(timedelta(hours=1)))
    >>> stored = column.process_bind_param(london_summer, None)
    >>> stored
    datetime.datetime(2026, 7, 1, 8, 30)
    >>> column.process_result_value(stored, None)
    datetime.datetime(2026, 7, 1, 8, 30, tzinfo=datetime.timezone.utc)
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        """Convert an aware time to the naive UTC value written to the database.

        Parameters
        ----------
        value : datetime or None
            A timezone-aware time.
        dialect : Dialect
            The database's dialect (unused).

        Returns
        -------
        datetime or None
            The time in UTC without its timezone.

        Raises
        ------
        ValueError
            For a naive time, whose meaning would be a guess.
        """
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        """Mark a stored naive UTC value as UTC again when it is read.

        Parameters
        ----------
        value : datetime or None
            The value read.
        dialect : Dialect
            The database's dialect (unused).

        Returns
        -------
        datetime or None
            The time, aware, in UTC.
        """
        return None if value is None else value.replace(tzinfo=UTC)


# the store's clock: None is the real time; set only through ``Core.at`` (records written at a
# chosen past time, e.g. the demo's visits). A context variable, so each thread or task has its own.
CLOCK: ContextVar[datetime | None] = ContextVar("attunement_store_clock", default=None)


def utcnow() -> datetime:
    """Give the store's current time for records written now.

    Returns
    -------
    datetime
        Now in UTC (aware), or the time set by ``Core.at``.

    Examples
    --------
    >>> utcnow().tzinfo
    datetime.timezone.utc
    """
    fixed = CLOCK.get()
    return fixed if fixed is not None else datetime.now(UTC)


# Columns many tables declare alike, said once (SQLAlchemy's ``Annotated`` mapped types;
# ``Mapped[user_fk | None]`` is the nullable one). Every ``Mapped[datetime]`` is a UTCDateTime
# (``Base.type_annotation_map``). tests/store/test_models_match_migrations.py checks the result
# against the schema the migrations build.
intpk = Annotated[int, mapped_column(primary_key=True)]
written_at = Annotated[datetime, mapped_column(default=utcnow)]
family_fk = Annotated[int, mapped_column(ForeignKey("families.id"), index=True)]
caregiver_fk = Annotated[int, mapped_column(ForeignKey("caregivers.id"))]
user_fk = Annotated[int, mapped_column(ForeignKey("users.id"))]


class FamilyRow:
    """Mixin of a row in one family's record: its own id, then the family's (indexed)."""

    id: Mapped[intpk] = mapped_column(sort_order=-2)
    family_id: Mapped[family_fk] = mapped_column(sort_order=-1)


class Base(DeclarativeBase):
    """The declarative base of the store's models, with the constraint naming convention."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime}


class AuditEntry(Base):
    """Append-only, keyed hash chain. Database triggers reject UPDATE, DELETE and TRUNCATE."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[str] = mapped_column(String(40))
    actor_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    actor_email: Mapped[str] = mapped_column(String(320))
    actor_role: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(50))
    entity: Mapped[str] = mapped_column(String(50))
    entity_id: Mapped[str | None] = mapped_column(String(50), nullable=True)
    family_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    site_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    before: Mapped[str | None] = mapped_column(Text, nullable=True)
    after: Mapped[str | None] = mapped_column(Text, nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    client: Mapped[str] = mapped_column(String(100), default="")
    # SHA-256 of the immutable record this row wrote (assessment, consent), for verify
    record_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The chain's last id and hash, so that deleting the newest rows is detected too."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_id: Mapped[int] = mapped_column(Integer)
    last_hash: Mapped[str] = mapped_column(String(64))


class Setting(Base):
    """A key-value setting of the store (the key file's id, the keyed-chain marker)."""

    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
