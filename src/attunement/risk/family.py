"""The family file: loading, validation against the shipped JSON Schema, and infant timing."""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from attunement import content
from attunement.content import ContentError
from attunement.vocabulary import vocabulary_terms

# The vocabulary's lists (attunement/vocabulary.yaml), as tuples of ids for the store and web.
ROLES = tuple(vocabulary_terms()["caregiver_roles"])
PLACEMENTS = tuple(vocabulary_terms()["placements"])

DAYS_PER_MONTH = 365.25 / 12
FULL_TERM_DAYS = 280  # 40 weeks from the first day of the last menstrual period


class FamilyError(ContentError):
    """A family file is invalid. ``problems`` lists ``(field_path, why)`` pairs, every one found.

    Parameters
    ----------
    problems : list of tuple
        ``(field path, why)`` for every problem.
    source : str, optional
        The file.

    Examples
    --------
    >>> try:
    ...     validate_family({"family_id": "F1", "placement": "home", "caregivers": [],
    ...                      "infant": {"date_of_birth": "2025-01-01"}})
    ... except FamilyError as e:
    ...     e.problems[0]
    ('assessed_on', 'is required but missing')
    """

    def __init__(self, problems: list[tuple[str, str]], source: str | None = None) -> None:
        self.problems = problems
        self.source = source
        where = f"{source}: " if source else ""
        lines = [f"{where}{path or '(top level)'}: {why}" for path, why in problems]
        path, reason = problems[0] if problems else ("", "")
        super().__init__(source, path, reason)
        self.args = ("invalid family file\n  " + "\n  ".join(lines) if len(lines) > 1 else
                     f"invalid family file: {lines[0]}",)

    @classmethod
    def at(cls, file: str | None, path: str | None, reason: str) -> FamilyError:
        """The error for one problem, in the form :class:`~attunement.content.ContentError` raises.

        Parameters
        ----------
        file, path : str or None
            The family file and the field in it (``caregivers[0].role``).
        reason : str
            What is wrong.

        Returns
        -------
        FamilyError
            An error with that single problem.
        """
        return cls([(path or "", reason)], file)


def family_schema() -> dict[str, Any]:
    """The family-file JSON Schema (draft 2020-12) shipped with the package.

    Returns
    -------
    dict
        ``attunement/schemas/family.schema.json`` with the vocabulary's roles and placements.

    Examples
    --------
    >>> "birth_mother" in family_schema()["$defs"]["caregiver"]["properties"]["role"]["enum"]
    True
    """
    return content.schema("family", vocabulary_terms())


_ONE_OF = "give infant (one baby) or infants (twins and more)"  # the schema's x-messages.oneOf


def _describe(error: ContentError, data: Mapping[str, Any]) -> tuple[str, str]:
    """The one case the shared wording cannot know: infant and infants are alternatives."""
    if error.path == "" and error.reason == _ONE_OF:
        return ("infants", "give infant or infants, not both") if "infant" in data else \
            ("infant", "is required but missing (give infant, or infants for twins and more)")
    return error.path, error.reason


def _jsonable(value: Any) -> Any:
    """YAML parses dates into date objects; the schema expects ISO strings."""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if type(value).__module__ == "numpy" and hasattr(value, "tolist"):
        return _jsonable(value.tolist())  # numpy scalars and arrays from a notebook
    return value


def _read(path: Path) -> Any:
    if path.suffix.lower() not in (".json", ".yaml", ".yml"):
        if not path.exists():
            raise FamilyError([("", "cannot read: file not found")], str(path))
        raise FamilyError([("", "use a .json, .yaml or .yml family file")], str(path))
    if path.suffix.lower() == ".json" and path.is_file():
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise FamilyError([("", f"not valid JSON (line {exc.lineno}, column {exc.colno}: "
                                f"{exc.msg})")], str(path)) from None
        except UnicodeDecodeError as exc:
            raise FamilyError([("", f"not UTF-8 text ({exc.reason})")], str(path)) from None
    return content.load_yaml(path, error=FamilyError)


def validate_family(family: Mapping[str, Any], *, source: str | None = None) -> dict[str, Any]:
    """Validate a family dict against the schema and the date rules; return a normalised copy.

    Recorded answers (``context``) are checked against the factor definitions by
    :func:`attunement.risk.profile`, because a service may extend those.

    Parameters
    ----------
    family : Mapping
        The family file's content (dates as ISO text or ``datetime.date``).
    source : str, optional
        The file name used in messages.

    Returns
    -------
    dict
        A normalised copy (dates as ISO text).

    Raises
    ------
    FamilyError
        Naming every field at fault (e.g. ``caregivers[1].role``); roles and placements are the
        vocabulary's.

    Examples
    --------
    >>> validate_family({"family_id": "F1", "assessed_on": "2025-03-01", "placement": "foster",
    ...                  "infant": {"date_of_birth": "2025-01-01"},
    ...                  "caregivers": [{"id": "a", "role": "foster_carer"}]})["placement"]
    'foster'
    """
    if not isinstance(family, Mapping):
        raise FamilyError([("", f"expected an object (mapping), got {type(family).__name__}")], source)
    data = _jsonable(copy.deepcopy(dict(family)))
    found = content.problems(data, "family", file=source or "", terms=vocabulary_terms())
    problems = list(dict.fromkeys(_describe(e, data) for e in found))
    if problems:
        raise FamilyError(problems, source)

    ids = [c["id"] for c in data["caregivers"]]
    for i, cid in enumerate(ids):
        if cid in ids[:i]:
            problems.append((f"caregivers[{i}].id", f"{cid!r} is used by more than one caregiver"))
    assessed = dt.date.fromisoformat(data["assessed_on"])
    places = [("infant", data["infant"])] if "infant" in data else \
        [(f"infants[{i}]", inf) for i, inf in enumerate(data["infants"])]
    for where, infant in places:
        if "date_of_birth" in infant:
            dob = dt.date.fromisoformat(infant["date_of_birth"])
            if dob > assessed:
                problems.append((f"{where}.date_of_birth", f"{dob} is after assessed_on {assessed}"))
        elif "due_date" in infant:
            due = dt.date.fromisoformat(infant["due_date"])
            if due < assessed - dt.timedelta(days=6 * 7):
                problems.append((f"{where}.due_date", f"{due} is more than 6 weeks before assessed_on "
                                 f"{assessed}; record {where}.date_of_birth instead"))
            if (due - assessed).days > FULL_TERM_DAYS:
                problems.append((f"{where}.due_date",
                                 f"{due} is more than 40 weeks after assessed_on {assessed}"))
    if len(places) > 1:
        # twins and more come from one pregnancy: one birth (or due) date and stage for all
        first = places[0][1]
        for where, infant in places[1:]:
            for key in ("date_of_birth", "due_date"):
                if infant.get(key) != first.get(key):
                    problems.append((f"{where}.{key}", f"{infant.get(key)!r} differs from "
                                     f"infants[0].{key} {first.get(key)!r} (infants of one "
                                     "pregnancy share it)"))
    ids = [inf.get("id") for _, inf in places if inf.get("id") is not None]
    for i, iid in enumerate(ids):
        if iid in ids[:i]:
            problems.append(("infants", f"infant id {iid!r} is used more than once"))
    if problems:
        raise FamilyError(problems, source)
    return data


def family_infants(family: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The family's infants (one, or twins and more), whichever of ``infant``/``infants`` was given.

    Parameters
    ----------
    family : mapping
        A (validated) family.

    Returns
    -------
    list of dict
        One copy per infant.

    Examples
    --------
    >>> family_infants({"infants": [{"due_date": "2025-05-01"}, {"due_date": "2025-05-01"}]})
    [{'due_date': '2025-05-01'}, {'due_date': '2025-05-01'}]
    """
    if family.get("infants"):
        return [dict(i) for i in family["infants"]]
    return [dict(family["infant"])]


def load_family(path: str | Path) -> dict[str, Any]:
    """Read a family file (JSON or YAML) and validate it; errors name the file and field.

    Parameters
    ----------
    path : str or Path
        A ``.json``, ``.yaml`` or ``.yml`` file.

    Returns
    -------
    dict
        The validated family (:func:`validate_family`).

    Raises
    ------
    FamilyError
        The file cannot be read, is not JSON/YAML, or is invalid (every field at fault named).

    Examples
    --------
    >>> load_family("no-such-family.json")
    Traceback (most recent call last):
    ...
    attunement.risk.family.FamilyError: invalid family file: no-such-family.json: (top level): cannot read: file not found
    """
    p = Path(path)
    return validate_family(_read(p), source=str(p))


PRETERM_BELOW_WEEKS = 37
CORRECT_UNTIL_MONTHS = 24


@dataclass(frozen=True)
class Age:
    """An infant's age on a date: ``days`` and completed ``months``; ``corrected`` says whether
    prematurity was subtracted.

    Parameters
    ----------
    days, months : int
        The age in days and completed months.
    corrected : bool
        Whether prematurity was subtracted.

    Examples
    --------
    >>> corrected_age("2025-01-01", "2025-03-01", 32)
    Age(days=3, months=0, corrected=True)
    """

    days: int
    months: int
    corrected: bool

    def describe(self) -> str:
        """The age as staff read it: completed months, and whether it is corrected.

        Returns
        -------
        str
            E.g. ``"2 completed months (corrected for prematurity)"``.
        """
        unit = "month" if self.months == 1 else "months"
        return f"{self.months} completed {unit}" + (" (corrected for prematurity)" if self.corrected
                                                    else "")


def corrected_age(date_of_birth: dt.date | str, on: dt.date | str,
                  gestational_age_at_birth_weeks: float | None = None) -> Age:
    """The age to use for developmental windows and schedules on ``on``.

    For an infant born preterm (before 37 weeks) the weeks of prematurity (40 minus gestation at
    birth) are subtracted until a chronological age of 2 years; after that, and for an infant born
    at term or with no gestation recorded, the chronological age is used. Before the corrected
    birth date the age is 0 days.

    Parameters
    ----------
    date_of_birth, on : date or str
        The birth date and the date of the age (ISO text accepted).
    gestational_age_at_birth_weeks : float, optional
        Gestation at birth; None is taken as term.

    Returns
    -------
    Age
        Days and completed months, and whether prematurity was subtracted.

    Examples
    --------
    >>> corrected_age("2025-01-01", "2025-05-01", 32).describe()
    '2 completed months (corrected for prematurity)'
    >>> corrected_age("2025-01-01", "2025-05-01").months
    4
    """
    dob = dt.date.fromisoformat(str(date_of_birth))
    when = dt.date.fromisoformat(str(on))
    ga = gestational_age_at_birth_weeks
    chrono_months = _completed_months(dob, when)
    if ga is None or ga >= PRETERM_BELOW_WEEKS or chrono_months >= CORRECT_UNTIL_MONTHS:
        return Age((when - dob).days, chrono_months, False)
    start = dob + dt.timedelta(days=round((40 - ga) * 7))
    if start > when:
        return Age(0, 0, True)
    return Age((when - start).days, _completed_months(start, when), True)


@dataclass(frozen=True)
class InfantTiming:
    """Where the infant is in the first 1001 days at the assessment date.

    ``stage`` is ``antenatal`` or ``postnatal``. Antenatally ``gestation_weeks`` is the completed
    gestation (40 weeks minus the time to the due date); postnatally ``age_days`` and
    ``age_months`` (completed months) are chronological, and ``corrected_age_months`` subtracts
    prematurity when the gestational age at birth is known. ``count`` is the number of infants
    (twins: 2).

    Examples
    --------
    >>> InfantTiming("postnatal", age_days=59, age_months=2, corrected_age_months=0).describe()
    'infant aged 2 completed months (59 days), corrected age 0 completed months'
    """

    stage: str
    gestation_weeks: float | None = None
    gestation_days: int | None = None
    age_days: int | None = None
    age_months: int | None = None
    corrected_age_months: int | None = None
    gestational_age_at_birth_weeks: float | None = None
    count: int = 1  # infants in the family (twins: 2)

    @property
    def days_from_birth(self) -> int:
        """Days relative to birth (or due date): negative in pregnancy."""
        if self.stage == "antenatal":
            return int(self.gestation_days or 0) - FULL_TERM_DAYS
        return int(self.age_days or 0)

    def describe(self) -> str:
        """The gestation or the age in words, for the profile's first line.

        Returns
        -------
        str
            E.g. ``"twins pregnancy, 30+2 weeks' gestation"`` or ``"infant aged 2 completed months
            (59 days)"``, with the corrected age when it differs.
        """
        if self.stage == "antenatal":
            weeks, days = divmod(int(self.gestation_days or 0), 7)
            kind = f"{_MULTIPLES.get(self.count, 'multiple')} pregnancy" if self.count > 1 else "pregnancy"
            return f"{kind}, {weeks}+{days} weeks' gestation"
        text = (f"infant aged {_months(self.age_months)} ({self.age_days} "
                f"day{'' if self.age_days == 1 else 's'})")
        if self.corrected_age_months is not None and self.corrected_age_months != self.age_months:
            text += f", corrected age {_months(self.corrected_age_months)}"
        if self.count > 1:
            text = f"{_MULTIPLES.get(self.count, f'{self.count} infants')}, " + text.replace(
                "infant aged", "aged")
        return text

    def to_dict(self) -> dict[str, Any]:
        """The timing as plain data (``gestation_days`` left out: ``gestation_weeks`` says it).

        Returns
        -------
        dict
            Field name -> value.
        """
        return content.plain(self, omit=("gestation_days",))


_MULTIPLES = {2: "twins", 3: "triplets", 4: "quadruplets"}


def _months(n: int | None) -> str:
    return f"{n} completed month{'' if n == 1 else 's'}"


def _completed_months(start: dt.date, end: dt.date) -> int:
    months = (end.year - start.year) * 12 + (end.month - start.month)
    if end.day < start.day:
        months -= 1
    return max(months, 0)


def infant_timing(family: Mapping[str, Any]) -> InfantTiming:
    """Infant age or gestation at ``assessed_on`` from ``date_of_birth`` or ``due_date``.

    Parameters
    ----------
    family : mapping
        A validated family.

    Returns
    -------
    InfantTiming
        The first infant's timing.

    Examples
    --------
    >>> t = infant_timing({"assessed_on": "2025-03-01",
    ...                    "infant": {"date_of_birth": "2025-01-01",
    ...                               "gestational_age_at_birth_weeks": 32}})
    >>> t.stage, t.age_days, t.age_months, t.corrected_age_months
    ('postnatal', 59, 2, 0)
    """
    return infants_timing(family)[0]


def infants_timing(family: Mapping[str, Any]) -> list[InfantTiming]:
    """:func:`infant_timing` for each infant (twins and more: one entry each).

    Parameters
    ----------
    family : mapping
        A validated family, with one infant or several (``infants``).

    Returns
    -------
    list of InfantTiming
        One per infant.

    Examples
    --------
    >>> twins = {"assessed_on": "2025-03-01",
    ...          "infants": [{"due_date": "2025-05-01"}, {"due_date": "2025-05-01"}]}
    >>> [t.describe() for t in infants_timing(twins)]
    ["twins pregnancy, 31+2 weeks' gestation", "twins pregnancy, 31+2 weeks' gestation"]
    """
    assessed = dt.date.fromisoformat(str(family["assessed_on"]))
    infants = family_infants(family)
    out = []
    for infant in infants:
        ga_birth = infant.get("gestational_age_at_birth_weeks")
        if infant.get("date_of_birth"):
            dob = dt.date.fromisoformat(str(infant["date_of_birth"]))
            age = corrected_age(dob, assessed, ga_birth)
            out.append(InfantTiming("postnatal", age_days=(assessed - dob).days,
                                    age_months=_completed_months(dob, assessed),
                                    corrected_age_months=age.months if age.corrected else None,
                                    gestational_age_at_birth_weeks=ga_birth, count=len(infants)))
            continue
        due = dt.date.fromisoformat(str(infant["due_date"]))
        gdays = FULL_TERM_DAYS - (due - assessed).days
        out.append(InfantTiming("antenatal", gestation_weeks=round(gdays / 7, 1),
                                gestation_days=gdays, count=len(infants)))
    return out
