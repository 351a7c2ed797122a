"""Administration: sites, users and studies.
"""

from __future__ import annotations

from attunement.web.api._router import ApiRouter
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

router = ApiRouter("admin")


@router.answers("GET", "/sites", list[SiteOut])
def list_sites(actor: CurrentActor, store: StoreDep) -> list[Json]:
    """List the sites you may see: every site for an administrator, otherwise your own sites and
    those of your studies.
    """
    return store.accounts.list_sites(actor)


@router.answers("POST", "/sites", SiteOut, status_code=201)
def add_site(body: SiteIn, actor: CurrentActor, store: StoreDep) -> Json:
    """Create a site (administrators only). Answers the new site with its id; a name already in use
    is refused with 422.
    """
    return store.accounts.add_site(actor, body.name)


@router.answers("GET", "/users", list[UserOut])
def list_users(actor: CurrentActor, store: StoreDep) -> list[Json]:
    """List user accounts: every account for an administrator, the accounts of your sites for a site
    lead; other roles get 403.
    """
    return store.accounts.list_users(actor)


@router.answers("POST", "/users", NewUserOut, status_code=201)
def add_user(body: UserIn, actor: CurrentActor, store: StoreDep) -> Json:
    """Create a user account with a role, sites and (for a researcher) studies. Administrators may
    create any account; a site lead, practitioners and site leads of their own sites.
    """
    return store.accounts.add_user(actor, body.email, body.role, body.sites, body.password,
                          studies=body.studies or None)


@router.answers("GET", "/studies", list[StudyOut])
def list_studies(actor: CurrentActor, store: StoreDep) -> list[Json]:
    """List the studies you may see: every study for an administrator, otherwise the studies you
    belong to or that run at your sites.
    """
    return store.accounts.list_studies(actor)


@router.answers("POST", "/studies", StudyOut, status_code=201)
def add_study(body: StudyIn, actor: CurrentActor, store: StoreDep) -> Json:
    """Create a study (or service) with its sites and time-point schedule (administrators only).
    Answers the new study with its schedule.
    """
    return store.accounts.add_study(
        actor, body.name, body.sites, [tp.model_dump() for tp in body.time_points]
    )
