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
    """The application's open store, as a route dependency (``StoreDep``).

    Parameters
    ----------
    request : fastapi.Request
        The request (FastAPI passes it in).

    Returns
    -------
    Store
        The store the application was created with.
    """
    # async on purpose: a plain attribute read needs no trip through the thread pool
    return request.app.state.store


StoreDep = Annotated[Store, Depends(get_store)]
BearerToken = Annotated[str | None, Depends(oauth2)]


def actor_from_token(store: Store, token: str | None) -> Actor:
    """The actor behind a bearer token.

    Parameters
    ----------
    store : Store
        The open store, which knows the tokens.
    token : str or None
        The token sent in ``Authorization: Bearer``.

    Returns
    -------
    Actor
        The token's user.

    Raises
    ------
    AuthError
        No token, or one that is unknown, expired or revoked (answered 401).
    """
    if not token:
        raise AuthError("not authenticated")
    return store.accounts.actor_for_token(token)


def api_actor(token: BearerToken, store: StoreDep) -> Actor:
    """The actor behind ``Authorization: Bearer <token>``, for the JSON API's routes.

    Parameters
    ----------
    token : str or None
        The bearer token.
    store : Store
        The open store.

    Returns
    -------
    Actor
        The token's user; a missing or invalid token answers 401.
    """
    return actor_from_token(store, token)


CurrentActor = Annotated[Actor, Depends(api_actor)]


async def page_actor(request: Request) -> Actor:
    """The signed-in actor of a browser session, or a redirect to the login page.

    Parameters
    ----------
    request : fastapi.Request
        A page request carrying the session cookie.

    Returns
    -------
    Actor
        The session's user (also kept on ``request.state.actor`` for the templates).

    Raises
    ------
    LoginRequired
        No session, or one that ended: the browser is sent to sign in.
    """
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
    """The posted form, once its ``csrf_token`` field is the session's.

    Every state-changing form carries the session's CSRF token; a page handler that reads the
    form takes it as a ``PostedForm`` parameter, one that does not declares ``check_csrf``.

    Parameters
    ----------
    request : fastapi.Request
        A form POST from a page.

    Returns
    -------
    starlette.datastructures.FormData
        The form's fields.

    Raises
    ------
    CsrfFailed
        The token is missing or not the session's (answered with a 403 page).
    """
    form = await request.form()
    if not csrf_ok(get_session(request), form.get("csrf_token")):  # type: ignore[arg-type]
        raise CsrfFailed()
    return form


PostedForm = Annotated[FormData, Depends(posted_form)]


async def check_csrf(request: Request) -> None:
    """Refuse a state-changing form whose ``csrf_token`` field is not the session's.

    For page routes that change something without reading the form's other fields.

    Parameters
    ----------
    request : fastapi.Request
        The POST whose form is checked.
    """
    await posted_form(request)
