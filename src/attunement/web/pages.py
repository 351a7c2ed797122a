"""Server-rendered pages for people. They work without JavaScript.

Each handler asks the store, with the signed-in actor, for exactly what it shows; the store
decides what the actor may see. State-changing forms are POSTs carrying the session's CSRF
token; a form that fails validation is shown again with what was typed and a message per field.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from attunement.store import (
    SAFETY_REVIEW_OUTCOMES,
    Actor,
    AuthError,
    Forbidden,
    NotFound,
    Store,
    StoreValidationError,
)
from attunement.store.outreach import OutreachRecords
from attunement.store.service import SESSION_FEEDBACK_ITEMS, WISH_FIELDS
from attunement.web import domain, exports
from attunement.web.deps import check_csrf, get_session, page_actor
from attunement.web.forms import (
    CAREGIVER_ROLES,
    MAX_CAREGIVERS,
    PLACEMENTS,
    FormErrors,
    caregiver_count,
    normalise_field,
    parse_family_form,
    parse_responses,
)
from attunement.web.guard import client_address

router = APIRouter(include_in_schema=False)
T = TypeVar("T")

ROLE_NAMES = {
    "admin": "Administrator",
    "practitioner": "Practitioner",
    "site_lead": "Site lead",
    "researcher": "Researcher",
    "system": "System",
}


async def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a (synchronous) store call off the event loop."""
    return await run_in_threadpool(fn, *args, **kwargs)


def _store(request: Request) -> Store:
    return request.app.state.store


def render(request: Request, name: str, context: dict[str, Any], *, status: int = 200) -> Response:
    session = get_session(request)
    context = {
        "request": request,
        "actor": getattr(request.state, "actor", None),
        "role_names": ROLE_NAMES,
        "csrf_token": session.csrf,
        "flashes": session.pop_flashes(),
        "crisis_contacts": request.app.state.settings.crisis_contacts,
        "review_outcomes": SAFETY_REVIEW_OUTCOMES,
        "errors": {},
        "values": {},
        **context,
    }
    response = request.app.state.templates.TemplateResponse(
        request, name, context, status_code=status
    )
    request.app.state.sessions.save(response, session, https=request.url.scheme == "https")
    return response


def redirect(request: Request, url: str) -> Response:
    response = RedirectResponse(url, status_code=303)
    request.app.state.sessions.save(response, get_session(request),
                                    https=request.url.scheme == "https")
    return response


def _safe_next(target: str | None) -> str:
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


# --- login ------------------------------------------------------------------------------------


@router.get("/login")
async def login_page(request: Request, next: str = "/") -> Response:
    return render(request, "login.html", {"next": _safe_next(next)})


@router.post("/login", dependencies=[Depends(check_csrf)])
async def login(request: Request) -> Response:
    form = await request.form()
    email = str(form.get("email", "")).strip()
    password = str(form.get("password", ""))
    target = _safe_next(str(form.get("next", "/")))
    values = {"email": email}
    errors = FormErrors()
    if not email:
        errors.add("email", "Enter your email address")
    if not password:
        errors.add("password", "Enter your password")
    if errors:
        return render(request, "login.html", {"next": target, "values": values,
                                              "errors": errors}, status=422)
    store = _store(request)
    client = client_address(request)
    try:
        actor = await call(store.accounts.authenticate, email, password, client=client)
    except AuthError as exc:
        if exc.retry_after:
            minutes = max(1, round(exc.retry_after / 60))
            message = (f"Too many failed attempts. For your security, sign-in is paused; try "
                       f"again in about {minutes} minute{'s' if minutes != 1 else ''}.")
            if getattr(exc, "locked", False):
                message = ("Too many failed attempts in a row: sign-in to this account is "
                           "locked. Ask your site lead or an administrator for a password "
                           "reset link.")
            response = render(request, "login.html", {"next": target, "values": values,
                                                      "errors": {"email": message}}, status=429)
            response.headers["Retry-After"] = str(int(exc.retry_after))
            return response
        errors.add("email", "The email address or password is not right")
        return render(request, "login.html", {"next": target, "values": values,
                                              "errors": errors}, status=401)
    await start_session(request, actor)
    return redirect(request, target)


async def start_session(request: Request, actor: Actor) -> None:
    """A fresh server-side session for ``actor`` in this browser (new id, new CSRF token)."""
    settings = request.app.state.settings
    sid = await call(_store(request).accounts.create_web_session, actor,
                     lifetime=settings.session_lifetime, idle=settings.session_idle)
    get_session(request).sign_in(sid)


@router.post("/logout", dependencies=[Depends(check_csrf)])
async def logout(request: Request) -> Response:
    session = get_session(request)
    store = _store(request)
    if session.sid:
        await call(store.accounts.end_web_session, session.sid)
    session.clear()
    session.flash("You have signed out.")
    return redirect(request, "/login")


# --- dashboard ------------------------------------------------------------------------------


@router.get("/")
async def dashboard(request: Request, q: str | None = None, cursor: str | None = None,
                    acursor: str | None = None, mine: bool = False, urgent: bool = False,
                    overdue: bool = False, actor: Actor = Depends(page_actor)) -> Response:
    store = _store(request)
    # the store orders the caseload: open urgent alerts first, then overdue assessments
    filters = {"mine": mine, "urgent": urgent, "overdue": overdue}
    page = await call(store.families.caseload_page, actor, q=q or None, cursor=cursor, **filters)
    alerts = await call(store.care.alerts_page, actor, cursor=acursor)
    interpreters = await call(store.families.interpreter_needs, actor)

    def page_query(**cursors: str) -> str:
        keep = {"q": q or None, **{k: "1" for k, on in filters.items() if on}, **cursors}
        return urlencode({k: val for k, val in keep.items() if val})

    return render(request, "dashboard.html", {
        "families": page["items"], "next": page["next"], "previous": page["previous"],
        "counts": page["counts"], "alerts": alerts["items"], "alerts_next": alerts["next"],
        "alerts_previous": alerts["previous"], "q": q or "", "filters": filters,
        "page_query": page_query, "interpreters": interpreters,
    })


# --- families -------------------------------------------------------------------------------


async def _family_form(request: Request, actor: Actor, values: dict[str, Any],
                       errors: FormErrors, n: int, status: int = 200) -> Response:
    store = _store(request)
    sites = await call(store.accounts.list_sites, actor)
    try:
        studies = await call(store.accounts.list_studies, actor)
    except Forbidden:
        studies = []
    return render(request, "family_new.html", {
        "sites": sites, "studies": studies, "roles": CAREGIVER_ROLES, "placements": PLACEMENTS,
        "values": values, "errors": errors, "n_caregivers": n, "max_caregivers": MAX_CAREGIVERS,
        "context_choices": domain.context_choices(),
    }, status=status)


@router.get("/families/new")
async def family_new(request: Request, actor: Actor = Depends(page_actor)) -> Response:
    values = {"caregivers.0.id": "cg1", "caregivers.1.id": "cg2", "placement": "birth_family"}
    return await _family_form(request, actor, values, FormErrors(), 2)


@router.post("/families/new", dependencies=[Depends(check_csrf)])
async def family_create(request: Request, actor: Actor = Depends(page_actor)) -> Response:
    form = await request.form()
    values = {k: v for k, v in form.items() if k != "csrf_token" and isinstance(v, str)}
    n = caregiver_count(form)
    if form.get("add_caregiver"):
        n = min(MAX_CAREGIVERS, n + 1)
        values.setdefault(f"caregivers.{n - 1}.id", f"cg{n}")
        return await _family_form(request, actor, values, FormErrors(), n)
    payload, errors = parse_family_form(form)
    if not errors:
        try:
            family = await call(_store(request).families.create_family, actor, payload)
        except StoreValidationError as exc:
            errors.add(normalise_field(exc.field) or "family_id", exc.reason)
        else:
            get_session(request).flash(f"Family {family.get('family_id', '')} registered.")
            return redirect(request, f"/families/{family['id']}")
    return await _family_form(request, actor, values, errors, n, status=422)


def _charts(family: dict[str, Any]) -> list[dict[str, Any]]:
    """One chart per caregiver × instrument: the main scale over time with its cut-offs."""
    from attunement.web.charts import score_chart

    assessments = family.get("assessments") or []
    superseded = {a.get("corrected_from") for a in assessments if a.get("corrected_from")}
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for a in assessments:
        if a.get("id") in superseded:
            continue
        grouped.setdefault((str(a.get("caregiver")), str(a.get("instrument"))), []).append(a)
    charts = []
    for (caregiver, instrument), rows in grouped.items():
        spec = domain.chart_spec(instrument)
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
async def family_page(request: Request, family_id: int,
                      actor: Actor = Depends(page_actor)) -> Response:
    store = _store(request)
    family = await call(store.families.get_family, actor, family_id)
    document = await call(store.families.family_document, actor, family_id)
    try:
        profile: dict[str, Any] | None = domain.profile(document)
        matches = domain.matches(document)
        profile_problem = None
    except domain.ProfileUnavailable as exc:
        profile, matches, profile_problem = None, None, exc
    alerts = [a for a in family.get("alerts") or [] if a.get("status") == "open"]
    from attunement.web.cascade import referral_section

    outreach = OutreachRecords(store)
    messages = await call(outreach.list_messages, actor, family_id)
    contact = (await call(outreach.contact_preferences, actor, family_id)
               if actor.sees_identifiers else None)
    clinical = actor.role in ("practitioner", "site_lead", "admin")
    released = await call(store.care.released_results, actor, family_id) if clinical else {}
    contributions = await call(store.care.list_contributions, actor, family_id) if clinical else []
    return render(request, "family.html", {
        **await referral_section(store, actor, family_id),
        "family": family, "profile": profile, "matches": matches, "alerts": alerts,
        "urgency": domain.urgency_level((profile or {}).get("urgency", "none")),
        "messages": messages, "contact": contact,
        "profile_problem": profile_problem, "roles": CAREGIVER_ROLES,
        "charts": _charts(family), "instruments": domain.instrument_choices(),
        "time_points": domain.time_points(family), "today": dt.date.today().isoformat(),
        "programmes": _programmes(matches),
        "default_time_point": _default_time_point(family),
        "consent_kinds": CONSENT_KINDS, "released": released, "contributions": contributions,
        "feedback_items": SESSION_FEEDBACK_ITEMS,
        "page_languages": domain.caregiver_languages(),
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


@router.post("/families/{family_id}/consents", dependencies=[Depends(check_csrf)])
async def consent_add(request: Request, family_id: int,
                      actor: Actor = Depends(page_actor)) -> Response:
    """Record a consent given by the family or one caregiver."""
    form = await request.form()
    session = get_session(request)
    kind = str(form.get("kind", "")).strip()
    version = str(form.get("version", "")).strip()
    given = str(form.get("given_on", "")).strip()
    caregiver = str(form.get("caregiver", "")).strip() or None
    problems = []
    if not kind:
        problems.append("Consent to (kind): choose what was consented to")
    if not version:
        problems.append("version: name the version of the information sheet and form")
    try:
        given_on = dt.date.fromisoformat(given)
    except ValueError:
        problems.append(f"given on: '{given}' is not a date written YYYY-MM-DD")
    if problems:
        session.flash("Consent was not recorded — " + "; ".join(problems), "error")
        return redirect(request, f"/families/{family_id}#consent-title")
    try:
        await call(_store(request).care.add_consent, actor, family_id, kind=kind, version=version,
                   given_on=given_on, caregiver=caregiver)
    except StoreValidationError as exc:
        session.flash(f"Consent was not recorded — {exc.field}: {exc.reason}", "error")
    else:
        session.flash(f"Consent recorded ({kind.replace('_', ' ')}, form {version}).")
    return redirect(request, f"/families/{family_id}#consent-title")


@router.post("/families/{family_id}/consents/withdraw", dependencies=[Depends(check_csrf)])
async def consent_withdraw(request: Request, family_id: int,
                           actor: Actor = Depends(page_actor)) -> Response:
    """Record that a consent of this family was withdrawn (the consent record is kept)."""
    form = await request.form()
    session = get_session(request)
    raw = str(form.get("consent", "")).strip()
    when = str(form.get("withdrawn_on", "")).strip()
    reason = str(form.get("reason", "")).strip()
    family = await call(_store(request).families.get_family, actor, family_id)
    ids = {str(c["id"]) for c in family.get("consents") or []}
    problems = []
    if raw not in ids:
        problems.append("consent: choose one of this family's consents")
    try:
        withdrawn_on = dt.date.fromisoformat(when)
    except ValueError:
        problems.append(f"withdrawn on: '{when}' is not a date written YYYY-MM-DD")
    if not reason:
        problems.append("reason: say why consent was withdrawn (it is kept in the record)")
    if problems:
        session.flash("The withdrawal was not recorded — " + "; ".join(problems), "error")
        return redirect(request, f"/families/{family_id}#consent-title")
    try:
        await call(_store(request).care.withdraw_consent, actor, int(raw),
                   withdrawn_on=withdrawn_on, reason=reason)
    except StoreValidationError as exc:
        session.flash(f"The withdrawal was not recorded — {exc.field}: {exc.reason}", "error")
    else:
        session.flash("Withdrawal of consent recorded.")
    return redirect(request, f"/families/{family_id}#consent-title")


@router.post("/families/{family_id}/caregivers", dependencies=[Depends(check_csrf)])
async def caregiver_add(request: Request, family_id: int,
                        actor: Actor = Depends(page_actor)) -> Response:
    form = await request.form()
    session = get_session(request)
    caregiver = {"id": str(form.get("id", "")).strip(), "role": str(form.get("role", ""))}
    try:
        await call(_store(request).families.add_caregiver, actor, family_id, caregiver)
    except StoreValidationError as exc:
        session.flash(f"The caregiver was not added — {exc.field}: {exc.reason}", "error")
    else:
        session.flash(f"Caregiver {caregiver['id']} added.")
    return redirect(request, f"/families/{family_id}")


@router.post("/families/{family_id}/caregivers/leave", dependencies=[Depends(check_csrf)])
async def caregiver_leave(request: Request, family_id: int,
                          actor: Actor = Depends(page_actor)) -> Response:
    form = await request.form()
    session = get_session(request)
    caregiver = str(form.get("caregiver", ""))
    reason = str(form.get("reason", "")).strip()
    if not reason:
        session.flash("reason: say why the caregiver left (it is kept in the record)", "error")
        return redirect(request, f"/families/{family_id}")
    try:
        await call(_store(request).families.end_caregiver, actor, family_id, caregiver, reason=reason)
    except StoreValidationError as exc:
        session.flash(f"Not recorded — {exc.field}: {exc.reason}", "error")
    else:
        session.flash(f"Recorded that {caregiver} left the family.")
    return redirect(request, f"/families/{family_id}")


# --- assessments ----------------------------------------------------------------------------


def _assessment_context(request: Request, family: dict[str, Any], caregiver: str,
                        instrument_id: str, time_point: str) -> dict[str, Any]:
    form = domain.instrument_form(instrument_id, request.app.state.item_texts,
                                  samples=request.app.state.settings.sample_text_packs)
    return {"family": family, "caregiver": caregiver, "time_point": time_point, "form": form}


@router.get("/families/{family_id}/assess")
async def assessment_form(request: Request, family_id: int, caregiver: str = "",
                          instrument: str = "", time_point: str = "",
                          actor: Actor = Depends(page_actor)) -> Response:
    family = await call(_store(request).families.get_family, actor, family_id)
    errors = FormErrors()
    if not domain.has_instrument(instrument):
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


@router.post("/families/{family_id}/assess", dependencies=[Depends(check_csrf)])
async def assessment_submit(request: Request, family_id: int,
                            actor: Actor = Depends(page_actor)) -> Response:
    form = await request.form()
    caregiver = str(form.get("caregiver", ""))
    instrument = str(form.get("instrument", ""))
    time_point = str(form.get("time_point", ""))
    store = _store(request)
    family = await call(store.families.get_family, actor, family_id)
    if not domain.has_instrument(instrument):
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
            assessment = await call(store.assessments.add_assessment, actor, family_id, caregiver,
                                    instrument, time_point, responses)
        except StoreValidationError as exc:
            errors.add(_item_field(exc.field), exc.reason)
        else:
            session = get_session(request)
            if domain.is_urgent(assessment):
                session.flash("URGENT: a safety answer needs a same-day review. An alert is open "
                              "on the dashboard.", "urgent")
            session.flash(f"{spec.name} saved for {caregiver} ({time_point}).")
            return redirect(request, f"/families/{family_id}")
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    return render(request, "assessment.html", {**context, "values": values, "errors": errors},
                  status=422)


def _item_field(field: str) -> str:
    """Map a store field path ``responses.10`` (1-based position) to the form's ``item.10``."""
    field = normalise_field(field)
    parts = field.split(".")
    if len(parts) == 2 and parts[0] == "responses" and parts[1].isdigit():
        return f"item.{int(parts[1])}"
    return field or "form"


# --- caregiver links ------------------------------------------------------------------------


@router.post("/families/{family_id}/links", dependencies=[Depends(check_csrf)])
async def link_create(request: Request, family_id: int,
                      actor: Actor = Depends(page_actor)) -> Response:
    form = await request.form()
    caregiver = str(form.get("caregiver", ""))
    instrument = str(form.get("instrument", ""))
    time_point = str(form.get("time_point", "")).strip()
    store = _store(request)
    hours = request.app.state.settings.link_hours
    try:
        secret = await call(store.care.create_link, actor, family_id, caregiver, instrument,
                            time_point, hours=hours)
    except StoreValidationError as exc:
        get_session(request).flash(f"The link was not created — {exc.field}: {exc.reason}", "error")
        return redirect(request, f"/families/{family_id}#links")
    from attunement.web.api import link_url

    family = await call(store.families.get_family, actor, family_id)
    return render(request, "link_created.html", {
        "family": family, "url": link_url(request, secret), "caregiver": caregiver,
        "instrument": domain.instrument_name(instrument), "time_point": time_point,
        "hours": hours,
    })


@router.get("/c/{token}")
async def caregiver_page(request: Request, token: str) -> Response:
    try:
        info = await call(_store(request).care.open_link, token)
    except NotFound:
        return render(request, "caregiver_gone.html", {}, status=404)
    language = info.get("language") or "en"
    form = domain.instrument_form(info["instrument"], request.app.state.item_texts, language,
                                 samples=request.app.state.settings.sample_text_packs)
    return render(request, "caregiver.html", {"info": info, "form": form, "token": token,
                                              "words": domain.caregiver_words(language)})


@router.post("/c/{token}", dependencies=[Depends(check_csrf)])
async def caregiver_submit(request: Request, token: str) -> Response:
    store = _store(request)
    try:
        info = await call(store.care.open_link, token)
    except NotFound:
        return render(request, "caregiver_gone.html", {}, status=404)
    language = info.get("language") or "en"
    words = domain.caregiver_words(language)
    spec = domain.instrument_form(info["instrument"], request.app.state.item_texts, language,
                                 samples=request.app.state.settings.sample_text_packs)
    form = await request.form()
    responses, errors = parse_responses(
        form, len(spec.items), [item.values for item in spec.items],
        {item.position for item in spec.items if item.optional},
        unanswered=words["unanswered"],
    )
    if not errors:
        try:
            assessment = await call(store.care.submit_link, token, responses)
        except NotFound:
            return render(request, "caregiver_gone.html", {}, status=404)
        except StoreValidationError as exc:
            errors.add(_item_field(exc.field), exc.reason)
        else:
            return render(request, "caregiver_done.html", {
                "words": words,
                "urgent": domain.shows_crisis_contacts(assessment),
                "unanswered": domain.safety_item_unanswered(assessment),
                "contacts": request.app.state.settings.crisis_contacts,
            })
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    return render(request, "caregiver.html", {"info": info, "form": spec, "token": token,
                                              "values": values, "errors": errors,
                                              "words": words}, status=422)


# --- the caregiver's own space and voice (issue 13) ------------------------------------------


@router.get("/s/{token}")
async def caregiver_space(request: Request, token: str) -> Response:
    """The caregiver's own space (no account): released results explained in their language."""
    try:
        info = await call(_store(request).care.open_space, token)
    except NotFound:
        words = domain.caregiver_words("en")
        return render(request, "caregiver_space_gone.html", {"words": words}, status=404)
    words = domain.caregiver_words(info.get("language") or "en")
    return render(request, "caregiver_space.html", {
        "words": words, "results": domain.plain_results(info["results"], words),
        "episodes": info["episodes"], "token": token, "told": info["contributions"],
        "due": [{**d, "name": domain.instrument_short_name(d["instrument"])}
                for d in info["due"]],
        "feedback_items": SESSION_FEEDBACK_ITEMS, "wish_fields": WISH_FIELDS,
    })


@router.post("/s/{token}/start", dependencies=[Depends(check_csrf)])
async def caregiver_start(request: Request, token: str) -> Response:
    """From the caregiver's space: open one questionnaire that is due (a fresh one-time link)."""
    form = await request.form()
    try:
        secret = await call(_store(request).care.start_due_questionnaire, token,
                            str(form.get("instrument", "")), str(form.get("time_point", "")),
                            hours=request.app.state.settings.link_hours)
    except NotFound:
        return render(request, "caregiver_space_gone.html",
                      {"words": domain.caregiver_words("en")}, status=404)
    except StoreValidationError:
        return RedirectResponse(f"/s/{quote(token)}", status_code=303)
    return RedirectResponse(f"/c/{quote(secret)}", status_code=303)


@router.post("/s/{token}/{kind}", dependencies=[Depends(check_csrf)])
async def caregiver_contribute(request: Request, token: str, kind: str) -> Response:
    """What a caregiver tells the service from their space: wishes or session feedback."""
    store = _store(request)
    try:
        info = await call(store.care.open_space, token)
    except NotFound:
        return render(request, "caregiver_space_gone.html",
                      {"words": domain.caregiver_words("en")}, status=404)
    words = domain.caregiver_words(info.get("language") or "en")
    form = await request.form()
    if kind == "wishes":
        data: dict[str, Any] = {k: str(form.get(k, "")) for k in WISH_FIELDS}
        stored_kind = "wishes"
    elif kind == "feedback":
        data = {"episode": str(form.get("episode", "")), "comment": str(form.get("comment", "")),
                "ratings": {k: str(form.get(f"rating.{k}", "")) for k in SESSION_FEEDBACK_ITEMS}}
        stored_kind = "session_feedback"
    else:
        raise NotFound("no such page")
    context: dict[str, Any] = {
        "words": words, "results": domain.plain_results(info["results"], words),
        "episodes": info["episodes"], "token": token, "told": info["contributions"],
        "due": [{**d, "name": domain.instrument_short_name(d["instrument"])}
                for d in info["due"]],
        "feedback_items": SESSION_FEEDBACK_ITEMS, "wish_fields": WISH_FIELDS,
    }
    try:
        await call(store.care.contribute, token, stored_kind, data)
    except StoreValidationError as exc:
        field = exc.field.replace("ratings.", "rating.")
        label = words.get(f"feedback_{exc.field.split('.')[-1]}") if "ratings." in exc.field \
            else words.get(exc.field, exc.field)
        context.update(values={k: v for k, v in form.items() if isinstance(v, str)},
                       errors={field: f"{label}: {exc.reason}"}, sent_error=kind)
        return render(request, "caregiver_space.html", context, status=422)
    info = await call(store.care.open_space, token)  # the record now includes what was sent
    context.update(sent=kind, told=info["contributions"])
    return render(request, "caregiver_space.html", context)


@router.post("/families/{family_id}/caregivers/{caregiver}/language",
             dependencies=[Depends(check_csrf)])
async def caregiver_language(request: Request, family_id: int, caregiver: str,
                             actor: Actor = Depends(page_actor)) -> Response:
    """Record the language of a caregiver's own pages and whether they need an interpreter."""
    form = await request.form()
    session = get_session(request)
    try:
        await call(_store(request).families.set_caregiver_language, actor, family_id, caregiver,
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
                             actor: Actor = Depends(page_actor)) -> Response:
    """Release one result to the caregiver's own space."""
    session = get_session(request)
    try:
        await call(_store(request).care.release_assessment, actor, assessment_id)
    except StoreValidationError as exc:
        session.flash(f"The result was not released — {exc.reason}", "error")
    else:
        session.flash("Result released to the caregiver's space.")
    return redirect(request, f"/families/{family_id}#voice-title")


@router.post("/families/{family_id}/space-links", dependencies=[Depends(check_csrf)])
async def space_link_create(request: Request, family_id: int,
                            actor: Actor = Depends(page_actor)) -> Response:
    """A link to a caregiver's own space, shown once."""
    form = await request.form()
    caregiver = str(form.get("caregiver", ""))
    store = _store(request)
    try:
        secret = await call(store.care.create_space_link, actor, family_id, caregiver)
    except StoreValidationError as exc:
        get_session(request).flash(f"The link was not created — {exc.field}: {exc.reason}",
                                   "error")
        return redirect(request, f"/families/{family_id}#voice-title")
    family = await call(store.families.get_family, actor, family_id)
    base = request.app.state.settings.public_url or str(request.base_url).rstrip("/")
    url = f"{base}/s/{secret}"
    return render(request, "space_link_created.html", {
        "family": family, "url": url, "caregiver": caregiver, "days": 30})


# --- alerts and episodes --------------------------------------------------------------------


def _back(form: Any, fallback: str = "/") -> str:
    return _safe_next(str(form.get("back", fallback)))


@router.post("/alerts/{alert_id}/acknowledge", dependencies=[Depends(check_csrf)])
async def alert_acknowledge(request: Request, alert_id: int,
                            actor: Actor = Depends(page_actor)) -> Response:
    form = await request.form()
    note = str(form.get("note", "")).strip()
    outcome = str(form.get("outcome", "")).strip()
    session = get_session(request)
    if not note or not outcome:
        session.flash("To acknowledge an alert, record the safety review: what was done (the note "
                      "field) and its outcome.", "error")
        return redirect(request, _back(form))
    try:
        await call(_store(request).care.acknowledge_alert, actor, alert_id, note=note,
                   outcome=outcome)
    except StoreValidationError as exc:
        session.flash(f"{exc.field}: {exc.reason}", "error")
    else:
        session.flash("Alert acknowledged.")
    return redirect(request, _back(form))


@router.post("/families/{family_id}/episodes", dependencies=[Depends(check_csrf)])
async def episode_add(request: Request, family_id: int,
                      actor: Actor = Depends(page_actor)) -> Response:
    form = await request.form()
    session = get_session(request)
    programme = str(form.get("programme", "")).strip()
    start = str(form.get("start", "")).strip()
    caregivers = [str(c) for c in form.getlist("caregivers")]
    problems = []
    if not programme:
        problems.append("programme: choose a programme")
    try:
        start_date = dt.date.fromisoformat(start)
    except ValueError:
        problems.append(f"start: '{start}' is not a date written YYYY-MM-DD")
    if problems:
        session.flash("The episode was not started — " + "; ".join(problems), "error")
        return redirect(request, f"/families/{family_id}#episodes")
    try:
        await call(_store(request).care.add_episode, actor, family_id, programme, start_date,
                   caregivers=caregivers)
    except StoreValidationError as exc:
        session.flash(f"The episode was not started — {exc.field}: {exc.reason}", "error")
    else:
        session.flash("Intervention episode started.")
    return redirect(request, f"/families/{family_id}#episodes")


@router.post("/episodes/{episode_id}", dependencies=[Depends(check_csrf)])
async def episode_update(request: Request, episode_id: int,
                         actor: Actor = Depends(page_actor)) -> Response:
    form = await request.form()
    session = get_session(request)
    back = _back(form)
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
        try:
            changes["end"] = dt.date.fromisoformat(end)
        except ValueError:
            problems.append(f"end: '{end}' is not a date written YYYY-MM-DD")
        reason = str(form.get("reason", "")).strip()
        if not reason:
            problems.append("reason: say why the episode ended")
        changes["end_reason"] = reason
        changes["reason"] = reason
    if problems:
        session.flash("The episode was not updated — " + "; ".join(problems), "error")
        return redirect(request, back)
    try:
        await call(_store(request).care.update_episode, actor, episode_id, **changes)
    except StoreValidationError as exc:
        session.flash(f"The episode was not updated — {exc.field}: {exc.reason}", "error")
    else:
        session.flash("Episode updated.")
    return redirect(request, back)


# --- administration -------------------------------------------------------------------------


async def _admin(request: Request, actor: Actor, *, values: dict[str, Any] | None = None,
                 errors: FormErrors | None = None, status: int = 200) -> Response:
    store = _store(request)
    users = await call(store.accounts.list_users, actor)
    sites = await call(store.accounts.list_sites, actor)
    studies = await call(store.accounts.list_studies, actor)
    return render(request, "admin.html", {
        "users": users, "sites": sites, "studies": studies, "values": values or {},
        "errors": errors or FormErrors(), "roles": ["practitioner", "site_lead", "researcher",
                                                     "admin"],
    }, status=status)


@router.get("/admin")
async def admin_page(request: Request, actor: Actor = Depends(page_actor)) -> Response:
    return await _admin(request, actor)


@router.post("/admin/sites", dependencies=[Depends(check_csrf)])
async def admin_add_site(request: Request, actor: Actor = Depends(page_actor)) -> Response:
    form = await request.form()
    name = str(form.get("site.name", "")).strip()
    errors = FormErrors()
    if not name:
        errors.add("site.name", "Enter the site's name")
    else:
        try:
            await call(_store(request).accounts.add_site, actor, name)
        except StoreValidationError as exc:
            errors.add("site.name", exc.reason)
        else:
            get_session(request).flash(f"Site '{name}' added.")
            return redirect(request, "/admin")
    return await _admin(request, actor, values={"site.name": name}, errors=errors, status=422)


@router.post("/admin/users", dependencies=[Depends(check_csrf)])
async def admin_add_user(request: Request, actor: Actor = Depends(page_actor)) -> Response:
    form = await request.form()
    email = str(form.get("user.email", "")).strip()
    role = str(form.get("user.role", ""))
    sites = [str(s) for s in form.getlist("user.sites")]
    password = str(form.get("user.password", ""))
    errors = FormErrors()
    if "@" not in email:
        errors.add("user.email", "Enter the person's email address, e.g. name@example.org")
    if role not in {"practitioner", "site_lead", "researcher", "admin"}:
        errors.add("user.role", "Choose a role")
    if not password:
        errors.add("user.password", "Enter a first password")
    studies = [str(s) for s in form.getlist("user.studies")]
    if not errors:
        try:
            await call(_store(request).accounts.add_user, actor, email, role, sites, password,
                       studies=studies or None)
        except StoreValidationError as exc:
            errors.add("user." + normalise_field(exc.field).split(".")[0], exc.reason)
        else:
            get_session(request).flash(f"User {email} added as {ROLE_NAMES.get(role, role)}.")
            return redirect(request, "/admin")
    values: dict[str, Any] = {"user.email": email, "user.role": role, "user.sites": sites,
                              "user.studies": studies}
    return await _admin(request, actor, values=values, errors=errors, status=422)


@router.post("/admin/studies", dependencies=[Depends(check_csrf)])
async def admin_add_study(request: Request, actor: Actor = Depends(page_actor)) -> Response:
    form = await request.form()
    name = str(form.get("study.name", "")).strip()
    sites = [str(s) for s in form.getlist("study.sites")]
    schedule = str(form.get("study.schedule", ""))
    errors = FormErrors()
    if not name:
        errors.add("study.name", "Enter the study's name")
    if not sites:
        errors.add("study.sites", "Choose at least one site")
    time_points = []
    for line_no, line in enumerate(schedule.splitlines(), start=1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split(",")]
        try:
            tp_name, offset, window = parts[0], int(parts[1]), int(parts[2])
            instruments = [p for p in parts[3].split() if p]
            if not tp_name or not instruments:
                raise ValueError
        except (IndexError, ValueError):
            errors.add("study.schedule", f"Line {line_no} should read 'name, offset days, "
                       f"window days, instrument ids' — e.g. '6w, 42, 14, epds phq9'")
            break
        time_points.append({"name": tp_name, "offset_days": offset, "window_days": window,
                            "instruments": instruments})
    if not time_points and "study.schedule" not in errors:
        errors.add("study.schedule", "Enter at least one time point")
    if not errors:
        try:
            await call(_store(request).accounts.add_study, actor, name, sites, time_points)
        except StoreValidationError as exc:
            errors.add("study." + (normalise_field(exc.field).split(".")[0] or "name"), exc.reason)
        else:
            get_session(request).flash(f"Study '{name}' added.")
            return redirect(request, "/admin")
    values = {"study.name": name, "study.sites": sites, "study.schedule": schedule}
    return await _admin(request, actor, values=values, errors=errors, status=422)


# --- exports and audit ----------------------------------------------------------------------


@router.get("/exports")
async def exports_page(request: Request, actor: Actor = Depends(page_actor)) -> Response:
    try:
        studies = await call(_store(request).accounts.list_studies, actor)
    except Forbidden:
        studies = []
    return render(request, "exports.html", {"studies": studies, "formats": exports.FORMATS})


@router.post("/exports", dependencies=[Depends(check_csrf)])
async def exports_download(request: Request, actor: Actor = Depends(page_actor)) -> Response:
    form = await request.form()
    fmt = str(form.get("format", "csv"))
    study_raw = str(form.get("study", "")).strip()
    if fmt not in exports.FORMATS:
        get_session(request).flash(f"format: unknown export format '{fmt}'", "error")
        return redirect(request, "/exports")
    study = int(study_raw) if study_raw.isdigit() else None
    identifiable = form.get("identifiable") == "yes"
    if fmt in exports.STREAMED:
        return await call(exports.streamed, _store(request), actor, fmt, study=study,
                          pseudonymise=None if identifiable else True)
    frame = await call(_store(request).exports.export_assessments, actor, study=study,
                       pseudonymise=None if identifiable else True)
    return exports.response(frame, fmt)  # type: ignore[arg-type]


@router.get("/audit")
async def audit_page(request: Request, family: str = "", action: str = "", who: str = "",
                     before: int | None = None,
                     actor: Actor = Depends(page_actor)) -> Response:
    """The audit log, newest first, a page at a time, filtered by family code, action or person;
    families are named by their codes, never by internal ids."""
    store = _store(request)
    codes = {f["id"]: f["family_id"] for f in await call(store.families.list_families, actor)}
    family, action, who = family.strip(), action.strip(), who.strip().lower()
    family_id = next((fid for fid, code in codes.items() if code == family), None)
    problem = None
    if family and family_id is None:
        problem = f"family: no family with the code “{family}” in your sites"
    rows: list[dict[str, Any]] = []
    more = False
    if problem is None:
        # the store returns the newest rows: ask for enough to fill this page after filtering
        wanted = AUDIT_PAGE + 1
        limit = wanted
        while True:
            found = await call(store.maintenance.audit_log, actor, limit=limit, family_id=family_id)
            picked = [r for r in found
                      if (before is None or r["id"] < before)
                      and (not action or action in _audit_action(r))
                      and (not who or who in str(r.get("actor") or "system").lower())]
            if len(picked) >= wanted or len(found) < limit or limit >= AUDIT_SCAN:
                break
            limit = min(limit * 4, AUDIT_SCAN)
        more = len(picked) > AUDIT_PAGE
        rows = picked[:AUDIT_PAGE]
    for r in rows:
        r["family_code"] = codes.get(r.get("family_id"))
        r["what"] = _audit_action(r)
    query = {k: v for k, v in (("family", family), ("action", action), ("who", who)) if v}
    older = ("/audit?" + urlencode({**query, "before": rows[-1]["id"]})) if more else None
    return render(request, "audit.html", {
        "rows": rows, "older": older, "newest": "/audit?" + urlencode(query) if before else None,
        "filters": {"family": family, "action": action, "who": who}, "problem": problem,
        "actions": sorted(set(AUDIT_WORDS.values())),
    })


AUDIT_PAGE = 100
AUDIT_SCAN = 10000  # the store's largest page; filters look at most this far back
# (action, entity) -> what a person reads; others are shown as "action entity"
AUDIT_WORDS = {("login", "user"): "signed in", ("create", "web_session"): "session started",
               ("revoke", "web_session"): "session ended",
               ("login_failed", "user"): "failed sign-in", ("create", "family"): "registered family",
               ("create", "consent"): "recorded consent", ("update", "consent"): "consent withdrawn",
               ("create", "api_token"): "API token created", ("revoke", "api_token"):
               "API token revoked"}


def _audit_action(row: dict[str, Any]) -> str:
    key = (str(row.get("action") or ""), str(row.get("entity") or ""))
    return AUDIT_WORDS.get(key) or " ".join(p.replace("_", " ") for p in key if p)


def login_url(path: str) -> str:
    return "/login?next=" + quote(path, safe="/")
