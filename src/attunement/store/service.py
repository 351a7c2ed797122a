"""The platform store: one object the web app and the CLI use for every read and write."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import secrets
import shutil
import sqlite3
import subprocess
import threading
import time
import types
from collections import namedtuple
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import and_, bindparam, case, false, func, or_, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

# the family file's vocabulary: one definition for the screening core and the store
from attunement.risk.family import PLACEMENTS
from attunement.risk.family import ROLES as CAREGIVER_ROLES
from attunement.risk.profile import REVIEW_KEY
from attunement.store import audit, blind, caseload, files, maintenance, names
from attunement.store import validate as v
from attunement.store.crypto import KeyRing, create_key_file, load_key_file, token_hash
from attunement.store.db import (
    Database,
    default_key_path,
    default_url,
    driver_execute,
    normalise_url,
)
from attunement.store.errors import (
    AuthError,
    Forbidden,
    KeyFileError,
    NotFound,
    StoreError,
    StoreValidationError,
)
from attunement.store.models import (
    Alert,
    ApiToken,
    Assessment,
    AuditEntry,
    Caregiver,
    CaregiverContribution,
    CaregiverLink,
    Consent,
    Episode,
    Family,
    Identity,
    IdentityLookup,
    Infant,
    LoginAttempt,
    Membership,
    ObservationSession,
    ResultRelease,
    Setting,
    Site,
    Study,
    StudyMember,
    StudySite,
    TimePoint,
    User,
    utcnow,
)
from attunement.store.research_view import ResearchView, coded_context, coded_variants
from attunement.store.scope import (
    CLINICAL,
    ROLES,
    Actor,
    get_scoped,
    get_scoped_family_caregiver,
    require_role,
    require_write,
    scoped,
    sees_allocation_sequence,
)
from attunement.store.sessions import (
    PASSWORD_SET_CLIENT,
    SessionsMixin,
    is_locked,
    revoke_credentials,
    throttle_wait,
)
from attunement.vocabulary import load_vocabulary

if TYPE_CHECKING:
    import pandas as pd

    from attunement.store import exports

# What a safety review concluded, recorded when an urgent alert is acknowledged. Any outcome
# records that the review was done, which releases the hold on intervention matching.
SAFETY_REVIEW_OUTCOMES: dict[str, str] = {
    "no_immediate_risk": "Reviewed: no immediate risk; plan agreed with the caregiver",
    "safety_plan": "Reviewed: safety plan agreed; follow-up booked",
    "urgent_referral": "Referred for urgent assessment (crisis or perinatal mental-health team)",
    "emergency_services": "Emergency services called",
    "safeguarding_referral": "Safeguarding referral made",
}
TOKEN_DAYS = 30
# A bearer token's actor is kept this long per process. Revocation, logout, disabling a user,
# a password change and membership or study changes made through this process take effect at
# once (the cache is cleared); made by ANOTHER process (a second worker, the CLI), within this.
TOKEN_CACHE_SECONDS = 3.0
CONTRIBUTION_KINDS = ("wishes", "session_feedback")
WISH_FIELDS = ("goals", "preferred_contact", "other_carers")
# four 0-10 ratings in the project's own words, after the idea of the Session Rating Scale
# (Duncan BL, Miller SD, Sparks JA et al. 2003, J Brief Therapy 3(1):3-12); not its wording
SESSION_FEEDBACK_ITEMS = ("heard", "goals", "approach", "overall")
LANGUAGE_TAG = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")  # BCP 47, simplified
MAX_OBSERVATION_BYTES = 200 * 1024 * 1024  # superseded by observation_measures' limits
# many rows in one statement, their ids in the order given (SQLAlchemy's insertmanyvalues)
_INSERT_ASSESSMENTS = Assessment.__table__.insert().returning(
    Assessment.__table__.c.id, sort_by_parameter_order=True)
_INSERT_ALERT = Alert.__table__.insert()
_A = Assessment.__table__.c
# prebuilt (compiled once) statements of the submission hot path, run on the connection
_NEXT_INSTANCE = (
    "SELECT max(instance) FROM assessments"
    " WHERE caregiver_id = ? AND instrument = ? AND time_point = ?"
)
_CgRow = namedtuple("_CgRow", "id key role left_on variants")
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
_hasher = PasswordHasher()  # argon2id with the library's current (RFC 9106 low-memory) defaults
_DUMMY_HASH = _hasher.hash("attunement-timing-equaliser")


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date | datetime) else value


def _urgent_alert(alert: Alert) -> bool:
    """Whether an alert is for an urgent flag (attunement.vocabulary), not a review item."""
    kind = load_vocabulary().kind_of({"id": alert.flag_id, "kind": alert.kind})
    return kind is not None and kind.urgent


def _flag_dict(flag: Any) -> dict[str, Any]:
    if isinstance(flag, dict):
        data = dict(flag)
    elif dataclasses.is_dataclass(flag):
        # shallow (asdict deep-copies); _jsonable below converts anything nested
        data = {f.name: getattr(flag, f.name) for f in dataclasses.fields(flag)}
    else:
        data = {k: getattr(flag, k, None) for k in ("id", "kind", "label", "reason", "source")}
    return {k: _jsonable(val) for k, val in data.items()}


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(x) for k, x in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(x) for x in value]
    if isinstance(value, date | datetime):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalar
        return value.item()
    if isinstance(value, float) and value != value:
        return None
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if dataclasses.is_dataclass(value):
        return _jsonable(dataclasses.asdict(value))  # type: ignore[arg-type]
    return str(value)


@dataclasses.dataclass(frozen=True, slots=True)
class Submission:
    """One questionnaire submission for :meth:`Store.add_assessments` (the arguments of
    :meth:`Store.add_assessment`, kept together)."""

    actor: Actor
    family_id: int
    caregiver: str
    instrument: str
    time_point: str
    responses: list[int | None]
    input: str = "scores"
    submission_key: str | None = None
    completed_on: date | str | None = None


@dataclasses.dataclass(slots=True)
class _Prepared:
    """An assessment checked and scored, not yet written (see ``_write_assessments``)."""

    actor: Actor
    fam: Any  # .id, .site_id, .study_id
    cg: Any  # .id, .key, .role, .left_on, .variants
    values: dict
    corrects: Any = None


class _Ref:
    """Attribute access to an assessment dict (for ``_alert_dict``)."""

    def __init__(self, data: dict | None) -> None:
        self.instrument = data["instrument"] if data else None
        self.time_point = data["time_point"] if data else None


class Store(SessionsMixin):
    """The platform's database: scoped, audited, identifiers encrypted.

    Open with :meth:`open`; every method that touches family data takes an :class:`Actor`
    and is restricted to that actor's scope (see :mod:`attunement.store.scope`).
    """

    def __init__(self, db: Database, key_path: Path) -> None:
        self._db = db
        self.url = db.url
        self.key_path = key_path
        self._keys: KeyRing | None = None
        self._schedules: dict[int, list[str]] = {}
        # token hash -> (monotonic deadline, Actor); see TOKEN_CACHE_SECONDS
        self._token_actors: dict[str, tuple[float, Actor]] = {}
        self._token_generation = 0
        self._token_lock = threading.Lock()
        self._key_recorded = False
        db.audit_hook.key = self._audit_chain_key

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    def open(cls, url: str | None = None, *, key_path: str | Path | None = None) -> Store:
        """Open (and migrate to the newest schema) the store at ``url``.

        Refuses to start when the identifier key file is readable by group or others, or
        missing or different while the database holds encrypted identifiers.
        """
        db = Database(url or default_url())
        try:
            store = cls(db, Path(key_path) if key_path else default_key_path())
            # a migration that encrypts what an older schema left in clear needs the key
            db.upgrade(keyring=store._migration_keyring)
            store._check_key()
            maintenance.secure_files(store)
        except BaseException:
            db.dispose()
            raise
        return store

    def close(self) -> None:
        self._db.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._db.dialect

    def ping(self) -> bool:
        """True when the database answers (for health checks)."""
        try:
            with self._db.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
            return True
        except Exception:
            return False

    def _check_key(self) -> None:
        with self._db.read() as s:
            key_id = s.get(Setting, "key_id")
            has_identities = s.execute(select(Identity.id).limit(1)).first() is not None
        if self.key_path.exists():
            self._keys = KeyRing(load_key_file(self.key_path))
            if key_id is not None and key_id.value != self._keys.key_id:
                raise KeyFileError(
                    f"identifier key file {self.key_path} is not the key this database was "
                    "encrypted with"
                )
        elif key_id is not None or has_identities:
            raise KeyFileError(
                f"identifier key file {self.key_path} is missing but the database holds "
                "encrypted identifiers; restore the key file (it is not in the database)"
            )

    def _keyring(self, session: Session | None = None) -> KeyRing:
        """The key ring, creating the key file (0600) on first use of a fresh store."""
        if self._keys is None:
            if not self.key_path.exists():
                create_key_file(self.key_path)
            self._keys = KeyRing(load_key_file(self.key_path))
        if session is not None and session.get(Setting, "key_id") is None:
            session.add(Setting(key="key_id", value=self._keys.key_id))
        return self._keys

    def _audit_chain_key(self, session: Session) -> bytes:
        """The audit chain key for a writer (records the key's id on a fresh store)."""
        if self._keys is None or not self._key_recorded:
            self._keyring(session)
            self._key_recorded = True
        assert self._keys is not None
        return self._keys.audit_chain

    def _migration_keyring(self, create: bool) -> KeyRing:
        """The key ring for a migration; ``create``: a fresh key file is allowed."""
        if self._keys is None:
            if not self.key_path.exists() and not create:
                raise KeyFileError(
                    f"identifier key file {self.key_path} is missing; this upgrade encrypts "
                    "data an older version left in clear and needs the key"
                )
            return self._keyring()
        return self._keys

    def _keys_for_rows(self) -> KeyRing | None:
        """The key ring if there is one (rows written before encryption need none)."""
        if self._keys is None and self.key_path.exists():
            self._keys = KeyRing(load_key_file(self.key_path))
        return self._keys

    def system_actor(self) -> Actor:
        """The local operator running the CLI: unrestricted, audited as ``system``."""
        return Actor(None, "system", "system", frozenset(), frozenset())

    def init(self, admin_email: str, admin_password: str) -> None:
        """Create the identifier key (0600) and the first administrator."""
        email = v.email(admin_email, "admin_email")
        password = v.password(admin_password, "admin_password", email_=email)
        with self._db.write() as s:
            self._keyring(s)
            if s.execute(select(User.id).where(User.role == "admin").limit(1)).first():
                raise StoreValidationError("admin_email", "this store already has an administrator")
            system = self.system_actor()
            audit.append(
                s, actor=system, action="init", entity="store", after={"url": self._safe_url()}
            )
            self._create_user(s, system, email, "admin", [], password)

    def _safe_url(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    # ------------------------------------------------------------------ sites and users
    def add_site(self, actor: Actor, name: str) -> dict:
        """Create a site (admin)."""
        require_role(actor, "admin")
        name = names.site_name(v.text(name, "name") or "")
        with self._db.write() as s:
            existing = names.same_looking(name, s.execute(select(Site.name)).scalars())
            if existing is not None:
                raise StoreValidationError(
                    "name", f"a site called {existing!r} already exists (or looks the same)")
            site = Site(name=name)
            s.add(site)
            s.flush()
            audit.append(
                s,
                actor=actor,
                action="create",
                entity="site",
                entity_id=site.id,
                site_id=site.id,
                after={"name": name},
            )
            return {"id": site.id, "name": site.name}

    def list_sites(self, actor: Actor) -> list[dict]:
        """Sites the actor may see (admin: all; others: their own or their studies')."""
        with self._db.read() as s:
            stmt = select(Site).order_by(Site.name)
            if not actor.is_global:
                ids = set(actor.site_ids)
                if actor.role == "researcher" and actor.study_ids:
                    ids |= set(
                        s.execute(
                            select(StudySite.site_id).where(StudySite.study_id.in_(actor.study_ids))
                        ).scalars()
                    )
                stmt = stmt.where(Site.id.in_(sorted(ids)))
            return [{"id": x.id, "name": x.name} for x in s.execute(stmt).scalars()]

    def _site_by_ref(self, s: Session, ref: Any, field: str) -> Site:
        site = None
        if isinstance(ref, int) and not isinstance(ref, bool):
            site = s.get(Site, ref)
        elif isinstance(ref, str) and ref.strip():
            wanted = names.fold(" ".join(ref.split()))
            site = next(
                (x for x in s.execute(select(Site)).scalars() if names.fold(x.name) == wanted),
                None,
            )
            if site is None and ref.strip().isdigit():
                site = s.get(Site, int(ref.strip()))
        else:
            raise StoreValidationError(field, "is required (a site name or id)")
        if site is None:
            raise StoreValidationError(field, f"no site {ref!r}")
        return site

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
        """Create a user with a role at the named sites (admin; a site lead for own sites).

        ``studies`` grants a researcher studies explicitly; a researcher also sees the studies
        running at their sites. ``expires_on``: access ends at the start of that day (UTC).
        """
        if actor.role == "site_lead":
            if role not in ("practitioner", "site_lead"):
                raise Forbidden("a site lead may add practitioners and site leads only")
        else:
            require_role(actor, "admin")
        email = v.email(email)
        if role not in ROLES:
            raise StoreValidationError("role", f"must be one of {', '.join(ROLES)}")
        password = v.password(password, email_=email)
        expires = v.a_date(expires_on, "expires_on")
        if expires is not None and expires <= datetime.now(UTC).date():
            raise StoreValidationError("expires_on", "must be in the future")
        with self._db.write() as s:
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
            if actor.role != "admin":  # the same words whoever has it: no other site's people
                raise StoreValidationError(
                    "email", "cannot be used for a new account; if the person already has "
                    "one, an administrator can give them access to your site")
            raise StoreValidationError(
                "email", f"cannot be used for a new account: {taken} already exists or looks "
                "the same")
        site_rows = [self._site_by_ref(s, ref, f"sites.{i}") for i, ref in enumerate(sites or [])]
        if role in ("practitioner", "site_lead") and not site_rows:
            raise StoreValidationError(
                "sites", f"a {role.replace('_', ' ')} needs at least one site"
            )
        if actor.role == "site_lead":
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
            "expires_on": _iso(expires),
        }
        audit.append(
            s,
            actor=actor,
            action="create",
            entity="user",
            entity_id=user.id,
            site_id=site_rows[0].id if len(site_rows) == 1 else None,
            after=after,
        )
        return {"id": user.id, **after, "active": True}

    def list_users(self, actor: Actor) -> list[dict]:
        """Users (admin: all; site lead: users of their sites)."""
        require_role(actor, "admin", "site_lead")
        with self._db.read() as s:
            users = list(s.execute(select(User).order_by(User.email)).scalars())
            sites = {x.id: x.name for x in s.execute(select(Site)).scalars()}
            members = list(s.execute(select(Membership)).scalars())
            grants = list(s.execute(select(StudyMember, Study.name).join(Study)).all())
            out = []
            for u in users:
                u_sites = [m.site_id for m in members if m.user_id == u.id]
                if actor.role == "site_lead" and not set(u_sites) & actor.site_ids:
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
        """Disable or re-enable an account; disabling also revokes its API tokens.

        Admins: any account but their own. Site leads: practitioners and site leads whose
        every site is one of theirs (see :meth:`_managed_user`).
        """
        require_role(actor, "admin", "site_lead")
        reason = v.text(reason, "reason", max_len=1000) or ""
        if not active and actor.user_id == user_id:
            raise StoreValidationError(
                "active", "you cannot disable your own account; ask another administrator")
        with self._db.write() as s:
            user, site_ids = self._managed_user(s, actor, user_id)
            before = user.active
            user.active = bool(active)
            if not active:
                revoke_credentials(s, user.id)
            audit.append(
                s,
                actor=actor,
                action="update",
                entity="user",
                entity_id=user.id,
                site_id=next(iter(site_ids)) if len(site_ids) == 1 else None,
                before={"active": before},
                after={"active": user.active},
                reason=reason,
            )
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
        if actor.role == "admin":
            return user, sites
        require_role(actor, "site_lead")
        if not sites & actor.site_ids:
            raise NotFound(f"user {user_id} not found")
        if user.role not in ("practitioner", "site_lead") or not sites <= actor.site_ids:
            raise Forbidden("an administrator manages this account (it reaches beyond your "
                            "sites or has another role)")
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
        """Change a password: users their own (with the current one), administrators anyone's
        (audited). Site leads never set someone else's password: they send a one-time reset
        link (:meth:`create_password_reset`), so they never know it.

        A wrong current password counts as a failed login (audited, throttled like logins:
        AuthError with ``retry_after``). Revokes the user's API tokens and browser sessions,
        so programs must get a new token.
        """
        own = actor.user_id is not None and actor.user_id == user_id
        with self._db.read() as s:
            if own:
                user = s.get(User, user_id)
                if user is None:
                    raise NotFound(f"user {user_id} not found")
                site_ids: set[int] = set()
            else:
                user, site_ids = self._managed_user(s, actor, user_id)
                if actor.role != "admin":
                    raise Forbidden("a site lead sends a password reset link; only an "
                                    "administrator sets a password for someone")
            email, old_hash = user.email, user.password_hash
            retry = self._throttled(s, email, client) if own else None
        if own or current_password is not None:  # changing one's own: re-authenticate
            if retry:
                with self._db.write() as s:
                    self._log_login(s, email, client, user, False, "throttled")
                raise AuthError("too many failed attempts; try again later", retry_after=retry)
            try:
                _hasher.verify(old_hash, current_password or "")
            except (VerificationError, InvalidHashError):
                with self._db.write() as s:
                    self._log_login(s, email, client, user, False,
                                    "wrong current password (password change)")
                raise StoreValidationError("current_password", "is not correct") from None
        new_password = v.password(new_password, "new_password", email_=email)
        with self._db.write() as s:
            fresh = s.get(User, user_id)
            assert fresh is not None
            fresh.password_hash = _hasher.hash(new_password)
            revoke_credentials(s, user_id)
            s.add(LoginAttempt(email=email, client=PASSWORD_SET_CLIENT, success=True,
                               at=utcnow()))
            audit.append(s, actor=actor, action="set_password", entity="user", entity_id=user_id,
                         site_id=next(iter(site_ids)) if len(site_ids) == 1 else None)
            self._forget_token_actors()
        self._forget_token_actors()

    # ------------------------------------------------------------------ authentication
    def authenticate(self, email: str, password: str, *, client: str = "") -> Actor:
        """Check a password; every attempt is audited; repeated failures are throttled.

        Raises AuthError (with ``retry_after`` seconds when throttled). The message never says
        whether the account exists.
        """
        email = names.fold(email or "")
        client = (client or "")[:100]
        now = utcnow()
        with self._db.read() as s:
            user = s.execute(select(User).where(User.email == email)).scalar_one_or_none()
            retry = self._throttled(s, email, client)
        if retry:
            with self._db.write() as s:
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
        with self._db.write() as s:
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
        return throttle_wait(s, email, client, utcnow())

    def _log_login(
        self, s: Session, email: str, client: str, user: User | None, ok: bool, why: str | None
    ) -> None:
        if why != "throttled":  # refused attempts never extend the delay
            s.add(LoginAttempt(email=email, client=client, success=ok, at=utcnow()))
        who = Actor(
            user.id if user else None,
            email,
            user.role if user else "unknown",
            frozenset(),
            frozenset(),
        )
        audit.append(
            s,
            actor=who,
            action="login" if ok else "login_failed",
            entity="user",
            entity_id=user.id if user else None,
            reason=why,
            client=client,
        )

    def actor(self, user_id: int) -> Actor:
        """The Actor of an active user, with their sites and studies (AuthError otherwise)."""
        with self._db.read() as s:
            user = s.get(User, user_id)
            now = utcnow()
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

    def create_api_token(self, actor: Actor, *, days: int = TOKEN_DAYS) -> str:
        """A bearer token for programs, with the user's own rights; only its hash is kept."""
        if actor.user_id is None:
            raise Forbidden("API tokens belong to users")
        token = "att_" + secrets.token_urlsafe(32)
        with self._db.write() as s:
            row = ApiToken(
                user_id=actor.user_id,
                token_hash=token_hash(token),
                expires_at=utcnow() + timedelta(days=days),
            )
            s.add(row)
            s.flush()
            audit.append(
                s,
                actor=actor,
                action="create",
                entity="api_token",
                entity_id=row.id,
                after={"expires_at": row.expires_at.isoformat()},
            )
        return token

    def actor_for_token(self, token: str) -> Actor:
        """The Actor a bearer token stands for (AuthError if unknown, revoked or expired).

        Kept for ``TOKEN_CACHE_SECONDS`` per process (never past the token's or the user's
        expiry); every change to tokens, users or memberships made here clears the cache.
        """
        if not token:
            raise AuthError("missing token")
        digest = token_hash(token)
        cached = self._token_actors.get(digest)
        now_mono = time.monotonic()
        if cached is not None and cached[0] > now_mono:
            return cached[1]
        generation = self._token_generation
        with self._db.read() as s:
            conn = s.connection()
            row = conn.execute(_TOKEN_USER, {"token_hash": digest}).first()
            now = utcnow()
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
        """The Actor of a token this process resolved within ``TOKEN_CACHE_SECONDS``, else
        None (no database access: cheap enough for the event loop)."""
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
        """Revoke one of the actor's tokens (admins: anyone's)."""
        with self._db.write() as s:
            row = s.execute(
                select(ApiToken).where(ApiToken.token_hash == token_hash(token))
            ).scalar_one_or_none()
            if row is None or (row.user_id != actor.user_id and not actor.is_global):
                raise NotFound("token not found")
            row.revoked_at = utcnow()
            audit.append(s, actor=actor, action="revoke", entity="api_token", entity_id=row.id)
            self._forget_token_actors()
        self._forget_token_actors()

    # ------------------------------------------------------------------ studies
    def add_study(self, actor: Actor, name: str, sites: list[str], time_points: list[dict]) -> dict:
        """Create a study (or service) with its sites and time-point schedule (admin).

        Each time point: ``name``, ``offset_days`` from the infant's due date, ``window_days``
        either side, ``instruments`` (ids) and optional ``anchor`` (``due_date``|``birth_date``).
        """
        require_role(actor, "admin")
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
        with self._db.write() as s:
            if s.execute(select(Study.id).where(Study.name == name)).first():
                raise StoreValidationError("name", f"a study called {name!r} already exists")
            site_rows = [self._site_by_ref(s, r, f"sites.{i}") for i, r in enumerate(sites or [])]
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
        """Studies the actor may see (admin: all; others: their studies)."""
        with self._db.read() as s:
            stmt = select(Study).order_by(Study.name)
            if not actor.is_global:
                stmt = stmt.where(Study.id.in_(sorted(actor.study_ids)))
            return [self._study_dict(s, x) for x in s.execute(stmt).scalars()]

    # ------------------------------------------------------------------ families
    def create_family(self, actor: Actor, payload: dict) -> dict:
        """Register a family from a screening family file plus ``site`` (and optional ``study``,
        ``time_point`` for any responses it carries, identifiers on infant and caregivers).

        Responses in the file become assessments at ``time_point`` (default ``"baseline"``).
        Everything is one transaction. Returns the new family's document (as :meth:`get_family`),
        built in that transaction without an identifier-view audit row.
        """
        require_write(actor)
        if not isinstance(payload, dict):
            raise StoreValidationError("family", "must be an object")
        code = v.text(payload.get("family_id"), "family_id", max_len=100) or ""
        placement = payload.get("placement", "birth_family")
        if placement not in PLACEMENTS:
            raise StoreValidationError("placement", f"must be one of {', '.join(PLACEMENTS)}")
        context = payload.get("context") or {}
        if not isinstance(context, dict):
            raise StoreValidationError("context", "must be an object of factor: true|false")
        assessed_on = v.a_date(payload.get("assessed_on"), "assessed_on")
        if assessed_on is not None and assessed_on > datetime.now(UTC).date() + timedelta(days=1):
            raise StoreValidationError("assessed_on", f"{assessed_on} is in the future")
        infant = payload.get("infant") or {}
        if not isinstance(infant, dict):
            raise StoreValidationError("infant", "must be an object")
        due = v.a_date(infant.get("due_date"), "infant.due_date")
        born = v.a_date(
            infant.get("date_of_birth", infant.get("birth_date")), "infant.date_of_birth"
        )
        gestation = infant.get("gestational_age_at_birth_weeks", infant.get("gestation_weeks"))
        if gestation is not None and (
            isinstance(gestation, bool)
            or not isinstance(gestation, int | float)
            or not 22 <= gestation <= 44
        ):
            raise StoreValidationError(
                "infant.gestational_age_at_birth_weeks", "must be weeks between 22 and 44"
            )
        infant_ids = v.identifiers(infant, "infant", infant=True)
        if born is not None:
            infant_ids["date_of_birth"] = born.isoformat()
        carers = payload.get("caregivers")
        if not isinstance(carers, list) or not carers:
            raise StoreValidationError("caregivers", "at least one caregiver is required")
        parsed = [self._parse_caregiver(c, f"caregivers.{i}") for i, c in enumerate(carers)]
        keys = [p["key"] for p in parsed]
        dup = next((k for k in keys if keys.count(k) > 1), None)
        if dup:
            raise StoreValidationError("caregivers", f"caregiver id {dup!r} appears twice")
        time_point = v.text(payload.get("time_point", "baseline"), "time_point", max_len=100)
        family_file = {
            "family_id": code,
            "assessed_on": (assessed_on or datetime.now(UTC).date()).isoformat(),
            "infant": {
                k: val
                for k, val in (
                    ("date_of_birth", _iso(born)),
                    ("due_date", _iso(due)),
                    ("gestational_age_at_birth_weeks", gestation),
                )
                if val is not None
            },
            "placement": placement,
            "context": context,
            "caregivers": [self._family_file_caregiver(p) for p in parsed],
        }
        _validate_family_file(family_file)

        with self._db.write() as s:
            site = self._site_by_ref(s, payload.get("site"), "site")
            if not actor.is_global and site.id not in actor.site_ids:
                raise StoreValidationError("site", f"no site {payload.get('site')!r}")
            study_id = None
            if payload.get("study") not in (None, ""):
                study = self._study_by_ref(s, payload["study"])
                if not actor.is_global and study.id not in actor.study_ids:
                    raise StoreValidationError("study", f"no study {payload['study']!r}")
                if (
                    s.execute(
                        select(StudySite.id).where(
                            StudySite.study_id == study.id, StudySite.site_id == site.id
                        )
                    ).first()
                    is None
                ):
                    raise StoreValidationError(
                        "study", f"study {study.name!r} does not run at site {site.name!r}"
                    )
                study_id = study.id
            if s.execute(
                select(Family.id).where(Family.site_id == site.id, Family.code == code)
            ).first():
                raise StoreValidationError("family_id", f"{code!r} already exists at this site")
            fam = Family(
                site_id=site.id,
                study_id=study_id,
                code=code,
                placement=placement,
                context=_jsonable(context),
                assessed_on=assessed_on,
                created_by=actor.user_id,
            )
            s.add(fam)
            s.flush()
            inf = Infant(
                family_id=fam.id,
                due_date=due,
                gestation_weeks=float(gestation) if gestation is not None else None,
            )
            s.add(inf)
            s.flush()
            if infant_ids:
                self._store_identity(s, fam.id, "infant", inf.id, infant_ids)
            for p in parsed:
                self._insert_caregiver(s, actor, fam, p)
            audit.append(
                s,
                actor=actor,
                action="create",
                entity="family",
                entity_id=fam.id,
                family_id=fam.id,
                site_id=site.id,
                after={
                    "family_id": code,
                    "placement": placement,
                    "study_id": study_id,
                    "context": context,
                    "infant": {"due_date": _iso(due)},
                    "identifiers": sorted(infant_ids),
                },
            )
            for p in parsed:
                for instrument, responses in p["responses"].items():
                    self._insert_assessment(
                        s,
                        actor,
                        fam,
                        p["key"],
                        instrument,
                        time_point or "",
                        responses,
                        input_kind="scores",
                        completed_on=assessed_on,
                    )
            # the document is built in the creating transaction: no second transaction and
            # no identifier-view audit row (the creation's own audit row records them)
            s.flush()
            return self._family_doc(s, actor, fam)

    def _study_by_ref(self, s: Session, ref: Any) -> Study:
        study = None
        if isinstance(ref, int) and not isinstance(ref, bool):
            study = s.get(Study, ref)
        elif isinstance(ref, str):
            study = s.execute(select(Study).where(Study.name == ref.strip())).scalar_one_or_none()
            if study is None and ref.strip().isdigit():
                study = s.get(Study, int(ref))
        if study is None:
            raise StoreValidationError("study", f"no study {ref!r}")
        return study

    def _parse_caregiver(self, c: Any, where: str) -> dict:
        if not isinstance(c, dict):
            raise StoreValidationError(where, "must be an object")
        key = c.get("id")
        if isinstance(key, int) and not isinstance(key, bool):
            key = str(key)
        key = v.text(key, f"{where}.id", max_len=100)
        role = c.get("role")
        if role not in CAREGIVER_ROLES:
            raise StoreValidationError(
                f"{where}.role", f"must be one of {', '.join(CAREGIVER_ROLES)}"
            )
        responses = c.get("responses") or {}
        if not isinstance(responses, dict):
            raise StoreValidationError(f"{where}.responses", "must map instrument ids to lists")
        context = c.get("context") or {}
        if not isinstance(context, dict):
            raise StoreValidationError(f"{where}.context", "must be an object")
        variants = c.get("variants") or {}
        if not isinstance(variants, dict):
            raise StoreValidationError(
                f"{where}.variants", "must map instrument ids to lists of form variants"
            )
        return {
            "variants": _jsonable(variants),
            "key": key,
            "role": role,
            "age": v.integer(c.get("age"), f"{where}.age", minimum=10, maximum=100),
            "first_time_parent": v.boolean(
                c.get("first_time_parent"), f"{where}.first_time_parent"
            ),
            "context": _jsonable(context),
            "joined_on": v.a_date(c.get("joined_on"), f"{where}.joined_on"),
            "identifiers": v.identifiers(c, where),
            "responses": {
                str(k): v.responses(r, f"{where}.responses.{k}") for k, r in responses.items()
            },
        }

    @staticmethod
    def _family_file_caregiver(p: dict) -> dict:
        out = {
            "id": p["key"],
            "role": p["role"],
            "context": p["context"],
            "responses": p["responses"],
        }
        for key in ("age", "first_time_parent", "variants"):
            if p[key] not in (None, {}):
                out[key] = p[key]
        return out

    def _insert_caregiver(self, s: Session, actor: Actor, fam: Family, p: dict) -> Caregiver:
        cg = Caregiver(
            family_id=fam.id,
            key=p["key"],
            role=p["role"],
            age=p["age"],
            first_time_parent=p["first_time_parent"],
            context=p["context"],
            variants=p["variants"],
            joined_on=p["joined_on"] or datetime.now(UTC).date(),
        )
        s.add(cg)
        s.flush()
        if p["identifiers"]:
            self._store_identity(s, fam.id, "caregiver", cg.id, p["identifiers"])
        audit.append(
            s,
            actor=actor,
            action="create",
            entity="caregiver",
            entity_id=cg.id,
            family_id=fam.id,
            site_id=fam.site_id,
            after={
                "id": cg.key,
                "role": cg.role,
                "age": cg.age,
                "first_time_parent": cg.first_time_parent,
                "context": cg.context,
                "joined_on": _iso(cg.joined_on),
                "identifiers": sorted(p["identifiers"]),
            },
        )
        return cg

    def _store_identity(
        self, s: Session, family_id: int, kind: str, subject_id: int, data: dict[str, str]
    ) -> None:
        keys = self._keyring(s)
        s.add(
            Identity(
                family_id=family_id,
                subject_kind=kind,
                subject_id=subject_id,
                ciphertext=keys.encrypt(data, f"{kind}:{subject_id}"),
                key_id=keys.key_id,
            )
        )
        self._index_identity(s, family_id, kind, subject_id, data)

    def _index_identity(
        self, s: Session, family_id: int, kind: str, subject_id: int, data: dict[str, str]
    ) -> None:
        """Rewrite one person's blind index (and an infant's derived birth offset) from the
        plaintext just encrypted, in the same transaction."""
        keys = self._keyring(s)
        s.execute(
            IdentityLookup.__table__.delete().where(
                IdentityLookup.subject_kind == kind, IdentityLookup.subject_id == subject_id
            )
        )
        rows = [
            {"family_id": family_id, "subject_kind": kind, "subject_id": subject_id,
             "field": field, "digest": keys.blind_index(field, value)}
            for field, value in blind.lookup_values(data)
        ]
        if rows:
            s.execute(IdentityLookup.__table__.insert(), rows)
        if kind == "infant":
            inf = s.get(Infant, subject_id)
            if inf is not None:
                self._set_birth_offset(inf, data.get("date_of_birth"))

    @staticmethod
    def _set_birth_offset(inf: Infant, born: str | date | None) -> None:
        if isinstance(born, str):
            born = date.fromisoformat(born[:10])
        inf.birth_offset_days = (
            (born - inf.due_date).days if born is not None and inf.due_date is not None else None
        )

    def _identities(self, s: Session, family_id: int) -> dict[tuple[str, int], dict[str, str]]:
        rows = list(s.execute(select(Identity).where(Identity.family_id == family_id)).scalars())
        if not rows:
            return {}
        keys = self._keyring()
        return {
            (r.subject_kind, r.subject_id): keys.decrypt(
                r.ciphertext, f"{r.subject_kind}:{r.subject_id}"
            )
            for r in rows
        }

    def _with_birth_dates(self, s: Session, infants: Iterable[Infant]) -> list[Infant]:
        """Attach each infant's decrypted date of birth (``birth_date``) for internal use."""
        infants = list(infants)
        if not infants:
            return infants
        rows = {
            r.subject_id: r
            for r in s.execute(
                select(Identity).where(
                    Identity.subject_kind == "infant",
                    Identity.subject_id.in_([i.id for i in infants]),
                )
            ).scalars()
        }
        for inf in infants:
            row = rows.get(inf.id)
            born = None
            if row is not None:
                data = self._keyring().decrypt(row.ciphertext, f"infant:{inf.id}")
                born = (
                    date.fromisoformat(data["date_of_birth"]) if data.get("date_of_birth") else None
                )
            inf.birth_date = born  # type: ignore[assignment]
        return infants

    def add_caregiver(self, actor: Actor, family_id: int, caregiver: dict) -> dict:
        """Add a caregiver (with optional identifiers and responses at ``time_point``)."""
        require_write(actor)
        p = self._parse_caregiver(caregiver, "caregiver")
        time_point = v.text(caregiver.get("time_point", "baseline"), "caregiver.time_point")
        _validate_family_file(
            {
                "family_id": "x",
                "assessed_on": datetime.now(UTC).date().isoformat(),
                "infant": {"due_date": datetime.now(UTC).date().isoformat()},
                "placement": "birth_family",
                "caregivers": [self._family_file_caregiver(p)],
            },
            prefix={"caregivers.0": "caregiver"},
        )
        with self._db.write() as s:
            fam = get_scoped(s, actor, Family, family_id, what="family")
            if s.execute(
                select(Caregiver.id).where(Caregiver.family_id == fam.id, Caregiver.key == p["key"])
            ).first():
                raise StoreValidationError(
                    "caregiver.id", f"{p['key']!r} is already in this family"
                )
            cg = self._insert_caregiver(s, actor, fam, p)
            for instrument, responses in p["responses"].items():
                self._insert_assessment(
                    s,
                    actor,
                    fam,
                    cg.key,
                    instrument,
                    time_point or "",
                    responses,
                    input_kind="scores",
                )
            return self._caregiver_dict(cg, None)

    def update_identifiers(
        self, actor: Actor, family_id: int, person: str, changes: dict, *, reason: str
    ) -> dict:
        """Change a person's identifiers (``person`` = ``"infant"`` or a caregiver id); a value
        of None removes one. The audit row names the fields changed, never their values."""
        require_write(actor)
        reason = v.text(reason, "reason", max_len=1000) or ""
        if not isinstance(changes, dict) or not changes:
            raise StoreValidationError("changes", "name at least one identifier to change")
        unknown = sorted(set(changes) - set(v.IDENTIFIER_FIELDS))
        if unknown:
            raise StoreValidationError(f"changes.{unknown[0]}", "is not an identifier field")
        removed = [k for k, val in changes.items() if val in (None, "")]
        new = v.identifiers({k: val for k, val in changes.items() if k not in removed}, "changes")
        with self._db.write() as s:
            fam = get_scoped(s, actor, Family, family_id, what="family")
            if person == "infant":
                kind = "infant"
                subject = s.execute(
                    select(Infant.id).where(Infant.family_id == fam.id)
                ).scalar_one()
            else:
                kind, subject = "caregiver", self._caregiver(s, fam, person).id
            row = s.execute(
                select(Identity).where(
                    Identity.subject_kind == kind, Identity.subject_id == subject
                )
            ).scalar_one_or_none()
            keys = self._keyring(s)
            aad = f"{kind}:{subject}"
            current = keys.decrypt(row.ciphertext, aad) if row is not None else {}
            updated = {k: val for k, val in {**current, **new}.items() if k not in removed}
            if row is None:
                self._store_identity(s, fam.id, kind, subject, updated)
            else:
                row.ciphertext, row.key_id = keys.encrypt(updated, aad), keys.key_id
                self._index_identity(s, fam.id, kind, subject, updated)
            changed = sorted(
                k for k in set(current) | set(updated) if current.get(k) != updated.get(k)
            )
            audit.append(
                s,
                actor=actor,
                action="update",
                entity="identifiers",
                entity_id=f"{kind}:{subject}",
                family_id=fam.id,
                site_id=fam.site_id,
                after={"fields": changed},
                reason=reason,
            )
            return {"person": person, "changed": changed}

    def transfer_family(
        self, actor: Actor, family_id: int, site: str | int, *, reason: str
    ) -> dict:
        """Move a family to another site (admin); the transfer is audited with its reason."""
        require_role(actor, "admin")
        reason = v.text(reason, "reason", max_len=1000) or ""
        with self._db.write() as s:
            fam = get_scoped(s, actor, Family, family_id, what="family")
            target = self._site_by_ref(s, site, "site")
            if target.id == fam.site_id:
                raise StoreValidationError("site", "the family is already at this site")
            if (
                fam.study_id
                and s.execute(
                    select(StudySite.id).where(
                        StudySite.study_id == fam.study_id, StudySite.site_id == target.id
                    )
                ).first()
                is None
            ):
                raise StoreValidationError(
                    "site", f"the family's study does not run at {target.name!r}"
                )
            if s.execute(
                select(Family.id).where(Family.site_id == target.id, Family.code == fam.code)
            ).first():
                raise StoreValidationError(
                    "site", f"{target.name!r} already has a family {fam.code!r}"
                )
            before = fam.site_id
            fam.site_id = target.id
            audit.append(
                s,
                actor=actor,
                action="transfer",
                entity="family",
                entity_id=fam.id,
                family_id=fam.id,
                site_id=target.id,
                before={"site_id": before},
                after={"site_id": target.id},
                reason=reason,
            )
            return {"id": fam.id, "site": target.name, "site_id": target.id}

    def update_infant(
        self,
        actor: Actor,
        family_id: int,
        *,
        reason: str,
        due_date: date | str | None = None,
        date_of_birth: date | str | None = None,
        gestational_age_at_birth_weeks: float | None = None,
    ) -> dict:
        """Record the birth (date of birth, gestation) or a revised due date.

        The date of birth is stored encrypted; the audit row names it but never its value.
        """
        require_write(actor)
        reason = v.text(reason, "reason", max_len=1000) or ""
        due = v.a_date(due_date, "due_date")
        born = v.a_date(date_of_birth, "date_of_birth")
        gest = gestational_age_at_birth_weeks
        if gest is not None and (
            isinstance(gest, bool) or not isinstance(gest, int | float) or not 22 <= gest <= 44
        ):
            raise StoreValidationError(
                "gestational_age_at_birth_weeks", "must be weeks between 22 and 44"
            )
        if due is None and born is None and gest is None:
            raise StoreValidationError("infant", "give a due date, date of birth or gestation")
        if born is not None and born > datetime.now(UTC).date():
            raise StoreValidationError("date_of_birth", "is in the future")
        with self._db.write() as s:
            fam = get_scoped(s, actor, Family, family_id, what="family")
            inf = s.execute(select(Infant).where(Infant.family_id == fam.id)).scalar_one()
            before = {"due_date": _iso(inf.due_date), "gestation_weeks": inf.gestation_weeks}
            if due is not None:
                inf.due_date = due
            if gest is not None:
                inf.gestation_weeks = float(gest)
            changed = sorted(
                k for k, val in (("due_date", due), ("gestation_weeks", gest)) if val is not None
            )
            if born is not None:
                row = s.execute(
                    select(Identity).where(
                        Identity.subject_kind == "infant", Identity.subject_id == inf.id
                    )
                ).scalar_one_or_none()
                keys = self._keyring(s)
                aad = f"infant:{inf.id}"
                data = keys.decrypt(row.ciphertext, aad) if row is not None else {}
                data["date_of_birth"] = born.isoformat()
                if row is None:
                    self._store_identity(s, fam.id, "infant", inf.id, data)
                else:
                    row.ciphertext, row.key_id = keys.encrypt(data, aad), keys.key_id
                    self._index_identity(s, fam.id, "infant", inf.id, data)
                changed = sorted([*changed, "date_of_birth"])
            elif due is not None:
                self._set_birth_offset(inf, self._with_birth_dates(s, [inf])[0].birth_date)
            s.flush()
            after = {"due_date": _iso(inf.due_date), "gestation_weeks": inf.gestation_weeks}
            audit.append(
                s,
                actor=actor,
                action="update",
                entity="infant",
                entity_id=inf.id,
                family_id=fam.id,
                site_id=fam.site_id,
                before=before,
                after={**after, "changed": changed},
                reason=reason,
            )
            return {
                "due_date": after["due_date"],
                "gestational_age_at_birth_weeks": inf.gestation_weeks,
                "date_of_birth": _iso(born),
                "changed": changed,
            }

    def end_caregiver(
        self,
        actor: Actor,
        family_id: int,
        caregiver_id: int | str,
        *,
        reason: str,
        left_on: date | str | None = None,
    ) -> dict:
        """Record that a caregiver left the family (kept, never deleted). ``caregiver_id`` is
        the caregiver's database id or its family-file id."""
        require_write(actor)
        reason = v.text(reason, "reason", max_len=1000) or ""
        when = v.a_date(left_on, "left_on") or datetime.now(UTC).date()
        with self._db.write() as s:
            fam = get_scoped(s, actor, Family, family_id, what="family")
            cg = self._caregiver(s, fam, caregiver_id)
            if cg.left_on is not None:
                raise StoreValidationError("caregiver", f"{cg.key!r} already left on {cg.left_on}")
            if cg.joined_on and when < cg.joined_on:
                raise StoreValidationError("left_on", "is before the caregiver joined")
            cg.left_on, cg.left_reason = when, reason
            audit.append(
                s,
                actor=actor,
                action="update",
                entity="caregiver",
                entity_id=cg.id,
                family_id=fam.id,
                site_id=fam.site_id,
                before={"left_on": None},
                after={"left_on": when.isoformat()},
                reason=reason,
            )
            return self._caregiver_dict(cg, None)

    def set_caregiver_language(
        self,
        actor: Actor,
        family_id: int,
        caregiver_id: int | str,
        *,
        page_language: str | None,
        interpreter_needed: bool,
    ) -> dict:
        """Record the language a caregiver reads their own pages in (a BCP 47 tag such as
        ``en``, ``ar`` or ``pt-BR``; None: the service default) and whether they need an
        interpreter to talk with the service."""
        require_write(actor)
        language = v.text(page_language, "page_language", max_len=35, required=False) or None
        if language is not None and not LANGUAGE_TAG.match(language):
            raise StoreValidationError(
                "page_language", f"{language!r} is not a language tag such as 'en' or 'pt-BR'")
        needed = v.boolean(interpreter_needed, "interpreter_needed")
        with self._db.write() as s:
            fam = get_scoped(s, actor, Family, family_id, what="family")
            cg = self._caregiver(s, fam, caregiver_id)
            before = {"page_language": cg.page_language,
                      "interpreter_needed": bool(cg.interpreter_needed)}
            cg.page_language, cg.interpreter_needed = language, bool(needed)
            audit.append(
                s,
                actor=actor,
                action="update",
                entity="caregiver",
                entity_id=cg.id,
                family_id=fam.id,
                site_id=fam.site_id,
                before=before,
                after={"page_language": language, "interpreter_needed": bool(needed)},
            )
            return self._caregiver_dict(cg, None)

    def interpreter_needs(self, actor: Actor) -> dict[int, list[str]]:
        """``{family pk: ["father (ar)", ...]}`` for the actor's families where a current
        caregiver needs an interpreter (the caseload shows it)."""
        if actor.role not in CLINICAL:
            return {}
        with self._db.read() as s:
            rows = s.execute(
                scoped(select(Caregiver.family_id, Caregiver.key, Caregiver.page_language),
                       actor, Caregiver)
                .where(Caregiver.interpreter_needed.is_(True), Caregiver.left_on.is_(None))
                .order_by(Caregiver.family_id, Caregiver.id)
            ).all()
        out: dict[int, list[str]] = {}
        for fid, key, lang in rows:
            out.setdefault(fid, []).append(f"{key} ({lang})" if lang else key)
        return out

    def _caregiver(self, s: Session, fam: Family, ref: int | str) -> Caregiver:
        stmt = select(Caregiver).where(Caregiver.family_id == fam.id)
        if isinstance(ref, int) and not isinstance(ref, bool):
            stmt = stmt.where(Caregiver.id == ref)
        else:
            stmt = stmt.where(Caregiver.key == str(ref))
        cg = s.execute(stmt).scalar_one_or_none()
        if cg is None:
            raise StoreValidationError("caregiver", f"no caregiver {ref!r} in this family")
        return cg

    def _caregiver_row(self, s: Session, fam: Any, ref: int | str) -> Any:
        """The caregiver's columns as a plain row (no ORM identity map: the hot path)."""
        stmt = select(
            Caregiver.id, Caregiver.key, Caregiver.role, Caregiver.left_on, Caregiver.variants
        ).where(Caregiver.family_id == fam.id)
        if isinstance(ref, int) and not isinstance(ref, bool):
            stmt = stmt.where(Caregiver.id == ref)
        else:
            stmt = stmt.where(Caregiver.key == str(ref))
        cg = s.execute(stmt).first()
        if cg is None:
            raise StoreValidationError("caregiver", f"no caregiver {ref!r} in this family")
        return cg

    def _caregiver_dict(self, cg: Caregiver, ids: dict[str, str] | None) -> dict:
        out = {
            "id": cg.key,
            "pk": cg.id,
            "role": cg.role,
            "age": cg.age,
            "first_time_parent": cg.first_time_parent,
            "context": dict(cg.context or {}),
            "variants": dict(cg.variants or {}),
            "joined_on": _iso(cg.joined_on),
            "left_on": _iso(cg.left_on),
            "left_reason": cg.left_reason,
            "active": cg.left_on is None,
            "page_language": cg.page_language,
            "interpreter_needed": bool(cg.interpreter_needed),
        }
        if ids is not None:
            out["identifiers"] = ids
        return out

    def list_families(self, actor: Actor, *, q: str | None = None) -> list[dict]:
        """The actor's whole caseload: open urgent alerts first, then overdue, then by family
        code (see :meth:`caseload_page` for the rows and the search; this is every page)."""
        today = datetime.now(UTC).date()
        by_code = actor.role != "researcher"
        needle = (q or "").strip()
        rows: list[dict] = []
        with self._db.read() as s:
            search = self._search_clause(actor, needle) if needle else None
            sub = caseload.family_rows(s, actor, today, caseload.Filters(), search).subquery()
            found = list(s.execute(select(sub).order_by(*caseload.order(sub, True, by_code))))
            # the rows' details a chunk of ids at a time (never one id list per family)
            for start in range(0, len(found), caseload.MAX_PAGE):
                rows += self._caseload_items(
                    s, actor, found[start:start + caseload.MAX_PAGE], today
                )
        if needle and actor.sees_identifiers:
            with self._db.write() as s:
                audit.append(
                    s, actor=actor, action="search", entity="family", after={"results": len(rows)}
                )
        return rows

    def caseload_page(
        self,
        actor: Actor,
        *,
        q: str | None = None,
        cursor: str | None = None,
        limit: int | None = None,
        mine: bool = False,
        overdue: bool = False,
        urgent: bool = False,
        study: int | None = None,
        time_point: str | None = None,
        counts: bool = True,
    ) -> dict:
        """One keyset page of the caseload: open urgent alerts first, then most overdue, then
        by family code (researchers: by record id, their codes are pseudonyms).

        Returns ``items``, ``next`` and ``previous`` (opaque cursors or None) and, with
        ``counts``, ``counts`` (``families``, ``urgent``, ``overdue`` in the filtered list).
        Each item: ``id``, ``site``, ``site_id``, ``family_id`` (study code; a pseudonym for
        researchers), ``study``, ``n_caregivers`` (current), ``open_alerts``, ``due`` and
        ``overdue`` (lists of caregiver x instrument x time point), ``last_assessed`` (the
        latest date a questionnaire was completed, not entered).
        Filters: ``mine`` (families the actor registered), ``overdue``, ``urgent``, ``study``
        (id), ``time_point`` (families with an item due or overdue there).
        ``q``: a family code (exact, or its beginning), and for clinical roles a name (whole
        name or one word of it), NHS number or date of birth, matched exactly through the
        blind index (audited); researchers: their pseudonymous family id.
        """
        size = caseload.page_size(limit)
        filters = caseload.Filters(mine=bool(mine), overdue=bool(overdue), urgent=bool(urgent),
                                   study_id=study, time_point=time_point)
        by_code = actor.role != "researcher"
        today = datetime.now(UTC).date()
        after, key = True, None
        if cursor:
            after, key = caseload.decode_cursor(cursor, "families", (int, int, str, int))
        needle = (q or "").strip()
        with self._db.read() as s:
            search = self._search_clause(actor, needle) if needle else None
            if search is not None:
                # resolve the matches first (indexed), so the schedule is computed only for
                # them; a search matching more than a page keeps the clause itself
                hits = list(s.execute(
                    scoped(select(Family.id), actor).where(search).limit(caseload.MAX_PAGE + 1)
                ).scalars())
                if len(hits) <= caseload.MAX_PAGE:
                    search = Family.id.in_(hits) if hits else false()
            rows = caseload.family_rows(s, actor, today, filters, search).subquery("rows")
            # the counts ride along as window totals over the filtered list (one pass)
            sub = select(
                rows,
                func.count().over().label("total"),
                func.sum(case((rows.c.open_alerts > 0, 1), else_=0)).over().label("total_urgent"),
                func.sum(case((rows.c.n_overdue > 0, 1), else_=0)).over().label("total_overdue"),
            ).subquery("caseload")
            page_stmt = select(sub)
            if key is not None:
                page_stmt = page_stmt.where(caseload.keyset(sub, key, after, by_code))
            page_stmt = page_stmt.order_by(*caseload.order(sub, after, by_code)).limit(size + 1)
            found = list(s.execute(page_stmt).all())
            more = len(found) > size
            found = found[:size]
            if not after:
                found.reverse()
            summary = None
            if counts:
                c = found[0] if found else s.execute(select(
                    func.count().label("total"),
                    func.sum(case((rows.c.open_alerts > 0, 1), else_=0)).label("total_urgent"),
                    func.sum(case((rows.c.n_overdue > 0, 1), else_=0)).label("total_overdue"),
                )).one()
                summary = {"families": int(c.total), "urgent": int(c.total_urgent or 0),
                           "overdue": int(c.total_overdue or 0)}
            items = self._caseload_items(s, actor, found, today)
        if needle and actor.sees_identifiers:
            with self._db.write() as s:
                audit.append(
                    s, actor=actor, action="search", entity="family",
                    after={"results": summary["families"] if summary else len(items)},
                )
        keys = [caseload.sort_key(r, by_code) for r in found]
        has_next = more if after else key is not None
        has_prev = (key is not None) if after else more
        return {
            "items": items,
            "next": caseload.encode_cursor("families", "after", keys[-1])
            if found and has_next else None,
            "previous": caseload.encode_cursor("families", "before", keys[0])
            if found and has_prev else None,
            "counts": summary,
        }

    def _search_clause(self, actor: Actor, needle: str) -> Any:
        """Which families match a search, as an indexed WHERE clause (never a scan that
        decrypts): code equal to or beginning with the text (as typed or upper case), or a
        blind-index digest of the text as a name, NHS number or date of birth."""
        if actor.role == "researcher":
            return self._pseudonym_clause(actor, needle)
        ranges = [
            and_(Family.code >= text, Family.code < text + "\U0010ffff")
            for text in sorted({needle, needle.upper()})
        ]
        clause = or_(*ranges)
        if actor.sees_identifiers:
            keys = self._keyring()
            digests = [keys.blind_index(f, val) for f, val in blind.query_values(needle)]
            if digests:
                clause = or_(clause, Family.id.in_(
                    select(IdentityLookup.family_id).where(IdentityLookup.digest.in_(digests))
                ))
        return clause

    def _pseudonym_clause(self, actor: Actor, needle: str) -> Any:
        """Researchers find a family by its whole pseudonymous id (a keyed hash, which no
        index can hold): their studies' record ids are hashed here, nothing is decrypted."""
        keys = self._keyring()
        wanted = needle.upper()
        with self._db.read() as s:
            rows = s.execute(scoped(select(Family.id, Family.study_id), actor)).all()
        hits = [
            fid for fid, study in rows
            if keys.pseudonym(study or "none", "family", fid).upper() == wanted
        ]
        return Family.id.in_(hits) if hits else false()

    def _caseload_items(self, s: Session, actor: Actor, found: list, today: date) -> list[dict]:
        """The page's rows in full: schedule items by the reference rule (``_schedule``) for
        these families only (at most one page of ids)."""
        if not found:
            return []
        ids = [r.id for r in found]
        fams = {f.id: f for f in s.execute(select(Family).where(Family.id.in_(ids))).scalars()}
        sites = dict(s.execute(select(Site.id, Site.name)).all())
        studies = dict(s.execute(select(Study.id, Study.name)).all())
        carers: dict[int, list[Caregiver]] = {}
        for cg in s.execute(
            select(Caregiver).where(Caregiver.family_id.in_(ids)).order_by(Caregiver.id)
        ).scalars():
            carers.setdefault(cg.family_id, []).append(cg)
        infants = {
            i.family_id: i
            for i in self._with_birth_dates(
                s, s.execute(
                    select(Infant).where(Infant.family_id.in_(ids)).order_by(Infant.id)
                ).scalars()
            )
        }
        done = set(
            s.execute(
                select(Assessment.caregiver_id, Assessment.instrument, Assessment.time_point)
                .where(Assessment.family_id.in_(ids))
                .distinct()
            ).all()
        )
        schedules: dict[int, list[TimePoint]] = {}
        for tp in s.execute(select(TimePoint).order_by(TimePoint.position)).scalars():
            schedules.setdefault(tp.study_id, []).append(tp)
        pseudo = actor.role == "researcher"
        out = []
        for r in found:
            f = fams[r.id]
            active = [c for c in carers.get(f.id, []) if c.left_on is None]
            due, overdue = self._schedule(
                f, infants.get(f.id), active, schedules.get(f.study_id or -1, []), done, today
            )
            if pseudo:
                due = self._pseudo_schedule(f, due, active)
                overdue = self._pseudo_schedule(f, overdue, active)
            out.append({
                "id": f.id,
                "site": sites[f.site_id],
                "site_id": f.site_id,
                "family_id": (self._keyring().pseudonym(f.study_id or "none", "family", f.id)
                              if pseudo else f.code),
                "study": studies.get(f.study_id) if f.study_id else None,
                "n_caregivers": int(r.n_caregivers),
                "open_alerts": int(r.open_alerts),
                "due": due,
                "overdue": overdue,
                "last_assessed": None if pseudo or r.last_assessed is None
                else _iso(r.last_assessed),
            })
        return out

    @staticmethod
    def _schedule(
        fam: Family,
        infant: Infant | None,
        carers: list[Caregiver],
        tps: list[TimePoint],
        done: set,
        today: date,
    ) -> tuple[list, list]:
        due: list[dict] = []
        overdue: list[dict] = []
        if infant is None:
            return due, overdue
        for tp in tps:
            anchor = infant.birth_date if tp.anchor == "birth_date" else infant.due_date
            anchor = anchor or infant.due_date or infant.birth_date
            if anchor is None:
                continue
            target = anchor + timedelta(days=tp.offset_days)
            opens, closes = (
                target - timedelta(days=tp.window_days),
                target + timedelta(days=tp.window_days),
            )
            if today < opens:
                continue
            for cg in carers:
                for instrument in tp.instruments:
                    if (cg.id, instrument, tp.name) in done:
                        continue
                    item = {
                        "caregiver": cg.key,
                        "caregiver_role": cg.role,
                        "instrument": instrument,
                        "time_point": tp.name,
                        "target": target.isoformat(),
                        "window_closes": closes.isoformat(),
                    }
                    (overdue if today > closes else due).append(item)
        return due, overdue

    def _pseudo_schedule(
        self, fam: Family, items: list[dict], carers: list[Caregiver]
    ) -> list[dict]:
        keys = self._keyring()
        by_key = {c.key: c.id for c in carers}
        return [
            {
                **{k: x[k] for k in ("caregiver_role", "instrument", "time_point")},
                "caregiver": keys.pseudonym(
                    fam.study_id or "none", "caregiver", by_key[x["caregiver"]]
                ),
            }
            for x in items
        ]

    def get_family(self, actor: Actor, family_id: int) -> dict:
        """One family: infant, caregivers, assessments (every version), alerts, episodes and
        observation sessions. Identifiers are decrypted only for clinical roles in scope, and
        that view is audited; researchers get a pseudonymised view without dates."""
        with self._db.read() as s:
            fam = get_scoped(s, actor, Family, family_id, what="family")
            doc = self._family_doc(s, actor, fam)
            show_ids = (
                actor.sees_identifiers
                and s.execute(
                    select(Identity.id).where(Identity.family_id == fam.id).limit(1)
                ).first()
                is not None
            )
        if show_ids:
            with self._db.write() as s:
                audit.append(
                    s,
                    actor=actor,
                    action="view_identifiers",
                    entity="family",
                    entity_id=doc["id"],
                    family_id=doc["id"],
                    site_id=doc["site_id"],
                )
        return doc

    def _family_doc(self, s: Session, actor: Actor, fam: Family) -> dict:
        site = s.get(Site, fam.site_id)
        study = s.get(Study, fam.study_id) if fam.study_id else None
        infant = next(
            iter(
                self._with_birth_dates(
                    s, s.execute(select(Infant).where(Infant.family_id == fam.id)).scalars()
                )
            ),
            None,
        )
        carers = list(
            s.execute(
                select(Caregiver).where(Caregiver.family_id == fam.id).order_by(Caregiver.id)
            ).scalars()
        )
        ids = self._identities(s, fam.id) if actor.sees_identifiers else {}
        by_pk = {c.id: c for c in carers}
        assessments = [
            self._assessment_dict(a, by_pk[a.caregiver_id])
            for a in s.execute(
                select(Assessment)
                .where(Assessment.family_id == fam.id)
                .order_by(Assessment.submitted_at, Assessment.id)
            ).scalars()
        ]
        by_assessment = {a["id"]: a for a in assessments}
        alerts = [
            self._alert_dict(
                a, fam, by_pk[a.caregiver_id], _Ref(by_assessment.get(a.assessment_id))
            )
            for a in s.execute(
                select(Alert).where(Alert.family_id == fam.id).order_by(Alert.id.desc())
            ).scalars()
        ]
        episodes = [
            self._episode_dict(e)
            for e in s.execute(
                select(Episode).where(Episode.family_id == fam.id).order_by(Episode.id)
            ).scalars()
        ]
        sessions = [
            self._observation_dict(o)
            for o in s.execute(
                select(ObservationSession)
                .where(ObservationSession.family_id == fam.id)
                .order_by(ObservationSession.id)
            ).scalars()
        ]
        keys_of = {c.id: c.key for c in carers}
        consents = [
            self._consent_dict(c, keys_of.get(c.caregiver_id))
            for c in s.execute(
                select(Consent).where(Consent.family_id == fam.id).order_by(Consent.id)
            ).scalars()
        ]
        infant_doc: dict[str, Any] = {}
        if infant is not None:
            infant_doc = {
                "pk": infant.id,
                "due_date": _iso(infant.due_date),
                "date_of_birth": _iso(infant.birth_date),
                "gestational_age_at_birth_weeks": infant.gestation_weeks,
            }
            if actor.sees_identifiers:
                infant_doc["identifiers"] = {
                    k: val
                    for k, val in ids.get(("infant", infant.id), {}).items()
                    if k != "date_of_birth"
                }
        caregivers = [
            self._caregiver_dict(
                c, ids.get(("caregiver", c.id), {}) if actor.sees_identifiers else None
            )
            for c in carers
        ]
        tps = (
            list(
                s.execute(
                    select(TimePoint)
                    .where(TimePoint.study_id == fam.study_id)
                    .order_by(TimePoint.position)
                ).scalars()
            )
            if fam.study_id
            else []
        )
        done = {
            (a.caregiver_id, a.instrument, a.time_point)
            for a in s.execute(select(Assessment).where(Assessment.family_id == fam.id)).scalars()
        }
        due, overdue = self._schedule(
            fam,
            infant,
            [c for c in carers if c.left_on is None],
            tps,
            done,
            datetime.now(UTC).date(),
        )
        doc = {
            "id": fam.id,
            "family_id": fam.code,
            "site": site.name if site else None,
            "site_id": fam.site_id,
            "study": study.name if study else None,
            "study_id": fam.study_id,
            "placement": fam.placement,
            "context": dict(fam.context or {}),
            "assessed_on": _iso(fam.assessed_on),
            "created_at": fam.created_at.isoformat(),
            "infant": infant_doc,
            "caregivers": caregivers,
            "assessments": assessments,
            "alerts": alerts,
            "episodes": episodes,
            "observation_sessions": sessions,
            "consents": consents,
            "due": due,
            "overdue": overdue,
        }
        if actor.role == "researcher":
            doc = self._pseudonymise_doc(s, doc, fam, infant, carers)
        return doc

    def _research_view(
        self, s: Session, fam: Family, infant: Infant | None, carers: list[Caregiver]
    ) -> ResearchView:
        """The allow-list builder of a researcher's view of this family
        (:mod:`attunement.store.research_view`)."""
        from attunement.interventions.catalogue import load_catalogue

        keys = self._keyring()
        study = fam.study_id or "none"
        tps = (
            s.execute(select(TimePoint.name).where(TimePoint.study_id == fam.study_id))
            .scalars()
            .all()
            if fam.study_id
            else []
        )
        return ResearchView(
            pseudonym=lambda kind, pk: keys.pseudonym(study, kind, pk),
            anchor=(infant.due_date or infant.birth_date) if infant else None,
            caregivers=[(c.id, c.key) for c in carers],
            time_points=tps,
            programmes=load_catalogue().ids,
        )

    def _pseudonymise_doc(
        self, s: Session, doc: dict, fam: Family, infant: Infant | None,
        carers: list[Caregiver],
    ) -> dict:
        """A researcher's family document: an allow-list, never the clinical one trimmed."""
        return self._research_view(s, fam, infant, carers).family(
            doc,
            family_pk=fam.id,
            birth_day_from_due_date=(infant.birth_date - infant.due_date).days
            if infant and infant.birth_date and infant.due_date
            else None,
            due=self._pseudo_schedule(fam, doc["due"], carers),
            overdue=self._pseudo_schedule(fam, doc["overdue"], carers),
        )

    def family_document(self, actor: Actor, family_id: int) -> dict:
        """The screening family file of this family (latest responses per current caregiver x
        instrument, latest correction), ready for ``attunement.risk.profile``."""
        with self._db.read() as s:
            fam = get_scoped(s, actor, Family, family_id, what="family")
            infant = next(
                iter(
                    self._with_birth_dates(
                        s, s.execute(select(Infant).where(Infant.family_id == fam.id)).scalars()
                    )
                ),
                None,
            )
            carers = list(
                s.execute(
                    select(Caregiver)
                    .where(Caregiver.family_id == fam.id, Caregiver.left_on.is_(None))
                    .order_by(Caregiver.id)
                ).scalars()
            )
            latest = self._latest_assessments(s, fam.id)
            review = self._safety_review(s, fam.id)
            pseudo = actor.role == "researcher"
            code = (
                self._keyring().pseudonym(fam.study_id or "none", "family", fam.id)
                if pseudo
                else fam.code
            )
            # researchers get dates moved by a secret per-family shift: intervals (ages) hold
            shift = (
                timedelta(days=self._keyring().day_shift(fam.study_id or "none", fam.id))
                if pseudo
                else timedelta(0)
            )
            infant_doc: dict[str, Any] = {}
            if infant is not None and infant.birth_date:
                infant_doc["date_of_birth"] = (infant.birth_date - shift).isoformat()
            elif infant is not None and infant.due_date:
                infant_doc["due_date"] = (infant.due_date - shift).isoformat()
            if infant is not None and infant.gestation_weeks is not None:
                infant_doc["gestational_age_at_birth_weeks"] = infant.gestation_weeks
            newest = max((a.completed_on for a in latest), default=None)
            assessed = fam.assessed_on or newest or datetime.now(UTC).date()
            if newest and newest > assessed:
                assessed = newest
            assessed -= shift
            caregivers = []
            for c in carers:
                responses = {
                    a.instrument: list(self._item_scores(a))
                    for a in latest
                    if a.caregiver_id == c.id
                }
                entry: dict[str, Any] = {
                    "id": c.key
                    if actor.role != "researcher"
                    else self._keyring().pseudonym(fam.study_id or "none", "caregiver", c.id),
                    "role": c.role,
                    "context": dict(c.context or {}),
                    "responses": responses,
                }
                if review is False:
                    entry["context"].pop(REVIEW_KEY, None)
                if c.age is not None:
                    entry["age"] = c.age
                if c.first_time_parent is not None:
                    entry["first_time_parent"] = c.first_time_parent
                if c.variants:
                    entry["variants"] = dict(c.variants)
                if pseudo:  # researchers: coded answers and known form variants only
                    entry["context"] = coded_context(entry["context"])
                    entry["variants"] = coded_variants(entry.get("variants"))
                    if not entry["variants"]:
                        entry.pop("variants")
                caregivers.append(entry)
            context = dict(fam.context or {})
            if review is not None:
                context[REVIEW_KEY] = review
            return {
                "family_id": code,
                "assessed_on": assessed.isoformat(),
                "infant": infant_doc,
                "placement": fam.placement,
                "context": coded_context(context) if pseudo else context,
                "caregivers": caregivers,
            }

    def _safety_review(self, s: Session, family_id: int) -> bool | None:
        """Whether the family's urgent alerts have a recorded safety review: False while any is
        open (whatever a recorded answer says), True when all are acknowledged and at least one
        with an outcome, None when the family has no urgent alert (recorded answers decide)."""
        urgent = [a for a in s.execute(select(Alert).where(Alert.family_id == family_id)).scalars()
                  if _urgent_alert(a)]
        if not urgent:
            return None
        if any(a.status == "open" for a in urgent):
            return False
        return any(a.outcome for a in urgent)

    def _latest_assessments(self, s: Session, family_id: int) -> list[Assessment]:
        """Per caregiver x instrument: the newest submission, in its latest version."""
        rows = list(
            s.execute(
                select(Assessment).where(Assessment.family_id == family_id).order_by(Assessment.id)
            ).scalars()
        )
        current = self._current(rows)
        best: dict[tuple[int, str], Assessment] = {}
        for a in current:
            key = (a.caregiver_id, a.instrument)
            first = self._series_start(rows, a)
            if key not in best or (first.completed_on, first.id) >= (
                self._series_start(rows, best[key]).completed_on,
                self._series_start(rows, best[key]).id,
            ):
                best[key] = a
        return list(best.values())

    @staticmethod
    def _current(rows: list[Assessment]) -> list[Assessment]:
        superseded = {a.corrected_from for a in rows if a.corrected_from is not None}
        return [a for a in rows if a.id not in superseded]

    @staticmethod
    def _series_start(rows: list[Assessment], a: Assessment) -> Assessment:
        by_id = {r.id: r for r in rows}
        while a.corrected_from is not None and a.corrected_from in by_id:
            a = by_id[a.corrected_from]
        return a

    @staticmethod
    def _item_scores(a: Assessment) -> list[int | None]:
        return list(a.item_scores)

    # ------------------------------------------------------------------ assessments
    def add_assessment(
        self,
        actor: Actor,
        family_id: int,
        caregiver: str,
        instrument: str,
        time_point: str,
        responses: list[int | None],
        *,
        input: str = "scores",
        submission_key: str | None = None,
        completed_on: date | str | None = None,
    ) -> dict:
        """Score and store one questionnaire in ONE transaction; urgent flags open alerts.

        A second submission for the same caregiver x instrument x time point is a new
        ``instance`` (a repeat), never an overwrite. ``submission_key`` makes a retried
        submission idempotent: the same key returns the first submission.
        """
        result = self.add_assessments([Submission(
            actor, family_id, caregiver, instrument, time_point, responses, input=input,
            submission_key=submission_key, completed_on=completed_on)])[0]
        if isinstance(result, Exception):
            raise result
        return result

    def add_assessments(self, submissions: Iterable[Submission]) -> list[dict | Exception]:
        """Store many submissions with ONE commit (group commit), each all-or-nothing.

        The result holds, in order, what :meth:`add_assessment` returns or the error that
        rejected that submission (out of scope, invalid, unknown caregiver, not in the
        schedule, key already used). Every check runs before anything is written, so a
        rejected submission leaves nothing behind and the others go on. The accepted ones
        are then written together: a few multi-row statements for the whole batch (one
        round trip each on PostgreSQL), one audit-head update, one commit; a database error
        there stores none of them and propagates. The web service batches concurrent
        submissions through here.
        """
        results: list[dict | Exception | None] = []
        checked: list[tuple[int, tuple]] = []
        for sub in submissions:
            try:
                checked.append((len(results), self._check_submission(sub)))
                results.append(None)
            except (StoreError, AuthError) as exc:
                results.append(exc)
        if not checked:
            return results  # type: ignore[return-value]
        with self._db.write(lock=False) as s:
            prepared: list[tuple[int, _Prepared]] = []
            for i, args in checked:  # reads and scoring: unlocked on PostgreSQL
                try:
                    prepared.append((i, self._prepare_submission(s, *args)))
                except (StoreError, AuthError) as exc:
                    results[i] = exc
            if not prepared:
                return results  # type: ignore[return-value]
            self._db.lock(s)  # from here on writers take turns
            to_write: list[tuple[int, _Prepared]] = []
            first_with_key: dict[str, tuple[int, int]] = {}  # key -> (index, family)
            repeats: dict[int, int] = {}
            for i, item in prepared:
                key = item.values["submission_key"]
                if key:
                    if key in first_with_key:  # the same key twice in one batch
                        j, family = first_with_key[key]
                        if family != item.fam.id:
                            results[i] = StoreValidationError("submission_key", "already used")
                        else:
                            repeats[i] = j
                        continue
                    try:
                        earlier = self._earlier_submission(s, item)
                    except StoreError as exc:
                        results[i] = exc
                        continue
                    if earlier is not None:
                        results[i] = earlier
                        continue
                    first_with_key[key] = (i, item.fam.id)
                to_write.append((i, item))
            written = self._write_assessments(s, [item for _, item in to_write])
            for (i, item), a in zip(to_write, written, strict=True):
                results[i] = self._assessment_dict(a, item.cg)
            for i, j in repeats.items():
                results[i] = results[j]
        return results  # type: ignore[return-value]

    def _check_submission(self, sub: Submission) -> tuple:
        """What can be checked before the database: the request's own fields."""
        require_write(sub.actor)
        responses = v.responses(sub.responses)
        if sub.input not in v.INPUT_KINDS:
            raise StoreValidationError("input", f"must be one of {', '.join(v.INPUT_KINDS)}")
        time_point = v.text(sub.time_point, "time_point", max_len=100) or ""
        instrument = v.text(sub.instrument, "instrument", max_len=50) or ""
        key = sub.submission_key
        if key is not None:
            key = v.text(key, "submission_key", max_len=100)
        completed = v.a_date(sub.completed_on, "completed_on")
        caregiver = v.text(sub.caregiver, "caregiver", max_len=100) or ""
        return (sub.actor, sub.family_id, caregiver, instrument, time_point, responses,
                sub.input, key, completed)

    def _prepare_submission(
        self,
        s: Session,
        actor: Actor,
        family_id: int,
        caregiver: str,
        instrument: str,
        time_point: str,
        responses: list[int | None],
        input_kind: str,
        submission_key: str | None,
        completed: date | None,
    ) -> _Prepared:
        row = get_scoped_family_caregiver(s, actor, family_id, caregiver)
        if row.cg_id is None:
            raise StoreValidationError("caregiver", f"no caregiver {caregiver!r} in this family")
        cg_row = _CgRow(row.cg_id, row.key, row.role, row.left_on, row.variants)
        return self._prepare_assessment(
            s, actor, row, caregiver, instrument, time_point, responses,
            input_kind=input_kind, submission_key=submission_key, completed_on=completed,
            cg_row=cg_row)

    def _earlier_submission(self, s: Session, item: _Prepared) -> dict | None:
        """The stored submission with this one's idempotency key (under the writers' lock)."""
        existing = s.execute(
            select(Assessment).where(Assessment.submission_key == item.values["submission_key"])
        ).scalar_one_or_none()
        if existing is None:
            return None
        if existing.family_id != item.fam.id:
            raise StoreValidationError("submission_key", "already used")
        cg = s.get(Caregiver, existing.caregiver_id)
        return self._assessment_dict(existing, cg)  # type: ignore[arg-type]

    def _score(
        self, instrument: str, responses: list[int | None], input_kind: str, variants: Any = None
    ) -> Any:
        from attunement.instruments import ScoringError, UnknownInstrument, score_responses

        try:
            return score_responses(
                instrument,
                responses,
                input=input_kind,
                variant=list(variants) if variants else None,
            )
        except UnknownInstrument as exc:
            raise StoreValidationError("instrument", str(exc)) from exc
        except ScoringError as exc:
            column = getattr(exc, "column", None)
            reason = getattr(exc, "reason", None) or str(exc)
            field = "responses"
            if column:
                tail = str(column).rsplit("_", 1)[-1]
                field = f"responses.{tail}" if tail.isdigit() else f"responses.{column}"
            raise StoreValidationError(field, reason) from exc

    def _check_time_point(self, s: Session, fam: Family, time_point: str) -> None:
        if not fam.study_id:
            return
        names = self._schedules.get(fam.study_id)
        if names is None:  # a study's schedule never changes once created, so keep it
            names = list(
                s.execute(
                    select(TimePoint.name)
                    .where(TimePoint.study_id == fam.study_id)
                    .order_by(TimePoint.position)
                ).scalars()
            )
            self._schedules[fam.study_id] = names
        if names and time_point not in names:
            raise StoreValidationError(
                "time_point", f"{time_point!r} is not in this study's schedule ({', '.join(names)})"
            )

    def _insert_assessment(
        self,
        s: Session,
        actor: Actor,
        fam: Family,
        caregiver: str | int,
        instrument: str,
        time_point: str,
        responses: list[int | None],
        **options: Any,
    ) -> tuple[Any, Any]:
        """Check, score and write one assessment (``options``: those of
        :meth:`_prepare_assessment`); the caller holds the writers' lock."""
        item = self._prepare_assessment(
            s, actor, fam, caregiver, instrument, time_point, responses, **options)
        return self._write_assessments(s, [item])[0], item.cg

    def _prepare_assessment(
        self,
        s: Session,
        actor: Actor,
        fam: Any,
        caregiver: str | int,
        instrument: str,
        time_point: str,
        responses: list[int | None],
        *,
        input_kind: str,
        via: str = "staff",
        corrects: Assessment | None = None,
        reason: str | None = None,
        submission_key: str | None = None,
        completed_on: date | None = None,
        cg_row: Any = None,
    ) -> _Prepared:
        """Every check and the scoring of one assessment; nothing is written."""
        cg = cg_row if cg_row is not None else self._caregiver_row(s, fam, caregiver)
        today = datetime.now(UTC).date()
        if corrects is not None:
            completed_on = corrects.completed_on
        completed_on = completed_on or today
        if completed_on > today + timedelta(days=1):  # a day's grace for time zones
            raise StoreValidationError("completed_on", f"{completed_on} is in the future")
        if corrects is None:
            if cg.left_on is not None:
                raise StoreValidationError(
                    "caregiver", f"{cg.key!r} left the family on {cg.left_on}"
                )
            self._check_time_point(s, fam, time_point)
        scored = self._score(instrument, responses, input_kind, (cg.variants or {}).get(instrument))
        values = dict(
            family_id=fam.id,
            caregiver_id=cg.id,
            instrument=instrument,
            instrument_version=str(getattr(scored, "version", "")),
            time_point=time_point,
            instance=None,  # numbered when written, under the writers' lock
            version=None,
            input_kind=input_kind,
            responses=list(responses),
            item_scores=_jsonable(list(getattr(scored, "item_scores", None) or responses)),
            scores=_jsonable(dict(scored.scores)),
            flags=[_flag_dict(f) for f in scored.flags],
            corrected_from=corrects.id if corrects else None,
            reason=reason,
            submitted_by=actor.user_id,
            submitted_via=via,
            submitted_at=None,
            submission_key=submission_key,
            completed_on=completed_on,
        )
        return _Prepared(actor, fam, cg, values, corrects)

    def _write_assessments(self, s: Session, items: list[_Prepared]) -> list[Any]:
        """Write prepared assessments (the caller holds the writers' lock): their rows, their
        urgent alerts and their audit rows, each kind in one statement for all of them."""
        if not items:
            return []
        next_instance: dict[tuple, int] = {}
        now = utcnow()
        vocab = load_vocabulary()
        for item in items:
            values, corrects = item.values, item.corrects
            values["submitted_at"] = now
            if corrects is None:
                key = (item.cg.id, values["instrument"], values["time_point"])
                if key not in next_instance:
                    next_instance[key] = (
                        driver_execute(s, _NEXT_INSTANCE, key).fetchone()[0] or 0) + 1
                values["instance"], values["version"] = next_instance[key], 1
                next_instance[key] += 1
            else:
                values["instance"] = corrects.instance
                values["version"] = (
                    s.execute(
                        select(func.max(Assessment.version)).where(
                            Assessment.caregiver_id == item.cg.id,
                            Assessment.instrument == values["instrument"],
                            Assessment.time_point == values["time_point"],
                            Assessment.instance == corrects.instance,
                        )
                    ).scalar()
                    or 0
                ) + 1
        # plain INSERTs (no unit of work): this is the platform's busiest write
        conn = s.connection()
        params = [item.values for item in items]
        ids = conn.execute(_INSERT_ASSESSMENTS, params[0] if len(params) == 1 else params
                           ).scalars().all()
        written = [types.SimpleNamespace(id=new_id, **item.values)
                   for new_id, item in zip(ids, items, strict=True)]
        alerts = [
            dict(
                family_id=a.family_id,
                caregiver_id=a.caregiver_id,
                assessment_id=a.id,
                flag_id=str(f.get("id")),
                kind=str(f.get("kind")),
                label=str(f.get("label") or f.get("id")),
                reason=str(f.get("reason") or ""),
                status="open",
                created_at=now,
            )
            for a in written
            for f in a.flags
            if vocab.opens_alert(f)
        ]
        if alerts:
            conn.execute(_INSERT_ALERT, alerts)
        entries = []
        for a, item in zip(written, items, strict=True):
            corrects = item.corrects
            before = None
            if corrects is not None:
                # the corrected version is immutable and has its own audit row: name it only
                before = {"id": corrects.id, "version": corrects.version}
            entries.append(dict(
                actor=item.actor,
                action="correct" if corrects else "create",
                entity="assessment",
                entity_id=a.id,
                family_id=item.fam.id,
                site_id=item.fam.site_id,
                before=before,
                after={
                    "instrument": a.instrument,
                    "instrument_version": a.instrument_version,
                    "time_point": a.time_point,
                    "caregiver": item.cg.key,
                    "instance": a.instance,
                    "version": a.version,
                    "input": a.input_kind,
                    # responses and scores are not copied: the record is immutable and
                    # record_hash pins it (audit.verify checks it), so the log stays small
                    "flags": [f.get("id") for f in a.flags],
                    "via": a.submitted_via,
                    "completed_on": a.completed_on.isoformat(),
                },
                reason=a.reason,
                record_hash=audit.record_digest("assessment", {"id": a.id, **item.values}),
            ))
        audit.append_many(s, entries)
        return written

    def _assessment_dict(self, a: Assessment, cg: Caregiver) -> dict:
        scores = dict(a.scores or {})
        return {
            "id": a.id,
            "family": a.family_id,
            "caregiver": cg.key,
            "caregiver_pk": cg.id,
            "caregiver_role": cg.role,
            "instrument": a.instrument,
            "instrument_version": a.instrument_version,
            "time_point": a.time_point,
            "instance": a.instance,
            "version": a.version,
            "input": a.input_kind,
            "responses": list(a.responses),
            "item_scores": list(a.item_scores),
            "scores": scores,
            "flags": list(a.flags),
            "corrected_from": a.corrected_from,
            "reason": a.reason,
            "submitted_by": a.submitted_by,
            "submitted_via": a.submitted_via,
            "submitted_at": a.submitted_at.isoformat(),
            "completed_on": a.completed_on.isoformat(),
        }

    def correct_assessment(
        self,
        actor: Actor,
        assessment_id: int,
        responses: list[int | None],
        *,
        reason: str,
        input: str | None = None,
    ) -> dict:
        """A correction: a new version (the old one stays, unchanged) with a mandatory reason."""
        require_write(actor)
        responses = v.responses(responses)
        reason = v.text(reason, "reason", max_len=1000) or ""
        with self._db.write() as s:
            old = get_scoped(s, actor, Assessment, assessment_id, what="assessment")
            newer = s.execute(
                select(Assessment.id).where(Assessment.corrected_from == old.id)
            ).first()
            if newer is not None:
                raise StoreValidationError(
                    "assessment",
                    f"assessment {old.id} was already corrected by {newer[0]}; "
                    "correct the latest version",
                )
            fam = s.get(Family, old.family_id)
            assert fam is not None
            a, cg = self._insert_assessment(
                s,
                actor,
                fam,
                old.caregiver_id,
                old.instrument,
                old.time_point,
                responses,
                input_kind=input or old.input_kind,
                corrects=old,
                reason=reason,
            )
            # alerts of the superseded version stay (history); new flags raised anew
            return self._assessment_dict(a, cg)

    def list_assessments(
        self, actor: Actor, family_id: int, *, include_superseded: bool = True
    ) -> list[dict]:
        """Every assessment of a family (oldest first); each has ``current`` (not superseded)."""
        with self._db.read() as s:
            fam = get_scoped(s, actor, Family, family_id, what="family")
            carers = {
                c.id: c
                for c in s.execute(select(Caregiver).where(Caregiver.family_id == fam.id)).scalars()
            }
            rows = list(
                s.execute(
                    select(Assessment)
                    .where(Assessment.family_id == fam.id)
                    .order_by(Assessment.submitted_at, Assessment.id)
                ).scalars()
            )
            current = {a.id for a in self._current(rows)}
            out = []
            for a in rows:
                if not include_superseded and a.id not in current:
                    continue
                d = self._assessment_dict(a, carers[a.caregiver_id])
                d["current"] = a.id in current
                out.append(d)
            if actor.role == "researcher":
                infant = next(iter(self._with_birth_dates(s, s.execute(
                    select(Infant).where(Infant.family_id == fam.id)).scalars())), None)
                view = self._research_view(s, fam, infant, list(carers.values()))
                out = [view.assessment(d) for d in out]
            return out

    # ------------------------------------------------------------------ caregiver links
    def create_link(
        self,
        actor: Actor,
        family_id: int,
        caregiver: str,
        instrument: str,
        time_point: str,
        *,
        hours: int = 72,
    ) -> str:
        """A single-use link secret for one caregiver x instrument x time point (store keeps
        only its hash). Returns the secret token."""
        require_write(actor)
        hours = v.integer(hours, "hours", minimum=1, maximum=24 * 30, required=True) or 72
        instrument = v.text(instrument, "instrument", max_len=50) or ""
        time_point = v.text(time_point, "time_point", max_len=100) or ""
        from attunement.instruments import UnknownInstrument, load_instrument

        try:
            load_instrument(instrument)
        except UnknownInstrument as exc:
            raise StoreValidationError("instrument", str(exc)) from exc
        token = secrets.token_urlsafe(32)
        with self._db.write() as s:
            fam = get_scoped(s, actor, Family, family_id, what="family")
            cg = self._caregiver(s, fam, caregiver)
            if cg.left_on is not None:
                raise StoreValidationError("caregiver", f"{cg.key!r} left the family")
            self._check_time_point(s, fam, time_point)
            link = CaregiverLink(
                token_hash=token_hash(token),
                family_id=fam.id,
                caregiver_id=cg.id,
                instrument=instrument,
                time_point=time_point,
                created_by=actor.user_id,
                expires_at=utcnow() + timedelta(hours=hours),
            )
            s.add(link)
            s.flush()
            audit.append(
                s,
                actor=actor,
                action="create",
                entity="caregiver_link",
                entity_id=link.id,
                family_id=fam.id,
                site_id=fam.site_id,
                after={
                    "caregiver": cg.key,
                    "instrument": instrument,
                    "time_point": time_point,
                    "expires_at": link.expires_at.isoformat(),
                },
            )
        return token

    def _live_link(self, s: Session, token: str) -> CaregiverLink:
        if not token or not isinstance(token, str):
            raise NotFound("link not found")
        link = s.execute(
            select(CaregiverLink).where(CaregiverLink.token_hash == token_hash(token))
        ).scalar_one_or_none()
        if link is None or link.used_at is not None or link.expires_at <= utcnow():
            raise NotFound("this link has been used, has expired, or does not exist")
        if link.kind != "questionnaire":
            raise NotFound("this link has been used, has expired, or does not exist")
        return link

    def open_link(self, token: str) -> dict:
        """What a caregiver link asks for (NotFound if used, expired or unknown). Reveals no
        identifiers and no family id."""
        with self._db.read() as s:
            link = self._live_link(s, token)
            cg = s.get(Caregiver, link.caregiver_id)
            fam = s.get(Family, link.family_id)
            site = s.get(Site, fam.site_id) if fam else None
            return {
                "instrument": link.instrument,
                "time_point": link.time_point,
                "caregiver_role": cg.role if cg else None,
                "language": cg.page_language if cg else None,
                "site": site.name if site else None,
                "expires_at": link.expires_at.isoformat(),
            }

    def create_space_link(self, actor: Actor, family_id: int, caregiver: str, *,
                          days: int = 30) -> str:
        """A link to the caregiver's own space (released results, in their language), viewable
        until it expires; the store keeps only its hash. Returns the secret token."""
        require_write(actor)
        days = v.integer(days, "days", minimum=1, maximum=90, required=True) or 30
        token = secrets.token_urlsafe(32)
        with self._db.write() as s:
            fam = get_scoped(s, actor, Family, family_id, what="family")
            cg = self._caregiver(s, fam, caregiver)
            if cg.left_on is not None:
                raise StoreValidationError("caregiver", f"{cg.key!r} left the family")
            link = CaregiverLink(
                token_hash=token_hash(token), family_id=fam.id, caregiver_id=cg.id,
                instrument="", time_point="", created_by=actor.user_id,
                expires_at=utcnow() + timedelta(days=days), kind="space",
            )
            s.add(link)
            s.flush()
            audit.append(s, actor=actor, action="create", entity="caregiver_space_link",
                         entity_id=link.id, family_id=fam.id, site_id=fam.site_id,
                         after={"caregiver": cg.key, "days": days})
        return token

    def open_space(self, token: str) -> dict:
        """The caregiver's own space: their language and the results a practitioner released
        (NotFound if unknown or expired). Reveals no identifiers, no family id, nothing
        unreleased."""
        with self._db.read() as s:
            link = self._space_link(s, token)
            cg = s.get(Caregiver, link.caregiver_id)
            assert cg is not None
            rows = s.execute(
                select(Assessment, ResultRelease)
                .join(ResultRelease, ResultRelease.assessment_id == Assessment.id)
                .where(ResultRelease.caregiver_id == cg.id)
                .order_by(ResultRelease.released_at.desc(), ResultRelease.id.desc())
            ).all()
            results = [{"instrument": a.instrument, "time_point": a.time_point,
                        "scores": dict(a.scores or {}), "completed_on": _iso(a.completed_on),
                        "released_at": _iso(r.released_at)} for a, r in rows]
            episodes = [{"id": e.id, "programme": e.programme}
                        for e in s.execute(select(Episode).where(
                            Episode.family_id == link.family_id).order_by(Episode.id))
                        .scalars() if cg.key in (e.caregivers or [])]
            told = [{"kind": c.kind, "data": dict(c.data), "created_at": c.created_at.isoformat()}
                    for c in s.execute(select(CaregiverContribution).where(
                        CaregiverContribution.caregiver_id == cg.id)
                        .order_by(CaregiverContribution.id.desc())).scalars()]
            return {"language": cg.page_language, "caregiver_role": cg.role,
                    "results": results, "episodes": episodes, "contributions": told,
                    "due": self._space_due(s, link, cg),
                    "expires_at": link.expires_at.isoformat()}

    def release_assessment(self, actor: Actor, assessment_id: int) -> dict:
        """Release a result to the caregiver's own space. Refused while an urgent flag of this
        assessment has no recorded safety review: the caregiver never reads a result about
        their safety before a clinician has."""
        require_write(actor)
        with self._db.write() as s:
            a = get_scoped(s, actor, Assessment, assessment_id, what="assessment")
            if s.execute(select(ResultRelease.id).where(
                    ResultRelease.assessment_id == a.id)).first() is not None:
                raise StoreValidationError("assessment", "this result is already released")
            pending = s.execute(
                select(Alert).where(Alert.assessment_id == a.id,
                                    (Alert.status == "open") | Alert.outcome.is_(None))
            ).scalars().first()
            if pending is not None:
                raise StoreValidationError(
                    "assessment", f"an urgent flag ({pending.label}) needs its safety review "
                    "recorded before the result can be released to the caregiver")
            fam = s.get(Family, a.family_id)
            cg = s.get(Caregiver, a.caregiver_id)
            assert fam is not None and cg is not None
            release = ResultRelease(assessment_id=a.id, family_id=fam.id, caregiver_id=cg.id,
                                    released_by=actor.user_id, released_at=utcnow())
            s.add(release)
            s.flush()
            audit.append(s, actor=actor, action="create", entity="result_release",
                         entity_id=release.id, family_id=fam.id, site_id=fam.site_id,
                         after={"assessment": a.id, "released_at": release.released_at.isoformat()})
            out = self._assessment_dict(a, cg)
            out["released_at"] = release.released_at.isoformat()
            return out

    def released_results(self, actor: Actor, family_id: int) -> dict[int, str]:
        """``{assessment id: released at}`` for one family (what its caregivers can read)."""
        with self._db.read() as s:
            fam = get_scoped(s, actor, Family, family_id, what="family")
            rows = s.execute(select(ResultRelease.assessment_id, ResultRelease.released_at)
                             .where(ResultRelease.family_id == fam.id)).all()
            return {aid: _iso(at) or "" for aid, at in rows}

    def _space_link(self, s: Session, token: str) -> CaregiverLink:
        link = s.execute(
            select(CaregiverLink).where(CaregiverLink.token_hash == token_hash(token))
        ).scalar_one_or_none()
        if link is None or link.kind != "space" or link.expires_at <= utcnow():
            raise NotFound("this link has expired or does not exist")
        return link

    def _space_due(self, s: Session, link: CaregiverLink, cg: Caregiver) -> list[dict]:
        """The questionnaires the study schedule asks of this caregiver now (due or overdue)."""
        fam = s.get(Family, link.family_id)
        if fam is None or fam.study_id is None or cg.left_on is not None:
            return []
        infants = list(self._with_birth_dates(
            s, s.execute(select(Infant).where(Infant.family_id == fam.id)).scalars()))
        tps = list(s.execute(select(TimePoint).where(TimePoint.study_id == fam.study_id)
                             .order_by(TimePoint.position)).scalars())
        done = set(s.execute(
            select(Assessment.caregiver_id, Assessment.instrument, Assessment.time_point)
            .where(Assessment.caregiver_id == cg.id).distinct()).all())
        due, overdue = self._schedule(fam, infants[0] if infants else None, [cg], tps, done,
                                      datetime.now(UTC).date())
        return [{"instrument": d["instrument"], "time_point": d["time_point"]}
                for d in overdue + due]

    def start_due_questionnaire(self, token: str, instrument: str, time_point: str, *,
                                hours: int = 72) -> str:
        """From the caregiver's space: a one-time questionnaire link for one questionnaire the
        schedule asks of them now (anything else is refused). Returns the secret token."""
        with self._db.write() as s:
            link = self._space_link(s, token)
            cg = s.get(Caregiver, link.caregiver_id)
            assert cg is not None
            wanted = {"instrument": str(instrument), "time_point": str(time_point)}
            if wanted not in self._space_due(s, link, cg):
                raise StoreValidationError("instrument", "this questionnaire is not due for you")
            secret = secrets.token_urlsafe(32)
            q = CaregiverLink(token_hash=token_hash(secret), family_id=link.family_id,
                              caregiver_id=cg.id, instrument=wanted["instrument"],
                              time_point=wanted["time_point"], created_by=None,
                              expires_at=utcnow() + timedelta(hours=hours))
            s.add(q)
            s.flush()
            fam = s.get(Family, link.family_id)
            assert fam is not None
            who = Actor(None, f"caregiver-space:{link.id}", "caregiver_link", frozenset(),
                        frozenset())
            audit.append(s, actor=who, action="create", entity="caregiver_link",
                         entity_id=q.id, family_id=fam.id, site_id=fam.site_id, after=wanted)
        return secret

    def contribute(self, token: str, kind: str, data: dict) -> dict:
        """Keep what a caregiver tells the service from their own space (no account):
        ``wishes`` (``goals``, ``preferred_contact``, ``other_carers``: text, at least one) or
        ``session_feedback`` (``episode``: an intervention episode of their family,
        ``ratings``: the SESSION_FEEDBACK_ITEMS each 0-10, optional ``comment``). Bad input is
        refused naming the field; nothing is stored then."""
        if kind not in CONTRIBUTION_KINDS:
            raise StoreValidationError("kind", f"must be one of {', '.join(CONTRIBUTION_KINDS)}")
        if not isinstance(data, dict):
            raise StoreValidationError("data", "must be an object")
        episode_id = None
        if kind == "wishes":
            clean = {k: v.text(data.get(k), k, max_len=2000, required=False) or ""
                     for k in WISH_FIELDS}
            if not any(clean.values()):
                raise StoreValidationError("goals", "write at least one thing you want to tell us")
        else:
            episode_id = v.integer(data.get("episode"), "episode", minimum=1, required=True)
            ratings = data.get("ratings")
            if not isinstance(ratings, dict):
                raise StoreValidationError("ratings", "must give each question a number")
            clean = {"ratings": {}, "comment": v.text(data.get("comment"), "comment",
                                                      max_len=2000, required=False) or ""}
            for key in SESSION_FEEDBACK_ITEMS:
                clean["ratings"][key] = v.integer(ratings.get(key), f"ratings.{key}",
                                                  minimum=0, maximum=10, required=True)
        with self._db.write() as s:
            link = self._space_link(s, token)
            fam = s.get(Family, link.family_id)
            cg = s.get(Caregiver, link.caregiver_id)
            assert fam is not None and cg is not None
            if episode_id is not None:
                ep = s.get(Episode, episode_id)
                if ep is None or ep.family_id != fam.id:
                    raise StoreValidationError("episode", "is not one of your family's sessions")
            row = CaregiverContribution(family_id=fam.id, caregiver_id=cg.id, kind=kind,
                                        episode_id=episode_id, data=clean, created_at=utcnow())
            s.add(row)
            s.flush()
            who = Actor(None, f"caregiver-space:{link.id}", "caregiver_link", frozenset(),
                        frozenset())
            audit.append(s, actor=who, action="create", entity="caregiver_contribution",
                         entity_id=row.id, family_id=fam.id, site_id=fam.site_id,
                         after={"kind": kind, "episode": episode_id})
            return {"id": row.id, "kind": kind, "episode": episode_id, "data": clean,
                    "created_at": row.created_at.isoformat()}

    def list_contributions(self, actor: Actor, family_id: int) -> list[dict]:
        """What the family's caregivers contributed from their own space, newest first."""
        with self._db.read() as s:
            fam = get_scoped(s, actor, Family, family_id, what="family")
            rows = s.execute(
                select(CaregiverContribution, Caregiver, Episode)
                .join(Caregiver, Caregiver.id == CaregiverContribution.caregiver_id)
                .outerjoin(Episode, Episode.id == CaregiverContribution.episode_id)
                .where(CaregiverContribution.family_id == fam.id)
                .order_by(CaregiverContribution.id.desc())
            ).all()
            return [{"id": c.id, "caregiver": cg.key, "kind": c.kind, "episode": c.episode_id,
                     "programme": e.programme if e else None, "data": dict(c.data),
                     "created_at": c.created_at.isoformat()} for c, cg, e in rows]

    def submit_link(
        self, token: str, responses: list[int | None], *, input: str = "scores"
    ) -> dict:
        """Submit a caregiver link's answers: stores the assessment and marks the link used in
        the same transaction (a second submit gets NotFound)."""
        responses = v.responses(responses)
        if input not in v.INPUT_KINDS:
            raise StoreValidationError("input", f"must be one of {', '.join(v.INPUT_KINDS)}")
        with self._db.write() as s:
            link = self._live_link(s, token)
            fam = s.get(Family, link.family_id)
            assert fam is not None
            who = Actor(
                None, f"caregiver-link:{link.id}", "caregiver_link", frozenset(), frozenset()
            )
            a, cg = self._insert_assessment(
                s,
                who,
                fam,
                link.caregiver_id,
                link.instrument,
                link.time_point,
                responses,
                input_kind=input,
                via="link",
            )
            link.used_at = utcnow()
            link.assessment_id = a.id
            return self._assessment_dict(a, cg)

    # ------------------------------------------------------------------ alerts
    def _alert_dict(self, a: Alert, fam: Family, cg: Caregiver, assessment: Any = None) -> dict:
        return {
            "id": a.id,
            "family": fam.id,
            "family_id": fam.code,
            "site_id": fam.site_id,
            "caregiver": cg.key,
            "caregiver_role": cg.role,
            "assessment_id": a.assessment_id,
            "flag_id": a.flag_id,
            "kind": a.kind,
            "label": a.label,
            "reason": a.reason,
            "status": a.status,
            "created_at": a.created_at.isoformat(),
            "acknowledged_by": a.acknowledged_by,
            "note": a.note,
            "outcome": a.outcome,
            "outcome_label": SAFETY_REVIEW_OUTCOMES.get(a.outcome or ""),
            "urgent": _urgent_alert(a),
            "acknowledged_at": _iso(a.acknowledged_at),
            "instrument": assessment.instrument if assessment else None,
            "time_point": assessment.time_point if assessment else None,
        }

    def list_alerts(self, actor: Actor, *, include_acknowledged: bool = False) -> list[dict]:
        """Open urgent flags in the actor's scope, newest first (researchers: none)."""
        if actor.role not in CLINICAL:
            return []
        with self._db.read() as s:
            stmt = (
                scoped(select(Alert, Family, Caregiver, Assessment), actor, Alert)
                .join(Caregiver, Caregiver.id == Alert.caregiver_id)
                .join(Assessment, Assessment.id == Alert.assessment_id)
                .order_by(Alert.id.desc())
            )
            if not include_acknowledged:
                stmt = stmt.where(Alert.status == "open")
            return [self._alert_dict(a, f, c, x) for a, f, c, x in s.execute(stmt).all()]

    def alerts_page(
        self,
        actor: Actor,
        *,
        cursor: str | None = None,
        limit: int | None = None,
        include_acknowledged: bool = False,
    ) -> dict:
        """One keyset page of :meth:`list_alerts` (newest first): ``items``, ``next`` and
        ``previous`` (opaque cursors or None)."""
        size = caseload.page_size(limit)
        after, key = True, None
        if cursor:
            after, key = caseload.decode_cursor(cursor, "alerts", (int,))
        if actor.role not in CLINICAL:
            return {"items": [], "next": None, "previous": None}
        with self._db.read() as s:
            stmt = (
                scoped(select(Alert, Family, Caregiver, Assessment), actor, Alert)
                .join(Caregiver, Caregiver.id == Alert.caregiver_id)
                .join(Assessment, Assessment.id == Alert.assessment_id)
            )
            if not include_acknowledged:
                stmt = stmt.where(Alert.status == "open")
            if key is not None:
                stmt = stmt.where(Alert.id < key[0] if after else Alert.id > key[0])
            stmt = stmt.order_by(Alert.id.desc() if after else Alert.id.asc()).limit(size + 1)
            found = list(s.execute(stmt).all())
            more = len(found) > size
            found = found[:size]
            if not after:
                found.reverse()
            items = [self._alert_dict(a, f, c, x) for a, f, c, x in found]
        has_next = more if after else key is not None
        has_prev = (key is not None) if after else more
        return {
            "items": items,
            "next": caseload.encode_cursor("alerts", "after", [items[-1]["id"]])
            if items and has_next else None,
            "previous": caseload.encode_cursor("alerts", "before", [items[0]["id"]])
            if items and has_prev else None,
        }

    def acknowledge_alert(self, actor: Actor, alert_id: int, *, note: str, outcome: str) -> dict:
        """Record the safety review of an urgent flag: what was done (``note``) and its
        ``outcome`` (one of :data:`SAFETY_REVIEW_OUTCOMES`), both required. When no urgent
        alert of the family is left open, the review releases the hold on matching."""
        require_write(actor)
        note = v.text(note, "note", max_len=2000) or ""
        outcome = v.text(outcome, "outcome", max_len=40) or ""
        if outcome not in SAFETY_REVIEW_OUTCOMES:
            raise StoreValidationError("outcome", f"{outcome!r} is not one of: "
                                       f"{', '.join(SAFETY_REVIEW_OUTCOMES)}")
        with self._db.write() as s:
            alert = get_scoped(s, actor, Alert, alert_id, what="alert")
            if alert.status != "open":
                raise StoreValidationError("alert", "was already acknowledged")
            alert.status, alert.note, alert.outcome = "acknowledged", note, outcome
            alert.acknowledged_by, alert.acknowledged_at = actor.user_id, utcnow()
            fam = s.get(Family, alert.family_id)
            assert fam is not None
            audit.append(
                s,
                actor=actor,
                action="acknowledge",
                entity="alert",
                entity_id=alert.id,
                family_id=fam.id,
                site_id=fam.site_id,
                before={"status": "open"},
                after={"status": "acknowledged", "note": note, "outcome": outcome},
            )
            cg = s.get(Caregiver, alert.caregiver_id)
            assessment = s.get(Assessment, alert.assessment_id)
            return self._alert_dict(alert, fam, cg, assessment)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ consent
    def _consent_dict(self, c: Consent, key: str | None) -> dict:
        return {
            "id": c.id,
            "family": c.family_id,
            "caregiver": key,
            "kind": c.kind,
            "version": c.version,
            "given_on": _iso(c.given_on),
            "withdrawn_on": _iso(c.withdrawn_on),
            "active": c.withdrawn_on is None,
        }

    def add_consent(
        self,
        actor: Actor,
        family_id: int,
        *,
        kind: str,
        version: str,
        given_on: date | str,
        caregiver: str | None = None,
    ) -> dict:
        """Record consent (e.g. ``kind="research"``, the information sheet ``version``)."""
        require_write(actor)
        kind = v.text(kind, "kind", max_len=50) or ""
        version = v.text(version, "version", max_len=50) or ""
        given = v.a_date(given_on, "given_on", required=True)
        assert given is not None
        if given > datetime.now(UTC).date():
            raise StoreValidationError("given_on", "is in the future")
        with self._db.write() as s:
            fam = get_scoped(s, actor, Family, family_id, what="family")
            cg = self._caregiver(s, fam, caregiver) if caregiver is not None else None
            c = Consent(
                family_id=fam.id,
                caregiver_id=cg.id if cg else None,
                kind=kind,
                version=version,
                given_on=given,
                recorded_by=actor.user_id,
            )
            s.add(c)
            s.flush()
            out = self._consent_dict(c, cg.key if cg else None)
            audit.append(
                s,
                actor=actor,
                action="create",
                entity="consent",
                entity_id=c.id,
                family_id=fam.id,
                site_id=fam.site_id,
                after=out,
                record_hash=audit.record_digest("consent", c),
            )
            return out

    def withdraw_consent(
        self, actor: Actor, consent_id: int, *, withdrawn_on: date | str, reason: str
    ) -> dict:
        """Record that consent was withdrawn (the record is kept)."""
        require_write(actor)
        when = v.a_date(withdrawn_on, "withdrawn_on", required=True)
        reason = v.text(reason, "reason", max_len=1000) or ""
        with self._db.write() as s:
            c = get_scoped(s, actor, Consent, consent_id, what="consent")
            if c.withdrawn_on is not None:
                raise StoreValidationError("consent", f"was already withdrawn on {c.withdrawn_on}")
            assert when is not None
            if when < c.given_on:
                raise StoreValidationError("withdrawn_on", "is before consent was given")
            c.withdrawn_on = when
            fam = s.get(Family, c.family_id)
            cg = s.get(Caregiver, c.caregiver_id) if c.caregiver_id else None
            audit.append(
                s,
                actor=actor,
                action="update",
                entity="consent",
                entity_id=c.id,
                family_id=c.family_id,
                site_id=fam.site_id if fam else None,
                before={"withdrawn_on": None},
                after={"withdrawn_on": when.isoformat()},
                reason=reason,
            )
            return self._consent_dict(c, cg.key if cg else None)

    # ------------------------------------------------------------------ episodes, observation
    def _episode_dict(self, e: Episode) -> dict:
        return {
            "id": e.id,
            "family": e.family_id,
            "programme": e.programme,
            "start": _iso(e.start_date),
            "end": _iso(e.end_date),
            "caregivers": list(e.caregivers),
            "sessions_offered": e.sessions_offered,
            "sessions_attended": e.sessions_attended,
            "fidelity_notes": e.fidelity_notes,
            "end_reason": e.end_reason,
            "created_at": e.created_at.isoformat(),
        }

    def add_episode(
        self,
        actor: Actor,
        family_id: int,
        programme: str,
        start: date | str,
        *,
        caregivers: list[str],
    ) -> dict:
        """Start an intervention episode for named caregivers of a family."""
        require_write(actor)
        programme = v.text(programme, "programme", max_len=100) or ""
        start_d = v.a_date(start, "start", required=True)
        if not isinstance(caregivers, list) or not caregivers:
            raise StoreValidationError("caregivers", "name at least one caregiver")
        with self._db.write() as s:
            fam = get_scoped(s, actor, Family, family_id, what="family")
            keys = [self._caregiver(s, fam, c).key for c in caregivers]
            e = Episode(
                family_id=fam.id,
                programme=programme,
                start_date=start_d,
                caregivers=keys,
                created_by=actor.user_id,
            )
            s.add(e)
            s.flush()
            out = self._episode_dict(e)
            audit.append(
                s,
                actor=actor,
                action="create",
                entity="episode",
                entity_id=e.id,
                family_id=fam.id,
                site_id=fam.site_id,
                after=out,
            )
            return out

    def update_episode(self, actor: Actor, episode_id: int, **changes: Any) -> dict:
        """Change ``sessions_offered``, ``sessions_attended``, ``fidelity_notes``, ``end``,
        ``end_reason``; ``reason`` (optional) is written to the audit log."""
        require_write(actor)
        reason = changes.pop("reason", None)
        allowed = {"sessions_offered", "sessions_attended", "fidelity_notes", "end", "end_reason"}
        unknown = sorted(set(changes) - allowed)
        if unknown:
            raise StoreValidationError(
                unknown[0], f"cannot be changed (allowed: {sorted(allowed)})"
            )
        with self._db.write() as s:
            e = get_scoped(s, actor, Episode, episode_id, what="episode")
            before = self._episode_dict(e)
            if "sessions_offered" in changes:
                e.sessions_offered = v.integer(
                    changes["sessions_offered"], "sessions_offered", minimum=0, maximum=1000
                )
            if "sessions_attended" in changes:
                e.sessions_attended = v.integer(
                    changes["sessions_attended"], "sessions_attended", minimum=0, maximum=1000
                )
            if (
                e.sessions_offered is not None
                and e.sessions_attended is not None
                and e.sessions_attended > e.sessions_offered
            ):
                raise StoreValidationError("sessions_attended", "is more than sessions offered")
            if "fidelity_notes" in changes:
                e.fidelity_notes = v.text(
                    changes["fidelity_notes"], "fidelity_notes", max_len=10000, required=False
                )
            if "end" in changes:
                e.end_date = v.a_date(changes["end"], "end")
                if e.end_date and e.end_date < e.start_date:
                    raise StoreValidationError("end", "is before the episode started")
            if "end_reason" in changes:
                e.end_reason = v.text(
                    changes["end_reason"], "end_reason", max_len=1000, required=False
                )
            s.flush()
            out = self._episode_dict(e)
            fam = s.get(Family, e.family_id)
            audit.append(
                s,
                actor=actor,
                action="update",
                entity="episode",
                entity_id=e.id,
                family_id=e.family_id,
                site_id=fam.site_id if fam else None,
                before=before,
                after=out,
                reason=reason,
            )
            return out

    def _observation_dict(self, o: ObservationSession) -> dict:
        return {
            "id": o.id,
            "family": o.family_id,
            "filename": o.filename,
            "sha256": o.sha256,
            "size": o.size,
            "metadata": files.open_metadata(self._keys_for_rows(), o),
            "uploaded_at": o.uploaded_at.isoformat(),
        }

    def add_observation_session(
        self, actor: Actor, family_id: int, *, filename: str, content: bytes, metadata: dict
    ) -> dict:
        """Attach a coded recording (file bytes + metadata) to a family. The file is validated
        and measured here, once (:mod:`attunement.store.observation_measures`): one that is too
        large or cannot be measured is refused and nothing is stored."""
        from attunement.store.observation_measures import (
            ALGORITHM,
            ObservationMeasures,
            measure_upload,
            seal_measures,
        )

        require_write(actor)
        name = v.text(filename, "filename", max_len=255) or ""
        if "/" in name or "\\" in name or name in (".", ".."):
            raise StoreValidationError("filename", "must be a plain file name, not a path")
        if not isinstance(content, bytes | bytearray) or not content:
            raise StoreValidationError("content", "the file is empty")
        if not isinstance(metadata, dict):
            raise StoreValidationError("metadata", "must be an object")
        with self._db.read() as s:  # scope first: no parsing for a family one cannot see
            get_scoped(s, actor, Family, family_id, what="family")
        measured = measure_upload(name, bytes(content), metadata)
        with self._db.write() as s:
            fam = get_scoped(s, actor, Family, family_id, what="family")
            digest = hashlib.sha256(content).hexdigest()
            o = ObservationSession(
                family_id=fam.id,
                filename=name,
                sha256=digest,
                size=len(content),
                uploaded_by=actor.user_id,
                **files.seal_observation(
                    self._keyring(s), fam.id, digest, bytes(content), _jsonable(metadata)),
            )
            s.add(o)
            s.flush()
            s.add(ObservationMeasures(
                session_id=o.id, settings=measured.settings, n_events=measured.n_events,
                measures_ciphertext=seal_measures(self._keyring(s), fam.id, digest, measured),
                algorithm=ALGORITHM))
            out = self._observation_dict(o)
            audit.append(
                s,
                actor=actor,
                action="create",
                entity="observation_session",
                entity_id=o.id,
                family_id=fam.id,
                site_id=fam.site_id,
                # not the metadata: coder and participant names stay encrypted at rest
                after={k: out[k] for k in ("filename", "sha256", "size")},
            )
            return out

    def observation_measures(self, actor: Actor, family_id: int) -> dict[int, dict]:
        """The measures stored at upload of each of a family's coded sessions, by session id
        (clinical roles in scope; never re-parsed). A session uploaded before measures were
        kept has no entry."""
        from attunement.store.observation_measures import stored_measures

        if actor.role not in CLINICAL:
            raise Forbidden("only clinical roles may open recordings")
        with self._db.read() as s:
            fam = get_scoped(s, actor, Family, family_id, what="family")
            ids = list(s.execute(select(ObservationSession.id).where(
                ObservationSession.family_id == fam.id)).scalars())
            return stored_measures(s, self._keyring(s), ids)

    def observation_content(self, actor: Actor, session_id: int) -> tuple[str, bytes]:
        """The file of an observation session (clinical roles in scope)."""
        if actor.role not in CLINICAL:
            raise Forbidden("only clinical roles may download recordings")
        with self._db.read() as s:
            o = get_scoped(s, actor, ObservationSession, session_id, what="observation session")
            return o.filename, files.open_content(self._keys_for_rows(), o)

    # ------------------------------------------------------------------ exports and audit
    def export_assessments(
        self, actor: Actor, *, study: int | None = None, pseudonymise: bool | None = None
    ) -> pd.DataFrame:
        """One row per current assessment: ids, instrument, time point, keyed item scores
        (``{instrument}_{n}``), every score, and one 0/1 column per flag (``flag_{id}``).

        Pseudonymised (always for researchers): per-study keyed-hash ids for family and
        caregiver, no identifiers, no dates — ``day_from_due_date`` and ``infant_age_days``
        instead. Clinical roles get family ids and dates unless ``pseudonymise=True``.
        In memory: for large exports use :meth:`export_stream`.
        """
        import pandas as pd

        from attunement.store import exports

        plan, frames = self._export_frames(actor, study=study, pseudonymise=pseudonymise)
        df = pd.concat([pd.DataFrame(columns=plan.columns), *frames], ignore_index=True)
        # as before streaming: an instrument's columns (items, scores, flags) appear when some
        # row has a value there; the fixed columns are always there
        fixed = set(exports.PSEUDO_COLUMNS + exports.CLINICAL_COLUMNS + exports.COMMON_COLUMNS)
        empty = [c for c in df.columns if c not in fixed and (
            not df[c].any() if c.startswith("flag_") else df[c].isna().all())]
        return df.drop(columns=empty)

    def export_stream(
        self,
        actor: Actor,
        *,
        fmt: str = "csv",
        study: int | None = None,
        pseudonymise: bool | None = None,
        chunk: int = 5_000,
    ) -> tuple[exports.ExportPlan, Iterator[bytes]]:
        """:meth:`export_assessments` as CSV or Parquet bytes, streamed from a server-side
        cursor chunk by chunk (bounded memory); its audit row is written when it ends."""
        from attunement.store import exports

        if fmt not in ("csv", "parquet"):
            raise StoreValidationError("format", f"{fmt!r} cannot be streamed (csv or parquet)")
        plan, frames = self._export_frames(
            actor, study=study, pseudonymise=pseudonymise, chunk=chunk)
        writer = exports.csv_bytes if fmt == "csv" else exports.parquet_bytes
        return plan, writer(plan, frames)

    def _export_frames(
        self,
        actor: Actor,
        *,
        study: int | None,
        pseudonymise: bool | None,
        chunk: int = 5_000,
    ) -> tuple[exports.ExportPlan, Iterator[pd.DataFrame]]:
        if pseudonymise is None:
            pseudonymise = actor.role not in CLINICAL
        if not pseudonymise and actor.role not in CLINICAL:
            raise Forbidden("researchers receive pseudonymised exports only")
        from attunement.store import exports

        db = exports.export_database(self._db)
        plan = exports.plan(db, actor, study=study, pseudonymise=pseudonymise)
        keys = self._keyring()

        def frames() -> Iterator[pd.DataFrame]:
            complete = False
            try:
                yield from exports.chunks(db, actor, plan, study=study, keys=keys,
                                          pseudonymise=pseudonymise, chunk=chunk)
                complete = True
            finally:
                # audited even when the download is cut off
                after = {"rows": plan.rows, "study": study, "pseudonymised": pseudonymise}
                if not complete:
                    after["complete"] = False
                with self._db.write() as s:
                    audit.append(s, actor=actor, action="export", entity="assessments",
                                 after=after)

        return plan, frames()

    def audit_log(
        self, actor: Actor, *, limit: int = 200, family_id: int | None = None
    ) -> list[dict]:
        """Newest audit rows first (admin: all; site lead: rows about their sites)."""
        require_role(actor, "admin", "site_lead")
        limit = max(1, min(int(limit), 10000))
        with self._db.read() as s:
            stmt = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
            if actor.role == "site_lead":
                stmt = stmt.where(AuditEntry.site_id.in_(sorted(actor.site_ids)))
            if family_id is not None:
                get_scoped(s, actor, Family, family_id, what="family")
                stmt = stmt.where(AuditEntry.family_id == int(family_id))
            return [
                {
                    "id": e.id,
                    "at": e.at,
                    "actor_id": e.actor_id,
                    "actor": e.actor_email,
                    "role": e.actor_role,
                    "action": e.action,
                    "entity": e.entity,
                    "entity_id": e.entity_id,
                    "family_id": e.family_id,
                    "site_id": e.site_id,
                    "before": json.loads(e.before) if e.before else None,
                    "after": _concealed_after(actor, e),
                    "reason": e.reason,
                    "client": e.client,
                    "hash": e.hash,
                }
                for e in s.execute(stmt).scalars()
            ]

    def verify_audit(
        self, *, checkpoint: dict | None = None, progress: Any = None
    ) -> audit.AuditReport:
        """Check the whole keyed chain (from a signed ``checkpoint`` if given) and every
        immutable record against it; ``.first_broken`` names the first bad row, ``.problems``
        every finding; ``progress(done, total)`` is called as rows are read."""
        return maintenance.verify_audit(self, checkpoint=checkpoint, progress=progress)

    def audit_checkpoint(self) -> dict:
        """A signed checkpoint of the chain's head, to keep outside the database."""
        return maintenance.audit_checkpoint(self)

    # ------------------------------------------------------------------ backup and restore
    def backup(self, dest: str | Path) -> Path:
        """A consistent copy of the database (SQLite online backup; ``pg_dump -Fc``).

        The identifier key file is NOT included: keep it separately.
        """
        dest = Path(dest)
        if dest.exists():
            raise StoreValidationError("dest", f"{dest} already exists")
        with self._db.write() as s:
            audit.append(
                s,
                actor=self.system_actor(),
                action="backup",
                entity="store",
                after={"dest": dest.name},
            )
        try:
            maintenance.create_private(dest)  # 0600 from the start, never after the fact
        except FileExistsError:
            raise StoreValidationError("dest", f"{dest} already exists") from None
        if self.dialect == "sqlite":
            src_path = make_url(self.url).database
            src = sqlite3.connect(src_path)
            dst = sqlite3.connect(dest)
            try:
                with dst:
                    src.backup(dst)
            finally:
                dst.close()
                src.close()
        else:
            _pg_run("pg_dump", ["-Fc", "-f", str(dest), _libpq(self.url)])
        os.chmod(dest, 0o600)
        return dest

    @classmethod
    def restore(
        cls, source: str | Path, url: str | None = None, *, key_path: str | Path | None = None
    ) -> Store:
        """Replace the database at ``url`` with a backup and open it.

        The backup is restored into a new database first (SQLite: a temp file next to the
        target; PostgreSQL: a new database on the same server) and checked there: its schema
        version, that it was encrypted with this key file, and its own audit verification.
        Only then does it replace the target (``os.replace`` / a rename); on any failure the
        target is untouched. On PostgreSQL the replaced database is kept, renamed (its name is
        in the ``restore`` audit row).
        """
        source = Path(source)
        if not source.exists():
            raise StoreValidationError("source", f"{source} does not exist")
        url = normalise_url(url or default_url())
        parsed = make_url(url)
        kp = Path(key_path) if key_path else default_key_path()

        def opener(candidate: str) -> Store:
            return cls.open(candidate, key_path=kp)

        opener.key_path = kp  # type: ignore[attr-defined]
        kept = None
        if parsed.get_backend_name() == "sqlite":
            maintenance.restore_sqlite(source, Path(parsed.database or ""), opener)
        else:
            kept = maintenance.restore_postgres(source, url, opener, _pg_run)
        store = cls.open(url, key_path=kp)
        with store._db.write() as s:
            audit.append(
                s,
                actor=store.system_actor(),
                action="restore",
                entity="store",
                after={"source": source.name, "replaced_kept_as": kept},
            )
        return store


def _concealed_after(actor: Actor, e: AuditEntry) -> Any:
    """An audit row's ``after``; a randomisation's sequence, stratum and draws are hidden
    from recruiters (allocation concealment, :func:`scope.sees_allocation_sequence`)."""
    after = json.loads(e.after) if e.after else None
    if e.entity == "trial_allocation" and isinstance(after, dict) and not (
        sees_allocation_sequence(actor)
    ):
        return {"study": after.get("study"), "concealed": True}
    return after


def _validate_family_file(family: dict, *, prefix: dict[str, str] | None = None) -> None:
    """The screening family-file rules (``attunement.risk``), errors as dotted field paths."""
    import re

    from attunement.risk import FamilyError, load_definitions, validate_family

    try:
        validate_family(family)
        levels = load_definitions().context_level()
        places = [("context", family.get("context") or {}, "family")] + [
            (f"caregivers[{i}].context", c.get("context") or {}, "caregiver")
            for i, c in enumerate(family["caregivers"])
        ]
        for path, ctx, level in places:
            for key in ctx:
                # "any": recorded at either level (e.g. safety_review_completed, harm_intent)
                if key not in levels:
                    known = ", ".join(sorted(k for k, lv in levels.items() if lv in (level, "any")))
                    raise FamilyError(
                        [(f"{path}.{key}", f"unknown recorded answer; known: {known}")]
                    )
                if levels[key] not in (level, "any"):
                    raise FamilyError([(f"{path}.{key}", f"is a {levels[key]}-level answer")])
    except FamilyError as exc:
        path, why = exc.problems[0]
        field = re.sub(r"\[(\d+)\]", r".\1", path) or "family"
        for old, new in (prefix or {}).items():
            if field.startswith(old):
                field = new + field[len(old) :]
        raise StoreValidationError(field, why) from None


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _pg_run(tool: str, args: list[str]) -> None:
    import glob

    exe = shutil.which(tool) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{tool}"), reverse=True)), None
    )
    if exe is None:
        raise RuntimeError(f"{tool} not found (install the PostgreSQL client tools)")
    result = subprocess.run([exe, *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{tool} failed: {result.stderr.strip()[:2000]}")


__all__ = ["Store"]
