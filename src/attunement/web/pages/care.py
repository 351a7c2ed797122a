"""Care forms: acknowledging an alert (the safety review), intervention episodes.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from attunement.store import StoreValidationError
from attunement.web.deps import PageActor, PostedForm
from attunement.web.forms import texts
from attunement.web.rendering import (
    back,
    call,
    checked_form,
    form_date,
    get_session,
    redirect,
    store_of,
)

router = APIRouter(include_in_schema=False)


@router.post("/alerts/{alert_id}/acknowledge")
async def alert_acknowledge(request: Request, alert_id: int, form: PostedForm,
                            actor: PageActor) -> Response:
    """Acknowledge an open safety alert by recording the review: what was done and its outcome.
    Clinical roles of the family's site only.
    """
    note, outcome = texts(form, "note", "outcome")
    session = get_session(request)
    if not note or not outcome:
        session.flash("To acknowledge an alert, record the safety review: what was done (the note "
                      "field) and its outcome.", "error")
        return redirect(request, back(form))
    try:
        await call(store_of(request).care.acknowledge_alert, actor, alert_id, note=note,
                   outcome=outcome)
    except StoreValidationError as exc:
        session.flash(f"{exc.field}: {exc.reason}", "error")
    else:
        session.flash("Alert acknowledged.")
    return redirect(request, back(form))


@router.post("/families/{family_id}/episodes")
async def episode_add(request: Request, family_id: int, form: PostedForm,
                      actor: PageActor) -> Response:
    """Start an intervention episode (a programme from a start date, for some caregivers) for a
    family.
    """
    programme, start = texts(form, "programme", "start")
    caregivers = [str(c) for c in form.getlist("caregivers")]
    problems = []
    if not programme:
        problems.append("programme: choose a programme")
    start_date = form_date(start, "start", problems)
    return await checked_form(
        request, f"/families/{family_id}#episodes", "The episode was not started",
        "Intervention episode started.", problems, store_of(request).care.add_episode, actor,
        family_id, programme, start_date, caregivers=caregivers)


@router.post("/episodes/{episode_id}")
async def episode_update(request: Request, episode_id: int, form: PostedForm,
                         actor: PageActor) -> Response:
    """Update an intervention episode: sessions offered and attended, fidelity notes, or its end
    with a reason.
    """
    back_to = back(form)
    changes: dict[str, Any] = {}
    problems = []
    for key in ("sessions_offered", "sessions_attended"):
        raw = str(form.get(key, "")).strip()
        if raw:
            if raw.isdigit():
                changes[key] = int(raw)
            else:
                problems.append(f"{key.replace('_', ' ')}: '{raw}' is not a whole number ≥ 0")
    notes = str(form.get("fidelity_notes", "")).strip()
    if notes:
        changes["fidelity_notes"] = notes
    end = str(form.get("end", "")).strip()
    if end:
        changes["end"] = form_date(end, "end", problems)
        reason = str(form.get("reason", "")).strip()
        if not reason:
            problems.append("reason: say why the episode ended")
        changes["end_reason"] = reason
        changes["reason"] = reason
    return await checked_form(
        request, back_to, "The episode was not updated", "Episode updated.", problems,
        store_of(request).care.update_episode, actor, episode_id, **changes)
