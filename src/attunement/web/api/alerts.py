"""Urgent flags (alerts) and their safety reviews.
"""

from __future__ import annotations

from fastapi import APIRouter, Query

from attunement.web.deps import CurrentActor, StoreDep
from attunement.web.schemas import AcknowledgeIn, AlertOut, AlertPage, Json

router = APIRouter(prefix="/api")


@router.get("/alerts", response_model=AlertPage, tags=["alerts"])
def list_alerts(
    *,
    cursor: str | None = Query(None, description="A `next` or `previous` cursor"),
    limit: int = Query(50, ge=1, le=500, description="Page size"),
    actor: CurrentActor,
    store: StoreDep,
) -> Json:
    """Open urgent flags in the actor's scope, newest first, in pages."""
    return store.care.alerts_page(actor, cursor=cursor, limit=limit)


@router.post("/alerts/{alert_id}/acknowledge", tags=["alerts"], response_model=AlertOut,
    response_model_exclude_unset=True)
def acknowledge_alert(
    alert_id: int,
    body: AcknowledgeIn,
    actor: CurrentActor,
    store: StoreDep,
) -> Json:
    """Record the safety review of an urgent flag: what was done and its outcome."""
    return store.care.acknowledge_alert(actor, alert_id, note=body.note, outcome=body.outcome)
