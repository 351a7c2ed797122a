"""Which urgent flags are emergencies: outreach asks the platform's one flag vocabulary.

An emergency goes to the site's duty list at once; any other open flag goes to the family's
practitioner first and escalates when not acknowledged in time. Which kinds are emergencies is
defined once, in ``attunement/vocabulary.yaml`` (``emergency: true``).
"""

from __future__ import annotations

from attunement.vocabulary import load_vocabulary


def is_emergency(alert_kind: str, flag_id: str = "") -> bool:
    """True when an alert of ``alert_kind`` (raised by ``flag_id``) is of an emergency kind.

    Parameters
    ----------
    alert_kind : str
        The alert's flag kind (``safety``, ``suspected_psychosis`` …).
    flag_id : str, optional
        The flag that raised it; a flag listed under a kind in the vocabulary takes that kind.

    Returns
    -------
    bool
        Whether the vocabulary marks the kind ``emergency: true``; False for an unknown kind.

    Examples
    --------
    A self-harm answer is urgent (same day); suspected psychosis is an emergency:

    >>> is_emergency("safety", "epds_item10"), is_emergency("suspected_psychosis")
    (False, True)
    """
    kind = load_vocabulary().kind_of({"id": flag_id, "kind": alert_kind})
    return kind is not None and kind.emergency
