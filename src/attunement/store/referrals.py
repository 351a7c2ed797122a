"""Referrals and what became of them: offered → accepted | declined → first session →
completed | ended, per caregiver (or the whole family), with dates, audited, site-scoped.

The use cases (:mod:`attunement.usecases.referrals`) pass the domain's content in (the
class's examples below record a referral and its stages); a target outside the catalogue is
refused before anything is written:

>>> from attunement.usecases import referrals
>>> referrals.add_referral(store, practitioner, family, kind="programme", target="yoga",
...                        offered_on="2026-10-01", caregiver="mother")
Traceback (most recent call last):
...
attunement.store.errors.StoreValidationError: target: 'yoga' is not a programme of the ...

* ``kind="programme"``: ``target`` must be a programme id of the intervention catalogue;
  ``kind="route"``: a treatment route for the caregiver's own health (talking therapies, GP,
  perinatal mental-health team, crisis team, substance-use or domestic-abuse service …); any
  route id is accepted (lower-case letters, digits and ``_``) so services can add their own.
* Stage order is enforced (:data:`NEXT`); each stage's date is on or after the previous one and
  never in the future; ``declined`` and ``ended`` need a reason. A first session links the
  referral to the intervention episode it started (named, or the family's episode of the same
  programme that started on that date).
* Scoping: through :func:`attunement.store.scope.get_scoped`/``scoped`` like every record of a
  family. Researchers (read-only) get a pseudonymised view: no free-text reasons, no dates
  (days from the offer instead), keyed-hash caregiver ids.
* :meth:`Referrals.cascade_tables` feeds :func:`attunement.cascade.compute_cascade` with the
  plain tables of the actor's families (one site and/or study).
* What referrals are checked and read against (the catalogue's programmes, the treatment
  routes' labels, each measure's reliable-change rule) is content of the domain libraries:
  every method takes it as ``content`` (a :class:`ReferralContent`), which the use cases in
  :mod:`attunement.usecases.referrals` build, so the store imports no domain library.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from attunement import policy
from attunement.store import audit, shared
from attunement.store import validate as v
from attunement.store.core import Core
from attunement.store.errors import NotFound, StoreValidationError
from attunement.store.models import (
    Assessment,
    Caregiver,
    Episode,
    Family,
    Referral,
    Site,
    Study,
)
from attunement.store.scope import Actor, get_scoped, require_write, scoped

if TYPE_CHECKING:
    import pandas as pd


__all__ = ["KINDS", "NEXT", "STAGES", "Referral", "ReferralContent", "Referrals"]

KINDS = ("programme", "route")
STAGES = ("offered", "accepted", "declined", "started", "completed", "ended")
# stage -> the stages that may follow it
NEXT = {
    "offered": ("accepted", "declined"),
    "accepted": ("started", "ended"),
    "declined": (),
    "started": ("completed", "ended"),
    "completed": (),
    "ended": (),
}
_DATE_OF = {
    "offered": "offered_on", "accepted": "accepted_on", "declined": "declined_on",
    "started": "first_session_on", "completed": "completed_on", "ended": "ended_on",
}
_ROUTE_ID = re.compile(r"^[a-z][a-z0-9_]{0,99}$")


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


@dataclass(frozen=True)
class ReferralContent:
    """The content referrals are checked and read against.

    Built by :func:`attunement.usecases.referrals.referral_content`, so the store imports
    no domain library.

    Attributes
    ----------
    programmes : Mapping[str, str]
        Programme id -> name: the intervention catalogue, the valid programme targets.
    routes : Mapping[str, str]
        Route id -> label of the treatment routes the risk profile recommends; any other
        well-formed route id a service uses is accepted and shown as it is.
    rules : Mapping[str, Any]
        Instrument id -> its reliable-change rule (``score``, ``threshold``, ``source`` and
        ``improved(before, after)``), for the outcomes after a referral and the cascade.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> content = ReferralContent(programmes={"vipp_sd": "VIPP-SD"},
    ...                           routes={"gp": "GP"}, rules={})
    >>> content.target_label(SimpleNamespace(kind="route", target="gp"))
    'GP'
    >>> content.target_label(SimpleNamespace(kind="route", target="housing_support"))
    'housing_support'
    """

    programmes: Mapping[str, str]
    routes: Mapping[str, str]
    rules: Mapping[str, Any]

    def target_label(self, r: Referral) -> str:
        """Give the words shown for a referral's target.

        Parameters
        ----------
        r : Referral
            A referral row (its ``kind`` and ``target``).

        Returns
        -------
        str
            A route's label (its id when the service added its own route); a programme's id.
        """
        return self.routes.get(r.target, r.target) if r.kind == "route" else r.target


class Referrals:
    """Referrals of the store's families and what became of them (see the module's notes).

    ``actor`` is who acts, checked against the policy and restricted to the families in
    their scope; ``content`` is what referrals are checked and read against
    (:class:`ReferralContent`).

    Examples
    --------
    >>> from attunement.usecases.referrals import referral_content
    >>> content = referral_content()
    >>> r = store.referrals.add_referral(practitioner, family, kind="route",
    ...     target="talking_therapies", offered_on="2026-10-01", caregiver="mother",
    ...     content=content)
    >>> r["status"], r["target_label"]
    ('offered', 'NHS Talking Therapies (psychological therapy)')
    >>> store.referrals.record_stage(practitioner, r["id"], "accepted", on="2026-10-03",
    ...                              content=content)["next_stages"]
    ['started', 'ended']
    >>> seen = store.referrals.get_referral(researcher, r["id"], content=content)
    >>> seen["offered_day"], seen["accepted_day"]
    (0, 2)
    >>> caregivers, assessments, referrals = store.referrals.cascade_tables(
    ...     lead, site=site, content=content)
    >>> len(caregivers), len(referrals)
    (2, 1)
    """

    def __init__(self, core: Core | Any) -> None:
        self.core: Core = getattr(core, "core", core)  # a Store passes its Core
        self._db = self.core.db

    # ------------------------------------------------------------------ views
    def _dict(self, r: Referral, cg_key: str | None, content: ReferralContent) -> dict:
        return {
            "id": r.id,
            "family": r.family_id,
            "caregiver": cg_key,
            "kind": r.kind,
            "target": r.target,
            "target_label": content.target_label(r),
            "status": r.status,
            "offered_on": _iso(r.offered_on),
            "accepted_on": _iso(r.accepted_on),
            "declined_on": _iso(r.declined_on),
            "decline_reason": r.decline_reason,
            "first_session_on": _iso(r.first_session_on),
            "completed_on": _iso(r.completed_on),
            "ended_on": _iso(r.ended_on),
            "end_reason": r.end_reason,
            "episode": r.episode_id,
            "next_stages": list(NEXT[r.status]),
            "created_at": r.created_at.isoformat(),
        }

    def _pseudo_dict(self, r: Referral, cg: Caregiver | None, fam: Family,
                     content: ReferralContent) -> dict:
        """The researcher's view: keyed-hash ids, days from the offer, no free text."""
        keys = self.core.keyring()
        study = fam.study_id or "none"

        def day(d: date | None) -> int | None:
            return None if d is None else (d - r.offered_on).days

        return {
            "id": r.id,
            "family": keys.pseudonym(study, "family", fam.id),
            "caregiver": keys.pseudonym(study, "caregiver", cg.id) if cg else None,
            "kind": r.kind,
            "target": r.target,
            "target_label": content.target_label(r),
            "status": r.status,
            "offered_day": 0,
            "accepted_day": day(r.accepted_on),
            "declined_day": day(r.declined_on),
            "first_session_day": day(r.first_session_on),
            "completed_day": day(r.completed_on),
            "ended_day": day(r.ended_on),
            "next_stages": [],
        }

    def _view(self, s: Session, actor: Actor, r: Referral, fam: Family,
              content: ReferralContent) -> dict:
        cg = s.get(Caregiver, r.caregiver_id) if r.caregiver_id else None
        if not actor.sees_identifiers:
            return self._pseudo_dict(r, cg, fam, content)
        out = self._dict(r, cg.key if cg else None, content)
        out["outcomes"] = self._outcomes(s, r, content.rules)
        return out

    def _outcomes(self, s: Session, r: Referral, rules: Mapping[str, Any]) -> list[dict]:
        """The referred caregiver's measures after the referral date, against the latest one
        on or before it, with the reliable-change rule of each measure."""
        if r.caregiver_id is None:
            return []
        rows = self._current_scores(s, [r.caregiver_id], rules)
        out = []
        for instrument, rule in rules.items():
            series = sorted((d, sc) for cg, ins, d, sc, _ in rows
                            if ins == instrument and sc is not None)
            after = [(d, sc) for d, sc in series if d > r.offered_on]
            if not after:
                continue
            before = [(d, sc) for d, sc in series if d <= r.offered_on]
            b = before[-1] if before else None
            a = after[-1]
            out.append({
                "instrument": instrument,
                "before": b[1] if b else None, "before_on": _iso(b[0]) if b else None,
                "after": a[1], "after_on": _iso(a[0]), "n_after": len(after),
                "change": None if b is None else a[1] - b[1],
                "reliable_change": rule.threshold,
                "improved": None if b is None else rule.improved(b[1], a[1]),
                "source": rule.source,
            })
        return out

    @staticmethod
    def _current_scores(s: Session, caregiver_ids: Any, rules: Mapping[str, Any]) -> list[tuple]:
        """(caregiver_id, instrument, completed_on, main score or None, positive) of the
        current version of each assessment (corrections replace what they correct), for the
        caregivers a subquery selects (never a list of ids: the query text stays the same size
        whatever the number of families)."""
        rows = s.execute(
            select(Assessment.id, Assessment.caregiver_id, Assessment.instrument,
                   Assessment.completed_on, Assessment.scores, Assessment.flags,
                   Assessment.corrected_from)
            .where(Assessment.caregiver_id.in_(caregiver_ids))
        ).all()
        superseded = {row.corrected_from for row in rows if row.corrected_from}
        out = []
        for row in rows:
            if row.id in superseded:
                continue
            rule = rules.get(row.instrument)
            score = None
            if rule is not None:
                raw = (row.scores or {}).get(rule.score)
                score = float(raw) if isinstance(raw, int | float) and not isinstance(
                    raw, bool) else None
            positive = any(isinstance(f, dict) and f.get("kind") in ("cutoff", "safety")
                           for f in row.flags or [])
            out.append((row.caregiver_id, row.instrument, row.completed_on, score, positive))
        return out

    # ------------------------------------------------------------------ writes
    def add_referral(
        self,
        actor: Actor,
        family_id: int,
        *,
        kind: str,
        target: str,
        offered_on: date | str,
        caregiver: str | None = None,
        content: ReferralContent,
    ) -> dict:
        """Record that a programme or a treatment route was offered.

        Parameters
        ----------
        actor : Actor
            Records the offer (a clinical role in scope).
        family_id : int
            The family offered it.
        kind : str
            ``programme`` (a programme of the intervention catalogue) or ``route`` (a
            treatment route for the caregiver's own health).
        target : str
            The programme id, or a route id (lower-case letters, digits and ``_``).
        offered_on : date or str
            When (not in the future).
        caregiver : str, optional
            The caregiver it is for (default: the whole family).
        content : ReferralContent
            The catalogue and routes.

        Returns
        -------
        dict
            The referral, at stage ``offered``, with its ``next_stages`` and ``outcomes``.

        Raises
        ------
        StoreValidationError
            For an unknown programme, a malformed route id or a bad date.
        """
        require_write(actor)
        if kind not in KINDS:
            raise StoreValidationError("kind", f"{kind!r} is not one of {', '.join(KINDS)}")
        target = v.text(target, "target", max_len=100) or ""
        if kind == "programme":
            known = list(content.programmes)
            if target not in known:
                raise StoreValidationError(
                    "target", f"{target!r} is not a programme of the intervention catalogue "
                    f"(known: {', '.join(known)})")
        elif not _ROUTE_ID.match(target):
            raise StoreValidationError(
                "target", f"{target!r} is not a route id (lower-case letters, digits and _, "
                f"e.g. {', '.join(content.routes)})")
        offered = self._date(offered_on, "offered_on")
        with self._db.write() as s:
            fam = get_scoped(s, actor, Family, family_id, what="family")
            cg = shared.caregiver(s, fam, caregiver) if caregiver not in (None, "") else None
            r = Referral(
                family_id=fam.id, caregiver_id=cg.id if cg else None, kind=kind, target=target,
                status="offered", offered_on=offered,
                history=[{"stage": "offered", "on": offered.isoformat(),
                          "by": actor.user_id}],
                created_by=actor.user_id,
            )
            s.add(r)
            s.flush()
            out = self._dict(r, cg.key if cg else None, content)
            audit.append(s, actor=actor, action="create", entity="referral", entity_id=r.id,
                         family=fam, after=out)
            out["outcomes"] = self._outcomes(s, r, content.rules)
            return out

    def record_stage(
        self,
        actor: Actor,
        referral_id: int,
        stage: str,
        *,
        on: date | str,
        reason: str | None = None,
        episode_id: int | None = None,
        content: ReferralContent,
    ) -> dict:
        """Move a referral to its next stage on a date.

        The order is enforced (:data:`NEXT`); each date is on or after the previous one and not
        in the future.

        Parameters
        ----------
        actor : Actor
            Moves it on; clinical, with the referral's family in scope.
        referral_id : int
            The referral.
        stage : str
            ``accepted``, ``declined``, ``started``, ``completed`` or ``ended``.
        on : date or str
            When.
        reason : str, optional
            Required for ``declined`` and ``ended``.
        episode_id : int, optional
            For ``started``: the episode it started (else the family's episode of the same
            programme starting that day).
        content : ReferralContent
            The catalogue and routes.

        Returns
        -------
        dict
            The referral as it now stands.

        Raises
        ------
        StoreValidationError
            For a stage out of order, a date out of order or a missing reason.
        """
        require_write(actor)
        if stage not in STAGES or stage == "offered":
            raise StoreValidationError(
                "stage", f"{stage!r} is not one of {', '.join(STAGES[1:])}")
        when = self._date(on, "on")
        if stage in ("declined", "ended"):
            reason = v.text(reason, "reason", max_len=1000)
        elif reason is not None:
            reason = v.text(reason, "reason", max_len=1000, required=False)
        with self._db.write() as s:
            r = get_scoped(s, actor, Referral, referral_id, what="referral")
            if stage not in NEXT[r.status]:
                allowed = NEXT[r.status]
                raise StoreValidationError(
                    "stage", f"a referral that is {r.status!r} cannot become {stage!r} "
                    + (f"(next: {', '.join(allowed)})" if allowed else "(it is closed)"))
            previous = max(d for d in (r.offered_on, r.accepted_on, r.first_session_on)
                           if d is not None)
            if when < previous:
                raise StoreValidationError(
                    "on", f"{when} is before the referral's previous stage ({previous})")
            fam = s.get(Family, r.family_id)
            assert fam is not None
            before = self._dict(r, None, content)
            setattr(r, _DATE_OF[stage], when)
            if stage == "declined":
                r.decline_reason = reason
            elif stage == "ended":
                r.end_reason = reason
            elif stage == "started":
                r.episode_id = self._episode_for(s, r, fam, when, episode_id)
            r.status = stage
            r.history = [*r.history, {"stage": stage, "on": when.isoformat(),
                                      "by": actor.user_id}]
            s.flush()
            cg = s.get(Caregiver, r.caregiver_id) if r.caregiver_id else None
            out = self._dict(r, cg.key if cg else None, content)
            audit.append(s, actor=actor, action="update", entity="referral", entity_id=r.id,
                         family=fam, before=before, after=out, reason=reason)
            out["outcomes"] = self._outcomes(s, r, content.rules)
            return out

    def _episode_for(self, s: Session, r: Referral, fam: Family, when: date,
                     episode_id: int | None) -> int | None:
        if episode_id is not None:
            try:
                eid = int(episode_id)
            except (TypeError, ValueError):
                raise StoreValidationError("episode", f"{episode_id!r} is not an id") from None
            e = s.get(Episode, eid)
            if e is None or e.family_id != fam.id:
                raise StoreValidationError("episode", f"episode {eid} is not this family's")
            return e.id
        if r.kind != "programme":
            return None
        found = s.execute(
            select(Episode.id).where(Episode.family_id == fam.id,
                                     Episode.programme == r.target,
                                     Episode.start_date == when).order_by(Episode.id.desc())
        ).scalars().first()
        return found

    @staticmethod
    def _date(value: Any, field: str) -> date:
        d = v.a_date(value, field, required=True)
        assert d is not None
        if d > datetime.now(UTC).date():
            raise StoreValidationError(field, f"{d} is in the future")
        return d

    # ------------------------------------------------------------------ reads
    def get_referral(self, actor: Actor, referral_id: int, *,
                     content: ReferralContent) -> dict:
        """Give one referral (pseudonymised for researchers: no reasons, days instead of dates).

        Parameters
        ----------
        actor : Actor
            Who reads.
        referral_id : int
            The referral.
        content : ReferralContent
            The catalogue and routes.

        Returns
        -------
        dict
            The referral.

        Raises
        ------
        NotFound
            When its family is out of scope.
        """
        with self._db.read() as s:
            r = get_scoped(s, actor, Referral, referral_id, what="referral")
            fam = s.get(Family, r.family_id)
            assert fam is not None
            return self._view(s, actor, r, fam, content)

    def list_referrals(self, actor: Actor, family_id: int, *,
                       content: ReferralContent) -> list[dict]:
        """List a family's referrals, oldest offer first.

        Parameters
        ----------
        actor : Actor
            Who reads (researchers get them pseudonymised).
        family_id : int
            Whose referrals.
        content : ReferralContent
            The catalogue and routes.

        Returns
        -------
        list of dict
            The referrals.
        """
        with self._db.read() as s:
            fam = get_scoped(s, actor, Family, family_id, what="family")
            rows = s.execute(
                select(Referral).where(Referral.family_id == fam.id)
                .order_by(Referral.offered_on, Referral.id)
            ).scalars().all()
            return [self._view(s, actor, r, fam, content) for r in rows]

    def cascade_tables(
        self, actor: Actor, *, site: int | None = None, study: int | None = None,
        content: ReferralContent,
    ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """Give the plain tables :func:`attunement.cascade.compute_cascade` takes.

        Parameters
        ----------
        actor : Actor
            Whose families.
        site : int, optional
            Only this site's families.
        study : int, optional
            Only this study's families.
        content : ReferralContent
            The reliable-change rules for the assessments' scores.

        Returns
        -------
        tuple of pandas.DataFrame
            ``(caregivers, assessments, referrals)``, one row per caregiver, current
            assessment, and referral per caregiver it concerns.

        Raises
        ------
        NotFound
            For a site or study outside the actor's scope.
        """
        import pandas as pd

        rules = content.rules
        with self._db.read() as s:
            stmt = scoped(select(Family, Site.name).join(Site, Site.id == Family.site_id), actor)
            if site is not None:
                self._check_site(s, actor, site)
                stmt = stmt.where(Family.site_id == int(site))
            if study is not None:
                self._check_study(s, actor, study)
                stmt = stmt.where(Family.study_id == int(study))
            fams = s.execute(stmt).all()
            fam_q = stmt.with_only_columns(Family.id)
            site_of = {f.id: name for f, name in fams}
            deprivation = {f.id: _deprivation(f.context) for f, _ in fams}
            carers = s.execute(
                select(Caregiver, Caregiver.page_language)
                .where(Caregiver.family_id.in_(fam_q)).order_by(Caregiver.id)
            ).all()
            cg_rows = [{
                "caregiver": c.id, "family": c.family_id, "site": site_of[c.family_id],
                "role": c.role, "age": c.age,
                # the caregiver's preferred language, else the family file's recorded answer
                "language": language or ((c.context or {}).get("language")
                                         if isinstance((c.context or {}).get("language"), str)
                                         else None),
                "deprivation": deprivation[c.family_id],
            } for c, language in carers]
            cg_q = select(Caregiver.id).where(Caregiver.family_id.in_(fam_q))
            a_rows = [{
                "caregiver": cg, "instrument": ins, "completed_on": d, "score": sc,
                "positive": pos,
            } for cg, ins, d, sc, pos in self._current_scores(s, cg_q, rules)]
            refs = s.execute(
                select(Referral).where(Referral.family_id.in_(fam_q))
            ).scalars().all()
            by_family: dict[int, list[int]] = {}
            for c, _ in carers:
                by_family.setdefault(c.family_id, []).append(c.id)
            r_rows = []
            for r in refs:
                targets = [r.caregiver_id] if r.caregiver_id else by_family.get(r.family_id, [])
                for cg in targets:
                    r_rows.append({
                        "referral": r.id, "caregiver": cg, "offered_on": r.offered_on,
                        "accepted_on": r.accepted_on, "declined_on": r.declined_on,
                        "first_session_on": r.first_session_on,
                        "completed_on": r.completed_on, "ended_on": r.ended_on,
                    })
        caregivers = pd.DataFrame(cg_rows, columns=["caregiver", "family", "site", "role", "age",
                                                    "language", "deprivation"])
        assessments = pd.DataFrame(a_rows, columns=["caregiver", "instrument", "completed_on",
                                                    "score", "positive"])
        referrals = pd.DataFrame(r_rows, columns=[
            "referral", "caregiver", "offered_on", "accepted_on", "declined_on",
            "first_session_on", "completed_on", "ended_on"])
        return caregivers, assessments, referrals

    @staticmethod
    def _check_site(s: Session, actor: Actor, site: Any) -> None:
        """A site the actor's scope rule covers (the policy decides), else NotFound; for
        study-scoped actors the family filter alone restricts what they see."""
        _check_in_scope(s, actor, Site, site, "site")

    @staticmethod
    def _check_study(s: Session, actor: Actor, study: Any) -> None:
        """An existing study; a study-scoped actor (researcher) only their own."""
        _check_in_scope(s, actor, Study, study, "study")


def _check_in_scope(s: Session, actor: Actor, model: Any, value: Any, what: str) -> None:
    """An existing ``what`` (site or study) that the actor's scope rule does not exclude (a
    rule on ``<what>_id`` must list it), else NotFound."""
    try:
        sid = int(value)
    except (TypeError, ValueError):
        raise NotFound(f"{what} {value!r} not found") from None
    rule = policy.family_scope(actor)
    if s.get(model, sid) is None or rule is None or (rule[0] == f"{what}_id"
                                                     and sid not in rule[1]):
        raise NotFound(f"{what} {sid} not found")


def _deprivation(context: dict | None) -> str | None:
    """The family file's ``socioeconomic_disadvantage`` answer, when recorded."""
    value = (context or {}).get("socioeconomic_disadvantage")
    if value is True:
        return "socio-economic disadvantage"
    if value is False:
        return "no disadvantage recorded"
    return None
