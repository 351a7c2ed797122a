"""Outreach for programs: ``GET /api/families/{id}/messages`` and
``PUT /api/families/{id}/caregivers/{caregiver}/contact``.
"""

from __future__ import annotations

from attunement.store import OutreachRecords
from attunement.web.api._router import ApiRouter
from attunement.web.deps import CurrentActor, StoreDep
from attunement.web.schemas import ContactIn, ContactOut, MessageOut

router = ApiRouter("outreach")


@router.get("/families/{family_id}/messages", response_model=list[MessageOut])
def family_messages(family_id: int, actor: CurrentActor, store: StoreDep) -> list[MessageOut]:
    """Every invitation, reminder, alert and escalation of a family, newest first, with its
    delivery result (no addresses, no message text)."""
    return [MessageOut.model_validate(m)
            for m in OutreachRecords(store).list_messages(actor, family_id)]


@router.put("/families/{family_id}/caregivers/{caregiver}/contact", response_model=ContactOut)
def set_contact(family_id: int, caregiver: str, body: ContactIn,
                actor: CurrentActor,
                store: StoreDep) -> ContactOut:
    """Set a caregiver's preferred language, contact method or opt-out (audited)."""
    return ContactOut.model_validate(OutreachRecords(store).set_contact_preferences(
        actor, family_id, caregiver, language=body.language, method=body.method,
        opted_out=body.opted_out))
