"""Signing in and out in the browser.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from attunement.store import Actor, AuthError
from attunement.web.deps import PostedForm, check_csrf
from attunement.web.forms import FormErrors
from attunement.web.guard import client_address
from attunement.web.rendering import call, get_session, redirect, render, safe_next, store_of

router = APIRouter(include_in_schema=False)


@router.get("/login")
async def login_page(request: Request, next: str = "/") -> Response:
    """Show the sign-in form."""
    return render(request, "login.html", {"next": safe_next(next)})


@router.post("/login")
async def login(request: Request, form: PostedForm) -> Response:
    """Sign in with email address and password and go on to the page asked for. Repeated failures
    pause sign-in for the account (429 with ``Retry-After``).
    """
    email = str(form.get("email", "")).strip()
    password = str(form.get("password", ""))
    target = safe_next(str(form.get("next", "/")))
    values = {"email": email}
    errors = FormErrors()
    if not email:
        errors.add("email", "Enter your email address")
    if not password:
        errors.add("password", "Enter your password")
    if errors:
        return render(request, "login.html", {"next": target, "values": values,
                                              "errors": errors}, status=422)
    store = store_of(request)
    client = client_address(request)
    try:
        actor = await call(store.accounts.authenticate, email, password, client=client)
    except AuthError as exc:
        if exc.retry_after:
            minutes = max(1, round(exc.retry_after / 60))
            message = (f"Too many failed attempts. For your security, sign-in is paused; try "
                       f"again in about {minutes} minute{'s' if minutes != 1 else ''}.")
            if getattr(exc, "locked", False):
                message = ("Too many failed attempts in a row: sign-in to this account is "
                           "locked. Ask your site lead or an administrator for a password "
                           "reset link.")
            response = render(request, "login.html", {"next": target, "values": values,
                                                      "errors": {"email": message}}, status=429)
            response.headers["Retry-After"] = str(int(exc.retry_after))
            return response
        errors.add("email", "The email address or password is not right")
        return render(request, "login.html", {"next": target, "values": values,
                                              "errors": errors}, status=401)
    await start_session(request, actor)
    return redirect(request, target)


async def start_session(request: Request, actor: Actor) -> None:
    """Start a fresh server-side session for ``actor`` in this browser (new id, new CSRF token).

    Parameters
    ----------
    request : fastapi.Request
        The request whose response carries the new session cookie.
    actor : Actor
        The user who has just signed in.
    """
    settings = request.app.state.settings
    sid = await call(store_of(request).accounts.create_web_session, actor,
                     lifetime=settings.session_lifetime, idle=settings.session_idle)
    get_session(request).sign_in(sid)


@router.post("/logout", dependencies=[Depends(check_csrf)])
async def logout(request: Request) -> Response:
    """Sign out: the session ends on the server too."""
    session = get_session(request)
    store = store_of(request)
    if session.sid:
        await call(store.accounts.end_web_session, session.sid)
    session.clear()
    session.flash("You have signed out.")
    return redirect(request, "/login")
