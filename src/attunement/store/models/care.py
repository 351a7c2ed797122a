"""Consent, alerts, caregiver links and contributions, released results, episodes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from attunement.store.models.core import Base, FamilyRow, caregiver_fk, user_fk, written_at

__all__ = ["Alert", "CaregiverContribution", "CaregiverLink", "Consent", "Episode",
    "ResultRelease"]


class Consent(FamilyRow, Base):
    """A consent given by a family or one caregiver (kind, form version, dates)."""

    __tablename__ = "consents"
    caregiver_id: Mapped[caregiver_fk | None]
    kind: Mapped[str] = mapped_column(String(50))
    version: Mapped[str] = mapped_column(String(50))
    given_on: Mapped[date]
    withdrawn_on: Mapped[date | None]
    recorded_by: Mapped[user_fk | None]
    recorded_at: Mapped[written_at]


class Alert(FamilyRow, Base):
    """A safety alert opened by an assessment's flag, and its review.

    Open until acknowledged with a note and an outcome (see
    ``attunement.store.service.SAFETY_REVIEW_OUTCOMES``).
    """

    __tablename__ = "alerts"
    __table_args__ = (
        # open alerts per family (caseload) and the alerts list's keyset pages
        Index("ix_alerts_status_family", "status", "family_id"),
        Index("ix_alerts_status_id", "status", "id"),
    )
    caregiver_id: Mapped[caregiver_fk]
    assessment_id: Mapped[int] = mapped_column(ForeignKey("assessments.id"), index=True)
    flag_id: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(30))
    label: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="open")
    created_at: Mapped[written_at]
    acknowledged_by: Mapped[user_fk | None]
    acknowledged_at: Mapped[datetime | None]
    note: Mapped[str | None] = mapped_column(Text)
    # the safety review's outcome (one of service.SAFETY_REVIEW_OUTCOMES); NULL while open
    outcome: Mapped[str | None] = mapped_column(String(40))


class CaregiverLink(FamilyRow, Base):
    """A link sent to a caregiver: a questionnaire to answer once, or their own page.

    Only the token's hash is kept; a link expires and a questionnaire link is used once.
    """

    __tablename__ = "caregiver_links"
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    caregiver_id: Mapped[caregiver_fk]
    instrument: Mapped[str] = mapped_column(String(50))
    time_point: Mapped[str] = mapped_column(String(100))
    created_by: Mapped[user_fk | None]
    created_at: Mapped[written_at]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    assessment_id: Mapped[int | None] = mapped_column(ForeignKey("assessments.id"))
    # "questionnaire": answered once; "space": the caregiver's own page, viewable until expiry
    kind: Mapped[str] = mapped_column(String(20), default="questionnaire",
                                      server_default="questionnaire")


class ResultRelease(FamilyRow, Base):
    """A practitioner released an assessment's result to the caregiver's own space (a row of
    its own: submitted assessments are never changed)."""

    __tablename__ = "result_releases"
    assessment_id: Mapped[int] = mapped_column(ForeignKey("assessments.id"), unique=True)
    caregiver_id: Mapped[caregiver_fk] = mapped_column(index=True)
    released_by: Mapped[user_fk | None]
    released_at: Mapped[written_at]


class CaregiverContribution(FamilyRow, Base):
    """What a caregiver told the service through their own space: their wishes (goals,
    preferred contact, who else cares for the baby) or feedback on an intervention session."""

    __tablename__ = "caregiver_contributions"
    caregiver_id: Mapped[caregiver_fk] = mapped_column(index=True)
    kind: Mapped[str] = mapped_column(String(30))
    episode_id: Mapped[int | None] = mapped_column(ForeignKey("episodes.id"))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[written_at]


class Episode(FamilyRow, Base):
    """An episode of an intervention programme for a family: dates, sessions, fidelity."""

    __tablename__ = "episodes"
    programme: Mapped[str] = mapped_column(String(100))
    start_date: Mapped[date]
    end_date: Mapped[date | None]
    caregivers: Mapped[list[str]] = mapped_column(JSON)
    sessions_offered: Mapped[int | None]
    sessions_attended: Mapped[int | None]
    fidelity_notes: Mapped[str | None] = mapped_column(Text)
    end_reason: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[user_fk | None]
    created_at: Mapped[written_at]
