"""Helpers the store's services share: lookups, row dictionaries, schedules."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from attunement.store import files, names
from attunement.store.core import Core
from attunement.store.errors import (
    StoreValidationError,
)
from attunement.store.models import (
    Alert,
    Assessment,
    Caregiver,
    Consent,
    Episode,
    Family,
    Identity,
    Infant,
    ObservationSession,
    Site,
    Study,
    TimePoint,
)
from attunement.vocabulary import load_vocabulary, vocabulary_terms

# The family file's caregiver roles and placements, read from the vocabulary itself (as the
# risk library's family checks read them: attunement/vocabulary.yaml).
CAREGIVER_ROLES: tuple[str, ...] = tuple(vocabulary_terms()["caregiver_roles"])
PLACEMENTS: tuple[str, ...] = tuple(vocabulary_terms()["placements"])

# What a safety review concluded, recorded when an urgent alert is acknowledged. Any outcome
# records that the review was done, which releases the hold on intervention matching.
SAFETY_REVIEW_OUTCOMES: dict[str, str] = {
    "no_immediate_risk": "Reviewed: no immediate risk; plan agreed with the caregiver",
    "safety_plan": "Reviewed: safety plan agreed; follow-up booked",
    "urgent_referral": "Referred for urgent assessment (crisis or perinatal mental-health team)",
    "emergency_services": "Emergency services called",
    "safeguarding_referral": "Safeguarding referral made",
}
LANGUAGE_TAG = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")  # BCP 47, simplified

def iso(value: Any) -> Any:
    """A date or time as ISO 8601 text; any other value unchanged.

    Parameters
    ----------
    value
        A stored value (a date, a datetime, None, text …).

    Returns
    -------
    Any
        ``value.isoformat()`` for dates and times, else ``value``.

    Examples
    --------
    >>> iso(date(2026, 10, 1)), iso(None)
    ('2026-10-01', None)
    """
    return value.isoformat() if isinstance(value, date | datetime) else value

def urgent_alert(alert: Alert) -> bool:
    """Whether an alert is for an urgent flag (:mod:`attunement.vocabulary`), not a review item.

    Parameters
    ----------
    alert
        A stored alert (its ``flag_id`` and ``kind``).

    Returns
    -------
    bool
        True when the vocabulary calls the alert's flag kind urgent.

    Examples
    --------
    >>> urgent_alert(Alert(flag_id="epds_self_harm", kind="safety"))
    True
    """
    kind = load_vocabulary().kind_of({"id": alert.flag_id, "kind": alert.kind})
    return kind is not None and kind.urgent

def jsonable(value: Any) -> Any:
    """A value made of what JSON can hold: text keys, lists, ISO dates, plain numbers.

    Parameters
    ----------
    value
        Metadata or a result as given (NumPy scalars, dates, tuples, dataclasses …).

    Returns
    -------
    Any
        The same value in JSON's types; NaN becomes None, anything unknown its text.

    Examples
    --------
    >>> jsonable({"window": (0, 5), "on": date(2026, 1, 2), "x": float("nan")})
    {'window': [0, 5], 'on': '2026-01-02', 'x': None}
    """
    if isinstance(value, dict):
        return {str(k): jsonable(x) for k, x in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(x) for x in value]
    if isinstance(value, date | datetime):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalar
        return value.item()
    if isinstance(value, float) and value != value:
        return None
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if dataclasses.is_dataclass(value):
        return jsonable(dataclasses.asdict(value))  # type: ignore[arg-type]
    return str(value)

class AssessmentRef:
    """Attribute access to an assessment dict (for ``_alert_dict``)."""

    def __init__(self, data: dict | None) -> None:
        self.instrument = data["instrument"] if data else None
        self.time_point = data["time_point"] if data else None


def site_by_ref(s: Session, ref: Any, field: str) -> Site:
    """The site a request names, by id or by name (case and spacing ignored).

    Parameters
    ----------
    s
        The open session.
    ref
        A site id, or its name.
    field
        The request's field, named in the error.

    Returns
    -------
    Site
        The site.

    Raises
    ------
    StoreValidationError
        Naming ``field``, when the request names no site or one that does not exist (the
        error says which).

    Examples
    --------
    >>> with store.db.read() as session:
    ...     site_by_ref(session, " north ", "site").name
    'North'
    """
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

def study_by_ref(s: Session, ref: Any) -> Study:
    """The study a request names, by id or by its exact name.

    Parameters
    ----------
    s : Session
        Where to look.
    ref : int or str
        A study id, or its name as created (text of digits is tried as an id too).

    Returns
    -------
    Study
        The study row.

    Raises
    ------
    StoreValidationError
        ``study``: no such study.

    Examples
    --------
    >>> with store.db.read() as session:
    ...     study_by_ref(session, "Attach-1").id == study
    True
    """
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

def identities(core: Core, s: Session, family_id: int) -> dict[tuple[str, int], dict[str, str]]:
    """A family's identifiers, decrypted: names, dates of birth, NHS numbers, contacts.

    Only for clinical views of a family in scope (the caller audits the viewing).

    Parameters
    ----------
    core
        The store's core (its key ring).
    s
        The open session.
    family_id
        The family.

    Returns
    -------
    dict
        ``{(subject kind, subject id): {field: value}}`` for the infant and each caregiver.

    Examples
    --------
    >>> with store.db.read() as session:
    ...     sorted(identities(store.core, session, family))
    [('caregiver', 1), ('caregiver', 2), ('infant', 1)]
    """
    rows = list(s.execute(select(Identity).where(Identity.family_id == family_id)).scalars())
    if not rows:
        return {}
    keys = core.keyring()
    return {
        (r.subject_kind, r.subject_id): keys.decrypt(
            r.ciphertext, f"{r.subject_kind}:{r.subject_id}"
        )
        for r in rows
    }

def infants_of(core: Core, s: Session, family_id: int) -> list[Infant]:
    """The family's infants (oldest record first), with their dates of birth attached.

    Parameters
    ----------
    core
        The store's core (the key ring decrypts the dates of birth).
    s
        The open session.
    family_id
        The family.

    Returns
    -------
    list of Infant
        Each with ``birth_date`` set (None when not recorded).

    Examples
    --------
    >>> with store.db.read() as session:
    ...     infants_of(store.core, session, family)[0].birth_date
    datetime.date(2026, 9, 15)
    """
    return with_birth_dates(core, s, s.execute(
        select(Infant).where(Infant.family_id == family_id).order_by(Infant.id)).scalars())


def with_birth_dates(core: Core, s: Session, infants: Iterable[Infant]) -> list[Infant]:
    """Attach each infant's decrypted date of birth (``birth_date``) for the store's own use.

    Parameters
    ----------
    core : Core
        Its key ring opens the sealed dates.
    s : Session
        The session the infants were read in.
    infants
        Infant rows, of one family or many (one query for all).

    Returns
    -------
    list of Infant
        The same rows, ``birth_date`` set.

    Examples
    --------
    >>> with store.db.read() as session:
    ...     infants = session.query(Infant)
    ...     [i.birth_date for i in with_birth_dates(store.core, session, infants)]
    [datetime.date(2026, 9, 15)]
    """
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
            data = core.keyring().decrypt(row.ciphertext, f"infant:{inf.id}")
            born = (
                date.fromisoformat(data["date_of_birth"]) if data.get("date_of_birth") else None
            )
        inf.birth_date = born  # type: ignore[assignment]
    return infants

def caregiver(s: Session, fam: Family, ref: int | str) -> Caregiver:
    """The family's caregiver ``ref``, current or one who has left.

    Parameters
    ----------
    s
        The open session.
    fam
        The family (already scope-checked).
    ref
        The caregiver's record id, or their key in the family file (``"mother"``).

    Returns
    -------
    Caregiver
        The caregiver.

    Raises
    ------
    StoreValidationError
        ``caregiver``: no such caregiver in this family.

    Examples
    --------
    >>> with store.db.read() as session:
    ...     caregiver(session, session.get(Family, family), "mother").role
    'birth_mother'
    """
    return _one_caregiver(s.execute(_caregiver_where(select(Caregiver), fam, ref)).scalars(), ref)


def current_caregiver(s: Session, fam: Family, ref: int | str) -> Caregiver:
    """The family's caregiver ``ref``, refused when they have left the family.

    Parameters
    ----------
    s
        The open session.
    fam
        The family.
    ref
        Record id or family-file key, as for :func:`caregiver`.

    Returns
    -------
    Caregiver
        A caregiver who is still part of the family.

    Raises
    ------
    StoreValidationError
        ``caregiver``: unknown, or left the family.

    Examples
    --------
    >>> with store.db.read() as session:
    ...     current_caregiver(session, session.get(Family, family), "father").key
    'father'
    """
    cg = caregiver(s, fam, ref)
    if cg.left_on is not None:
        raise StoreValidationError("caregiver", f"{cg.key!r} left the family")
    return cg


def _caregiver_where(stmt: Any, fam: Any, ref: int | str) -> Any:
    stmt = stmt.where(Caregiver.family_id == fam.id)
    if isinstance(ref, int) and not isinstance(ref, bool):
        return stmt.where(Caregiver.id == ref)
    return stmt.where(Caregiver.key == str(ref))


def _one_caregiver(found: Any, ref: int | str) -> Any:
    cg = found.first()
    if cg is None:
        raise StoreValidationError("caregiver", f"no caregiver {ref!r} in this family")
    return cg

def caregiver_row(s: Session, fam: Any, ref: int | str) -> Any:
    """A caregiver's id, key, role, leaving date and form variants as one plain row.

    No ORM object is built (the submission path reads this for every assessment).

    Parameters
    ----------
    s
        The open session.
    fam
        The family (anything with an ``id``).
    ref
        Record id or family-file key.

    Returns
    -------
    Row
        ``(id, key, role, left_on, variants)``.

    Examples
    --------
    >>> with store.db.read() as session:
    ...     row = caregiver_row(session, session.get(Family, family), "mother")
    >>> row.key, row.role
    ('mother', 'birth_mother')
    """
    stmt = select(
        Caregiver.id, Caregiver.key, Caregiver.role, Caregiver.left_on, Caregiver.variants
    )
    return _one_caregiver(s.execute(_caregiver_where(stmt, fam, ref)), ref)

def caregiver_dict(cg: Caregiver, ids: dict[str, str] | None) -> dict:
    """A caregiver as the family document lists them.

    Parameters
    ----------
    cg
        The caregiver.
    ids
        Their decrypted identifiers, for a clinical view; None leaves them out.

    Returns
    -------
    dict
        Key, record id, role, age, recorded answers, variants, dates, language.

    Examples
    --------
    >>> cg = Caregiver(id=3, key="mother", role="birth_mother", age=29)
    >>> caregiver_dict(cg, None)["active"], caregiver_dict(cg, {"name": "Ann"})["identifiers"]
    (True, {'name': 'Ann'})
    """
    out = {
        "id": cg.key,
        "pk": cg.id,
        "role": cg.role,
        "age": cg.age,
        "first_time_parent": cg.first_time_parent,
        "context": dict(cg.context or {}),
        "variants": dict(cg.variants or {}),
        "joined_on": iso(cg.joined_on),
        "left_on": iso(cg.left_on),
        "left_reason": cg.left_reason,
        "active": cg.left_on is None,
        "page_language": cg.page_language,
        "interpreter_needed": bool(cg.interpreter_needed),
    }
    if ids is not None:
        out["identifiers"] = ids
    return out

def schedule(
    fam: Family,
    infant: Infant | None,
    carers: list[Caregiver],
    tps: list[TimePoint],
    done: set,
    today: date,
) -> tuple[list, list]:
    """The reference schedule rule: a family's due and overdue questionnaires on ``today``.

    A time point's window opens ``window_days`` before its target (anchor + ``offset_days``)
    and closes ``window_days`` after; an item (current caregiver x instrument x time point with
    no assessment in ``done``) is due while the window is open and overdue once it has closed.
    A window that closed before ``fam.registered_on`` is neither (docs/clinical-safety.md).

    Parameters
    ----------
    fam
        The family (its registration date).
    infant
        Its infant, ``birth_date`` decrypted; None: nothing is scheduled.
    carers
        The current caregivers.
    tps
        The study's time points.
    done
        ``(caregiver id, instrument, time point)`` already answered.
    today
        The day.

    Returns
    -------
    tuple[list, list]
        ``(due, overdue)``: dicts with caregiver, instrument, time point, target, closing day.

    Examples
    --------
    >>> tp = TimePoint(name="6w", offset_days=42, window_days=14, instruments=["epds"],
    ...                anchor="due_date")
    >>> baby = Infant(due_date=date(2026, 9, 1)); baby.birth_date = None
    >>> mother = Caregiver(id=1, key="mother", role="birth_mother")
    >>> due, overdue = schedule(Family(), baby, [mother], [tp], set(), date(2026, 10, 10))
    >>> [(d["caregiver"], d["time_point"], d["window_closes"]) for d in due], overdue
    ([('mother', '6w', '2026-10-27')], [])
    """
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
        # a window that closed before the family was registered was never the service's
        if fam.registered_on is not None and closes < fam.registered_on:
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

def pseudo_schedule(
    core: Core, fam: Family, items: list[dict], carers: list[Caregiver]
) -> list[dict]:
    """Due or overdue items as a researcher sees them: the caregiver as the study's pseudonym,
    no target dates.

    Parameters
    ----------
    core
        The store's core (the key ring's keyed pseudonyms).
    fam
        The family (its study keys the pseudonyms).
    items
        Items from :func:`schedule`.
    carers
        The family's caregivers (their keys name the items' caregivers).

    Returns
    -------
    list of dict
        ``caregiver_role``, ``instrument``, ``time_point`` and the pseudonymised ``caregiver``.

    Examples
    --------
    >>> mother = Caregiver(id=1, key="mother", role="birth_mother")
    >>> due = [{"caregiver": "mother", "caregiver_role": "birth_mother",
    ...         "instrument": "epds", "time_point": "6w"}]
    >>> [item] = pseudo_schedule(store.core, Family(study_id=study), due, [mother])
    >>> item["time_point"], item["caregiver"] == "mother"
    ('6w', False)
    """
    keys = core.keyring()
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

def current(rows: list[Assessment]) -> list[Assessment]:
    """The assessments no correction has replaced (each one's latest version).

    Parameters
    ----------
    rows
        Assessments of a family, every version.

    Returns
    -------
    list of Assessment
        Those that are not the ``corrected_from`` of another, in the given order.

    Examples
    --------
    >>> first, fixed = Assessment(id=1), Assessment(id=2, corrected_from=1)
    >>> [a.id for a in current([first, fixed])]
    [2]
    """
    superseded = {a.corrected_from for a in rows if a.corrected_from is not None}
    return [a for a in rows if a.id not in superseded]

def assessment_dict(a: Assessment, cg: Caregiver) -> dict:
    """An assessment as the store answers it: answers, item scores, scores and flags,
    version, who submitted it, how and when.

    Parameters
    ----------
    a
        The stored assessment.
    cg
        Its caregiver.

    Returns
    -------
    dict
        The assessment's fields (dates as ISO text).

    Examples
    --------
    >>> with store.db.read() as session:
    ...     a = session.query(Assessment).one()
    ...     answer = assessment_dict(a, session.get(Caregiver, a.caregiver_id))
    >>> answer["instrument"], answer["time_point"], answer["scores"]["epds_total"]
    ('epds', 'baseline', 12)
    """
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

def alert_dict(a: Alert, fam: Family, cg: Caregiver, assessment: Any = None) -> dict:
    """An alert as practitioners see it: the flag, why it was raised, its status and the
    safety review's note and outcome.

    Parameters
    ----------
    a
        The alert.
    fam
        Its family.
    cg
        The caregiver whose answers raised it.
    assessment
        The assessment (anything with ``instrument`` and ``time_point``), or None.

    Returns
    -------
    dict
        The alert's fields, with ``urgent`` and the outcome's label.

    Examples
    --------
    >>> alert = Alert(id=7, assessment_id=3, flag_id="epds_self_harm", kind="safety",
    ...               label="self-harm item endorsed", reason="EPDS item 10 answered 2",
    ...               status="open", created_at=datetime(2026, 10, 1, 9, 30))
    >>> mother = Caregiver(key="mother", role="birth_mother")
    >>> shown = alert_dict(alert, Family(id=1, code="N-001", site_id=1), mother)
    >>> shown["family_id"], shown["status"], shown["acknowledged_at"], shown["instrument"]
    ('N-001', 'open', None, None)
    """
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
        "urgent": urgent_alert(a),
        "acknowledged_at": iso(a.acknowledged_at),
        "instrument": assessment.instrument if assessment else None,
        "time_point": assessment.time_point if assessment else None,
    }

def consent_dict(c: Consent, key: str | None) -> dict:
    """A consent record: what was consented to, with which form, when, and whether it still
    holds.

    Parameters
    ----------
    c
        The consent.
    key
        The caregiver's family-file key, or None for the whole family.

    Returns
    -------
    dict
        Kind, form version, dates (ISO text) and ``active``.

    Examples
    --------
    >>> c = Consent(id=1, family_id=2, kind="research", version="v1",
    ...             given_on=date(2026, 10, 1))
    >>> consent_dict(c, None)["active"], consent_dict(c, None)["given_on"]
    (True, '2026-10-01')
    """
    return {
        "id": c.id,
        "family": c.family_id,
        "caregiver": key,
        "kind": c.kind,
        "version": c.version,
        "given_on": iso(c.given_on),
        "withdrawn_on": iso(c.withdrawn_on),
        "active": c.withdrawn_on is None,
    }

def episode_dict(e: Episode) -> dict:
    """An intervention episode: the programme, who took part, dates, sessions offered and
    attended, fidelity notes.

    Parameters
    ----------
    e
        The episode.

    Returns
    -------
    dict
        Its fields (dates as ISO text).

    Examples
    --------
    >>> e = Episode(id=2, family_id=1, programme="vipp_sd", start_date=date(2026, 11, 2),
    ...             caregivers=["mother"], sessions_offered=6, sessions_attended=4,
    ...             created_at=datetime(2026, 11, 2, 10, 0))
    >>> shown = episode_dict(e)
    >>> shown["programme"], shown["start"], shown["end"], shown["sessions_attended"]
    ('vipp_sd', '2026-11-02', None, 4)
    """
    return {
        "id": e.id,
        "family": e.family_id,
        "programme": e.programme,
        "start": iso(e.start_date),
        "end": iso(e.end_date),
        "caregivers": list(e.caregivers),
        "sessions_offered": e.sessions_offered,
        "sessions_attended": e.sessions_attended,
        "fidelity_notes": e.fidelity_notes,
        "end_reason": e.end_reason,
        "created_at": e.created_at.isoformat(),
    }

def observation_dict(core: Core, o: ObservationSession) -> dict:
    """A coded observation session: file name, size, checksum and its metadata (decrypted).

    Parameters
    ----------
    core
        The store's core (its key rings open the sealed metadata).
    o
        The session.

    Returns
    -------
    dict
        Its fields; never the file's content.

    Examples
    --------
    >>> from attunement.usecases.observations import add_observation_session
    >>> upload = add_observation_session(store, practitioner, family, filename="visit.csv",
    ...     content=b"session,actor,code,onset\\nv,Infant,cry,1\\nv,Mother,soothe,2\\n",
    ...     metadata={"cues": "cry", "responses": "soothe", "coder": "RB"})
    >>> with store.db.read() as session:
    ...     shown = observation_dict(store.core, session.get(ObservationSession, upload["id"]))
    >>> shown["filename"], shown["metadata"]["coder"], "content" in shown
    ('visit.csv', 'RB', False)
    """
    return {
        "id": o.id,
        "family": o.family_id,
        "filename": o.filename,
        "sha256": o.sha256,
        "size": o.size,
        "metadata": files.open_metadata(core.keys_for_rows(), o),
        "uploaded_at": o.uploaded_at.isoformat(),
    }

def check_time_point(core: Core, s: Session, fam: Family, time_point: str) -> None:
    """Refuse a time point that is not in the family's study schedule.

    A family outside any study, or a study without a schedule, accepts any time point.

    Parameters
    ----------
    core
        The store's core (it keeps each study's schedule once read).
    s
        The open session.
    fam
        The family.
    time_point
        The time point a submission names.

    Raises
    ------
    StoreValidationError
        ``time_point``, listing the schedule's time points.

    Examples
    --------
    >>> with store.db.read() as session:
    ...     check_time_point(store.core, session, session.get(Family, family), "12m")
    Traceback (most recent call last):
    ...
    attunement.store.errors.StoreValidationError: time_point: '12m' is not in this study's schedule (baseline, 6w)
    """
    if not fam.study_id:
        return
    names = core.schedules.get(fam.study_id)
    if names is None:  # a study's schedule never changes once created, so keep it
        names = list(
            s.execute(
                select(TimePoint.name)
                .where(TimePoint.study_id == fam.study_id)
                .order_by(TimePoint.position)
            ).scalars()
        )
        core.schedules[fam.study_id] = names
    if names and time_point not in names:
        raise StoreValidationError(
            "time_point", f"{time_point!r} is not in this study's schedule ({', '.join(names)})"
        )
