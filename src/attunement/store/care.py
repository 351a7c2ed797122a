"""Care: caregiver links and space, released results, contributions, alerts, consent, episodes."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from attunement import policy
from attunement.policy import Action
from attunement.store import audit, caseload, shared
from attunement.store import validate as v
from attunement.store.assessments import Assessments, Scorer
from attunement.store.core import Core
from attunement.store.crypto import token_hash
from attunement.store.errors import (
    NotFound,
    StoreValidationError,
)
from attunement.store.models import (
    Alert,
    Assessment,
    Caregiver,
    CaregiverContribution,
    CaregiverLink,
    Consent,
    Episode,
    Family,
    ResultRelease,
    Site,
    TimePoint,
)
from attunement.store.scope import (
    Actor,
    get_scoped,
    require_write,
    scoped,
)
from attunement.store.shared import SAFETY_REVIEW_OUTCOMES

CONTRIBUTION_KINDS = ("wishes", "session_feedback")
WISH_FIELDS = ("goals", "preferred_contact", "other_carers")
# four 0-10 ratings in the project's own words, after the idea of the Session Rating Scale
# (Duncan BL, Miller SD, Sparks JA et al. 2003, J Brief Therapy 3(1):3-12); not its wording
SESSION_FEEDBACK_ITEMS = ("heard", "goals", "approach", "overall")


def awaits_review() -> ColumnElement[bool]:
    """The SQL condition of an alert whose safety review is not recorded: it is still open,
    or it was closed without an outcome.

    A result with such an alert is not released to the caregiver
    (:meth:`Care.release_assessment`); the family page asks :meth:`Care.awaiting_review`
    rather than deciding it again.

    Returns
    -------
    ColumnElement
        A condition on ``alerts`` for a query's ``where``.

    Examples
    --------
    >>> print(awaits_review())
    alerts.status = :status_1 OR alerts.outcome IS NULL
    """
    return (Alert.status == "open") | Alert.outcome.is_(None)


class Care:
    """Care of a family: caregiver links and space, releases, contributions, alerts, consent, episodes."""

    def __init__(self, core: Core, assessments: Assessments) -> None:
        self.core = core
        self.assessments = assessments

    def create_link(
        self,
        actor: Actor,
        family_id: int,
        caregiver: str,
        instrument: str,
        time_point: str,
        *,
        hours: int = 72,
        check_instrument: Callable[[str], object],
    ) -> str:
        """A single-use link secret for one caregiver x instrument x time point (store keeps
        only its hash). Returns the secret token.

        ``check_instrument(instrument)`` raises StoreValidationError for an instrument that does
        not exist (the use case passes it: :func:`attunement.usecases.assessments.create_link`),
        so no link is issued for a questionnaire that cannot be answered."""
        require_write(actor)
        hours = v.integer(hours, "hours", minimum=1, maximum=24 * 30, required=True) or 72
        instrument = v.text(instrument, "instrument", max_len=50) or ""
        time_point = v.text(time_point, "time_point", max_len=100) or ""
        check_instrument(instrument)
        token = secrets.token_urlsafe(32)
        with self.core.db.write() as s:
            fam = get_scoped(s, actor, Family, family_id, what="family")
            cg = shared.current_caregiver(s, fam, caregiver)
            shared.check_time_point(self.core, s, fam, time_point)
            link = CaregiverLink(
                token_hash=token_hash(token),
                family_id=fam.id,
                caregiver_id=cg.id,
                instrument=instrument,
                time_point=time_point,
                created_by=actor.user_id,
                expires_at=self.core.now() + timedelta(hours=hours),
            )
            s.add(link)
            s.flush()
            audit.append(s, actor=actor, action="create", entity="caregiver_link",
                         entity_id=link.id, family=fam,
                         after={"caregiver": cg.key, "instrument": instrument,
                                "time_point": time_point,
                                "expires_at": link.expires_at.isoformat()})
        return token

    def _live_link(self, s: Session, token: str) -> CaregiverLink:
        if not token or not isinstance(token, str):
            raise NotFound("link not found")
        link = s.execute(
            select(CaregiverLink).where(CaregiverLink.token_hash == token_hash(token))
        ).scalar_one_or_none()
        if link is None or link.used_at is not None or link.expires_at <= self.core.now():
            raise NotFound("this link has been used, has expired, or does not exist")
        if link.kind != "questionnaire":
            raise NotFound("this link has been used, has expired, or does not exist")
        return link

    def open_link(self, token: str) -> dict:
        """What a caregiver link asks for (NotFound if used, expired or unknown). Reveals no
        identifiers and no family id."""
        with self.core.db.read() as s:
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
        with self.core.db.write() as s:
            fam = get_scoped(s, actor, Family, family_id, what="family")
            cg = shared.current_caregiver(s, fam, caregiver)
            link = CaregiverLink(
                token_hash=token_hash(token), family_id=fam.id, caregiver_id=cg.id,
                instrument="", time_point="", created_by=actor.user_id,
                expires_at=self.core.now() + timedelta(days=days), kind="space",
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
        with self.core.db.read() as s:
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
                        "scores": dict(a.scores or {}), "completed_on": shared.iso(a.completed_on),
                        "released_at": shared.iso(r.released_at)} for a, r in rows]
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
        with self.core.db.write() as s:
            a = get_scoped(s, actor, Assessment, assessment_id, what="assessment")
            if s.execute(select(ResultRelease.id).where(
                    ResultRelease.assessment_id == a.id)).first() is not None:
                raise StoreValidationError("assessment", "this result is already released")
            pending = s.execute(
                select(Alert).where(Alert.assessment_id == a.id, awaits_review())
            ).scalars().first()
            if pending is not None:
                raise StoreValidationError(
                    "assessment", f"an urgent flag ({pending.label}) needs its safety review "
                    "recorded before the result can be released to the caregiver")
            fam = s.get(Family, a.family_id)
            cg = s.get(Caregiver, a.caregiver_id)
            assert fam is not None and cg is not None
            release = ResultRelease(assessment_id=a.id, family_id=fam.id, caregiver_id=cg.id,
                                    released_by=actor.user_id, released_at=self.core.now())
            s.add(release)
            s.flush()
            audit.append(s, actor=actor, action="create", entity="result_release",
                         entity_id=release.id, family_id=fam.id, site_id=fam.site_id,
                         after={"assessment": a.id, "released_at": release.released_at.isoformat()})
            out = shared.assessment_dict(a, cg)
            out["released_at"] = release.released_at.isoformat()
            return out

    def awaiting_review(self, actor: Actor, family_id: int) -> set[int]:
        """The family's results that cannot be released yet: an alert of theirs awaits its
        safety review (:func:`awaits_review`, the condition :meth:`release_assessment` checks).

        Parameters
        ----------
        actor
            Who asks (NotFound outside their scope; a pseudonymised view has no alerts, so
            nothing is listed).
        family_id
            The family.

        Returns
        -------
        set of int
            Assessment ids.
        """
        with self.core.db.read() as s:
            fam = get_scoped(s, actor, Family, family_id, what="family")
            if policy.pseudonymised(actor):
                return set()
            return set(s.execute(select(Alert.assessment_id).where(
                Alert.family_id == fam.id, awaits_review())).scalars())

    def released_results(self, actor: Actor, family_id: int) -> dict[int, str]:
        """``{assessment id: released at}`` for one family (what its caregivers can read)."""
        with self.core.db.read() as s:
            fam = get_scoped(s, actor, Family, family_id, what="family")
            rows = s.execute(select(ResultRelease.assessment_id, ResultRelease.released_at)
                             .where(ResultRelease.family_id == fam.id)).all()
            return {aid: shared.iso(at) or "" for aid, at in rows}

    def _space_link(self, s: Session, token: str) -> CaregiverLink:
        link = s.execute(
            select(CaregiverLink).where(CaregiverLink.token_hash == token_hash(token))
        ).scalar_one_or_none()
        if link is None or link.kind != "space" or link.expires_at <= self.core.now():
            raise NotFound("this link has expired or does not exist")
        return link

    def _space_due(self, s: Session, link: CaregiverLink, cg: Caregiver) -> list[dict]:
        """The questionnaires the study schedule asks of this caregiver now (due or overdue)."""
        fam = s.get(Family, link.family_id)
        if fam is None or fam.study_id is None or cg.left_on is not None:
            return []
        infants = shared.infants_of(self.core, s, fam.id)
        tps = list(s.execute(select(TimePoint).where(TimePoint.study_id == fam.study_id)
                             .order_by(TimePoint.position)).scalars())
        done = set(s.execute(
            select(Assessment.caregiver_id, Assessment.instrument, Assessment.time_point)
            .where(Assessment.caregiver_id == cg.id).distinct()).all())
        due, overdue = shared.schedule(fam, infants[0] if infants else None, [cg], tps, done,
                                      datetime.now(UTC).date())
        return [{"instrument": d["instrument"], "time_point": d["time_point"]}
                for d in overdue + due]

    def start_due_questionnaire(self, token: str, instrument: str, time_point: str, *,
                                hours: int = 72) -> str:
        """From the caregiver's space: a one-time questionnaire link for one questionnaire the
        schedule asks of them now (anything else is refused). Returns the secret token."""
        with self.core.db.write() as s:
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
                              expires_at=self.core.now() + timedelta(hours=hours))
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
        with self.core.db.write() as s:
            link = self._space_link(s, token)
            fam = s.get(Family, link.family_id)
            cg = s.get(Caregiver, link.caregiver_id)
            assert fam is not None and cg is not None
            if episode_id is not None:
                ep = s.get(Episode, episode_id)
                if ep is None or ep.family_id != fam.id:
                    raise StoreValidationError("episode", "is not one of your family's sessions")
            row = CaregiverContribution(family_id=fam.id, caregiver_id=cg.id, kind=kind,
                                        episode_id=episode_id, data=clean, created_at=self.core.now())
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
        with self.core.db.read() as s:
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
        self, token: str, responses: list[int | None], *, input: str = "scores", score: Scorer
    ) -> dict:
        """Submit a caregiver link's answers, scored with ``score`` (see
        :data:`~attunement.store.assessments.Scorer`): stores the assessment and marks the link
        used in the same transaction (a second submit gets NotFound)."""
        responses = v.responses(responses)
        if input not in v.INPUT_KINDS:
            raise StoreValidationError("input", f"must be one of {', '.join(v.INPUT_KINDS)}")
        with self.core.db.write() as s:
            link = self._live_link(s, token)
            fam = s.get(Family, link.family_id)
            assert fam is not None
            who = Actor(
                None, f"caregiver-link:{link.id}", "caregiver_link", frozenset(), frozenset()
            )
            a, cg = self.assessments.insert_assessment(
                s,
                who,
                fam,
                link.caregiver_id,
                link.instrument,
                link.time_point,
                responses,
                input_kind=input,
                score=score,
                via="link",
            )
            link.used_at = self.core.now()
            link.assessment_id = a.id
            return shared.assessment_dict(a, cg)

    def list_alerts(self, actor: Actor, *, include_acknowledged: bool = False) -> list[dict]:
        """Open urgent flags in the actor's scope, newest first (researchers: none)."""
        if not policy.allows(actor, Action.READ_CLINICAL):
            return []
        with self.core.db.read() as s:
            stmt = (
                scoped(select(Alert, Family, Caregiver, Assessment), actor, Alert)
                .join(Caregiver, Caregiver.id == Alert.caregiver_id)
                .join(Assessment, Assessment.id == Alert.assessment_id)
                .order_by(Alert.id.desc())
            )
            if not include_acknowledged:
                stmt = stmt.where(Alert.status == "open")
            return [shared.alert_dict(a, f, c, x) for a, f, c, x in s.execute(stmt).all()]

    def alerts_page(self, actor: Actor, *, cursor: str | None = None, limit: int | None = None,
                    include_acknowledged: bool = False) -> dict:
        """One keyset page of :meth:`list_alerts` (newest first): ``items``, ``next`` and
        ``previous`` (opaque cursors or None)."""
        size = caseload.page_size(limit)
        after, key = True, None
        if cursor:
            after, key = caseload.decode_cursor(cursor, "alerts", (int,))
        if not policy.allows(actor, Action.READ_CLINICAL):
            return {"items": [], "next": None, "previous": None}
        with self.core.db.read() as s:
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
            items = [shared.alert_dict(a, f, c, x) for a, f, c, x in found]
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
        policy.require(actor, Action.ACKNOWLEDGE_ALERT)
        note = v.text(note, "note", max_len=2000) or ""
        outcome = v.text(outcome, "outcome", max_len=40) or ""
        if outcome not in SAFETY_REVIEW_OUTCOMES:
            raise StoreValidationError("outcome", f"{outcome!r} is not one of: "
                                       f"{', '.join(SAFETY_REVIEW_OUTCOMES)}")
        with self.core.db.write() as s:
            alert = get_scoped(s, actor, Alert, alert_id, what="alert")
            if alert.status != "open":
                raise StoreValidationError("alert", "was already acknowledged")
            alert.status, alert.note, alert.outcome = "acknowledged", note, outcome
            alert.acknowledged_by, alert.acknowledged_at = actor.user_id, self.core.now()
            fam = s.get(Family, alert.family_id)
            assert fam is not None
            audit.append(s, actor=actor, action="acknowledge", entity="alert", entity_id=alert.id,
                         family=fam, before={"status": "open"},
                         after={"status": "acknowledged", "note": note, "outcome": outcome})
            cg = s.get(Caregiver, alert.caregiver_id)
            assessment = s.get(Assessment, alert.assessment_id)
            return shared.alert_dict(alert, fam, cg, assessment)  # type: ignore[arg-type]

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
        with self.core.db.write() as s:
            fam = get_scoped(s, actor, Family, family_id, what="family")
            cg = shared.caregiver(s, fam, caregiver) if caregiver is not None else None
            c = Consent(family_id=fam.id, caregiver_id=cg.id if cg else None, kind=kind,
                        version=version, given_on=given, recorded_by=actor.user_id)
            return _insert_audited(s, actor, fam, c, "consent",
                                   lambda c: shared.consent_dict(c, cg.key if cg else None),
                                   record=True)

    def withdraw_consent(
        self, actor: Actor, consent_id: int, *, withdrawn_on: date | str, reason: str
    ) -> dict:
        """Record that consent was withdrawn (the record is kept)."""
        require_write(actor)
        when = v.a_date(withdrawn_on, "withdrawn_on", required=True)
        reason = v.text(reason, "reason", max_len=1000) or ""
        with self.core.db.write() as s:
            c = get_scoped(s, actor, Consent, consent_id, what="consent")
            if c.withdrawn_on is not None:
                raise StoreValidationError("consent", f"was already withdrawn on {c.withdrawn_on}")
            assert when is not None
            if when < c.given_on:
                raise StoreValidationError("withdrawn_on", "is before consent was given")
            c.withdrawn_on = when
            fam = s.get(Family, c.family_id)
            cg = s.get(Caregiver, c.caregiver_id) if c.caregiver_id else None
            audit.append(s, actor=actor, action="update", entity="consent", entity_id=c.id,
                         family_id=c.family_id, site_id=fam.site_id if fam else None,
                         before={"withdrawn_on": None}, after={"withdrawn_on": when.isoformat()},
                         reason=reason)
            return shared.consent_dict(c, cg.key if cg else None)

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
        with self.core.db.write() as s:
            fam = get_scoped(s, actor, Family, family_id, what="family")
            keys = [shared.caregiver(s, fam, c).key for c in caregivers]
            e = Episode(family_id=fam.id, programme=programme, start_date=start_d,
                        caregivers=keys, created_by=actor.user_id)
            return _insert_audited(s, actor, fam, e, "episode", shared.episode_dict)

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
        with self.core.db.write() as s:
            e = get_scoped(s, actor, Episode, episode_id, what="episode")
            before = shared.episode_dict(e)
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
            out = shared.episode_dict(e)
            fam = s.get(Family, e.family_id)
            audit.append(s, actor=actor, action="update", entity="episode", entity_id=e.id,
                         family_id=e.family_id, site_id=fam.site_id if fam else None,
                         before=before, after=out, reason=reason)
            return out


def _insert_audited(s: Session, actor: Actor, fam: Family, row: Any, entity: str,
                    view: Callable[[Any], dict], *, record: bool = False) -> dict:
    """Insert ``row`` (a record of family ``fam``) and audit its creation with ``view(row)``,
    which it returns; ``record``: an immutable record whose digest the audit entry keeps."""
    s.add(row)
    s.flush()
    out = view(row)
    audit.append(s, actor=actor, action="create", entity=entity, entity_id=row.id, family=fam,
                 after=out, record_hash=audit.record_digest(entity, row) if record else None)
    return out
