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
from attunement.store.research_view import ResearchView
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
    return value.isoformat() if isinstance(value, date | datetime) else value

def urgent_alert(alert: Alert) -> bool:
    """Whether an alert is for an urgent flag (attunement.vocabulary), not a review item."""
    kind = load_vocabulary().kind_of({"id": alert.flag_id, "kind": alert.kind})
    return kind is not None and kind.urgent

def jsonable(value: Any) -> Any:
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
    """The family's infants (oldest record first), with their dates of birth attached."""
    return with_birth_dates(core, s, s.execute(
        select(Infant).where(Infant.family_id == family_id).order_by(Infant.id)).scalars())


def with_birth_dates(core: Core, s: Session, infants: Iterable[Infant]) -> list[Infant]:
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
            data = core.keyring().decrypt(row.ciphertext, f"infant:{inf.id}")
            born = (
                date.fromisoformat(data["date_of_birth"]) if data.get("date_of_birth") else None
            )
        inf.birth_date = born  # type: ignore[assignment]
    return infants

def caregiver(s: Session, fam: Family, ref: int | str) -> Caregiver:
    """The family's caregiver ``ref`` (its id, or its key), else a validation error."""
    return _one_caregiver(s.execute(_caregiver_where(select(Caregiver), fam, ref)).scalars(), ref)


def current_caregiver(s: Session, fam: Family, ref: int | str) -> Caregiver:
    """The family's caregiver ``ref`` who has not left it, else a validation error."""
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
    """The caregiver's columns as a plain row (no ORM identity map: the hot path)."""
    stmt = select(
        Caregiver.id, Caregiver.key, Caregiver.role, Caregiver.left_on, Caregiver.variants
    )
    return _one_caregiver(s.execute(_caregiver_where(stmt, fam, ref)), ref)

def caregiver_dict(cg: Caregiver, ids: dict[str, str] | None) -> dict:
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
    """The reference schedule rule: a family's due and overdue items on ``today``.

    A time point's window opens ``window_days`` before its target (anchor + ``offset_days``)
    and closes ``window_days`` after; an item (current caregiver x instrument x time point with
    no assessment in ``done``) is due while the window is open and overdue once it has closed.
    A window that closed before ``fam.registered_on`` is neither (docs/clinical-safety.md).

    Parameters
    ----------
    fam, infant, carers, tps, done, today
        The family, its infant (``birth_date`` decrypted), current caregivers, the study's
        time points, ``(caregiver id, instrument, time point)`` already done, and the day.

    Returns
    -------
    tuple[list, list]
        ``(due, overdue)``: dicts with caregiver, instrument, time point, target, closing day.
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

def research_view(
    core: Core, s: Session, fam: Family, infant: Infant | None, carers: list[Caregiver],
    *, programmes: Iterable[str] = (),
) -> ResearchView:
    """The allow-list builder of a researcher's view of this family
    (:mod:`attunement.store.research_view`); ``programmes``: the programme ids shown by name
    (the intervention catalogue's, passed by the use case), any other programme is "other"."""
    keys = core.keyring()
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
        programmes=programmes,
    )

def current(rows: list[Assessment]) -> list[Assessment]:
    superseded = {a.corrected_from for a in rows if a.corrected_from is not None}
    return [a for a in rows if a.id not in superseded]

def assessment_dict(a: Assessment, cg: Caregiver) -> dict:
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
