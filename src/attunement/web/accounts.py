"""Accounts: a person's own password, and administrators or site leads managing others'.

Pages (no JavaScript, CSRF on every form) and their JSON equivalents under ``/api``:

* ``GET /account``, ``POST /account/password`` — change one's own password (current, new,
  confirm); ``POST /api/me/password``.
* ``GET /admin/users/{id}`` — one person's account; ``POST /admin/users/{id}/active`` disables
  or re-enables it with a reason, ``POST /admin/users/{id}/reset-link`` creates a one-time
  password reset link, ``POST /admin/users/{id}/password`` sets a new password
  (administrators); ``POST /api/users/{id}/active``, ``POST /api/users/{id}/password-reset``
  and ``POST /api/users/{id}/password``. (``GET /api/users`` is in :mod:`attunement.web.api`.)
* ``GET``/``POST /reset/{token}`` — the person chooses a new password through the link (no
  session needed: the link is the credential; single use, expiring).

Who may do what is the store's decision (``Store.accounts.set_password``: anyone their own, with the
current password, throttled like logins; administrators anyone's. ``Store.accounts.create_password_reset``
and ``Store.accounts.set_user_active``: administrators, and site leads for the practitioners and site
leads who work only at their sites; never disabling one's own account). A site lead never sets
or learns a password. A password change or reset revokes every session and API token of the
account; after a change of one's own password this browser gets a fresh session, so only the
*other* sessions and programs stop working. The store audits every change.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from attunement.store import Actor, NotFound, Store, StoreValidationError
from attunement.web.deps import api_actor, check_csrf, get_session, get_store, page_actor
from attunement.web.forms import FormErrors
from attunement.web.guard import client_address
from attunement.web.pages import call, redirect, render, start_session

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api", tags=["accounts"])

Json = dict[str, Any]


def _store(request: Request) -> Store:
    return request.app.state.store


# --- messages -------------------------------------------------------------------------------


def _password_message(field: str, reason: str) -> str:
    """A store validation error about a password, worded for the form."""
    if field == "current_password":
        return "Your current password is not right. Type the password you signed in with."
    if reason == "is required":
        return "Enter a new password"
    return f"The new password {reason}"


def _new_password_errors(form: Any, errors: FormErrors) -> str:
    """Check the new password was typed twice the same; returns it."""
    new = str(form.get("new_password", ""))
    confirm = str(form.get("confirm_password", ""))
    if not new:
        errors.add("new_password", "Enter a new password")
    if not confirm:
        errors.add("confirm_password", "Type the new password again")
    elif new and new != confirm:
        errors.add("confirm_password", "The two new passwords are not the same")
    return new


# --- my account -----------------------------------------------------------------------------


async def _account(request: Request, actor: Actor, *, errors: FormErrors | None = None,
                   status: int = 200) -> Response:
    store = _store(request)
    sites = await call(store.accounts.list_sites, actor)
    names = [s["name"] for s in sites if s["id"] in actor.site_ids]
    return render(request, "account.html", {
        "site_names": names, "errors": errors or FormErrors(),
    }, status=status)


@pages.get("/account")
async def account_page(request: Request, actor: Actor = Depends(page_actor)) -> Response:
    return await _account(request, actor)


@pages.post("/account/password", dependencies=[Depends(check_csrf)])
async def account_password(request: Request, actor: Actor = Depends(page_actor)) -> Response:
    form = await request.form()
    current = str(form.get("current_password", ""))
    errors = FormErrors()
    if not current:
        errors.add("current_password", "Enter your current password")
    new = _new_password_errors(form, errors)
    if errors:
        return await _account(request, actor, errors=errors, status=422)
    store = _store(request)
    assert actor.user_id is not None  # page actors are always users
    try:
        await call(store.accounts.set_password, actor, actor.user_id, new, current_password=current,
                   client=client_address(request))
    except StoreValidationError as exc:
        field = "current_password" if exc.field == "current_password" else "new_password"
        errors.add(field, _password_message(exc.field, exc.reason))
        return await _account(request, actor, errors=errors, status=422)
    # the store revoked every session of this account, this one too: start a fresh one
    await start_session(request, actor)
    session = get_session(request)
    session.flash("Your password has been changed. Other sessions and API tokens of your "
                  "account have been signed out.")
    return redirect(request, "/account")


# --- managing someone's account -------------------------------------------------------------


async def _user(request: Request, actor: Actor, user_id: int) -> Json:
    """The user as the store lists it for this actor (NotFound outside what it may see)."""
    users = await call(_store(request).accounts.list_users, actor)
    for user in users:
        if user["id"] == user_id:
            return user
    raise NotFound(f"user {user_id} not found")


async def _manage(request: Request, actor: Actor, user_id: int, *,
                  values: dict[str, Any] | None = None, errors: FormErrors | None = None,
                  status: int = 200, reset_url: str | None = None) -> Response:
    user = await _user(request, actor, user_id)
    return render(request, "account_user.html", {
        "reset_url": reset_url, "reset_hours": request.app.state.settings.reset_hours,
        "user": user, "own": user["id"] == actor.user_id,
        # what the forms offer mirrors the store's rule; the store still decides each request
        "can_manage": await _can_manage(request, actor, user),
        "values": values or {}, "errors": errors or FormErrors(),
    }, status=status)


async def _can_manage(request: Request, actor: Actor, user: Json) -> bool:
    if actor.role == "admin":
        return True
    if actor.role != "site_lead" or user["role"] not in ("practitioner", "site_lead"):
        return False
    mine = {site["name"] for site in await call(_store(request).accounts.list_sites, actor)}
    return bool(user["sites"]) and set(user["sites"]) <= mine


@pages.get("/admin/users/{user_id}")
async def user_page(request: Request, user_id: int,
                    actor: Actor = Depends(page_actor)) -> Response:
    return await _manage(request, actor, user_id)


@pages.post("/admin/users/{user_id}/active", dependencies=[Depends(check_csrf)])
async def user_active(request: Request, user_id: int,
                      actor: Actor = Depends(page_actor)) -> Response:
    form = await request.form()
    wanted = str(form.get("active", ""))
    reason = str(form.get("reason", ""))
    errors = FormErrors()
    if wanted not in ("0", "1"):
        errors.add("reason", "Choose whether to disable or enable the account")
    else:
        try:
            user = await call(_store(request).accounts.set_user_active, actor, user_id, wanted == "1",
                              reason=reason)
        except StoreValidationError as exc:
            errors.add("reason", "Say why: the reason is kept in the audit log"
                       if exc.reason == "is required" else f"The reason {exc.reason}")
        else:
            message = (f"The account of {user['email']} is enabled again; they can sign in "
                       "with their password." if user["active"] else
                       f"The account of {user['email']} is disabled; its sessions and API "
                       "tokens have stopped working.")
            get_session(request).flash(message)
            return redirect(request, f"/admin/users/{user_id}")
    return await _manage(request, actor, user_id, values={"reason": reason}, errors=errors,
                         status=422)


@pages.post("/admin/users/{user_id}/password", dependencies=[Depends(check_csrf)])
async def user_password(request: Request, user_id: int,
                        actor: Actor = Depends(page_actor)) -> Response:
    form = await request.form()
    errors = FormErrors()
    new = _new_password_errors(form, errors)
    if not errors:
        try:
            await call(_store(request).accounts.set_password, actor, user_id, new)
        except StoreValidationError as exc:
            if exc.field == "current_password":
                errors.add("new_password", "To change your own password, use My account")
            else:
                errors.add("new_password", _password_message(exc.field, exc.reason))
        else:
            get_session(request).flash("New password set. Share it privately; the person "
                                       "should change it on My account. Their sessions and "
                                       "API tokens have been signed out.")
            return redirect(request, f"/admin/users/{user_id}")
    return await _manage(request, actor, user_id, errors=errors, status=422)


@pages.post("/admin/users/{user_id}/reset-link", dependencies=[Depends(check_csrf)])
async def user_reset_link(request: Request, user_id: int,
                          actor: Actor = Depends(page_actor)) -> Response:
    token = await call(_store(request).accounts.create_password_reset, actor, user_id,
                       hours=request.app.state.settings.reset_hours)
    return await _manage(request, actor, user_id, reset_url=reset_url(request, token))


def reset_url(request: Request, token: str) -> str:
    """The address of a password-reset link (the service's public URL when configured)."""
    base = request.app.state.settings.public_url or str(request.base_url).rstrip("/")
    return f"{base}/reset/{token}"


# --- a password reset link (no session: the link is the credential) -------------------------


@pages.get("/reset/{token}")
async def reset_page(request: Request, token: str) -> Response:
    info = await call(_store(request).accounts.open_password_reset, token)
    return render(request, "password_reset.html", {"email": info["email"], "token": token})


@pages.post("/reset/{token}", dependencies=[Depends(check_csrf)])
async def reset_submit(request: Request, token: str) -> Response:
    store = _store(request)
    info = await call(store.accounts.open_password_reset, token)
    form = await request.form()
    errors = FormErrors()
    new = _new_password_errors(form, errors)
    if not errors:
        try:
            await call(store.accounts.use_password_reset, token, new)
        except StoreValidationError as exc:
            errors.add("new_password", _password_message(exc.field, exc.reason))
        else:
            session = get_session(request)
            session.clear()
            session.flash("Your new password is set. Sign in with it.")
            return redirect(request, "/login")
    return render(request, "password_reset.html", {"email": info["email"], "token": token,
                                                   "errors": errors}, status=422)


# --- JSON API -------------------------------------------------------------------------------


class OwnPasswordIn(BaseModel):
    current_password: str = Field(description="The password in use now")
    new_password: str = Field(description="At least 8 characters (15 or more recommended)")


class PasswordIn(BaseModel):
    new_password: str = Field(description="At least 8 characters (15 or more recommended)")
    current_password: str | None = Field(
        None, description="Needed only when the account is the caller's own")


class ActiveIn(BaseModel):
    active: bool
    reason: str = Field(description="Why (kept in the audit log)")


class ResetLinkOut(BaseModel):
    user_id: int
    url: str = Field(description="The one-time link; give it to the person privately")
    expires_in_hours: int


class NewTokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"


@api.post("/me/password", response_model=NewTokenOut)
def change_own_password(body: OwnPasswordIn, request: Request,
                        actor: Actor = Depends(api_actor),
                        store: Store = Depends(get_store)) -> NewTokenOut:
    """Change your own password (the current one is required).

    Every token of the account is revoked, the one used for this call too; the answer carries
    a fresh bearer token for the caller.
    """
    assert actor.user_id is not None
    store.accounts.set_password(actor, actor.user_id, body.new_password,
                       current_password=body.current_password, client=client_address(request))
    return NewTokenOut(access_token=store.accounts.create_api_token(actor))


@api.post("/users/{user_id}/password")
def set_user_password(user_id: int, body: PasswordIn, actor: Actor = Depends(api_actor),
                      store: Store = Depends(get_store)) -> Json:
    """Set a new password for someone (administrators only, audited; site leads send a reset
    link instead); revokes all their tokens and sessions."""
    store.accounts.set_password(actor, user_id, body.new_password,
                       current_password=body.current_password)
    return {"id": user_id, "password_set": True}


@api.post("/users/{user_id}/password-reset", response_model=ResetLinkOut, status_code=201)
def create_reset_link(user_id: int, request: Request, actor: Actor = Depends(api_actor),
                      store: Store = Depends(get_store)) -> ResetLinkOut:
    """A one-time, expiring link with which the person chooses a new password themselves
    (site leads for the practitioners and site leads of their sites; administrators)."""
    hours = request.app.state.settings.reset_hours
    token = store.accounts.create_password_reset(actor, user_id, hours=hours)
    return ResetLinkOut(user_id=user_id, url=reset_url(request, token), expires_in_hours=hours)


@api.post("/users/{user_id}/active")
def set_user_active(user_id: int, body: ActiveIn, actor: Actor = Depends(api_actor),
                    store: Store = Depends(get_store)) -> Json:
    """Disable (``active: false``) or re-enable an account, with a reason (administrators;
    site leads for the practitioners and site leads of their sites; never one's own).

    Disabling revokes the account's tokens: its programs get 401 and it cannot sign in.
    """
    return store.accounts.set_user_active(actor, user_id, body.active, reason=body.reason)


router = APIRouter()
router.include_router(pages)
router.include_router(api)

__all__ = ["router"]
