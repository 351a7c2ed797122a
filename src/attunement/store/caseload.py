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
from attunement.store.models import Alert, Assessment, Caregiver, Family, Infant, TimePoint
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


def day_number(column: Any, dialect: str) -> Any:
    """A DATE column as ``date.toordinal()`` (integer days), on either database."""
    if dialect == "sqlite":
        return cast(func.julianday(column) - 1721424, Integer)
    return (column - literal_column("DATE '0001-01-01'")) + 1


def _items(s: Session, today: date, time_point: str | None) -> Any:
    """One row per (study, time point, instrument) with today's thresholds on the anchor day:
    the window is open when ``anchor <= open_max`` and closed when ``anchor <= overdue_max``;
    it closes on day ``anchor + closes_after``."""
    stmt = select(TimePoint).order_by(TimePoint.study_id, TimePoint.position)
    if time_point is not None:
        stmt = stmt.where(TimePoint.name == time_point)
    t = today.toordinal()
    parts = [
        select(
            literal(tp.study_id).label("study_id"),
            literal(tp.name).label("tp"),
            literal(instrument).label("instrument"),
            literal(1 if tp.anchor == "birth_date" else 0).label("by_birth"),
            literal(t - tp.offset_days + tp.window_days).label("open_max"),
            literal(t - tp.offset_days - tp.window_days - 1).label("overdue_max"),
            literal(tp.offset_days + tp.window_days).label("closes_after"),
        )
        for tp in s.execute(stmt).scalars()
        for instrument in tp.instruments
    ]
    return union_all(*parts).subquery("items" if time_point is None else "items_at") if parts else None


def _pending(actor: Actor, items: Any, dialect: str, name: str, where: list[Any]) -> Any:
    """Per family: how many schedule items are overdue and how many due (open, not done)."""
    # the due date, or the date of birth kept for infants without one
    due_day = day_number(func.coalesce(Infant.due_date, Infant.birth_anchor_on), dialect)
    anchor = due_day + case(
        (items.c.by_birth == 1, func.coalesce(Infant.birth_offset_days, 0)), else_=0
    )
    done = exists().where(
        Assessment.caregiver_id == Caregiver.id,
        Assessment.instrument == items.c.instrument,
        Assessment.time_point == items.c.tp,
    )
    return (
        select(
            Caregiver.family_id.label("family_id"),
            func.sum(case((anchor <= items.c.overdue_max, 1), else_=0)).label("n_overdue"),
            func.sum(case((anchor > items.c.overdue_max, 1), else_=0)).label("n_due"),
        )
        .select_from(Family)
        .join(Infant, Infant.family_id == Family.id)
        .join(Caregiver, and_(Caregiver.family_id == Family.id, Caregiver.left_on.is_(None)))
        .join(items, items.c.study_id == Family.study_id)
        .where(*where, due_day.is_not(None), anchor <= items.c.open_max)
        # a window that closed before the family was registered was never the service's
        .where(
            or_(
                Family.registered_on.is_(None),
                anchor + items.c.closes_after >= day_number(Family.registered_on, dialect),
            )
        )
        .where(~done)
        .group_by(Caregiver.family_id)
        .subquery(name)
    )


def family_rows(
    s: Session, actor: Actor, today: date, filters: Filters, search: Any = None
) -> Select[Any]:
    """The caseload's per-family rows (a SELECT to wrap, page or count): ``id``, ``code``,
    ``site_id``, ``study_id``, ``n_caregivers``, ``open_alerts``, ``n_overdue``, ``n_due``,
    ``last_assessed``. ``search``: a WHERE clause on ``families`` (see ``Store``)."""
    dialect = s.get_bind().dialect.name
    # family-level conditions go into the schedule's aggregate too, so a search or a study
    # filter counts only the families it keeps
    where = [family_filter(actor)]
    if filters.mine:
        where.append(Family.created_by == actor.user_id if actor.user_id else false())
    if filters.study_id is not None:
        where.append(Family.study_id == filters.study_id)
    if search is not None:
        where.append(search)
    items = _items(s, today, None)
    if items is not None:
        pending = _pending(actor, items, dialect, "pending", where)
        n_overdue = func.coalesce(pending.c.n_overdue, 0)
        n_due = func.coalesce(pending.c.n_due, 0)
    else:
        pending, n_overdue, n_due = None, literal(0), literal(0)
    n_caregivers = (
        select(func.count())
        .where(Caregiver.family_id == Family.id, Caregiver.left_on.is_(None))
        .scalar_subquery()
    )
    open_alerts = (
        select(func.count())
        .where(Alert.status == "open", Alert.family_id == Family.id)
        .scalar_subquery()
    )
    last = select(func.max(Assessment.completed_on)).where(
        Assessment.family_id == Family.id
    ).scalar_subquery()
    stmt = select(
        Family.id.label("id"),
        Family.code.label("code"),
        Family.site_id.label("site_id"),
        Family.study_id.label("study_id"),
        n_caregivers.label("n_caregivers"),
        open_alerts.label("open_alerts"),
        n_overdue.label("n_overdue"),
        n_due.label("n_due"),
        last.label("last_assessed"),
    ).where(*where)
    if pending is not None:
        stmt = stmt.outerjoin(pending, pending.c.family_id == Family.id)
    if filters.time_point is not None:
        at = _items(s, today, filters.time_point)
        stmt = stmt.where(
            Family.id.in_(select(_pending(actor, at, dialect, "pending_at", where).c.family_id))
            if at is not None else false()
        )
    if filters.overdue:
        stmt = stmt.where(n_overdue > 0)
    if filters.urgent:
        stmt = stmt.where(open_alerts > 0)
    return stmt


# keyset order: open alerts desc, overdue desc, code asc, id asc (researchers: no code)
def sort_key(row: Any, by_code: bool) -> list[Any]:
    return [int(row.open_alerts), int(row.n_overdue), row.code if by_code else "", int(row.id)]


def keyset(sub: Any, key: list[Any], after: bool, by_code: bool) -> Any:
    """Rows strictly after (or before) ``key`` in the caseload order."""
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
    """An opaque page cursor (base64url JSON: what list, which way, from which row)."""
    raw = json.dumps([kind, direction, key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, kind: str, shape: tuple[type, ...]) -> tuple[bool, list[Any]]:
    """``(after, key)`` from a cursor of list ``kind``; a clear error for anything else."""
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
    if limit is None:
        return DEFAULT_PAGE
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
        raise StoreValidationError("limit", f"must be a whole number from 1 to {MAX_PAGE}")
    return limit
