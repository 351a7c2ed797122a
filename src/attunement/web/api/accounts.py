"""Accounts for programs: ``POST /api/me/password``, and administrators or site leads
managing others' accounts (``POST /api/users/{id}/password``, ``/password-reset``,
``/active``). Who may do what is the store's decision.
"""

from __future__ import annotations

from fastapi import Request

from attunement.web.api._router import ApiRouter
from attunement.web.deps import CurrentActor, StoreDep
from attunement.web.guard import client_address
from attunement.web.rendering import reset_url
from attunement.web.schemas import (
    ActiveIn,
    Json,
    NewTokenOut,
    OwnPasswordIn,
    PasswordIn,
    PasswordSetOut,
    ResetLinkOut,
    UserActiveOut,
)

router = ApiRouter("accounts")


@router.post("/me/password", response_model=NewTokenOut)
def change_own_password(body: OwnPasswordIn, request: Request,
                        actor: CurrentActor,
                        store: StoreDep) -> NewTokenOut:
    """Change your own password (the current one is required).

    Every token of the account is revoked, the one used for this call too; the answer carries
    a fresh bearer token for the caller.
    """
    assert actor.user_id is not None
    store.accounts.set_password(actor, actor.user_id, body.new_password,
                       current_password=body.current_password, client=client_address(request))
    return NewTokenOut(access_token=store.accounts.create_api_token(actor))


@router.answers("POST", "/users/{user_id}/password", PasswordSetOut)
def set_user_password(user_id: int, body: PasswordIn, actor: CurrentActor, store: StoreDep) -> Json:
    """Set a new password for someone (administrators only, audited; site leads send a reset
    link instead); revokes all their tokens and sessions."""
    store.accounts.set_password(actor, user_id, body.new_password,
                       current_password=body.current_password)
    return {"id": user_id, "password_set": True}


@router.post("/users/{user_id}/password-reset", response_model=ResetLinkOut, status_code=201)
def create_reset_link(user_id: int, request: Request, actor: CurrentActor,
                      store: StoreDep) -> ResetLinkOut:
    """A one-time, expiring link with which the person chooses a new password themselves
    (site leads for the practitioners and site leads of their sites; administrators)."""
    hours = request.app.state.settings.reset_hours
    token = store.accounts.create_password_reset(actor, user_id, hours=hours)
    return ResetLinkOut(user_id=user_id, url=reset_url(request, token), expires_in_hours=hours)


@router.answers("POST", "/users/{user_id}/active", UserActiveOut)
def set_user_active(user_id: int, body: ActiveIn, actor: CurrentActor, store: StoreDep) -> Json:
    """Disable (``active: false``) or re-enable an account, with a reason (administrators;
    site leads for the practitioners and site leads of their sites; never one's own).

    Disabling revokes the account's tokens: its programs get 401 and it cannot sign in.
    """
    return store.accounts.set_user_active(actor, user_id, body.active, reason=body.reason)
