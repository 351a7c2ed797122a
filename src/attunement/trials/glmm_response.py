"""The response of a binomial or Poisson GLMM as glmer reads it: a 0/1 or count column,
``cbind(successes, failures)``, ``cbind(successes, total - successes)`` or a proportion
``successes / total``, and ``offset(x)`` / ``offset(log(x))`` terms; each value checked, with
errors naming the rows."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from attunement.trials.formula import FormulaError
from attunement.trials.mixed import rows_text as _rows

__all__ = ["Response", "response_values", "split_response"]

_OFFSET = re.compile(r"\+?\s*offset\(\s*(log\(\s*([\w.]+)\s*\)|([\w.]+))\s*\)\s*")
_CBIND = re.compile(r"^cbind\(\s*([\w.]+)\s*,\s*(?:([\w.]+)\s*-\s*([\w.]+)|([\w.]+))\s*\)$")
_PROP = re.compile(r"^([\w.]+)\s*/\s*([\w.]+)$")


@dataclass
class Response:
    """A GLMM formula's response and offset terms, and the formula left for the fixed and
    random parts."""

    formula: str  # the formula with a plain response name and no offset term
    columns: list[str]  # data columns the response and offset use
    kind: str  # "plain", "cbind", "proportion"
    parts: tuple[str, ...]
    offset: list[tuple[str, bool]]  # (column, log?)


def split_response(text: str) -> Response:
    """Take the response (plain, ``cbind``, proportion) and the ``offset(x)`` /
    ``offset(log(x))`` terms off a GLMM formula.

    Parameters
    ----------
    text : str
        The formula as given to :func:`~attunement.trials.fit_glmm`.

    Returns
    -------
    Response
        The formula with ``_response_`` on the left, the columns used, the kind of response,
        its parts and the offsets (column, logged).

    Examples
    --------
    >>> r = split_response("cbind(incidence, size - incidence) ~ period + offset(log(months))")
    >>> r.formula, r.kind, r.parts, r.offset
    ('_response_ ~ period', 'cbind_total', ('incidence', 'size'), [('months', True)])
    """
    if text.count("~") != 1:
        raise FormulaError(f"a formula needs exactly one '~': {text!r}")
    lhs, rhs = (s.strip() for s in text.split("~"))
    offsets = []
    for m in _OFFSET.finditer(rhs):
        offsets.append((m.group(2) or m.group(3), m.group(2) is not None))
    rhs = _OFFSET.sub(" + ", rhs).strip()
    rhs = re.sub(r"^\+\s*", "", re.sub(r"\+\s*\+", "+", rhs)).strip().rstrip("+").strip()
    if not rhs:
        rhs = "1"
    cb, pr = _CBIND.match(lhs), _PROP.match(lhs)
    if cb:
        succ = cb.group(1)
        if cb.group(4):
            kind, parts = "cbind", (succ, cb.group(4))
        else:
            if cb.group(3) != succ:
                raise FormulaError(f"cbind(): the failures must be a column or 'n - {succ}', "
                                   f"got {lhs!r}")
            kind, parts = "cbind_total", (succ, cb.group(2))
    elif pr:
        kind, parts = "proportion", (pr.group(1), pr.group(2))
    elif lhs.startswith("cbind("):
        raise FormulaError(f"cannot read {lhs!r}: write cbind(successes, failures) or "
                           "cbind(successes, total - successes)")
    else:
        kind, parts = "plain", (lhs,)
    cols = list(dict.fromkeys([*parts, *(c for c, _ in offsets)]))
    return Response(f"_response_ ~ {rhs}", cols, kind, parts, offsets)


def response_values(resp: Response, data: pd.DataFrame, family: str,
                     weights: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """y (proportions for binomial) and prior weights, with clear errors for invalid values.

    Parameters
    ----------
    resp : Response
        From :func:`split_response`.
    data : pandas.DataFrame
        The complete rows.
    family : str
        ``"binomial"`` or ``"poisson"``.
    weights : numpy.ndarray or None
        The user's prior weights.

    Returns
    -------
    y, weights : numpy.ndarray
        The response and the prior weights (the number of trials for ``cbind``).

    Examples
    --------
    >>> import pandas as pd
    >>> herd = pd.DataFrame({"incidence": [2, 3], "size": [10, 12]})
    >>> resp = split_response("cbind(incidence, size - incidence) ~ 1")
    >>> [a.tolist() for a in response_values(resp, herd, "binomial", None)]
    [[0.2, 0.25], [10.0, 12.0]]
    """
    for c in resp.parts:
        if not pd.api.types.is_numeric_dtype(data[c]) or pd.api.types.is_bool_dtype(data[c]):
            raise FormulaError(f"column {c!r} of the response must be numeric")
    cols = [data[c].to_numpy(float) for c in resp.parts]
    idx = data.index
    if resp.kind != "plain" and family != "binomial":
        raise FormulaError(f"{resp.kind.split('_')[0]} responses are for the binomial family")
    if resp.kind != "plain" and resp.kind != "proportion" and weights is not None:
        raise FormulaError("give either cbind(successes, failures) or weights, not both")
    wt = np.ones(len(data)) if weights is None else np.asarray(weights, float)
    if resp.kind in ("cbind", "cbind_total"):
        s = cols[0]
        f = cols[1] if resp.kind == "cbind" else cols[1] - cols[0]
        for name, v in ((resp.parts[0], s), ("failures" if resp.kind == "cbind_total"
                                             else resp.parts[1], f)):
            bad = (v < 0) | (np.abs(v - np.round(v)) > 1e-8)
            if bad.any():
                raise FormulaError(f"cbind(): {name} must be whole numbers ≥ 0 "
                                   f"(successes ≤ total): {_rows(bad, idx)}")
        n = s + f
        if np.any(n == 0):
            raise FormulaError(f"cbind(): no trials (successes + failures = 0): {_rows(n == 0, idx)}")
        return s / n, n
    if resp.kind == "proportion":
        s, n = cols
        bad = (n <= 0) | (s < 0) | (s > n)
        if bad.any():
            raise FormulaError(f"{resp.parts[0]}/{resp.parts[1]}: need 0 ≤ {resp.parts[0]} ≤ "
                               f"{resp.parts[1]} and {resp.parts[1]} > 0: {_rows(bad, idx)}")
        y = s / n
        if weights is None:
            wt = n
        return y, wt
    y = cols[0]
    if family == "binomial":
        if weights is None:
            bad = ~np.isin(y, (0.0, 1.0))
            if bad.any():
                raise FormulaError(f"the binomial response {resp.parts[0]!r} must be 0 or 1 "
                                   "(or use cbind(successes, failures), or proportions with "
                                   f"weights): {_rows(bad, idx)}")
        else:
            bad = (y < 0) | (y > 1) | (np.abs(wt * y - np.round(wt * y)) > 1e-6)
            if bad.any():
                raise FormulaError(f"with weights the binomial response {resp.parts[0]!r} must "
                                   f"be a proportion of whole successes: {_rows(bad, idx)}")
    else:
        bad = (y < 0) | (np.abs(y - np.round(y)) > 1e-8)
        if bad.any():
            raise FormulaError(f"the Poisson response {resp.parts[0]!r} must be whole counts "
                               f"≥ 0: {_rows(bad, idx)}")
    return y, wt
