"""Referrals: the store's records, checked and read against the domain's content.

The store (:class:`attunement.store.referrals.Referrals`) keeps referrals and decides scope and
roles; what a referral is checked and read against comes from the domain libraries: the
intervention catalogue's programmes (:mod:`attunement.interventions.catalogue`), the treatment
routes the risk profile recommends (``risk/treatment_routes.yaml``) and each measure's
reliable-change rule (:func:`attunement.cascade.load_rules`). These functions pass them in.

>>> from attunement.usecases import referrals                               # doctest: +SKIP
>>> r = referrals.add_referral(store, practitioner, family_id, kind="route",
...                            target="talking_therapies", offered_on="2026-10-01",
...                            caregiver="mother")                          # doctest: +SKIP
>>> referrals.record_stage(store, practitioner, r["id"], "accepted", on="2026-10-03")
... # doctest: +SKIP
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
    """(id, name) of the intervention catalogue's programmes, the valid programme targets."""
    return list(referral_content().programmes.items())


def add_referral(store: Store, actor: Actor, family_id: int, *, kind: str, target: str,
                 offered_on: date | str, caregiver: str | None = None) -> dict:
    """Record that a programme (``kind="programme"``) or treatment route was offered.

    See :meth:`attunement.store.referrals.Referrals.add_referral`.
    """
    return store.referrals.add_referral(actor, family_id, kind=kind, target=target,
                                        offered_on=offered_on, caregiver=caregiver,
                                        content=referral_content())


def record_stage(store: Store, actor: Actor, referral_id: int, stage: str, *, on: date | str,
                 reason: str | None = None, episode_id: int | None = None) -> dict:
    """Move a referral to its next ``stage`` on date ``on``.

    See :meth:`attunement.store.referrals.Referrals.record_stage`.
    """
    return store.referrals.record_stage(actor, referral_id, stage, on=on, reason=reason,
                                        episode_id=episode_id, content=referral_content())


def get_referral(store: Store, actor: Actor, referral_id: int) -> dict:
    """One referral, with the referred caregiver's measures after the referral date."""
    return store.referrals.get_referral(actor, referral_id, content=referral_content())


def list_referrals(store: Store, actor: Actor, family_id: int) -> list[dict]:
    """A family's referrals, oldest offer first (pseudonymised for researchers)."""
    return store.referrals.list_referrals(actor, family_id, content=referral_content())


def cascade_tables(store: Store, actor: Actor, *, site: int | None = None,
                   study: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(caregivers, assessments, referrals) of the actor's families, as
    :func:`attunement.cascade.compute_cascade` takes them."""
    return store.referrals.cascade_tables(actor, site=site, study=study,
                                          content=referral_content())
