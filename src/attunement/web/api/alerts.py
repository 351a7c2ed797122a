"""Urgent flags (alerts) and their safety reviews.
"""

from __future__ import annotations

from fastapi import Query

from attunement.web.api._router import ApiRouter
from attunement.web.deps import CurrentActor, StoreDep
from attunement.web.schemas import AcknowledgeIn, AlertOut, AlertPage, Json

router = ApiRouter("alerts")


@router.get("/alerts", response_model=AlertPage)
def list_alerts(
    *,
    cursor: str | None = Query(None, description="A `next` or `previous` cursor"),
    limit: int = Query(50, ge=1, le=500, description="Page size"),
    actor: CurrentActor,
    store: StoreDep,
) -> Json:
    """Open urgent flags in the actor's scope, newest first, in pages."""
    return store.care.alerts_page(actor, cursor=cursor, limit=limit)


@router.answers("POST", "/alerts/{alert_id}/acknowledge", AlertOut)
def acknowledge_alert(
    alert_id: int,
    body: AcknowledgeIn,
    actor: CurrentActor,
    store: StoreDep,
) -> Json:
    """Record the safety review of an urgent flag: what was done and its outcome."""
    return store.care.acknowledge_alert(actor, alert_id, note=body.note, outcome=body.outcome)
