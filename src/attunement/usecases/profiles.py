"""A stored family's vulnerability profile and its matched attachment-informed interventions.

The family document comes from the store (scoped to the actor); the profile is
:func:`attunement.risk.profile` and the matching :func:`attunement.interventions.match`, the
same functions a notebook or ``attunement profile`` / ``attunement match`` call.
"""

from __future__ import annotations

from typing import Any

from attunement.store import Actor, Store


class ProfileUnavailable(ValueError):
    """The stored family data cannot be profiled yet (e.g. a due date long past with no date
    of birth): ``field`` and ``reason`` say what to complete."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def _profile_object(document: dict[str, Any]) -> Any:
    from attunement import risk

    try:
        return risk.profile(document)
    except ValueError as exc:
        problems = getattr(exc, "problems", None) or [("family", str(exc))]
        field, reason = problems[0]
        raise ProfileUnavailable(str(field), str(reason)) from exc


def profile(document: dict[str, Any]) -> dict[str, Any]:
    """The vulnerability profile of a family document.

    Parameters
    ----------
    document
        The family document as :meth:`Store.families.family_document` returns it.

    Returns
    -------
    dict
        ``attunement.risk.profile(document).to_dict()``.

    Raises
    ------
    ProfileUnavailable
        When the record is incomplete for a profile; names the field.

    Examples
    --------
    >>> from attunement.demo import synthetic_families
    >>> family_a = synthetic_families()[0]
    >>> found = profile(family_a)
    >>> found["tier"], found["urgency"]
    ('universal', 'none')
    >>> profile({**family_a, "infant": {"due_date": "2020-01-01"}})
    Traceback (most recent call last):
    ...
    attunement.usecases.profiles.ProfileUnavailable: infant.due_date: 2020-01-01 is more ...
    """
    return _profile_object(document).to_dict()


def matches(document: dict[str, Any]) -> dict[str, Any] | None:
    """The attachment-informed interventions matched to a family document, best first.

    Parameters
    ----------
    document : dict
        The family document, as :meth:`Store.families.family_document` returns it.

    Returns
    -------
    dict or None
        ``attunement.interventions.match(profile, document).to_dict()``: ``recommended``,
        ``excluded`` with reasons, and whether matching is ``held`` for a safety review;
        None when this installation has no intervention catalogue (the page says so
        instead of guessing).

    Raises
    ------
    ProfileUnavailable
        When the record is incomplete for a profile.

    Examples
    --------
    >>> from attunement.demo import synthetic_families
    >>> found = matches(synthetic_families()[0])
    >>> [r["id"] for r in found["recommended"][:2]], found["held"]
    (['family_foundations', 'baby_triple_p'], False)
    """
    try:
        from attunement import interventions
    except ImportError:
        return None
    return interventions.match(_profile_object(document), document).to_dict()


def family_document(store: Store, actor: Actor, family_id: int) -> dict[str, Any]:
    """A stored family as a screening family file, ready for profiling and matching.

    The safety review is recorded under the risk library's own key.

    Parameters
    ----------
    store : Store
        The open store.
    actor : Actor
        Who reads; a family outside their sites or studies is not found.
    family_id : int
        The family's database id.

    Returns
    -------
    dict
        ``family_id``, ``assessed_on``, ``infant``, ``placement``, ``context`` and
        ``caregivers`` with their scored answers (dates shifted, for a researcher).

    Examples
    --------
    >>> document = family_document(store, practitioner, family)
    >>> document["family_id"], [c["role"] for c in document["caregivers"]]
    ('N-001', ['birth_mother', 'birth_father'])
    """
    from attunement.risk.profile import REVIEW_KEY
    from attunement.usecases.families import known_variants

    return store.families.family_document(actor, family_id, review_key=REVIEW_KEY,
                                           known_variants=known_variants)


def family_profile(store: Store, actor: Actor, family_id: int) -> dict[str, Any]:
    """The vulnerability profile of a stored family.

    Parameters
    ----------
    store : Store
        The open store.
    actor : Actor
        Who asks; outside their scope the family is not found (404), as in the store.
    family_id : int
        The family's database id.

    Returns
    -------
    dict
        As :func:`profile`: the tier, urgency, factors and pathways with their reasons.

    Examples
    --------
    The example family's mother scored 12 on the EPDS (possible depression):

    >>> found = family_profile(store, practitioner, family)
    >>> found["tier"], found["urgency"]
    ('targeted', 'none')
    """
    return profile(family_document(store, actor, family_id))


def family_matches(store: Store, actor: Actor, family_id: int) -> dict[str, Any] | None:
    """The interventions matched to a stored family.

    Parameters
    ----------
    store, actor, family_id
        As :func:`family_document` takes them.

    Returns
    -------
    dict or None
        As :func:`matches`; None when no intervention catalogue is installed.

    Examples
    --------
    >>> found = family_matches(store, practitioner, family)
    >>> [r["id"] for r in found["recommended"][:2]]
    ['baby_triple_p', 'cos_p']
    """
    return matches(family_document(store, actor, family_id))


def family_profile_and_matches(
    store: Store, actor: Actor, family_id: int,
) -> tuple[dict[str, Any] | None, dict[str, Any] | None, ProfileUnavailable | None]:
    """Profile, matches and the reason there are none, for the family page.

    The family is read once for both (see :func:`family_document`).

    Parameters
    ----------
    store : Store
        The open store.
    actor : Actor
        Who views the family page.
    family_id : int
        The family shown.

    Returns
    -------
    tuple
        ``(profile, matches, None)``, or ``(None, None, problem)`` when the record is
        incomplete for a profile.

    Examples
    --------
    >>> found, matched, problem = family_profile_and_matches(store, practitioner, family)
    >>> found["tier"], len(matched["recommended"]) > 0, problem
    ('targeted', True, None)
    """
    document = family_document(store, actor, family_id)
    try:
        return profile(document), matches(document), None
    except ProfileUnavailable as exc:
        return None, None, exc
