"""Who may see and change what: the ONE place site scoping and role rules live.

Every read and write of family data in :class:`attunement.store.Store` goes through
:func:`family_filter` / :func:`scoped` / :func:`get_scoped`. Rules (default deny):

* ``admin`` and ``system``: everything;
* ``practitioner`` and ``site_lead``: families of the sites they are members of;
* ``researcher``: families enrolled in their studies, read-only, pseudonymised;
* anything else: nothing.

Records outside the actor's scope raise :class:`NotFound`, exactly as if they did not exist,
so a user cannot learn that another site's family exists (404, not 403).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, false, select, true
from sqlalchemy.orm import Session

from attunement.store.errors import Forbidden, NotFound
from attunement.store.models import Family

ROLES = ("admin", "practitioner", "site_lead", "researcher")
CLINICAL = frozenset({"admin", "system", "practitioner", "site_lead"})
GLOBAL = frozenset({"admin", "system"})

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


def family_filter(actor: Actor) -> ColumnElement[bool]:
    """The WHERE clause restricting ``families`` to the actor's scope."""
    if actor.role in GLOBAL:
        return true()
    if actor.role in ("practitioner", "site_lead"):
        return Family.site_id.in_(sorted(actor.site_ids)) if actor.site_ids else false()
    if actor.role == "researcher":
        return Family.study_id.in_(sorted(actor.study_ids)) if actor.study_ids else false()
    return false()


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


def require_write(actor: Actor) -> None:
    """Researchers are read-only; unknown roles may do nothing."""
    if actor.role not in CLINICAL:
        raise Forbidden(f"role {actor.role!r} may not change records")


def require_role(actor: Actor, *roles: str) -> None:
    if actor.role not in (*roles, "system"):
        raise Forbidden(f"role {actor.role!r} may not do this")
