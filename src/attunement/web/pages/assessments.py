"""A practitioner enters a questionnaire for a caregiver, or creates a one-time link for them.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from attunement.store import StoreValidationError
from attunement.usecases import assessments as uc_assessments
from attunement.usecases import families as uc_families
from attunement.web import content
from attunement.web.deps import PageActor, PostedForm
from attunement.web.forms import FormErrors, item_field, parse_responses, texts
from attunement.web.rendering import call, get_session, link_url, redirect, render, store_of

router = APIRouter(include_in_schema=False)


def _assessment_context(request: Request, family: dict[str, Any], caregiver: str,
                        instrument_id: str, time_point: str) -> dict[str, Any]:
    form = content.instrument_form(instrument_id, request.app.state.item_texts,
                                  samples=request.app.state.settings.sample_text_packs)
    return {"family": family, "caregiver": caregiver, "time_point": time_point, "form": form}


@router.get("/families/{family_id}/assess")
async def assessment_form(*, request: Request, family_id: int, caregiver: str = "",
                          instrument: str = "", time_point: str = "",
                          actor: PageActor) -> Response:
    """Show the questionnaire form for one caregiver, instrument and time point of a family, for a
    practitioner entering the answers.
    """
    family = await call(uc_families.get_family, store_of(request), actor, family_id)
    errors = FormErrors()
    if not content.has_instrument(instrument):
        errors.add("instrument", f"Unknown questionnaire '{instrument}'")
    if caregiver not in {str(c.get("id")) for c in family.get("caregivers", [])}:
        errors.add("caregiver", "Choose one of this family's caregivers")
    if not time_point.strip():
        errors.add("time_point", "Enter the time point, e.g. 'antenatal' or '6w'")
    if errors:
        get_session(request).flash("; ".join(errors.values()), "error")
        return redirect(request, f"/families/{family_id}#new-assessment")
    context = _assessment_context(request, family, caregiver, instrument, time_point)
    return render(request, "assessment.html", context)


@router.post("/families/{family_id}/assess")
async def assessment_submit(request: Request, family_id: int, form: PostedForm,
                            actor: PageActor) -> Response:
    """Score and save the answers entered on the questionnaire form; an urgent safety answer opens
    an alert and is flagged on the family page.
    """
    caregiver, instrument, time_point = texts(form, "caregiver", "instrument", "time_point",
                                              strip=False)
    store = store_of(request)
    family = await call(uc_families.get_family, store, actor, family_id)
    if not content.has_instrument(instrument):
        get_session(request).flash(f"Unknown questionnaire '{instrument}'", "error")
        return redirect(request, f"/families/{family_id}")
    context = _assessment_context(request, family, caregiver, instrument, time_point)
    spec = context["form"]
    responses, errors = parse_responses(
        form, len(spec.items), [item.values for item in spec.items],
        {item.position for item in spec.items if item.optional},
    )
    if not errors:
        try:
            assessment = await call(uc_assessments.submit_assessment, store, actor, family_id,
                                    caregiver, instrument, time_point, responses)
        except StoreValidationError as exc:
            errors.add(item_field(exc.field), exc.reason)
        else:
            session = get_session(request)
            if content.is_urgent(assessment):
                session.flash("URGENT: a safety answer needs a same-day review. An alert is open "
                              "on the dashboard.", "urgent")
            session.flash(f"{spec.instrument.name} saved for {caregiver} ({time_point}).")
            return redirect(request, f"/families/{family_id}")
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    return render(request, "assessment.html", {**context, "values": values, "errors": errors},
                  status=422)



@router.post("/families/{family_id}/links")
async def link_create(request: Request, family_id: int, form: PostedForm,
                      actor: PageActor) -> Response:
    """Make a one-time link for a caregiver to answer a questionnaire themselves, and show it to
    pass on.
    """
    caregiver, instrument = texts(form, "caregiver", "instrument", strip=False)
    time_point = str(form.get("time_point", "")).strip()
    store = store_of(request)
    hours = request.app.state.settings.link_hours
    try:
        secret = await call(uc_assessments.create_link, store, actor, family_id, caregiver,
                            instrument, time_point, hours=hours)
    except StoreValidationError as exc:
        get_session(request).flash(f"The link was not created — {exc.field}: {exc.reason}", "error")
        return redirect(request, f"/families/{family_id}#links")
    family = await call(uc_families.get_family, store, actor, family_id)
    return render(request, "link_created.html", {
        "family": family, "url": link_url(request, secret), "caregiver": caregiver,
        "instrument": content.instrument_name(instrument), "time_point": time_point,
        "hours": hours,
    })
