"""SQLAlchemy 2 models of the platform store.

Clinical data and direct identifiers live in separate tables: ``identities`` holds only
ciphertext (AES-GCM, key kept outside the database), every other table holds no names,
addresses, phone numbers, NHS numbers or caregiver dates of birth.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator):
    """Timestamps stored as naive UTC and always returned timezone-aware (UTC)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Site(Base):
    __tablename__ = "sites"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    memberships: Mapped[list[Membership]] = relationship(back_populates="user")


class Membership(Base):
    """A user's role at one site (a user may belong to several sites)."""

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("user_id", "site_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    user: Mapped[User] = relationship(back_populates="memberships")


class Study(Base):
    __tablename__ = "studies"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    time_points: Mapped[list[TimePoint]] = relationship(
        order_by="TimePoint.position", back_populates="study"
    )


class StudySite(Base):
    __tablename__ = "study_sites"
    __table_args__ = (UniqueConstraint("study_id", "site_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"), index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)


class StudyMember(Base):
    """An explicit grant of a study to a user (researchers)."""

    __tablename__ = "study_members"
    __table_args__ = (UniqueConstraint("study_id", "user_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)


class TimePoint(Base):
    """A scheduled assessment moment, ``offset_days`` from the infant's due date."""

    __tablename__ = "time_points"
    __table_args__ = (UniqueConstraint("study_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(Integer)
    offset_days: Mapped[int] = mapped_column(Integer)
    window_days: Mapped[int] = mapped_column(Integer)
    anchor: Mapped[str] = mapped_column(String(20), default="due_date")
    instruments: Mapped[list[str]] = mapped_column(JSON)
    study: Mapped[Study] = relationship(back_populates="time_points")


class Family(Base):
    __tablename__ = "families"
    __table_args__ = (UniqueConstraint("site_id", "code"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    study_id: Mapped[int | None] = mapped_column(ForeignKey("studies.id"), index=True)
    code: Mapped[str] = mapped_column(String(100))
    placement: Mapped[str] = mapped_column(String(30))
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    assessed_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    infants: Mapped[list[Infant]] = relationship(order_by="Infant.id")
    caregivers: Mapped[list[Caregiver]] = relationship(order_by="Caregiver.id")


class Infant(Base):
    """The due date (the scheduling anchor) and gestation at birth are clinical data; the
    infant's date of birth, name and NHS number live encrypted in ``identities``."""

    __tablename__ = "infants"
    id: Mapped[int] = mapped_column(primary_key=True)
    family_id: Mapped[int] = mapped_column(ForeignKey("families.id"), index=True)
    due_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    gestation_weeks: Mapped[float | None] = mapped_column(nullable=True)
    # derived, for the caseload's schedule in SQL: date of birth minus due date in days (both
    # known), i.e. the gestation at birth to the day -- the clear due date and gestation
    # already give it to within a week; the date of birth itself stays encrypted
    birth_offset_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # filled in after decryption by the store (not a column)
    birth_date = None


class Caregiver(Base):
    __tablename__ = "caregivers"
    __table_args__ = (UniqueConstraint("family_id", "key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    family_id: Mapped[int] = mapped_column(ForeignKey("families.id"), index=True)
    key: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(30))
    age: Mapped[int | None] = mapped_column(Integer, nullable=True)
    first_time_parent: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    variants: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    joined_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    left_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    left_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    # the language the caregiver's own pages are shown in (BCP 47); None: the service default
    page_language: Mapped[str | None] = mapped_column(String(35), nullable=True)
    interpreter_needed: Mapped[bool] = mapped_column(Boolean, default=False,
                                                     server_default=false())


class Identity(Base):
    """The identity vault: one encrypted JSON document per person, nothing else in clear."""

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("subject_kind", "subject_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    family_id: Mapped[int] = mapped_column(ForeignKey("families.id"), index=True)
    subject_kind: Mapped[str] = mapped_column(String(20))
    subject_id: Mapped[int] = mapped_column(Integer)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    key_id: Mapped[str] = mapped_column(String(32))


class IdentityLookup(Base):
    """Blind index of an identity row: keyed hashes of its normalised searchable values
    (see ``store/blind.py``), so a search is an indexed exact match, never a decrypting scan."""

    __tablename__ = "identity_lookups"
    __table_args__ = (
        Index("ix_identity_lookups_digest", "digest"),
        Index("ix_identity_lookups_subject", "subject_kind", "subject_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    family_id: Mapped[int] = mapped_column(ForeignKey("families.id"), index=True)
    subject_kind: Mapped[str] = mapped_column(String(20))
    subject_id: Mapped[int] = mapped_column(Integer)
    field: Mapped[str] = mapped_column(String(20))
    digest: Mapped[str] = mapped_column(String(64))


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


class Assessment(Base):
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
    id: Mapped[int] = mapped_column(primary_key=True)
    family_id: Mapped[int] = mapped_column(ForeignKey("families.id"), index=True)
    caregiver_id: Mapped[int] = mapped_column(ForeignKey("caregivers.id"), index=True)
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
    corrected_from: Mapped[int | None] = mapped_column(ForeignKey("assessments.id"), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    submitted_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    submitted_via: Mapped[str] = mapped_column(String(20), default="staff")
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_on: Mapped[date] = mapped_column(Date)
    submission_key: Mapped[str | None] = mapped_column(String(100), unique=True, nullable=True)


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


class ObservationSession(Base):
    __tablename__ = "observation_sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    family_id: Mapped[int] = mapped_column(ForeignKey("families.id"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    # the file, AES-GCM encrypted when key_id is set (see store.files); loaded on request
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    # clear metadata only on rows written before encryption at rest (key_id NULL); else {}
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON)
    meta_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    key_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class WebSession(Base):
    """A browser session held on the server: the cookie carries only an opaque id, whose hash
    is kept here. Ends at ``expires_at`` (absolute), after ``idle_seconds`` without activity,
    or when revoked (sign-out, password change, account disabled)."""

    __tablename__ = "web_sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    session_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    idle_seconds: Mapped[int] = mapped_column(Integer)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class PasswordReset(Base):
    """A one-time link to choose a new password: only its hash is kept; single use, expiring."""

    __tablename__ = "password_resets"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class LoginAttempt(Base):
    __tablename__ = "login_attempts"
    __table_args__ = (Index("ix_login_attempts_email_at", "email", "at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    client: Mapped[str] = mapped_column(String(100), default="")
    success: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


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
    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
