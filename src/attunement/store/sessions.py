"""Server-side browser sessions, one-time password-reset links and the login throttle.

A browser session is a row of ``web_sessions``: the cookie carries only an opaque random id
(only its SHA-256 is stored), never an API bearer token. A session ends at its absolute
lifetime, after its idle timeout, or when revoked (sign-out, a password change or reset, the
account disabled); an expired session is revoked on the server the first time it is presented,
so the id can never be used again (OWASP ASVS 3.3.1, 3.3.2; NIST SP 800-63B §7.1).

Login throttling follows NIST SP 800-63B §5.2.2: per account, after ``FREE_ATTEMPTS``
consecutive failures each further attempt must wait an exponentially growing delay (capped at
``MAX_DELAY``) counted from the last *counted* failure; attempts refused during the delay are
audited but not counted, so they never extend it, and a correct password after the delay is
accepted. After ``MAX_CONSECUTIVE_FAILURES`` the account is locked until its password is
reset (a reset link from a site lead or an administrator). Per client address (the real one:
see ``attunement.web.guard.client_address``), ``CLIENT_LIMIT`` failures within
``CLIENT_WINDOW`` pause that address only.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from attunement.store import audit
from attunement.store.crypto import token_hash
from attunement.store.errors import AuthError, NotFound
from attunement.store.models import ApiToken, LoginAttempt, PasswordReset, User, WebSession, utcnow

if TYPE_CHECKING:
    from attunement.store.scope import Actor

FREE_ATTEMPTS = 5
BASE_DELAY = 30  # seconds, after the FREE_ATTEMPTS-th consecutive failure; doubles after each
MAX_DELAY = 15 * 60
MAX_CONSECUTIVE_FAILURES = 100  # NIST SP 800-63B §5.2.2: no more than 100
CLIENT_WINDOW = timedelta(minutes=15)
CLIENT_LIMIT = 100
TOUCH_SECONDS = 30  # last_seen_at is written at most this often per session
RESET_HOURS = 24
# what a successful login or a password set/reset records, so the failure count restarts
PASSWORD_SET_CLIENT = "(password set)"


def login_delay(failures: int) -> int:
    """Seconds an account must wait after ``failures`` consecutive counted failures."""
    if failures < FREE_ATTEMPTS:
        return 0
    return min(MAX_DELAY, BASE_DELAY * 2 ** min(failures - FREE_ATTEMPTS, 20))


def throttle_wait(s: Session, email: str, client: str, now: datetime) -> int | None:
    """Seconds to wait before this e-mail (or this client address) may try again; None if it
    may try now. Only counted failures (not refused attempts) are looked at."""
    last_ok = s.execute(
        select(func.max(LoginAttempt.at)).where(
            LoginAttempt.email == email, LoginAttempt.success.is_(True))
    ).scalar()
    fails = select(LoginAttempt.at).where(
        LoginAttempt.email == email, LoginAttempt.success.is_(False))
    if last_ok is not None:
        fails = fails.where(LoginAttempt.at > last_ok)
    sub = fails.subquery()
    count, last = s.execute(select(func.count(), func.max(sub.c.at)).select_from(sub)).one()
    wait = 0
    if count >= MAX_CONSECUTIVE_FAILURES:
        wait = MAX_DELAY
    elif count >= FREE_ATTEMPTS and last is not None:
        until = last + timedelta(seconds=login_delay(count))
        wait = int((until - now).total_seconds() + 0.999)
    if client:
        since = now - CLIENT_WINDOW
        rows = list(s.execute(
            select(LoginAttempt.at).where(
                LoginAttempt.client == client, LoginAttempt.success.is_(False),
                LoginAttempt.at > since).order_by(LoginAttempt.at.desc()).limit(CLIENT_LIMIT)
        ).scalars())
        if len(rows) >= CLIENT_LIMIT:
            oldest = rows[-1]
            wait = max(wait, int((oldest + CLIENT_WINDOW - now).total_seconds() + 0.999))
    return wait if wait > 0 else None


def is_locked(s: Session, email: str) -> bool:
    """True when the account has failed ``MAX_CONSECUTIVE_FAILURES`` times in a row."""
    last_ok = s.execute(
        select(func.max(LoginAttempt.at)).where(
            LoginAttempt.email == email, LoginAttempt.success.is_(True))
    ).scalar()
    q = select(func.count()).select_from(LoginAttempt).where(
        LoginAttempt.email == email, LoginAttempt.success.is_(False))
    if last_ok is not None:
        q = q.where(LoginAttempt.at > last_ok)
    return s.execute(q).scalar_one() >= MAX_CONSECUTIVE_FAILURES


def revoke_credentials(s: Session, user_id: int) -> None:
    """Revoke every API token and browser session of a user (inside the caller's write)."""
    now = utcnow()
    s.execute(update(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
              .values(revoked_at=now))
    s.execute(update(WebSession).where(WebSession.user_id == user_id,
                                       WebSession.revoked_at.is_(None)).values(revoked_at=now))


class SessionsMixin:
    """The Store's browser sessions and password-reset links (see the module docstring)."""

    _db: Any

    # provided by Store
    actor: Callable[[int], Actor]
    _forget_token_actors: Callable[[], None]

    def create_web_session(self, actor: Actor, *, lifetime: int, idle: int) -> str:
        """Start a browser session for a signed-in user; returns its opaque id (for the
        cookie). ``lifetime`` and ``idle`` are in seconds."""
        if actor.user_id is None:
            raise AuthError("sessions belong to users")
        session_id = "ats_" + secrets.token_urlsafe(32)
        now = utcnow()
        with self._db.write() as s:
            row = WebSession(user_id=actor.user_id, session_hash=token_hash(session_id),
                             created_at=now, last_seen_at=now,
                             expires_at=now + timedelta(seconds=lifetime), idle_seconds=idle)
            s.add(row)
            s.flush()
            audit.append(s, actor=actor, action="create", entity="web_session",
                         entity_id=row.id, after={"expires_at": row.expires_at.isoformat(),
                                                  "idle_seconds": idle})
        return session_id

    def actor_for_session(self, session_id: str) -> Actor:
        """The user of a live browser session (AuthError otherwise). A session past its
        absolute lifetime or idle timeout is revoked here, for good."""
        if not session_id:
            raise AuthError("no session")
        digest = token_hash(session_id)
        now = utcnow()
        with self._db.read() as s:
            row = s.execute(select(WebSession.id, WebSession.user_id, WebSession.expires_at,
                                   WebSession.last_seen_at, WebSession.idle_seconds,
                                   WebSession.revoked_at)
                            .where(WebSession.session_hash == digest)).first()
        if row is None or row.revoked_at is not None:
            raise AuthError("session is invalid or has ended")
        idle = now - row.last_seen_at > timedelta(seconds=row.idle_seconds)
        if now >= row.expires_at or idle:
            with self._db.write(lock=False) as s:
                s.execute(update(WebSession).where(WebSession.id == row.id,
                                                   WebSession.revoked_at.is_(None))
                          .values(revoked_at=now))
            raise AuthError("session has expired")
        actor = self.actor(row.user_id)  # AuthError for a disabled or expired account
        if (now - row.last_seen_at).total_seconds() >= TOUCH_SECONDS:
            with self._db.write(lock=False) as s:
                s.execute(update(WebSession).where(WebSession.id == row.id)
                          .values(last_seen_at=now))
        return actor

    def end_web_session(self, session_id: str) -> None:
        """Sign out: revoke the session (nothing happens for an unknown or ended one)."""
        if not session_id:
            return
        with self._db.write() as s:
            row = s.execute(select(WebSession).where(
                WebSession.session_hash == token_hash(session_id))).scalar_one_or_none()
            if row is None or row.revoked_at is not None:
                return
            row.revoked_at = utcnow()
            user = s.get(User, row.user_id)
            who = self._plain_actor(user)
            audit.append(s, actor=who, action="revoke", entity="web_session", entity_id=row.id)

    @staticmethod
    def _plain_actor(user: User | None) -> Actor:
        from attunement.store.scope import Actor

        return Actor(user.id if user else None, user.email if user else "",
                     user.role if user else "unknown", frozenset(), frozenset())

    # ------------------------------------------------------------------ password reset
    def create_password_reset(self, actor: Actor, user_id: int, *,
                              hours: int = RESET_HOURS) -> str:
        """A one-time link token with which the user chooses a new password (site leads for
        the accounts they manage, administrators for anyone). The account's sessions and
        tokens keep working until the link is used; the manager never learns a password."""
        token = "atr_" + secrets.token_urlsafe(32)
        with self._db.write() as s:
            user, site_ids = self._managed_user(s, actor, user_id)  # type: ignore[attr-defined]
            row = PasswordReset(user_id=user.id, token_hash=token_hash(token),
                                created_by=actor.user_id,
                                expires_at=utcnow() + timedelta(hours=hours))
            s.add(row)
            s.flush()
            audit.append(s, actor=actor, action="create", entity="password_reset",
                         entity_id=row.id, site_id=next(iter(site_ids))
                         if len(site_ids) == 1 else None,
                         after={"user_id": user.id, "expires_at": row.expires_at.isoformat()})
        return token

    def _live_reset(self, s: Session, token: str) -> tuple[PasswordReset, User]:
        row = s.execute(select(PasswordReset).where(
            PasswordReset.token_hash == token_hash(token or ""))).scalar_one_or_none()
        if row is None or row.used_at is not None or row.expires_at <= utcnow():
            raise NotFound("this reset link is not valid: it was used, has expired or never "
                           "existed")
        user = s.get(User, row.user_id)
        if user is None or not user.active:
            raise NotFound("this reset link is not valid")
        return row, user

    def open_password_reset(self, token: str) -> dict:
        """The account a live reset link is for (NotFound when used, expired or unknown)."""
        with self._db.read() as s:
            _, user = self._live_reset(s, token)
            return {"email": user.email}

    def use_password_reset(self, token: str, new_password: str) -> None:
        """Set the password chosen through a reset link; the link is then spent, and every
        session and API token of the account is revoked."""
        from attunement.store import validate as v
        from attunement.store.service import _hasher

        with self._db.read() as s:
            _, user = self._live_reset(s, token)
            email = user.email
        new_password = v.password(new_password, "new_password", email_=email)
        hashed = _hasher.hash(new_password)
        with self._db.write() as s:
            row, user = self._live_reset(s, token)  # again, under the lock: single use
            row.used_at = utcnow()
            user.password_hash = hashed
            revoke_credentials(s, user.id)
            s.add(LoginAttempt(email=user.email, client=PASSWORD_SET_CLIENT, success=True,
                               at=utcnow()))
            audit.append(s, actor=self._plain_actor(user), action="reset_password",
                         entity="user", entity_id=user.id, after={"reset_id": row.id})
            self._forget_token_actors()
        self._forget_token_actors()
