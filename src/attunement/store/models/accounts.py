"""Sites, users and their credentials, studies and their schedules."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from attunement.store.models.core import Base, intpk, user_fk, written_at

__all__ = ["ApiToken", "LoginAttempt", "Membership", "PasswordReset", "Site", "Study",
    "StudyMember", "StudySite", "TimePoint", "User", "WebSession"]


class Site(Base):
    """A site (a clinic or service team); users and families belong to sites."""

    __tablename__ = "sites"
    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[written_at]


class User(Base):
    """A user account: e-mail, Argon2id password hash, role, and whether it is active.

    Sites come through ``memberships``; an account may expire at ``expires_at``.
    """

    __tablename__ = "users"
    id: Mapped[intpk]
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    expires_at: Mapped[datetime | None]
    created_at: Mapped[written_at]
    memberships: Mapped[list[Membership]] = relationship(back_populates="user")


class Membership(Base):
    """A user's role at one site (a user may belong to several sites)."""

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("user_id", "site_id"),)
    id: Mapped[intpk]
    user_id: Mapped[user_fk] = mapped_column(index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    user: Mapped[User] = relationship(back_populates="memberships")


class Study(Base):
    """A research study: its name and its schedule of time points."""

    __tablename__ = "studies"
    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[written_at]
    time_points: Mapped[list[TimePoint]] = relationship(
        order_by="TimePoint.position", back_populates="study"
    )


class StudySite(Base):
    """A site taking part in a study (its families may be enrolled in it)."""

    __tablename__ = "study_sites"
    __table_args__ = (UniqueConstraint("study_id", "site_id"),)
    id: Mapped[intpk]
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"), index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)


class StudyMember(Base):
    """An explicit grant of a study to a user (researchers)."""

    __tablename__ = "study_members"
    __table_args__ = (UniqueConstraint("study_id", "user_id"),)
    id: Mapped[intpk]
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"), index=True)
    user_id: Mapped[user_fk] = mapped_column(index=True)


class TimePoint(Base):
    """A scheduled assessment moment, ``offset_days`` from the infant's due date."""

    __tablename__ = "time_points"
    __table_args__ = (UniqueConstraint("study_id", "name"),)
    id: Mapped[intpk]
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    position: Mapped[int]
    offset_days: Mapped[int]
    window_days: Mapped[int]
    anchor: Mapped[str] = mapped_column(String(20), default="due_date")
    instruments: Mapped[list[str]] = mapped_column(JSON)
    study: Mapped[Study] = relationship(back_populates="time_points")


class UserSecret:
    """Mixin of a secret held for a user (kept as its hash only): made now, good until
    ``expires_at``."""

    id: Mapped[intpk] = mapped_column(sort_order=-2)
    user_id: Mapped[user_fk] = mapped_column(index=True, sort_order=-1)
    created_at: Mapped[written_at]
    expires_at: Mapped[datetime]


class ApiToken(UserSecret, Base):
    """An API bearer token of a user: only its SHA-256 is kept; it expires or is revoked."""

    __tablename__ = "api_tokens"
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    revoked_at: Mapped[datetime | None]


class WebSession(UserSecret, Base):
    """A browser session held on the server: the cookie carries only an opaque id, whose hash
    is kept here. Ends at ``expires_at`` (absolute), after ``idle_seconds`` without activity,
    or when revoked (sign-out, password change, account disabled)."""

    __tablename__ = "web_sessions"
    session_hash: Mapped[str] = mapped_column(String(64), unique=True)
    last_seen_at: Mapped[written_at]
    idle_seconds: Mapped[int]
    revoked_at: Mapped[datetime | None]


class PasswordReset(UserSecret, Base):
    """A one-time link to choose a new password: only its hash is kept; single use, expiring."""

    __tablename__ = "password_resets"
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[user_fk | None]
    used_at: Mapped[datetime | None]


class LoginAttempt(Base):
    """One login attempt (e-mail, client address, success), for the login throttle."""

    __tablename__ = "login_attempts"
    __table_args__ = (Index("ix_login_attempts_email_at", "email", "at"),)
    id: Mapped[intpk]
    email: Mapped[str] = mapped_column(String(320))
    client: Mapped[str] = mapped_column(String(100), default="")
    success: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[written_at]
