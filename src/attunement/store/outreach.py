"""Outreach records: the durable message/job table and caregivers' contact preferences.

One row of ``outreach_messages`` is one message to one person, with an idempotency ``key``
(unique): planning inserts with ``ON CONFLICT DO NOTHING``, so a message is queued once however
many planners run, and the row is the job a worker claims, sends and records. Claiming is one
atomic UPDATE: on PostgreSQL over ``SELECT … FOR UPDATE SKIP LOCKED`` (several workers on
several machines take disjoint rows without waiting on each other), on SQLite inside the single
writer's ``BEGIN IMMEDIATE``. Nothing clinical and no caregiver address is stored here: the
caregiver's e-mail and phone stay encrypted in ``identities`` and are decrypted at send time.
Every queued escalation, every delivery result and every preference change is audited.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import (
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from attunement import policy
from attunement.policy import Action
from attunement.store import audit, shared
from attunement.store import validate as v
from attunement.store.core import Core
from attunement.store.crypto import token_hash
from attunement.store.errors import StoreValidationError
from attunement.store.models import (
    Alert,
    Assessment,
    Caregiver,
    CaregiverLink,
    ContactPreference,
    Family,
    Identity,
    Infant,
    Membership,
    OutreachMessage,
    Site,
    TimePoint,
    User,
    utcnow,
)
from attunement.store.scope import Actor, get_scoped, require_write

METHODS = ("email", "sms")
STATUSES = ("queued", "sending", "retry", "sent", "failed", "skipped")


_M = OutreachMessage.__table__
_COLUMNS = [c.name for c in _M.columns if c.name != "id"]


def _message_dict(m: Any) -> dict:
    out = {c: getattr(m, c) for c in ("id", *_COLUMNS)}
    for c in ("not_before", "claimed_at", "sent_at", "created_at"):
        if out[c] is not None:
            out[c] = out[c].isoformat()
    return out


class OutreachRecords:
    """The outreach tables: caregivers' contact preferences, and messages as durable jobs.

    Planning reads snapshots (:meth:`schedule_snapshot`, :meth:`open_alerts`) and queues
    messages under idempotency keys; workers :meth:`claim` them, read
    :meth:`delivery_context` and :meth:`record` the result. Methods taking ``actor`` (who
    acts, checked against the policy) serve the care team; the others the outreach service.

    Examples
    --------
    >>> store.outreach.set_contact_preferences(practitioner, family, "mother", method="email")
    {'caregiver': 'mother', 'language': 'en', 'method': 'email', 'opted_out': False}
    >>> [row] = store.outreach.queue([{"kind": "invitation", "key": "invite:mother:epds:6w",
    ...     "family_id": family, "site_id": site, "caregiver_id": 1,
    ...     "instrument": "epds", "time_point": "6w"}])
    >>> [message] = store.outreach.claim("worker-1", store.core.now())
    >>> message["status"], message["attempts"]
    ('sending', 1)
    >>> store.outreach.delivery_context(message)["address"]
    'mina@example.org'
    >>> store.outreach.record(message, "sent", worker="worker-1")
    >>> [m["status"] for m in store.outreach.list_messages(practitioner, family)]
    ['sent']
    """

    def __init__(self, core: Core | Any) -> None:
        self.core: Core = getattr(core, "core", core)  # a Store passes its Core
        self._db = self.core.db

    # ------------------------------------------------------------------ preferences
    def set_contact_preferences(
        self,
        actor: Actor,
        family_id: int,
        caregiver: int | str,
        *,
        language: str | None = None,
        method: str | None = None,
        opted_out: bool | None = None,
    ) -> dict:
        """Record how a caregiver wants to be contacted, or that they opted out (audited).

        Parameters
        ----------
        actor : Actor
            Records the wishes: clinical staff with the family in scope.
        family_id : int
            The caregiver's family.
        caregiver : int or str
            The caregiver's database id or family-file id.
        language : str, optional
            A language tag; it is the caregiver's page language, shared by all their pages.
        method : str, optional
            ``email`` or ``sms``.
        opted_out : bool, optional
            No more invitations or reminders.

        Returns
        -------
        dict
            ``caregiver``, ``language``, ``method`` and ``opted_out``.

        Raises
        ------
        StoreValidationError
            For a bad language tag or method.
        """
        require_write(actor)
        if language is not None and (not isinstance(language, str)
                                     or not shared.LANGUAGE_TAG.match(language)):
            raise StoreValidationError(
                "language", "must be a language code such as 'en', 'cy' or 'pt-BR'")
        if method is not None and method not in METHODS:
            raise StoreValidationError("method", f"must be one of {', '.join(METHODS)}")
        if opted_out is not None:
            opted_out = v.boolean(opted_out, "opted_out")
        with self._db.write() as s:
            fam = get_scoped(s, actor, Family, family_id, what="family")
            cg = shared.caregiver(s, fam, caregiver)
            pref = s.get(ContactPreference, cg.id)
            before = None if pref is None else _pref_dict(pref, cg)
            if pref is None:
                pref = ContactPreference(caregiver_id=cg.id, family_id=fam.id,
                                         method="email", opted_out=False)
                s.add(pref)
            if language is not None:
                cg.page_language = language
            if method is not None:
                pref.method = method
            if opted_out is not None:
                pref.opted_out = opted_out
            pref.updated_at = utcnow()
            s.flush()
            after = _pref_dict(pref, cg)
            audit.append(s, actor=actor, action="update", entity="contact_preferences",
                         entity_id=cg.id, family_id=fam.id, site_id=fam.site_id,
                         before=before, after=after)
            return {"caregiver": cg.key, **after}

    # ------------------------------------------------------------------ planning snapshots
    def schedule_snapshot(self, today: date) -> list[dict]:
        """List every questionnaire open and unanswered on a day, by the store's schedule rule.

        Parameters
        ----------
        today : date
            The planning day.

        Returns
        -------
        list of dict
            Per caregiver, instrument and time point: ``family_id``, ``site_id``,
            ``caregiver_id``, the window's ``opens`` and ``closes``, and the caregiver's
            ``language``, ``method`` and ``opted_out``.
        """
        with self._db.read() as s:
            # plain rows, not ORM objects: this reads every family of every study
            fams = s.execute(select(Family.id, Family.site_id, Family.study_id, Family.registered_on)
                             .where(Family.study_id.is_not(None))).all()
            if not fams:
                return []
            tps: dict[int, list[TimePoint]] = {}
            for tp in s.execute(select(TimePoint).order_by(TimePoint.position)).scalars():
                tps.setdefault(tp.study_id, []).append(tp)
            carers: dict[int, list[Any]] = {}
            for cg in s.execute(select(Caregiver.id, Caregiver.key, Caregiver.role,
                                       Caregiver.family_id, Caregiver.page_language)
                                .where(Caregiver.left_on.is_(None)).order_by(Caregiver.id)):
                carers.setdefault(cg.family_id, []).append(cg)
            infants: dict[int, Any] = {}
            if any(tp.anchor == "birth_date" for x in tps.values() for tp in x):
                rows = shared.with_birth_dates(
                    self.core, s, s.execute(select(Infant).order_by(Infant.id)).scalars())
            else:  # no time point counts from birth: no need to decrypt dates of birth
                rows = [SimpleNamespace(family_id=f, due_date=d, birth_date=None) for f, d in
                        s.execute(select(Infant.family_id, Infant.due_date).order_by(Infant.id))]
            for inf in rows:
                infants.setdefault(inf.family_id, inf)
            done = set(s.execute(
                select(Assessment.caregiver_id, Assessment.instrument, Assessment.time_point)
                .distinct()).all())
            prefs = {p.caregiver_id: p for p in s.execute(select(ContactPreference)).scalars()}
        out: list[dict] = []
        for fam in fams:
            plan = tps.get(fam.study_id or -1)
            if not plan or fam.id not in carers:
                continue
            window = {tp.name: tp.window_days for tp in plan}
            by_key = {c.key: c for c in carers[fam.id]}
            due, _overdue = shared.schedule(
                fam, infants.get(fam.id), carers[fam.id], plan, done, today)  # type: ignore[arg-type]
            for item in due:
                cg = by_key[item["caregiver"]]
                pref = prefs.get(cg.id)
                target = date.fromisoformat(item["target"])
                out.append({
                    "family_id": fam.id,
                    "site_id": fam.site_id,
                    "caregiver_id": cg.id,
                    "instrument": item["instrument"],
                    "time_point": item["time_point"],
                    "opens": target - timedelta(days=window[item["time_point"]]),
                    "closes": date.fromisoformat(item["window_closes"]),
                    "language": cg.page_language or "en",
                    "method": pref.method if pref else "email",
                    "opted_out": bool(pref.opted_out) if pref else False,
                })
        return out

    def questionnaire_history(self) -> dict[tuple[int, str, str], tuple[int, datetime]]:
        """Count the invitations and reminders queued so far per questionnaire.

        Returns
        -------
        dict
            ``(caregiver id, instrument, time point)`` -> ``(messages queued, first queued at)``.
        """
        from sqlalchemy import func

        with self._db.read() as s:
            rows = s.execute(
                select(OutreachMessage.caregiver_id, OutreachMessage.instrument,
                       OutreachMessage.time_point, func.count(), func.min(OutreachMessage.created_at))
                .where(OutreachMessage.kind.in_(("invitation", "reminder")))
                .group_by(OutreachMessage.caregiver_id, OutreachMessage.instrument,
                          OutreachMessage.time_point)).all()
        col = OutreachMessage.__table__.c.created_at.type
        return {(r[0], r[1], r[2]): (int(r[3]), _as_utc(r[4], col)) for r in rows}

    def open_alerts(self) -> list[dict]:
        """List the open urgent flags, with whom to tell about each.

        Returns
        -------
        list of dict
            ``id``, ``kind``, ``flag_id``, ``family_id``, ``created_at``, ``site_id``,
            ``created_by``, and the site's name, active ``practitioners`` and ``site_leads``.
        """
        with self._db.read() as s:
            rows = s.execute(
                select(Alert.id, Alert.kind, Alert.flag_id, Alert.family_id, Alert.created_at,
                       Family.site_id, Family.created_by)
                .join(Family, Family.id == Alert.family_id)
                .where(Alert.status == "open").order_by(Alert.id)).all()
            staff = self._staff(s, {r.site_id for r in rows})
        return [{"id": r.id, "kind": r.kind, "flag_id": r.flag_id, "family_id": r.family_id,
                 "created_at": r.created_at, "site_id": r.site_id, "created_by": r.created_by,
                 **staff.get(r.site_id, {"practitioners": [], "site_leads": [], "site": ""})}
                for r in rows]

    @staticmethod
    def _staff(s: Session, site_ids: Iterable[int]) -> dict[int, dict]:
        site_ids = list(site_ids)
        out: dict[int, dict] = {
            sid: {"practitioners": [], "site_leads": [], "site": ""} for sid in site_ids}
        if not site_ids:
            return out
        for site in s.execute(select(Site).where(Site.id.in_(site_ids))).scalars():
            out[site.id]["site"] = site.name
        now = utcnow()
        for m, u in s.execute(
            select(Membership, User).join(User, User.id == Membership.user_id)
            .where(Membership.site_id.in_(site_ids), User.active.is_(True))
            .order_by(User.id)).all():
            if u.expires_at is not None and u.expires_at <= now:
                continue
            if m.role == policy.PRACTITIONER:  # whom to notify, not an access rule
                out[m.site_id]["practitioners"].append(u.id)
            elif m.role == policy.SITE_LEAD:
                out[m.site_id]["site_leads"].append(u.id)
        return out

    # ------------------------------------------------------------------ queueing
    def queue(self, rows: list[dict], *, actor: Actor | None = None) -> list[dict]:
        """Queue messages; one whose key is already queued is left alone.

        Escalations are audited one by one; invitations and reminders by one summary row here,
        and each when delivered.

        Parameters
        ----------
        rows : list of dict
            Each with ``kind``, ``key``, ``family_id``, ``site_id`` and, as the kind needs,
            ``caregiver_id``, ``instrument``, ``time_point``, ``alert_id``, ``user_id``,
            ``channel``, ``language``, ``not_before``.
        actor : Actor, optional
            Who queues (default: the system).

        Returns
        -------
        list of dict
            The rows inserted, with their ids.
        """
        if not rows:
            return []
        actor = actor or self.core.system_actor()
        now = utcnow()
        values = [{
            "kind": r["kind"], "stage": r.get("stage", 0), "channel": r.get("channel", "email"),
            "key": r["key"], "family_id": r["family_id"], "site_id": r["site_id"],
            "caregiver_id": r.get("caregiver_id"), "alert_id": r.get("alert_id"),
            "user_id": r.get("user_id"), "staff_address": r.get("staff_address"),
            "instrument": r.get("instrument"), "time_point": r.get("time_point"),
            "language": r.get("language", "en"), "status": r.get("status", "queued"),
            "attempts": 0, "not_before": r.get("not_before", now),
            "last_error": r.get("last_error"), "created_at": r.get("created_at", now),
        } for r in rows]
        insert = pg_insert if self._db.dialect == "postgresql" else sqlite_insert
        inserted: list[dict] = []
        with self._db.write() as s:
            if self._db.dialect == "postgresql":
                keys = _copy_insert(s, values)
            else:
                stmt = (insert(_M).on_conflict_do_nothing(index_elements=["key"])
                        .returning(_M.c.id, _M.c.key))
                keys = {k: i for i, k in s.execute(stmt, values).all()}
            inserted.extend({**val, "id": keys[val["key"]]} for val in values
                            if val["key"] in keys)
            entries = [dict(actor=actor, action="queue", entity="outreach_message",
                            entity_id=r["id"], family_id=r["family_id"], site_id=r["site_id"],
                            after={"kind": r["kind"], "stage": r["stage"],
                                   "channel": r["channel"], "status": r["status"],
                                   "alert_id": r["alert_id"], "user_id": r["user_id"]})
                       for r in inserted if r["kind"] in ("alert", "escalation")
                       or r["status"] == "skipped"]
            others = len(inserted) - len(entries)
            if others:
                entries.append(dict(actor=actor, action="queue", entity="outreach_message",
                                    after={"kind": "invitation_or_reminder", "count": others}))
            audit.append_many(s, entries)
        return inserted

    # ------------------------------------------------------------------ the worker's side
    def claim(self, worker: str, now: datetime, *, limit: int = 50,
              lease: timedelta = timedelta(minutes=10)) -> list[dict]:
        """Take up to ``limit`` due messages for one worker, atomically.

        A message left ``sending`` longer than ``lease`` (its worker died) is taken again.

        Parameters
        ----------
        worker : str
            The worker's name.
        now : datetime
            The current time.
        limit : int, default 50
            The most messages to take.
        lease : timedelta, default 10 minutes
            How long a claim holds.

        Returns
        -------
        list of dict
            The claimed messages (status ``sending``), by id.
        """
        due = (((_M.c.status.in_(("queued", "retry"))) & (_M.c.not_before <= now))
               | ((_M.c.status == "sending") & (_M.c.claimed_at < now - lease)))
        pick = select(_M.c.id).where(due).order_by(_M.c.not_before, _M.c.id).limit(limit)
        if self._db.dialect == "postgresql":
            pick = pick.with_for_update(skip_locked=True)
        stmt = (update(_M).where(_M.c.id.in_(pick.scalar_subquery()))
                .values(status="sending", claimed_by=worker, claimed_at=now,
                        attempts=_M.c.attempts + 1)
                .returning(*_M.c))
        # the claim needs no audit row, hence not the writers' (audit chain) lock on PostgreSQL
        with self._db.write(lock=False) as s:
            rows = s.execute(stmt).all()
        return sorted((_message_dict(r) for r in rows), key=lambda m: m["id"])

    def delivery_context(self, message: dict) -> dict:
        """Read what sending a message needs, fresh: whether it is still wanted, and the address.

        Parameters
        ----------
        message : dict
            A message this worker claimed (:meth:`claim`).

        Returns
        -------
        dict
            ``site``, ``wanted`` and ``why_not`` (answered, opted out, caregiver left, flag
            acknowledged, account disabled), and the decrypted ``address``.
        """
        with self._db.read() as s:
            fam = s.get(Family, message["family_id"])
            site = s.get(Site, fam.site_id) if fam else None
            ctx: dict[str, Any] = {"site": site.name if site else "", "wanted": True,
                                   "why_not": None, "address": None, "family_code": None}
            if message["caregiver_id"] is not None:
                cg = s.get(Caregiver, message["caregiver_id"])
                pref = s.get(ContactPreference, message["caregiver_id"])
                answered = s.execute(select(Assessment.id).where(
                    Assessment.caregiver_id == message["caregiver_id"],
                    Assessment.instrument == message["instrument"],
                    Assessment.time_point == message["time_point"]).limit(1)).first()
                if cg is None or cg.left_on is not None:
                    ctx.update(wanted=False, why_not="the caregiver left the family")
                elif answered:
                    ctx.update(wanted=False, why_not="the questionnaire was answered")
                elif pref is not None and pref.opted_out:
                    ctx.update(wanted=False, why_not="the caregiver opted out")
                if cg is not None:
                    ctx["caregiver_key"] = cg.key
                    row = s.execute(select(Identity).where(
                        Identity.subject_kind == "caregiver",
                        Identity.subject_id == cg.id)).scalar_one_or_none()
                    ids = {} if row is None else self.core.keyring().decrypt(
                        row.ciphertext, f"caregiver:{cg.id}")
                    ctx["address"] = ids.get("phone" if message["channel"] == "sms" else "email")
            else:
                if message["alert_id"] is not None:
                    alert = s.get(Alert, message["alert_id"])
                    if alert is None or alert.status != "open":
                        ctx.update(wanted=False, why_not="the flag was acknowledged")
                    if alert is not None:
                        ctx.update(alert_kind=alert.kind, flag_id=alert.flag_id)
                if message["user_id"] is not None:
                    user = s.get(User, message["user_id"])
                    if user is None or not user.active:
                        ctx.update(wanted=False, why_not="the staff account is disabled")
                    else:
                        ctx["address"] = user.email
                else:
                    ctx["address"] = message["staff_address"]
        return ctx

    def record(self, message: dict, status: str, *, error: str | None = None,
               not_before: datetime | None = None, now: datetime | None = None,
               worker: str = "", undelivered_link: str | None = None) -> None:
        """Record one delivery result, audited; only the worker still holding the claim can.

        Parameters
        ----------
        message : dict
            The claimed message.
        status : str
            ``sent``, ``retry``, ``failed`` or ``skipped`` (one of ``STATUSES``).
        error : str, optional
            What went wrong.
        not_before : datetime, optional
            For a retry: not before this time.
        now : datetime, optional
            The current time.
        worker : str, default ""
            The worker's name, for the audit log.
        undelivered_link : str, optional
            The caregiver link made for a message that did not go out: expired here, so only
            delivered links are ever live.

        Raises
        ------
        ValueError
            For an unknown status.
        """
        if status not in STATUSES:
            raise ValueError(f"unknown outreach status {status!r}")
        now = now or utcnow()
        values: dict[str, Any] = {"status": status, "last_error": error}
        if status == "sent":
            values["sent_at"] = now
        if not_before is not None:
            values["not_before"] = not_before
        with self._db.write() as s:
            # only the worker holding the claim records (a lease taken over meanwhile wins)
            done = s.execute(update(_M).where(
                _M.c.id == message["id"], _M.c.status == "sending",
                _M.c.claimed_by == message["claimed_by"]).values(**values)).rowcount
            if not done:
                return
            if undelivered_link:
                s.execute(update(CaregiverLink).where(
                    CaregiverLink.token_hash == token_hash(undelivered_link),
                    CaregiverLink.used_at.is_(None)).values(expires_at=utcnow()))
            audit.append(
                s, actor=self.core.system_actor(), action=f"outreach_{status}",
                entity="outreach_message", entity_id=message["id"],
                family_id=message["family_id"], site_id=message["site_id"],
                after={"kind": message["kind"], "stage": message["stage"],
                       "channel": message["channel"], "attempts": message["attempts"],
                       "alert_id": message["alert_id"], "user_id": message["user_id"],
                       "error": error, "worker": worker,
                       "not_before": not_before.isoformat() if not_before else None},
            )

    # ------------------------------------------------------------------ reading
    def list_messages(self, actor: Actor, family_id: int) -> list[dict]:
        """List a family's messages, newest first.

        Parameters
        ----------
        actor : Actor
            Who reads (only clinical roles see any).
        family_id : int
            Whose messages.

        Returns
        -------
        list of dict
            The messages, each with its ``caregiver``.
        """
        if not policy.allows(actor, Action.READ_CLINICAL):
            return []
        with self._db.read() as s:
            fam = get_scoped(s, actor, Family, family_id, what="family")
            keys = {c.id: c.key for c in s.execute(
                select(Caregiver).where(Caregiver.family_id == fam.id)).scalars()}
            rows = s.execute(select(OutreachMessage).where(OutreachMessage.family_id == fam.id)
                             .order_by(OutreachMessage.id.desc())).scalars().all()
            return [{**_message_dict(m), "caregiver": keys.get(m.caregiver_id)} for m in rows]

    def contact_preferences(self, actor: Actor, family_id: int) -> list[dict]:
        """List each current caregiver's contact language, method and opt-out.

        Parameters
        ----------
        actor : Actor
            Who asks; the family must be in their scope.
        family_id : int
            Whose caregivers.

        Returns
        -------
        list of dict
            ``caregiver``, ``language``, ``method`` and ``opted_out`` (defaults when never set).
        """
        with self._db.read() as s:
            fam = get_scoped(s, actor, Family, family_id, what="family")
            carers = s.execute(select(Caregiver).where(
                Caregiver.family_id == fam.id, Caregiver.left_on.is_(None))
                .order_by(Caregiver.id)).scalars().all()
            prefs = {p.caregiver_id: p for p in s.execute(select(ContactPreference).where(
                ContactPreference.family_id == fam.id)).scalars()}
        default = {"method": "email", "opted_out": False}
        return [{"caregiver": c.key, **(_pref_dict(prefs[c.id], c) if c.id in prefs
                                        else {"language": c.page_language or "en", **default})}
                for c in carers]

    def all_messages(self) -> list[dict]:
        """List every message, by id (for operators and tests).

        Returns
        -------
        list of dict
            The messages.
        """
        with self._db.read() as s:
            return [_message_dict(m) for m in
                    s.execute(select(OutreachMessage).order_by(OutreachMessage.id)).scalars()]

    def failures(self) -> list[dict]:
        """List the messages waiting for a retry or given up on (shown to staff and operators).

        Returns
        -------
        list of dict
            The messages with status ``retry`` or ``failed``.
        """
        with self._db.read() as s:
            return [_message_dict(m) for m in s.execute(
                select(OutreachMessage).where(OutreachMessage.status.in_(("retry", "failed")))
                .order_by(OutreachMessage.id)).scalars()]


def _copy_insert(s: Session, values: list[dict]) -> dict[str, int]:
    """PostgreSQL: COPY the rows into a temporary table, then one INSERT … SELECT … ON CONFLICT
    DO NOTHING; returns key -> id of the rows inserted. (A day's invitations for a national
    study are 100,000 rows: a multi-row INSERT spends its time building the statement.)"""
    cols = list(_COLUMNS)
    cur = s.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
    cur.execute(f"CREATE TEMPORARY TABLE outreach_incoming ON COMMIT DROP AS "
                f"SELECT {', '.join(cols)} FROM outreach_messages WITH NO DATA")
    naive = {"not_before", "created_at", "claimed_at", "sent_at"}
    with cur.copy(f"COPY outreach_incoming ({', '.join(cols)}) FROM STDIN") as copy:
        for row in values:
            copy.write_row([
                (row.get(c).astimezone(UTC).replace(tzinfo=None)
                 if c in naive and row.get(c) is not None else row.get(c)) for c in cols])
    cur.execute(f"INSERT INTO outreach_messages ({', '.join(cols)}) "
                f"SELECT {', '.join(cols)} FROM outreach_incoming "
                "ON CONFLICT (key) DO NOTHING RETURNING id, key")
    keys = {k: i for i, k in cur.fetchall()}
    cur.execute("DROP TABLE outreach_incoming")
    return keys


def _pref_dict(p: ContactPreference, cg: Caregiver) -> dict:
    return {"language": cg.page_language or "en", "method": p.method,
            "opted_out": bool(p.opted_out)}


def _as_utc(value: Any, col_type: Any) -> datetime:
    if isinstance(value, str):  # SQLite's min() of a DateTime column comes back as text
        value = datetime.fromisoformat(value)
    return col_type.process_result_value(value.replace(tzinfo=None), None)
