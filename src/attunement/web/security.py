"""Sessions, CSRF tokens and security headers for the web service.

A browser session is a signed cookie (itsdangerous, HttpOnly, SameSite=Lax, Secure when the
service runs behind HTTPS) that carries the store's API token for the signed-in user, a CSRF
token bound to the session, and two timestamps: an absolute lifetime and an idle timeout
(OWASP ASVS 7.3.1/7.3.2). The token itself is checked against the store on every request, so a
disabled account or an expired token ends the session on the server side too.
"""

from __future__ import annotations

import hmac
import secrets
import time
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
    def token(self) -> str | None:
        return self.data.get("token")

    def sign_in(self, token: str) -> None:
        """Start a fresh authenticated session: new CSRF token too (ASVS 7.2.4 rotation)."""
        now = int(time.time())
        self.data = {"token": token, "csrf": secrets.token_urlsafe(32), "iat": now, "last": now}
        self.changed = True

    def clear(self) -> None:
        self.data = {"csrf": secrets.token_urlsafe(32)}
        self.changed = True

    def flash(self, message: str, kind: str = "info") -> None:
        self.data.setdefault("flash", []).append([kind, message])
        self.changed = True

    def pop_flashes(self) -> list[list[str]]:
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
        raw = request.cookies.get(SESSION_COOKIE)
        if not raw:
            return Session()
        try:
            data = self._serializer.loads(raw, max_age=self.lifetime)
        except BadSignature:
            return Session(changed=True)
        if not isinstance(data, dict):
            return Session(changed=True)
        session = Session(data=data)
        if session.token:
            now = int(time.time())
            if now - int(data.get("last", 0)) > self.idle:
                session.clear()
            elif now - int(data.get("last", 0)) > 60:
                data["last"] = now
                session.changed = True
        return session

    def save(self, response: Response, session: Session, *, https: bool = False) -> None:
        """Set the signed cookie when the session changed; Secure when configured or when the
        request came over HTTPS (directly, or via a trusted proxy's X-Forwarded-Proto)."""
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
    """Constant-time check of a submitted form token against the session's token."""
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
