"""The request guard: what every request must pass before any route reads its body.

:class:`RequestGuard` is pure ASGI middleware, outside the router, so every route gets the
same treatment:

* **Body limits, before reading.** Each route class has a limit (``Settings.body_limit``,
  ``submission_body_limit``, ``upload_body_limit``): a ``Content-Length`` above it is answered
  413 without reading a byte, and a body streamed without one is counted and cut off at the
  limit (413 too).
* **Credentials before the body.** A request that may carry a body (POST, PUT, PATCH, DELETE)
  to anything but the few public routes (sign-in, caregiver links, password-reset links) must
  carry valid credentials — a bearer token under ``/api``, a live browser session elsewhere —
  or it is refused (401, or a redirect to the sign-in page) before its body is read. Public
  routes that take a one-time token check that it is live first (404).
* **Values no database accepts.** A NUL character in the path, the query string, a form field
  or a JSON string, or a JSON integer beyond 64 bits, is answered 422 naming the field: such
  values can never be valid here, and would otherwise fail inside the database driver.

:func:`client_address` is the real client address for the login throttle: the peer, or, when
the peer is a trusted proxy (``Settings.trusted_proxies``), the nearest untrusted address in
``X-Forwarded-For``.
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from attunement.store import AuthError, StoreError
from attunement.web.errors import BadInput, BodyTooLarge, LoginRequired, handler_for

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_SUBMISSION = re.compile(r"/api/families/[0-9]+/assessments")
_UPLOAD = re.compile(r"(/api)?/families/[0-9]+/observations")
# routes that take a body without an account: their one-time token, if any, is checked here
_PUBLIC = re.compile(r"/api/token|/login|/api/links/(?P<link>[^/]+)|/c/(?P<page_link>[^/]+)"
                     r"|/s/(?P<space>[^/]+)/(wishes|feedback|start)|/reset/(?P<reset>[^/]+)")


def body_limit(settings: Any, method: str, path: str) -> int:
    """The largest request body, in bytes, one route accepts.

    Parameters
    ----------
    settings : Settings
        The service's settings (its three limits).
    method : str
        The HTTP method.
    path : str
        The request path.

    Returns
    -------
    int
        The submission limit for assessment submissions, the upload limit for observation
        uploads, else the general limit.
    """
    if method == "POST" and _SUBMISSION.fullmatch(path):
        return int(settings.submission_body_limit)
    if method == "POST" and _UPLOAD.fullmatch(path):
        return int(settings.upload_body_limit)
    return int(settings.body_limit)


def _networks(values: Any) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(str(v).strip(), strict=False) for v in values or ()
            if str(v).strip()]


def _trusted(address: str, networks: list[Any]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def client_address(request: Request) -> str:
    """The real client address of a request, for login throttling and the audit log.

    ``X-Forwarded-For`` is honoured only from the trusted proxies in the settings.

    Parameters
    ----------
    request : fastapi.Request
        The incoming request, as the nearest hop delivered it.

    Returns
    -------
    str
        The nearest address not belonging to a trusted proxy.
    """
    peer = request.client.host if request.client else ""
    networks = getattr(request.app.state, "trusted_networks", None)
    if networks is None:
        networks = _networks(request.app.state.settings.trusted_proxies)
        request.app.state.trusted_networks = networks
    if not networks or not _trusted(peer, networks):
        return peer
    hops = [h.strip() for v in request.headers.getlist("x-forwarded-for") for h in v.split(",")]
    for hop in reversed(hops):  # the nearest hop first: only trusted proxies may add entries
        if not hop:
            continue
        if not _trusted(hop, networks):
            return hop[:100]
    return peer


def _check_text(field: str, value: str) -> None:
    if "\x00" in value:
        raise BadInput(field, "must not contain a NUL character")


def check_json(value: Any, field: str) -> None:
    """Refuse a NUL in any string and an integer beyond 64 bits, anywhere in a JSON value.

    The walk is iterative: no recursion limit to hit on deeply nested bodies.

    Parameters
    ----------
    value : object
        The parsed JSON value.
    field : str
        Its place, for the error (``"body"``); nested places are added with dots.

    Raises
    ------
    BadInput
        Naming the place at fault.
    """
    stack = [(value, field)]
    while stack:
        item, where = stack.pop()
        kind = type(item)
        if kind is str:
            _check_text(where, item)
        elif kind is int:
            if not INT64_MIN <= item <= INT64_MAX:
                raise BadInput(where, "is outside the range of a 64-bit integer")
        elif kind is dict:
            for k, v in item.items():
                _check_text(f"{where}.{k}", k)
                stack.append((v, f"{where}.{k}"))
        elif kind is list:
            stack.extend((v, f"{where}.{i}") for i, v in enumerate(item))


def _parse_json(body: bytes) -> Any:
    # the routes' own parser: orjson would read an integer beyond 64 bits as a float
    try:
        return json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return _UNPARSED


_UNPARSED = object()


def check_query(scope: Scope) -> None:
    """Refuse a NUL in the request path or in any query parameter.

    Parameters
    ----------
    scope : dict
        The ASGI request scope.

    Raises
    ------
    BadInput
        Naming the path or the parameter (answered 422).
    """
    if "\x00" in scope.get("path", ""):
        raise BadInput("path", "must not contain a NUL character")
    raw = scope.get("query_string", b"")
    if raw and (b"%00" in raw or b"\x00" in raw):
        for name, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True):
            _check_text(f"query.{name}", name)
            _check_text(f"query.{name}", value)


def check_body(content_type: bytes, body: bytes) -> None:
    """Refuse a NUL in a form field or JSON string, and a JSON integer beyond 64 bits.

    Parameters
    ----------
    content_type : bytes
        The request's media type.
    body : bytes
        The request body.

    Raises
    ------
    BadInput
        Naming the field at fault (answered 422).
    """
    if content_type == b"application/json":
        data = _parse_json(body)
        if data is not _UNPARSED:
            check_json(data, "body")
    elif content_type == b"application/x-www-form-urlencoded" and (
            b"%00" in body or b"\x00" in body):
        for name, value in parse_qsl(body.decode("latin-1"), keep_blank_values=True):
            _check_text(f"body.{name}", name)
            _check_text(f"body.{name}", value)


async def _answer(scope: Scope, receive: Receive, send: Send, exc: Exception) -> None:
    """Answer with the app's own handler for ``exc`` (the same answer a route would give)."""
    app = scope["app"]
    handler = handler_for(app, exc)
    if handler is None:
        raise exc
    response = await handler(Request(scope, receive), exc)
    await response(scope, receive, send)


async def _no_body() -> Message:
    return {"type": "http.disconnect"}


class RequestGuard:
    """ASGI middleware: body limits, credentials before bodies, values no field accepts."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            check_query(scope)
        except BadInput as exc:
            await _answer(scope, _no_body, send, exc)
            return
        method = scope["method"]
        if method not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        app = scope["app"]
        path: str = scope["path"]
        limit = body_limit(app.state.settings, method, path)
        length = content_type = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = value
            elif name == b"content-type":
                content_type = value.split(b";")[0].strip().lower()
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                declared = -1
            if declared > limit:
                await _answer(scope, _no_body, send, BodyTooLarge(limit))
                return
        try:
            await self._check_credentials(scope, path)
        except (StoreError, _PageLogin) as exc:
            await _answer(scope, _no_body, send, exc.error if isinstance(exc, _PageLogin)
                          else exc)
            return
        if content_type in (b"application/json", b"application/x-www-form-urlencoded"):
            # small, structured bodies: read (within the limit) and check before the route
            chunks: list[bytes] = []
            total = 0
            more = True
            while more:
                message = await receive()
                if message["type"] != "http.request":
                    return  # the client went away
                chunk = message.get("body", b"")
                total += len(chunk)
                if total > limit:
                    await _answer(scope, _no_body, send, BodyTooLarge(limit))
                    return
                chunks.append(chunk)
                more = message.get("more_body", False)
            body = b"".join(chunks)
            try:
                check_body(content_type, body)
            except BadInput as exc:
                await _answer(scope, _no_body, send, exc)
                return
            await self.app(scope, _replay(body, receive), send)
            return
        await self._streamed(scope, receive, send, limit)

    async def _streamed(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        """Any other body (uploads): counted as the route reads it, cut off at the limit."""
        total = 0
        exceeded = False
        started = False

        async def counted() -> Message:
            nonlocal total, exceeded
            message = await receive()
            if message["type"] == "http.request":
                total += len(message.get("body", b""))
                if total > limit:
                    exceeded = True
                    raise BodyTooLarge(limit)
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if exceeded:  # whatever the route made of the cut-off body: we answer 413
                return
            started = True
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except BodyTooLarge:
            if not exceeded:
                raise
        if exceeded and not started:
            await _answer(scope, _no_body, send, BodyTooLarge(limit))

    async def _check_credentials(self, scope: Scope, path: str) -> None:
        """Raise the app's error for a request without valid credentials (before its body)."""
        store = scope["app"].state.store
        public = _PUBLIC.fullmatch(path)
        if public is not None:
            if public.group("link") or public.group("page_link"):
                await run_in_threadpool(store.care.open_link,
                                        public.group("link") or public.group("page_link"))
            elif public.group("space"):
                await run_in_threadpool(store.care.open_space, public.group("space"))
            elif public.group("reset"):
                await run_in_threadpool(store.accounts.open_password_reset, public.group("reset"))
            return
        if path.startswith("/api/"):
            token = None
            for name, value in scope["headers"]:
                if name == b"authorization":
                    scheme, _, credentials = value.decode("latin-1").partition(" ")
                    if scheme.lower() == "bearer" and credentials.strip():
                        token = credentials.strip()
            if not token:
                raise AuthError("not authenticated")
            if store.accounts.cached_token_actor(token) is None:
                await run_in_threadpool(store.accounts.actor_for_token, token)
            return
        request = Request(scope)
        session = scope["app"].state.sessions.load(request)
        if not session.sid:
            raise _PageLogin()
        try:
            await run_in_threadpool(store.accounts.actor_for_session, session.sid)
        except AuthError:
            raise _PageLogin() from None


class _PageLogin(Exception):
    """A page form posted without a live session: the app's redirect to the sign-in page."""

    @property
    def error(self) -> Exception:
        return LoginRequired()


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands over the body already read, then the client's own."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed

