"""Who may do what: the one place the platform's access rules are written.

The store asks :func:`allows` / :func:`require` before it reads or writes; its SQL row filter
(:mod:`attunement.store.scope`) asks :func:`family_scope`. Pages and templates ask
:func:`allows` too. Nothing else tests a role. The rules (default deny):

* ``admin`` and ``system`` (the local operator running the CLI): everything, every site;
* ``practitioner`` and ``site_lead``: the families of the sites they are members of, read and
  write, identifiers included; a site lead also manages the practitioners and site leads whose
  every site is one of theirs, and reads the audit rows of their sites;
* ``researcher``: the families enrolled in their studies, read-only and pseudonymised; sees a
  trial's allocation sequence (the trial statistician), never identifiers;
* any other role: nothing.

Allocation concealment: the roles that recruit and randomise (practitioner, site lead) never
see a trial's block sizes, other families' allocations or the sequence.

A record of another site (or study) is refused as if it did not exist (``NotFound``, 404),
so nobody learns that it exists; a role that may not do the action at all gets ``Forbidden``
(403).

Examples
--------
>>> from types import SimpleNamespace
>>> nurse = SimpleNamespace(role="practitioner", site_ids=frozenset({1}), study_ids=frozenset())
>>> allows(nurse, Action.EDIT_FAMILY, Target(site_ids=frozenset({1})))
True
>>> allows(nurse, Action.EDIT_FAMILY, Target(site_ids=frozenset({2})))
False
>>> allows(nurse, Action.TRANSFER_FAMILY)
False

This module is domain-free: no database, no web framework.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Protocol

ADMIN = "admin"
SITE_LEAD = "site_lead"
PRACTITIONER = "practitioner"
RESEARCHER = "researcher"
SYSTEM = "system"
# the roles a user account can have (``system`` is the local operator, never an account)
ROLES = (ADMIN, PRACTITIONER, SITE_LEAD, RESEARCHER)
# roles that act on every site and study, without a site scope
GLOBAL = frozenset({ADMIN, SYSTEM})
# roles that give care: they change records and see identifiers (in their scope)
CLINICAL = frozenset({ADMIN, SYSTEM, PRACTITIONER, SITE_LEAD})
# roles scoped to the sites they are members of
SITE_ROLES = frozenset({PRACTITIONER, SITE_LEAD})
# who may see a trial's allocation sequence and design parameters (not the recruiters)
UNBLINDED = frozenset({ADMIN, SYSTEM, RESEARCHER})
# roles a site lead may give and manage
LEAD_MANAGES = frozenset({PRACTITIONER, SITE_LEAD})


class Action(Enum):
    """A named thing an actor may or may not do (see :data:`RULES`)."""

    READ_FAMILY = "read_family"
    EDIT_FAMILY = "edit_family"
    SEE_IDENTIFIERS = "see_identifiers"
    READ_CLINICAL = "read_clinical"
    OPEN_RECORDING = "open_recording"
    ACKNOWLEDGE_ALERT = "acknowledge_alert"
    TRANSFER_FAMILY = "transfer_family"
    ANY_SITE = "any_site"
    MANAGE_SITE = "manage_site"
    ADD_STUDY = "add_study"
    MANAGE_USER = "manage_user"
    GRANT_ROLE = "grant_role"
    SEE_ALL_USERS = "see_all_users"
    NAME_EXISTING_ACCOUNT = "name_existing_account"
    SET_OTHERS_PASSWORD = "set_others_password"
    REVOKE_OTHERS_TOKEN = "revoke_others_token"
    DESIGN_TRIAL = "design_trial"
    REVEAL_TRIAL_SECRET = "reveal_trial_secret"
    VERIFY_ALLOCATIONS = "verify_allocations"
    RANDOMISE = "randomise"
    SEE_ALLOCATION_SEQUENCE = "see_allocation_sequence"
    EXPORT_IDENTIFIED = "export_identified"
    READ_AUDIT = "read_audit"


@dataclass(frozen=True)
class Rule:
    """Who may do an action: ``roles``, and how a target narrows it (``scope``).

    ``scope``: ``"none"`` (the target does not matter), ``"family"`` (a site role by the
    record's site, a researcher by its study), ``"site"`` (a site role by the record's site),
    ``"user"`` (a site lead: accounts sharing a site with them; allowed for accounts of roles
    it manages whose every site is one of theirs) or ``"role"`` (a site lead: only the roles
    it manages).
    """

    roles: frozenset[str]
    scope: str = "none"
    refusal: str = "may not do this"


RULES: dict[Action, Rule] = {
    Action.READ_FAMILY: Rule(CLINICAL | {RESEARCHER}, "family"),
    Action.EDIT_FAMILY: Rule(CLINICAL, "family", "may not change records"),
    Action.SEE_IDENTIFIERS: Rule(CLINICAL, "family"),
    Action.READ_CLINICAL: Rule(CLINICAL, "family"),
    Action.OPEN_RECORDING: Rule(CLINICAL, "family"),
    Action.ACKNOWLEDGE_ALERT: Rule(CLINICAL, "family", "may not change records"),
    Action.TRANSFER_FAMILY: Rule(GLOBAL),
    Action.ANY_SITE: Rule(GLOBAL),
    Action.MANAGE_SITE: Rule(GLOBAL),
    Action.ADD_STUDY: Rule(GLOBAL),
    Action.MANAGE_USER: Rule(GLOBAL | {SITE_LEAD}, "user"),
    Action.GRANT_ROLE: Rule(GLOBAL | {SITE_LEAD}, "role"),
    Action.SEE_ALL_USERS: Rule(GLOBAL),
    # told which existing account a new e-mail clashes with (as the store has always done)
    Action.NAME_EXISTING_ACCOUNT: Rule(frozenset({ADMIN})),
    Action.SET_OTHERS_PASSWORD: Rule(GLOBAL),
    Action.REVOKE_OTHERS_TOKEN: Rule(GLOBAL),
    Action.DESIGN_TRIAL: Rule(GLOBAL),
    Action.REVEAL_TRIAL_SECRET: Rule(GLOBAL),
    Action.VERIFY_ALLOCATIONS: Rule(GLOBAL),
    Action.RANDOMISE: Rule(GLOBAL | SITE_ROLES, "site"),
    Action.SEE_ALLOCATION_SEQUENCE: Rule(
        UNBLINDED, refusal="recruits to trials and may not see other allocations, the "
        "allocation sequence or the design's block sizes (allocation concealment)"),
    Action.EXPORT_IDENTIFIED: Rule(CLINICAL),
    Action.READ_AUDIT: Rule(GLOBAL | {SITE_LEAD}, "site"),
}


class Subject(Protocol):
    """Who acts (the store's ``Actor`` has these)."""

    role: str
    site_ids: frozenset[int]
    study_ids: frozenset[int]


@dataclass(frozen=True)
class Target:
    """What the action is done to, as far as the rules care.

    Parameters
    ----------
    site_ids : frozenset of int
        The record's site(s) (a family's site; a user's sites).
    study_ids : frozenset of int
        The record's study (a family's study).
    role : str, optional
        For an account: its role (``MANAGE_USER``).
    what : str
        How a refusal names the record (``"family 12"``).
    """

    site_ids: frozenset[int] = frozenset()
    study_ids: frozenset[int] = frozenset()
    role: str | None = None
    what: str = "record"


def _in_scope(actor: Subject, rule: Rule, target: Target) -> bool:
    """Whether ``target`` lies in the actor's own sites/studies as ``rule`` reads them
    (outside: "not found")."""
    if actor.role in GLOBAL or rule.scope in ("none", "role"):
        return True
    if rule.scope == "family" and actor.role == RESEARCHER:
        return bool(target.study_ids & actor.study_ids)
    return bool(target.site_ids & actor.site_ids)


def _fits(actor: Subject, rule: Rule, target: Target) -> bool:
    """Within scope, whether the target is one this role may act on (else "forbidden")."""
    if actor.role in GLOBAL:
        return True
    if rule.scope == "user":
        return target.role in LEAD_MANAGES and target.site_ids <= actor.site_ids
    if rule.scope == "role":
        return target.role in LEAD_MANAGES
    return True


def allows(actor: Subject, action: Action, target: Target | None = None) -> bool:
    """May ``actor`` do ``action`` (to ``target``, when the rule depends on its site/study)?

    Parameters
    ----------
    actor : Subject
        Who acts: ``role``, ``site_ids``, ``study_ids``.
    action : Action
        What they want to do.
    target : Target, optional
        The record's sites/study (and an account's role). Without it the answer is whether
        the role may do the action to records of its own scope.

    Returns
    -------
    bool
        True when allowed.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> admin = SimpleNamespace(role="admin", site_ids=frozenset(), study_ids=frozenset())
    >>> allows(admin, Action.TRANSFER_FAMILY)
    True
    """
    rule = RULES[action]
    if actor.role not in rule.roles:
        return False
    if target is None:
        return True
    return _in_scope(actor, rule, target) and _fits(actor, rule, target)


def require(actor: Subject, action: Action, target: Target | None = None) -> None:
    """Refuse unless :func:`allows`: ``NotFound`` for a record outside the actor's own
    sites/studies (as if it did not exist), ``Forbidden`` otherwise.

    Parameters
    ----------
    actor : Subject
        Who acts.
    action : Action
        What they want to do.
    target : Target, optional
        The record (see :func:`allows`).

    Raises
    ------
    attunement.store.errors.NotFound
        The record lies outside the actor's scope.
    attunement.store.errors.Forbidden
        The actor's role may not do this.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> lead = SimpleNamespace(role="site_lead", site_ids=frozenset({1}), study_ids=frozenset())
    >>> require(lead, Action.READ_AUDIT, Target(site_ids=frozenset({1})))
    >>> require(lead, Action.READ_AUDIT, Target(site_ids=frozenset({2}), what="site 2"))
    Traceback (most recent call last):
    ...
    attunement.store.errors.NotFound: site 2 not found
    >>> require(lead, Action.DESIGN_TRIAL)
    Traceback (most recent call last):
    ...
    attunement.store.errors.Forbidden: role 'site_lead' may not do this
    """
    if allows(actor, action, target):
        return
    from attunement.store.errors import Forbidden, NotFound

    rule = RULES[action]
    if target is not None and actor.role in rule.roles and not _in_scope(actor, rule, target):
        raise NotFound(f"{target.what} not found")
    raise Forbidden(f"role {actor.role!r} {rule.refusal}")


def family_scope(actor: Subject) -> tuple[str, frozenset[int]] | None:
    """Which families an actor may read, in the form the store's SQL row filter uses.

    Parameters
    ----------
    actor : Subject
        Who reads: ``role``, ``site_ids``, ``study_ids``.

    Returns
    -------
    tuple of (str, frozenset of int), or None
        ``("all", frozenset())`` for an admin or the local operator, ``("site_id", ids)``
        for a practitioner or site lead, ``("study_id", ids)`` for a researcher; None when
        the actor may read no family (no site, no study, or another role).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> nurse = SimpleNamespace(role="practitioner", site_ids=frozenset({3}), study_ids=frozenset())
    >>> family_scope(nurse)
    ('site_id', frozenset({3}))
    >>> analyst = SimpleNamespace(role="researcher", site_ids=frozenset(), study_ids=frozenset())
    >>> family_scope(analyst) is None
    True
    """
    if actor.role in GLOBAL:
        return "all", frozenset()
    if actor.role in SITE_ROLES:
        return ("site_id", actor.site_ids) if actor.site_ids else None
    if actor.role == RESEARCHER:
        return ("study_id", actor.study_ids) if actor.study_ids else None
    return None


def pseudonymised(actor: Subject) -> bool:
    """Whether the actor sees families pseudonymised: keyed ids, no identifiers, day offsets.

    Every role that reads families without seeing their identifiers does.

    Parameters
    ----------
    actor : Subject
        Who reads.

    Returns
    -------
    bool
        True for a researcher; False for the clinical roles (and for roles reading nothing).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> analyst = SimpleNamespace(role="researcher", site_ids=frozenset(), study_ids=frozenset({1}))
    >>> pseudonymised(analyst)
    True
    >>> pseudonymised(SimpleNamespace(role="site_lead", site_ids=frozenset({1}),
    ...                               study_ids=frozenset()))
    False
    """
    return allows(actor, Action.READ_FAMILY) and not allows(actor, Action.SEE_IDENTIFIERS)
