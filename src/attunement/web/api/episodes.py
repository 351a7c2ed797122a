"""Intervention episodes: started, then sessions, fidelity and the end recorded.
"""

from __future__ import annotations

from fastapi import APIRouter

from attunement.web.deps import CurrentActor, StoreDep
from attunement.web.schemas import EpisodeIn, EpisodeOut, EpisodeUpdate, Json

router = APIRouter(prefix="/api")


@router.post("/families/{family_id}/episodes", status_code=201, tags=["episodes"],
             response_model=EpisodeOut,
    response_model_exclude_unset=True)
def add_episode(
    family_id: int,
    body: EpisodeIn,
    actor: CurrentActor,
    store: StoreDep,
) -> Json:
    """Start an intervention episode."""
    return store.care.add_episode(actor, family_id, body.programme, body.start, caregivers=body.caregivers)


@router.patch("/episodes/{episode_id}", tags=["episodes"], response_model=EpisodeOut,
    response_model_exclude_unset=True)
def update_episode(
    episode_id: int,
    body: EpisodeUpdate,
    actor: CurrentActor,
    store: StoreDep,
) -> Json:
    """Record sessions offered and attended, fidelity notes, or the end and its reason."""
    return store.care.update_episode(actor, episode_id, **body.model_dump(exclude_unset=True))
