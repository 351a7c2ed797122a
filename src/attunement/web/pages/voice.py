"""The practitioner's side of the caregiver's voice: page language and interpreter need,
releasing a result to the caregiver's space, and the link to that space.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from attunement.store import StoreValidationError
from attunement.usecases import families as uc_families
from attunement.web.deps import PageActor, PostedForm, check_csrf
from attunement.web.rendering import call, get_session, redirect, render, store_of

router = APIRouter(include_in_schema=False)


@router.post("/families/{family_id}/caregivers/{caregiver}/language")
async def caregiver_language(request: Request, family_id: int, caregiver: str,
                             form: PostedForm, actor: PageActor) -> Response:
    """Record the language of a caregiver's own pages and whether they need an interpreter."""
    session = get_session(request)
    try:
        await call(store_of(request).families.set_caregiver_language, actor, family_id, caregiver,
                   page_language=str(form.get("page_language", "")).strip() or None,
                   interpreter_needed=bool(form.get("interpreter_needed")))
    except StoreValidationError as exc:
        session.flash(f"The language was not saved — {exc.field}: {exc.reason}", "error")
    else:
        session.flash(f"Language and interpreter need saved for {caregiver}.")
    return redirect(request, f"/families/{family_id}#voice-title")


@router.post("/families/{family_id}/assessments/{assessment_id}/release",
             dependencies=[Depends(check_csrf)])
async def assessment_release(request: Request, family_id: int, assessment_id: int,
                             actor: PageActor) -> Response:
    """Release one result to the caregiver's own space."""
    session = get_session(request)
    try:
        await call(store_of(request).care.release_assessment, actor, assessment_id)
    except StoreValidationError as exc:
        session.flash(f"The result was not released — {exc.reason}", "error")
    else:
        session.flash("Result released to the caregiver's space.")
    return redirect(request, f"/families/{family_id}#voice-title")


@router.post("/families/{family_id}/space-links")
async def space_link_create(request: Request, family_id: int, form: PostedForm,
                            actor: PageActor) -> Response:
    """A link to a caregiver's own space, shown once."""
    caregiver = str(form.get("caregiver", ""))
    store = store_of(request)
    try:
        secret = await call(store.care.create_space_link, actor, family_id, caregiver)
    except StoreValidationError as exc:
        get_session(request).flash(f"The link was not created — {exc.field}: {exc.reason}",
                                   "error")
        return redirect(request, f"/families/{family_id}#voice-title")
    family = await call(uc_families.get_family, store, actor, family_id)
    base = request.app.state.settings.public_url or str(request.base_url).rstrip("/")
    url = f"{base}/s/{secret}"
    return render(request, "space_link_created.html", {
        "family": family, "url": url, "caregiver": caregiver, "days": 30})
