"""The model matrix and the study vectors of ``rma`` and ``rma_mv``: moderators given as column
names, a formula string (``"~ ablat + factor(alloc)"``), an array or a frame, and ``yi``/``vi``
given as arrays or column names."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

_FACTOR = re.compile(r"^(?:factor|C)\((\w+)\)$")


def _design(mods: Any, data: pd.DataFrame | None, k: int, intercept: bool):
    """Build the model matrix from ``mods`` (names, a formula string, an array or a frame)."""
    if mods is None:
        return np.ones((k, 1)), ["intrcpt"], True, []
    terms: list[tuple[str, np.ndarray | pd.Series, bool]] = []
    if isinstance(mods, str):
        formula = mods.strip().lstrip("~").strip()
        parts = [t.strip() for t in re.split(r"\s*\+\s*|\s*-\s*(?=1\b)", formula) if t.strip()]
        if re.search(r"-\s*1\b", formula) or "0" in parts:
            intercept = False
        parts = [t for t in parts if t not in {"1", "0"}]
        if data is None:
            raise ValueError("a moderator formula needs data")
        terms += [_column_term(term, data) for term in parts]
    elif isinstance(mods, pd.DataFrame):
        for col in mods.columns:
            terms.append((str(col), mods[col], False))
    elif isinstance(mods, pd.Series):
        terms.append((str(mods.name or "mods"), mods, False))
    elif isinstance(mods, (list, tuple)) and mods and all(isinstance(m, str) for m in mods):
        if data is None:
            raise ValueError("moderator names need data")
        terms += [_column_term(col, data) for col in mods]
    else:
        arr = np.asarray(mods, dtype=float)
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.shape[0] != k:
            raise ValueError(f"mods has {arr.shape[0]} rows, expected {k}")
        for j in range(arr.shape[1]):
            terms.append((f"mods{j + 1}" if arr.shape[1] > 1 else "mods", arr[:, j], False))
    cols: list[np.ndarray] = []
    names: list[str] = []
    categorical: list[str] = []
    first_factor = True
    for name, values, as_factor in terms:
        s = pd.Series(values).reset_index(drop=True)
        if len(s) != k:
            raise ValueError(f"moderator {name!r} has {len(s)} values, expected {k}")
        is_cat = as_factor or not pd.api.types.is_numeric_dtype(s) or isinstance(
            s.dtype, pd.CategoricalDtype
        )
        if is_cat:
            categorical.append(name)
            cat = s.astype("category")
            levels = list(cat.cat.categories)
            drop_first = intercept or not first_factor
            first_factor = False
            missing = s.isna().to_numpy()
            for lev in levels[1:] if drop_first else levels:
                col = (s == lev).to_numpy(dtype=float)
                col[missing] = np.nan
                cols.append(col)
                names.append(f"{name}[{lev}]")
        else:
            cols.append(s.to_numpy(dtype=float))
            names.append(name)
    X = np.column_stack(cols) if cols else np.empty((k, 0))
    if intercept:
        X = np.column_stack([np.ones(k), X])
        names = ["intrcpt", *names]
    return X, names, intercept, categorical


def _column_term(term: str, data: pd.DataFrame) -> tuple[str, pd.Series, bool]:
    """A moderator named by a column, ``factor(col)`` or ``C(col)``: (name, values, categorical)."""
    m = _FACTOR.match(term)
    col = m.group(1) if m else term
    if col not in data.columns:
        raise ValueError(f"moderator column {col!r} not found in the data")
    return col, data[col], bool(m)


def _vector(name: str, value: Any, data: pd.DataFrame | None) -> np.ndarray | None:
    if value is None:
        return None
    if isinstance(value, str):
        if data is None or value not in data.columns:
            raise ValueError(f"column {value!r} (for {name}) not found in the data")
        try:
            return pd.to_numeric(data[value], errors="raise").to_numpy(dtype=float)
        except (TypeError, ValueError):
            raise ValueError(f"column {value!r} (for {name}) must be numeric") from None
    return np.asarray(value, dtype=float).ravel()
