"""Sign-in for programs: ``POST /api/token`` (OAuth2 password flow) and ``GET /api/me``."""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordRequestForm

from attunement.web.api._router import ApiRouter
from attunement.web.deps import CurrentActor, StoreDep
from attunement.web.guard import client_address
from attunement.web.schemas import Json, MeOut, TokenOut

router = ApiRouter("auth")


@router.post("/token", response_model=TokenOut)
def token(
    *,
    request: Request,
    form: OAuth2PasswordRequestForm = Depends(),
    store: StoreDep,
) -> TokenOut:
    """Exchange email and password for a bearer token (OAuth2 password flow)."""
    actor = store.accounts.authenticate(form.username, form.password, client=client_address(request))
    return TokenOut(access_token=store.accounts.create_api_token(actor))


@router.answers("GET", "/me", MeOut)
def me(actor: CurrentActor) -> Json:
    """Who the token belongs to: email, role, sites and studies."""
    return {
        "email": actor.email,
        "role": actor.role,
        "site_ids": sorted(actor.site_ids),
        "study_ids": sorted(actor.study_ids),
    }
