"""Who may see and change what: the ONE place site scoping and role rules live.

Every read and write of family data in :class:`attunement.store.Store` goes through
:func:`family_filter` / :func:`scoped` / :func:`get_scoped`. Rules (default deny):

* ``admin`` and ``system``: everything;
* ``practitioner`` and ``site_lead``: families of the sites they are members of;
* ``researcher``: families enrolled in their studies, read-only, pseudonymised;
* anything else: nothing.

Allocation concealment (:func:`sees_allocation_sequence`): the roles that recruit and randomise
(practitioner, site lead) never see a trial's block sizes, block positions, other families'
allocations or the sequence; admins and researchers (the trial statisticians) do.

Records outside the actor's scope raise :class:`NotFound`, exactly as if they did not exist,
so a user cannot learn that another site's family exists (404, not 403).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, and_, bindparam, false, select, true
from sqlalchemy.orm import Session

from attunement.store.errors import Forbidden, NotFound
from attunement.store.models import Caregiver, Family

ROLES = ("admin", "practitioner", "site_lead", "researcher")
CLINICAL = frozenset({"admin", "system", "practitioner", "site_lead"})
GLOBAL = frozenset({"admin", "system"})
# who may see a trial's allocation sequence and design parameters (not the recruiters)
UNBLINDED = frozenset({"admin", "system", "researcher"})

T = TypeVar("T")


@dataclass(frozen=True)
class Actor:
    """Who is acting: a user (``user_id``) or the local operator (``system``, user_id None)."""

    user_id: int | None
    email: str
    role: str
    site_ids: frozenset[int]
    study_ids: frozenset[int]

    @property
    def is_global(self) -> bool:
        return self.role in GLOBAL

    @property
    def sees_identifiers(self) -> bool:
        """Only clinical roles ever receive decrypted identifiers."""
        return self.role in CLINICAL


def _scope_ids(actor: Actor) -> tuple[str, frozenset[int]] | None:
    """What the actor's families are keyed on: ``("all", …)``, ``("site_id", ids)``,
    ``("study_id", ids)``, or None for nothing at all (the rules above, in one place)."""
    if actor.role in GLOBAL:
        return "all", frozenset()
    if actor.role in ("practitioner", "site_lead"):
        return ("site_id", actor.site_ids) if actor.site_ids else None
    if actor.role == "researcher":
        return ("study_id", actor.study_ids) if actor.study_ids else None
    return None


def family_filter(actor: Actor) -> ColumnElement[bool]:
    """The WHERE clause restricting ``families`` to the actor's scope."""
    rule = _scope_ids(actor)
    if rule is None:
        return false()
    column, ids = rule
    if column == "all":
        return true()
    return getattr(Family, column).in_(sorted(ids))


def scoped(stmt: Select[Any], actor: Actor, model: Any = None) -> Select[Any]:
    """Restrict a SELECT to the actor's families (joining ``families`` through ``model``)."""
    if model is not None and model is not Family:
        stmt = stmt.join(Family, Family.id == model.family_id)
    return stmt.where(family_filter(actor))


def get_scoped(
    session: Session, actor: Actor, model: type[T], record_id: Any, *, what: str | None = None
) -> T:
    """Load one record by id if it is in scope, else raise NotFound."""
    try:
        record_id = int(record_id)
    except (TypeError, ValueError):
        raise NotFound(f"{what or model.__name__.lower()} {record_id!r} not found") from None
    key = model.id  # type: ignore[attr-defined]
    stmt = scoped(select(model), actor, model).where(key == record_id)
    found = session.execute(stmt).scalar_one_or_none()
    if found is None:
        raise NotFound(f"{what or model.__name__.lower()} {record_id} not found")
    return found


def get_scoped_row(session: Session, actor: Actor, family_id: Any) -> Any:
    """A family's ``id``, ``site_id``, ``study_id`` as a plain row if in scope, else NotFound
    (the submission hot path: no ORM object)."""
    try:
        family_id = int(family_id)
    except (TypeError, ValueError):
        raise NotFound(f"family {family_id!r} not found") from None
    stmt = scoped(select(Family.id, Family.site_id, Family.study_id), actor).where(
        Family.id == family_id
    )
    row = session.execute(stmt).first()
    if row is None:
        raise NotFound(f"family {family_id} not found")
    return row


# The submission hot path: family (in scope) and caregiver in ONE prebuilt Core statement per
# scope rule (compiled once; the actor's ids travel as an expanding parameter).
_FAM = Family.__table__.c
_CG = Caregiver.__table__.c


def _family_caregiver_stmt(column: str, by_key: bool) -> Select[Any]:
    cg_match = _CG.key == bindparam("cg_key") if by_key else _CG.id == bindparam("cg_id")
    stmt = select(
        _FAM.id, _FAM.site_id, _FAM.study_id,
        _CG.id.label("cg_id"), _CG.key, _CG.role, _CG.left_on, _CG.variants,
    ).select_from(
        Family.__table__.outerjoin(Caregiver.__table__,
                                   and_(_CG.family_id == _FAM.id, cg_match))
    ).where(_FAM.id == bindparam("family_id"))
    if column != "all":
        stmt = stmt.where(_FAM[column].in_(bindparam("scope_ids", expanding=True)))
    return stmt


_FAMILY_CAREGIVER = {
    (column, by_key): _family_caregiver_stmt(column, by_key)
    for column in ("all", "site_id", "study_id")
    for by_key in (True, False)
}


def get_scoped_family_caregiver(session: Session, actor: Actor, family_id: Any,
                                caregiver: int | str) -> Any:
    """One plain row: the family's ``id``, ``site_id``, ``study_id`` (NotFound if out of the
    actor's scope, exactly like :func:`get_scoped_row`) and its caregiver ``cg_id``, ``key``,
    ``role``, ``left_on``, ``variants`` (all None when the family has no such caregiver)."""
    try:
        family_id = int(family_id)
    except (TypeError, ValueError):
        raise NotFound(f"family {family_id!r} not found") from None
    rule = _scope_ids(actor)
    if rule is None:
        raise NotFound(f"family {family_id} not found")
    column, ids = rule
    by_key = not (isinstance(caregiver, int) and not isinstance(caregiver, bool))
    params: dict[str, Any] = {"family_id": family_id}
    if by_key:
        params["cg_key"] = str(caregiver)
    else:
        params["cg_id"] = caregiver
    if column != "all":
        params["scope_ids"] = sorted(ids)
    row = session.connection().execute(_FAMILY_CAREGIVER[column, by_key], params).first()
    if row is None:
        raise NotFound(f"family {family_id} not found")
    return row


def require_write(actor: Actor) -> None:
    """Researchers are read-only; unknown roles may do nothing."""
    if actor.role not in CLINICAL:
        raise Forbidden(f"role {actor.role!r} may not change records")


def require_role(actor: Actor, *roles: str) -> None:
    if actor.role not in (*roles, "system"):
        raise Forbidden(f"role {actor.role!r} may not do this")


def sees_allocation_sequence(actor: Actor) -> bool:
    """May the actor see a trial's block sizes, allocation list, sequence numbers, balance and
    per-arm counts? Never a recruiter: knowing them lets one predict the next allocation."""
    return actor.role in UNBLINDED


def require_allocation_sequence(actor: Actor) -> None:
    """Refuse (403) what would reveal other families' allocations to a recruiter."""
    if not sees_allocation_sequence(actor):
        raise Forbidden(
            f"role {actor.role!r} recruits to trials and may not see other allocations, the "
            "allocation sequence or the design's block sizes (allocation concealment)"
        )
