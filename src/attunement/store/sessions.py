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

from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from attunement.store.models import ApiToken, LoginAttempt, WebSession, utcnow

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
    """Give how long an account must wait after a run of failed logins.

    The first ``FREE_ATTEMPTS`` failures cost nothing; then the wait starts at ``BASE_DELAY``
    seconds and doubles with each failure, up to ``MAX_DELAY``.

    Parameters
    ----------
    failures : int
        Consecutive counted failures.

    Returns
    -------
    int
        Seconds to wait.

    Examples
    --------
    >>> [login_delay(n) for n in (4, 5, 6, 7, 30)]
    [0, 30, 60, 120, 900]
    """
    if failures < FREE_ATTEMPTS:
        return 0
    return min(MAX_DELAY, BASE_DELAY * 2 ** min(failures - FREE_ATTEMPTS, 20))


def throttle_wait(s: Session, email: str, client: str, now: datetime) -> int | None:
    """Give how long a login for this e-mail, or from this client address, must wait.

    Only counted failures are looked at (attempts refused while waiting are not).

    Parameters
    ----------
    s : Session
        A database transaction.
    email : str
        The folded e-mail address tried.
    client : str
        The client's address ("" when unknown: only the account is throttled).
    now : datetime
        The current time.

    Returns
    -------
    int or None
        Seconds to wait, or None when a login may be tried now.

    Examples
    --------
    >>> with store.db.read() as s:
    ...     throttle_wait(s, "practitioner@example.org", "192.0.2.1", store.core.now())
    """
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
    """Tell whether an account is locked until its password is reset.

    Parameters
    ----------
    s : Session
        A database transaction.
    email : str
        The folded e-mail address.

    Returns
    -------
    bool
        True after ``MAX_CONSECUTIVE_FAILURES`` failures in a row.

    Examples
    --------
    >>> with store.db.read() as s:
    ...     is_locked(s, "practitioner@example.org")
    False
    """
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
    """Revoke every API token and browser session of a user, inside the caller's write.

    Parameters
    ----------
    s : Session
        The open write transaction.
    user_id : int
        The user.

    Examples
    --------
    >>> token = store.accounts.create_api_token(practitioner)
    >>> with store.db.write() as s:
    ...     revoke_credentials(s, practitioner.user_id)
    >>> store.accounts.actor_for_token(token)
    Traceback (most recent call last):
    ...
    attunement.store.errors.AuthError: token is invalid or expired
    """
    now = utcnow()
    s.execute(update(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
              .values(revoked_at=now))
    s.execute(update(WebSession).where(WebSession.user_id == user_id,
                                       WebSession.revoked_at.is_(None)).values(revoked_at=now))
