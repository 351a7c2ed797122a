"""Account pages: one's own password, administrators or site leads managing others' accounts,
and the password reset link (no session: the link is the credential).

Who may do what is the store's decision (``Store.accounts.set_password``: anyone their own, with the
current password, throttled like logins; administrators anyone's. ``Store.accounts.create_password_reset``
and ``Store.accounts.set_user_active``: administrators, and site leads for the practitioners and site
leads who work only at their sites; never disabling one's own account). A password change or
reset revokes every session and API token of the account; after a change of one's own password
this browser gets a fresh session. The store audits every change.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from attunement import policy
from attunement.policy import Action
from attunement.store import Actor, NotFound, StoreValidationError
from attunement.web.deps import PageActor, PostedForm, check_csrf
from attunement.web.forms import FormErrors
from attunement.web.guard import client_address
from attunement.web.pages.auth import start_session
from attunement.web.rendering import (
    call,
    get_session,
    redirect,
    render,
    render_form,
    reset_url,
    store_of,
)
from attunement.web.schemas import Json

router = APIRouter(include_in_schema=False)


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


async def _account(request: Request, actor: Actor, errors: FormErrors | None = None) -> Response:
    sites = await call(store_of(request).accounts.list_sites, actor)
    names = [s["name"] for s in sites if s["id"] in actor.site_ids]
    return render_form(request, "account.html", {"site_names": names}, errors=errors)


@router.get("/account")
async def account_page(request: Request, actor: PageActor) -> Response:
    """Show the signed-in user's own account page, where they change their password."""
    return await _account(request, actor)


@router.post("/account/password")
async def account_password(request: Request, form: PostedForm, actor: PageActor) -> Response:
    """Change your own password (the current one is asked for). Every other session and API token of
    the account is signed out; this browser gets a fresh session.
    """
    current = str(form.get("current_password", ""))
    errors = FormErrors()
    if not current:
        errors.add("current_password", "Enter your current password")
    new = _new_password_errors(form, errors)
    if errors:
        return await _account(request, actor, errors)
    store = store_of(request)
    assert actor.user_id is not None  # page actors are always users
    try:
        await call(store.accounts.set_password, actor, actor.user_id, new, current_password=current,
                   client=client_address(request))
    except StoreValidationError as exc:
        field = "current_password" if exc.field == "current_password" else "new_password"
        errors.add(field, _password_message(exc.field, exc.reason))
        return await _account(request, actor, errors)
    # the store revoked every session of this account, this one too: start a fresh one
    await start_session(request, actor)
    session = get_session(request)
    session.flash("Your password has been changed. Other sessions and API tokens of your "
                  "account have been signed out.")
    return redirect(request, "/account")


async def _user(request: Request, actor: Actor, user_id: int) -> Json:
    """The user as the store lists it for this actor (NotFound outside what it may see)."""
    users = await call(store_of(request).accounts.list_users, actor)
    for user in users:
        if user["id"] == user_id:
            return user
    raise NotFound(f"user {user_id} not found")


async def _manage(request: Request, actor: Actor, user_id: int, *,
                  values: dict[str, Any] | None = None, errors: FormErrors | None = None,
                  reset_url: str | None = None) -> Response:
    user = await _user(request, actor, user_id)
    return render_form(request, "account_user.html", {
        "reset_url": reset_url, "reset_hours": request.app.state.settings.reset_hours,
        "user": user, "own": user["id"] == actor.user_id,
        # what the forms offer mirrors the store's rule; the store still decides each request
        "can_manage": await _can_manage(request, actor, user),
    }, values=values, errors=errors)


async def _can_manage(request: Request, actor: Actor, user: Json) -> bool:
    if not policy.allows(actor, Action.MANAGE_USER):
        return False
    ids = {site["name"]: site["id"]
           for site in await call(store_of(request).accounts.list_sites, actor)}
    # a site the actor cannot see gets an id no site has, so the account is not "all theirs"
    sites = frozenset(ids.get(name, -1 - i) for i, name in enumerate(user["sites"] or []))
    return policy.allows(actor, Action.MANAGE_USER, policy.Target(site_ids=sites, role=user["role"]))


@router.get("/admin/users/{user_id}")
async def user_page(request: Request, user_id: int, actor: PageActor) -> Response:
    """Show the page for managing one user account: enable or disable it, set a password, make a
    reset link.
    """
    return await _manage(request, actor, user_id)


@router.post("/admin/users/{user_id}/active")
async def user_active(request: Request, user_id: int, form: PostedForm,
                      actor: PageActor) -> Response:
    """Disable or enable another user's account, with a reason kept in the audit log.

    Administrators, and site leads for the accounts they manage.
    """
    wanted = str(form.get("active", ""))
    reason = str(form.get("reason", ""))
    errors = FormErrors()
    if wanted not in ("0", "1"):
        errors.add("reason", "Choose whether to disable or enable the account")
    else:
        try:
            user = await call(store_of(request).accounts.set_user_active, actor, user_id, wanted == "1",
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
    return await _manage(request, actor, user_id, values={"reason": reason}, errors=errors)


@router.post("/admin/users/{user_id}/password")
async def user_password(request: Request, user_id: int, form: PostedForm,
                        actor: PageActor) -> Response:
    """Set another user's password (administrators only); their sessions and API tokens are signed
    out.
    """
    errors = FormErrors()
    new = _new_password_errors(form, errors)
    if not errors:
        try:
            await call(store_of(request).accounts.set_password, actor, user_id, new)
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
    return await _manage(request, actor, user_id, errors=errors)


@router.post("/admin/users/{user_id}/reset-link", dependencies=[Depends(check_csrf)])
async def user_reset_link(request: Request, user_id: int, actor: PageActor) -> Response:
    """Make a one-time password reset link for a user and show it to share privately
    (administrators, and site leads for the accounts they manage).
    """
    token = await call(store_of(request).accounts.create_password_reset, actor, user_id,
                       hours=request.app.state.settings.reset_hours)
    return await _manage(request, actor, user_id, reset_url=reset_url(request, token))


@router.get("/reset/{token}")
async def reset_page(request: Request, token: str) -> Response:
    """Open a password reset link: the form for a new password, or a not-found page when the link
    is used up, expired or unknown.
    """
    info = await call(store_of(request).accounts.open_password_reset, token)
    return render(request, "password_reset.html", {"email": info["email"], "token": token})


@router.post("/reset/{token}")
async def reset_submit(request: Request, token: str, form: PostedForm) -> Response:
    """Set a new password through a reset link, which is then used up; then sign in again."""
    store = store_of(request)
    info = await call(store.accounts.open_password_reset, token)
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
