"""The caseload as one SQL query: per family its open alerts, due and overdue schedule items
and last assessment, ordered urgent first, then most overdue, then by family code, in keyset
pages.

The schedule rule is ``attunement.store.shared.schedule`` (the reference, still used for a
family's page and for the rows of one caseload page): a time point's window opens
``window_days`` before its target (anchor + ``offset_days``) and closes ``window_days`` after;
an item (current caregiver x instrument x time point with no assessment) is *due* while the
window is open and *overdue* once it has closed. In SQL the anchor is a day number: the due
date, plus the derived ``infants.birth_offset_days`` for time points anchored on the date of
birth; for an infant with a date of birth and no due date, ``infants.birth_anchor_on`` (see
``docs/caseload-queries.md``). A window that closed before ``families.registered_on`` is never
due nor overdue.
The time points' thresholds are computed here for "today", so the statement's text grows with
the number of time points x instruments configured, never with the number of families.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import (
    Integer,
    Select,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    literal_column,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from attunement.store.errors import StoreValidationError
from attunement.store.models import (
    Alert,
    Assessment,
    Caregiver,
    CaseloadCount,
    CaseloadSummary,
    CaseloadTimePoint,
    Family,
    Infant,
    TimePoint,
)
from attunement.store.scope import Actor, family_filter

DEFAULT_PAGE = 50
MAX_PAGE = 500


@dataclass(frozen=True)
class Filters:
    """What a team narrows its caseload to (all optional)."""

    mine: bool = False
    overdue: bool = False
    urgent: bool = False
    study_id: int | None = None
    time_point: str | None = None


def _day_number(column: Any, dialect: str) -> Any:
    """A DATE column as ``date.toordinal()`` (integer days), on either database."""
    if dialect == "sqlite":
        return cast(func.julianday(column) - 1721424, Integer)
    return (column - literal_column("DATE '0001-01-01'")) + 1


def schedule_key(s: Session) -> tuple:
    """Read every study's time points as plain values, the input of the caseload's statements.

    The statements are built once per schedule configuration (see
    :mod:`attunement.store.schedule_summary`), not once per query.

    Parameters
    ----------
    s : Session
        A database transaction.

    Returns
    -------
    tuple
        Per time point, in study and schedule order: ``(study_id, name, by_birth,
        offset_days, window_days, instruments)``.

    Examples
    --------
    >>> with store.db.read() as s:
    ...     [tp[1:] for tp in schedule_key(s)]
    [('baseline', False, -60, 30, ('epds',)), ('6w', False, 42, 14, ('epds', 'phq9'))]
    """
    return tuple(
        (tp.study_id, tp.name, tp.anchor == "birth_date", tp.offset_days, tp.window_days,
         tuple(tp.instruments))
        for tp in s.execute(
            select(TimePoint.study_id, TimePoint.name, TimePoint.anchor, TimePoint.offset_days,
                   TimePoint.window_days, TimePoint.instruments)
            .order_by(TimePoint.study_id, TimePoint.position)
        ).all()
    )


def _items(key: tuple) -> Any:
    """One row per (study, time point, instrument) with its days from the anchor: the window
    opens on day ``anchor + opens_after`` and the item is overdue from day
    ``anchor + overdue_after`` (the day after the window closes)."""
    parts = [
        select(
            literal(study_id).label("study_id"),
            literal(name).label("tp"),
            literal(1 if by_birth else 0).label("by_birth"),
            literal(instrument).label("instrument"),
            literal(offset - window).label("opens_after"),
            literal(offset + window + 1).label("overdue_after"),
        )
        for study_id, name, by_birth, offset, window, instruments in key
        for instrument in instruments
    ]
    return union_all(*parts).subquery("items") if parts else None


def _pending(items: Any, dialect: str, t: Any, name: str, where: list[Any],
             open_only: bool = True, by_time_point: bool = False) -> Any:
    """Per family: how many schedule items are overdue and how many due on ``today`` (open,
    not done), and ``changes_on``, the first later day on which either count changes (a
    window opens or an item becomes overdue; NULL if none). ``open_only``: leave out the
    items whose window has not opened (they count nowhere; ``changes_on`` needs them).
    ``by_time_point``: instead, one row per family and time point with an item due or
    overdue (``family_id``, ``time_point``). ``t``: the day number of "today" (a value or a
    bound parameter)."""
    # the due date, or the date of birth kept for infants without one
    due_day = _day_number(func.coalesce(Infant.due_date, Infant.birth_anchor_on), dialect)
    anchor = due_day + case(
        (items.c.by_birth == 1, func.coalesce(Infant.birth_offset_days, 0)), else_=0
    )
    opens = anchor + items.c.opens_after
    overdue_from = anchor + items.c.overdue_after
    done = exists().where(
        Assessment.caregiver_id == Caregiver.id,
        Assessment.instrument == items.c.instrument,
        Assessment.time_point == items.c.tp,
    )
    columns: list[Any] = [
        func.sum(case((overdue_from <= t, 1), else_=0)).label("n_overdue"),
        func.sum(case((and_(opens <= t, overdue_from > t), 1), else_=0)).label("n_due"),
        func.min(case((opens > t, opens), (overdue_from > t, overdue_from), else_=None))
        .label("changes_on"),
    ]
    groups: list[Any] = [Caregiver.family_id]
    if by_time_point:
        columns, groups = [items.c.tp.label("time_point")], [Caregiver.family_id, items.c.tp]
    stmt = (
        select(Caregiver.family_id.label("family_id"), *columns)
        .select_from(Family)
        .join(Infant, Infant.family_id == Family.id)
        .join(Caregiver, and_(Caregiver.family_id == Family.id, Caregiver.left_on.is_(None)))
        .join(items, items.c.study_id == Family.study_id)
        .where(*where, due_day.is_not(None))
        # a window that closed before the family was registered was never the service's
        .where(
            or_(
                Family.registered_on.is_(None),
                overdue_from > _day_number(Family.registered_on, dialect),
            )
        )
        .where(~done)
        .group_by(*groups)
    )
    if open_only or by_time_point:
        stmt = stmt.where(opens <= t)
    return stmt.subquery(name)


def _open_alerts() -> Any:
    return (
        select(func.count())
        .where(Alert.status == "open", Alert.family_id == Family.id)
        .scalar_subquery()
    )


def _last_assessed() -> Any:
    return select(func.max(Assessment.completed_on)).where(
        Assessment.family_id == Family.id
    ).scalar_subquery()


def summary_rows(key: tuple, dialect: str, t: Any, where: list[Any]) -> Select[Any]:
    """Build the query computing the ``caseload_summary`` rows of some families.

    Parameters
    ----------
    key : tuple
        The schedule (:func:`schedule_key`).
    dialect : str
        ``sqlite`` or ``postgresql``.
    t : int or bind parameter
        The day number (``date.toordinal()``) of "today".
    where : list
        Conditions on ``families`` choosing the families.

    Returns
    -------
    Select
        One row per family with the summary table's columns, in its order.

    Examples
    --------
    >>> from datetime import date
    >>> from attunement.store.models import Family
    >>> t = date(2026, 11, 1).toordinal()
    >>> with store.db.read() as s:
    ...     row = s.execute(summary_rows(schedule_key(s), "sqlite", t, [Family.id == family])).one()
    >>> row[3], row[5:8]
    ('N-001', (0, 1, 4))
    """
    items = _items(key)
    cols: list[Any] = [Family.id, Family.site_id, Family.study_id, Family.code,
                       Family.created_by, _open_alerts()]
    stmt: Any
    if items is not None:
        pending = _pending(items, dialect, t, "pending", where, open_only=False)
        cols += [func.coalesce(pending.c.n_overdue, 0), func.coalesce(pending.c.n_due, 0)]
        stmt = select(*cols, _last_assessed(), t, pending.c.changes_on)
        stmt = stmt.outerjoin(pending, pending.c.family_id == Family.id)
    else:
        stmt = select(*cols, literal(0), literal(0), _last_assessed(), t,
                      cast(literal(None), Integer))
    return stmt.where(*where)


def time_point_rows(key: tuple, dialect: str, t: Any, where: list[Any]) -> Select[Any]:
    """Build the query of the time points at which some families have an item due or overdue.

    Parameters
    ----------
    key : tuple
        Every study's time points, as :func:`schedule_key` reads them.
    dialect : str
        The database's dialect name.
    t : int or bind parameter
        Today as a day number.
    where : list
        Conditions on ``families`` choosing the families.

    Returns
    -------
    Select
        ``(family_id, time_point)`` rows, as ``caseload_time_points`` keeps them.

    Examples
    --------
    >>> from datetime import date
    >>> from attunement.store.models import Family
    >>> with store.db.read() as s:
    ...     stmt = time_point_rows(schedule_key(s), "sqlite", date(2026, 11, 1).toordinal(),
    ...                            [Family.id == family])
    ...     sorted(tp for _, tp in s.execute(stmt))
    ['6w', 'baseline']
    """
    items = _items(key)
    if items is None:
        return select(Family.id, literal("")).where(false())
    pending = _pending(items, dialect, t, "pending_tp", where, by_time_point=True)
    return select(pending.c.family_id, pending.c.time_point)


def page_rows(
    s: Session, actor: Actor, today: date, filters: Filters, search: Any = None,
    ids: list[int] | None = None,
) -> Select[Any]:
    """Build the query of a caseload's rows, read from the ``caseload_summary`` table.

    The summary must be fresh for ``today`` (:func:`attunement.store.schedule_summary.fresh_read`).

    Parameters
    ----------
    s : Session
        A database transaction.
    actor : Actor
        Whose caseload: only families in their scope are selected.
    today : date
        The day the list is for.
    filters : Filters
        ``mine``, ``overdue``, ``urgent``, ``study_id``, ``time_point``.
    search : clause, optional
        A condition on ``families`` (a search by family code).
    ids : list of int, optional
        The families a search by identifiers found (at most a page of them).

    Returns
    -------
    Select
        Columns ``id``, ``code``, ``site_id``, ``study_id``, ``open_alerts``, ``n_overdue``,
        ``n_due`` and ``last_assessed``, to page or to count.

    Examples
    --------
    >>> from datetime import date
    >>> with store.db.read() as s:
    ...     rows = s.execute(page_rows(s, practitioner, date.today(), Filters())).all()
    >>> [r.code for r in rows]
    ['N-001']
    """
    summary = CaseloadSummary
    where = [family_filter(actor, summary)]
    if filters.mine:
        where.append(summary.created_by == actor.user_id if actor.user_id else false())
    if filters.study_id is not None:
        where.append(summary.study_id == filters.study_id)
    if search is not None:
        where.append(summary.family_id.in_(select(Family.id).where(search)))
    if ids is not None:
        where.append(summary.family_id.in_(ids) if ids else false())
    if filters.time_point is not None:
        where.append(summary.family_id.in_(select(CaseloadTimePoint.family_id).where(
            CaseloadTimePoint.time_point == filters.time_point)))
    if filters.overdue:
        where.append(summary.n_overdue > 0)
    if filters.urgent:
        where.append(summary.open_alerts > 0)
    return select(
        summary.family_id.label("id"),
        summary.code.label("code"),
        summary.site_id.label("site_id"),
        summary.study_id.label("study_id"),
        summary.open_alerts.label("open_alerts"),
        summary.n_overdue.label("n_overdue"),
        summary.n_due.label("n_due"),
        summary.last_assessed.label("last_assessed"),
    ).where(*where)


def counts(s: Session, actor: Actor, filters: Filters, rows: Select[Any] | None = None
           ) -> dict[str, int]:
    """Count the families of a caseload list, and how many are urgent or overdue.

    A list narrowed by a search is counted over its rows; otherwise the counts are sums of
    the few ``caseload_counts`` rows of the actor's scope and filters, kept with the
    summary, so their cost does not grow with the number of families.

    Parameters
    ----------
    s : Session
        A read transaction in which the summary is fresh (``schedule_summary.fresh_read``).
    actor : Actor
        Who reads; the counts cover only the families they may see.
    filters : Filters
        The list's filters.
    rows : Select, optional
        A search's list (its :func:`page_rows`), counted over its rows.

    Returns
    -------
    dict
        ``families``, ``urgent`` (with an open alert) and ``overdue`` (with an item
        overdue), each an int.

    Examples
    --------
    >>> from datetime import date
    >>> from attunement.store.schedule_summary import fresh_read
    >>> with fresh_read(store.db, date.today()) as s:
    ...     counts(s, lead, Filters())
    {'families': 1, 'urgent': 0, 'overdue': 1}
    """
    if rows is not None:
        sub = rows.subquery()
        found = s.execute(select(
            func.count(), func.sum(case((sub.c.open_alerts > 0, 1), else_=0)),
            func.sum(case((sub.c.n_overdue > 0, 1), else_=0)))).one()
    else:
        found = s.execute(_kept_counts(actor, filters)).one()
    return {"families": int(found[0] or 0), "urgent": int(found[1] or 0),
            "overdue": int(found[2] or 0)}


def _kept_counts(actor: Actor, filters: Filters) -> Select[Any]:
    """The sums of ``caseload_counts`` for the actor's scope and these filters: families,
    urgent, overdue."""
    kept = CaseloadCount
    tp = filters.time_point
    # "" is the every-family key; no time point is named "" (a name is required)
    where = [family_filter(actor, kept), kept.time_point == ("" if tp is None else tp)]
    if tp == "":
        where.append(false())
    if filters.mine:
        where.append(kept.created_by == actor.user_id if actor.user_id else false())
    if filters.study_id is not None:
        where.append(kept.study_id == filters.study_id)
    if filters.overdue:
        where.append(kept.overdue.is_(True))
    if filters.urgent:
        where.append(kept.urgent.is_(True))
    return select(
        func.sum(kept.families),
        func.sum(case((kept.urgent.is_(True), kept.families), else_=0)),
        func.sum(case((kept.overdue.is_(True), kept.families), else_=0)),
    ).where(*where)


# keyset order: open alerts desc, overdue desc, code asc, id asc (researchers: no code)
def sort_key(row: Any, by_code: bool) -> list[Any]:
    """Give a caseload row's place in the list's order, as a page cursor records it.

    Parameters
    ----------
    row : Row
        A row of :func:`page_rows`.
    by_code : bool
        Whether the order uses the family code (researchers see none).

    Returns
    -------
    list
        ``[open_alerts, n_overdue, code, id]`` (code ``""`` when not by code).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> sort_key(SimpleNamespace(open_alerts=1, n_overdue=2, code="N-001", id=7), True)
    [1, 2, 'N-001', 7]
    """
    return [int(row.open_alerts), int(row.n_overdue), row.code if by_code else "", int(row.id)]


def keyset(sub: Any, key: list[Any], after: bool, by_code: bool) -> Any:
    """Build the condition selecting the rows after (or before) a cursor's row.

    The order is open alerts and overdue items descending, then family code and id.

    Parameters
    ----------
    sub : subquery
        The caseload's rows (:func:`page_rows` as a subquery).
    key : list
        The cursor's row (:func:`sort_key`).
    after : bool
        Rows after ``key`` (next page) or before it (previous page).
    by_code : bool
        Whether the order uses the family code.

    Returns
    -------
    clause
        A WHERE condition on ``sub``.

    Examples
    --------
    >>> from datetime import date
    >>> with store.db.read() as s:
    ...     sub = page_rows(s, lead, date.today(), Filters()).subquery()
    ...     later = keyset(sub, [0, 0, "N-001", family], True, True)
    ...     s.execute(select(sub.c.code).where(later)).all()
    []
    """
    a, o, code, fid = key
    code_col = sub.c.code if by_code else literal("")
    if after:
        return or_(
            sub.c.open_alerts < a,
            and_(sub.c.open_alerts == a, sub.c.n_overdue < o),
            and_(sub.c.open_alerts == a, sub.c.n_overdue == o, code_col > code),
            and_(sub.c.open_alerts == a, sub.c.n_overdue == o, code_col == code, sub.c.id > fid),
        )
    return or_(
        sub.c.open_alerts > a,
        and_(sub.c.open_alerts == a, sub.c.n_overdue > o),
        and_(sub.c.open_alerts == a, sub.c.n_overdue == o, code_col < code),
        and_(sub.c.open_alerts == a, sub.c.n_overdue == o, code_col == code, sub.c.id < fid),
    )


def order(sub: Any, forward: bool, by_code: bool) -> list[Any]:
    """Give the ORDER BY columns of a caseload page.

    Parameters
    ----------
    sub : subquery
        The caseload's rows.
    forward : bool
        The list's order (False: reversed, to read a previous page).
    by_code : bool
        Whether the order uses the family code.

    Returns
    -------
    list
        Column orderings for ``order_by``.

    Examples
    --------
    >>> from datetime import date
    >>> with store.db.read() as s:
    ...     sub = page_rows(s, lead, date.today(), Filters()).subquery()
    ...     s.execute(select(sub.c.code).order_by(*order(sub, True, True))).scalars().all()
    ['N-001']
    """
    cols = [sub.c.open_alerts.desc(), sub.c.n_overdue.desc()]
    if by_code:
        cols.append(sub.c.code.asc())
    cols.append(sub.c.id.asc())
    if forward:
        return cols
    flipped = [sub.c.open_alerts.asc(), sub.c.n_overdue.asc()]
    if by_code:
        flipped.append(sub.c.code.desc())
    flipped.append(sub.c.id.desc())
    return flipped


def encode_cursor(kind: str, direction: str, key: list[Any]) -> str:
    """Make an opaque page cursor: which list, which way, from which row.

    Parameters
    ----------
    kind : str
        The list (``caseload``, ``alerts``).
    direction : str
        ``after`` (next page) or ``before`` (previous page).
    key : list
        The row the page starts after or ends before (:func:`sort_key`).

    Returns
    -------
    str
        Base64url JSON without padding.

    Examples
    --------
    >>> cursor = encode_cursor("caseload", "after", [0, 1, "N-001", 7])
    >>> decode_cursor(cursor, "caseload", (int, int, str, int))
    (True, [0, 1, 'N-001', 7])
    """
    raw = json.dumps([kind, direction, key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, kind: str, shape: tuple[type, ...]) -> tuple[bool, list[Any]]:
    """Read a page cursor back, refusing one of another list or a forged shape.

    Parameters
    ----------
    cursor : str
        The cursor a previous page gave.
    kind : str
        The list it must belong to.
    shape : tuple of type
        The types of the key's values.

    Returns
    -------
    tuple of (bool, list)
        Whether rows come after the key (else before it), and the key.

    Raises
    ------
    StoreValidationError
        For anything that is not a cursor of this list.

    Examples
    --------
    >>> decode_cursor(encode_cursor("alerts", "after", [3]), "caseload", (int,))
    Traceback (most recent call last):
    ...
    attunement.store.errors.StoreValidationError: cursor: is not a cursor of this caseload list
    """
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        got_kind, direction, key = json.loads(raw)
        ok = (
            got_kind == kind
            and direction in ("after", "before")
            and isinstance(key, list)
            and len(key) == len(shape)
            and all(isinstance(k, t) and not isinstance(k, bool) for k, t in zip(key, shape,
                                                                               strict=True))
        )
    except (ValueError, TypeError):
        ok = False
    if not ok:
        raise StoreValidationError("cursor", f"is not a cursor of this {kind} list")
    return direction == "after", key


def page_size(limit: Any) -> int:
    """Check the size a caller asked for a page.

    Parameters
    ----------
    limit : int or None
        Rows per page (None: ``DEFAULT_PAGE``).

    Returns
    -------
    int
        The page size.

    Raises
    ------
    StoreValidationError
        Unless a whole number from 1 to ``MAX_PAGE``.

    Examples
    --------
    >>> page_size(None), page_size(20)
    (50, 20)
    """
    if limit is None:
        return DEFAULT_PAGE
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise StoreValidationError("limit", f"must be a whole number from 1 to {MAX_PAGE}")
    return limit
