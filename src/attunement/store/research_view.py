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
from typing import Any

__all__ = ["CONSENT_KINDS", "ResearchView", "coded_context", "coded_variants"]

# consent kinds researchers see by name; any other recorded kind is free text -> "other"
CONSENT_KINDS = frozenset({"research", "data_sharing", "recording", "treatment", "contact"})
_ASSESSMENT_KEYS = ("id", "instrument", "instrument_version", "time_point", "instance",
                    "version", "input", "caregiver_role", "corrected_from", "submitted_via")
_SUBMITTED_VIA = frozenset({"staff", "link"})


def coded_context(context: Any) -> dict[str, bool]:
    """Recorded answers are ``id: true|false``; anything else is not a coded answer."""
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

    ``pseudonym(kind, pk)``: the study's keyed pseudonym of a family or caregiver record;
    ``anchor``: the infant's due date (else birth date) that days are counted from;
    ``caregivers``: (record id, key) of each caregiver; ``time_points``, ``programmes``: the
    coded vocabularies (the study's time points, the intervention catalogue's ids)."""

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
        """Whole days from the anchor (None without a date or an anchor)."""
        if stamp is None or self._anchor is None:
            return None
        try:
            return (date.fromisoformat(str(stamp)[:10]) - self._anchor).days
        except ValueError:
            return None

    def caregiver_id(self, key: Any = None, pk: Any = None) -> str | None:
        """The caregiver's pseudonym from its key or record id; None if it names nobody."""
        if pk is not None and pk in self._by_pk:
            return self._by_pk[pk]
        if isinstance(key, str):
            return self._by_key.get(key)
        return None

    def time_point(self, value: Any) -> str | None:
        return value if isinstance(value, str) and value in self._time_points else None

    def caregiver(self, c: dict) -> dict:
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
        """The researcher's family document from the clinical one (see the module doc)."""
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
