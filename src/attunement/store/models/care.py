"""Consent, alerts, caregiver links and contributions, released results, episodes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from attunement.store.models.core import Base, UTCDateTime, utcnow


class Consent(Base):
    __tablename__ = "consents"
    id: Mapped[int] = mapped_column(primary_key=True)
    family_id: Mapped[int] = mapped_column(ForeignKey("families.id"), index=True)
    caregiver_id: Mapped[int | None] = mapped_column(ForeignKey("caregivers.id"), nullable=True)
    kind: Mapped[str] = mapped_column(String(50))
    version: Mapped[str] = mapped_column(String(50))
    given_on: Mapped[date] = mapped_column(Date)
    withdrawn_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    recorded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Alert(Base):
    __tablename__ = "alerts"
    __table_args__ = (
        # open alerts per family (caseload) and the alerts list's keyset pages
        Index("ix_alerts_status_family", "status", "family_id"),
        Index("ix_alerts_status_id", "status", "id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    family_id: Mapped[int] = mapped_column(ForeignKey("families.id"), index=True)
    caregiver_id: Mapped[int] = mapped_column(ForeignKey("caregivers.id"))
    assessment_id: Mapped[int] = mapped_column(ForeignKey("assessments.id"), index=True)
    flag_id: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(30))
    label: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="open")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    acknowledged_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    # the safety review's outcome (one of service.SAFETY_REVIEW_OUTCOMES); NULL while open
    outcome: Mapped[str | None] = mapped_column(String(40), nullable=True)


class CaregiverLink(Base):
    __tablename__ = "caregiver_links"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    family_id: Mapped[int] = mapped_column(ForeignKey("families.id"), index=True)
    caregiver_id: Mapped[int] = mapped_column(ForeignKey("caregivers.id"))
    instrument: Mapped[str] = mapped_column(String(50))
    time_point: Mapped[str] = mapped_column(String(100))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    assessment_id: Mapped[int | None] = mapped_column(ForeignKey("assessments.id"), nullable=True)
    # "questionnaire": answered once; "space": the caregiver's own page, viewable until expiry
    kind: Mapped[str] = mapped_column(String(20), default="questionnaire",
                                      server_default="questionnaire")


class ResultRelease(Base):
    """A practitioner released an assessment's result to the caregiver's own space (a row of
    its own: submitted assessments are never changed)."""

    __tablename__ = "result_releases"
    id: Mapped[int] = mapped_column(primary_key=True)
    assessment_id: Mapped[int] = mapped_column(ForeignKey("assessments.id"), unique=True)
    family_id: Mapped[int] = mapped_column(ForeignKey("families.id"), index=True)
    caregiver_id: Mapped[int] = mapped_column(ForeignKey("caregivers.id"), index=True)
    released_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    released_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CaregiverContribution(Base):
    """What a caregiver told the service through their own space: their wishes (goals,
    preferred contact, who else cares for the baby) or feedback on an intervention session."""

    __tablename__ = "caregiver_contributions"
    id: Mapped[int] = mapped_column(primary_key=True)
    family_id: Mapped[int] = mapped_column(ForeignKey("families.id"), index=True)
    caregiver_id: Mapped[int] = mapped_column(ForeignKey("caregivers.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    episode_id: Mapped[int | None] = mapped_column(ForeignKey("episodes.id"), nullable=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Episode(Base):
    __tablename__ = "episodes"
    id: Mapped[int] = mapped_column(primary_key=True)
    family_id: Mapped[int] = mapped_column(ForeignKey("families.id"), index=True)
    programme: Mapped[str] = mapped_column(String(100))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    caregivers: Mapped[list[str]] = mapped_column(JSON)
    sessions_offered: Mapped[int | None] = mapped_column(Integer, nullable=True)
    sessions_attended: Mapped[int | None] = mapped_column(Integer, nullable=True)
    fidelity_notes: Mapped[str | None] = mapped_column(Text, nullable=True)
    end_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
