"""The dashboard: the caseload (urgent first, then overdue), open alerts, interpreter needs.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from attunement.web.deps import PageActor
from attunement.web.rendering import call, render, store_of

router = APIRouter(include_in_schema=False)


@router.get("/")
async def dashboard(*, request: Request, q: str | None = None, cursor: str | None = None,
                    acursor: str | None = None, mine: bool = False, urgent: bool = False,
                    overdue: bool = False, actor: PageActor) -> Response:
    """Show the caseload: your families with urgent alerts first, then overdue assessments, with
    search, filters, open alerts and interpreter needs.
    """
    store = store_of(request)
    # the store orders the caseload: open urgent alerts first, then overdue assessments
    filters = {"mine": mine, "urgent": urgent, "overdue": overdue}
    page = await call(store.families.caseload_page, actor, q=q or None, cursor=cursor, **filters)
    alerts = await call(store.care.alerts_page, actor, cursor=acursor)
    # only the families on this page: the read stays a page long whatever the site's size
    interpreters = await call(store.families.interpreter_needs, actor,
                              [f["id"] for f in page["items"]])

    def page_query(**cursors: str) -> str:
        keep = {"q": q or None, **{k: "1" for k, on in filters.items() if on}, **cursors}
        return urlencode({k: val for k, val in keep.items() if val})

    return render(request, "dashboard.html", {
        "families": page["items"], "next": page["next"], "previous": page["previous"],
        "counts": page["counts"], "alerts": alerts["items"], "alerts_next": alerts["next"],
        "alerts_previous": alerts["previous"], "q": q or "", "filters": filters,
        "page_query": page_query, "interpreters": interpreters,
    })
