"""DataFrame scoring: pandas or polars in, the same kind out.

``score(instrument_id, data)`` reads item columns ``{id}_{n}`` (1-based item numbers), adds the
output columns ``{id}_{scale}``, bands, cut-off flags and safety flags, and passes every other
column through unchanged. Output dtypes do not depend on the data: whole-number scales are
nullable integers, means nullable floats, bands categoricals, cut-off flags nullable booleans,
safety flags 0/1 nullable ``Int8`` (missing when the item was not answered) with a boolean
``*_unanswered`` companion.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from attunement.instruments.definition import Instrument, load_instrument
from attunement.instruments.engine import (
    Column,
    ItemScores,
    compute,
    convert_item,
    resolve_thresholds,
)
from attunement.instruments.errors import ScoringError

INPUTS = ("scores", "positions")


@dataclass
class ScoringResult:
    """What ``score(..., on_error="report")`` returns.

    Parameters
    ----------
    scored : DataFrame
        The good rows, scored (same kind as the input; pandas keeps the original index).
    errors : DataFrame
        One row per bad cell with columns ``row`` (0-based data row), ``column``, ``value`` and
        ``reason`` (pandas or polars, like the input).
    bad_rows : DataFrame
        The rejected input rows unchanged, with ``row`` and ``reason`` in front.

    Examples
    --------
    >>> import pandas as pd
    >>> data = pd.DataFrame({f"phq9_{n}": [0, 9 if n == 1 else 0] for n in range(1, 10)})
    >>> r = score("phq9", data, on_error="report")
    >>> len(r.scored), r.errors[["row", "column", "reason"]].to_dict("records")
    (1, [{'row': 1, 'column': 'phq9_1', 'reason': '9 is out of range (scores 0–3)'}])
    """

    scored: Any
    errors: Any
    bad_rows: Any

    @property
    def n_bad(self) -> int:
        return len(self.bad_rows)


def _is_polars(data: Any) -> bool:
    mod = type(data).__module__
    return mod.startswith("polars")


def _is_pandas(data: Any) -> bool:
    mod = type(data).__module__
    return mod.startswith("pandas")


def _column_arrays(data: Any, name: str, polars: bool) -> tuple[np.ndarray, np.ndarray | None,
                                                                   np.ndarray | None, list[str]]:
    """(numeric values, missing mask, non-numeric mask, raw values as text for bad rows)."""
    if polars:
        import polars as pl

        s = data.get_column(name)
        dt = s.dtype
        if dt == pl.Boolean:
            return _all_bad(len(s), "true/false is not a score or position")
        if dt.is_integer():
            if s.null_count() == 0:
                return s.to_numpy(), None, None, []
            return s.cast(pl.Float64).to_numpy(), None, None, []
        if dt.is_float():
            return s.fill_null(float("nan")).to_numpy(), None, None, []
        if dt in (pl.Utf8, pl.String, pl.Categorical) or dt == pl.Null:
            text = s.cast(pl.Utf8).str.strip_chars()
            text = text.set(text == "", None) if len(text) else text
            num = text.cast(pl.Float64, strict=False)
            nonnum = (num.is_null() & text.is_not_null()).to_numpy()
            return num.fill_null(float("nan")).to_numpy(), None, nonnum if nonnum.any() else None, []
        return _all_bad(len(s), f"unsupported column type {dt}")
    import pandas as pd

    s = data[name]
    if isinstance(s, pd.DataFrame):
        raise ScoringError("the column name appears more than once", column=name)
    dt = s.dtype
    if pd.api.types.is_bool_dtype(dt):
        return _all_bad(len(s), "true/false is not a score or position")
    if isinstance(dt, np.dtype) and dt.kind in "iuf":
        return s.to_numpy(), None, None, []
    if pd.api.types.is_numeric_dtype(dt):  # nullable Int / Float extension arrays
        return s.to_numpy(dtype="float64", na_value=np.nan), None, None, []
    text = s.astype("string").str.strip()
    text = text.mask(text == "")
    num = pd.to_numeric(text, errors="coerce")
    nonnum = (num.isna() & text.notna()).to_numpy()
    return (num.to_numpy(dtype="float64", na_value=np.nan), None,
            nonnum if nonnum.any() else None, [])


def _all_bad(n: int, reason: str) -> tuple[np.ndarray, None, np.ndarray, list[str]]:
    return np.zeros(n), None, np.ones(n, dtype=bool), [reason]


def _raw_value(data: Any, name: str, row: int, polars: bool) -> Any:
    if polars:
        return data.get_column(name)[row]
    return data[name].iloc[row]


def _item_columns(inst: Instrument) -> dict[int, str]:
    """Canonical item number -> input column, honouring the form's printed item order."""
    order = inst.form_order()
    return {canonical: inst.column(pos) for pos, canonical in enumerate(order, start=1)}


def convert_frame(
    inst: Instrument, data: Any, input: str, polars: bool
) -> tuple[ItemScores, list[tuple[int, str, Any, str]]]:
    """Validate every item column; return keyed item scores and the list of bad cells.

    Parameters
    ----------
    inst : Instrument
        The definition.
    data : DataFrame
        pandas or polars, one column per item (``epds_1`` …).
    input : {"scores", "positions"}
        Keyed scores, or 1-based option positions.
    polars : bool
        Whether ``data`` is a polars DataFrame.

    Returns
    -------
    tuple
        ``(ItemScores, bad cells as (row, column, value, reason))``.

    Raises
    ------
    ScoringError
        An item column is missing.

    Examples
    --------
    >>> import pandas as pd
    >>> from attunement.instruments.definition import load_instrument
    >>> data = pd.DataFrame({f"phq9_{n}": [0, 9 if n == 1 else 0] for n in range(1, 10)})
    >>> items, bad = convert_frame(load_instrument("phq9"), data, "scores", False)
    >>> items.n, [(row, column, reason) for row, column, _value, reason in bad]
    (2, [(1, 'phq9_1', '9 is out of range (scores 0–3)')])
    """
    if input not in INPUTS:
        raise ScoringError(f"input must be 'scores' or 'positions', got {input!r}", value=input)
    columns = list(data.columns)
    n = data.height if polars else len(data)
    mapping = _item_columns(inst)
    missing_cols = [
        mapping[it.number] for it in inst.items if mapping[it.number] not in columns
        and not it.optional
    ]
    if missing_cols:
        more = len(missing_cols) - 1
        raise ScoringError(
            f"missing item column for {inst.short_name} (expected {', '.join(missing_cols)})"
            if more else f"missing item column for {inst.short_name}",
            column=missing_cols[0], more=0,
        )
    scores: dict[int, np.ndarray] = {}
    missing: dict[int, np.ndarray | None] = {}
    problems: list[tuple[int, str, Any, str]] = []
    bad_any: np.ndarray | None = None
    for it in inst.items:
        col = mapping[it.number]
        if col not in columns:
            continue
        values, miss, nonnum, fixed = _column_arrays(data, col, polars)
        if nonnum is not None:
            rows = np.flatnonzero(nonnum)
            for r in rows:
                raw = _raw_value(data, col, int(r), polars)
                reason = fixed[0] if fixed else f"non-numeric value {raw!r}"
                problems.append((int(r), col, raw, reason))
            values = values.astype(np.float64, copy=True)
            values[nonnum] = 1.0 if input == "positions" else float(min(it.scores))
        sc, miss, bad, reasons = convert_item(it, values, miss, input)
        if bad is not None:
            rows = np.flatnonzero(bad)
            for r, why in zip(rows, reasons or [], strict=True):
                problems.append((int(r), col, _raw_value(data, col, int(r), polars), why))
        if nonnum is not None:
            bad = nonnum if bad is None else (bad | nonnum)
        if bad is not None:
            bad_any = bad if bad_any is None else (bad_any | bad)
        if it.scored:
            scores[it.number] = sc
            missing[it.number] = miss
    problems.sort(key=lambda p: (p[0], columns.index(p[1])))
    return ItemScores(n=n, scores=scores, missing=missing, bad=bad_any), problems


def _pandas_column(col: Column) -> Any:
    import pandas as pd

    if col.kind == "category":
        return pd.Categorical.from_codes(col.values, categories=list(col.categories))
    mask = col.mask if col.mask is not None else np.zeros(len(col.values), dtype=bool)
    if col.kind == "bool":
        return pd.arrays.BooleanArray(np.asarray(col.values, dtype=bool), mask)
    if col.kind == "float":
        return pd.arrays.FloatingArray(np.asarray(col.values, dtype=np.float64), mask)
    return pd.arrays.IntegerArray(col.values, mask)


def _polars_series(name: str, col: Column) -> Any:
    import polars as pl
    import pyarrow as pa

    if col.kind == "category":
        codes = pa.array(col.values, mask=col.values < 0, type=pa.int8())
        arr = pa.DictionaryArray.from_arrays(codes, pa.array(list(col.categories)))
        return pl.Series(name, arr.cast(pa.dictionary(pa.uint32(), pa.large_string())))
    if col.mask is None or not col.mask.any():
        return pl.Series(name, col.values)
    return pl.Series(name, pa.array(col.values, mask=col.mask))


def _assemble(data: Any, cols: dict[str, Column], polars: bool) -> Any:
    clash = [c for c in cols if c in list(data.columns)]
    if clash:
        raise ScoringError(
            "the input already has this output column; drop or rename it before scoring",
            column=clash[0],
        )
    if polars:
        return data.with_columns([_polars_series(k, v) for k, v in cols.items()])
    import pandas as pd

    new = pd.DataFrame(
        {k: _pandas_column(v) for k, v in cols.items()}, index=data.index, copy=False
    )
    return pd.concat([data, new], axis=1)


def score(
    instrument_id: str | Instrument,
    data: Any,
    *,
    input: str = "scores",
    thresholds: Mapping[str, float] | None = None,
    on_error: str = "raise",
    variant: str | Sequence[str] | None = None,
    item_scores: bool = False,
) -> Any:
    """Score a questionnaire for every row of a pandas or polars DataFrame.

    Parameters
    ----------
    instrument_id : bundled id such as ``"epds"`` (or an :class:`Instrument`).
    data : DataFrame with item columns ``{id}_1`` … (keyed scores, or option positions).
    input : ``"scores"`` (default) or ``"positions"`` (1-based option as printed on the form).
    thresholds : overrides of configurable cut-offs, e.g. ``{"epds_possible_depression": 11}``.
        Safety rules cannot be changed.
    on_error : ``"raise"`` (default): the first bad cell raises :class:`ScoringError`
        ("row N, column C: why"); ``"report"``: returns a :class:`ScoringResult` with the good
        rows scored and every bad cell listed. A missing item column, an unknown instrument or
        a bad threshold always raise.
    variant : named definition variant(s), e.g. PBQ ``"order_2001"`` or MPAS ``"manual_rounded"``.
    item_scores : also add the keyed score of every scored item as ``{id}_{n}_score`` (useful
        with positions input, to store both the raw position and the keyed score).

    Returns
    -------
    A DataFrame of the same kind: the input columns unchanged plus the output columns.
    A Dask DataFrame is scored partition by partition with this same function (lazily; only
    ``on_error="raise"``, and a row number in an error counts from the start of its partition).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"id": ["a"], **{f"epds_{i}": [1] for i in range(1, 11)}})
    >>> out = score("epds", df)
    >>> int(out.loc[0, "epds_total"]), int(out.loc[0, "epds_self_harm"])
    (10, 1)
    """
    if on_error not in ("raise", "report"):
        raise ScoringError(f"on_error must be 'raise' or 'report', got {on_error!r}")
    inst = load_instrument(instrument_id, variant=variant)
    if type(data).__module__.startswith("dask"):
        return _score_dask(inst, data, input=input, thresholds=thresholds, on_error=on_error)
    polars = _is_polars(data)
    if not polars and not _is_pandas(data):
        raise TypeError(f"score() takes a pandas or polars DataFrame, not {type(data).__name__}")
    resolved = resolve_thresholds(inst, dict(thresholds) if thresholds else None)
    items, problems = convert_frame(inst, data, input, polars)
    if problems and on_error == "raise":
        row, col, value, reason = problems[0]
        raise ScoringError(reason, row=row, column=col, value=value, more=len(problems) - 1)
    if on_error == "raise":
        return _assemble(data, _outputs(inst, items, resolved, item_scores), polars)
    good = np.flatnonzero(~items.bad) if items.bad is not None else None
    if good is not None:
        items = items.take(good)
        subset = data[good] if polars else data.iloc[good]
    else:
        subset = data
    scored = _assemble(subset, _outputs(inst, items, resolved, item_scores), polars)
    return ScoringResult(scored=scored, **_error_frames(data, problems, polars))


def _error_frames(data: Any, problems: list[tuple[int, str, Any, str]], polars: bool) -> dict:
    rows = [p[0] for p in problems]
    errors = {
        "row": rows,
        "column": [p[1] for p in problems],
        "value": [None if p[2] is None else str(p[2]) for p in problems],
        "reason": [p[3] for p in problems],
    }
    bad_idx = sorted(set(rows))
    joined: dict[int, list[str]] = {}
    for r, c, _v, why in problems:
        joined.setdefault(r, []).append(f"{c}: {why}")
    reasons = ["; ".join(joined[r]) for r in bad_idx]
    if polars:
        import polars as pl

        err = pl.DataFrame(errors, schema={"row": pl.Int64, "column": pl.Utf8, "value": pl.Utf8,
                                           "reason": pl.Utf8})
        bad = data[bad_idx] if bad_idx else data.clear()
        bad = bad.with_columns(pl.Series("row", bad_idx, dtype=pl.Int64),
                               pl.Series("reason", reasons, dtype=pl.Utf8))
        bad = bad.select(["row", "reason", *data.columns])
        return {"errors": err, "bad_rows": bad}
    import pandas as pd

    err = pd.DataFrame(errors).astype({"row": "int64"})
    bad = data.iloc[bad_idx].copy()
    bad.insert(0, "reason", reasons)
    bad.insert(0, "row", bad_idx)
    return {"errors": err, "bad_rows": bad}


def _outputs(
    inst: Instrument, items: ItemScores, thresholds: dict[str, float], with_items: bool
) -> dict[str, Column]:
    cols = compute(inst, items, thresholds)
    if not with_items:
        return cols
    extra: dict[str, Column] = {}
    for it in inst.items:
        if it.scored:
            values = items.scores[it.number]
            extra[f"{inst.id}_{it.number}_score"] = Column(
                values, items.missing[it.number], "int" if values.dtype.kind == "i" else "float"
            )
    return {**extra, **cols}


def _score_dask(inst: Instrument, data: Any, *, input: str, thresholds: Any, on_error: str) -> Any:
    if on_error != "raise":
        raise ScoringError("on_error='report' is not available for Dask DataFrames; score "
                           "partitions with pandas to collect bad rows")
    resolve_thresholds(inst, dict(thresholds) if thresholds else None)  # fail early
    meta = score(inst, data._meta, input=input, thresholds=thresholds)
    return data.map_partitions(_score_partition, inst, input, thresholds, meta=meta)


def _score_partition(part: Any, inst: Instrument, input: str, thresholds: Any) -> Any:
    return score(inst, part, input=input, thresholds=thresholds)
