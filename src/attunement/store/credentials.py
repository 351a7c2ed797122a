"""Credentials of signed-in users: API bearer tokens (with a short per-process cache of the
actor each stands for) and server-side browser sessions.

:class:`Credentials` is part of :class:`attunement.store.accounts.Accounts` (its base class):
callers use them as ``store.accounts.create_api_token`` and so on.
"""

from __future__ import annotations

import secrets
import threading
import time
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, select, update

from attunement import policy
from attunement.policy import Action
from attunement.store import audit
from attunement.store.crypto import token_hash
from attunement.store.errors import AuthError, Forbidden, NotFound
from attunement.store.models import (
    ApiToken,
    Membership,
    StudyMember,
    StudySite,
    User,
    WebSession,
)
from attunement.store.scope import Actor
from attunement.store.sessions import TOUCH_SECONDS

if TYPE_CHECKING:
    from attunement.store.core import Core

TOKEN_DAYS = 30
# A bearer token's actor is kept this long per process. Revocation, logout, disabling a user,
# a password change and membership or study changes made through this process take effect at
# once (the cache is cleared); made by ANOTHER process (a second worker, the CLI), within this.
TOKEN_CACHE_SECONDS = 3.0
_T = ApiToken.__table__.c
_U = User.__table__.c
_TOKEN_USER = (
    select(_T.revoked_at, _T.expires_at, _U.id, _U.email, _U.role, _U.active,
           _U.expires_at.label("user_expires_at"))
    .select_from(ApiToken.__table__.join(User.__table__, _U.id == _T.user_id))
    .where(_T.token_hash == bindparam("token_hash"))
)
_USER_SITES = select(Membership.__table__.c.site_id).where(
    Membership.__table__.c.user_id == bindparam("user_id"))
_USER_STUDIES = select(StudyMember.__table__.c.study_id).where(
    StudyMember.__table__.c.user_id == bindparam("user_id"))
_SITE_STUDIES = select(StudySite.__table__.c.study_id).where(
    StudySite.__table__.c.site_id.in_(bindparam("site_ids", expanding=True)))


class Credentials:
    """API bearer tokens and server-side browser sessions of signed-in users.

    The base class of :class:`attunement.store.accounts.Accounts`: reach these methods as
    ``store.accounts.create_api_token`` and so on. Only a hash of each token or session id
    is stored.

    Examples
    --------
    >>> token = store.accounts.create_api_token(practitioner, days=7)
    >>> store.accounts.actor_for_token(token).email
    'practitioner@example.org'
    >>> store.accounts.revoke_api_token(practitioner, token)
    >>> sid = store.accounts.create_web_session(lead, lifetime=8 * 3600, idle=1800)
    >>> store.accounts.actor_for_session(sid).role
    'site_lead'
    >>> store.accounts.end_web_session(sid)
    >>> store.accounts.actor_for_session(sid)
    Traceback (most recent call last):
    ...
    attunement.store.errors.AuthError: session is invalid or has ended
    """

    def __init__(self, core: Core) -> None:
        self.core = core
        # token hash -> (monotonic deadline, Actor); see TOKEN_CACHE_SECONDS
        self._token_actors: dict[str, tuple[float, Actor]] = {}
        self._token_generation = 0
        self._token_lock = threading.Lock()

    if TYPE_CHECKING:
        def actor(self, user_id: int) -> Actor: ...  # Accounts.actor

    def create_api_token(self, actor: Actor, *, days: int = TOKEN_DAYS) -> str:
        """Issue a bearer token for programs, acting with the user's own rights.

        Parameters
        ----------
        actor : Actor
            The signed-in user the token stands for.
        days : int, default TOKEN_DAYS
            Days until it expires.

        Returns
        -------
        str
            The token (``att_...``), shown once: only its hash is kept.

        Raises
        ------
        Forbidden
            For the system actor, which is no user.
        """
        if actor.user_id is None:
            raise Forbidden("API tokens belong to users")
        token = "att_" + secrets.token_urlsafe(32)
        with self.core.db.write() as s:
            row = ApiToken(
                user_id=actor.user_id,
                token_hash=token_hash(token),
                expires_at=self.core.now() + timedelta(days=days),
            )
            s.add(row)
            s.flush()
            audit.append(s, actor=actor, action="create", entity="api_token", entity_id=row.id,
                         after={"expires_at": row.expires_at.isoformat()})
        return token

    def actor_for_token(self, token: str) -> Actor:
        """Resolve a bearer token to the user it stands for.

        The answer is kept for ``TOKEN_CACHE_SECONDS`` in this process (never past the token's
        or the account's expiry); a change to tokens, users or memberships made through this
        process clears it at once.

        Parameters
        ----------
        token : str
            The token from the request.

        Returns
        -------
        Actor
            The user, with their sites and studies.

        Raises
        ------
        AuthError
            For a missing, unknown, revoked or expired token, or an inactive account.
        """
        if not token:
            raise AuthError("missing token")
        digest = token_hash(token)
        cached = self._token_actors.get(digest)
        now_mono = time.monotonic()
        if cached is not None and cached[0] > now_mono:
            return cached[1]
        generation = self._token_generation
        with self.core.db.read() as s:
            conn = s.connection()
            row = conn.execute(_TOKEN_USER, {"token_hash": digest}).first()
            now = self.core.now()
            if row is None or row.revoked_at is not None or row.expires_at <= now:
                raise AuthError("token is invalid or expired")
            if not row.active or (row.user_expires_at and row.user_expires_at <= now):
                raise AuthError("no such active user")
            site_ids = frozenset(conn.execute(_USER_SITES, {"user_id": row.id}).scalars())
            studies = set(conn.execute(_USER_STUDIES, {"user_id": row.id}).scalars())
            if site_ids:
                studies |= set(
                    conn.execute(_SITE_STUDIES, {"site_ids": sorted(site_ids)}).scalars())
        actor = Actor(row.id, row.email, row.role, site_ids, frozenset(studies))
        ends = [row.expires_at] + ([row.user_expires_at] if row.user_expires_at else [])
        left = min((e - now).total_seconds() for e in ends)
        deadline = now_mono + min(TOKEN_CACHE_SECONDS, left)
        with self._token_lock:
            # a change committed while we were reading must not be cached over
            if generation == self._token_generation:
                if len(self._token_actors) > 10_000:
                    self._token_actors.clear()
                self._token_actors[digest] = (deadline, actor)
        return actor

    def cached_token_actor(self, token: str) -> Actor | None:
        """Look a token up in this process's short cache only, without the database.

        Cheap enough for the event loop; on a miss, call :meth:`actor_for_token`.

        Parameters
        ----------
        token : str
            The bearer token from the request's header.

        Returns
        -------
        Actor or None
            The user, if this process resolved the token within ``TOKEN_CACHE_SECONDS``.
        """
        cached = self._token_actors.get(token_hash(token))
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        return None

    def _forget_token_actors(self) -> None:
        """Tokens, users, memberships or studies changed: resolve every token afresh."""
        with self._token_lock:
            self._token_generation += 1
            self._token_actors.clear()

    def revoke_api_token(self, actor: Actor, token: str) -> None:
        """Revoke a token at once.

        Parameters
        ----------
        actor : Actor
            The token's owner, or an administrator (anyone's token).
        token : str
            The token.

        Raises
        ------
        NotFound
            When the token is unknown or belongs to someone the actor may not manage.
        """
        with self.core.db.write() as s:
            row = s.execute(
                select(ApiToken).where(ApiToken.token_hash == token_hash(token))
            ).scalar_one_or_none()
            if row is None or (row.user_id != actor.user_id
                               and not policy.allows(actor, Action.REVOKE_OTHERS_TOKEN)):
                raise NotFound("token not found")
            row.revoked_at = self.core.now()
            audit.append(s, actor=actor, action="revoke", entity="api_token", entity_id=row.id)
            self._forget_token_actors()
        self._forget_token_actors()

    def create_web_session(self, actor: Actor, *, lifetime: int, idle: int) -> str:
        """Start a browser session for a user who has just signed in.

        Parameters
        ----------
        actor : Actor
            The user.
        lifetime : int
            Seconds until the session ends, however active.
        idle : int
            Seconds of inactivity after which it ends.

        Returns
        -------
        str
            The opaque session id (``ats_...``) for the cookie.

        Raises
        ------
        AuthError
            For an actor who is not a user.
        """
        if actor.user_id is None:
            raise AuthError("sessions belong to users")
        session_id = "ats_" + secrets.token_urlsafe(32)
        now = self.core.now()
        with self.core.db.write() as s:
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
        """Resolve a browser session's cookie to its user.

        A session past its lifetime or idle timeout is revoked here, for good; a live one has
        its last activity noted (at most every ``TOUCH_SECONDS``).

        Parameters
        ----------
        session_id : str
            The id from the cookie.

        Returns
        -------
        Actor
            The session's user.

        Raises
        ------
        AuthError
            For an unknown, ended or expired session, or an inactive account.
        """
        if not session_id:
            raise AuthError("no session")
        digest = token_hash(session_id)
        now = self.core.now()
        with self.core.db.read() as s:
            row = s.execute(select(WebSession.id, WebSession.user_id, WebSession.expires_at,
                                   WebSession.last_seen_at, WebSession.idle_seconds,
                                   WebSession.revoked_at)
                            .where(WebSession.session_hash == digest)).first()
        if row is None or row.revoked_at is not None:
            raise AuthError("session is invalid or has ended")
        idle = now - row.last_seen_at > timedelta(seconds=row.idle_seconds)
        if now >= row.expires_at or idle:
            with self.core.db.write(lock=False) as s:
                s.execute(update(WebSession).where(WebSession.id == row.id,
                                                   WebSession.revoked_at.is_(None))
                          .values(revoked_at=now))
            raise AuthError("session has expired")
        actor = self.actor(row.user_id)  # AuthError for a disabled or expired account
        if (now - row.last_seen_at).total_seconds() >= TOUCH_SECONDS:
            with self.core.db.write(lock=False) as s:
                s.execute(update(WebSession).where(WebSession.id == row.id)
                          .values(last_seen_at=now))
        return actor

    def end_web_session(self, session_id: str) -> None:
        """Sign out: revoke a browser session.

        An unknown or already ended session is left as it is, silently.

        Parameters
        ----------
        session_id : str
            The id from the cookie.
        """
        if not session_id:
            return
        with self.core.db.write() as s:
            row = s.execute(select(WebSession).where(
                WebSession.session_hash == token_hash(session_id))).scalar_one_or_none()
            if row is None or row.revoked_at is not None:
                return
            row.revoked_at = self.core.now()
            user = s.get(User, row.user_id)
            who = self._plain_actor(user)
            audit.append(s, actor=who, action="revoke", entity="web_session", entity_id=row.id)

    @staticmethod
    def _plain_actor(user: User | None) -> Actor:
        from attunement.store.scope import Actor

        return Actor(user.id if user else None, user.email if user else "",
                     user.role if user else "unknown", frozenset(), frozenset())
