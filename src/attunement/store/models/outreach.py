"""Contact preferences and outreach messages."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from attunement.store.models.core import Base, family_fk, intpk, user_fk, written_at

__all__ = ["ContactPreference", "OutreachMessage"]


class ContactPreference(Base):
    """How a caregiver wants to be reached (not an identifier: the addresses are encrypted)."""

    __tablename__ = "contact_preferences"
    caregiver_id: Mapped[int] = mapped_column(ForeignKey("caregivers.id"), primary_key=True)
    family_id: Mapped[family_fk]
    # the preferred language is the caregiver's own (caregivers.page_language): one place
    method: Mapped[str] = mapped_column(String(10))
    opted_out: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[written_at]


class OutreachMessage(Base):
    """One message to one person; the unique ``key`` makes queueing idempotent."""

    __tablename__ = "outreach_messages"
    __table_args__ = (
        Index("ix_outreach_messages_status_not_before", "status", "not_before"),
    )
    id: Mapped[intpk]
    key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    stage: Mapped[int]
    channel: Mapped[str] = mapped_column(String(10))
    family_id: Mapped[family_fk]
    site_id: Mapped[int]
    caregiver_id: Mapped[int | None] = mapped_column(
        ForeignKey("caregivers.id"), nullable=True, index=True)
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id"))
    user_id: Mapped[user_fk | None]
    staff_address: Mapped[str | None] = mapped_column(String(320))
    instrument: Mapped[str | None] = mapped_column(String(50))
    time_point: Mapped[str | None] = mapped_column(String(100))
    language: Mapped[str] = mapped_column(String(35))
    status: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[datetime]
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[written_at]
