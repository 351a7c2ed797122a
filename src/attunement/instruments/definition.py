"""Questionnaire definitions: the YAML format, its validation and the bundled registry.

A definition is data: items with the score of each option position, scales, bands, cut-offs
(each with its source and evidence tag) and safety items. ``load_definition(path)`` validates a
file against ``instrument.schema.json`` and then checks what a schema cannot (scale items exist,
the number of scores matches the number of options, ranges agree with the keys); every error
names the file, the item and the field.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from attunement import content
from attunement.instruments.errors import DefinitionError, UnknownInstrument
from attunement.instruments.parts import OP_TEXT as OP_TEXT
from attunement.instruments.parts import OPS as OPS
from attunement.instruments.parts import (
    Band,
    BandLevel,
    Cutoff,
    Item,
    MissingRule,
    SafetyRule,
    Scale,
    _fmt,
)


@dataclass(frozen=True)
class Instrument:
    """A validated questionnaire (or observational rating scale) definition.

    Built by :func:`load_definition` / :func:`parse_definition` from the YAML format
    (``docs/content.md``); the fields mirror the file: identity (``id, name, short_name, version,
    kind, citation, licence, loinc, respondent, recall_period``), content (``items, scales,
    bands, cutoffs, safety``), documentation (``description, references, population, notes,
    metadata``), ``item_order`` and ``variants`` (with ``applied_variants`` once applied), and
    where it came from (``source_file``, ``raw``).

    Examples
    --------
    >>> epds = load_instrument("epds")
    >>> epds.short_name, epds.n_items, epds.item_columns[:2], sorted(epds.safety_items)
    ('EPDS', 10, ['epds_1', 'epds_2'], [10])
    """

    id: str
    name: str
    short_name: str
    version: str
    kind: str
    citation: str
    licence: dict[str, Any]
    loinc: str | None
    respondent: str
    recall_period: str | None
    items: tuple[Item, ...]
    scales: tuple[Scale, ...]
    bands: tuple[Band, ...] = ()
    cutoffs: tuple[Cutoff, ...] = ()
    safety: tuple[SafetyRule, ...] = ()
    description: str = ""
    references: tuple[str, ...] = ()
    population: str = ""
    item_order: dict[str, Any] | None = None
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    applied_variants: tuple[str, ...] = ()
    source_file: str = ""
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    # -- conveniences -----------------------------------------------------------------------
    @property
    def n_items(self) -> int:
        return len(self.items)

    def item(self, number: int) -> Item:
        """One item by its number.

        Parameters
        ----------
        number : int
            The item's 1-based number in the published order.

        Returns
        -------
        Item
            Its label and scoring key.

        Raises
        ------
        KeyError
            The instrument has no such item.
        """
        return content.by_id(self.items, number, f"{self.id} has no item {number}", key="number")

    def column(self, number: int) -> str:
        """Input column name of item ``number`` (``epds_1`` …).

        Parameters
        ----------
        number : int
            The item number, counted from 1 as the printed questionnaire numbers it (not
            checked against the items).

        Returns
        -------
        str
            ``<instrument id>_<number>``.
        """
        return f"{self.id}_{number}"

    @property
    def item_columns(self) -> list[str]:
        return [self.column(it.number) for it in self.items]

    def scale(self, scale_id: str) -> Scale:
        """A scale of this instrument by id (``total``, ``anxiety`` …).

        Parameters
        ----------
        scale_id : str
            The scale's id.

        Returns
        -------
        Scale
            Its items, method, range and missing-item rule.
        """
        return content.by_id(self.scales, scale_id, f"{self.id} has no scale {scale_id!r}")

    @property
    def safety_items(self) -> set[int]:
        return {n for rule in self.safety for n in rule.items}

    @property
    def output_columns(self) -> list[str]:
        """Every column :func:`score` adds, in order."""
        cols = [f"{self.id}_{s.id}" for s in self.scales]
        cols += [f"{self.id}_{b.id}" for b in self.bands]
        cols += [f"{self.id}_{c.id}" for c in self.cutoffs]
        for r in self.safety:
            cols += [f"{self.id}_{r.id}", f"{self.id}_{r.id}_unanswered"]
        return cols

    @property
    def configurable_thresholds(self) -> dict[str, float]:
        return {f"{self.id}_{c.id}": c.value for c in self.cutoffs if c.configurable}

    def with_variants(self, variants: str | Sequence[str] | None) -> Instrument:
        """The definition with named variants (from its ``variants:`` block) applied.

        Parameters
        ----------
        variants : str, sequence of str or None
            The variant names, applied in order; None or empty returns this definition.

        Returns
        -------
        Instrument
            A rebuilt, re-checked definition whose ``applied_variants`` names them.

        Raises
        ------
        DefinitionError
            A variant this definition does not have (its variants are listed).
        """
        if not variants:
            return self
        names = [variants] if isinstance(variants, str) else list(variants)
        raw = json.loads(json.dumps(self.raw))
        for name in names:
            if name not in self.variants:
                known = ", ".join(self.variants) or "none"
                raise DefinitionError(
                    f"unknown variant {name!r} (variants of {self.id}: {known})",
                    file=self.source_file, field="variants",
                )
            v = self.variants[name]
            if "item_order" in v:
                raw.setdefault("item_order", {})["version"] = v["item_order"]
            for num, change in (v.get("items") or {}).items():
                for it in raw["items"]:
                    if it["number"] == int(num):
                        it.pop("key", None)
                        it.update(change)
            for cid, value in (v.get("cutoffs") or {}).items():
                for c in raw.get("cutoffs", []):
                    if c["id"] == cid:
                        c["value"] = value
        inst = _build(raw, self.source_file)
        return replace(inst, applied_variants=tuple(self.applied_variants) + tuple(names))

    def form_order(self) -> list[int]:
        """Canonical item numbers at printed positions 1..n for this definition's item order.

        Returns
        -------
        list of int
            The item at each printed position (the published order unless a variant
            reorders the form).
        """
        order = self.item_order or {}
        version = order.get("version")
        alternatives = order.get("alternatives") or {}
        if version in alternatives:
            return list(alternatives[version])
        return [it.number for it in self.items]


def _score_value(v: Any) -> float:
    if isinstance(v, str):
        return float(Fraction(v))
    return float(v)


# -- loading -----------------------------------------------------------------------------------
def definition_schema() -> dict[str, Any]:
    """The JSON Schema of the definition format (a copy).

    Returns
    -------
    dict
        ``attunement/schemas/instrument.schema.json``.

    Examples
    --------
    >>> definition_schema()["$schema"]
    'https://json-schema.org/draft/2020-12/schema'
    """
    return content.schema("instrument")


def _schema_errors(data: Any, file: str) -> None:
    """The schema check; the error also says which item (by number) and which field."""
    try:
        content.validate(data, "instrument", file=file, error=DefinitionError)
    except DefinitionError as err:
        parts = list(err.parts)
        if len(parts) >= 2 and parts[0] == "items" and isinstance(parts[1], int):
            try:
                err.item = data["items"][parts[1]].get("number", f"#{parts[1] + 1}")
            except (KeyError, IndexError, AttributeError, TypeError):
                err.item = f"#{parts[1] + 1}"
            err.field = content.dotted(parts[2:]) or "items"
        raise


def _error(reason: str, *, file: str, item: int | None = None, field: str | None = None
           ) -> DefinitionError:
    """A definition error whose path is the dotted place (``items[5].key``, ``scales[1].items``);
    ``field`` keeps the scale's id for readers (``scales[1] (anxiety).items``)."""
    path = re.sub(r" \([^)]*\)", "", field or "")
    if isinstance(item, int) and path and not any(c in path for c in "[."):
        path = f"items[{item - 1}].{path}"  # items are numbered 1..n in order
    return DefinitionError(reason, file=file, item=item, field=field, path=path)


def _items(data: dict[str, Any], file: str) -> tuple[Item, ...]:
    """The items, each with the scores of its key; numbered 1..n in order."""
    keys = data.get("keys") or {}
    key_labels = data.get("option_labels") or {}
    items: list[Item] = []
    seen: set[int] = set()
    for raw in data["items"]:
        n = raw["number"]
        if n in seen:
            raise _error("duplicate item number", file=file, item=n, field="number")
        seen.add(n)
        if "key" in raw:
            if raw["key"] not in keys:
                raise _error(
                    f"unknown key {raw['key']!r} (keys defined: {', '.join(keys) or 'none'})",
                    file=file, item=n, field="key",
                )
            scores = keys[raw["key"]]
            labels = raw.get("option_labels") or key_labels.get(raw["key"]) or []
        else:
            scores = raw["scores"]
            labels = raw.get("option_labels") or []
        try:
            values = tuple(_score_value(s) for s in scores)
        except (ValueError, ZeroDivisionError) as exc:
            raise _error(f"bad score: {exc}", file=file, item=n, field="scores") from exc
        if "options" in raw and raw["options"] != len(values):
            raise _error(
                f"options is {raw['options']} but the key gives {len(values)} scores",
                file=file, item=n, field="scores",
            )
        if labels and len(labels) != len(values):
            raise _error(
                f"{len(labels)} option labels for {len(values)} options",
                file=file, item=n, field="option_labels",
            )
        items.append(
            Item(
                number=n, label=raw["label"], scores=values, option_labels=tuple(labels),
                scored=raw.get("scored", True), optional=raw.get("optional", False),
                note=raw.get("note", ""),
            )
        )
    numbers = [it.number for it in items]
    if numbers != list(range(1, len(items) + 1)):
        raise _error(
            f"items must be numbered 1..{len(items)} in order (got {numbers})",
            file=file, field="items",
        )
    return tuple(items)


def _scales(data: dict[str, Any], file: str, items: tuple[Item, ...]) -> tuple[Scale, ...]:
    """The scales: members exist and are scored, the range agrees with the keys."""
    by_number = {it.number: it for it in items}
    scales: list[Scale] = []
    for i, s in enumerate(data["scales"]):
        where = f"scales[{i}] ({s['id']})"
        members = (
            tuple(it.number for it in items if it.scored)
            if s["items"] == "all" else tuple(s["items"])
        )
        for n in members:
            if n not in by_number:
                raise _error(
                    f"scale {s['id']!r} lists item {n}, which does not exist",
                    file=file, item=n, field=f"{where}.items",
                )
            if not by_number[n].scored:
                raise _error(
                    f"scale {s['id']!r} lists unscored item {n}",
                    file=file, item=n, field=f"{where}.items",
                )
        if len(set(members)) != len(members):
            raise _error("an item is listed twice", file=file, field=f"{where}.items")
        lo = [min(by_number[n].scores) for n in members]
        hi = [max(by_number[n].scores) for n in members]
        if s["method"] == "sum":
            expect = (sum(lo), sum(hi))
        elif s["method"] == "mean":
            expect = (sum(lo) / len(lo), sum(hi) / len(hi))
        else:
            expect = (0.0, 1.0)
            if any(set(by_number[n].scores) - {0.0, 1.0} for n in members):
                raise _error(
                    "method 'any' needs items scored 0/1", file=file, field=f"{where}.method"
                )
        given = tuple(float(x) for x in s["range"])
        if any(abs(a - b) > 1e-6 for a, b in zip(given, expect, strict=True)):
            raise _error(
                f"range {list(s['range'])} disagrees with the item keys, which give "
                f"{_fmt(expect[0])}–{_fmt(expect[1])}",
                file=file, field=f"{where}.range",
            )
        miss = s.get("missing") or {"rule": "complete"}
        rule = MissingRule(
            rule=miss["rule"], max_missing=miss.get("max_missing", 0),
            research_only=miss.get("research_only", True), source=miss.get("source", ""),
        )
        if rule.rule == "prorate" and (rule.max_missing < 1 or s["method"] == "any"):
            raise _error(
                "prorating needs max_missing ≥ 1 and a sum or mean scale",
                file=file, field=f"{where}.missing",
            )
        scales.append(
            Scale(
                id=s["id"], label=s["label"], items=members, method=s["method"],
                range=(given[0], given[1]), missing=rule, higher_is=s.get("higher_is", ""),
                note=s.get("note", ""),
            )
        )
    return tuple(scales)


def _outputs(data: dict[str, Any], file: str, items: tuple[Item, ...], scales: tuple[Scale, ...]
             ) -> tuple[tuple[Band, ...], tuple[Cutoff, ...], tuple[SafetyRule, ...]]:
    """Bands, cut-offs and safety rules: named once, on real scales and items."""
    by_number = {it.number: it for it in items}
    scale_ids = [s.id for s in scales]
    outputs: set[str] = set(scale_ids)
    if len(outputs) != len(scale_ids):
        raise _error("duplicate scale id", file=file, field="scales")

    def _check_out(name: str, fld: str) -> None:
        if name in outputs or name.isdigit():
            raise _error(f"output name {name!r} is used twice", file=file, field=fld)
        outputs.add(name)

    def _on_scale(entry: Mapping[str, Any], fld: str) -> Scale:
        """A band or cut-off: its output name is new and its scale exists."""
        _check_out(entry["id"], fld + ".id")
        if entry["scale"] not in scale_ids:
            raise _error(f"unknown scale {entry['scale']!r}", file=file, field=fld + ".scale")
        return scales[scale_ids.index(entry["scale"])]

    bands: list[Band] = []
    for i, b in enumerate(data.get("bands") or []):
        fld = f"bands[{i}]"
        sc = _on_scale(b, fld)
        levels = tuple(BandLevel(lv["label"], float(lv["min"]), float(lv["max"])) for lv in b["levels"])
        if levels[0].min != sc.range[0] or levels[-1].max != sc.range[1]:
            raise _error(
                f"bands must cover the scale range {_fmt(sc.range[0])}–{_fmt(sc.range[1])}",
                file=file, field=fld + ".levels",
            )
        for a, c in itertools.pairwise(levels):
            if not (a.min <= a.max < c.min <= c.max):
                raise _error(
                    f"levels {a.label!r} and {c.label!r} overlap or are out of order",
                    file=file, field=fld + ".levels",
                )
        bands.append(Band(b["id"], b["scale"], levels, b["source"], b.get("label", ""),
                          b.get("evidence", "")))

    cutoffs: list[Cutoff] = []
    for i, c in enumerate(data.get("cutoffs") or []):
        fld = f"cutoffs[{i}]"
        sc = _on_scale(c, fld)
        if not sc.range[0] <= c["value"] <= sc.range[1]:
            raise _error(
                f"cut-off {c['value']} is outside the scale range "
                f"{_fmt(sc.range[0])}–{_fmt(sc.range[1])}",
                file=file, field=fld + ".value",
            )
        if c["evidence"] in ("[conflict]", "[unverified]") and not c["configurable"]:
            raise _error(
                f"a {c['evidence']} cut-off must be configurable", file=file,
                field=fld + ".configurable",
            )
        cutoffs.append(
            Cutoff(
                id=c["id"], scale=c["scale"], op=c["op"], value=float(c["value"]),
                label=c["label"], source=c["source"], evidence=c["evidence"],
                configurable=c["configurable"], note=c.get("note", ""),
                alternatives=tuple(c.get("alternatives") or ()),
            )
        )

    safety: list[SafetyRule] = []
    for i, r in enumerate(data.get("safety") or []):
        fld = f"safety[{i}]"
        _check_out(r["id"], fld + ".id")
        for n in r["items"]:
            if n not in by_number:
                raise _error(
                    f"safety rule {r['id']!r} names item {n}, which does not exist",
                    file=file, item=n, field=fld + ".items",
                )
            if by_number[n].optional:
                raise _error(
                    "a safety item cannot be optional", file=file, item=n, field=fld + ".items"
                )
        safety.append(
            SafetyRule(
                id=r["id"], items=tuple(r["items"]), op=r["op"], value=float(r["value"]),
                kind=r["kind"], label=r["label"], action=r["action"], source=r["source"],
                evidence=r["evidence"], note=r.get("note", ""),
            )
        )
    return tuple(bands), tuple(cutoffs), tuple(safety)


def _check_orders(data: dict[str, Any], file: str, items: tuple[Item, ...],
                  cutoffs: tuple[Cutoff, ...]) -> None:
    """Item orders are permutations; variants name real orders, items and cut-offs."""
    numbers = [it.number for it in items]
    by_number = {it.number: it for it in items}
    order = data.get("item_order")
    if order:
        for name, seq in (order.get("alternatives") or {}).items():
            if sorted(seq) != numbers:
                raise _error(
                    f"item order {name!r} must be a permutation of items 1..{len(numbers)}",
                    file=file, field=f"item_order.alternatives.{name}",
                )
    variants = data.get("variants") or {}
    for name, v in variants.items():
        alts = (order or {}).get("alternatives") or {}
        if "item_order" in v and v["item_order"] not in alts and v["item_order"] != (
            order or {}
        ).get("version"):
            raise _error(
                f"variant {name!r} names unknown item order {v['item_order']!r}",
                file=file, field=f"variants.{name}.item_order",
            )
        for num, change in (v.get("items") or {}).items():
            n = int(num)
            if n not in by_number:
                raise _error(
                    f"variant {name!r} changes item {n}, which does not exist",
                    file=file, item=n, field=f"variants.{name}.items",
                )
            if "scores" in change and len(change["scores"]) != by_number[n].n_options:
                raise _error(
                    f"variant {name!r} gives {len(change['scores'])} scores for "
                    f"{by_number[n].n_options} options",
                    file=file, item=n, field=f"variants.{name}.items.{n}.scores",
                )
        for cid in v.get("cutoffs") or {}:
            if cid not in {c.id for c in cutoffs}:
                raise _error(
                    f"variant {name!r} changes unknown cut-off {cid!r}",
                    file=file, field=f"variants.{name}.cutoffs",
                )


def _build(data: dict[str, Any], file: str) -> Instrument:
    """The :class:`Instrument` of a document that passed the schema, after the cross-checks."""
    items = _items(data, file)
    scales = _scales(data, file, items)
    bands, cutoffs, safety = _outputs(data, file, items, scales)
    _check_orders(data, file, items, cutoffs)
    order = data.get("item_order")
    variants = data.get("variants") or {}
    return Instrument(
        id=data["id"], name=data["name"], short_name=data.get("short_name", data["id"].upper()),
        version=str(data["version"]), kind=data["kind"], citation=data["citation"],
        licence=dict(data["licence"]), loinc=data.get("loinc"), respondent=data["respondent"],
        recall_period=data.get("recall_period"), items=tuple(items), scales=tuple(scales),
        bands=tuple(bands), cutoffs=tuple(cutoffs), safety=tuple(safety),
        description=data.get("description", ""), references=tuple(data.get("references") or ()),
        population=data.get("population", ""), item_order=order, variants=dict(variants),
        notes=tuple(data.get("notes") or ()), metadata=dict(data.get("metadata") or {}),
        source_file=file, raw=data,
    )


def parse_definition(data: Any, file: str = "<definition>") -> Instrument:
    """Validate an already-parsed definition (a dict) and build the :class:`Instrument`.

    Parameters
    ----------
    data : Any
        The parsed YAML document.
    file : str, default ``"<definition>"``
        The file name used in messages.

    Returns
    -------
    Instrument
        The definition.

    Raises
    ------
    DefinitionError
        Not a mapping, a schema problem or a failed cross-check (file, item and field named).

    Examples
    --------
    >>> parse_definition(["not", "a", "mapping"], "x.yaml")
    Traceback (most recent call last):
    ...
    attunement.content.DefinitionError: x.yaml: a definition must be a mapping
    """
    if not isinstance(data, dict):
        raise DefinitionError("a definition must be a mapping", file=file)
    _schema_errors(data, file)
    return _build(data, file)


def load_definition(path: str | Path) -> Instrument:
    """Load and validate one YAML definition file; errors name the file, item and field.

    Parameters
    ----------
    path : str or Path
        A definition file in the format of ``FORMAT.md``.

    Returns
    -------
    Instrument
        The validated definition.

    Examples
    --------
    >>> from importlib import resources
    >>> folder = resources.files("attunement.instruments").joinpath("definitions")
    >>> load_definition(folder.joinpath("epds.yaml")).short_name
    'EPDS'
    """
    path = Path(path)
    return parse_definition(content.load_yaml(path, error=DefinitionError), str(path))


# -- the bundle --------------------------------------------------------------------------------
_REGISTERED: dict[str, Instrument] = {}


@cache
def _bundled() -> dict[str, Instrument]:
    folder = resources.files("attunement.instruments").joinpath("definitions")
    found: dict[str, Instrument] = {}
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if entry.name.endswith((".yaml", ".yml")):
            with resources.as_file(entry) as p:
                inst = load_definition(p)
            if inst.id in found:
                raise DefinitionError(f"instrument id {inst.id!r} is defined twice", file=str(p))
            found[inst.id] = inst
    return found


@cache
def _bundled_file(instrument_id: str) -> Instrument | None:
    """Fast path: ``definitions/{id}.yaml`` alone, without loading the whole bundle."""
    if not instrument_id.isidentifier():
        return None
    entry = resources.files("attunement.instruments").joinpath("definitions",
                                                               f"{instrument_id}.yaml")
    if not entry.is_file():
        return None
    with resources.as_file(entry) as p:
        inst = load_definition(p)
    return inst if inst.id == instrument_id else None


def register_instrument(instrument: Instrument) -> None:
    """Make a (service-specific) definition available by id for this process.

    Parameters
    ----------
    instrument : Instrument
        The definition; it replaces a bundled one of the same id.

    Examples
    --------
    >>> from dataclasses import replace
    >>> register_instrument(replace(load_instrument("epds"), id="epds_local"))
    >>> load_instrument("epds_local").short_name
    'EPDS'
    >>> _ = _REGISTERED.pop("epds_local")
    """
    _REGISTERED[instrument.id] = instrument


def list_instruments() -> list[Instrument]:
    """Every bundled (and registered) instrument, ordered by id.

    Returns
    -------
    list of Instrument
        The definitions.

    Examples
    --------
    >>> [i.id for i in list_instruments()][:5]
    ['ace', 'ainsworthmcs', 'careindex', 'eas', 'epds']
    """
    merged = {**_bundled(), **_REGISTERED}
    return [merged[k] for k in sorted(merged)]


class _ShortNames(Mapping[str, str]):
    """Instrument id -> short name, read from the definitions when first asked."""

    def _names(self) -> dict[str, str]:
        return {i.id: i.short_name for i in list_instruments()}

    def __getitem__(self, instrument_id: str) -> str:
        return self._names()[instrument_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())


def short_names() -> Mapping[str, str]:
    """Each instrument's short name (``epds`` -> ``EPDS``) from its definition, read lazily.

    Returns
    -------
    Mapping
        Instrument id -> ``short_name`` of the bundled and registered definitions.

    Examples
    --------
    >>> short_names()["phq9"]
    'PHQ-9'
    """
    return _SHORT_NAMES


_SHORT_NAMES = _ShortNames()


def load_instrument(
    instrument_id: str | Instrument, *, variant: str | Sequence[str] | None = None
) -> Instrument:
    """The bundled definition ``instrument_id`` (e.g. ``"epds"``), optionally with variants.

    Parameters
    ----------
    instrument_id : str or Instrument
        An id (any case), or a definition to apply variants to.
    variant : str or sequence of str, optional
        Variants of the definition to apply.

    Returns
    -------
    Instrument
        The definition, with the variants applied.

    Raises
    ------
    UnknownInstrument
        No bundled or registered definition has this id (the known ids are listed).

    Examples
    --------
    >>> load_instrument("EPDS").name
    'Edinburgh Postnatal Depression Scale'
    >>> load_instrument("nope")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    attunement.instruments.errors.UnknownInstrument: unknown instrument 'nope'; known instruments: ace, ...
    """
    if isinstance(instrument_id, Instrument):
        return instrument_id.with_variants(variant)
    key = str(instrument_id).lower()
    if key in _REGISTERED:
        return _REGISTERED[key].with_variants(variant)
    single = _bundled_file(key)
    if single is not None:
        return single.with_variants(variant)
    merged = {**_bundled(), **_REGISTERED}
    if key not in merged:
        raise UnknownInstrument(str(instrument_id), sorted(merged))
    return merged[key].with_variants(variant)
