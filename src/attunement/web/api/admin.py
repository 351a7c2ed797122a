"""Administration: sites, users and studies.
"""

from __future__ import annotations

from fastapi import APIRouter

from attunement.web.deps import CurrentActor, StoreDep
from attunement.web.schemas import (
    Json,
    NewUserOut,
    SiteIn,
    SiteOut,
    StudyIn,
    StudyOut,
    UserIn,
    UserOut,
)

router = APIRouter(prefix="/api")


@router.get("/sites", tags=["admin"], response_model=list[SiteOut],
    response_model_exclude_unset=True)
def list_sites(actor: CurrentActor, store: StoreDep) -> list[Json]:
    return store.accounts.list_sites(actor)


@router.post("/sites", status_code=201, tags=["admin"], response_model=SiteOut,
    response_model_exclude_unset=True)
def add_site(
    body: SiteIn, actor: CurrentActor, store: StoreDep
) -> Json:
    return store.accounts.add_site(actor, body.name)


@router.get("/users", tags=["admin"], response_model=list[UserOut],
    response_model_exclude_unset=True)
def list_users(actor: CurrentActor, store: StoreDep) -> list[Json]:
    return store.accounts.list_users(actor)


@router.post("/users", status_code=201, tags=["admin"], response_model=NewUserOut,
    response_model_exclude_unset=True)
def add_user(
    body: UserIn, actor: CurrentActor, store: StoreDep
) -> Json:
    return store.accounts.add_user(actor, body.email, body.role, body.sites, body.password,
                          studies=body.studies or None)


@router.get("/studies", tags=["admin"], response_model=list[StudyOut],
    response_model_exclude_unset=True)
def list_studies(actor: CurrentActor, store: StoreDep) -> list[Json]:
    return store.accounts.list_studies(actor)


@router.post("/studies", status_code=201, tags=["admin"], response_model=StudyOut,
    response_model_exclude_unset=True)
def add_study(
    body: StudyIn, actor: CurrentActor, store: StoreDep
) -> Json:
    return store.accounts.add_study(
        actor, body.name, body.sites, [tp.model_dump() for tp in body.time_points]
    )
