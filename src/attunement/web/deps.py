"""Request dependencies: the store, the signed-in actor (session or bearer token), CSRF."""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from starlette.concurrency import run_in_threadpool

from attunement.store import Actor, AuthError, Store
from attunement.web.security import Session, csrf_ok

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/token", auto_error=False)


async def get_store(request: Request) -> Store:
    # async on purpose: a plain attribute read needs no trip through the thread pool
    return request.app.state.store


def actor_from_token(store: Store, token: str | None) -> Actor:
    """The actor behind a bearer token; AuthError (401) without a valid one."""
    if not token:
        raise AuthError("not authenticated")
    return store.accounts.actor_for_token(token)


def api_actor(token: str | None = Depends(oauth2), store: Store = Depends(get_store)) -> Actor:
    """The actor behind ``Authorization: Bearer <token>``; 401 without a valid token."""
    return actor_from_token(store, token)


def get_session(request: Request) -> Session:
    session = getattr(request.state, "session", None)
    if session is None:
        session = request.app.state.sessions.load(request)
        request.state.session = session
    return session


async def page_actor(request: Request) -> Actor:
    """The signed-in actor of a browser session, or a redirect to the login page."""
    from attunement.web.app import LoginRequired

    session = get_session(request)
    sid = session.sid
    if not sid:
        raise LoginRequired()
    store: Store = request.app.state.store
    try:
        actor = await run_in_threadpool(store.accounts.actor_for_session, sid)
    except AuthError:
        session.clear()
        raise LoginRequired() from None
    request.state.actor = actor
    return actor


async def check_csrf(request: Request) -> None:
    """Every state-changing form carries the session's CSRF token (``csrf_token`` field)."""
    from attunement.web.app import CsrfFailed

    form = await request.form()
    if not csrf_ok(get_session(request), form.get("csrf_token")):  # type: ignore[arg-type]
        raise CsrfFailed()
