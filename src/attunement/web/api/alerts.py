"""Urgent flags (alerts) and their safety reviews.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from attunement.store import Actor, Store
from attunement.web.deps import api_actor, get_store
from attunement.web.schemas import AcknowledgeIn, AlertOut, AlertPage, Json

router = APIRouter(prefix="/api")


@router.get("/alerts", response_model=AlertPage, tags=["alerts"])
def list_alerts(
    cursor: str | None = Query(None, description="A `next` or `previous` cursor"),
    limit: int = Query(50, ge=1, le=500, description="Page size"),
    actor: Actor = Depends(api_actor),
    store: Store = Depends(get_store),
) -> Json:
    """Open urgent flags in the actor's scope, newest first, in pages."""
    return store.alerts_page(actor, cursor=cursor, limit=limit)


@router.post("/alerts/{alert_id}/acknowledge", tags=["alerts"], response_model=AlertOut,
    response_model_exclude_unset=True)
def acknowledge_alert(
    alert_id: int,
    body: AcknowledgeIn,
    actor: Actor = Depends(api_actor),
    store: Store = Depends(get_store),
) -> Json:
    """Record the safety review of an urgent flag: what was done and its outcome."""
    return store.acknowledge_alert(actor, alert_id, note=body.note, outcome=body.outcome)
