"""What a researcher sees of a family: an ALLOW-LIST, built field by field.

A researcher's family document is never the clinical document with some fields removed: it is
a new document holding only fields that are pseudonymised (family and caregiver ids are the
study's keyed pseudonyms everywhere they appear) or coded (roles, instruments, time points,
scores, flags, booleans, counts, the catalogue's programme ids, consent kinds). Free text
(reasons for leaving, correction reasons, fidelity notes, end reasons, observation metadata
such as coder names and notes, consent form versions, file names) is never copied. Dates are
whole days from the infant's due date (``*_day``), as the rest of the pseudonymised views do.
A field added to the clinical document therefore stays hidden from researchers until it is
added here on purpose.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from datetime import date
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from attunement.store.models import TimePoint

if TYPE_CHECKING:
    from attunement.store.core import Core
    from attunement.store.models import Caregiver, Family, Infant

__all__ = ["CONSENT_KINDS", "ResearchView", "coded_context", "coded_variants", "for_family"]

# consent kinds researchers see by name; any other recorded kind is free text -> "other"
CONSENT_KINDS = frozenset({"research", "data_sharing", "recording", "treatment", "contact"})
_ASSESSMENT_KEYS = ("id", "instrument", "instrument_version", "time_point", "instance",
                    "version", "input", "caregiver_role", "corrected_from", "submitted_via")
_SUBMITTED_VIA = frozenset({"staff", "link"})


def coded_context(context: Any) -> dict[str, bool]:
    """The recorded answers that are coded (``id: true|false``), for a researcher's view.

    Parameters
    ----------
    context
        A family's or caregiver's recorded answers.

    Returns
    -------
    dict
        Only the answers whose value is true or false; free text is dropped.

    Examples
    --------
    >>> coded_context({"smi": True, "note": "Ann said so", "housing": False})
    {'smi': True, 'housing': False}
    """
    if not isinstance(context, dict):
        return {}
    return {str(k): v for k, v in context.items() if isinstance(v, bool)}


def coded_variants(variants: Any, known: Callable[[str], Collection[str]]) -> dict[str, list[str]]:
    """The form variants of a caregiver that are coded values, for a researcher's view.

    A variant is kept only when the instrument's definition names it; a name typed into a
    family file (a person's name, a note) is free text and is dropped.

    Parameters
    ----------
    variants
        The caregiver's recorded variants, ``{instrument: [variant names]}``.
    known
        The variant names an instrument's definition has (empty for an unknown instrument);
        :func:`attunement.usecases.families.known_variants` reads them from the definitions.

    Returns
    -------
    dict
        ``{instrument: [variant names]}`` holding only the named variants.

    Examples
    --------
    >>> coded_variants({"pbq": ["order_2001", "Ann's copy"]},
    ...                lambda instrument: {"order_2001"} if instrument == "pbq" else set())
    {'pbq': ['order_2001']}
    """
    out: dict[str, list[str]] = {}
    if not isinstance(variants, dict):
        return out
    for instrument, names in variants.items():
        allowed = known(str(instrument))
        kept = [n for n in names or [] if isinstance(n, str) and n in allowed]
        if kept:
            out[str(instrument)] = kept
    return out


def _number(value: Any) -> int | float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


class ResearchView:
    """Builds the allow-listed, pseudonymised documents of one family.

    Parameters
    ----------
    pseudonym
        ``pseudonym(kind, pk)``: the study's keyed pseudonym of a family or caregiver record.
    anchor
        The infant's due date (else birth date) that days are counted from.
    caregivers
        ``(record id, key)`` of each caregiver.
    time_points, programmes
        The coded vocabularies: the study's time points and the programme ids shown by name
        (the intervention catalogue's); any other value is dropped or shown as "other".

    Examples
    --------
    >>> view = ResearchView(pseudonym=lambda kind, pk: f"{kind[0]}{pk:03d}",
    ...                     anchor=date(2026, 9, 20), caregivers=[(7, "mother")],
    ...                     time_points=["6w"], programmes=["vipp_sd"])
    >>> view.episode({"id": 1, "programme": "Ann's group", "caregivers": ["mother"],
    ...               "start": "2026-10-01"})["programme"]
    'other'
    >>> view.day("2026-10-01"), view.caregiver_id(key="mother"), view.time_point("12m")
    (11, 'c007', None)
    """

    def __init__(self, *, pseudonym: Callable[[str, int], str], anchor: date | None,
                 caregivers: Iterable[tuple[int, str]], time_points: Iterable[str],
                 programmes: Iterable[str]) -> None:
        self._pseudonym = pseudonym
        self._anchor = anchor
        pairs = list(caregivers)
        self._by_pk = {pk: pseudonym("caregiver", pk) for pk, _ in pairs}
        self._by_key = {key: self._by_pk[pk] for pk, key in pairs}
        self._time_points = frozenset(time_points)
        self._programmes = frozenset(programmes)

    # ------------------------------------------------------------------ pieces
    def day(self, stamp: Any) -> int | None:
        """A date as whole days from the anchor.

        Parameters
        ----------
        stamp
            A date, or ISO text beginning with one.

        Returns
        -------
        int or None
            Days after (negative: before) the anchor; None without a date or an anchor.
        """
        if stamp is None or self._anchor is None:
            return None
        try:
            return (date.fromisoformat(str(stamp)[:10]) - self._anchor).days
        except ValueError:
            return None

    def caregiver_id(self, key: Any = None, pk: Any = None) -> str | None:
        """The caregiver's pseudonym.

        Parameters
        ----------
        key
            Their family-file key (``"mother"``).
        pk
            Their record id (used first when given).

        Returns
        -------
        str or None
            The pseudonym; None when neither names a caregiver of this family.
        """
        if pk is not None and pk in self._by_pk:
            return self._by_pk[pk]
        if isinstance(key, str):
            return self._by_key.get(key)
        return None

    def time_point(self, value: Any) -> str | None:
        """A time point kept only when it is one of the study's.

        Parameters
        ----------
        value
            The recorded time point (free text in an observation's metadata).

        Returns
        -------
        str or None
            ``value``, or None when the study has no such time point.
        """
        return value if isinstance(value, str) and value in self._time_points else None

    def caregiver(self, c: dict) -> dict:
        """A caregiver's allow-listed fields: pseudonym, role, age, coded answers, days.

        Parameters
        ----------
        c : dict
            The caregiver as the clinical family document holds them (key, role, age,
            answers and leaving date).

        Returns
        -------
        dict
            The researcher's caregiver: no key, no identifiers, no name, and no reason for
            leaving.
        """
        return {
            "id": self.caregiver_id(pk=c.get("pk")),
            "role": c.get("role"),
            "age": _number(c.get("age")),
            "first_time_parent": c.get("first_time_parent")
            if isinstance(c.get("first_time_parent"), bool) else None,
            "context": coded_context(c.get("context")),
            "joined_day": self.day(c.get("joined_on")),
            "left_day": self.day(c.get("left_on")),
            "active": bool(c.get("active")),
        }

    def assessment(self, a: dict) -> dict:
        """An assessment's coded fields: instrument, time point, answers, scores, flags, day.

        Parameters
        ----------
        a
            The assessment as the store answers it (any version).

        Returns
        -------
        dict
            Without the correction's reason, who submitted it or any date.
        """
        out = {k: a.get(k) for k in _ASSESSMENT_KEYS}
        if out["submitted_via"] not in _SUBMITTED_VIA:
            out["submitted_via"] = None
        out["family"] = a.get("family")
        out["caregiver"] = self.caregiver_id(pk=a.get("caregiver_pk"))
        out["responses"] = [_number(x) for x in a.get("responses") or []]
        out["item_scores"] = [_number(x) for x in a.get("item_scores") or []]
        out["scores"] = {str(k): _number(v) if not isinstance(v, str) else v
                         for k, v in (a.get("scores") or {}).items()}
        out["flags"] = [{k: f.get(k) for k in ("id", "kind", "label")
                         if k in f} for f in a.get("flags") or [] if isinstance(f, dict)]
        out["day"] = self.day(a.get("completed_on"))
        if "current" in a:
            out["current"] = bool(a["current"])
        return out

    def episode(self, e: dict) -> dict:
        """An episode: the programme (a catalogue id, else "other"), who took part, days and
        sessions.

        Parameters
        ----------
        e : dict
            One of the clinical document's episodes, whose programme may be free text typed
            by a practitioner.

        Returns
        -------
        dict
            Without fidelity notes or the end reason.
        """
        programme = e.get("programme")
        return {
            "id": e.get("id"),
            "family": e.get("family"),
            "programme": programme if programme in self._programmes else "other",
            "caregivers": [self.caregiver_id(key=k) for k in e.get("caregivers") or []],
            "start_day": self.day(e.get("start")),
            "end_day": self.day(e.get("end")),
            "sessions_offered": _number(e.get("sessions_offered")),
            "sessions_attended": _number(e.get("sessions_attended")),
            "ended": e.get("end") is not None,
        }

    def observation(self, o: dict) -> dict:
        """A coded session's size, caregiver, time point, day, window and time unit.

        Parameters
        ----------
        o
            A coded session of the clinical document, its metadata as the uploader typed it.

        Returns
        -------
        dict
            Without the file name, the coder, notes or the session's date.
        """
        meta = o.get("metadata") or {}
        window = meta.get("window")
        return {
            "id": o.get("id"),
            "family": o.get("family"),
            "size": _number(o.get("size")),
            "caregiver": self.caregiver_id(key=meta.get("caregiver")),
            "time_point": self.time_point(meta.get("time_point")),
            "session_day": self.day(meta.get("session_date")),
            "window": [_number(x) for x in window] if isinstance(window, list) else None,
            "unit": _number(meta.get("unit")),
        }

    def consent(self, c: dict) -> dict:
        """A consent's kind (a known kind, else "other"), caregiver and days.

        Parameters
        ----------
        c : dict
            One entry of the clinical document's consents
            (:func:`attunement.store.shared.consent_dict`).

        Returns
        -------
        dict
            Without the form's version (free text) or why it was withdrawn.
        """
        kind = c.get("kind")
        return {
            "id": c.get("id"),
            "family": c.get("family"),
            "caregiver": self.caregiver_id(key=c.get("caregiver")),
            "kind": kind if kind in CONSENT_KINDS else "other",
            "given_day": self.day(c.get("given_on")),
            "withdrawn_day": self.day(c.get("withdrawn_on")),
            "active": bool(c.get("active")),
        }

    # ------------------------------------------------------------------ the document
    def family(self, doc: dict, *, family_pk: int, birth_day_from_due_date: int | None,
               due: list[dict], overdue: list[dict]) -> dict:
        """The researcher's family document from the clinical one (see the module doc).

        Parameters
        ----------
        doc
            The clinical family document.
        family_pk
            The family's record id (keyed into its pseudonym).
        birth_day_from_due_date
            Days from the due date to the birth, or None.
        due, overdue
            The schedule's items, already pseudonymised.

        Returns
        -------
        dict
            The allow-listed document.
        """
        infant = doc.get("infant") or {}
        return {
            "id": doc.get("id"),
            "family_id": self._pseudonym("family", family_pk),
            "site": doc.get("site"),
            "site_id": doc.get("site_id"),
            "study": doc.get("study"),
            "study_id": doc.get("study_id"),
            "placement": doc.get("placement"),
            "context": coded_context(doc.get("context")),
            "assessed_on": None,
            "created_at": None,
            "infant": {
                "gestational_age_at_birth_weeks":
                    _number(infant.get("gestational_age_at_birth_weeks")),
                "birth_day_from_due_date": birth_day_from_due_date,
            },
            "caregivers": [self.caregiver(c) for c in doc.get("caregivers") or []],
            "assessments": [self.assessment(a) for a in doc.get("assessments") or []],
            "alerts": [],
            "episodes": [self.episode(e) for e in doc.get("episodes") or []],
            "observation_sessions": [self.observation(o)
                                     for o in doc.get("observation_sessions") or []],
            "consents": [self.consent(c) for c in doc.get("consents") or []],
            "due": due,
            "overdue": overdue,
        }


def for_family(
    core: Core, s: Session, fam: Family, infant: Infant | None, carers: list[Caregiver],
    *, programmes: Iterable[str] = (),
) -> ResearchView:
    """The allow-list builder of a researcher's view of one stored family.

    Parameters
    ----------
    core
        The store's core (the study's keyed pseudonyms).
    s
        The open session (the study's time points).
    fam
        The family.
    infant
        Its infant: days are counted from the due date (else the birth date).
    carers
        The family's caregivers.
    programmes
        The programme ids shown by name (the intervention catalogue's, passed by the use
        case); any other programme is "other".

    Returns
    -------
    ResearchView
        The builder of the family's pseudonymised documents: its methods turn dates into
        days, keys into pseudonyms and unknown names into "other".

    Examples
    --------
    The example family's infant was due on 20 September 2026, so its assessment day
    (1 October) is day 11; "12m" is not one of the study's time points:

    >>> from attunement.store import shared
    >>> from attunement.store.models import Caregiver, Family
    >>> with store.db.read() as session:
    ...     fam = session.get(Family, family)
    ...     carers = session.query(Caregiver).filter_by(family_id=family).all()
    ...     infant = shared.infants_of(store.core, session, family)[0]
    ...     view = for_family(store.core, session, fam, infant, carers, programmes=["vipp_sd"])
    >>> view.day("2026-10-01"), view.time_point("6w"), view.time_point("12m")
    (11, '6w', None)
    >>> view.caregiver_id(key="mother") == "mother"
    False
    """
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
