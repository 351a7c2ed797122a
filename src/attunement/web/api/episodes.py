"""Intervention episodes: started, then sessions, fidelity and the end recorded.
"""

from __future__ import annotations

from attunement.web.api._router import ApiRouter
from attunement.web.deps import CurrentActor, StoreDep
from attunement.web.schemas import EpisodeIn, EpisodeOut, EpisodeUpdate, Json

router = ApiRouter("episodes")


@router.answers("POST", "/families/{family_id}/episodes", EpisodeOut, status_code=201)
def add_episode(family_id: int, body: EpisodeIn, actor: CurrentActor, store: StoreDep) -> Json:
    """Start an intervention episode."""
    return store.care.add_episode(actor, family_id, body.programme, body.start, caregivers=body.caregivers)


@router.answers("PATCH", "/episodes/{episode_id}", EpisodeOut)
def update_episode(
    episode_id: int,
    body: EpisodeUpdate,
    actor: CurrentActor,
    store: StoreDep,
) -> Json:
    """Record sessions offered and attended, fidelity notes, or the end and its reason."""
    return store.care.update_episode(actor, episode_id, **body.model_dump(exclude_unset=True))
