"""Request dependencies: the store, the signed-in actor (session or bearer token), CSRF.

Routes declare them with the ``Annotated`` aliases: ``StoreDep`` (the open store),
``CurrentActor`` (the actor behind ``Authorization: Bearer <token>``, 401 without one),
``PageActor`` (the actor of a browser session, or a redirect to the sign-in page) and
``BearerToken`` (the raw token, resolved later, e.g. in the submission writer thread) and
``PostedForm`` (a posted form whose CSRF token is the session's, 403 otherwise).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from attunement.store import Actor, AuthError, Store
from attunement.web.errors import CsrfFailed, LoginRequired
from attunement.web.rendering import get_session
from attunement.web.security import csrf_ok

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/token", auto_error=False)

__all__ = ["BearerToken", "CurrentActor", "PageActor", "PostedForm", "StoreDep",
           "actor_from_token", "api_actor", "check_csrf", "get_session", "get_store", "oauth2",
           "page_actor", "posted_form"]


async def get_store(request: Request) -> Store:
    """The application's open store."""
    # async on purpose: a plain attribute read needs no trip through the thread pool
    return request.app.state.store


StoreDep = Annotated[Store, Depends(get_store)]
BearerToken = Annotated[str | None, Depends(oauth2)]


def actor_from_token(store: Store, token: str | None) -> Actor:
    """The actor behind a bearer token; AuthError (401) without a valid one."""
    if not token:
        raise AuthError("not authenticated")
    return store.accounts.actor_for_token(token)


def api_actor(token: BearerToken, store: StoreDep) -> Actor:
    """The actor behind ``Authorization: Bearer <token>``; 401 without a valid token."""
    return actor_from_token(store, token)


CurrentActor = Annotated[Actor, Depends(api_actor)]


async def page_actor(request: Request) -> Actor:
    """The signed-in actor of a browser session, or a redirect to the login page."""
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


PageActor = Annotated[Actor, Depends(page_actor)]


async def posted_form(request: Request) -> FormData:
    """The posted form, once its ``csrf_token`` field is the session's (CsrfFailed otherwise).

    Every state-changing form carries the session's CSRF token; a page handler that reads the
    form takes it as a ``PostedForm`` parameter, one that does not declares ``check_csrf``.
    """
    form = await request.form()
    if not csrf_ok(get_session(request), form.get("csrf_token")):  # type: ignore[arg-type]
        raise CsrfFailed()
    return form


PostedForm = Annotated[FormData, Depends(posted_form)]


async def check_csrf(request: Request) -> None:
    """Every state-changing form carries the session's CSRF token (``csrf_token`` field)."""
    await posted_form(request)
