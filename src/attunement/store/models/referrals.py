"""Referrals and their stages."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from attunement.store.models.core import Base, FamilyRow, caregiver_fk, user_fk, written_at

__all__ = ["Referral"]


class Referral(FamilyRow, Base):
    """One referral of a caregiver (or a whole family when ``caregiver_id`` is None)."""

    __tablename__ = "referrals"
    caregiver_id: Mapped[caregiver_fk | None]
    kind: Mapped[str] = mapped_column(String(20))
    target: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20))
    offered_on: Mapped[date]
    accepted_on: Mapped[date | None]
    declined_on: Mapped[date | None]
    decline_reason: Mapped[str | None] = mapped_column(Text)
    first_session_on: Mapped[date | None]
    completed_on: Mapped[date | None]
    ended_on: Mapped[date | None]
    end_reason: Mapped[str | None] = mapped_column(Text)
    episode_id: Mapped[int | None] = mapped_column(ForeignKey("episodes.id"))
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_by: Mapped[user_fk | None]
    created_at: Mapped[written_at]
