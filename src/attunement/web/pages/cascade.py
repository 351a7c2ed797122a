"""The care cascade dashboard (``/cascade``, server-side SVG charts, CSV) and the referral forms
of the family page.
"""

from __future__ import annotations

import datetime as dt
from html import escape
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from attunement.cascade import ALL_SITES, STAGES
from attunement.store import Actor, Store
from attunement.usecases import referrals as uc_referrals
from attunement.usecases.cascade import cascade_report, records
from attunement.web import downloads
from attunement.web.deps import PageActor, PostedForm
from attunement.web.rendering import back, call, get_session, redirect, render, store_form

router = APIRouter(include_in_schema=False)


STAGE_LABELS = {
    "screened": "Screened", "positive": "Positive screen", "referred": "Referred",
    "engaged": "Engaged (first session)", "completed": "Completed", "improved":
    "Reliably improved",
}


def cascade_chart(site: str, counts: list[tuple[str, int]], *, width: int = 560) -> str:
    """A horizontal bar chart of one site's cascade as inline SVG (no JavaScript).

    One bar per stage, labelled with the stage, the count and the share of the first stage.

    Parameters
    ----------
    site : str
        The site's name (or "All sites"), in the title.
    counts : list of (str, int)
        Each stage and its count, in cascade order.
    width : int
        The chart's width in pixels.

    Returns
    -------
    str
        An ``<svg>`` element with a title and a description listing the counts.
    """
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


def _int_or_none(raw: str | None) -> int | None:
    raw = (raw or "").strip()
    return int(raw) if raw.isdigit() else None


@router.get("/cascade")
async def cascade_page(*, request: Request, site: str | None = None, study: str | None = None,
                       actor: PageActor) -> Response:
    """Show the care cascade of your families (screened, positive, referred, engaged, completed,
    improved), with the days between stages and the equity and follow-up tables.
    """
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
        "stages": records(result.stages), "stage_days": records(result.stage_days),
        "equity": records(result.equity), "follow_up": records(result.follow_up),
        "charts": charts, "labels": STAGE_LABELS, "stage_names": STAGES,
        "sites": sites, "studies": studies, "site_id": site_id, "study_id": study_id,
        "all_sites": ALL_SITES, "csv_url": "/cascade.csv" + (f"?{query}" if query else ""),
    })


@router.get("/cascade.csv")
async def cascade_csv_page(*, request: Request, site: str | None = None,
                           study: str | None = None,
                           actor: PageActor) -> Response:
    """Download the care cascade of your families as CSV, optionally for one site or study."""
    store: Store = request.app.state.store
    result = await call(cascade_report, store, actor, site=_int_or_none(site),
                        study=_int_or_none(study))
    return downloads.cascade_csv_response(result)


@router.post("/families/{family_id}/referrals")
async def referral_add(request: Request, family_id: int, form: PostedForm,
                       actor: PageActor) -> Response:
    """Record that a programme or treatment route was offered to a family or a caregiver."""
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
    return await store_form(
        request, back, "The referral was not recorded", "Referral recorded.",
        uc_referrals.add_referral, request.app.state.store, actor, family_id, kind=kind,
        target=target, offered_on=offered, caregiver=caregiver)


@router.post("/referrals/{referral_id}/stage")
async def referral_stage(request: Request, referral_id: int, form: PostedForm,
                         actor: PageActor) -> Response:
    """Move a referral to its next stage (accepted, declined, started, completed or ended)."""
    session = get_session(request)
    back_to = back(form)
    stage = str(form.get("stage", "")).strip()
    reason = str(form.get("reason", "")).strip() or None
    try:
        on = dt.date.fromisoformat(str(form.get("on", "")).strip())
    except ValueError:
        session.flash("The stage was not recorded — on: write the date as YYYY-MM-DD", "error")
        return redirect(request, back_to)
    return await store_form(
        request, back_to, "The stage was not recorded", f"Referral marked {stage}.",
        uc_referrals.record_stage, request.app.state.store, actor, referral_id, stage, on=on,
        reason=reason)


async def referral_section(store: Store, actor: Actor, family_id: int) -> dict[str, Any]:
    """What the family page's referrals section needs: the referrals and the choices.

    Parameters
    ----------
    store : Store
        The open store.
    actor : Actor
        Who views the page.
    family_id : int
        The family.

    Returns
    -------
    dict
        ``referrals`` and ``referral_targets`` (treatment routes and programmes).
    """
    referrals = await call(uc_referrals.list_referrals, store, actor, family_id)
    return {"referrals": referrals, "referral_targets": {
        "routes": list(uc_referrals.ROUTES.items()),
        "programmes": uc_referrals.programme_choices(),
    }}
