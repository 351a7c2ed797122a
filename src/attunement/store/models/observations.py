"""Observation sessions (coded recordings) and their measures."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from attunement.store.models.core import Base, FamilyRow, user_fk, written_at

__all__ = ["ObservationMeasures", "ObservationSession"]


class ObservationSession(FamilyRow, Base):
    """A coded recording of interaction uploaded for a family.

    The file and its metadata are encrypted (:mod:`attunement.store.files`); ``sha256`` and
    ``size`` stay in clear to identify the upload.
    """

    __tablename__ = "observation_sessions"
    filename: Mapped[str] = mapped_column(String(255))
    # the file, AES-GCM encrypted when key_id is set (see store.files); loaded on request
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int]
    # clear metadata only on rows written before encryption at rest (key_id NULL); else {}
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON)
    meta_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    key_id: Mapped[str | None] = mapped_column(String(32))
    uploaded_by: Mapped[user_fk | None]
    uploaded_at: Mapped[written_at]


class ObservationMeasures(Base):
    """The measures of one coded session, computed once at upload."""

    __tablename__ = "observation_measures"
    session_id: Mapped[int] = mapped_column(
        ForeignKey("observation_sessions.id"), primary_key=True
    )
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    n_events: Mapped[int]
    # encrypted like the file itself: session names and actor labels come from the file
    measures_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    algorithm: Mapped[str] = mapped_column(String(100))
    computed_at: Mapped[written_at]
