"""Cut-offs per language: the thresholds validation studies of a translated questionnaire
report for their own language and population, as data with their sources.

The bundled file is ``instruments/language_cutoffs.yaml`` (schema
``schemas/language_cutoffs.schema.json``). Each entry replaces ONE configurable cut-off of the
definition when the answers were given in that language at a time point of that period;
everything else (safety items, other cut-offs) is unchanged. ``docs/item-text-packs.md`` says
which studies are listed and why others are not.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from attunement import content
from attunement.instruments.definition import load_instrument
from attunement.instruments.errors import DefinitionError, UnknownInstrument

PERIODS = ("antenatal", "postnatal", "any")


@dataclass(frozen=True)
class LanguageCutoff:
    """One published cut-off for answers given in one language.

    Parameters
    ----------
    instrument, language, cutoff : str
        The instrument id, the language tag and the id of the definition's cut-off replaced.
    op : str
        The definition's operator (``>=``).
    value : float
        The threshold in that operator.
    published : str or None
        The threshold as the study writes it (``10/11``).
    period : {"antenatal", "postnatal", "any"}
        When it applies.
    population, source, evidence : str
        Who was studied, the citation and its evidence grade.
    note : str or None
        What a clinician should also know.

    Examples
    --------
    >>> c = language_cutoffs("epds", "es", "postnatal")[0]
    >>> c.cutoff, c.rule_text()
    ('possible_depression', '≥ 11')
    """

    instrument: str
    language: str
    cutoff: str
    op: str
    value: float
    published: str | None
    period: str
    population: str
    source: str
    evidence: str
    note: str | None = None

    def rule_text(self) -> str:
        """The threshold as shown to a clinician (``≥ 11``).

        Returns
        -------
        str
            The comparison sign and the value.
        """
        symbol = {">=": "≥", "<=": "≤", "==": "="}.get(self.op, self.op)
        return f"{symbol} {self.value:g}"


def load_language_cutoffs(path: str | Path) -> tuple[LanguageCutoff, ...]:
    """Load and check a cut-offs-per-language file (errors name the file, entry and field).

    Parameters
    ----------
    path : str or Path
        A YAML or JSON file in the layout of ``instruments/language_cutoffs.yaml``.

    Returns
    -------
    tuple of LanguageCutoff
        The entries, each checked against its instrument's definition: the cut-off exists and
        is configurable, the operator is the definition's, the value is on the scale, and no two
        entries cover the same instrument, language, cut-off and period.

    Examples
    --------
    >>> len(load_language_cutoffs(_bundled_path())) >= 2
    True
    """
    file = str(path)
    data = content.validate(content.load_yaml(path, error=DefinitionError), "language_cutoffs",
                            file=file, error=DefinitionError)
    out: list[LanguageCutoff] = []
    seen: set[tuple[str, str, str, str]] = set()
    for n, raw in enumerate(data["cutoffs"]):
        where = f"cutoffs[{n}]"
        try:
            inst = load_instrument(raw["instrument"])
        except UnknownInstrument:
            raise DefinitionError(f"unknown instrument {raw['instrument']!r}", file=file,
                                  field=f"{where}.instrument", path=f"{where}.instrument") from None
        cut = next((c for c in inst.cutoffs if c.id == raw["cutoff"]), None)
        if cut is None or not cut.configurable:
            known = ", ".join(c.id for c in inst.cutoffs if c.configurable) or "none"
            raise DefinitionError(
                f"{inst.short_name} has no configurable cut-off {raw['cutoff']!r} (configurable: "
                f"{known})", file=file, field=f"{where}.cutoff", path=f"{where}.cutoff")
        if raw["op"] != cut.op:
            raise DefinitionError(
                f"write the value with the definition's operator {cut.op!r} (the study's own "
                "notation goes in 'published')", file=file, field=f"{where}.op", path=f"{where}.op")
        low, high = inst.scale(cut.scale).range
        if not low <= raw["value"] <= high:
            raise DefinitionError(f"{raw['value']:g} is outside the {cut.scale} range "
                                  f"{low:g}–{high:g}", file=file, field=f"{where}.value",
                                  path=f"{where}.value")
        key = (inst.id, raw["language"], cut.id, raw["period"])
        if key in seen:
            raise DefinitionError("a second entry for the same instrument, language, cut-off and "
                                  "period", file=file, field=where, path=where)
        seen.add(key)
        out.append(LanguageCutoff(
            instrument=inst.id, language=raw["language"], cutoff=cut.id, op=cut.op,
            value=float(raw["value"]), published=raw.get("published"), period=raw["period"],
            population=" ".join(raw["population"].split()),
            source=" ".join(raw["source"].split()), evidence=raw["evidence"],
            note=" ".join(raw["note"].split()) if raw.get("note") else None,
        ))
    return tuple(out)


def _bundled_path() -> Path:
    return Path(str(resources.files("attunement.instruments") / "language_cutoffs.yaml"))


@cache
def bundled_language_cutoffs() -> tuple[LanguageCutoff, ...]:
    """The cut-offs per language shipped with the package (``language_cutoffs.yaml``).

    Returns
    -------
    tuple of LanguageCutoff
        The entries.

    Examples
    --------
    >>> sorted({c.language for c in bundled_language_cutoffs()})
    ['ar', 'es']
    """
    return load_language_cutoffs(_bundled_path())


def language_cutoffs(instrument: str, language: str | None, period: str | None,
                     entries: tuple[LanguageCutoff, ...] | None = None
                     ) -> list[LanguageCutoff]:
    """The entries that apply to answers given in ``language`` at a time point of ``period``.

    An entry for a bare language (``es``) applies to its regional tags (``es-MX``) too; an
    entry for ``any`` period applies always; a period-specific one only when the period is
    known. English and an unknown language get none.

    Parameters
    ----------
    instrument : str
        The instrument id.
    language : str or None
        The language the form was shown in.
    period : {"antenatal", "postnatal"} or None
        The period of the time point, if known.
    entries : tuple, optional
        Entries to search (default: the bundled ones).

    Returns
    -------
    list of LanguageCutoff
        The entries that apply.

    Examples
    --------
    >>> [c.cutoff for c in language_cutoffs("epds", "ar", "antenatal")]
    ['probable_depression']
    >>> language_cutoffs("epds", "ar", None), language_cutoffs("epds", "en", "postnatal")
    ([], [])
    """
    if not language:
        return []
    chosen = bundled_language_cutoffs() if entries is None else entries
    tags = {language, language.split("-")[0]}
    return [c for c in chosen if c.instrument == instrument and c.language in tags
            and (c.period == "any" or c.period == period)]


def language_thresholds(instrument: str, language: str | None, period: str | None,
                        entries: tuple[LanguageCutoff, ...] | None = None) -> dict[str, float]:
    """``{cut-off id: value}`` for scoring answers given in ``language`` (see
    :func:`language_cutoffs`), ready for ``score_responses(thresholds=...)``.

    Parameters
    ----------
    instrument : str
        The instrument id.
    language : str or None
        The language the questionnaire was answered in; None gives no change.
    period : str or None
        ``antenatal`` or ``postnatal``, for cut-offs validated in one period only.
    entries : tuple of LanguageCutoff, optional
        A service's entries (:func:`load_language_cutoffs`); the shipped ones by default.

    Returns
    -------
    dict
        Cut-off id -> value; empty when no study gives one for this language.

    Examples
    --------
    >>> language_thresholds("epds", "es", "postnatal")
    {'possible_depression': 11.0}
    """
    return {c.cutoff: c.value for c in language_cutoffs(instrument, language, period, entries)}
