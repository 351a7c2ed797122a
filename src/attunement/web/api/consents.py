"""Consents given by a family or one caregiver, and their withdrawal.
"""

from __future__ import annotations

from attunement.web.api._router import ApiRouter
from attunement.web.deps import CurrentActor, StoreDep
from attunement.web.schemas import ConsentIn, ConsentOut, ConsentWithdrawIn, Json

router = ApiRouter("consent")


@router.answers("POST", "/families/{family_id}/consents", ConsentOut, status_code=201)
def add_consent(family_id: int, body: ConsentIn, actor: CurrentActor, store: StoreDep) -> Json:
    """Record a consent given by the family or one caregiver."""
    return store.care.add_consent(actor, family_id, kind=body.kind, version=body.version,
                             given_on=body.given_on, caregiver=body.caregiver)


@router.answers("POST", "/consents/{consent_id}/withdraw", ConsentOut)
def withdraw_consent(
    consent_id: int, body: ConsentWithdrawIn, actor: CurrentActor,
    store: StoreDep,
) -> Json:
    """Record that consent was withdrawn (the record itself is kept)."""
    return store.care.withdraw_consent(actor, consent_id, withdrawn_on=body.withdrawn_on,
                                  reason=body.reason)
