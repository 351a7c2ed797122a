"""Sessions, CSRF tokens and security headers for the web service.

A browser session is a signed cookie (itsdangerous, HttpOnly, SameSite=Lax, Secure when the
service runs behind HTTPS) that carries an opaque session id, a CSRF token bound to the
session and flash messages. The session itself lives on the server
(:mod:`attunement.store.sessions`): its absolute lifetime and idle timeout are enforced there
and end it for good (OWASP ASVS 3.3.1/3.3.2), and it is never an API bearer token.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SESSION_COOKIE = "attunement_session"


@dataclass
class Session:
    """The decoded session cookie. ``changed`` marks it for re-signing on the response."""

    data: dict[str, Any] = field(default_factory=dict)
    changed: bool = False

    @property
    def csrf(self) -> str:
        if "csrf" not in self.data:
            self.data["csrf"] = secrets.token_urlsafe(32)
            self.changed = True
        return self.data["csrf"]

    @property
    def sid(self) -> str | None:
        """The server-side session id, when signed in."""
        value = self.data.get("sid")
        return value if isinstance(value, str) else None

    def sign_in(self, sid: str) -> None:
        """Start a fresh authenticated session, with a new CSRF token too (ASVS 3.2.1 rotation).

        Parameters
        ----------
        sid : str
            The server-side session's id.
        """
        self.data = {"sid": sid, "csrf": secrets.token_urlsafe(32)}
        self.changed = True

    def clear(self) -> None:
        """Forget the session (sign out): only a new CSRF token is kept."""
        self.data = {"csrf": secrets.token_urlsafe(32)}
        self.changed = True

    def flash(self, message: str, kind: str = "info") -> None:
        """Keep a message to show on the next page.

        Parameters
        ----------
        message : str
            The message.
        kind : str
            ``"info"``, ``"error"`` or ``"urgent"`` (how it is shown).
        """
        self.data.setdefault("flash", []).append([kind, message])
        self.changed = True

    def pop_flashes(self) -> list[list[str]]:
        """Take the messages kept for this page.

        Returns
        -------
        list of [str, str]
            ``[kind, message]`` pairs, oldest first; the session no longer holds them.
        """
        flashes = self.data.pop("flash", [])
        if flashes:
            self.changed = True
        return flashes


class SessionManager:
    """Signs, verifies and expires session cookies."""

    def __init__(self, secret: str, *, secure: bool, lifetime: int, idle: int) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="attunement.session")
        self.secure = secure
        self.lifetime = lifetime
        self.idle = idle

    def load(self, request: Request) -> Session:
        """Read the session from the request's signed cookie.

        Parameters
        ----------
        request : fastapi.Request
            Its ``Cookie`` header may hold the session.

        Returns
        -------
        Session
            The session; an empty one when there is no cookie, and an empty one marked changed
            (so the cookie is replaced) when it is expired or its signature is wrong.
        """
        raw = request.cookies.get(SESSION_COOKIE)
        if not raw:
            return Session()
        try:
            data = self._serializer.loads(raw, max_age=self.lifetime)
        except BadSignature:
            return Session(changed=True)
        if not isinstance(data, dict):
            return Session(changed=True)
        return Session(data=data)

    def save(self, response: Response, session: Session, *, https: bool = False) -> None:
        """Set the signed session cookie on a response when the session changed.

        The cookie is Secure when configured or when the request came over HTTPS (directly, or
        via a trusted proxy's X-Forwarded-Proto).

        Parameters
        ----------
        response : fastapi.Response
            The response to set it on.
        session : Session
            The session.
        https : bool
            Whether the request came over HTTPS.
        """
        if not session.changed:
            return
        response.set_cookie(
            SESSION_COOKIE,
            self._serializer.dumps(session.data),
            max_age=self.lifetime,
            httponly=True,
            samesite="lax",
            secure=self.secure or https,
            path="/",
        )


def csrf_ok(session: Session, submitted: str | None) -> bool:
    """Constant-time check of a submitted form token against the session's token.

    Parameters
    ----------
    session : Session
        The browser session.
    submitted : str or None
        The form's ``csrf_token`` field.

    Returns
    -------
    bool
        True when both are present and equal.
    """
    expected = session.data.get("csrf")
    return bool(expected and submitted) and hmac.compare_digest(str(expected), str(submitted))


CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
# Swagger UI initialises itself with an inline script and inline styles.
DOCS_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'"
)


class SecurityHeaders:
    """Pure ASGI middleware adding security headers to every HTTP response (cheap on the hot path)."""

    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        csp = DOCS_CSP if path.startswith("/docs") else CSP

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                extra = [
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"content-security-policy", csp.encode()),
                    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
                ]
                if not path.startswith("/static"):
                    extra.append((b"cache-control", b"no-store"))
                if self.hsts:
                    extra.append((b"strict-transport-security", b"max-age=31536000"))
                headers.extend((k, v) for k, v in extra if k not in names)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
