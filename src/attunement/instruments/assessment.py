"""Scoring one person's answers: a :class:`ScoredAssessment` with explained flags."""

from __future__ import annotations

import math
import threading
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from attunement.instruments.definition import (
    _REGISTERED,
    OP_TEXT,
    OPS,
    Instrument,
    Item,
    _fmt,
    load_instrument,
)
from attunement.instruments.engine import (
    FLOAT_TOLERANCE,
    ItemScores,
    _allowed_text,
    compute,
    convert_item,
    resolve_thresholds,
)
from attunement.instruments.errors import ScoringError
from attunement.instruments.frames import INPUTS


@dataclass(frozen=True)
class Flag:
    """A flag raised by a score: what, why (rule and value) and the published source.

    Parameters
    ----------
    id : str
        The output column of the rule (``phq9_self_harm``).
    kind : {"safety", "review", "safety_unanswered", "cutoff"}
        What raised it (an unanswered safety item is its own kind).
    label, reason, source : str
        What it means, the rule and value that raised it, and the rule's published source.

    Examples
    --------
    >>> a = score_responses("phq9", [0, 1, 2, 0, 0, 1, 0, 0, 1])
    >>> a.flags[0].id, a.flags[0].kind
    ('phq9_self_harm', 'safety')
    """

    id: str
    kind: str  # safety | safety_unanswered | cutoff | review
    label: str
    reason: str
    source: str


@dataclass
class ScoredAssessment:
    """One caregiver's answers to one instrument, scored.

    Parameters
    ----------
    instrument_id, version : str
        The instrument and its definition's version.
    scores : dict
        Output column name (``epds_total``, ``epds_possible_depression`` …) -> value; ``None``
        when it cannot be computed (a missing item).
    flags : list of Flag
        The flags raised.
    item_scores : list
        The keyed item scores in item order (``None`` = missing).
    input : {"scores", "positions"}
        What the answers were.
    thresholds : dict
        The cut-off overrides applied.
    variants : tuple of str
        The definition variants applied.

    Examples
    --------
    >>> a = score_responses("phq9", [0, 1, 2, 0, 0, 1, 0, 0, 1])
    >>> a.scores["phq9_total"], a.scores["phq9_severity"]
    (5, 'mild')
    """

    instrument_id: str
    version: str
    scores: dict[str, int | float | str | None]
    flags: list[Flag]
    item_scores: list[int | float | None] = field(default_factory=list)
    input: str = "scores"
    thresholds: dict[str, float] = field(default_factory=dict)
    variants: tuple[str, ...] = ()

    @property
    def urgent(self) -> bool:
        """True when any safety flag (or an unanswered safety item) was raised."""
        return any(f.kind in ("safety", "safety_unanswered") for f in self.flags)

    def flag(self, flag_id: str) -> Flag | None:
        """The flag with this id, if it was raised.

        Parameters
        ----------
        flag_id : str
            A safety, review or cut-off flag id of the instrument.

        Returns
        -------
        Flag or None
            None when this assessment did not raise it.
        """
        for f in self.flags:
            if f.id == flag_id:
                return f
        return None

    def to_dict(self) -> dict[str, Any]:
        """The scored assessment as stored: scores, flags and the keyed item scores.

        Returns
        -------
        dict
            ``instrument_id``, ``version``, ``scores``, ``flags``, ``item_scores``, ``input``,
            ``thresholds`` and ``variants``, all plain JSON values.
        """
        return {
            "instrument_id": self.instrument_id,
            "version": self.version,
            "scores": dict(self.scores),
            "flags": [f.__dict__.copy() for f in self.flags],
            "item_scores": list(self.item_scores),
            "input": self.input,
            "thresholds": dict(self.thresholds),
            "variants": list(self.variants),
        }


def _py(v: Any) -> int | float:
    f = float(v)
    return int(f) if f.is_integer() else round(f, 10)


def score_responses(
    instrument_id: str | Instrument,
    responses: Sequence[int | float | None] | Mapping[int, int | float | None],
    *,
    input: str = "scores",
    thresholds: Mapping[str, float] | None = None,
    variant: str | Sequence[str] | None = None,
) -> ScoredAssessment:
    """Score one set of answers (item order; ``None`` = not answered) with explained flags.

    Parameters
    ----------
    instrument_id : str or Instrument
        The instrument.
    responses : sequence or mapping
        Answers in item order, or item number -> answer; ``None`` = not answered.
    input : {"scores", "positions"}
        Keyed scores (default) or 1-based option positions.
    thresholds : mapping, optional
        A service's cut-off overrides (configurable cut-offs only).
    variant : str or sequence of str, optional
        Definition variants to apply.

    Returns
    -------
    ScoredAssessment
        The scores and the flags, each flag with its rule, value and source.

    Raises
    ------
    ScoringError
        A wrong number of answers, an unknown item, an answer that is not allowed, or a bad
        threshold (the message names the column).

    Examples
    --------
    >>> a = score_responses("epds", [1, 1, 2, 2, 1, 2, 1, 1, 1, 0])
    >>> a.scores["epds_total"], a.scores["epds_possible_depression"], a.flags[0].id
    (12, True, 'epds_possible_depression')
    """
    inst = _instrument(instrument_id, variant)
    if input not in INPUTS:
        raise ScoringError(f"input must be 'scores' or 'positions', got {input!r}", value=input)
    resolved = resolve_thresholds(inst, dict(thresholds) if thresholds else None)
    if isinstance(responses, Mapping):
        by_pos = {int(k): v for k, v in responses.items()}
        unknown = [k for k in by_pos if not 1 <= k <= inst.n_items]
        if unknown:
            raise ScoringError(
                f"{inst.short_name} has no item {unknown[0]}", column=inst.column(unknown[0])
            )
    else:
        if isinstance(responses, str | bytes):
            raise ScoringError("responses must be a sequence of item values, not a string")
        seq = list(responses)
        required = sum(1 for it in inst.items if not it.optional)
        if not required <= len(seq) <= inst.n_items:
            want = (f"{required}" if required == inst.n_items
                    else f"{required} to {inst.n_items}")
            raise ScoringError(
                f"{inst.short_name} needs {want} responses in item order, got {len(seq)}",
                value=len(seq),
            )
        by_pos = {i + 1: v for i, v in enumerate(seq)}
    plan = _plan(inst)
    if plan is not None and _fast_path:
        out, item_scores = _score_scalar(inst, plan, by_pos, input, resolved)
        flags = _flags(inst, out, item_scores, resolved)
        return ScoredAssessment(
            instrument_id=inst.id, version=inst.version, scores=out, flags=flags,
            item_scores=[item_scores[it.number] for it in inst.items], input=input,
            thresholds=resolved, variants=inst.applied_variants,
        )
    return _score_vectorised(inst, by_pos, input, resolved)


def _score_vectorised(
    inst: Instrument,
    by_pos: Mapping[int, Any],
    input: str,
    resolved: dict[str, float],
) -> ScoredAssessment:
    """The reference path: the vectorised engine on length-1 arrays, item by item."""
    order = inst.form_order()  # printed position -> canonical item
    scores: dict[int, np.ndarray] = {}
    missing: dict[int, np.ndarray | None] = {}
    item_scores: dict[int, int | float | None] = {}
    for pos, canonical in enumerate(order, start=1):
        it = inst.item(canonical)
        col = inst.column(pos)
        raw = by_pos.get(pos)
        if raw is not None and (isinstance(raw, bool) or not isinstance(raw, int | float
                                                                          | np.integer
                                                                          | np.floating)):
            raise ScoringError(f"non-numeric value {raw!r}", column=col, value=raw)
        value = np.array([np.nan if raw is None else float(raw)])
        sc, miss, bad, reasons = convert_item(it, value, None, input)
        if bad is not None:
            raise ScoringError((reasons or ["invalid value"])[0], column=col, value=raw)
        if it.scored:
            scores[canonical] = sc
            missing[canonical] = miss
        item_scores[canonical] = None if miss is not None else _py(sc[0])
    cols = compute(inst, ItemScores(n=1, scores=scores, missing=missing), resolved)
    out: dict[str, int | float | str | None] = {}
    for name, col in cols.items():
        if col.kind == "category":
            code = int(col.values[0])
            out[name] = None if code < 0 else col.categories[code]
        elif col.mask is not None and col.mask[0]:
            out[name] = None
        elif col.kind == "bool":
            out[name] = bool(col.values[0])
        elif col.kind == "float":
            out[name] = round(float(col.values[0]), 10)
        else:
            out[name] = int(col.values[0])
    flags = _flags(inst, out, item_scores, resolved)
    return ScoredAssessment(
        instrument_id=inst.id, version=inst.version, scores=out, flags=flags,
        item_scores=[item_scores[it.number] for it in inst.items], input=input,
        thresholds=resolved, variants=inst.applied_variants,
    )


def _flags(
    inst: Instrument,
    out: Mapping[str, Any],
    item_scores: Mapping[int, int | float | None],
    thresholds: Mapping[str, float],
) -> list[Flag]:
    flags: list[Flag] = []
    name = inst.short_name
    for rule in inst.safety:
        col = f"{inst.id}_{rule.id}"
        rule_text = f"{OP_TEXT[rule.op]} {_fmt(rule.value)}"
        if out.get(col) == 1:
            hits = [n for n in rule.items if item_scores[n] is not None
                    and _compare(rule.op, item_scores[n], rule.value)]
            said = ", ".join(f"item {n} scored {_fmt(item_scores[n])}" for n in hits)
            flags.append(Flag(
                id=col, kind=rule.kind, label=rule.label,
                reason=f"{name} {said} ({rule_text}): {rule.action}",
                source=rule.source,
            ))
        if out.get(f"{col}_unanswered"):
            gaps = [n for n in rule.items if item_scores[n] is None]
            which = " and ".join(f"item {n}" for n in gaps)
            flags.append(Flag(
                id=f"{col}_unanswered", kind="safety_unanswered",
                label=f"{rule.label}: not answered — ask directly",
                reason=f"{name} {which} ({rule.label.lower()}) not answered: ask directly; "
                       f"the rule ({rule_text}) cannot be checked",
                source=rule.source,
            ))
    for cut in inst.cutoffs:
        col = f"{inst.id}_{cut.id}"
        if out.get(col) is True:
            value = thresholds.get(col, cut.value)
            sc = inst.scale(cut.scale)
            configured = " (service threshold)" if col in thresholds else ""
            flags.append(Flag(
                id=col, kind="cutoff", label=cut.label,
                reason=f"{name} {sc.label} {_fmt(out[f'{inst.id}_{sc.id}'])} "
                       f"({cut.rule_text(value)}{configured}): {cut.label}",
                source=cut.source,
            ))
    return flags


def _compare(op: str, a: float, b: float) -> bool:
    from attunement.instruments.definition import OPS

    return bool(OPS[op](a, b))


# -- the scalar path ---------------------------------------------------------------------------
# One submission at a time (the platform's busiest write) through plain Python floats and ints,
# mirroring the vectorised engine operation by operation; it must give IDENTICAL results (a
# hypothesis test compares both on every bundled instrument). Definitions it cannot mirror
# exactly (keys outside int8, unsorted bands, unscored items in rules …) use the engine.

_fast_path = True  # tests switch this off to get the reference
_CACHE_LIMIT = 256
_cache_lock = threading.Lock()
_instruments: dict[tuple[str, tuple[str, ...]], tuple[Any, Instrument]] = {}
_plans: dict[int, tuple[Instrument, Any]] = {}


def _instrument(instrument_id: str | Instrument, variant: str | Sequence[str] | None) -> Instrument:
    """``load_instrument`` without rebuilding a variant's definition on every call."""
    if isinstance(instrument_id, Instrument) or not variant:
        return load_instrument(instrument_id, variant=variant)
    names = (variant,) if isinstance(variant, str) else tuple(variant)
    key = (str(instrument_id).lower(), names)
    registered = _REGISTERED.get(key[0])
    hit = _instruments.get(key)
    if hit is not None and hit[0] is registered:
        return hit[1]
    inst = load_instrument(instrument_id, variant=variant)
    with _cache_lock:
        if len(_instruments) >= _CACHE_LIMIT:
            _instruments.clear()
        _instruments[key] = (registered, inst)
    return inst


@dataclass(frozen=True)
class _ItemPlan:
    pos: int
    number: int
    item: Item
    column: str
    scored: bool
    integer_key: bool
    table: tuple[float, ...]
    lo: float
    hi: float
    allowed_int: frozenset[int] | None  # integer key with gaps: the allowed scores
    allowed: tuple[float, ...]  # sorted distinct key values (fractional keys)


def _plan(inst: Instrument) -> Any:
    hit = _plans.get(id(inst))
    if hit is not None and hit[0] is inst:
        return hit[1]
    plan = _build_plan(inst)
    with _cache_lock:
        if len(_plans) >= _CACHE_LIMIT:
            _plans.clear()
        _plans[id(inst)] = (inst, plan)  # holding inst keeps its id from being reused
    return plan


@dataclass(frozen=True)
class _Plan:
    items: tuple[_ItemPlan, ...]
    integer_key: bool  # every item's key is whole numbers (the engine then sums in int16)
    safety_items: frozenset[int]


def _build_plan(inst: Instrument) -> _Plan | None:
    items = []
    by_number = {it.number: it for it in inst.items}
    for pos, number in enumerate(inst.form_order(), start=1):
        it = by_number.get(number)
        if it is None:
            return None
        table = tuple(float(x) for x in it.scores)
        if not table:
            return None
        integer_key = it.integer_scores
        allowed_int = None
        allowed: tuple[float, ...] = ()
        if integer_key:
            if any(not -128 <= x <= 127 for x in table):
                return None  # the engine would wrap these in int8
            distinct = sorted({int(x) for x in table})
            if distinct != list(range(distinct[0], distinct[-1] + 1)):
                allowed_int = frozenset(distinct)
        else:
            allowed = tuple(sorted(set(table)))
            if len(allowed) < 2:
                return None
        items.append(_ItemPlan(pos, number, it, inst.column(pos), it.scored, integer_key, table,
                               min(table), max(table), allowed_int, allowed))
    scored = {p.number for p in items if p.scored}
    if len(items) != inst.n_items:
        return None
    for sc in inst.scales:
        if not sc.items or any(i not in scored for i in sc.items):
            return None
        if sum(max(abs(x) for x in by_number[i].scores) for i in sc.items) > 32000:
            return None  # the engine sums whole-number keys in int16
    if any(i not in scored for rule in inst.safety for i in rule.items):
        return None
    for band in inst.bands:
        mins = [lv.min for lv in band.levels]
        if mins != sorted(mins) or any(isinstance(m, float) and math.isnan(m) for m in mins):
            return None
    return _Plan(tuple(items), all(p.integer_key for p in items), frozenset(inst.safety_items))


def _convert_scalar(p: _ItemPlan, raw: Any, input: str) -> tuple[Any, bool]:
    """(keyed score, missing) of one answer, or ScoringError as ``convert_item`` raises it."""
    v = math.nan if raw is None else float(raw)
    if math.isnan(v):
        return (0 if p.integer_key else 0.0), True
    whole_needed = input == "positions" or p.integer_key
    bad = whole_needed and math.isfinite(v) and v != math.floor(v)  # ±inf: out of range
    lo, hi = (1, len(p.table)) if input == "positions" else (p.lo, p.hi)
    if not (v >= lo and v <= hi):
        bad = True
    score: Any
    if not bad:
        if input == "positions":
            value = p.table[int(v) - 1]
            score = int(value) if p.integer_key else value
        elif p.integer_key:
            if p.allowed_int is not None and int(v) not in p.allowed_int:
                bad = True
            score = int(v)
        else:
            allowed = p.allowed
            idx = min(max(bisect_left_float(allowed, v), 1), len(allowed) - 1)
            left, right = allowed[idx - 1], allowed[idx]
            nearest = left if abs(v - left) <= abs(right - v) else right
            if abs(nearest - v) > FLOAT_TOLERANCE:
                bad = True
            score = nearest
    if bad:
        text = _allowed_text(p.item, input)
        if whole_needed and not v.is_integer():
            reason = f"{v:g} is not a whole number ({text})"
        else:
            reason = f"{v:g} is out of range ({text})"
        raise ScoringError(reason, column=p.column, value=raw)
    return score, False


def bisect_left_float(seq: Sequence[float], x: float) -> int:
    """``np.searchsorted(seq, x)`` (side left) for a sorted tuple.

    Parameters
    ----------
    seq : sequence of float
        Sorted values.
    x : float
        The value to place.

    Returns
    -------
    int
        The leftmost index at which ``x`` could be inserted.

    Examples
    --------
    >>> bisect_left_float((1.0, 2.0, 3.0), 2.0)
    1
    """
    lo, hi = 0, len(seq)
    while lo < hi:
        mid = (lo + hi) // 2
        if seq[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _score_scalar(
    inst: Instrument,
    plan: _Plan,
    by_pos: Mapping[int, Any],
    input: str,
    thresholds: Mapping[str, float],
) -> tuple[dict[str, int | float | str | None], dict[int, int | float | None]]:
    scores: dict[int, Any] = {}
    missing: dict[int, bool] = {}
    item_scores: dict[int, int | float | None] = {}
    for p in plan.items:
        raw = by_pos.get(p.pos)
        if raw is not None and (isinstance(raw, bool) or not isinstance(raw, int | float
                                                                          | np.integer
                                                                          | np.floating)):
            raise ScoringError(f"non-numeric value {raw!r}", column=p.column, value=raw)
        sc, miss = _convert_scalar(p, raw, input)
        if p.scored:
            scores[p.number] = sc
            missing[p.number] = miss
        item_scores[p.number] = None if miss else _py(sc)
    integer_key = plan.integer_key
    out: dict[str, int | float | str | None] = {}
    # each scale: (value, masked) as the engine's Column would hold it
    scale_vals: dict[str, tuple[Any, bool]] = {}
    safety_items = plan.safety_items
    prefix = inst.id
    for sc in inst.scales:
        members = sc.items
        nmiss = sum(1 for i in members if missing[i])
        acc: Any = scores[members[0]] if integer_key else float(scores[members[0]])
        for i in members[1:]:
            acc = acc + scores[i]
        k = len(members)
        masked = False
        if sc.method == "any":
            value: Any = 1 if acc > 0 else 0
            masked = value == 0 and nmiss > 0
            kind = "int"
        else:
            prorate = sc.missing.rule == "prorate"
            if nmiss == 0:
                if sc.method == "mean":
                    value, kind = acc / k, "float"
                elif prorate:
                    value, kind = float(acc), "float"
                else:
                    value, kind = acc, "int" if integer_key else "float"
            elif prorate:
                safety_missing = any(i in safety_items and missing[i] for i in members)
                masked = nmiss > sc.missing.max_missing or nmiss >= k or safety_missing
                mean = acc / max(k - nmiss, 1)
                value, kind = (mean if sc.method == "mean" else mean * k), "float"
            else:
                masked = True
                if sc.method == "mean":
                    value, kind = acc / k, "float"
                else:
                    value, kind = acc, "int" if integer_key else "float"
        scale_vals[sc.id] = (value, masked)
        if masked:
            out[f"{prefix}_{sc.id}"] = None
        elif kind == "float":
            out[f"{prefix}_{sc.id}"] = round(float(value), 10)
        else:
            out[f"{prefix}_{sc.id}"] = int(value)
    for band in inst.bands:
        value, masked = scale_vals[band.scale]
        code = bisect_right([lv.min for lv in band.levels], value) - 1
        out[f"{prefix}_{band.id}"] = None if masked or code < 0 else band.levels[code].label
    for cut in inst.cutoffs:
        value, masked = scale_vals[cut.scale]
        limit = thresholds.get(f"{prefix}_{cut.id}", cut.value)
        out[f"{prefix}_{cut.id}"] = None if masked else bool(OPS[cut.op](value, limit))
    for rule in inst.safety:
        hit = False
        unanswered = False
        for i in rule.items:
            if missing[i]:
                unanswered = True
            elif OPS[rule.op](scores[i], rule.value):
                hit = True
        out[f"{prefix}_{rule.id}"] = None if (not hit and unanswered) else int(hit)
        out[f"{prefix}_{rule.id}_unanswered"] = unanswered
    return out, item_scores
