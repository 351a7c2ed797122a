"""Registering families: the family file checked by :mod:`attunement.risk`, stored by the store.

The screening family-file rules and the factor definitions (which recorded answers exist, at
which level) are the domain's; the store parses the request, builds the family file, calls
:func:`check_family_file` and writes in one transaction. Responses in the file are scored by
:func:`attunement.usecases.assessments.score`.
"""

from __future__ import annotations

import re

from attunement.store import Actor, Store, StoreValidationError
from attunement.usecases.assessments import score


def check_family_file(family: dict) -> None:
    """Check a screening family file and its recorded answers against the factor definitions.

    Parameters
    ----------
    family
        A family file (``family_id``, ``assessed_on``, ``infant``, ``placement``, ``context``,
        ``caregivers``).

    Raises
    ------
    StoreValidationError
        The first problem, ``field`` a dotted path (``caregivers.1.role``,
        ``context.unknown_factor``).

    Examples
    --------
    >>> check_family_file({"family_id": "F1", "assessed_on": "2026-01-01",
    ...     "infant": {"due_date": "2026-03-01"}, "placement": "birth_family",
    ...     "caregivers": [{"id": "m", "role": "no such role"}]})
    Traceback (most recent call last):
    ...
    attunement.store.errors.StoreValidationError: caregivers.0.role: ...
    """
    from attunement.risk import FamilyError, load_definitions, validate_family

    try:
        validate_family(family)
        levels = load_definitions().context_level()
        places = [("context", family.get("context") or {}, "family")] + [
            (f"caregivers[{i}].context", c.get("context") or {}, "caregiver")
            for i, c in enumerate(family["caregivers"])
        ]
        for path, ctx, level in places:
            for key in ctx:
                # "any": recorded at either level (e.g. safety_review_completed, harm_intent)
                if key not in levels:
                    known = ", ".join(sorted(k for k, lv in levels.items() if lv in (level, "any")))
                    raise FamilyError(
                        [(f"{path}.{key}", f"unknown recorded answer; known: {known}")]
                    )
                if levels[key] not in (level, "any"):
                    raise FamilyError([(f"{path}.{key}", f"is a {levels[key]}-level answer")])
    except FamilyError as exc:
        path, why = exc.problems[0]
        raise StoreValidationError(re.sub(r"\[(\d+)\]", r".\1", path) or "family", why) from None


def register_family(store: Store, actor: Actor, payload: dict) -> dict:
    """Register a family from a screening family file plus ``site``, in one transaction.

    The file is checked by :func:`check_family_file` and its answers are scored before the
    store writes anything (see :meth:`attunement.store.families.Families.create_family`).

    Parameters
    ----------
    store, actor
        The open store and who registers.
    payload
        The family file plus ``site`` and optional ``study``, ``time_point``, identifiers.

    Returns
    -------
    dict
        The new family's document (as ``get_family``).

    Examples
    --------
    >>> created = register_family(store, practitioner, example_family("N-002"))
    >>> created["family_id"], created["site"], len(created["caregivers"])
    ('N-002', 'North', 2)
    """
    return store.families.create_family(actor, payload, check_file=check_family_file, score=score)


def add_caregiver(store: Store, actor: Actor, family_id: int, caregiver: dict) -> dict:
    """Add a caregiver to a registered family, checked like a family file's caregiver.

    Any responses given with the caregiver are scored and stored at its ``time_point``.

    Parameters
    ----------
    store, actor
        The open store and who adds.
    family_id
        The family.
    caregiver
        The caregiver as in a family file (plus identifiers, ``time_point``).

    Returns
    -------
    dict
        The new caregiver.

    Examples
    --------
    >>> added = add_caregiver(store, practitioner, family,
    ...                       {"id": "gran", "role": "kinship_carer", "age": 61})
    >>> added["id"], added["role"], added["active"]
    ('gran', 'kinship_carer', True)
    """
    return store.families.add_caregiver(
        actor, family_id, caregiver, check_file=check_family_file, score=score)


def known_variants(instrument: str) -> frozenset[str]:
    """The form variants an instrument's definition names (none for an unknown instrument).

    These are the coded values of a caregiver's ``variants``: a researcher's family file
    keeps them and drops any other name (:func:`attunement.store.research_view.coded_variants`).

    Parameters
    ----------
    instrument
        The instrument id.

    Returns
    -------
    frozenset of str
        The names of the definition's ``variants:`` block.

    Examples
    --------
    >>> "order_2001" in known_variants("pbq"), known_variants("no such questionnaire")
    (True, frozenset())
    """
    from attunement.instruments import UnknownInstrument, load_instrument

    try:
        return frozenset(load_instrument(instrument).variants)
    except UnknownInstrument:  # an unknown instrument id has no coded variants
        return frozenset()


def catalogue_programmes() -> list[str]:
    """The intervention catalogue's programme ids: the programmes a researcher sees by name.

    Returns
    -------
    list of str
        The ids of :func:`attunement.interventions.catalogue.load_catalogue`.

    Examples
    --------
    >>> "vipp_sd" in catalogue_programmes()
    True
    """
    from attunement.interventions.catalogue import load_catalogue

    return list(load_catalogue().ids)


def get_family(store: Store, actor: Actor, family_id: int) -> dict:
    """One family's record as the actor may see it; a researcher's episodes name the
    catalogue's programmes and show any other programme as "other".

    Parameters
    ----------
    store, actor
        The open store and who reads (a family outside their scope is NotFound).
    family_id
        The family.

    Returns
    -------
    dict
        The family document (see :meth:`attunement.store.family_views.FamilyViews.get_family`).

    Examples
    --------
    A catalogue programme and a local one; the researcher sees the local one as "other":

    >>> _ = store.care.add_episode(practitioner, family, "vipp_sd", "2026-10-05",
    ...                            caregivers=["mother"])
    >>> _ = store.care.add_episode(practitioner, family, "local_baby_group", "2026-10-06",
    ...                            caregivers=["father"])
    >>> [e["programme"] for e in get_family(store, practitioner, family)["episodes"]]
    ['vipp_sd', 'local_baby_group']
    >>> [e["programme"] for e in get_family(store, researcher, family)["episodes"]]
    ['vipp_sd', 'other']
    """
    return store.families.get_family(actor, family_id, programmes=catalogue_programmes())
