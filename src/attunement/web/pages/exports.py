"""The exports page and the audit log page.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from attunement.usecases import exports as uc_exports
from attunement.web import downloads
from attunement.web.deps import PageActor, PostedForm
from attunement.web.rendering import call, get_session, redirect, render, store_of, visible_studies

router = APIRouter(include_in_schema=False)


@router.get("/exports")
async def exports_page(request: Request, actor: PageActor) -> Response:
    """Show the export page: the formats and the studies whose assessments you may download."""
    studies = await visible_studies(request, actor)
    return render(request, "exports.html", {"studies": studies, "formats": downloads.FORMATS})


@router.post("/exports")
async def exports_download(request: Request, form: PostedForm, actor: PageActor) -> Response:
    """Download the assessments in your scope in the chosen format; pseudonymised unless a clinical
    role asks for identifiable data.
    """
    fmt = str(form.get("format", "csv"))
    study_raw = str(form.get("study", "")).strip()
    if fmt not in downloads.FORMATS:
        get_session(request).flash(f"format: unknown export format '{fmt}'", "error")
        return redirect(request, "/exports")
    study = int(study_raw) if study_raw.isdigit() else None
    identifiable = form.get("identifiable") == "yes"
    if fmt in downloads.STREAMED:
        return await call(downloads.streamed, store_of(request), actor, fmt, study=study,
                          pseudonymise=None if identifiable else True)
    frame = await call(uc_exports.export_assessments, store_of(request), actor, study=study,
                       pseudonymise=None if identifiable else True)
    return downloads.response(frame, fmt)  # type: ignore[arg-type]


@router.get("/audit")
async def audit_page(*, request: Request, family: str = "", action: str = "", who: str = "",
                     before: int | None = None,
                     actor: PageActor) -> Response:
    """The audit log, newest first, a page at a time, filtered by family code, action or person;
    families are named by their codes, never by internal ids."""
    store = store_of(request)
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
