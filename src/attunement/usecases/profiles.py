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
    """
    return _profile_object(document).to_dict()


def matches(document: dict[str, Any]) -> dict[str, Any] | None:
    """``attunement.interventions.match(profile, document).to_dict()`` for a family document
    (as :meth:`Store.families.family_document` returns it); None when this installation has no
    intervention catalogue (the page says so instead of guessing)."""
    try:
        from attunement import interventions
    except ImportError:
        return None
    return interventions.match(_profile_object(document), document).to_dict()


def family_document(store: Store, actor: Actor, family_id: int) -> dict[str, Any]:
    """The stored family's screening family file (scoped to the actor), with the safety
    review recorded under the risk library's own key.

    Examples
    --------
    >>> family_document(store, actor, 1)["caregivers"][0]["role"]  # doctest: +SKIP
    'birth_mother'
    """
    from attunement.risk.profile import REVIEW_KEY
    from attunement.usecases.families import known_variants

    return store.families.family_document(actor, family_id, review_key=REVIEW_KEY,
                                           known_variants=known_variants)


def family_profile(store: Store, actor: Actor, family_id: int) -> dict[str, Any]:
    """The profile of a stored family (404 outside the actor's scope, like the store).

    Examples
    --------
    >>> family_profile(store, actor, 1)["urgency"]  # doctest: +SKIP
    'none'
    """
    return profile(family_document(store, actor, family_id))


def family_matches(store: Store, actor: Actor, family_id: int) -> dict[str, Any] | None:
    """The matched interventions of a stored family (None without a catalogue)."""
    return matches(family_document(store, actor, family_id))


def family_profile_and_matches(
    store: Store, actor: Actor, family_id: int,
) -> tuple[dict[str, Any] | None, dict[str, Any] | None, ProfileUnavailable | None]:
    """Profile, matches and the reason there are none, for the family page.

    Returns
    -------
    tuple
        ``(profile, matches, None)``, or ``(None, None, problem)`` when the record is
        incomplete for a profile.
    """
    document = family_document(store, actor, family_id)
    try:
        return profile(document), matches(document), None
    except ProfileUnavailable as exc:
        return None, None, exc
