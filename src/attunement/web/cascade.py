"""Referrals and the care cascade on the web.

API (bearer token): ``GET|POST /api/families/{id}/referrals``, ``GET /api/referrals/{id}``,
``POST /api/referrals/{id}/stages`` (the next stage: accepted, declined, started, completed,
ended), ``GET /api/cascade`` (the cascade of the user's families, ``?site=&study=``) and
``GET /api/cascade.csv``.

Pages: ``/cascade`` (the dashboard: stages, time between them, 30-day follow-up, coverage and
equity, server-side SVG charts, CSV download), ``POST /families/{id}/referrals`` and
``POST /referrals/{id}/stage`` (the referrals section of the family page).

The store (:class:`attunement.store.referrals.Referrals`) decides scope and roles; the
computation is :func:`attunement.cascade.compute_cascade` over the tables the store hands over.
"""

from __future__ import annotations

import datetime as dt
from html import escape
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from attunement.cascade import (
    ALL_SITES,
    STAGES,
    CascadeResult,
    cascade_csv,
    compute_cascade,
)
from attunement.store import Actor, Store, StoreValidationError
from attunement.store.referrals import ROUTES, Referrals
from attunement.web.deps import api_actor, check_csrf, get_session, get_store, page_actor

api_router = APIRouter(prefix="/api", tags=["referrals"])
pages_router = APIRouter(include_in_schema=False)
router = APIRouter()

STAGE_LABELS = {
    "screened": "Screened", "positive": "Positive screen", "referred": "Referred",
    "engaged": "Engaged (first session)", "completed": "Completed", "improved":
    "Reliably improved",
}


# --- use case -------------------------------------------------------------------------------


def cascade_report(store: Store, actor: Actor, *, site: int | None = None,
                   study: int | None = None) -> CascadeResult:
    """The cascade of the actor's families (optionally one site and/or study)."""
    tables = Referrals(store).cascade_tables(actor, site=site, study=study)
    return compute_cascade(*tables)


# --- API models -----------------------------------------------------------------------------


class ReferralIn(BaseModel):
    kind: Literal["programme", "route"] = Field(
        description="programme: a programme id of the intervention catalogue; route: a "
        "treatment route for the caregiver's own health (" + ", ".join(ROUTES) + ", or "
        "another route id)")
    target: str = Field(min_length=1, max_length=100)
    offered_on: dt.date
    caregiver: str | None = Field(None, description="The caregiver's id in the family; "
                                  "omit for a referral of the whole family")


class StageIn(BaseModel):
    stage: Literal["accepted", "declined", "started", "completed", "ended"]
    on: dt.date
    reason: str | None = Field(None, max_length=1000, description="Required for declined "
                               "and ended; never shown to researchers")
    episode: int | None = Field(None, description="started: the intervention episode it "
                                "started (default: the family's episode of the same "
                                "programme starting that day)")


class OutcomeOut(BaseModel):
    instrument: str
    before: float | None
    before_on: str | None
    after: float
    after_on: str
    n_after: int
    change: float | None
    reliable_change: float
    improved: bool | None
    source: str


class ReferralOut(BaseModel):
    """A referral. Staff see dates and reasons; researchers see keyed-hash ids and days from
    the offer (``*_day``), never free-text reasons."""

    id: int
    family: int | str
    caregiver: str | None
    kind: str
    target: str
    target_label: str
    status: str
    next_stages: list[str]
    offered_on: str | None = None
    accepted_on: str | None = None
    declined_on: str | None = None
    decline_reason: str | None = None
    first_session_on: str | None = None
    completed_on: str | None = None
    ended_on: str | None = None
    end_reason: str | None = None
    episode: int | None = None
    created_at: str | None = None
    offered_day: int | None = None
    accepted_day: int | None = None
    declined_day: int | None = None
    first_session_day: int | None = None
    completed_day: int | None = None
    ended_day: int | None = None
    outcomes: list[OutcomeOut] = Field(default_factory=list)


class StageCount(BaseModel):
    site: str
    stage: str
    count: int
    percent_of_previous: float | None


class StageDays(BaseModel):
    site: str
    from_stage: str
    to_stage: str
    n: int
    median_days: float | None


class EquityRow(BaseModel):
    dimension: str
    group: str
    registered: int
    screened: int
    coverage: float | None
    positive: int
    referred: int
    engaged: int


class FollowUpRow(BaseModel):
    site: str
    positive: int
    followed_up: int
    rate: float | None


class CascadeOut(BaseModel):
    stages: list[StageCount]
    stage_days: list[StageDays]
    equity: list[EquityRow]
    follow_up_30d: list[FollowUpRow]


def _records(df: Any) -> list[dict[str, Any]]:
    import math

    out = []
    for row in df.to_dict("records"):
        out.append({k: (None if isinstance(v, float) and math.isnan(v) else v)
                    for k, v in row.items()})
    return out


def _cascade_out(result: CascadeResult) -> CascadeOut:
    return CascadeOut(
        stages=[StageCount(**r) for r in _records(result.stages)],
        stage_days=[StageDays(**r) for r in _records(result.stage_days)],
        equity=[EquityRow(**r) for r in _records(result.equity)],
        follow_up_30d=[FollowUpRow(**r) for r in _records(result.follow_up)],
    )


# --- API routes -----------------------------------------------------------------------------


@api_router.get("/families/{family_id}/referrals", response_model=list[ReferralOut])
def list_referrals(family_id: int, actor: Actor = Depends(api_actor),
                   store: Store = Depends(get_store)) -> list[dict]:
    """The family's referrals and their stages, oldest offer first."""
    return Referrals(store).list_referrals(actor, family_id)


@api_router.post("/families/{family_id}/referrals", response_model=ReferralOut,
                 status_code=201)
def add_referral(family_id: int, body: ReferralIn, actor: Actor = Depends(api_actor),
                 store: Store = Depends(get_store)) -> dict:
    """Record that a programme or treatment route was offered."""
    return Referrals(store).add_referral(actor, family_id, kind=body.kind, target=body.target,
                                         offered_on=body.offered_on, caregiver=body.caregiver)


@api_router.get("/referrals/{referral_id}", response_model=ReferralOut)
def get_referral(referral_id: int, actor: Actor = Depends(api_actor),
                 store: Store = Depends(get_store)) -> dict:
    """One referral, with the referred caregiver's measures after the referral date."""
    return Referrals(store).get_referral(actor, referral_id)


@api_router.post("/referrals/{referral_id}/stages", response_model=ReferralOut)
def record_stage(referral_id: int, body: StageIn, actor: Actor = Depends(api_actor),
                 store: Store = Depends(get_store)) -> dict:
    """Move the referral to its next stage (order enforced: 422 naming the field)."""
    return Referrals(store).record_stage(actor, referral_id, body.stage, on=body.on,
                                         reason=body.reason, episode_id=body.episode)


@api_router.get("/cascade", response_model=CascadeOut)
def get_cascade(site: int | None = None, study: int | None = None,
                actor: Actor = Depends(api_actor),
                store: Store = Depends(get_store)) -> CascadeOut:
    """The care cascade of the user's families, per site and over all of them."""
    return _cascade_out(cascade_report(store, actor, site=site, study=study))


@api_router.get("/cascade.csv", response_class=Response,
                responses={200: {"content": {"text/csv": {}}}})
def get_cascade_csv(site: int | None = None, study: int | None = None,
                    actor: Actor = Depends(api_actor),
                    store: Store = Depends(get_store)) -> Response:
    """The cascade as CSV (text cells neutralised against spreadsheet formula injection)."""
    return _csv_response(cascade_report(store, actor, site=site, study=study))


def _csv_response(result: CascadeResult) -> Response:
    return Response(cascade_csv(result), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="cascade.csv"'})


# --- charts ---------------------------------------------------------------------------------


def cascade_chart(site: str, counts: list[tuple[str, int]], *, width: int = 560) -> str:
    """A horizontal bar chart of one site's cascade as inline SVG (no JavaScript): one bar per
    stage, labelled with the stage, the count and the share of the first stage."""
    bar_h, gap, left, right, top = 22, 8, 190, 150, 30
    height = top + len(counts) * (bar_h + gap) + 10
    first = counts[0][1] if counts else 0
    top_n = max((n for _, n in counts), default=0) or 1
    plot_w = width - left - right
    title = f"Care cascade: {site}"
    desc = "; ".join(f"{STAGE_LABELS.get(s, s)} {n}" for s, n in counts)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" class="cascade-chart">',
        f"<title>{escape(title)}</title><desc>{escape(desc)}</desc>",
        f'<text x="0" y="18" font-size="15" font-weight="bold" fill="#1a1a1a">'
        f"{escape(title)}</text>",
    ]
    for i, (stage, n) in enumerate(counts):
        y = top + i * (bar_h + gap)
        w = plot_w * n / top_n
        share = f" ({100 * n / first:.0f}% of screened)" if first and i else ""
        parts.append(f'<text x="{left - 8}" y="{y + bar_h * 0.7:.1f}" font-size="13" '
                     f'text-anchor="end" fill="#1a1a1a">{escape(STAGE_LABELS.get(stage, stage))}'
                     "</text>")
        parts.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar_h}" '
                     'fill="#1d5b8f"/>')
        parts.append(f'<text x="{left + w + 6:.1f}" y="{y + bar_h * 0.7:.1f}" font-size="13" '
                     f'fill="#1a1a1a">{n}{share}</text>')
    parts.append("</svg>")
    return "".join(parts)


# --- pages ----------------------------------------------------------------------------------


def _int_or_none(raw: str | None) -> int | None:
    raw = (raw or "").strip()
    return int(raw) if raw.isdigit() else None


@pages_router.get("/cascade")
async def cascade_page(request: Request, site: str | None = None, study: str | None = None,
                       actor: Actor = Depends(page_actor)) -> Response:
    from attunement.web.pages import call, render

    store: Store = request.app.state.store
    site_id, study_id = _int_or_none(site), _int_or_none(study)
    result = await call(cascade_report, store, actor, site=site_id, study=study_id)
    sites = await call(store.accounts.list_sites, actor)
    studies = await call(store.accounts.list_studies, actor)
    charts = []
    for name in result.stages["site"].unique():
        rows = result.stages[result.stages["site"] == name]
        counts = [(r["stage"], int(r["count"])) for r in rows.to_dict("records")]
        charts.append({"site": name, "svg": cascade_chart(str(name), counts)})
    query = "&".join(f"{k}={v}" for k, v in (("site", site_id), ("study", study_id)) if v)
    return render(request, "cascade.html", {
        "stages": _records(result.stages), "stage_days": _records(result.stage_days),
        "equity": _records(result.equity), "follow_up": _records(result.follow_up),
        "charts": charts, "labels": STAGE_LABELS, "stage_names": STAGES,
        "sites": sites, "studies": studies, "site_id": site_id, "study_id": study_id,
        "all_sites": ALL_SITES, "csv_url": "/cascade.csv" + (f"?{query}" if query else ""),
    })


@pages_router.get("/cascade.csv")
async def cascade_csv_page(request: Request, site: str | None = None,
                           study: str | None = None,
                           actor: Actor = Depends(page_actor)) -> Response:
    from attunement.web.pages import call

    store: Store = request.app.state.store
    result = await call(cascade_report, store, actor, site=_int_or_none(site),
                        study=_int_or_none(study))
    return _csv_response(result)


@pages_router.post("/families/{family_id}/referrals", dependencies=[Depends(check_csrf)])
async def referral_add(request: Request, family_id: int,
                       actor: Actor = Depends(page_actor)) -> Response:
    from attunement.web.pages import call, redirect

    form = await request.form()
    session = get_session(request)
    back = f"/families/{family_id}#referrals"
    # the form's choice is "route:<id>" or "programme:<id>"; "other_route" names a new route
    kind, _, target = str(form.get("target", "")).strip().partition(":")
    other = str(form.get("other_route", "")).strip()
    if other:
        kind, target = "route", other
    caregiver = str(form.get("caregiver", "")).strip() or None
    try:
        offered = dt.date.fromisoformat(str(form.get("offered_on", "")).strip())
    except ValueError:
        session.flash("The referral was not recorded — offered_on: write the date as "
                      "YYYY-MM-DD", "error")
        return redirect(request, back)
    try:
        await call(Referrals(request.app.state.store).add_referral, actor, family_id,
                   kind=kind, target=target, offered_on=offered, caregiver=caregiver)
    except StoreValidationError as exc:
        session.flash(f"The referral was not recorded — {exc.field}: {exc.reason}", "error")
    else:
        session.flash("Referral recorded.")
    return redirect(request, back)


@pages_router.post("/referrals/{referral_id}/stage", dependencies=[Depends(check_csrf)])
async def referral_stage(request: Request, referral_id: int,
                         actor: Actor = Depends(page_actor)) -> Response:
    from attunement.web.pages import _back, call, redirect

    form = await request.form()
    session = get_session(request)
    back = _back(form)
    stage = str(form.get("stage", "")).strip()
    reason = str(form.get("reason", "")).strip() or None
    try:
        on = dt.date.fromisoformat(str(form.get("on", "")).strip())
    except ValueError:
        session.flash("The stage was not recorded — on: write the date as YYYY-MM-DD", "error")
        return redirect(request, back)
    try:
        await call(Referrals(request.app.state.store).record_stage, actor, referral_id, stage,
                   on=on, reason=reason)
    except StoreValidationError as exc:
        session.flash(f"The stage was not recorded — {exc.field}: {exc.reason}", "error")
    else:
        session.flash(f"Referral marked {stage}.")
    return redirect(request, back)


router.include_router(api_router)
router.include_router(pages_router)

__all__ = ["cascade_chart", "cascade_report", "router"]


async def referral_section(store: Store, actor: Actor, family_id: int) -> dict[str, Any]:
    """What the family page's referrals section needs: the referrals and the choices."""
    from attunement.store.referrals import programme_choices
    from attunement.web.pages import call

    referrals = await call(Referrals(store).list_referrals, actor, family_id)
    return {"referrals": referrals, "referral_targets": {
        "routes": list(ROUTES.items()),
        "programmes": programme_choices(),
    }}
