"""The intervention catalogue as validated data (``catalogue.yaml`` + ``catalogue.schema.json``)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from attunement import content
from attunement.content import ContentError
from attunement.risk.definitions import TIER_ORDER, Definitions, load_definitions
from attunement.vocabulary import vocabulary_terms

MECHANISM_LABELS = {
    "behavioural_sensitivity": "behavioural sensitivity",
    "reflective_functioning": "reflective functioning",
    "representational": "representational",
    "supportive": "supportive",
}
STRENGTH_LABELS = {
    5: "multiple RCTs with long-term follow-up and a top clearinghouse rating",
    4: "several RCTs or a meta-analysis of RCTs",
    3: "at least one RCT with benefit, or mixed RCT evidence",
    2: "pilot/feasibility RCTs, a null definitive RCT, or mostly non-randomised evidence",
    1: "uncontrolled or non-randomised studies only",
}
DAYS_PER_MONTH = 365.25 / 12


class CatalogueError(ContentError):
    """The catalogue is invalid: ``"{file}: {path}: {reason}"``.

    The path starts at the programme (``programmes[2].eligibility.window``); ``programme`` is its
    id and ``field`` the place within it.

    Parameters
    ----------
    reason : str
        Why.
    file : str
        The catalogue file.
    programme : str, optional
        The programme's id.
    field : str, optional
        The place within the programme.
    index : int, optional
        The programme's position in the file.

    Examples
    --------
    >>> str(CatalogueError("must not be empty", file="c.yaml", index=2, field="eligibility.window"))
    'c.yaml: programmes[2].eligibility.window: must not be empty'
    """

    def __init__(self, reason: str, *, file: str, programme: str | None = None,
                 field: str | None = None, index: int | None = None) -> None:
        self.programme, self.field = programme, field
        where = f"programmes[{index}]" if index is not None else (
            f"programme {programme!r}" if programme else "")
        path = ".".join(p for p in (where, field) if p).replace(".[", "[")
        super().__init__(file, path, reason)

    @classmethod
    def at(cls, file: str | None, path: str | None, reason: str) -> CatalogueError:
        """A catalogue error at one place, built the way the shared content check reports problems.

        No programme is named: ``path`` already says which entry (``programmes[2]``).

        Parameters
        ----------
        file : str or None
            The catalogue file ("" when the catalogue was given as data, not read from a file).
        path : str or None
            Where in it (``programmes[2].window.start``); kept as the error's ``field``, with
            no programme named.
        reason : str
            Why it is wrong.

        Returns
        -------
        CatalogueError
            The error, its field set to ``path``.
        """
        return cls(reason, file=file or "", field=path or None)


@dataclass(frozen=True)
class WindowPoint:
    """One end of a window: completed gestation weeks, completed weeks of age or completed months.

    Parameters
    ----------
    gestation_weeks, age_months, age_weeks : float, optional
        One of them is given.

    Examples
    --------
    >>> WindowPoint(gestation_weeks=28).days_from_birth, WindowPoint(age_months=6).describe()
    (-84, '6 months')
    """

    gestation_weeks: float | None = None
    age_months: float | None = None
    age_weeks: float | None = None

    @property
    def days_from_birth(self) -> float:
        if self.gestation_weeks is not None:
            return (self.gestation_weeks - 40) * 7
        if self.age_weeks is not None:
            return float(self.age_weeks) * 7
        return float(self.age_months or 0) * DAYS_PER_MONTH

    def describe(self) -> str:
        """The point in words (``28 weeks' gestation``, ``6 weeks of age``, ``12 months``).

        Returns
        -------
        str
            Text for reasons a clinician reads.
        """
        if self.gestation_weeks is not None:
            return f"{self.gestation_weeks:g} weeks' gestation"
        if self.age_weeks is not None:
            return _plural(self.age_weeks, "week") + " of age"
        return _plural(self.age_months or 0, "month")


def _plural(n: float, unit: str) -> str:
    """``1 month``, ``2 months`` (grammar in every reason a clinician reads)."""
    return f"{n:g} {unit}" + ("" if n == 1 else "s")


@dataclass(frozen=True)
class Programme:
    """One catalogue entry. ``data`` keeps every field of the YAML entry.

    Parameters
    ----------
    id, name, short_name : str
        The programme.
    data : mapping
        Every field of the entry (tiers, pathways, mechanism, eligibility, evidence, delivery ...).
    start, end : WindowPoint
        The window in which it can start.
    position : int
        Its place in the catalogue.

    Examples
    --------
    >>> abc = load_catalogue().get("abc")
    >>> abc.short_name, abc.window_text(), abc.tiers
    ('ABC', '6 months to 48 months', ['targeted', 'specialist'])
    """

    id: str
    name: str
    short_name: str
    data: Mapping[str, Any]
    start: WindowPoint
    end: WindowPoint
    position: int

    @property
    def tiers(self) -> list[str]:
        return list(self.data["tiers"])

    @property
    def pathways(self) -> list[str]:
        return list(self.data["pathways"])

    @property
    def mechanism(self) -> list[str]:
        return list(self.data["mechanism"]["codes"])

    @property
    def eligibility(self) -> Mapping[str, Any]:
        return self.data["eligibility"]

    @property
    def strength(self) -> int:
        return int(self.data["evidence"]["strength"])

    @property
    def roles(self) -> str | list[str]:
        return self.eligibility["caregiver_roles"]

    @property
    def delivery(self) -> Mapping[str, bool]:
        return self.data["delivery"]

    @property
    def trial_population(self) -> Mapping[str, Any]:
        return self.data["trial_population"]

    @property
    def tested_start(self) -> WindowPoint:
        return WindowPoint(**self.trial_population["ages"]["start"])

    @property
    def tested_end(self) -> WindowPoint:
        return WindowPoint(**self.trial_population["ages"]["end"])

    def window_text(self) -> str:
        """When the programme is offered, from its start to its end.

        Returns
        -------
        str
            E.g. ``"6 months to 48 months"``.
        """
        return f"{self.start.describe()} to {self.end.describe()}"

    def tested_text(self) -> str:
        """The ages or gestations the programme's trials enrolled (its evidence window).

        Returns
        -------
        str
            Start and end in words.
        """
        return f"{self.tested_start.describe()} to {self.tested_end.describe()}"

    def evidence_dict(self) -> dict[str, Any]:
        """The programme's evidence as shown with a match.

        Returns
        -------
        dict
            ``strength`` (1 to 5) and its label, the ``summary``, the ``studies`` and any
            clearinghouse ``ratings``.
        """
        ev = self.data["evidence"]
        return {
            "strength": ev["strength"],
            "strength_label": STRENGTH_LABELS[ev["strength"]],
            "summary": ev["summary"].strip(),
            "studies": [dict(s) for s in ev["studies"]],
            "ratings": list(ev.get("ratings") or []),
        }

    def to_dict(self) -> dict[str, Any]:
        """The catalogue entry as JSON-ready data, with the evidence and window spelt out.

        Returns
        -------
        dict
            The entry's fields, ``evidence`` as :meth:`evidence_dict` gives it and ``window`` as text.
        """
        out = json.loads(json.dumps(dict(self.data)))
        out["evidence"] = self.evidence_dict()
        out["window"] = self.window_text()
        return out


@dataclass(frozen=True)
class Catalogue:
    """The programmes, in catalogue order, with the file they came from.

    Parameters
    ----------
    programmes : tuple of Programme
        The entries.
    source : str
        The file.

    Examples
    --------
    >>> c = load_catalogue()
    >>> c.ids[:3], len(c) >= 3
    (['abc', 'mellow_babies', 'vipp_sd'], True)
    >>> c.get("nope")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    KeyError: "unknown programme 'nope'; known: abc, ..."
    """

    programmes: tuple[Programme, ...]
    source: str

    def __iter__(self) -> Iterator[Programme]:
        return iter(self.programmes)

    def __len__(self) -> int:
        return len(self.programmes)

    @property
    def ids(self) -> list[str]:
        return [p.id for p in self.programmes]

    def get(self, programme_id: str) -> Programme:
        """A programme by its id.

        Parameters
        ----------
        programme_id : str
            Its id in ``catalogue.yaml`` (``vipp_sd``, ``mellow_bumps`` …).

        Returns
        -------
        Programme
            The entry.

        Raises
        ------
        KeyError
            Not in the catalogue; the message lists the ids that are.
        """
        return content.by_id(self.programmes, programme_id,
                             f"unknown programme {programme_id!r}; known: {', '.join(self.ids)}")


def parse_catalogue(doc: Any, *, source: str = "catalogue.yaml",
                    definitions: Definitions | None = None) -> Catalogue:
    """Validate a catalogue document (schema, then cross-checks against the risk definitions).

    Parameters
    ----------
    doc : Any
        The parsed catalogue (``catalogue.yaml`` layout).
    source : str
        The file name used in error messages.
    definitions : Definitions, optional
        The risk definitions whose pathways, factors and recorded answers it may name.

    Returns
    -------
    Catalogue
        The programmes in catalogue order.

    Examples
    --------
    >>> parse_catalogue({"version": 1, "programmes": []}, source="svc.yaml")
    Traceback (most recent call last):
    ...
    attunement.interventions.catalogue.CatalogueError: svc.yaml: programmes: needs at least 1 entry
    """
    try:
        content.validate(doc, "catalogue", file=source, terms=vocabulary_terms(),
                         error=CatalogueError)
    except CatalogueError as err:
        parts = list(err.parts)
        if len(parts) >= 2 and parts[0] == "programmes" and isinstance(parts[1], int):
            entry = doc["programmes"][parts[1]]
            prog = entry.get("id") if isinstance(entry, Mapping) else None
            raise CatalogueError(err.reason, file=source, programme=prog or f"#{parts[1] + 1}",
                                 field=content.dotted(parts[2:]) or None, index=parts[1]) from None
        raise

    defs = definitions or load_definitions()
    pathway_ids = {p.id for p in defs.pathways}
    known = set(defs.factor_ids) | {c.id for c in defs.context_items}
    programmes: list[Programme] = []
    seen: set[str] = set()
    for pos, entry in enumerate(doc["programmes"]):
        pid = entry["id"]
        at = {"file": source, "programme": pid, "index": pos}
        if pid in seen:
            raise CatalogueError("duplicate programme id", **at, field="id")
        seen.add(pid)
        for i, pw in enumerate(entry["pathways"]):
            if pw not in pathway_ids:
                raise CatalogueError(f"unknown pathway {pw!r} (known: {', '.join(sorted(pathway_ids))})",
                                     **at, field=f"pathways[{i}]")
            tier = defs.pathway(pw).tier
            if tier not in entry["tiers"] and not (set(entry["tiers"]) & {"targeted", "specialist"}):
                raise CatalogueError(f"pathway {pw!r} belongs to the {tier} tier, which the programme "
                                     "does not serve", **at, field="pathways")
        for i, s in enumerate(entry["suits"]):
            if s not in known:
                raise CatalogueError(f"unknown factor or recorded answer {s!r}", **at,
                                     field=f"suits[{i}]")
        elig = entry["eligibility"]
        conds = [(f"eligibility.{key}", elig.get(key)) for key in ("requires", "excludes")]
        conds.append(("trial_population.exclusions", entry["trial_population"].get("exclusions")))
        for where, items in conds:
            for i, cond in enumerate(items or []):
                for j, fid in enumerate(cond["any_of"]):
                    if fid not in known:
                        raise CatalogueError(f"unknown factor or recorded answer {fid!r}", **at,
                                             field=f"{where}[{i}].any_of[{j}]")
        ages = entry["trial_population"]["ages"]
        t_start, t_end = WindowPoint(**ages["start"]), WindowPoint(**ages["end"])
        if t_start.days_from_birth > t_end.days_from_birth:
            raise CatalogueError(f"tested ages start ({t_start.describe()}) after they end "
                                 f"({t_end.describe()})", **at, field="trial_population.ages")
        start = WindowPoint(**elig["window"]["start"])
        end = WindowPoint(**elig["window"]["end"])
        if start.days_from_birth > end.days_from_birth:
            raise CatalogueError(f"window starts ({start.describe()}) after it ends ({end.describe()})",
                                 **at, field="eligibility.window")
        programmes.append(Programme(pid, entry["name"], entry["short_name"], entry, start, end, pos))
    return Catalogue(tuple(programmes), source)


def load_catalogue(path: str | Path | None = None, *,
                   definitions: Definitions | None = None) -> Catalogue:
    """Load and validate the catalogue (the shipped one by default, or a service's own file).

    Parameters
    ----------
    path : str or Path, optional
        A service's catalogue file; the shipped ``catalogue.yaml`` when omitted.
    definitions : Definitions, optional
        The risk definitions to cross-check against (the shipped ones by default).

    Returns
    -------
    Catalogue
        The validated catalogue.

    Examples
    --------
    >>> len(load_catalogue()) > 5
    True
    """
    if path is None and definitions is None:
        return _default_catalogue()
    if path is None:
        text = resources.files("attunement.interventions").joinpath("catalogue.yaml").read_text("utf-8")
        source = "catalogue.yaml"
        doc = content.parse_yaml(text, source, error=CatalogueError)
    else:
        source = str(path)
        doc = content.load_yaml(path, error=CatalogueError)
    return parse_catalogue(doc, source=source, definitions=definitions)


@cache
def _default_catalogue() -> Catalogue:
    return load_catalogue(None, definitions=load_definitions())


def tier_rank(tier: str) -> int:
    """The order of a care tier: universal 0, targeted 1, specialist 2.

    Parameters
    ----------
    tier : str
        A tier id: ``universal``, ``targeted`` or ``specialist``.

    Returns
    -------
    int
        Its rank.

    Raises
    ------
    ValueError
        Not a tier.

    Examples
    --------
    >>> tier_rank("targeted")
    1
    """
    return TIER_ORDER.index(tier)
