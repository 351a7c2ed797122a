"""Scoring one person's answers: a :class:`ScoredAssessment` with explained flags."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from attunement.instruments.definition import OP_TEXT, Instrument, _fmt, load_instrument
from attunement.instruments.engine import ItemScores, compute, convert_item, resolve_thresholds
from attunement.instruments.errors import ScoringError
from attunement.instruments.frames import INPUTS


@dataclass(frozen=True)
class Flag:
    """A flag raised by a score: what, why (rule and value) and the published source."""

    id: str
    kind: str  # safety | safety_unanswered | cutoff | review
    label: str
    reason: str
    source: str


@dataclass
class ScoredAssessment:
    """One caregiver's answers to one instrument, scored.

    ``scores`` is keyed by output column name (``epds_total``, ``epds_possible_depression`` …);
    a value is ``None`` when it cannot be computed (a missing item). ``item_scores`` are the keyed
    item scores in item order (``None`` = missing).
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
        for f in self.flags:
            if f.id == flag_id:
                return f
        return None

    def to_dict(self) -> dict[str, Any]:
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

    Examples
    --------
    >>> a = score_responses("epds", [1, 1, 2, 2, 1, 2, 1, 1, 1, 0])
    >>> a.scores["epds_total"], a.scores["epds_possible_depression"], a.flags[0].id
    (12, True, 'epds_possible_depression')
    """
    inst = load_instrument(instrument_id, variant=variant)
    if input not in INPUTS:
        raise ScoringError(f"input must be 'scores' or 'positions', got {input!r}", value=input)
    resolved = resolve_thresholds(inst, dict(thresholds) if thresholds else None)
    order = inst.form_order()  # printed position -> canonical item
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
