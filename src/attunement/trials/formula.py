"""lme4-style model formulas: ``y ~ arm * wave + (1 | centre) + (1 + wave | family)``.

Supported syntax (the subset of R's Wilkinson–Rogers notation that trial analyses use):

* ``a + b`` terms, ``a:b`` interactions, ``a * b`` (= ``a + b + a:b``), ``(a + b) * c``,
  ``- 1`` / ``+ 0`` to drop the intercept, ``factor(x)`` / ``C(x)`` to treat a numeric column as
  categorical;
* random-effect terms ``(expr | g)`` where ``expr`` is ``1``, ``1 + x``, ``x`` (intercept implied,
  as in lme4) or ``0 + x``; ``g`` may be ``a:b`` (interaction of factors) or ``a/b``
  (``(1 | a/b)`` = ``(1 | a) + (1 | b:a)``, lme4's expansion).

Columns that are numeric (not boolean) enter as covariates; strings, categoricals and booleans
enter with treatment contrasts (first level, in sorted order, as reference), named the way R names
them (``armintervention``). Terms are ordered by degree, then by first appearance, as R does.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["Formula", "FormulaError", "RandomTerm", "parse_formula"]


class FormulaError(ValueError):
    """A model formula that cannot be parsed or does not fit the data."""


@dataclass(frozen=True)
class RandomTerm:
    """One ``(expr | group)`` term: the fixed-style terms of ``expr`` and the grouping factors."""

    intercept: bool
    terms: tuple[tuple[str, ...], ...]
    group: tuple[str, ...]

    @property
    def group_name(self) -> str:
        """lme4's name for the grouping factor (``family:centre`` for a nested factor)."""
        return ":".join(self.group)


@dataclass(frozen=True)
class Formula:
    """A parsed formula: response, fixed terms (tuples of variable names) and random terms."""

    text: str
    response: str
    intercept: bool
    fixed: tuple[tuple[str, ...], ...]
    random: tuple[RandomTerm, ...] = field(default=())

    @property
    def variables(self) -> list[str]:
        """Every data column the formula uses (response first)."""
        out = [self.response]
        for term in self.fixed:
            out += [v for v in term if v not in out]
        for r in self.random:
            for term in r.terms:
                out += [v for v in term if v not in out]
            out += [g for g in r.group if g not in out]
        return [_strip_factor(v) for v in out]


def _split_top(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside parentheses."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise FormulaError(f"unbalanced ')' in {text!r}")
        if ch == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if depth != 0:
        raise FormulaError(f"unbalanced '(' in {text!r}")
    parts.append("".join(cur))
    return parts


_NAME = re.compile(r"^(?:factor|C)\(\s*[A-Za-z_.][\w.]*\s*\)$|^[A-Za-z_.][\w.]*$")


def _strip_factor(name: str) -> str:
    m = re.match(r"^(?:factor|C)\(\s*([\w.]+)\s*\)$", name)
    return m.group(1) if m else name


def _expand(expr: str) -> tuple[bool | None, list[tuple[str, ...]]]:
    """Expand a fixed-effects expression into terms; the bool is an explicit intercept setting."""
    expr = expr.strip()
    intercept: bool | None = None
    terms: list[tuple[str, ...]] = []
    # handle "- 1" / "-1" by rewriting to "+ 0"
    expr = re.sub(r"-\s*1\b", "+ 0", expr)
    if "-" in expr:
        raise FormulaError(f"term removal other than '- 1' is not supported: {expr!r}")
    for part in _split_top(expr, "+"):
        part = part.strip()
        if not part:
            raise FormulaError(f"empty term in {expr!r}")
        if part == "1":
            intercept = True
            continue
        if part == "0":
            intercept = False
            continue
        for t in _expand_product(part):
            if t not in terms:
                terms.append(t)
    return intercept, terms


def _expand_product(part: str) -> list[tuple[str, ...]]:
    factors = _split_top(part, "*")
    if len(factors) > 1:
        groups = [_expand_product(f) for f in factors]
        out: list[tuple[str, ...]] = []
        for r in range(1, len(groups) + 1):
            for combo in itertools.combinations(groups, r):
                for pieces in itertools.product(*combo):
                    term = tuple(dict.fromkeys(v for p in pieces for v in p))
                    if term not in out:
                        out.append(term)
        return out
    colon = _split_top(part, ":")
    if len(colon) > 1:
        groups = [_expand_product(c) for c in colon]
        out = []
        for pieces in itertools.product(*groups):
            term = tuple(dict.fromkeys(v for p in pieces for v in p))
            if term not in out:
                out.append(term)
        return out
    part = part.strip()
    if part.startswith("(") and part.endswith(")"):
        _, inner = _expand(part[1:-1])
        return inner
    if not _NAME.match(part):
        raise FormulaError(f"cannot read the term {part!r}")
    return [(part,)]


def parse_formula(text: str) -> Formula:
    """Parse an lme4-style formula.

    >>> f = parse_formula("y ~ arm * wave + (1 | centre) + (1 | family)")
    >>> f.fixed
    (('arm',), ('wave',), ('arm', 'wave'))
    >>> [r.group_name for r in f.random]
    ['centre', 'family']
    """
    if text.count("~") != 1:
        raise FormulaError(f"a formula needs exactly one '~': {text!r}")
    lhs, rhs = (s.strip() for s in text.split("~"))
    if not _NAME.match(lhs) or lhs.startswith(("factor(", "C(")):
        raise FormulaError(f"the response must be a single column name, got {lhs!r}")
    fixed_parts, random_terms = [], []
    for part in _split_top(rhs, "+"):
        p = part.strip()
        if p.startswith("(") and p.endswith(")") and "|" in p:
            random_terms.extend(_parse_random(p[1:-1]))
        else:
            fixed_parts.append(p)
    intercept, fixed = _expand(" + ".join(fixed_parts) if fixed_parts else "1")
    fixed.sort(key=len)  # stable: by degree, then order of appearance, as R does
    return Formula(text, lhs, intercept is not False, tuple(fixed), tuple(random_terms))


def _parse_random(inner: str) -> list[RandomTerm]:
    pieces = _split_top(inner, "|")
    if len(pieces) == 3 and pieces[1] == "":
        raise FormulaError("'||' (uncorrelated random effects) is not supported; write separate terms")
    if len(pieces) != 2:
        raise FormulaError(f"cannot read the random-effects term ({inner})")
    expr, group = pieces[0].strip(), pieces[1].strip()
    intercept, terms = _expand(expr)
    terms.sort(key=len)
    if not re.fullmatch(r"[\w.]+(\s*[:/]\s*[\w.]+)*", group):
        raise FormulaError(f"cannot read the grouping factor {group!r}")
    if "/" in group:
        names = [g.strip() for g in group.split("/")]
        out = []
        for i in range(len(names)):
            out.append(
                RandomTerm(intercept is not False, tuple(terms), tuple(reversed(names[: i + 1])))
            )
        return out
    return [RandomTerm(intercept is not False, tuple(terms), tuple(g.strip() for g in group.split(":")))]


# ---------------------------------------------------------------------------------------------
# model matrices


def _is_categorical(series: pd.Series, forced: bool) -> bool:
    if forced:
        return True
    return not (pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series))


def _levels(series: pd.Series) -> list:
    if isinstance(series.dtype, pd.CategoricalDtype):
        return [lv for lv in series.cat.categories if (series == lv).any()]
    return sorted(series.unique().tolist())


def model_matrix(
    data: pd.DataFrame, terms: tuple[tuple[str, ...], ...], intercept: bool,
    levels: dict[str, list] | None = None,
) -> tuple[np.ndarray, list[str]]:
    """Fixed-effects design matrix with R's column names (treatment contrasts)."""
    levels = {} if levels is None else levels
    n = len(data)
    cols: list[np.ndarray] = []
    names: list[str] = []
    if intercept:
        cols.append(np.ones(n))
        names.append("(Intercept)")
    for term in terms:
        parts: list[list[tuple[str, np.ndarray]]] = []
        for var in term:
            col = _strip_factor(var)
            if col not in data.columns:
                raise FormulaError(f"the formula uses column {col!r}, which the data do not have")
            s = data[col]
            if _is_categorical(s, var != col):
                lv = levels.setdefault(var, _levels(s))
                if len(lv) < 2:
                    raise FormulaError(f"column {col!r} has a single level ({lv[0]!r}); "
                                       "it cannot be a factor in the model")
                parts.append([(f"{var}{v}", (s == v).to_numpy(float)) for v in lv[1:]])
            else:
                parts.append([(var, s.to_numpy(float))])
        for combo in itertools.product(*parts):
            names.append(":".join(c[0] for c in combo))
            col_values = np.ones(n)
            for _, v in combo:
                col_values = col_values * v
            cols.append(col_values)
    X = np.column_stack(cols) if cols else np.empty((n, 0))
    return X, names


def group_codes(data: pd.DataFrame, group: tuple[str, ...]) -> tuple[np.ndarray, list[str]]:
    """Integer codes (0..m-1) and level labels of a grouping factor (or an interaction of them)."""
    for g in group:
        if g not in data.columns:
            raise FormulaError(f"the grouping factor {g!r} is not a column of the data")
    if len(group) == 1:
        key = data[group[0]].astype(str)
    else:
        key = data[list(group)].astype(str).agg(":".join, axis=1)
    codes, uniques = pd.factorize(key, sort=True)
    return codes.astype(np.intp), [str(u) for u in uniques]
