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

``caseload_counts`` holds the caseload's counts as data (families per site, study,
registering user, time point and state): each refresh changes them by the difference between
the families' rows before and after, in the same transaction, so they equal the aggregate of
the summary whenever a transaction commits; the nightly run and ``--full`` recount them
from the summary (:func:`recount`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    bindparam,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from attunement.store import audit, caseload
from attunement.store.db import Database
from attunement.store.models import (
    CaseloadCount,
    CaseloadSummary,
    CaseloadTimePoint,
    Family,
    utcnow,
)

CHUNK = 500  # at most this many family ids in one statement
# the tables a caseload page reads (their statistics are refreshed after a full rebuild)
READ_BY_A_PAGE = ("caseload_summary", "caseload_time_points", "caseload_counts", "families",
                  "infants", "caregivers", "identities", "identity_lookups", "assessments",
                  "alerts")
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

    A family that no longer exists loses its row; the kept counts
    (``caseload_counts``) change by the difference.

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
    dialect = s.get_bind().dialect.name
    fill = _statements(caseload.schedule_key(s), dialect, True)
    conn = s.connection()
    change: Counter[tuple] = Counter()
    for start in range(0, len(ids), CHUNK):
        params = {"t": day.toordinal(), "ids": ids[start:start + CHUNK]}
        # the rows before and after, as the statements return them: what the counts lose
        # and gain (no other statement)
        change.subtract(_tally(*(conn.execute(stmt, params).all() for stmt in _drop())))
        change.update(_tally(*(conn.execute(stmt, params).all() for stmt in fill)))
    _add_counts(s, dialect, change)
    return len(ids)


_KEY = ["site_id", "study_id", "created_by", "time_point", "urgent", "overdue"]
# what a summary row contributes to the counts (the statements below return these columns)
_SHARE = ["family_id", "site_id", "study_id", "created_by", "open_alerts", "n_overdue"]


@lru_cache(maxsize=1)
def _drop() -> tuple[Any, Any]:
    """The two DELETEs of the families ``ids``' rows, returning what they counted for."""
    ids = bindparam("ids", expanding=True)
    summary, tps = CaseloadSummary.__table__, CaseloadTimePoint.__table__
    return (delete(summary).where(summary.c.family_id.in_(ids))
            .returning(*(summary.c[c] for c in _SHARE)),
            delete(tps).where(tps.c.family_id.in_(ids))
            .returning(tps.c.family_id, tps.c.time_point))


def _tally(rows: list[Any], time_points: list[Any]) -> Counter[tuple]:
    """How many families each ``caseload_counts`` key counts among these summary rows
    (``_SHARE`` columns) and their time points: each family once with time point ``""``
    and once per time point."""
    heads = {fid: (site, study or 0, user or 0) for fid, site, study, user, _, _ in rows}
    states = {r[0]: (r[4] > 0, r[5] > 0) for r in rows}
    found: Counter[tuple] = Counter((*heads[fid], "", *states[fid]) for fid in heads)
    found.update((*heads[fid], tp, *states[fid]) for fid, tp in time_points if fid in heads)
    return found


@lru_cache(maxsize=1)
def _shares() -> Any:
    """Per ``caseload_counts`` key, how many of the summary's families it counts, in SQL
    (:func:`recount`; the same sums as :func:`_tally`)."""
    summary, tps = CaseloadSummary, CaseloadTimePoint
    head = [summary.site_id, func.coalesce(summary.study_id, 0),
            func.coalesce(summary.created_by, 0)]
    state = [summary.open_alerts > 0, summary.n_overdue > 0]
    every = select(*head, literal("").label("time_point"), *state)
    per_tp = select(*head, tps.time_point, *state).join_from(
        summary, tps, tps.family_id == summary.family_id)
    rows = union_all(every, per_tp).subquery("shares")
    cols = [rows.c[i] for i in range(6)]
    return select(*cols, func.count()).group_by(*cols)


def _add_counts(s: Session, dialect: str, change: Counter[tuple]) -> None:
    """Add each key's change to ``caseload_counts`` (a row made for a new key; a row that
    falls to 0 is kept until the next recount)."""
    rows = [dict(zip(_KEY, key, strict=True), families=n) for key, n in change.items() if n]
    if not rows:
        return
    table = CaseloadCount.__table__
    stmt = (pg_insert if dialect == "postgresql" else sqlite_insert)(table)
    s.execute(stmt.on_conflict_do_update(
        index_elements=_KEY, set_={"families": table.c.families + stmt.excluded.families}),
        rows)


def recount(s: Session) -> int:
    """Count every ``caseload_counts`` row again from the summary rows.

    Run after a rebuild of the summary and by the nightly refresh, where it also repairs
    counts that lost rows outside the store.

    Parameters
    ----------
    s : Session
        A write transaction; the counts are replaced in it.

    Returns
    -------
    int
        How many count rows there are now: one per site, study, creator, time point (or
        every family) and urgent/overdue state that counts at least one family.

    Examples
    --------
    >>> with store.db.write() as s:
    ...     recount(s)
    3
    """
    s.execute(delete(CaseloadCount))
    s.execute(insert(CaseloadCount).from_select([*_KEY, "families"], _shares()))
    return int(s.execute(select(func.count()).select_from(CaseloadCount)).scalar_one())


@lru_cache(maxsize=32)
def _statements(key: tuple, dialect: str, by_ids: bool) -> tuple[Any, Any]:
    """The two INSERT ... SELECT statements that fill the rows, for the day number ``t`` and
    (``by_ids``) the family ids ``ids`` given when run, then returning what the rows count
    for; built once per schedule configuration (building them costs more than running them
    for one family)."""
    t = bindparam("t", type_=Integer)
    where = [Family.id.in_(bindparam("ids", expanding=True))] if by_ids else []
    summary, tps = CaseloadSummary.__table__, CaseloadTimePoint.__table__
    rows = insert(summary).from_select(_COLUMNS, caseload.summary_rows(key, dialect, t, where))
    points = insert(tps).from_select(["family_id", "time_point"],
                                     caseload.time_point_rows(key, dialect, t, where))
    if by_ids:  # what the new rows count for (``refresh``)
        rows = rows.returning(*(summary.c[c] for c in _SHARE))
        points = points.returning(tps.c.family_id, tps.c.time_point)
    return rows, points


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
    done = refresh(s, ids, day)
    if add_missing:
        recount(s)
    return done


def rebuild(s: Session, day: date | None = None) -> int:
    """Recompute every caseload row (``refresh-caseload --full``, migration 0520, bulk loads).

    The counts are left to the caller (:func:`recount`): migration 0520 runs before their
    table exists.

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


def _stale_exists(s: Session, day: date) -> bool:
    """Whether any row is stale on ``day``: one statement reading the first ``changes_on``
    and the last ``computed_on``, an end of each index. The day is compared here, not in
    the statement: a prepared statement's generic plan for ``changes_on <= :t`` may scan
    the whole table for a row that is not there (13 ms at 100,000 families on PostgreSQL)."""
    first_change, last_computed = s.execute(select(
        select(func.min(CaseloadSummary.changes_on)).scalar_subquery(),
        select(func.max(CaseloadSummary.computed_on)).scalar_subquery(),
    )).one()
    t = day.toordinal()
    return ((first_change is not None and first_change <= t)
            or (last_computed is not None and last_computed > t))


def ensure_fresh(db: Database, day: date) -> None:
    """Bring the caseload rows up to date for a day (:func:`fresh_read`, which a caseload read
    uses, does it in the read's own snapshot).

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
    with fresh_read(db, day):
        pass


@contextmanager
def fresh_read(db: Database, day: date) -> Iterator[Session]:
    """Open a read transaction in which every summary row holds for ``day``.

    The transaction is one snapshot, so a page and its counts read in it agree. Its first
    statement looks for a stale row (the usual answer: none); if there is one, a short
    write recomputes every stale row first (of every site: a stale row outside the
    reader's scope would otherwise send each read to the writers' lock), the families
    whose counts change that day, and the read starts again.

    Parameters
    ----------
    db : Database
        The store's database.
    day : date
        The caseload's "today" (:func:`today`).

    Yields
    ------
    Session
        The read session.

    Examples
    --------
    >>> from attunement.store import caseload
    >>> with fresh_read(store.db, today()) as s:
    ...     rows = s.execute(caseload.page_rows(s, lead, today(), caseload.Filters())).all()
    >>> [(r.code, r.n_overdue) for r in rows]
    [('N-001', 5)]
    """
    with db.read(snapshot=True) as s:
        if not _stale_exists(s, day):
            yield s
            return
    with db.write() as s:
        refresh_stale(s, day, add_missing=False)
    with db.read(snapshot=True) as s:
        yield s
