"""The caseload's schedule kept as data: one summary row per family, and the caseload's
counts per site, study, registering user, time point and state (docs/caseload-queries.md)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from attunement.store.models.core import Base

__all__ = ["CaseloadCount", "CaseloadSummary", "CaseloadTimePoint"]


class CaseloadSummary(Base):
    """Per family, what the caseload orders, filters and counts by, exact for every day from
    ``computed_on`` up to (not including) ``changes_on``; rewritten in the same transaction
    as every write that changes it, and refreshed when the day reaches ``changes_on``."""

    __tablename__ = "caseload_summary"
    __table_args__ = (
        Index("ix_caseload_summary_site_overdue", "site_id", "n_overdue"),
        Index("ix_caseload_summary_changes_on", "changes_on"),
        Index("ix_caseload_summary_computed_on", "computed_on"),
    )
    family_id: Mapped[int] = mapped_column(ForeignKey("families.id"), primary_key=True,
                                           autoincrement=False)
    site_id: Mapped[int] = mapped_column(Integer)
    study_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    code: Mapped[str] = mapped_column(String(100))
    # who registered the family (the "mine" filter), never changed after registration
    created_by: Mapped[int | None] = mapped_column(Integer, nullable=True)
    open_alerts: Mapped[int] = mapped_column(Integer)
    n_overdue: Mapped[int] = mapped_column(Integer)
    n_due: Mapped[int] = mapped_column(Integer)
    last_assessed: Mapped[date | None] = mapped_column(Date, nullable=True)
    # the day these counts were computed for, and the first later day on which they change
    # (a window opens or closes; NULL: never, until a write); day numbers (date.toordinal)
    computed_on: Mapped[int] = mapped_column(Integer)
    changes_on: Mapped[int | None] = mapped_column(Integer, nullable=True)


class CaseloadTimePoint(Base):
    """The time points at which a family has an item due or overdue (the caseload's
    ``time_point`` filter), kept exactly like its ``caseload_summary`` row: they change only
    on the days its counts change."""

    __tablename__ = "caseload_time_points"
    __table_args__ = (
        Index("ix_caseload_time_points_time_point", "time_point", "family_id"),
    )
    family_id: Mapped[int] = mapped_column(ForeignKey("families.id"), primary_key=True,
                                           autoincrement=False)
    time_point: Mapped[str] = mapped_column(String(100), primary_key=True)


_S = CaseloadSummary.__table__.c
# the caseload's order (open alerts desc, overdue desc, code, id) within a site, within a
# study (researchers: no code) and over every site, so a page is an index range
Index("ix_caseload_summary_site_order", _S.site_id, _S.open_alerts.desc(), _S.n_overdue.desc(),
      _S.code, _S.family_id)
Index("ix_caseload_summary_study_order", _S.study_id, _S.open_alerts.desc(),
      _S.n_overdue.desc(), _S.family_id)
Index("ix_caseload_summary_order", _S.open_alerts.desc(), _S.n_overdue.desc(), _S.code,
      _S.family_id)
Index("ix_caseload_summary_mine", _S.created_by, _S.open_alerts.desc(), _S.n_overdue.desc(),
      _S.code, _S.family_id)


class CaseloadCount(Base):
    """How many families of ``caseload_summary`` share a key: site, study (0: none),
    registering user (0: none), time point (``""``: every family; else the families with an
    item due or overdue there, as ``caseload_time_points``) and state (``urgent``: an open
    alert; ``overdue``: an item overdue). The caseload's counts are sums of a few of these
    rows instead of counts over every family of a site. Changed by the same refresh as the
    summary rows, in the same transaction, by the difference between a family's old and new
    rows (``schedule_summary``); equal to the aggregate of the summary at every commit."""

    __tablename__ = "caseload_counts"
    __table_args__ = (Index("ix_caseload_counts_study_id", "study_id"),)  # researchers' scope
    site_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    study_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    created_by: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    time_point: Mapped[str] = mapped_column(String(100), primary_key=True)
    urgent: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    overdue: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    families: Mapped[int] = mapped_column(Integer)
