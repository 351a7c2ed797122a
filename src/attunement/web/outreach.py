"""Outreach in the web app: a family's messages and its caregivers' contact preferences.

Pages: the *Messages* section of the family page (``family.html``) and ``POST
/families/{id}/contact`` (CSRF-protected). API: ``GET /api/families/{id}/messages`` and
``PUT /api/families/{id}/caregivers/{caregiver}/contact``.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from attunement.store import Actor, OutreachRecords, Store, StoreValidationError
from attunement.web.deps import api_actor, check_csrf, get_session, get_store, page_actor
from attunement.web.pages import call, redirect

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api", tags=["outreach"])


@pages.post("/families/{family_id}/contact", dependencies=[Depends(check_csrf)])
async def contact_form(request: Request, family_id: int,
                       actor: Actor = Depends(page_actor)) -> Response:
    """Save one caregiver's preferred language, contact method and opt-out."""
    form = await request.form()
    session = get_session(request)
    caregiver = str(form.get("caregiver", ""))
    try:
        await call(OutreachRecords(request.app.state.store).set_contact_preferences, actor,
                   family_id, caregiver, language=str(form.get("language", "")).strip(),
                   method=str(form.get("method", "")), opted_out=form.get("opted_out") == "on")
    except StoreValidationError as exc:
        session.flash(f"Contact preferences not saved — {exc.field}: {exc.reason}", "error")
    else:
        session.flash(f"Contact preferences of {caregiver} saved.")
    return redirect(request, f"/families/{family_id}")


class MessageOut(BaseModel):
    id: int
    kind: Literal["invitation", "reminder", "alert", "escalation"]
    stage: int
    channel: Literal["email", "sms"]
    caregiver: str | None = Field(None, description="Caregiver id; None for staff messages")
    alert_id: int | None
    status: Literal["queued", "sending", "retry", "sent", "failed", "skipped"]
    attempts: int
    last_error: str | None
    created_at: str
    not_before: str
    sent_at: str | None


class ContactIn(BaseModel):
    language: str | None = Field(None, description="Preferred language code, e.g. en, es")
    method: Literal["email", "sms"] | None = None
    opted_out: bool | None = None


class ContactOut(BaseModel):
    caregiver: str
    language: str
    method: str
    opted_out: bool


@api.get("/families/{family_id}/messages", response_model=list[MessageOut])
def family_messages(family_id: int, actor: Actor = Depends(api_actor),
                    store: Store = Depends(get_store)) -> list[MessageOut]:
    """Every invitation, reminder, alert and escalation of a family, newest first, with its
    delivery result (no addresses, no message text)."""
    return [MessageOut.model_validate(m)
            for m in OutreachRecords(store).list_messages(actor, family_id)]


@api.put("/families/{family_id}/caregivers/{caregiver}/contact", response_model=ContactOut)
def set_contact(family_id: int, caregiver: str, body: ContactIn,
                actor: Actor = Depends(api_actor),
                store: Store = Depends(get_store)) -> ContactOut:
    """Set a caregiver's preferred language, contact method or opt-out (audited)."""
    return ContactOut.model_validate(OutreachRecords(store).set_contact_preferences(
        actor, family_id, caregiver, language=body.language, method=body.method,
        opted_out=body.opted_out))


router = APIRouter()
router.include_router(pages)
router.include_router(api)

__all__ = ["router"]
