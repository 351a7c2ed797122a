"""Assessments: one caregiver's answers to one instrument at one time point."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from attunement.store.models.core import Base, FamilyRow, caregiver_fk, user_fk, written_at

__all__ = ["Assessment"]


class Assessment(FamilyRow, Base):
    """One caregiver x instrument x time point.

    ``instance`` counts repeats at the same time point, ``version`` counts corrections.
    """

    __tablename__ = "assessments"
    __table_args__ = (
        UniqueConstraint("caregiver_id", "instrument", "time_point", "instance", "version"),
        Index("ix_assessments_family_instrument", "family_id", "instrument"),
        # the caseload: "is this caregiver x instrument x time point done?" and last assessed
        Index("ix_assessments_done", "caregiver_id", "instrument", "time_point"),
        Index("ix_assessments_family_completed", "family_id", "completed_on"),
    )
    caregiver_id: Mapped[caregiver_fk] = mapped_column(index=True)
    instrument: Mapped[str] = mapped_column(String(50))
    instrument_version: Mapped[str] = mapped_column(String(50))
    time_point: Mapped[str] = mapped_column(String(100))
    instance: Mapped[int] = mapped_column(Integer, default=1)
    version: Mapped[int] = mapped_column(Integer, default=1)
    input_kind: Mapped[str] = mapped_column(String(20))
    responses: Mapped[list[Any]] = mapped_column(JSON)
    item_scores: Mapped[list[Any]] = mapped_column(JSON)
    scores: Mapped[dict[str, Any]] = mapped_column(JSON)
    flags: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    corrected_from: Mapped[int | None] = mapped_column(ForeignKey("assessments.id"))
    reason: Mapped[str | None] = mapped_column(Text)
    submitted_by: Mapped[user_fk | None]
    submitted_via: Mapped[str] = mapped_column(String(20), default="staff")
    submitted_at: Mapped[written_at]
    completed_on: Mapped[date]
    submission_key: Mapped[str | None] = mapped_column(String(100), unique=True)
