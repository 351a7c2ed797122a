"""Contact preferences and outreach messages."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from attunement.store.models.core import Base, UTCDateTime, utcnow


class ContactPreference(Base):
    """How a caregiver wants to be reached (not an identifier: the addresses are encrypted)."""

    __tablename__ = "contact_preferences"
    caregiver_id: Mapped[int] = mapped_column(ForeignKey("caregivers.id"), primary_key=True)
    family_id: Mapped[int] = mapped_column(ForeignKey("families.id"), index=True)
    # the preferred language is the caregiver's own (caregivers.page_language): one place
    method: Mapped[str] = mapped_column(String(10))
    opted_out: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OutreachMessage(Base):
    """One message to one person; the unique ``key`` makes queueing idempotent."""

    __tablename__ = "outreach_messages"
    __table_args__ = (
        Index("ix_outreach_messages_status_not_before", "status", "not_before"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    stage: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(10))
    family_id: Mapped[int] = mapped_column(ForeignKey("families.id"), index=True)
    site_id: Mapped[int] = mapped_column(Integer)
    caregiver_id: Mapped[int | None] = mapped_column(
        ForeignKey("caregivers.id"), nullable=True, index=True)
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id"), nullable=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    staff_address: Mapped[str | None] = mapped_column(String(320), nullable=True)
    instrument: Mapped[str | None] = mapped_column(String(50), nullable=True)
    time_point: Mapped[str | None] = mapped_column(String(100), nullable=True)
    language: Mapped[str] = mapped_column(String(35))
    status: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
