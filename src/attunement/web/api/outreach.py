"""Outreach for programs: ``GET /api/families/{id}/messages`` and
``PUT /api/families/{id}/caregivers/{caregiver}/contact``.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from attunement.store import Actor, OutreachRecords, Store
from attunement.web.deps import api_actor, get_store
from attunement.web.schemas import ContactIn, ContactOut, MessageOut

router = APIRouter(prefix="/api", tags=["outreach"])


@router.get("/families/{family_id}/messages", response_model=list[MessageOut])
def family_messages(family_id: int, actor: Actor = Depends(api_actor),
                    store: Store = Depends(get_store)) -> list[MessageOut]:
    """Every invitation, reminder, alert and escalation of a family, newest first, with its
    delivery result (no addresses, no message text)."""
    return [MessageOut.model_validate(m)
            for m in OutreachRecords(store).list_messages(actor, family_id)]


@router.put("/families/{family_id}/caregivers/{caregiver}/contact", response_model=ContactOut)
def set_contact(family_id: int, caregiver: str, body: ContactIn,
                actor: Actor = Depends(api_actor),
                store: Store = Depends(get_store)) -> ContactOut:
    """Set a caregiver's preferred language, contact method or opt-out (audited)."""
    return ContactOut.model_validate(OutreachRecords(store).set_contact_preferences(
        actor, family_id, caregiver, language=body.language, method=body.method,
        opted_out=body.opted_out))
