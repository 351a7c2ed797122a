"""R-style model matrices for moderator formulas (``"~ outcome - 1"``, ``"~ deltype + year"``,
``"~ outcome + outcome:I(year - 1983) - 1"``, ``"~ factor(time) - 1"``).

Coding follows R's ``model.matrix`` with the default treatment contrasts: factor levels in
sorted order (R's ``factor()``), the first level dropped where the term's margin is already in
the model (the intercept for a main effect; the other variables of an interaction), full
indicator columns otherwise; column names as R prints them (``outcomeAL``, ``factor(time)2``,
``outcomeAL:I(year - 1983)``).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["model_matrix"]

_FACTOR = re.compile(r"^(?:factor|as\.factor)\((\w+)\)$")
_IDENT = re.compile(r"^[A-Za-z_.][\w.]*$")


def _split_top(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside parentheses."""
    out, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == sep and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    out.append(cur)
    return out


def _variable(label: str, data: pd.DataFrame) -> tuple[np.ndarray, list[str] | None]:
    """The values of one variable of a term: numbers, or (codes, levels) for a factor."""
    m = _FACTOR.match(label)
    if m:
        col = m.group(1)
        if col not in data.columns:
            raise ValueError(f"moderator column {col!r} (in {label!r}) not found in the data")
        return _as_factor(data[col], label)
    if label.startswith("I(") and label.endswith(")"):
        expr = label[2:-1]
        try:
            values = data.eval(expr, engine="python")
        except Exception as exc:
            raise ValueError(f"cannot evaluate moderator {label!r}: {exc}") from None
        return _numeric(pd.Series(values), label), None
    if not _IDENT.match(label):
        raise ValueError(f"moderator term {label!r} is not understood: use column names, "
                         "factor(col), I(expression) and ':' for interactions")
    if label not in data.columns:
        raise ValueError(f"moderator column {label!r} not found in the data")
    s = data[label]
    if pd.api.types.is_bool_dtype(s) or not pd.api.types.is_numeric_dtype(s) or isinstance(
            s.dtype, pd.CategoricalDtype):
        return _as_factor(s, label)
    return _numeric(s, label), None


def _numeric(s: pd.Series, label: str) -> np.ndarray:
    values = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(np.isnan(values))
    if bad.size:
        rows = ", ".join(str(i + 1) for i in bad[:10])
        raise ValueError(f"moderator {label!r} is missing or not a number in row(s) {rows}")
    return values


def _as_factor(s: pd.Series, label: str) -> tuple[np.ndarray, list[str]]:
    miss = np.flatnonzero(s.isna().to_numpy())
    if miss.size:
        rows = ", ".join(str(i + 1) for i in miss[:10])
        raise ValueError(f"moderator {label!r} is missing in row(s) {rows}")
    if isinstance(s.dtype, pd.CategoricalDtype):
        levels = [str(v) for v in s.cat.categories]
        return s.cat.codes.to_numpy(), levels
    uniq = sorted(pd.unique(s))  # R's factor(): sorted levels (numbers numerically)
    codes = pd.Categorical(s, categories=uniq).codes
    return np.asarray(codes), [_fmt_level(u) for u in uniq]


def _fmt_level(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _signed_terms(text: str) -> list[tuple[str, str]]:
    """The terms of a formula's right-hand side with their signs (+/- outside parentheses)."""
    out, depth, cur, sign = [], 0, "", "+"
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch in "+-" and depth == 0:
            out.append((sign, cur.strip()))
            sign, cur = ch, ""
        else:
            cur += ch
    out.append((sign, cur.strip()))
    return out


def model_matrix(formula: str, data: pd.DataFrame) -> tuple[np.ndarray, list[str], bool]:
    """Model matrix, column names and whether it has an intercept, as R's
    ``model.matrix(formula, data)``.

    Parameters
    ----------
    formula : str
        A one-sided formula such as ``"~ ablat + alloc"`` or ``"~ outcome - 1"``.
    data : pandas.DataFrame
        The columns the formula names.

    Returns
    -------
    X : numpy.ndarray
        One row per row of ``data``, one column per coefficient.
    names : list of str
        The columns' names, as R names them (``outcomeAL``).
    intercept : bool
        Whether the first column is the intercept.

    Examples
    --------
    R: ``colnames(model.matrix(~ outcome - 1, dat.berkey1998))`` is ``outcomeAL outcomePD``:

    >>> from attunement.evidence.datasets import dat_berkey1998
    >>> X, names, intercept = model_matrix("~ outcome - 1", dat_berkey1998())
    >>> X.shape, names, intercept
    ((10, 2), ['outcomeAL', 'outcomePD'], False)
    """
    text = formula.strip()
    if not text.startswith("~"):
        raise ValueError(f"a moderator formula starts with '~', not {formula!r}")
    text = text[1:].strip()
    intercept = True
    terms: list[list[str]] = []
    # an explicit "- 1" / "+ 0" / "- 0"... removes the intercept; "+ 1" keeps it
    for sign, piece in _signed_terms(text):
        if not piece:
            continue
        if piece in {"0", "1"}:
            if (piece == "1" and sign == "-") or (piece == "0" and sign == "+"):
                intercept = False
            continue
        if sign == "-":
            raise ValueError(f"removing the term {piece!r} is not supported in {formula!r}")
        term = [v.strip() for v in _split_top(piece, ":")]
        if term not in terms:
            terms.append(term)
    k = len(data)
    cols: list[np.ndarray] = [np.ones(k)] if intercept else []
    names: list[str] = ["intrcpt"] if intercept else []
    present: list[frozenset[str]] = [frozenset()] if intercept else []
    cache: dict[str, tuple[np.ndarray, list[str] | None]] = {}
    for term in terms:
        parts: list[tuple[list[np.ndarray], list[str]]] = []
        for var in term:
            if var not in cache:
                cache[var] = _variable(var, data)
            values, levels = cache[var]
            if levels is None:
                parts.append(([values], [var]))
                continue
            # R's rule: contrasts when the term without this factor is already in the model
            margin = frozenset(v for v in term if v != var)
            keep = levels[1:] if margin in present else levels
            start = len(levels) - len(keep)
            parts.append(([(values == j).astype(float) for j in range(start, len(levels))],
                          [f"{var}{lev}" for lev in keep]))
        block_cols: list[np.ndarray] = [np.ones(k)]
        block_names: list[str] = [""]
        for pcols, pnames in parts:  # the first variable varies fastest, as in R
            block_cols = [b * c for c in pcols for b in block_cols]
            block_names = [f"{b}:{n}" if b else n for n in pnames for b in block_names]
        cols.extend(block_cols)
        names.extend(block_names)
        present.append(frozenset(term))
        if len(term) == 1 and parts[0][1] and len(parts[0][0]) > 1 and frozenset() not in present:
            # a factor coded in full spans the intercept: later factors get contrasts (as R)
            present.append(frozenset())
    if not cols:
        raise ValueError(f"the formula {formula!r} has no terms")
    return np.column_stack(cols), names, intercept
