"""Family pages: registration, the family page (profile, matches, charts, referrals, messages),
consents, and caregivers joining or leaving.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from attunement import policy
from attunement.policy import Action
from attunement.store import Actor, OutreachRecords, StoreValidationError
from attunement.store.service import SESSION_FEEDBACK_ITEMS
from attunement.usecases import families as uc_families
from attunement.usecases import profiles
from attunement.web import content
from attunement.web.charts import score_chart
from attunement.web.content import vocabulary_choices
from attunement.web.deps import PageActor, PostedForm
from attunement.web.forms import (
    MAX_CAREGIVERS,
    FormErrors,
    caregiver_count,
    normalise_field,
    parse_family_form,
    texts,
)
from attunement.web.pages.cascade import referral_section
from attunement.web.rendering import (
    call,
    checked_form,
    form_date,
    get_session,
    redirect,
    render,
    store_form,
    store_of,
    visible_studies,
)

router = APIRouter(include_in_schema=False)


async def _family_form(request: Request, actor: Actor, values: dict[str, Any],
                       errors: FormErrors, n: int, status: int = 200) -> Response:
    sites = await call(store_of(request).accounts.list_sites, actor)
    studies = await visible_studies(request, actor)
    return render(request, "family_new.html", {
        "sites": sites, "studies": studies, "roles": vocabulary_choices("caregiver_roles"), "placements": vocabulary_choices("placements"),
        "values": values, "errors": errors, "n_caregivers": n, "max_caregivers": MAX_CAREGIVERS,
        "context_choices": content.context_choices(),
    }, status=status)


@router.get("/families/new")
async def family_new(request: Request, actor: PageActor) -> Response:
    """Show the form for registering a new family."""
    values = {"caregivers.0.id": "cg1", "caregivers.1.id": "cg2", "placement": "birth_family"}
    return await _family_form(request, actor, values, FormErrors(), 2)


@router.post("/families/new")
async def family_create(request: Request, form: PostedForm, actor: PageActor) -> Response:
    """Register a family from the new-family form (or add one more caregiver row to the form)."""
    values = {k: v for k, v in form.items() if k != "csrf_token" and isinstance(v, str)}
    n = caregiver_count(form)
    if form.get("add_caregiver"):
        n = min(MAX_CAREGIVERS, n + 1)
        values.setdefault(f"caregivers.{n - 1}.id", f"cg{n}")
        return await _family_form(request, actor, values, FormErrors(), n)
    payload, errors = parse_family_form(form)
    if not errors:
        try:
            family = await call(uc_families.register_family, store_of(request), actor, payload)
        except StoreValidationError as exc:
            errors.add(normalise_field(exc.field) or "family_id", exc.reason)
        else:
            get_session(request).flash(f"Family {family.get('family_id', '')} registered.")
            return redirect(request, f"/families/{family['id']}")
    return await _family_form(request, actor, values, errors, n, status=422)


def family_charts(family: dict[str, Any]) -> list[dict[str, Any]]:
    """One chart per caregiver and instrument: the main scale over time with its cut-offs.

    Parameters
    ----------
    family : dict
        The family as ``get_family`` returns it; superseded versions of corrected assessments
        are left out.

    Returns
    -------
    list of dict
        Per chart: ``caregiver``, ``instrument``, ``label``, ``points``, ``cutoffs`` and the
        ``svg``.
    """
    assessments = family.get("assessments") or []
    superseded = {a.get("corrected_from") for a in assessments if a.get("corrected_from")}
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for a in assessments:
        if a.get("id") in superseded:
            continue
        grouped.setdefault((str(a.get("caregiver")), str(a.get("instrument"))), []).append(a)
    charts = []
    for (caregiver, instrument), rows in grouped.items():
        spec = content.chart_spec(instrument)
        if spec is None:
            continue
        points = []
        for a in sorted(rows, key=lambda r: (str(r.get("submitted_at") or ""), r.get("day") or 0,
                                             r.get("id") or 0)):
            value = (a.get("scores") or {}).get(spec.column)
            if value is None:
                continue
            points.append((str(a.get("time_point", "")), float(value)))
        if not points:
            continue
        title = f"{caregiver}: {spec.label} over time"
        charts.append({
            "caregiver": caregiver, "instrument": instrument, "label": spec.label,
            "points": points, "cutoffs": spec.cutoffs,
            "svg": score_chart(title, points, low=spec.low, high=spec.high, cutoffs=spec.cutoffs),
        })
    return charts


@router.get("/families/{family_id}")
async def family_page(request: Request, family_id: int, actor: PageActor) -> Response:
    """Show one family: profile and matched interventions, alerts, assessments with charts,
    referrals, episodes, consents and messages. 404 outside your sites or studies.
    """
    store = store_of(request)
    family = await call(uc_families.get_family, store, actor, family_id)
    profile, matches, profile_problem = await call(
        profiles.family_profile_and_matches, store, actor, family_id)
    alerts = [a for a in family.get("alerts") or [] if a.get("status") == "open"]
    # the store refuses to release these (care.release_assessment): no button that would fail
    awaiting_review = await call(store.care.awaiting_review, actor, family_id)
    outreach = OutreachRecords(store)
    messages = await call(outreach.list_messages, actor, family_id)
    contact = (await call(outreach.contact_preferences, actor, family_id)
               if actor.sees_identifiers else None)
    clinical = policy.allows(actor, Action.READ_CLINICAL)
    released = await call(store.care.released_results, actor, family_id) if clinical else {}
    contributions = await call(store.care.list_contributions, actor, family_id) if clinical else []
    return render(request, "family.html", {
        **await referral_section(store, actor, family_id),
        "family": family, "profile": profile, "matches": matches, "alerts": alerts,
        "urgency": content.urgency_level((profile or {}).get("urgency", "none")),
        "messages": messages, "contact": contact,
        "profile_problem": profile_problem, "roles": vocabulary_choices("caregiver_roles"),
        "charts": family_charts(family), "instruments": content.instrument_choices(),
        "time_points": content.time_points(family), "today": dt.date.today().isoformat(),
        "programmes": _programmes(matches),
        "default_time_point": _default_time_point(family),
        "consent_kinds": CONSENT_KINDS, "released": released, "contributions": contributions,
        "awaiting_review": awaiting_review,
        "feedback_items": SESSION_FEEDBACK_ITEMS,
        "page_languages": content.caregiver_languages(),
    })


def _programmes(matches: dict[str, Any] | None) -> list[tuple[str, str, bool]]:
    """Every catalogue programme as ``(id, name, recommended)``, the recommended ones first."""
    from attunement.interventions.catalogue import load_catalogue

    recommended = [r["id"] for r in (matches or {}).get("recommended", [])]
    everything = [(p.id, p.name) for p in load_catalogue()]
    order = {pid: n for n, pid in enumerate(recommended)}
    everything.sort(key=lambda p: order.get(p[0], len(order)))
    return [(pid, name, pid in order) for pid, name in everything]


def _default_time_point(family: dict[str, Any]) -> str:
    """The time point the schedule says is due now (else overdue); empty when nothing is
    scheduled, so the practitioner chooses instead of getting "antenatal" by default."""
    for d in [*(family.get("due") or []), *(family.get("overdue") or [])]:
        if d.get("time_point"):
            return str(d["time_point"])
    return ""


# "research" is the kind a study design requires by default (its ``consent_kind``); the API
# accepts other kinds for local forms.
CONSENT_KINDS = [("research", "Research (study participation)"),
                 ("data_sharing", "Sharing data with the study team"),
                 ("recording", "Video recording of interaction")]


@router.post("/families/{family_id}/consents")
async def consent_add(request: Request, family_id: int, form: PostedForm,
                      actor: PageActor) -> Response:
    """Record a consent given by the family or one caregiver."""
    kind, version, given, caregiver_id = texts(form, "kind", "version", "given_on", "caregiver")
    caregiver = caregiver_id or None
    problems = []
    if not kind:
        problems.append("Consent to (kind): choose what was consented to")
    if not version:
        problems.append("version: name the version of the information sheet and form")
    given_on = form_date(given, "given on", problems)
    return await checked_form(
        request, f"/families/{family_id}#consent-title", "Consent was not recorded",
        f"Consent recorded ({kind.replace('_', ' ')}, form {version}).", problems,
        store_of(request).care.add_consent, actor, family_id, kind=kind, version=version,
        given_on=given_on, caregiver=caregiver)


@router.post("/families/{family_id}/consents/withdraw")
async def consent_withdraw(request: Request, family_id: int, form: PostedForm,
                           actor: PageActor) -> Response:
    """Record that a consent of this family was withdrawn (the consent record is kept)."""
    raw, when, reason = texts(form, "consent", "withdrawn_on", "reason")
    family = await call(uc_families.get_family, store_of(request), actor, family_id)
    ids = {str(c["id"]) for c in family.get("consents") or []}
    problems = []
    if raw not in ids:
        problems.append("consent: choose one of this family's consents")
    withdrawn_on = form_date(when, "withdrawn on", problems)
    if not reason:
        problems.append("reason: say why consent was withdrawn (it is kept in the record)")
    return await checked_form(
        request, f"/families/{family_id}#consent-title", "The withdrawal was not recorded",
        "Withdrawal of consent recorded.", problems, store_of(request).care.withdraw_consent,
        actor, int(raw) if not problems else 0, withdrawn_on=withdrawn_on, reason=reason)


@router.post("/families/{family_id}/caregivers")
async def caregiver_add(request: Request, family_id: int, form: PostedForm,
                        actor: PageActor) -> Response:
    """Add a caregiver (id and role) to a family."""
    caregiver = {"id": str(form.get("id", "")).strip(), "role": str(form.get("role", ""))}
    return await store_form(
        request, f"/families/{family_id}", "The caregiver was not added",
        f"Caregiver {caregiver['id']} added.", uc_families.add_caregiver, store_of(request), actor, family_id,
        caregiver)


@router.post("/families/{family_id}/caregivers/leave")
async def caregiver_leave(request: Request, family_id: int, form: PostedForm,
                          actor: PageActor) -> Response:
    """Record that a caregiver left the family, with the reason; their past answers stay."""
    session = get_session(request)
    caregiver = str(form.get("caregiver", ""))
    reason = str(form.get("reason", "")).strip()
    if not reason:
        session.flash("reason: say why the caregiver left (it is kept in the record)", "error")
        return redirect(request, f"/families/{family_id}")
    return await store_form(
        request, f"/families/{family_id}", "Not recorded",
        f"Recorded that {caregiver} left the family.", store_of(request).families.end_caregiver, actor,
        family_id, caregiver, reason=reason)
