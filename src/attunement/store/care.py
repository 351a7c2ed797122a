"""Care: caregiver links and space, released results, contributions, alerts, consent, episodes."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from attunement import policy
from attunement.store import audit, shared
from attunement.store import validate as v
from attunement.store.assessments import Assessments, Scorer
from attunement.store.care_records import CareRecords
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
)
from attunement.store.shared import SAFETY_REVIEW_OUTCOMES  # noqa: F401  (importable from here too)

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


class Care(CareRecords):
    """What a family's caregivers do through links, and what the team releases to them.

    A practitioner sends a one-time questionnaire link, or a link to the caregiver's own
    space (released results, due questionnaires, what they want to tell the service). Links
    need no account: the store keeps only a hash of each secret. Methods that take
    ``actor`` (who acts, checked against the policy) are the team's; the others take the
    caregiver's link token. Alerts, consent and episodes come from
    :class:`attunement.store.care_records.CareRecords`.

    Parameters
    ----------
    core, assessments
        What :class:`Store` builds it on: its core, and the service that stores answers.

    Examples
    --------
    >>> from attunement.usecases.assessments import check_instrument, score
    >>> token = store.care.create_link(practitioner, family, "father", "epds", "6w",
    ...                                check_instrument=check_instrument)
    >>> store.care.open_link(token)["instrument"]
    'epds'
    >>> answered = store.care.submit_link(token, [0, 1, 1, 0, 0, 1, 0, 0, 1, 0], score=score)
    >>> answered["submitted_via"]
    'link'
    >>> released = store.care.release_assessment(practitioner, answered["id"])
    >>> space = store.care.create_space_link(practitioner, family, "father")
    >>> [r["instrument"] for r in store.care.open_space(space)["results"]]
    ['epds']
    """

    def __init__(self, core: Core, assessments: Assessments) -> None:
        super().__init__(core)
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
        """Issue a one-time questionnaire link for one caregiver, instrument and time point.

        Parameters
        ----------
        actor : Actor
            Sends the link (a clinical role; the family must be in their scope).
        family_id : int
            The family whose caregiver gets the link.
        caregiver : str
            The caregiver's family-file id (a current caregiver).
        instrument : str
            The questionnaire.
        time_point : str
            A time point of the family's study schedule.
        hours : int, default 72
            Hours until the link expires (at most 30 days).
        check_instrument : callable
            Raises StoreValidationError for an instrument that does not exist, so no link is
            issued for a questionnaire that cannot be answered.

        Returns
        -------
        str
            The link's secret; the store keeps only its hash.

        Raises
        ------
        StoreValidationError
            For an unknown instrument, caregiver or time point.
        NotFound
            When the family is out of scope.
        """
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
        """Say what a questionnaire link asks for, revealing no identifiers and no family id.

        Parameters
        ----------
        token : str
            The secret in the link the caregiver opened (looked up by its hash; opening
            does not use the link up, submitting does).

        Returns
        -------
        dict
            ``instrument``, ``time_point``, ``caregiver_role``, ``language``, ``site`` and
            ``expires_at``.

        Raises
        ------
        NotFound
            When the link was used, has expired or does not exist.
        """
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
        """Issue a link to a caregiver's own space, viewable until it expires.

        Parameters
        ----------
        actor : Actor
            Issues the space link (clinical staff of the family's site or study).
        family_id : int
            The family.
        caregiver : str
            The caregiver's family-file id.
        days : int, default 30
            Days until the link expires (1 to 90).

        Returns
        -------
        str
            The link's secret; the store keeps only its hash.
        """
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
        """Show a caregiver their own space.

        Nothing unreleased, no identifiers and no family id are shown.

        Parameters
        ----------
        token : str
            The space link's secret.

        Returns
        -------
        dict
            ``language``, ``caregiver_role``, released ``results``, their ``episodes``, their
            ``contributions``, the questionnaires ``due`` now, and ``expires_at``.

        Raises
        ------
        NotFound
            When the link is unknown or has expired.
        """
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
        """Release a result to the caregiver's own space.

        Refused while an urgent flag of the assessment has no recorded safety review: a
        caregiver never reads a result about their safety before a clinician has.

        Parameters
        ----------
        actor : Actor
            Releases it: clinical, in scope.
        assessment_id : int
            The assessment.

        Returns
        -------
        dict
            The assessment, with ``released_at``.

        Raises
        ------
        StoreValidationError
            When already released, or a safety review is pending.
        """
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
        """List which of a family's results its caregivers can read.

        Parameters
        ----------
        actor : Actor
            Who reads (any role with the family in scope).
        family_id : int
            Whose caregivers' results.

        Returns
        -------
        dict of int to str
            The release time (ISO) by assessment id.
        """
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
        """Give a caregiver, from their space, a one-time link to a questionnaire due now.

        Only a questionnaire the schedule asks of them now (due or overdue) is allowed.

        Parameters
        ----------
        token : str
            The space link's secret.
        instrument : str
            The questionnaire.
        time_point : str
            Its time point.
        hours : int, default 72
            Hours until the new link expires.

        Returns
        -------
        str
            The questionnaire link's secret.

        Raises
        ------
        StoreValidationError
            When the questionnaire is not due for this caregiver.
        NotFound
            When the space link is unknown or has expired.
        """
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
        """Keep what a caregiver tells the service from their own space.

        Parameters
        ----------
        token : str
            The space link's secret.
        kind : str
            ``wishes`` or ``session_feedback``.
        data : dict
            For wishes: ``goals``, ``preferred_contact``, ``other_carers`` (text, at least one).
            For feedback: ``episode`` (one of their family's), ``ratings`` (each of
            ``SESSION_FEEDBACK_ITEMS`` from 0 to 10) and an optional ``comment``.

        Returns
        -------
        dict
            ``id``, ``kind``, ``episode``, the cleaned ``data`` and ``created_at``.

        Raises
        ------
        StoreValidationError
            Naming the field; nothing is stored.
        """
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
        """List what a family's caregivers told the service from their space, newest first.

        Parameters
        ----------
        actor : Actor
            Who reads them, family in scope.
        family_id : int
            Whose caregivers wrote.

        Returns
        -------
        list of dict
            ``id``, ``caregiver``, ``kind``, ``episode``, ``programme``, ``data``, ``created_at``.
        """
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
        """Store the answers given through a questionnaire link, and use the link up.

        Both happen in one transaction: a second submit gets NotFound.

        Parameters
        ----------
        token : str
            The link's secret.
        responses : list of int or None
            The item answers.
        input : str, default "scores"
            How the answers are given.
        score : Scorer
            Scores the questionnaire (:data:`attunement.store.assessments.Scorer`).

        Returns
        -------
        dict
            The stored assessment (:func:`attunement.store.shared.assessment_dict`), marked as
            submitted through a link rather than by staff.

        Raises
        ------
        NotFound
            When the link was used, has expired or does not exist.
        StoreValidationError
            For answers the instrument refuses.
        """
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
