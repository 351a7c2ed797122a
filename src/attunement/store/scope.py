"""Site scoping as SQL: the ONE place the store turns the access rules into row filters.

Every read and write of family data in the store's services goes through
:func:`family_filter` / :func:`scoped` / :func:`get_scoped`. The rules themselves (who sees
which families, who may change records, allocation concealment) are :mod:`attunement.policy`'s;
this module only asks it (:func:`attunement.policy.family_scope`, ``allows``, ``require``).

Records outside the actor's scope raise :class:`NotFound`, exactly as if they did not exist,
so a user cannot learn that another site's family exists (404, not 403).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, and_, bindparam, false, select, true
from sqlalchemy.orm import Session

from attunement import policy
from attunement.policy import CLINICAL, GLOBAL, ROLES, UNBLINDED, Action
from attunement.store.errors import NotFound
from attunement.store.models import Caregiver, Family

__all__ = ["CLINICAL", "GLOBAL", "ROLES", "UNBLINDED", "Actor", "family_filter", "get_scoped",
           "get_scoped_family_caregiver", "get_scoped_row", "require_allocation_sequence",
           "require_write", "scoped", "sees_allocation_sequence"]

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
        """Acts on every site and study (:data:`attunement.policy.Action.ANY_SITE`)."""
        return policy.allows(self, Action.ANY_SITE)

    @property
    def sees_identifiers(self) -> bool:
        """Only clinical roles ever receive decrypted identifiers."""
        return policy.allows(self, Action.SEE_IDENTIFIERS)


_scope_ids = policy.family_scope


def family_filter(actor: Actor, model: Any = Family) -> ColumnElement[bool]:
    """Build the condition restricting family rows to an actor's scope.

    Parameters
    ----------
    actor : Actor
        Who reads: their sites, or their studies for a researcher, or everything.
    model : table or model, optional
        What to filter (default ``Family``): anything with the family's ``site_id`` and
        ``study_id`` columns.

    Returns
    -------
    ColumnElement
        A WHERE condition (false for an actor with no scope).

    Examples
    --------
    >>> from sqlalchemy import select
    >>> with store.db.read() as s:
    ...     s.execute(select(Family.code).where(family_filter(practitioner))).scalars().all()
    ['N-001']
    """
    rule = _scope_ids(actor)
    if rule is None:
        return false()
    column, ids = rule
    if column == "all":
        return true()
    return getattr(model, column).in_(sorted(ids))


def scoped(stmt: Select[Any], actor: Actor, model: Any = None) -> Select[Any]:
    """Restrict a SELECT to an actor's families.

    Parameters
    ----------
    stmt : Select
        The query.
    actor : Actor
        Who reads.
    model : model, optional
        The queried model, when not ``Family``: it is joined to its family.

    Returns
    -------
    Select
        The restricted query.

    Examples
    --------
    >>> from sqlalchemy import select
    >>> with store.db.read() as s:
    ...     sorted(s.execute(scoped(select(Caregiver.key), lead, Caregiver)).scalars())
    ['father', 'mother']
    """
    if model is not None and model is not Family:
        stmt = stmt.join(Family, Family.id == model.family_id)
    return stmt.where(family_filter(actor))


def get_scoped(
    session: Session, actor: Actor, model: type[T], record_id: Any, *, what: str | None = None
) -> T:
    """Load one record by id if it belongs to a family in the actor's scope.

    Parameters
    ----------
    session : Session
        A database transaction.
    actor : Actor
        Who reads.
    model : type
        The record's model (``Family`` or one with ``family_id``).
    record_id : object
        The id (anything ``int()`` reads).
    what : str, optional
        What to call the record in the error.

    Returns
    -------
    object
        The record.

    Raises
    ------
    NotFound
        When there is no such record or it is out of scope (the two look the same).

    Examples
    --------
    >>> with store.db.read() as s:
    ...     get_scoped(s, lead, Family, family).code
    'N-001'
    """
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
    """Read a family's ``id``, ``site_id`` and ``study_id`` as a plain row if it is in scope.

    The submission path's look-up: no ORM object is built.

    Parameters
    ----------
    session : Session
        An open transaction (read or write).
    actor : Actor
        Whose scope applies.
    family_id : object
        The family's id.

    Returns
    -------
    Row
        ``(id, site_id, study_id)``.

    Raises
    ------
    NotFound
        When the family is missing, or outside the actor's scope.

    Examples
    --------
    >>> with store.db.read() as s:
    ...     get_scoped_row(s, practitioner, family).site_id == site
    True
    """
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
    """Read a family in scope and one of its caregivers in a single prebuilt statement.

    Parameters
    ----------
    session : Session
        A database transaction.
    actor : Actor
        Who acts.
    family_id : object
        The family's id.
    caregiver : int or str
        The caregiver's database id, or its family-file id (``"mother"``).

    Returns
    -------
    Row
        The family's ``id``, ``site_id``, ``study_id`` and the caregiver's ``cg_id``,
        ``key``, ``role``, ``left_on``, ``variants`` (all None when there is no such
        caregiver).

    Raises
    ------
    NotFound
        For a family that is missing or outside the actor's scope (an unknown caregiver
        is not an error: its columns are None).

    Examples
    --------
    >>> with store.db.read() as s:
    ...     row = get_scoped_family_caregiver(s, practitioner, family, "mother")
    >>> row.key, row.role
    ('mother', 'birth_mother')
    """
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
    """Refuse an actor who may not change records (researchers, unknown roles).

    Parameters
    ----------
    actor : Actor
        Who wants to change a record.

    Raises
    ------
    Forbidden
        For a read-only role.

    Examples
    --------
    >>> require_write(practitioner)
    >>> require_write(researcher)
    Traceback (most recent call last):
    ...
    attunement.store.errors.Forbidden: ...
    """
    policy.require(actor, Action.EDIT_FAMILY)


def sees_allocation_sequence(actor: Actor) -> bool:
    """Tell whether an actor may see what predicts a trial's next allocation.

    Block sizes, the allocation list, sequence numbers, balance and per-arm counts are never
    shown to a recruiter.

    Parameters
    ----------
    actor : Actor
        Who asks.

    Returns
    -------
    bool
        True for the roles the policy allows ``SEE_ALLOCATION_SEQUENCE``.

    Examples
    --------
    >>> sees_allocation_sequence(practitioner), sees_allocation_sequence(admin)
    (False, True)
    """
    return policy.allows(actor, Action.SEE_ALLOCATION_SEQUENCE)


def require_allocation_sequence(actor: Actor) -> None:
    """Refuse what would reveal other families' allocations to a recruiter.

    Parameters
    ----------
    actor : Actor
        Who asks to see another family's allocation, or the trial's balance.

    Raises
    ------
    Forbidden
        Unless the role may see the allocation sequence (concealed from those who
        enrol families, so that the next arm cannot be foreseen).

    Examples
    --------
    >>> require_allocation_sequence(admin)
    """
    policy.require(actor, Action.SEE_ALLOCATION_SEQUENCE)
