"""The vectorised scoring engine: NumPy over one array per item, no per-row Python.

``convert_items`` validates raw input (keyed scores or 1-based option positions) and turns each
item column into keyed scores plus a missing mask; ``compute`` derives scales, bands, cut-off
flags and safety flags. Both DataFrame scoring and single-response scoring go through here, so
there is exactly one implementation of every rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from attunement.instruments.definition import OPS, Instrument, Item, _fmt
from attunement.instruments.errors import ScoringError

FLOAT_TOLERANCE = 0.01  # how close a fractional keyed score must be to an allowed one (MPAS)


@dataclass
class Column:
    """One output column: values, missing mask (True = no value) and logical kind.

    Parameters
    ----------
    values : numpy.ndarray
        One value per row.
    mask : numpy.ndarray or None
        True where there is no value; None when every row has one.
    kind : {"int", "float", "bool", "category"}
        The logical type.
    categories : tuple of str
        The labels of a ``category`` column (values are their indices).

    Examples
    --------
    >>> import numpy as np
    >>> Column(np.array([1.0]), None, "float").kind
    'float'
    """

    values: np.ndarray
    mask: np.ndarray | None
    kind: str  # int | float | bool | category
    categories: tuple[str, ...] = ()


@dataclass
class ItemScores:
    """Keyed item scores for n rows (canonical item order) plus what was wrong with the input.

    Parameters
    ----------
    n : int
        The number of rows.
    scores : dict
        Item number -> keyed scores (0 where missing or bad).
    missing : dict
        Item number -> missing mask, or None when none is missing.
    bad : numpy.ndarray, optional
        Rows with a bad cell.
    problems : list
        ``(rows, column, values, reasons)`` per item column with bad cells.

    Examples
    --------
    >>> import numpy as np
    >>> from attunement.instruments.definition import load_instrument
    >>> items = ItemScores(2, {n: np.array([1, 2], dtype=np.int8) for n in range(1, 11)},
    ...                    {n: None for n in range(1, 11)})
    >>> compute(load_instrument("epds"), items)["epds_total"].values.tolist()
    [10, 20]
    """

    n: int
    scores: dict[int, np.ndarray]
    missing: dict[int, np.ndarray | None]
    bad: np.ndarray | None = None  # rows with any invalid cell
    problems: list[tuple[np.ndarray, str, np.ndarray, list[str]]] = field(default_factory=list)
    # each problem: (rows, column name, raw values at those rows, reasons)

    def take(self, rows: np.ndarray) -> ItemScores:
        """The item scores of some rows only (problems and bad-row marks are not carried over).

        Parameters
        ----------
        rows : numpy.ndarray
            Row positions (or a boolean mask) to keep.

        Returns
        -------
        ItemScores
            The scores and missing masks of those rows.
        """
        return ItemScores(
            n=len(rows),
            scores={k: v[rows] for k, v in self.scores.items()},
            missing={k: (None if m is None else m[rows]) for k, m in self.missing.items()},
        )


def _allowed_text(item: Item, input: str) -> str:
    if input == "positions":
        return f"positions 1–{item.n_options}"
    vals = sorted(set(item.scores))
    if item.integer_scores and vals == list(range(int(vals[0]), int(vals[-1]) + 1)):
        return f"scores {_fmt(vals[0])}–{_fmt(vals[-1])}"
    return "scores " + ", ".join(f"{v:.4g}" for v in vals)


def convert_item(
    item: Item,
    values: np.ndarray,
    missing: np.ndarray | None,
    input: str,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, list[str] | None]:
    """Validate one item column and return (keyed scores, missing, bad-row mask, reasons).

    ``values`` is numeric (int or float; NaN marks missing in floats). Keyed scores are int8 when
    the item's key is whole numbers, else float64; missing and bad cells hold 0.

    Parameters
    ----------
    item : Item
        The item definition.
    values : numpy.ndarray
        The raw column.
    missing : numpy.ndarray or None
        Cells already known to be missing.
    input : {"scores", "positions"}
        Keyed scores, or 1-based option positions.

    Returns
    -------
    tuple
        ``(keyed scores, missing mask or None, bad-row mask or None, reasons or None)``.

    Examples
    --------
    >>> import numpy as np
    >>> from attunement.instruments.definition import load_instrument
    >>> keyed, missing, bad, reasons = convert_item(load_instrument("epds").item(1),
    ...                                             np.array([0, 3, 9.0]), None, "scores")
    >>> keyed.tolist(), bad.tolist(), reasons
    ([0, 3, 0], [False, False, True], ['9 is out of range (scores 0–3)'])
    """
    n = len(values)
    kind = values.dtype.kind
    if kind == "f":
        nan = np.isnan(values)
        if nan.any():
            missing = nan if missing is None else (missing | nan)
    elif kind not in "iu":
        raise TypeError(f"numeric array expected, got {values.dtype}")
    has_missing = missing is not None and bool(missing.any())
    if not has_missing:
        missing = None
    table = np.asarray(item.scores, dtype=np.float64)
    integer_key = item.integer_scores
    out_dtype = np.int8 if integer_key else np.float64

    # whole-number check (positions always; scores when the key is whole numbers)
    whole_needed = input == "positions" or integer_key
    bad = None
    if kind == "f" and whole_needed:
        with np.errstate(invalid="ignore"):
            frac = values != np.floor(values)
        if missing is not None:
            frac &= ~missing
        if frac.any():
            bad = frac

    if input == "positions":
        lo, hi = 1, item.n_options
    else:
        lo, hi = table.min(), table.max()
    # fast range check
    if kind in "iu":
        in_range_fast = n == 0 or (values.min() >= lo and values.max() <= hi)
    else:
        with np.errstate(invalid="ignore"):
            in_range_fast = n == 0 or (
                bool(np.nanmin(values) >= lo and np.nanmax(values) <= hi)
                if missing is None or not missing.all() else True
            )
    if not in_range_fast:
        with np.errstate(invalid="ignore"):
            oor = (values < lo) | (values > hi)
        if missing is not None:
            oor &= ~missing
        bad = oor if bad is None else (bad | oor)

    if input == "positions":
        codes = values
        if kind == "f" or missing is not None or bad is not None:
            safe = np.where(_valid(values, missing, bad), values, 1)
            codes = safe.astype(np.int64)
        lut = table.astype(out_dtype)
        step = table[1] - table[0]
        linear = integer_key and step in (1, -1) and np.array_equal(
            table, table[0] + step * np.arange(item.n_options)
        )
        if linear and codes.dtype.kind in "iu":
            # keys such as 0,1,2,3 or 3,2,1,0: arithmetic on the small ints, no gather
            wide = codes.astype(np.int16)
            scores = (int(table[0] - step) + int(step) * wide).astype(np.int8)
        else:
            scores = lut[np.asarray(codes, dtype=np.intp) - 1]
    elif integer_key:
        allowed = np.unique(table).astype(np.int64)
        contiguous = np.array_equal(allowed, np.arange(allowed[0], allowed[-1] + 1))
        if not contiguous:
            notin = ~np.isin(values, allowed)
            if missing is not None:
                notin &= ~missing
            if bad is not None:
                notin &= ~bad
            if notin.any():
                bad = notin if bad is None else (bad | notin)
        if kind in "iu" and bad is None:
            scores = values.astype(np.int8, copy=False)
        else:
            scores = np.where(_valid(values, missing, bad), values, 0).astype(np.int8)
    else:
        allowed = np.unique(table)
        filled = np.where(_valid(values, missing, bad), values, allowed[0]).astype(np.float64)
        idx = np.clip(np.searchsorted(allowed, filled), 1, len(allowed) - 1)
        left, right = allowed[idx - 1], allowed[idx]
        nearest = np.where(np.abs(filled - left) <= np.abs(right - filled), left, right)
        off = np.abs(nearest - filled) > FLOAT_TOLERANCE
        if off.any():
            bad = off if bad is None else (bad | off)
        scores = np.where(off, 0.0, nearest)

    if missing is not None or bad is not None:
        zero = np.zeros(1, dtype=scores.dtype)
        scores = np.where(_valid(values, missing, bad), scores, zero)
    reasons = None
    if bad is not None and bad.any():
        rows = np.flatnonzero(bad)
        reasons = []
        allowed_text = _allowed_text(item, input)
        for v in values[rows]:
            fv = float(v)
            if whole_needed and not fv.is_integer():
                reasons.append(f"{fv:g} is not a whole number ({allowed_text})")
            else:
                reasons.append(f"{fv:g} is out of range ({allowed_text})")
    else:
        bad = None
    return scores, missing, bad, reasons


def _valid(values: np.ndarray, missing: np.ndarray | None, bad: np.ndarray | None) -> np.ndarray:
    ok = np.ones(len(values), dtype=bool)
    if missing is not None:
        ok &= ~missing
    if bad is not None:
        ok &= ~bad
    return ok


def _op_array(op: str, a: np.ndarray, value: float) -> np.ndarray:
    return OPS[op](a, value)


def compute(
    inst: Instrument, items: ItemScores, thresholds: dict[str, float] | None = None
) -> dict[str, Column]:
    """Scales, bands, cut-off flags and safety flags for every row, keyed by output column.

    Parameters
    ----------
    inst : Instrument
        The definition.
    items : ItemScores
        Keyed item scores (:func:`convert_item`).
    thresholds : dict, optional
        Resolved cut-off overrides (:func:`resolve_thresholds`).

    Returns
    -------
    dict
        Output column name -> :class:`Column`.

    Examples
    --------
    >>> import numpy as np
    >>> from attunement.instruments.definition import load_instrument
    >>> items = ItemScores(1, {n: np.array([1], dtype=np.int8) for n in range(1, 11)},
    ...                    {n: None for n in range(1, 11)})
    >>> out = compute(load_instrument("epds"), items)
    >>> out["epds_total"].values.tolist(), out["epds_possible_depression"].values.tolist()
    ([10], [True])
    """
    n = items.n
    thresholds = thresholds or {}
    out: dict[str, Column] = {}
    scale_cols: dict[str, Column] = {}
    safety_items = inst.safety_items
    integer_key = all(it.integer_scores for it in inst.items)
    for sc in inst.scales:
        members = sc.items
        masks = [items.missing[i] for i in members if items.missing[i] is not None]
        nmiss = None
        if masks:
            nmiss = masks[0].astype(np.int16)
            for m in masks[1:]:
                nmiss += m
        acc_dtype = np.int16 if integer_key else np.float64
        acc = items.scores[members[0]].astype(acc_dtype)
        for i in members[1:]:
            np.add(acc, items.scores[i], out=acc, casting="unsafe")
        k = len(members)
        if sc.method == "any":
            values = (acc > 0).astype(np.int8)
            mask = None if nmiss is None else ((values == 0) & (nmiss > 0))
            col = Column(values, mask, "int")
        else:
            prorate = sc.missing.rule == "prorate"
            if nmiss is None:
                if sc.method == "mean":
                    col = Column(acc / k, None, "float")
                elif prorate:
                    col = Column(acc.astype(np.float64), None, "float")
                else:
                    col = Column(acc, None, "int" if integer_key else "float")
            elif prorate:
                safety_missing = np.zeros(n, dtype=bool)
                for i in members:
                    if i in safety_items and items.missing[i] is not None:
                        safety_missing |= items.missing[i]
                mask = (nmiss > sc.missing.max_missing) | (nmiss >= k) | safety_missing
                answered = np.maximum(k - nmiss, 1)
                mean = acc / answered
                col = Column(mean if sc.method == "mean" else mean * k, mask, "float")
            else:
                mask = nmiss > 0
                if sc.method == "mean":
                    col = Column(acc / k, mask, "float")
                else:
                    col = Column(acc, mask, "int" if integer_key else "float")
        scale_cols[sc.id] = col
        out[f"{inst.id}_{sc.id}"] = col
    for band in inst.bands:
        sc = scale_cols[band.scale]
        mins = np.array([lv.min for lv in band.levels])
        codes = (np.searchsorted(mins, sc.values, side="right") - 1).astype(np.int8)
        if sc.mask is not None:
            codes[sc.mask] = -1
        out[f"{inst.id}_{band.id}"] = Column(
            codes, None, "category", tuple(lv.label for lv in band.levels)
        )
    for cut in inst.cutoffs:
        sc = scale_cols[cut.scale]
        value = thresholds.get(f"{inst.id}_{cut.id}", cut.value)
        out[f"{inst.id}_{cut.id}"] = Column(_op_array(cut.op, sc.values, value), sc.mask, "bool")
    for rule in inst.safety:
        hit = np.zeros(n, dtype=bool)
        unanswered = np.zeros(n, dtype=bool)
        for i in rule.items:
            h = _op_array(rule.op, items.scores[i], rule.value)
            m = items.missing[i]
            if m is not None:
                h &= ~m
                unanswered |= m
            hit |= h
        mask = (~hit & unanswered) if unanswered.any() else None
        out[f"{inst.id}_{rule.id}"] = Column(hit.astype(np.int8), mask, "int")
        out[f"{inst.id}_{rule.id}_unanswered"] = Column(unanswered, None, "bool")
    return out


def resolve_thresholds(inst: Instrument, thresholds: dict[str, float] | None) -> dict[str, float]:
    """Check a service's threshold overrides: only configurable cut-offs, never safety rules.

    Parameters
    ----------
    inst : Instrument
        The definition.
    thresholds : dict or None
        Cut-off id (or output column) -> value.

    Returns
    -------
    dict
        Output column -> value.

    Raises
    ------
    ScoringError
        An unknown or non-configurable cut-off, a safety rule, or a value outside the scale.

    Examples
    --------
    >>> from attunement.instruments.definition import load_instrument
    >>> resolve_thresholds(load_instrument("epds"), {"possible_depression": 11})
    {'epds_possible_depression': 11.0}
    >>> resolve_thresholds(load_instrument("epds"), {"self_harm": 1})
    Traceback (most recent call last):
    ...
    attunement.instruments.errors.ScoringError: column epds_self_harm: epds_self_harm is a safety rule: it cannot be changed or switched off by thresholds
    """
    if not thresholds:
        return {}
    resolved: dict[str, float] = {}
    cutoffs = {f"{inst.id}_{c.id}": c for c in inst.cutoffs}
    safety = {f"{inst.id}_{r.id}" for r in inst.safety}
    for name, value in thresholds.items():
        full = name if name.startswith(f"{inst.id}_") else f"{inst.id}_{name}"
        if full in safety:
            raise ScoringError(
                f"{full} is a safety rule: it cannot be changed or switched off by thresholds",
                column=full, value=value,
            )
        if full not in cutoffs:
            known = ", ".join(inst.configurable_thresholds) or "none"
            raise ScoringError(
                f"unknown threshold {name!r} for {inst.id} (configurable: {known})",
                column=name, value=value,
            )
        cut = cutoffs[full]
        if not cut.configurable:
            raise ScoringError(
                f"{full} is not configurable in the {inst.id} definition", column=full, value=value
            )
        try:
            v = float(value)
        except (TypeError, ValueError) as exc:
            raise ScoringError(f"threshold must be a number, got {value!r}", column=full,
                               value=value) from exc
        sc = inst.scale(cut.scale)
        if not sc.range[0] <= v <= sc.range[1]:
            raise ScoringError(
                f"threshold {v:g} is outside the {sc.id} range {_fmt(sc.range[0])}–"
                f"{_fmt(sc.range[1])}", column=full, value=value,
            )
        resolved[full] = v
    return resolved
