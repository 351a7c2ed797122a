"""Families, infants, caregivers and their encrypted identifiers."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from attunement.store.models.core import Base, FamilyRow, intpk, user_fk, utcnow, written_at

__all__ = ["Caregiver", "Family", "Identity", "IdentityLookup", "Infant"]


class Family(Base):
    """A family's clinical record at a site: its code, placement, context and study.

    Names and other identifiers are not here: they are encrypted in ``identities``.
    """

    __tablename__ = "families"
    # ix_families_code: a search by code (or its beginning) in any scope is an index range
    __table_args__ = (UniqueConstraint("site_id", "code"), Index("ix_families_code", "code"))
    id: Mapped[intpk]
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    study_id: Mapped[int | None] = mapped_column(ForeignKey("studies.id"), index=True)
    code: Mapped[str] = mapped_column(String(100))
    placement: Mapped[str] = mapped_column(String(30))
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    assessed_on: Mapped[date | None]
    created_by: Mapped[user_fk | None]
    created_at: Mapped[written_at]
    # the day the service took the family on: schedule windows that closed before it were
    # never the service's to collect (never due nor overdue; docs/clinical-safety.md)
    registered_on: Mapped[date | None] = mapped_column(
        Date, nullable=True, default=lambda: utcnow().date()
    )
    infants: Mapped[list[Infant]] = relationship(order_by="Infant.id")
    caregivers: Mapped[list[Caregiver]] = relationship(order_by="Caregiver.id")


class Infant(FamilyRow, Base):
    """The due date (the scheduling anchor) and gestation at birth are clinical data; the
    infant's date of birth, name and NHS number live encrypted in ``identities``."""

    __tablename__ = "infants"
    due_date: Mapped[date | None]
    gestation_weeks: Mapped[float | None]
    # derived, for the caseload's schedule in SQL: date of birth minus due date in days (both
    # known), i.e. the gestation at birth to the day -- the clear due date and gestation
    # already give it to within a week; the date of birth itself stays encrypted
    birth_offset_days: Mapped[int | None]
    # the schedule's anchor when there is no due date: the date of birth, in clear only for
    # such infants (NULL whenever a due date is known); docs/caseload-queries.md says why
    birth_anchor_on: Mapped[date | None]
    # filled in after decryption by the store (not a column)
    birth_date = None


class Caregiver(FamilyRow, Base):
    """A caregiver in a family: role, age, context and form variants, when they joined or left.

    ``key`` is the family file's id for them (``"mother"``).
    """

    __tablename__ = "caregivers"
    __table_args__ = (UniqueConstraint("family_id", "key"),)
    key: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(30))
    age: Mapped[int | None]
    first_time_parent: Mapped[bool | None] = mapped_column(Boolean)
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    variants: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    joined_on: Mapped[date | None]
    left_on: Mapped[date | None]
    left_reason: Mapped[str | None] = mapped_column(Text)
    # the language the caregiver's own pages are shown in (BCP 47); None: the service default
    page_language: Mapped[str | None] = mapped_column(String(35))
    interpreter_needed: Mapped[bool] = mapped_column(Boolean, default=False,
                                                     server_default=false())


class Identity(FamilyRow, Base):
    """The identity vault: one encrypted JSON document per person, nothing else in clear."""

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("subject_kind", "subject_id"),)
    subject_kind: Mapped[str] = mapped_column(String(20))
    subject_id: Mapped[int]
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    key_id: Mapped[str] = mapped_column(String(32))


class IdentityLookup(FamilyRow, Base):
    """Blind index of an identity row: keyed hashes of its normalised searchable values
    (see ``store/blind.py``), so a search is an indexed exact match, never a decrypting scan."""

    __tablename__ = "identity_lookups"
    __table_args__ = (
        Index("ix_identity_lookups_digest", "digest"),
        Index("ix_identity_lookups_subject", "subject_kind", "subject_id"),
    )
    subject_kind: Mapped[str] = mapped_column(String(20))
    subject_id: Mapped[int]
    field: Mapped[str] = mapped_column(String(20))
    digest: Mapped[str] = mapped_column(String(64))
