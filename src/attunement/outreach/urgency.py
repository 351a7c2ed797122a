"""Which urgent flags are emergencies: the ONE place outreach asks.

An emergency goes to the site's duty list at once; any other open flag goes to the family's
practitioner first and escalates when not acknowledged in time. Until the platform's flag
vocabulary names emergency kinds, an alert is an emergency when its kind is ``emergency``;
the integrator points this function at the vocabulary.
"""

from __future__ import annotations

EMERGENCY_KINDS = frozenset({"emergency"})


def is_emergency(alert_kind: str, flag_id: str = "") -> bool:
    """True when an alert of ``alert_kind`` (raised by ``flag_id``) is an emergency."""
    return alert_kind in EMERGENCY_KINDS
