"""Referrals: the store's records, checked and read against the domain's content.

The store (:class:`attunement.store.referrals.Referrals`) keeps referrals and decides scope and
roles; what a referral is checked and read against comes from the domain libraries: the
intervention catalogue's programmes (:mod:`attunement.interventions.catalogue`), the treatment
routes the risk profile recommends (``risk/treatment_routes.yaml``) and each measure's
reliable-change rule (:func:`attunement.cascade.load_rules`). These functions pass them in.

>>> from attunement.usecases import referrals
>>> r = referrals.add_referral(store, practitioner, family, kind="route",
...                            target="talking_therapies", offered_on="2026-10-01",
...                            caregiver="mother")
>>> referrals.record_stage(store, practitioner, r["id"], "accepted", on="2026-10-03")["status"]
'accepted'
"""

from __future__ import annotations

from datetime import date
from functools import cache
from types import MappingProxyType
from typing import TYPE_CHECKING

from attunement.cascade import load_rules
from attunement.interventions.catalogue import load_catalogue
from attunement.risk import load_definitions
from attunement.store import Actor, Store
from attunement.store.referrals import ReferralContent

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ROUTES", "add_referral", "cascade_tables", "get_referral", "list_referrals",
           "programme_choices", "record_stage", "referral_content"]

# Labels of the treatment routes the risk profile recommends (one list:
# risk/treatment_routes.yaml); any other well-formed route id a service uses is accepted.
ROUTES: dict[str, str] = {r.id: r.label for r in load_definitions().routes}


@cache
def referral_content() -> ReferralContent:
    """The shipped content referrals are checked and read against (loaded once).

    Returns
    -------
    ReferralContent
        The catalogue's programmes, the treatment routes' labels and the reliable-change
        rules.
    """
    return ReferralContent(
        programmes=MappingProxyType({p.id: p.name for p in load_catalogue()}),
        routes=MappingProxyType(ROUTES),
        rules=MappingProxyType(load_rules()),
    )


def programme_choices() -> list[tuple[str, str]]:
    """The programmes a referral may name: the intervention catalogue's, in its order.

    Returns
    -------
    list of (str, str)
        ``(id, name)`` of each programme; the ids are the valid ``target`` of a
        ``kind="programme"`` referral.

    Examples
    --------
    >>> programme_choices()[0]
    ('abc', 'Attachment and Biobehavioral Catch-up (ABC-Infant; ABC-Toddler)')
    """
    return list(referral_content().programmes.items())


def add_referral(store: Store, actor: Actor, family_id: int, *, kind: str, target: str,
                 offered_on: date | str, caregiver: str | None = None) -> dict:
    """Record that a programme (``kind="programme"``) or treatment route was offered.

    The referral starts at stage ``offered``; see
    :meth:`attunement.store.referrals.Referrals.add_referral`.

    Parameters
    ----------
    store : Store
        The open store.
    actor : Actor
        Who refers: a role that may change the family's record.
    family_id : int
        The family's database id.
    kind : str
        ``"programme"`` (a programme of the intervention catalogue) or ``"route"`` (a
        treatment route, such as ``"talking_therapies"``).
    target : str
        The programme's or route's id.
    offered_on : date or str
        The day it was offered (ISO text accepted).
    caregiver : str, optional
        The caregiver referred (the family-file id, e.g. ``"mother"``); the family as a whole
        when omitted.

    Returns
    -------
    dict
        The referral: ``id``, ``status``, the target's label, stage dates and
        ``next_stages``.

    Examples
    --------
    >>> offered = add_referral(store, practitioner, family, kind="programme", target="vig",
    ...                        offered_on="2026-10-05", caregiver="mother")
    >>> offered["status"], offered["next_stages"]
    ('offered', ['accepted', 'declined'])
    """
    return store.referrals.add_referral(actor, family_id, kind=kind, target=target,
                                        offered_on=offered_on, caregiver=caregiver,
                                        content=referral_content())


def record_stage(store: Store, actor: Actor, referral_id: int, stage: str, *, on: date | str,
                 reason: str | None = None, episode_id: int | None = None) -> dict:
    """Move a referral to its next ``stage`` on date ``on``.

    The stages run offered, then accepted or declined, then started, then completed or
    ended (see :meth:`attunement.store.referrals.Referrals.record_stage`).

    Parameters
    ----------
    store : Store
        The open store.
    actor : Actor
        Who records it.
    referral_id : int
        The referral.
    stage : str
        ``"accepted"``, ``"declined"``, ``"started"``, ``"completed"`` or ``"ended"``.
    on : date or str
        The day it happened.
    reason : str, optional
        Why; required for ``declined`` and ``ended``.
    episode_id : int, optional
        For ``started``: the care episode it started (else the family's episode of the same
        programme starting that day, if any).

    Returns
    -------
    dict
        The referral after the change.

    Examples
    --------
    >>> offered = add_referral(store, practitioner, family, kind="programme", target="abc",
    ...                        offered_on="2026-10-05", caregiver="mother")
    >>> declined = record_stage(store, practitioner, offered["id"], "declined",
    ...                         on="2026-10-09", reason="prefers group sessions")
    >>> declined["status"], declined["declined_on"], declined["next_stages"]
    ('declined', '2026-10-09', [])
    """
    return store.referrals.record_stage(actor, referral_id, stage, on=on, reason=reason,
                                        episode_id=episode_id, content=referral_content())


def get_referral(store: Store, actor: Actor, referral_id: int) -> dict:
    """One referral, with the referred caregiver's measures after the referral date.

    Parameters
    ----------
    store : Store
        The open store.
    actor : Actor
        Who reads (scoped as in the store; pseudonymised for a researcher).
    referral_id : int
        The referral.

    Returns
    -------
    dict
        As :func:`add_referral` returns it, with ``outcomes``: the measures since the offer
        and whether they show reliable change.

    Examples
    --------
    >>> offered = add_referral(store, practitioner, family, kind="route",
    ...                        target="perinatal_mental_health_team", offered_on="2026-10-02",
    ...                        caregiver="mother")
    >>> found = get_referral(store, practitioner, offered["id"])
    >>> found["target_label"], found["outcomes"]
    ('Specialist perinatal mental-health team', [])
    """
    return store.referrals.get_referral(actor, referral_id, content=referral_content())


def list_referrals(store: Store, actor: Actor, family_id: int) -> list[dict]:
    """A family's referrals, oldest offer first (pseudonymised for researchers).

    Parameters
    ----------
    store : Store
        The open store.
    actor : Actor
        Who reads.
    family_id : int
        The family's database id.

    Returns
    -------
    list of dict
        Each referral as :func:`get_referral` returns it.

    Examples
    --------
    >>> before = len(list_referrals(store, practitioner, family))
    >>> _ = add_referral(store, practitioner, family, kind="programme", target="mellow_babies",
    ...                  offered_on="2026-11-01", caregiver="mother")
    >>> listed = list_referrals(store, practitioner, family)
    >>> len(listed) - before, listed[-1]["target"]
    (1, 'mellow_babies')
    """
    return store.referrals.list_referrals(actor, family_id, content=referral_content())


def cascade_tables(store: Store, actor: Actor, *, site: int | None = None,
                   study: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The three tables the care cascade is computed from, for the actor's families.

    Parameters
    ----------
    store : Store
        The open store.
    actor : Actor
        Who asks; the tables hold only the families in their scope.
    site, study : int, optional
        Narrow to one site and/or one study (outside the actor's scope: not found).

    Returns
    -------
    tuple of pandas.DataFrame
        ``(caregivers, assessments, referrals)``, as
        :func:`attunement.cascade.compute_cascade` takes them.

    Examples
    --------
    >>> caregivers, assessments, referrals = cascade_tables(store, practitioner, site=site)
    >>> len(caregivers), list(assessments.columns)
    (2, ['caregiver', 'instrument', 'completed_on', 'score', 'positive'])
    """
    return store.referrals.cascade_tables(actor, site=site, study=study,
                                          content=referral_content())
