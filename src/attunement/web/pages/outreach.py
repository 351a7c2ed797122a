"""A caregiver's contact preferences, from the family page.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from attunement.store import OutreachRecords, StoreValidationError
from attunement.web.deps import PageActor, PostedForm
from attunement.web.rendering import call, get_session, redirect

router = APIRouter(include_in_schema=False)


@router.post("/families/{family_id}/contact")
async def contact_form(request: Request, family_id: int, form: PostedForm,
                       actor: PageActor) -> Response:
    """Save one caregiver's preferred language, contact method and opt-out."""
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
