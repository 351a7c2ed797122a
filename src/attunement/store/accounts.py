"""Accounts: sites, users, passwords, login throttling, API tokens, browser sessions, studies."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from attunement import policy
from attunement.policy import Action, Target
from attunement.store import audit, names, shared
from attunement.store import validate as v
from attunement.store.credentials import (  # noqa: F401  (importable from here too)
    TOKEN_CACHE_SECONDS,
    TOKEN_DAYS,
    Credentials,
)
from attunement.store.crypto import token_hash
from attunement.store.errors import (
    AuthError,
    Forbidden,
    NotFound,
    StoreValidationError,
)
from attunement.store.models import (
    LoginAttempt,
    Membership,
    PasswordReset,
    Site,
    Study,
    StudyMember,
    StudySite,
    TimePoint,
    User,
)
from attunement.store.scope import (
    ROLES,
    Actor,
)
from attunement.store.sessions import (
    PASSWORD_SET_CLIENT,
    RESET_HOURS,
    is_locked,
    revoke_credentials,
    throttle_wait,
)

_hasher = PasswordHasher()  # argon2id with the library's current (RFC 9106 low-memory) defaults
_DUMMY_HASH = _hasher.hash("attunement-timing-equaliser")


class Accounts(Credentials):
    """Sites, studies, user accounts, passwords and sign-in.

    Every method that changes something takes ``actor``, who acts, checked against
    :mod:`attunement.policy` (an administrator manages everything; a site lead manages the
    practitioners and site leads of their own sites). Tokens and browser sessions come from
    :class:`attunement.store.credentials.Credentials`.

    Examples
    --------
    >>> store.accounts.add_site(admin, "East")
    {'id': 3, 'name': 'East'}
    >>> user = store.accounts.add_user(lead, "midwife@example.org", "practitioner",
    ...                                ["North"], "a long passphrase")
    >>> user["role"], user["sites"]
    ('practitioner', ['North'])
    >>> who = store.accounts.authenticate("midwife@example.org", "a long passphrase")
    >>> who.user_id == user["id"]
    True
    >>> [s["name"] for s in store.accounts.list_sites(who)]
    ['North']
    >>> [s["name"] for s in store.accounts.list_studies(who)]
    ['Attach-1']
    """

    def init(self, admin_email: str, admin_password: str) -> None:
        """Set up a new store: create the identifier key file (0600) and the first administrator.

        Parameters
        ----------
        admin_email : str
            The administrator's e-mail address.
        admin_password : str
            Their password (at least 8 characters, not the address).

        Raises
        ------
        StoreValidationError
            For a bad address or password, or when the store already has an administrator.
        """
        email = v.email(admin_email, "admin_email")
        password = v.password(admin_password, "admin_password", email_=email)
        with self.core.db.write() as s:
            self.core.keyring(s)
            if s.execute(select(User.id).where(User.role == policy.ADMIN).limit(1)).first():
                raise StoreValidationError("admin_email", "this store already has an administrator")
            system = self.core.system_actor()
            audit.append(
                s, actor=system, action="init", entity="store", after={"url": self.core.safe_url()}
            )
            self._create_user(s, system, email, policy.ADMIN, [], password)

    def add_site(self, actor: Actor, name: str) -> dict:
        """Create a site.

        Parameters
        ----------
        actor : Actor
            An administrator.
        name : str
            The site's name; one that looks like an existing site's name is refused.

        Returns
        -------
        dict
            ``id`` and ``name``.

        Raises
        ------
        Forbidden
            For other roles.
        StoreValidationError
            For a bad or look-alike name.
        """
        policy.require(actor, Action.MANAGE_SITE)
        name = names.site_name(v.text(name, "name") or "")
        with self.core.db.write() as s:
            existing = names.same_looking(name, s.execute(select(Site.name)).scalars())
            if existing is not None:
                raise StoreValidationError(
                    "name", f"a site called {existing!r} already exists (or looks the same)")
            site = Site(name=name)
            s.add(site)
            s.flush()
            audit.append(s, actor=actor, action="create", entity="site", entity_id=site.id,
                         site_id=site.id, after={"name": name})
            return {"id": site.id, "name": site.name}

    def list_sites(self, actor: Actor) -> list[dict]:
        """List the sites an actor may see.

        Parameters
        ----------
        actor : Actor
            Administrators see every site; others their own, and researchers their studies'.

        Returns
        -------
        list of dict
            ``id`` and ``name``, by name.
        """
        with self.core.db.read() as s:
            stmt = select(Site).order_by(Site.name)
            if not policy.allows(actor, Action.ANY_SITE):
                ids = set(actor.site_ids)
                scope = policy.family_scope(actor)
                if scope is not None and scope[0] == "study_id":  # a researcher's studies
                    ids |= set(
                        s.execute(
                            select(StudySite.site_id).where(StudySite.study_id.in_(actor.study_ids))
                        ).scalars()
                    )
                stmt = stmt.where(Site.id.in_(sorted(ids)))
            return [{"id": x.id, "name": x.name} for x in s.execute(stmt).scalars()]

    def add_user(
        self,
        actor: Actor,
        email: str,
        role: str,
        sites: list[str],
        password: str,
        *,
        studies: list[str] | None = None,
        expires_on: date | str | None = None,
    ) -> dict:
        """Create an account with a role at the named sites.

        Parameters
        ----------
        actor : Actor
            An administrator, or a site lead adding practitioners and site leads to their sites.
        email : str
            The person's e-mail address (their sign-in name).
        role : str
            ``admin``, ``practitioner``, ``site_lead`` or ``researcher``.
        sites : list of str
            Site names (practitioners and site leads need at least one).
        password : str
            The first password.
        studies : list of str, optional
            Study names granted to a researcher (who also sees the studies at their sites).
        expires_on : date or str, optional
            Access ends at the start of this day (UTC); must be in the future.

        Returns
        -------
        dict
            ``id``, ``email``, ``role``, ``sites``, ``studies``, ``expires_on``, ``active``.

        Raises
        ------
        Forbidden
            When the actor may not grant this role.
        StoreValidationError
            For a bad field, an address already in use, or a site outside a lead's own.
        """
        policy.require(actor, Action.GRANT_ROLE)
        if not policy.allows(actor, Action.GRANT_ROLE, Target(role=role)):
            raise Forbidden("a site lead may add practitioners and site leads only")
        email = v.email(email)
        if role not in ROLES:
            raise StoreValidationError("role", f"must be one of {', '.join(ROLES)}")
        password = v.password(password, email_=email)
        expires = v.a_date(expires_on, "expires_on")
        if expires is not None and expires <= datetime.now(UTC).date():
            raise StoreValidationError("expires_on", "must be in the future")
        with self.core.db.write() as s:
            return self._create_user(
                s, actor, email, role, sites, password, studies=studies, expires=expires
            )

    def _create_user(
        self,
        s: Session,
        actor: Actor,
        email: str,
        role: str,
        sites: Iterable[Any],
        password: str,
        *,
        studies: list[str] | None = None,
        expires: date | None = None,
    ) -> dict:
        taken = names.same_looking(email, s.execute(select(User.email)).scalars())
        if taken is not None:
            if not policy.allows(actor, Action.NAME_EXISTING_ACCOUNT):  # no other site's people
                raise StoreValidationError(
                    "email", "cannot be used for a new account; if the person already has "
                    "one, an administrator can give them access to your site")
            raise StoreValidationError(
                "email", f"cannot be used for a new account: {taken} already exists or looks "
                "the same")
        site_rows = [shared.site_by_ref(s, ref, f"sites.{i}") for i, ref in enumerate(sites or [])]
        if role in policy.SITE_ROLES and not site_rows:
            raise StoreValidationError(
                "sites", f"a {role.replace('_', ' ')} needs at least one site"
            )
        if not policy.allows(actor, Action.ANY_SITE):  # a site lead: their own sites only
            outside = [x.name for x in site_rows if x.id not in actor.site_ids]
            if outside:
                raise StoreValidationError("sites", f"not one of your sites: {outside[0]}")
        user = User(
            email=email,
            password_hash=_hasher.hash(password),
            role=role,
            expires_at=datetime(expires.year, expires.month, expires.day, tzinfo=UTC)
            if expires
            else None,
        )
        s.add(user)
        s.flush()
        for site in site_rows:
            s.add(Membership(user_id=user.id, site_id=site.id, role=role))
        study_rows = []
        for i, ref in enumerate(studies or []):
            study = s.execute(select(Study).where(Study.name == ref)).scalar_one_or_none()
            if study is None:
                raise StoreValidationError(f"studies.{i}", f"no study {ref!r}")
            s.add(StudyMember(study_id=study.id, user_id=user.id))
            study_rows.append(study.name)
        s.flush()
        after = {
            "email": email,
            "role": role,
            "sites": [x.name for x in site_rows],
            "studies": study_rows,
            "expires_on": shared.iso(expires),
        }
        audit.append(s, actor=actor, action="create", entity="user", entity_id=user.id,
                     site_id=site_rows[0].id if len(site_rows) == 1 else None, after=after)
        return {"id": user.id, **after, "active": True}

    def list_users(self, actor: Actor) -> list[dict]:
        """List accounts, by e-mail.

        Parameters
        ----------
        actor : Actor
            An administrator (everyone) or a site lead (the users of their sites).

        Returns
        -------
        list of dict
            ``id``, ``email``, ``role``, ``active``, ``expires_on``, ``sites``, ``studies``,
            ``created_at``.

        Raises
        ------
        Forbidden
            For roles that do not manage users.
        """
        policy.require(actor, Action.MANAGE_USER)
        with self.core.db.read() as s:
            users = list(s.execute(select(User).order_by(User.email)).scalars())
            sites = {x.id: x.name for x in s.execute(select(Site)).scalars()}
            members = list(s.execute(select(Membership)).scalars())
            grants = list(s.execute(select(StudyMember, Study.name).join(Study)).all())
            out = []
            for u in users:
                u_sites = [m.site_id for m in members if m.user_id == u.id]
                if (not policy.allows(actor, Action.SEE_ALL_USERS)
                        and not set(u_sites) & actor.site_ids):
                    continue
                out.append(
                    {
                        "id": u.id,
                        "email": u.email,
                        "role": u.role,
                        "active": u.active,
                        "expires_on": u.expires_at.date().isoformat() if u.expires_at else None,
                        "sites": sorted(sites[i] for i in u_sites),
                        "studies": sorted(name for g, name in grants if g.user_id == u.id),
                        "created_at": u.created_at.isoformat(),
                    }
                )
            return out

    def set_user_active(self, actor: Actor, user_id: int, active: bool, *, reason: str) -> dict:
        """Disable or re-enable an account; disabling also revokes its tokens and sessions.

        Parameters
        ----------
        actor : Actor
            An administrator (any account but their own), or a site lead (practitioners and
            site leads all of whose sites are theirs).
        user_id : int
            The account.
        active : bool
            Whether it may sign in.
        reason : str
            Why, for the audit log.

        Returns
        -------
        dict
            ``id``, ``email`` and ``active``.

        Raises
        ------
        NotFound
            For an account the actor cannot see.
        Forbidden
            For an account the actor may not manage.
        """
        policy.require(actor, Action.MANAGE_USER)
        reason = v.text(reason, "reason", max_len=1000) or ""
        if not active and actor.user_id == user_id:
            raise StoreValidationError(
                "active", "you cannot disable your own account; ask another administrator")
        with self.core.db.write() as s:
            user, site_ids = self._managed_user(s, actor, user_id)
            before = user.active
            user.active = bool(active)
            if not active:
                revoke_credentials(s, user.id)
            audit.append(s, actor=actor, action="update", entity="user", entity_id=user.id,
                         site_id=next(iter(site_ids)) if len(site_ids) == 1 else None,
                         before={"active": before}, after={"active": user.active}, reason=reason)
            self._forget_token_actors()
            out = {"id": user.id, "email": user.email, "active": user.active}
        self._forget_token_actors()
        return out

    def _managed_user(self, s: Session, actor: Actor, user_id: int) -> tuple[User, set[int]]:
        """The account ``actor`` may manage, and its sites.

        Admins manage anyone. A site lead manages practitioners and site leads whose every
        site is one of theirs: a person they cannot see (no site in common) is NotFound, one
        they see but who also works elsewhere, or has another role, is Forbidden.
        """
        user = s.get(User, user_id)
        if user is None:
            raise NotFound(f"user {user_id} not found")
        sites = set(s.execute(
            select(Membership.site_id).where(Membership.user_id == user.id)).scalars())
        policy.require(actor, Action.MANAGE_USER)
        target = Target(site_ids=frozenset(sites), role=user.role, what=f"user {user_id}")
        try:
            policy.require(actor, Action.MANAGE_USER, target)  # NotFound: no site in common
        except Forbidden:
            raise Forbidden("an administrator manages this account (it reaches beyond your "
                            "sites or has another role)") from None
        return user, sites

    def set_password(
        self,
        actor: Actor,
        user_id: int,
        new_password: str,
        *,
        current_password: str | None = None,
        client: str = "",
    ) -> None:
        """Change a password, revoking the account's tokens and sessions.

        Users change their own, giving the current one (a wrong one counts as a failed login
        and is throttled like one); administrators set anyone's. Site leads never learn a
        password: they send a reset link (:meth:`create_password_reset`).

        Parameters
        ----------
        actor : Actor
            The account's owner or an administrator.
        user_id : int
            The account.
        new_password : str
            The new password.
        current_password : str, optional
            The current one (required for one's own).
        client : str, default ""
            The client address, for the login throttle.

        Raises
        ------
        StoreValidationError
            For a wrong current password or a weak new one.
        AuthError
            When throttled (``retry_after`` says how long to wait).
        Forbidden, NotFound
            When the actor may not set this account's password.
        """
        own = actor.user_id is not None and actor.user_id == user_id
        with self.core.db.read() as s:
            if own:
                user = s.get(User, user_id)
                if user is None:
                    raise NotFound(f"user {user_id} not found")
                site_ids: set[int] = set()
            else:
                user, site_ids = self._managed_user(s, actor, user_id)
                if not policy.allows(actor, Action.SET_OTHERS_PASSWORD):
                    raise Forbidden("a site lead sends a password reset link; only an "
                                    "administrator sets a password for someone")
            email, old_hash = user.email, user.password_hash
            retry = self._throttled(s, email, client) if own else None
        if own or current_password is not None:  # changing one's own: re-authenticate
            if retry:
                with self.core.db.write() as s:
                    self._log_login(s, email, client, user, False, "throttled")
                raise AuthError("too many failed attempts; try again later", retry_after=retry)
            try:
                _hasher.verify(old_hash, current_password or "")
            except (VerificationError, InvalidHashError):
                with self.core.db.write() as s:
                    self._log_login(s, email, client, user, False,
                                    "wrong current password (password change)")
                raise StoreValidationError("current_password", "is not correct") from None
        new_password = v.password(new_password, "new_password", email_=email)
        with self.core.db.write() as s:
            fresh = s.get(User, user_id)
            assert fresh is not None
            fresh.password_hash = _hasher.hash(new_password)
            revoke_credentials(s, user_id)
            s.add(LoginAttempt(email=email, client=PASSWORD_SET_CLIENT, success=True,
                               at=self.core.now()))
            audit.append(s, actor=actor, action="set_password", entity="user", entity_id=user_id,
                         site_id=next(iter(site_ids)) if len(site_ids) == 1 else None)
            self._forget_token_actors()
        self._forget_token_actors()

    def authenticate(self, email: str, password: str, *, client: str = "") -> Actor:
        """Check an e-mail and password; every attempt is audited, failures are throttled.

        Parameters
        ----------
        email : str
            The sign-in address.
        password : str
            The password.
        client : str, default ""
            The client's address, throttled on its own.

        Returns
        -------
        Actor
            The signed-in user.

        Raises
        ------
        AuthError
            For wrong credentials or an inactive account (the message never says whether the
            account exists), or when throttled (``retry_after`` seconds).
        """
        email = names.fold(email or "")
        client = (client or "")[:100]
        now = self.core.now()
        with self.core.db.read() as s:
            user = s.execute(select(User).where(User.email == email)).scalar_one_or_none()
            retry = self._throttled(s, email, client)
        if retry:
            with self.core.db.write() as s:
                self._log_login(s, email, client, user, False, "throttled")
                locked = is_locked(s, email)
            err = AuthError("sign-in is locked after too many failed attempts; ask for a "
                            "password reset link" if locked else
                            "too many failed logins; try again later", retry_after=retry)
            err.locked = locked  # type: ignore[attr-defined]
            raise err
        ok = False
        try:
            ok = _hasher.verify(user.password_hash if user else _DUMMY_HASH, password or "")
        except (VerificationError, InvalidHashError):
            ok = False
        expired = user is not None and user.expires_at is not None and user.expires_at <= now
        ok = ok and user is not None and user.active and not expired
        with self.core.db.write() as s:
            self._log_login(s, email, client, user, ok, None if ok else "bad credentials")
            if ok and user is not None and _hasher.check_needs_rehash(user.password_hash):
                fresh = s.get(User, user.id)
                assert fresh is not None
                fresh.password_hash = _hasher.hash(password)
        if not ok or user is None:
            raise AuthError("email or password is not correct")
        return self.actor(user.id)

    def _throttled(self, s: Session, email: str, client: str) -> int | None:
        """Seconds to wait before this e-mail or client may try again, None when it may try
        now (NIST SP 800-63B §5.2.2; see :mod:`attunement.store.sessions`)."""
        return throttle_wait(s, email, client, self.core.now())

    def _log_login(
        self, s: Session, email: str, client: str, user: User | None, ok: bool, why: str | None
    ) -> None:
        if why != "throttled":  # refused attempts never extend the delay
            s.add(LoginAttempt(email=email, client=client, success=ok, at=self.core.now()))
        who = Actor(
            user.id if user else None,
            email,
            user.role if user else "unknown",
            frozenset(),
            frozenset(),
        )
        audit.append(s, actor=who, action="login" if ok else "login_failed", entity="user",
                     entity_id=user.id if user else None, reason=why, client=client)

    def actor(self, user_id: int) -> Actor:
        """Give the actor of an active user, with their sites and studies.

        Parameters
        ----------
        user_id : int
            The account's id (as :meth:`list_users` gives it); the sites and studies are
            read now, so a later change applies from the next call.

        Returns
        -------
        Actor
            Who the user acts as.

        Raises
        ------
        AuthError
            For an unknown, disabled or expired account.
        """
        with self.core.db.read() as s:
            user = s.get(User, user_id)
            now = self.core.now()
            if user is None or not user.active or (user.expires_at and user.expires_at <= now):
                raise AuthError("no such active user")
            site_ids = frozenset(
                s.execute(select(Membership.site_id).where(Membership.user_id == user.id)).scalars()
            )
            studies = set(
                s.execute(
                    select(StudyMember.study_id).where(StudyMember.user_id == user.id)
                ).scalars()
            )
            if site_ids:
                studies |= set(
                    s.execute(
                        select(StudySite.study_id).where(StudySite.site_id.in_(site_ids))
                    ).scalars()
                )
            return Actor(user.id, user.email, user.role, site_ids, frozenset(studies))

    def add_study(self, actor: Actor, name: str, sites: list[str], time_points: list[dict]) -> dict:
        """Create a study (or a service) with its sites and its schedule of time points.

        Parameters
        ----------
        actor : Actor
            An administrator.
        name : str
            The study's name (unique).
        sites : list of str
            The sites taking part.
        time_points : list of dict
            In order, each with ``name``, ``offset_days`` from the anchor, ``window_days``
            either side (default 14), ``instruments`` (ids) and optional ``anchor``
            (``due_date``, the default, or ``birth_date``).

        Returns
        -------
        dict
            ``id``, ``name``, ``sites`` and ``time_points``.

        Raises
        ------
        Forbidden
            For other roles.
        StoreValidationError
            For a bad time point or a name already used.
        """
        policy.require(actor, Action.ADD_STUDY)
        name = v.text(name, "name") or ""
        if not isinstance(time_points, list):
            raise StoreValidationError("time_points", "must be a list")
        tps = []
        seen: set[str] = set()
        for i, tp in enumerate(time_points):
            where = f"time_points.{i}"
            if not isinstance(tp, dict):
                raise StoreValidationError(where, "must be an object")
            tp_name = v.text(tp.get("name"), f"{where}.name", max_len=100) or ""
            if tp_name in seen:
                raise StoreValidationError(f"{where}.name", f"{tp_name!r} appears twice")
            seen.add(tp_name)
            instruments = tp.get("instruments", [])
            if not isinstance(instruments, list) or not all(
                isinstance(x, str) and x for x in instruments
            ):
                raise StoreValidationError(
                    f"{where}.instruments", "must be a list of instrument ids"
                )
            anchor = tp.get("anchor", "due_date")
            if anchor not in ("due_date", "birth_date"):
                raise StoreValidationError(f"{where}.anchor", "must be due_date or birth_date")
            tps.append(
                TimePoint(
                    name=tp_name,
                    position=i,
                    anchor=anchor,
                    instruments=list(instruments),
                    offset_days=v.integer(
                        tp.get("offset_days"),
                        f"{where}.offset_days",
                        required=True,
                        minimum=-400,
                        maximum=10000,
                    ),
                    window_days=v.integer(
                        tp.get("window_days", 14), f"{where}.window_days", minimum=0, maximum=3650
                    ),
                )
            )
        with self.core.db.write() as s:
            if s.execute(select(Study.id).where(Study.name == name)).first():
                raise StoreValidationError("name", f"a study called {name!r} already exists")
            site_rows = [shared.site_by_ref(s, r, f"sites.{i}") for i, r in enumerate(sites or [])]
            study = Study(name=name)
            s.add(study)
            s.flush()
            for site in site_rows:
                s.add(StudySite(study_id=study.id, site_id=site.id))
            for tp in tps:
                tp.study_id = study.id
                s.add(tp)
            s.flush()
            out = self._study_dict(s, study)
            audit.append(
                s, actor=actor, action="create", entity="study", entity_id=study.id, after=out
            )
            self._forget_token_actors()  # practitioners of these sites now see the study
        self._forget_token_actors()
        return out

    def _study_dict(self, s: Session, study: Study) -> dict:
        sites = s.execute(
            select(Site.name)
            .join(StudySite, StudySite.site_id == Site.id)
            .where(StudySite.study_id == study.id)
            .order_by(Site.name)
        ).scalars()
        tps = s.execute(
            select(TimePoint).where(TimePoint.study_id == study.id).order_by(TimePoint.position)
        ).scalars()
        return {
            "id": study.id,
            "name": study.name,
            "sites": list(sites),
            "time_points": [
                {
                    "name": t.name,
                    "offset_days": t.offset_days,
                    "window_days": t.window_days,
                    "anchor": t.anchor,
                    "instruments": list(t.instruments),
                }
                for t in tps
            ],
        }

    def list_studies(self, actor: Actor) -> list[dict]:
        """List the studies an actor may see.

        Parameters
        ----------
        actor : Actor
            Administrators see all; others the studies they are in or their sites run.

        Returns
        -------
        list of dict
            As :meth:`add_study` returns them, by name.
        """
        with self.core.db.read() as s:
            stmt = select(Study).order_by(Study.name)
            if not policy.allows(actor, Action.ANY_SITE):
                stmt = stmt.where(Study.id.in_(sorted(actor.study_ids)))
            return [self._study_dict(s, x) for x in s.execute(stmt).scalars()]

    # ------------------------------------------------------------------ password reset
    def create_password_reset(self, actor: Actor, user_id: int, *,
                              hours: int = RESET_HOURS) -> str:
        """Make a one-time link with which a user chooses a new password.

        The manager never learns a password; the account's sessions and tokens keep working
        until the link is used.

        Parameters
        ----------
        actor : Actor
            A site lead (for the accounts they manage) or an administrator.
        user_id : int
            The account.
        hours : int, default RESET_HOURS
            Hours until the link expires.

        Returns
        -------
        str
            The link's token (``atr_...``), shown once.

        Raises
        ------
        NotFound, Forbidden
            When the actor may not manage this account.
        """
        token = "atr_" + secrets.token_urlsafe(32)
        with self.core.db.write() as s:
            user, site_ids = self._managed_user(s, actor, user_id)
            row = PasswordReset(user_id=user.id, token_hash=token_hash(token),
                                created_by=actor.user_id,
                                expires_at=self.core.now() + timedelta(hours=hours))
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
        if row is None or row.used_at is not None or row.expires_at <= self.core.now():
            raise NotFound("this reset link is not valid: it was used, has expired or never "
                           "existed")
        user = s.get(User, row.user_id)
        if user is None or not user.active:
            raise NotFound("this reset link is not valid")
        return row, user

    def open_password_reset(self, token: str) -> dict:
        """Say which account a live reset link is for.

        Parameters
        ----------
        token : str
            The secret from the reset link the user followed.

        Returns
        -------
        dict
            ``email``.

        Raises
        ------
        NotFound
            When the link was used, has expired or never existed.
        """
        with self.core.db.read() as s:
            _, user = self._live_reset(s, token)
            return {"email": user.email}

    def use_password_reset(self, token: str, new_password: str) -> None:
        """Set the password chosen through a reset link; the link is then spent.

        Every session and API token of the account is revoked.

        Parameters
        ----------
        token : str
            The link's token.
        new_password : str
            The chosen password.

        Raises
        ------
        NotFound
            When the link is not live.
        StoreValidationError
            For a weak password.
        """
        from attunement.store import validate as v

        with self.core.db.read() as s:
            _, user = self._live_reset(s, token)
            email = user.email
        new_password = v.password(new_password, "new_password", email_=email)
        hashed = _hasher.hash(new_password)
        with self.core.db.write() as s:
            row, user = self._live_reset(s, token)  # again, under the lock: single use
            row.used_at = self.core.now()
            user.password_hash = hashed
            revoke_credentials(s, user.id)
            s.add(LoginAttempt(email=user.email, client=PASSWORD_SET_CLIENT, success=True,
                               at=self.core.now()))
            audit.append(s, actor=self._plain_actor(user), action="reset_password",
                         entity="user", entity_id=user.id, after={"reset_id": row.id})
            self._forget_token_actors()
        self._forget_token_actors()
