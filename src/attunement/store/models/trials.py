"""Randomisation designs and allocations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from attunement.store.models.core import Base, UTCDateTime, utcnow


class TrialDesignRecord(Base):
    """A study's randomisation design; the seed only as AES-GCM ciphertext."""

    __tablename__ = "trial_designs"
    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"), unique=True)
    method: Mapped[str] = mapped_column(String(20))
    design: Mapped[dict[str, Any]] = mapped_column(JSON)
    levels: Mapped[dict[str, Any]] = mapped_column(JSON)
    consent_kind: Mapped[str] = mapped_column(String(50))
    secret_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    key_id: Mapped[str] = mapped_column(String(32))
    fingerprint: Mapped[str] = mapped_column(String(32))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TrialAllocation(Base):
    """One randomised family. Append-only: database triggers reject UPDATE and DELETE."""

    __tablename__ = "trial_allocations"
    __table_args__ = (
        UniqueConstraint("study_id", "family_id", name="uq_trial_allocations_study_family"),
        UniqueConstraint("study_id", "sequence", name="uq_trial_allocations_study_sequence"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"), index=True)
    family_id: Mapped[int] = mapped_column(ForeignKey("families.id"), index=True)
    design_id: Mapped[int] = mapped_column(ForeignKey("trial_designs.id"))
    sequence: Mapped[int] = mapped_column(Integer)
    arm: Mapped[str] = mapped_column(String(100))
    stratum: Mapped[str] = mapped_column(Text)
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON)
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    algorithm: Mapped[str] = mapped_column(String(100))
    fingerprint: Mapped[str] = mapped_column(String(32))
    allocated_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    allocated_by_email: Mapped[str] = mapped_column(String(320))
    allocated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    audit_id: Mapped[int] = mapped_column(Integer)
