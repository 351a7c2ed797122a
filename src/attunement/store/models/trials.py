"""Randomisation designs and allocations."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, ForeignKey, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from attunement.store.models.core import Base, FamilyRow, intpk, user_fk, written_at

__all__ = ["TrialAllocation", "TrialDesignRecord"]


class TrialDesignRecord(Base):
    """A study's randomisation design; the seed only as AES-GCM ciphertext."""

    __tablename__ = "trial_designs"
    id: Mapped[intpk]
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"), unique=True)
    method: Mapped[str] = mapped_column(String(20))
    design: Mapped[dict[str, Any]] = mapped_column(JSON)
    levels: Mapped[dict[str, Any]] = mapped_column(JSON)
    consent_kind: Mapped[str] = mapped_column(String(50))
    secret_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    key_id: Mapped[str] = mapped_column(String(32))
    fingerprint: Mapped[str] = mapped_column(String(32))
    created_by: Mapped[user_fk | None]
    created_at: Mapped[written_at]


class TrialAllocation(FamilyRow, Base):
    """One randomised family. Append-only: database triggers reject UPDATE and DELETE."""

    __tablename__ = "trial_allocations"
    __table_args__ = (
        UniqueConstraint("study_id", "family_id", name="uq_trial_allocations_study_family"),
        UniqueConstraint("study_id", "sequence", name="uq_trial_allocations_study_sequence"),
    )
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"), index=True)
    design_id: Mapped[int] = mapped_column(ForeignKey("trial_designs.id"))
    sequence: Mapped[int]
    arm: Mapped[str] = mapped_column(String(100))
    stratum: Mapped[str] = mapped_column(Text)
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON)
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    algorithm: Mapped[str] = mapped_column(String(100))
    fingerprint: Mapped[str] = mapped_column(String(32))
    allocated_by: Mapped[user_fk | None]
    allocated_by_email: Mapped[str] = mapped_column(String(320))
    allocated_at: Mapped[written_at]
    audit_id: Mapped[int]
