"""Assessments: submissions (group commit), corrections and listings."""

from __future__ import annotations

import dataclasses
import types
from collections import namedtuple
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from attunement import policy
from attunement.store import audit, research_view, shared
from attunement.store import validate as v
from attunement.store.core import Core
from attunement.store.db import (
    driver_execute,
)
from attunement.store.errors import (
    AuthError,
    StoreError,
    StoreValidationError,
)
from attunement.store.models import (
    Alert,
    Assessment,
    Caregiver,
    Family,
    Infant,
)
from attunement.store.scope import (
    Actor,
    get_scoped,
    get_scoped_family_caregiver,
    require_write,
)
from attunement.vocabulary import load_vocabulary

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


def _flag_dict(flag: Any) -> dict[str, Any]:
    if isinstance(flag, dict):
        data = dict(flag)
    elif dataclasses.is_dataclass(flag):
        # shallow (asdict deep-copies); _jsonable below converts anything nested
        data = {f.name: getattr(flag, f.name) for f in dataclasses.fields(flag)}
    else:
        data = {k: getattr(flag, k, None) for k in ("id", "kind", "label", "reason", "source")}
    return {k: shared.jsonable(val) for k, val in data.items()}


@dataclasses.dataclass(frozen=True, slots=True)
class Submission:
    """One questionnaire submission for :meth:`Store.assessments.add_assessments`.

    A second submission for the same caregiver x instrument x time point is a new ``instance``
    (a repeat), never an overwrite. ``submission_key`` makes a retried submission idempotent:
    the same key returns the first submission. ``input``, ``submission_key`` and
    ``completed_on`` are keyword-only."""

    actor: Actor
    family_id: int
    caregiver: str
    instrument: str
    time_point: str
    responses: list[int | None]
    _: dataclasses.KW_ONLY
    input: str = "scores"
    submission_key: str | None = None
    completed_on: date | str | None = None


Scorer = Callable[[str, list, str, "list[str] | None"], Any]
"""Scores one questionnaire for the store: ``score(instrument, responses, input_kind, variants)``
returns an object with ``version``, ``item_scores``, ``scores`` and ``flags`` (what
:func:`attunement.usecases.assessments.score` returns) or raises
:class:`~attunement.store.errors.StoreValidationError`. The use-case layer passes it in, so the
store computes no scores itself."""


@dataclasses.dataclass(slots=True)
class _Prepared:
    """An assessment checked and scored, not yet written (see ``_write_assessments``)."""

    actor: Actor
    fam: Any  # .id, .site_id, .study_id
    cg: Any  # .id, .key, .role, .left_on, .variants
    values: dict
    corrects: Any = None


class Assessments:
    """Questionnaire answers: add them (one or many in one commit), correct them, list them.

    An assessment is never changed: a repeat is a new ``instance``, a correction a new
    ``version`` with a reason. Scoring is passed in (``score``, see :data:`Scorer`), so the
    store computes no scores itself. ``actor`` is who acts, checked against the policy.

    Examples
    --------
    >>> from attunement.usecases.assessments import score
    >>> answers = [0, 1, 1, 0, 0, 1, 0, 0, 1, 0]
    >>> sub = Submission(practitioner, family, "father", "epds", "6w", answers)
    >>> [first] = store.assessments.add_assessments([sub], score=score)
    >>> first["instrument"], first["version"], first["scores"]["epds_total"]
    ('epds', 1, 4)
    >>> fixed = store.assessments.correct_assessment(
    ...     practitioner, first["id"], [0, 1, 1, 0, 0, 1, 0, 0, 2, 0],
    ...     reason="item 9 entered wrongly", rescore=lambda version: score)
    >>> fixed["version"], fixed["corrected_from"] == first["id"]
    (2, True)
    >>> [(a["caregiver"], a["time_point"], a["version"]) for a in
    ...  store.assessments.list_assessments(practitioner, family, include_superseded=False)]
    [('mother', 'baseline', 1), ('father', '6w', 2)]
    """

    def __init__(self, core: Core) -> None:
        self.core = core

    def add_assessments(
        self, submissions: Iterable[Submission], *, score: Scorer
    ) -> list[dict | Exception]:
        """Store many submissions in one commit, each one all-or-nothing.

        Every check runs before anything is written, so a rejected submission leaves nothing
        behind and the others go on. The accepted ones are written together (a few multi-row
        statements, one audit-head update, one commit); a database error there stores none of
        them and propagates. The web service batches concurrent submissions through here.

        Parameters
        ----------
        submissions : iterable of Submission
            The questionnaires, each with the actor who submits it.
        score : Scorer
            Scores each questionnaire (:func:`attunement.usecases.assessments.score`).

        Returns
        -------
        list of dict or Exception
            In order, the stored assessment (as :meth:`list_assessments` lists it) or the error
            that rejected it (out of scope, invalid, unknown caregiver, not in the schedule, key
            already used).
        """
        results: list[dict | Exception | None] = []
        checked: list[tuple[int, Submission]] = []
        for sub in submissions:
            try:
                checked.append((len(results), self._check_submission(sub)))
                results.append(None)
            except (StoreError, AuthError) as exc:
                results.append(exc)
        if not checked:
            return results  # type: ignore[return-value]
        with self.core.db.write(lock=False) as s:
            prepared: list[tuple[int, _Prepared]] = []
            for i, sub in checked:  # reads and scoring: unlocked on PostgreSQL
                try:
                    prepared.append((i, self._prepare_submission(s, score, sub)))
                except (StoreError, AuthError) as exc:
                    results[i] = exc
            if not prepared:
                return results  # type: ignore[return-value]
            self.core.db.lock(s)  # from here on writers take turns
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
                results[i] = shared.assessment_dict(a, item.cg)
            for i, j in repeats.items():
                results[i] = results[j]
        return results  # type: ignore[return-value]

    def _check_submission(self, sub: Submission) -> Submission:
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
        return dataclasses.replace(
            sub, caregiver=caregiver, instrument=instrument, time_point=time_point,
            responses=responses, submission_key=key, completed_on=completed)

    def _prepare_submission(self, s: Session, score: Scorer, sub: Submission) -> _Prepared:
        """The scoped reads and the scoring of one checked submission (see :meth:`_check_submission`)."""
        row = get_scoped_family_caregiver(s, sub.actor, sub.family_id, sub.caregiver)
        if row.cg_id is None:
            raise StoreValidationError(
                "caregiver", f"no caregiver {sub.caregiver!r} in this family")
        cg_row = _CgRow(row.cg_id, row.key, row.role, row.left_on, row.variants)
        return self._prepare_assessment(
            s, sub.actor, row, sub.caregiver, sub.instrument, sub.time_point, sub.responses,
            input_kind=sub.input, submission_key=sub.submission_key,
            completed_on=sub.completed_on, cg_row=cg_row, score=score)

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
        return shared.assessment_dict(existing, cg)  # type: ignore[arg-type]

    def insert_assessment(
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
        """Check, score and write one assessment inside the caller's write transaction.

        Parameters
        ----------
        s : Session
            The write transaction (holding the writers' lock).
        actor : Actor
            Who records it.
        fam : Family
            The family row.
        caregiver : str or int
            The caregiver's family-file id or database id.
        instrument : str
            The questionnaire (``"epds"``).
        time_point : str
            The schedule's time point.
        responses : list of int or None
            The item answers.
        **options
            ``input_kind`` and ``score`` (required); ``via``, ``corrects``, ``reason``,
            ``submission_key``, ``completed_on``.

        Returns
        -------
        tuple
            The new assessment row and its caregiver row.

        Raises
        ------
        StoreValidationError
            For answers, a time point or a caregiver the checks refuse.
        """
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
        score: Scorer,
        via: str = "staff",
        corrects: Assessment | None = None,
        reason: str | None = None,
        submission_key: str | None = None,
        completed_on: date | None = None,
        cg_row: Any = None,
    ) -> _Prepared:
        """Every check and the scoring of one assessment; nothing is written."""
        cg = cg_row if cg_row is not None else shared.caregiver_row(s, fam, caregiver)
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
            shared.check_time_point(self.core, s, fam, time_point)
        variants = (cg.variants or {}).get(instrument)
        scored = score(instrument, responses, input_kind, list(variants) if variants else None)
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
            item_scores=shared.jsonable(list(getattr(scored, "item_scores", None) or responses)),
            scores=shared.jsonable(dict(scored.scores)),
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
        now = self.core.now()
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

    def correct_assessment(
        self,
        actor: Actor,
        assessment_id: int,
        responses: list[int | None],
        *,
        reason: str,
        input: str | None = None,
        rescore: Callable[[dict[str, Any]], Scorer],
    ) -> dict:
        """Correct an assessment: a new version with a mandatory reason; the old one stays.

        Parameters
        ----------
        actor : Actor
            Who corrects (clinical roles; the family must be theirs to see).
        assessment_id : int
            The latest version of the assessment.
        responses : list of int or None
            The corrected answers.
        reason : str
            Why, for the record and the audit log.
        input : str, optional
            How the answers are given (default: as the first version).
        rescore : callable
            ``rescore(version)`` gives the :data:`Scorer` for the corrected version (its
            ``instrument``, ``time_point`` and ``scores``), so a correction is scored by the
            rules its first version was (the cut-offs of the caregiver's language).

        Returns
        -------
        dict
            The new version.

        Raises
        ------
        StoreValidationError
            For bad answers, or when a later version exists (correct that one).
        NotFound
            When the assessment is out of scope.
        """
        require_write(actor)
        responses = v.responses(responses)
        reason = v.text(reason, "reason", max_len=1000) or ""
        with self.core.db.write() as s:
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
            a, cg = self.insert_assessment(
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
                score=rescore({"instrument": old.instrument, "time_point": old.time_point,
                               "scores": dict(old.scores or {})}),
            )
            # alerts of the superseded version stay (history); new flags raised anew
            return shared.assessment_dict(a, cg)

    def list_assessments(
        self, actor: Actor, family_id: int, *, include_superseded: bool = True
    ) -> list[dict]:
        """List a family's assessments, oldest first.

        Parameters
        ----------
        actor : Actor
            Who reads; a researcher gets them pseudonymised.
        family_id : int
            Whose assessments.
        include_superseded : bool, default True
            Also list versions replaced by a correction.

        Returns
        -------
        list of dict
            Each with ``current`` (not superseded), caregiver, instrument, time point, instance,
            version, responses, scores and flags.

        Raises
        ------
        NotFound
            When the family is not one the actor may see.
        """
        with self.core.db.read() as s:
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
            current = {a.id for a in shared.current(rows)}
            out = []
            for a in rows:
                if not include_superseded and a.id not in current:
                    continue
                d = shared.assessment_dict(a, carers[a.caregiver_id])
                d["current"] = a.id in current
                out.append(d)
            if policy.pseudonymised(actor):
                infant = next(iter(shared.with_birth_dates(self.core, s, s.execute(
                    select(Infant).where(Infant.family_id == fam.id)).scalars())), None)
                view = research_view.for_family(self.core, s, fam, infant, list(carers.values()))
                out = [view.assessment(d) for d in out]
            return out
