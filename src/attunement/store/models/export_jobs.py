"""Background export jobs: a large export requested now, written by a worker, downloaded later."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from attunement.store.models.core import Base, UTCDateTime, utcnow

__all__ = ["ExportJob"]


class ExportJob(Base):
    """One requested export: who asked for what, how far it got, where its file is."""

    __tablename__ = "export_jobs"
    __table_args__ = (Index("ix_export_jobs_status_created_at", "status", "created_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    requested_by: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    format: Mapped[str] = mapped_column(String(10))
    study_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    pseudonymised: Mapped[bool] = mapped_column(Boolean)
    # queued -> running -> done | failed; done -> expired when its file is deleted
    status: Mapped[str] = mapped_column(String(10))
    rows_done: Mapped[int] = mapped_column(Integer, default=0)
    rows_total: Mapped[int | None] = mapped_column(Integer, nullable=True)
    bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    file_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    claimed_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
