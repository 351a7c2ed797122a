"""The caseload's schedule kept as data: ``caseload_summary`` maintained by every write and
refreshed when the day reaches a family's ``changes_on`` (docs/caseload-queries.md).

A row holds a family's open alerts, overdue and due item counts and last assessment, exact
for every day from ``computed_on`` up to (not including) ``changes_on``, both day numbers
(``date.toordinal()``). It is recomputed from the records, by the caseload's SQL rule
(:func:`attunement.store.caseload.summary_rows`), never adjusted by increments:

* in the same transaction as every write: each audit row names the family it is about
  (``store/audit.py`` notes it in the session) and the write transaction recomputes those
  families' rows just before it commits (``Database.write``'s commit hooks);
* when time passes: a row with ``changes_on <= today`` (or computed for a later day than
  ``today``, if the clock was set back) is stale; the caseload refreshes the stale rows of
  the actor's scope before it reads (:func:`ensure_fresh`), and
  ``attunement platform refresh-caseload`` does it for every family (nightly; ``--full``
  rebuilds every row).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, Integer, bindparam, delete, func, insert, or_, select
from sqlalchemy.orm import Session

from attunement.store import audit, caseload
from attunement.store.db import Database
from attunement.store.models import CaseloadSummary, CaseloadTimePoint, Family, utcnow

CHUNK = 500  # at most this many family ids in one statement
_COLUMNS = ["family_id", "site_id", "study_id", "code", "created_by", "open_alerts",
            "n_overdue", "n_due", "last_assessed", "computed_on", "changes_on"]


def today() -> date:
    """Give the caseload's "today": the store clock's UTC day.

    Returns
    -------
    date
        Today in UTC, or the day :meth:`attunement.store.core.Core.at` set.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> with store.core.at(datetime(2026, 3, 1, 10, tzinfo=UTC)):
    ...     today()
    datetime.date(2026, 3, 1)
    """
    return utcnow().date()


def refresh(s: Session, family_ids: Iterable[int], day: date | None = None) -> int:
    """Recompute some families' caseload rows in the caller's transaction.

    A family that no longer exists loses its row.

    Parameters
    ----------
    s : Session
        The write transaction.
    family_ids : iterable of int
        The families.
    day : date, optional
        The day the counts are for (default: :func:`today`).

    Returns
    -------
    int
        How many distinct families were recomputed.

    Examples
    --------
    >>> with store.db.write() as s:
    ...     refresh(s, [family, family])
    1
    """
    ids = sorted(set(family_ids))
    if not ids:
        return 0
    day = day or today()
    s.flush()  # the ORM's pending changes are part of what the rule reads
    fill = _statements(caseload.schedule_key(s), s.get_bind().dialect.name, True)
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start:start + CHUNK]
        s.execute(delete(CaseloadSummary).where(CaseloadSummary.family_id.in_(chunk)))
        s.execute(delete(CaseloadTimePoint).where(CaseloadTimePoint.family_id.in_(chunk)))
        for stmt in fill:
            s.connection().execute(stmt, {"t": day.toordinal(), "ids": chunk})
    return len(ids)


@lru_cache(maxsize=32)
def _statements(key: tuple, dialect: str, by_ids: bool) -> tuple[Any, Any]:
    """The two INSERT ... SELECT statements that fill the rows, for the day number ``t`` and
    (``by_ids``) the family ids ``ids`` given when run; built once per schedule
    configuration (building them costs more than running them for one family)."""
    t = bindparam("t", type_=Integer)
    where = [Family.id.in_(bindparam("ids", expanding=True))] if by_ids else []
    return (
        insert(CaseloadSummary.__table__).from_select(
            _COLUMNS, caseload.summary_rows(key, dialect, t, where)),
        insert(CaseloadTimePoint.__table__).from_select(
            ["family_id", "time_point"], caseload.time_point_rows(key, dialect, t, where)),
    )


def refresh_written(s: Session) -> None:
    """Recompute, just before a write commits, the families its audit rows named.

    This is the hook every :meth:`attunement.store.db.Database.write` runs.

    Parameters
    ----------
    s : Session
        The write transaction about to commit.

    Examples
    --------
    >>> with store.db.write() as s:
    ...     s.info[audit.FAMILIES_WRITTEN] = {family}
    ...     refresh_written(s)
    ...     audit.FAMILIES_WRITTEN in s.info
    False
    """
    written = s.info.pop(audit.FAMILIES_WRITTEN, None)
    if written:
        refresh(s, written)


def stale(day: date) -> ColumnElement[bool]:
    """Build the condition picking the caseload rows whose counts may be wrong on a day.

    A row is exact from its ``computed_on`` day up to, not including, its ``changes_on``.

    Parameters
    ----------
    day : date
        The day of the read.

    Returns
    -------
    ColumnElement
        The condition, on ``caseload_summary``'s columns.

    Examples
    --------
    >>> from datetime import date
    >>> from attunement.store.models import CaseloadSummary
    >>> with store.db.read() as s:
    ...     s.execute(select(func.count()).where(stale(date(2000, 1, 1)))
    ...               .select_from(CaseloadSummary)).scalar()
    1
    """
    t = day.toordinal()
    return or_(CaseloadSummary.changes_on <= t, CaseloadSummary.computed_on > t)


def refresh_stale(s: Session, day: date, *, add_missing: bool = True) -> int:
    """Recompute the rows that are stale on a day.

    Parameters
    ----------
    s : Session
        The write transaction.
    day : date
        The day the counts are for.
    add_missing : bool, default True
        Also add rows for families that have none (written outside the store), as the
        nightly run does.

    Returns
    -------
    int
        How many families were recomputed.

    Examples
    --------
    >>> from datetime import date
    >>> with store.db.write() as s:
    ...     refresh_stale(s, date(2000, 1, 1))
    1
    """
    ids = list(s.execute(select(CaseloadSummary.family_id).where(stale(day))).scalars())
    if add_missing:
        ids += s.execute(select(Family.id).where(
            ~select(CaseloadSummary.family_id)
            .where(CaseloadSummary.family_id == Family.id)
            .exists()
        )).scalars().all()
    return refresh(s, ids, day)


def rebuild(s: Session, day: date | None = None) -> int:
    """Recompute every caseload row (``refresh-caseload --full``, migration 0520, bulk loads).

    Parameters
    ----------
    s : Session
        The write transaction.
    day : date, optional
        The day the counts are for (default: :func:`today`).

    Returns
    -------
    int
        The number of rows in the summary, after the rebuild.

    Examples
    --------
    >>> with store.db.write() as s:
    ...     rebuild(s)
    1
    """
    day = day or today()
    s.execute(delete(CaseloadSummary))
    s.execute(delete(CaseloadTimePoint))
    for stmt in _statements(caseload.schedule_key(s), s.get_bind().dialect.name, False):
        s.connection().execute(stmt, {"t": day.toordinal()})
    return int(s.execute(select(func.count()).select_from(CaseloadSummary)).scalar_one())


def ensure_fresh(db: Database, day: date) -> None:
    """Bring the caseload rows up to date for a day before the caseload is read.

    When nothing is stale (the usual case) this costs two index look-ups; otherwise one
    short write recomputes every stale row, of every site.

    Parameters
    ----------
    db : Database
        The store's database.
    day : date
        The day of the read.

    Examples
    --------
    >>> ensure_fresh(store.db, today())
    """
    t = day.toordinal()
    with db.read() as s:
        found = s.execute(select(CaseloadSummary.family_id).where(
            CaseloadSummary.changes_on <= t).limit(1)).first() or s.execute(
            select(CaseloadSummary.family_id).where(
                CaseloadSummary.computed_on > t).limit(1)).first()
    if found is None:
        return
    with db.write() as s:
        refresh_stale(s, day, add_missing=False)
