"""lme4-style model formulas: ``y ~ arm * wave + (1 | centre) + (1 + wave | family)``.

Supported syntax (the subset of R's Wilkinson–Rogers notation that trial analyses use):

* ``a + b`` terms, ``a:b`` interactions, ``a * b`` (= ``a + b + a:b``), ``(a + b) * c``,
  ``- 1`` / ``+ 0`` to drop the intercept, ``factor(x)`` / ``C(x)`` to treat a numeric column as
  categorical;
* transformed covariates as R computes them: ``I(expr)`` (arithmetic ``+ - * / ^`` on columns
  and numbers), ``log()``, ``exp()``, ``sqrt()``, ``abs()``, ``log2()``, ``log10()``,
  ``log1p()`` of a column or an expression, and ``poly(x, d)`` (orthogonal polynomials of degree
  d, R's ``poly``: columns ``poly(x, d)1`` … ``poly(x, d)d``; ``poly(x, d, raw = TRUE)``: the
  powers x … x^d); the response may be transformed too (``log(y) ~ …``);
* ``offset(expr)``: a term with coefficient 1 (kept in :attr:`Formula.offsets`);
* random-effect terms ``(expr | g)`` where ``expr`` is ``1``, ``1 + x``, ``x`` (intercept implied,
  as in lme4) or ``0 + x``; ``g`` may be ``a:b`` (interaction of factors) or ``a/b``
  (``(1 | a/b)`` = ``(1 | a) + (1 | b:a)``, lme4's expansion); ``(1 + x || g)`` is lme4's
  uncorrelated form ``(1 | g) + (0 + x | g)`` (numeric columns only: for a factor lme4's
  expansion keeps its levels correlated and codes all of them, which is refused here).

Columns that are numeric (not boolean) enter as covariates; strings, categoricals and booleans
are factors, coded as R's ``model.matrix`` codes them: by contrasts (treatment by default, first
level in sorted order as reference, columns named as R, ``armintervention``; or sum or Helmert,
columns ``f1``, ``f2``, …) where the term without the factor is already in the model, and
otherwise by one indicator per level (``0 + f``, ``(0 + f | g)``, ``x:f`` without ``f``).
Terms are ordered by degree, then by first appearance, each with its variables in their order
of appearance, as R does.
"""

from __future__ import annotations

import ast
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
    uncorrelated: bool = False  # one of the terms a ``||`` term expands into

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
    offsets: tuple[str, ...] = field(default=())

    @property
    def variables(self) -> list[str]:
        """Every data column the formula uses (response first)."""
        tokens = [self.response]
        for term in self.fixed:
            tokens += term
        tokens += self.offsets
        for r in self.random:
            for term in r.terms:
                tokens += term
            tokens += r.group
        out: list[str] = []
        for token in tokens:
            out += [c for c in columns_of(token) if c not in out]
        return out


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
_FUNCS = {"log": np.log, "exp": np.exp, "sqrt": np.sqrt, "abs": np.abs, "log2": np.log2,
          "log10": np.log10, "log1p": np.log1p}
_CALL = re.compile(r"^(I|poly|offset|" + "|".join(_FUNCS) + r")\((.*)\)$", re.S)


def _is_token(part: str) -> bool:
    return bool(_NAME.match(part) or _CALL.match(part))


def _depth0(text: str) -> str:
    """``text`` with everything inside parentheses blanked (for top-level checks)."""
    out, depth = [], 0
    for ch in text:
        if ch == "(":
            depth += 1
        out.append(ch if depth == 0 or ch == "(" else " ")
        if ch == ")":
            depth = max(depth - 1, 0)
    return "".join(out)


def _parse_expr(token: str) -> ast.expr:
    try:
        return ast.parse(token.replace("^", "**"), mode="eval").body
    except SyntaxError as e:
        raise FormulaError(f"cannot read the term {token!r}") from e


_PREC = {ast.Add: 1, ast.Sub: 1, ast.Mult: 2, ast.Div: 2, ast.Pow: 4}
_OPS = {ast.Add: " + ", ast.Sub: " - ", ast.Mult: " * ", ast.Div: "/", ast.Pow: "^"}


def _deparse(node: ast.expr, parent: int = 0) -> str:
    """R's ``deparse`` of an expression (how R names the model-matrix column)."""
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        prec = _PREC[type(node.op)]
        right_prec = prec + (0 if isinstance(node.op, ast.Pow) else 1)
        text = (_deparse(node.left, prec + (1 if isinstance(node.op, ast.Pow) else 0))
                + _OPS[type(node.op)] + _deparse(node.right, right_prec))
        return f"({text})" if prec < parent else text
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        text = ("-" if isinstance(node.op, ast.USub) else "+") + _deparse(node.operand, 3)
        return f"({text})" if parent > 3 else text
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        args = [_deparse(a) for a in node.args]
        args += [f"{k.arg} = {_deparse(k.value)}" for k in node.keywords]
        return f"{node.func.id}({', '.join(args)})"
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Constant) and isinstance(node.value, bool):
        return "TRUE" if node.value else "FALSE"
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        v = node.value
        return str(int(v)) if float(v).is_integer() else repr(float(v))
    raise FormulaError(f"cannot use {ast.unparse(node)!r} in a formula term")


def columns_of(token: str) -> list[str]:
    """The data columns a formula token (a name, ``factor(x)`` or an expression) uses.

    Parameters
    ----------
    token : str
        One variable of a formula's term.

    Returns
    -------
    list of str
        The column names, in order of appearance.

    Examples
    --------
    >>> columns_of("log(dose + 1)"), columns_of("factor(arm)"), columns_of("poly(wave, 2)")
    (['dose'], ['arm'], ['wave'])
    """
    if _NAME.match(token):
        return [_strip_factor(token)]
    node = _parse_expr(token)
    names: list[str] = []
    flags = {id(k.value) for sub in ast.walk(node) if isinstance(sub, ast.Call)
             for k in sub.keywords}  # raw = TRUE names an option, not a column
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and sub.id not in names and id(sub) not in flags:
            names.append(sub.id)
    funcs = {sub.func.id for sub in ast.walk(node)
             if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name)}
    return [n for n in names if n not in funcs]


def _eval(node: ast.expr, data: pd.DataFrame, token: str) -> np.ndarray | float:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value)
    if isinstance(node, ast.Name):
        if node.id not in data.columns:
            raise FormulaError(f"{token}: the data have no column {node.id!r}")
        col = data[node.id]
        if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            raise FormulaError(f"{token}: column {node.id!r} is not numeric")
        return col.to_numpy(float)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        a, b = _eval(node.left, data, token), _eval(node.right, data, token)
        op = type(node.op)
        return (a + b if op is ast.Add else a - b if op is ast.Sub else a * b
                if op is ast.Mult else a / b if op is ast.Div else np.power(a, b))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        v = _eval(node.operand, data, token)
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and len(node.args) == 1 \
            and not node.keywords and node.func.id in {"I", *_FUNCS}:
        v = _eval(node.args[0], data, token)
        return v if node.func.id == "I" else _FUNCS[node.func.id](v)
    raise FormulaError(f"{token}: cannot evaluate {ast.unparse(node)!r} (columns, numbers, "
                       f"+ - * / ^ and {', '.join(['I', *_FUNCS])} are supported)")


def evaluate(data: pd.DataFrame, token: str) -> np.ndarray:
    """Values of a numeric formula token (a column or an expression such as ``log(x + 1)``)
    for each row; a value that is not finite where the columns are is an error naming the
    rows.

    Parameters
    ----------
    data : pandas.DataFrame
        The rows.
    token : str
        A column name or an expression of columns.

    Returns
    -------
    numpy.ndarray
        One value per row.

    Examples
    --------
    >>> import pandas as pd
    >>> evaluate(pd.DataFrame({"dose": [0, 1, 3.0]}), "log(dose + 1)").round(4).tolist()
    [0.0, 0.6931, 1.3863]
    """
    if _NAME.match(token):
        return data[_strip_factor(token)].to_numpy(float)
    inner = _CALL.match(token)
    node = _parse_expr(inner.group(2) if inner and inner.group(1) == "offset" else token)
    with np.errstate(all="ignore"):
        v = np.broadcast_to(np.asarray(_eval(node, data, token), float), (len(data),)).copy()
    bad = ~np.isfinite(v)
    if bad.any():
        rows = list(data.index[bad][:5])
        raise FormulaError(f"{token} is not finite (NaN or ±Inf) at row(s) {rows}"
                           f"{' and more' if bad.sum() > 5 else ''}: check the column values")
    return v


_TRUTH = {"TRUE": True, "T": True, "FALSE": False, "F": False}


def _poly_args(node: ast.expr, token: str) -> tuple[list[ast.expr], bool]:
    """The column and degree of ``poly(x, d)`` / ``poly(x, d, raw = TRUE)``, and ``raw``."""
    args = node.args if isinstance(node, ast.Call) else []
    keywords = node.keywords if isinstance(node, ast.Call) else []
    raw = [k for k in keywords if k.arg == "raw"]
    flag = None
    if len(raw) == 1 and len(keywords) == 1:
        v = raw[0].value
        flag = (_TRUTH.get(v.id) if isinstance(v, ast.Name)
                else v.value if isinstance(v, ast.Constant) and isinstance(v.value, bool)
                else None)
    if len(args) != 2 or (keywords and flag is None) or not isinstance(args[1], ast.Constant) \
            or isinstance(args[1].value, bool) or not isinstance(args[1].value, int) \
            or args[1].value < 1:
        raise FormulaError(f"{token}: write poly(column, degree) with a whole degree ≥ 1 "
                           "(orthogonal polynomials) or poly(column, degree, raw = TRUE) "
                           "(raw powers)")
    return args, bool(flag)


def fitted_basis(token: str) -> bool:
    """Whether a formula token's columns depend on the fitted data's values (orthogonal
    ``poly()``), so that new data cannot be coded with them.

    Parameters
    ----------
    token : str
        A formula variable.

    Returns
    -------
    bool
        True for an orthogonal polynomial.

    Examples
    --------
    >>> fitted_basis("poly(wave, 2)"), fitted_basis("log(dose)")
    (True, False)
    """
    if not token.startswith("poly("):
        return False
    return not _poly_args(_parse_expr(token), token)[1]


def _poly(token: str, data: pd.DataFrame) -> list[tuple[str, np.ndarray]]:
    """R's ``poly(x, degree)``: orthonormal polynomial columns from the QR decomposition of
    the centred Vandermonde matrix (Kennedy & Gentle 1980, as R's ``poly``); with
    ``raw = TRUE`` the powers x, x², …, as R."""
    node = _parse_expr(token)
    args, raw = _poly_args(node, token)
    x = np.asarray(_eval(args[0], data, token), float)
    degree = args[1].value
    name = _deparse(node)
    if raw:
        return [(f"{name}{j}", x ** j) for j in range(1, degree + 1)]
    if len(np.unique(x)) <= degree:
        raise FormulaError(f"{token}: 'degree' must be less than the number of unique points "
                           f"({len(np.unique(x))})")
    xc = x - x.mean()
    V = np.vander(xc, degree + 1, increasing=True)
    Q, R = np.linalg.qr(V)
    Z = Q * np.diag(R)[None, :]
    Z = Z / np.sqrt((Z * Z).sum(axis=0))[None, :]
    return [(f"{name}{j}", Z[:, j]) for j in range(1, degree + 1)]


def _strip_factor(name: str) -> str:
    m = re.match(r"^(?:factor|C)\(\s*([\w.]+)\s*\)$", name)
    return m.group(1) if m else name


def _expand(expr: str, order: list[str] | None = None) -> tuple[bool | None, list[tuple[str, ...]]]:
    """Expand a fixed-effects expression into terms; the bool is an explicit intercept setting.
    ``order`` collects the variables in their order of appearance in the text."""
    order = [] if order is None else order
    expr = expr.strip()
    intercept: bool | None = None
    terms: list[tuple[str, ...]] = []
    # handle "- 1" / "-1" (outside any call such as I(x - 1)) by rewriting to "+ 0"
    top = _depth0(expr)
    for m in reversed(list(re.finditer(r"-\s*1\b", top))):
        expr = expr[: m.start()] + "+ 0" + expr[m.end():]
    if "-" in _depth0(expr):
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
        for t in _expand_product(part, order):
            if t not in terms:
                terms.append(t)
    return intercept, terms


def _expand_product(part: str, order: list[str]) -> list[tuple[str, ...]]:
    factors = _split_top(part, "*")
    if len(factors) > 1:
        groups = [_expand_product(f, order) for f in factors]
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
        groups = [_expand_product(c, order) for c in colon]
        out = []
        for pieces in itertools.product(*groups):
            term = tuple(dict.fromkeys(v for p in pieces for v in p))
            if term not in out:
                out.append(term)
        return out
    part = part.strip()
    if part.startswith("(") and part.endswith(")"):
        _, inner = _expand(part[1:-1], order)
        return inner
    if not _is_token(part):
        raise FormulaError(f"cannot read the term {part!r}")
    if _CALL.match(part):
        node = _parse_expr(part)
        if _CALL.match(part).group(1) == "poly":
            _poly_args(node, part)
        part = _deparse(node)
    if part not in order:
        order.append(part)
    return [(part,)]


def parse_formula(text: str) -> Formula:
    """Parse an lme4-style formula.

    Parameters
    ----------
    text : str
        The formula, e.g. ``"y ~ arm * wave + (1 | centre)"``.

    Returns
    -------
    Formula
        The response, the fixed terms (``*`` expanded) and the random terms.

    Examples
    --------
    >>> f = parse_formula("y ~ arm * wave + (1 | centre) + (1 | family)")
    >>> f.fixed
    (('arm',), ('wave',), ('arm', 'wave'))
    >>> [r.group_name for r in f.random]
    ['centre', 'family']
    """
    if text.count("~") != 1:
        raise FormulaError(f"a formula needs exactly one '~': {text!r}")
    lhs, rhs = (s.strip() for s in text.split("~"))
    call = _CALL.match(lhs)
    if not (_NAME.match(lhs) or (call and call.group(1) not in ("poly", "offset"))) \
            or lhs.startswith(("factor(", "C(")):
        raise FormulaError(f"the response must be a column name or a numeric expression such "
                           f"as log(y), got {lhs!r}")
    if call:
        columns_of(lhs)
        lhs = _deparse(_parse_expr(lhs))
    fixed_parts, random_terms, offsets = [], [], []
    for part in _split_top(rhs, "+"):
        p = part.strip()
        if p.startswith("(") and p.endswith(")") and "|" in p:
            random_terms.extend(_parse_random(p[1:-1]))
        elif p.startswith("offset(") and p.endswith(")"):
            columns_of(p)
            offsets.append(p)
        else:
            fixed_parts.append(p)
    order: list[str] = []
    intercept, fixed = _expand(" + ".join(fixed_parts) if fixed_parts else "1", order)
    fixed = _r_order(fixed, order)
    return Formula(text, lhs, intercept is not False, tuple(fixed), tuple(random_terms),
                   tuple(offsets))


def _r_order(terms: list[tuple[str, ...]], order: list[str]) -> list[tuple[str, ...]]:
    """Terms as R's ``terms.formula`` orders them: by degree, then by first appearance, each
    with its variables in their order of first appearance in the formula (``b + a:b`` has
    the term ``b:a``)."""
    out = [tuple(sorted(t, key=order.index)) for t in terms]
    out = list(dict.fromkeys(out))
    out.sort(key=len)  # stable
    return out


def _parse_random(inner: str) -> list[RandomTerm]:
    pieces = _split_top(inner, "|")
    double = len(pieces) == 3 and pieces[1] == ""
    if double:
        pieces = [pieces[0], pieces[2]]
    if len(pieces) != 2:
        raise FormulaError(f"cannot read the random-effects term ({inner})")
    expr, group = pieces[0].strip(), pieces[1].strip()
    order: list[str] = []
    intercept, terms = _expand(expr, order)
    terms = _r_order(terms, order)
    if not re.fullmatch(r"[\w.]+(\s*[:/]\s*[\w.]+)*", group):
        raise FormulaError(f"cannot read the grouping factor {group!r}")
    if double:
        # lme4's expandDoubleVerts: (1 + x || g) = (1 | g) + (0 + x | g), one term per column
        out = _parse_random(f"1 | {group}") if intercept is not False else []
        for t in terms:
            for r in _parse_random(f"0 + {':'.join(t)} | {group}"):
                out.append(RandomTerm(False, r.terms, r.group, uncorrelated=True))
        return out
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


def is_factor(data: pd.DataFrame, token: str) -> bool:
    """Whether a formula token enters as a factor (treatment-coded levels).

    Parameters
    ----------
    data : pandas.DataFrame
        The rows.
    token : str
        A column name or ``factor(column)``.

    Returns
    -------
    bool
        True for text, categorical or boolean columns and for ``factor()``.

    Examples
    --------
    >>> import pandas as pd
    >>> trial = pd.DataFrame({"arm": ["control", "tx"], "wave": [0, 1]})
    >>> is_factor(trial, "arm"), is_factor(trial, "wave"), is_factor(trial, "factor(wave)")
    (True, False, True)
    """
    if _CALL.match(token):
        return False
    col = _strip_factor(token)
    return col in data.columns and _is_categorical(data[col], token != col)


def _levels(series: pd.Series) -> list:
    if isinstance(series.dtype, pd.CategoricalDtype):
        return [lv for lv in series.cat.categories if (series == lv).any()]
    return sorted(series.unique().tolist())


CONTRASTS = ("treatment", "sum", "helmert")


def check_contrasts(contrasts: dict[str, str] | None, formula: Formula,
                    data: pd.DataFrame) -> dict[str, str]:
    """``contrasts`` with R's names accepted (``"contr.sum"``), checked: each key a factor of
    the formula, each value treatment, sum or helmert.

    Parameters
    ----------
    contrasts : dict of str to str or None
        Column → coding.
    formula : Formula
        The parsed formula.
    data : pandas.DataFrame
        The rows.

    Returns
    -------
    dict of str to str
        The codings under their short names.

    Examples
    --------
    >>> import pandas as pd
    >>> rows = pd.DataFrame({"y": [1.0, 2.0], "arm": ["c", "t"], "site": ["n", "s"]})
    >>> check_contrasts({"arm": "contr.sum"}, parse_formula("y ~ arm + (1 | site)"), rows)
    {'arm': 'sum'}
    """
    out: dict[str, str] = {}
    tokens = {v for t in formula.fixed for v in t}
    tokens |= {v for r in formula.random for t in r.terms for v in t}
    factors = {_strip_factor(v) for v in tokens if is_factor(data, v)}
    for var, kind in (contrasts or {}).items():
        name = str(kind).removeprefix("contr.")
        if name not in CONTRASTS:
            raise FormulaError(f"contrasts: {var!r} has {kind!r}; use one of "
                               f"{', '.join(CONTRASTS)}")
        if _strip_factor(var) not in factors:
            raise FormulaError(f"contrasts: {var!r} is not a factor of the formula "
                               f"(factors: {sorted(factors)})")
        out[_strip_factor(var)] = name
    return out


def _contrast_columns(var: str, s: pd.Series, lv: list, kind: str,
                      full: bool) -> list[tuple[str, np.ndarray]]:
    """The columns of a factor: one indicator per level (``full``), or R's ``contr.treatment``
    (columns named by level), ``contr.sum`` or ``contr.helmert`` (columns numbered)."""
    ind = np.column_stack([(s == v).to_numpy(float) for v in lv])
    if full:
        return [(f"{var}{v}", ind[:, i]) for i, v in enumerate(lv)]
    if kind == "treatment":
        return [(f"{var}{v}", ind[:, i]) for i, v in enumerate(lv) if i]
    k = len(lv)
    if kind == "sum":  # contr.sum: level i → e_i, the last level → −1 throughout
        C = np.vstack([np.eye(k - 1), -np.ones(k - 1)])
    else:  # contr.helmert: column j contrasts level j + 1 with the levels before it
        C = np.zeros((k, k - 1))
        for j in range(k - 1):
            C[: j + 1, j] = -1.0
            C[j + 1, j] = float(j + 1)
    X = ind @ C
    return [(f"{var}{j + 1}", X[:, j]) for j in range(k - 1)]


def _full_coded(data: pd.DataFrame, terms: tuple[tuple[str, ...], ...],
                intercept: bool) -> list[set[str]]:
    """For each term, the factors coded by one indicator per level rather than by contrasts.

    R's rule (``TermCode`` in its model.c): a factor of a term is coded by contrasts when the
    term without it is contained in an earlier term (the empty term counting as present), and
    without an intercept the first factor of the first term that has one is coded in full.
    """
    out: list[set[str]] = []
    first = not intercept
    for i, term in enumerate(terms):
        full = set()
        for var in term:
            if not is_factor(data, var):
                continue
            rest = set(term) - {var}
            if first:
                full.add(var)
                first = False
            elif rest and not any(rest <= set(t) for t in terms[:i]):
                full.add(var)
        out.append(full)
    return out


def term_columns(
    data: pd.DataFrame, terms: tuple[tuple[str, ...], ...], intercept: bool,
    levels: dict[str, list] | None = None, contrasts: dict[str, str] | None = None,
) -> list[list[tuple[str, np.ndarray]]]:
    """Each term's model-matrix columns (name, values), coded as R's ``model.matrix``.

    Parameters
    ----------
    data : pandas.DataFrame
        The rows.
    terms : tuple of tuple of str
        The fixed terms (an interaction is a tuple of several variables).
    intercept : bool
        Whether the model has an intercept (which decides how a factor is coded).
    levels : dict of str to list, optional
        Factor levels to code with (a fit's, for new data).
    contrasts : dict of str to str, optional
        Factor codings.

    Returns
    -------
    list of list of (str, numpy.ndarray)
        Per term, its columns; the intercept is not among them.

    Examples
    --------
    >>> import pandas as pd
    >>> arms = pd.DataFrame({"arm": ["c", "t", "t"]})
    >>> [(name, values.tolist()) for name, values in term_columns(arms, (("arm",),), True)[0]]
    [('armt', [0.0, 1.0, 1.0])]
    """
    levels = {} if levels is None else levels
    contrasts = contrasts or {}
    n = len(data)
    out = []
    for term, full in zip(terms, _full_coded(data, terms, intercept), strict=True):
        parts: list[list[tuple[str, np.ndarray]]] = []
        for var in term:
            call = _CALL.match(var)
            if call:
                parts.append(_poly(var, data) if call.group(1) == "poly"
                             else [(var, evaluate(data, var))])
                continue
            col = _strip_factor(var)
            if col not in data.columns:
                raise FormulaError(f"the formula uses column {col!r}, which the data do not have")
            s = data[col]
            if _is_categorical(s, var != col):
                lv = levels.setdefault(var, _levels(s))
                if len(lv) < 2:
                    raise FormulaError(f"column {col!r} has a single level ({lv[0]!r}); "
                                       "it cannot be a factor in the model")
                parts.append(_contrast_columns(var, s, lv, contrasts.get(col, "treatment"),
                                               var in full))
            else:
                parts.append([(var, s.to_numpy(float))])
        columns = []
        # R varies the first factor of an interaction fastest
        for rev in itertools.product(*reversed(parts)):
            combo = rev[::-1]
            col_values = np.ones(n)
            for _, v in combo:
                col_values = col_values * v
            columns.append((":".join(c[0] for c in combo), col_values))
        out.append(columns)
    return out


def model_matrix(
    data: pd.DataFrame, terms: tuple[tuple[str, ...], ...], intercept: bool,
    levels: dict[str, list] | None = None, contrasts: dict[str, str] | None = None,
) -> tuple[np.ndarray, list[str]]:
    """Design matrix with R's column names, coded as R's ``model.matrix``: a factor by
    contrasts (``contrasts``: column → treatment (default), sum or helmert) or, where R's
    rule asks for it (``0 + f``, ``x:f`` without ``f``), by one indicator per level.

    Parameters
    ----------
    data : pandas.DataFrame
        The rows.
    terms : tuple of tuple of str
        The fixed terms.
    intercept : bool
        Add the ``(Intercept)`` column.
    levels : dict of str to list, optional
        Factor levels to code with.
    contrasts : dict of str to str, optional
        Column → ``"treatment"``, ``"sum"`` or ``"helmert"``.

    Returns
    -------
    X : numpy.ndarray
        The matrix.
    names : list of str
        Its column names.

    Examples
    --------
    R: ``model.matrix(~ arm, d, contrasts.arg = list(arm = "contr.sum"))`` has the columns
    ``(Intercept)`` and ``arm1`` (1 for c, −1 for t):

    >>> import pandas as pd
    >>> d = pd.DataFrame({"arm": ["c", "t", "t"], "dose": [0.0, 1.0, 3.0]})
    >>> X, names = model_matrix(d, (("arm",),), True, contrasts={"arm": "sum"})
    >>> names, X[:, 1].tolist()
    (['(Intercept)', 'arm1'], [1.0, -1.0, -1.0])
    """
    columns = [("(Intercept)", np.ones(len(data)))] if intercept else []
    for cols in term_columns(data, terms, intercept, levels, contrasts):
        columns += cols
    X = np.column_stack([v for _, v in columns]) if columns else np.empty((len(data), 0))
    return X, [name for name, _ in columns]


def group_codes(data: pd.DataFrame, group: tuple[str, ...]) -> tuple[np.ndarray, list[str]]:
    """Integer codes (0..m-1) and level labels of a grouping factor (or an interaction of them).

    Parameters
    ----------
    data : pandas.DataFrame
        The rows.
    group : tuple of str
        One column, or several for ``a:b``.

    Returns
    -------
    codes : numpy.ndarray
        The level of each row.
    labels : list of str
        The levels, ``a:b`` joined for an interaction.

    Examples
    --------
    >>> import pandas as pd
    >>> visits = pd.DataFrame({"site": ["n", "s", "s"], "nurse": ["c", "t", "t"]})
    >>> codes, labels = group_codes(visits, ("site", "nurse"))
    >>> codes.tolist(), labels
    ([0, 1, 1], ['n:c', 's:t'])
    """
    for g in group:
        if g not in data.columns:
            raise FormulaError(f"the grouping factor {g!r} is not a column of the data")
    if len(group) == 1:
        key = data[group[0]].astype(str)
    else:
        key = data[list(group)].astype(str).agg(":".join, axis=1)
    codes, uniques = pd.factorize(key, sort=True)
    return codes.astype(np.intp), [str(u) for u in uniques]
