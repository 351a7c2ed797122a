"""What the linear and the generalised mixed models share: random-effects terms, the relative
covariance factor Λθ in lme4's parametrisation, the variance table, conditional modes as a
table, the lme4-style print and central-difference derivatives.

The parametrisation is lme4's (Bates, Mächler, Bolker & Walker 2015, *J Stat Softw* 67(1)):
each random-effects term with k columns has a lower-triangular k×k factor whose entries θ are
stored column by column; a diagonal entry is bounded below by 0, the others are free.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from attunement.trials.formula import (
    Formula,
    FormulaError,
    check_contrasts,
    columns_of,
    fitted_basis,
    group_codes,
    is_factor,
    model_matrix,
)

__all__ = ["random_effects_lines"]


@dataclass
class _Term:
    group: str
    columns: list[str]
    codes: np.ndarray
    levels: list[str]
    Z: np.ndarray  # n x k raw random-effect columns

    @property
    def k(self) -> int:
        return self.Z.shape[1]

    @property
    def m(self) -> int:
        return len(self.levels)

    @property
    def ntheta(self) -> int:
        return self.k * (self.k + 1) // 2


def _lower(theta: np.ndarray, k: int) -> np.ndarray:
    """Lower-triangular k×k factor from θ in lme4's column-major order."""
    L = np.zeros((k, k))
    idx = 0
    for j in range(k):
        for i in range(j, k):
            L[i, j] = theta[idx]
            idx += 1
    return L


def design_matrices(formula: Formula, data: pd.DataFrame, without_random: str,
                    max_effects: int, contrasts: dict[str, str] | None = None,
                    ) -> tuple[np.ndarray, list[str], list[_Term]]:
    """The fixed-effects matrix X, its column names and the random-effects terms, in lme4's
    order (decreasing number of levels).

    Parameters
    ----------
    formula
        The parsed formula; ``data`` holds only complete rows.
    without_random
        What to use instead, said in the error when the formula has no random term.
    max_effects
        The most random effects (levels × columns) a term may have and stay identifiable.
    contrasts
        ``{column: "sum" | "helmert" | "treatment"}`` for the fixed and the random terms
        (checked by :func:`~attunement.trials.formula.check_contrasts`).
    data
        The complete rows.

    Returns
    -------
    X : numpy.ndarray
        The fixed-effects matrix.
    names : list of str
        Its column names, as R's.
    terms : list
        The random-effects terms.

    Examples
    --------
    >>> import pandas as pd
    >>> from attunement.trials.formula import parse_formula
    >>> d = pd.DataFrame({"y": [1.0, 2, 4, 3, 6, 5], "x": [0, 1] * 3, "g": list("aabbcc")})
    >>> X, names, terms = design_matrices(parse_formula("y ~ x + (1 + x | g)"), d, "lm()", 100)
    >>> names, [(t.group, t.columns) for t in terms]
    (['(Intercept)', 'x'], [('g', ['(Intercept)', 'x'])])
    """
    contrasts = check_contrasts(contrasts, formula, data)
    X, names = model_matrix(data, formula.fixed, formula.intercept, contrasts=contrasts)
    if np.linalg.matrix_rank(X) < X.shape[1]:
        raise FormulaError(f"the fixed-effects design is rank-deficient (columns {names}); "
                           "remove aliased terms")
    terms = []
    for r in formula.random:
        if r.uncorrelated and any(is_factor(data, v) for t in r.terms for v in t):
            raise FormulaError(f"'||' with a factor in ({' + '.join(':'.join(t) for t in r.terms)}"
                               f" || {r.group_name}): lme4 keeps a factor's levels correlated "
                               "there; write the terms out, e.g. (1 | g) + (0 + x | g)")
        Z, cols = model_matrix(data, r.terms, r.intercept, contrasts=contrasts)
        if Z.shape[1] == 0:
            raise FormulaError(f"the random term for {r.group_name!r} has no columns")
        codes, levels = group_codes(data, r.group)
        terms.append(_Term(r.group_name, cols, codes, levels, Z))
    if not terms:
        raise FormulaError("the formula has no random-effects term such as (1 | centre); "
                           f"use {without_random} for a model without one")
    n = len(data)
    for t in terms:
        if t.m * t.k > max_effects:
            raise FormulaError(f"the grouping factor {t.group!r} has {t.m} levels for {n} "
                               "observations: the random effects are not identifiable")
    terms.sort(key=lambda t: -t.m)
    return X, names, terms


def new_design(formula: Formula, fitted: pd.DataFrame, terms: list[_Term],
               newdata: pd.DataFrame, contrasts: dict[str, str] | None = None,
               ) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
    """The fixed-effects matrix of ``newdata`` coded with the fit's factor levels, and for each
    random term (in ``terms``' order) its Z columns and level codes (−1: a level the fit has
    not seen).

    Parameters
    ----------
    formula
        The parsed formula of the fit.
    fitted
        The complete rows the model was fitted to (they fix the factor levels).
    terms
        The fitted random-effects terms.
    newdata
        The rows to predict for.
    contrasts
        The fit's contrasts.

    Returns
    -------
    X : numpy.ndarray
        Fixed-effects rows of ``newdata``.
    random : list of (numpy.ndarray, numpy.ndarray)
        Per term, its Z columns and level codes.

    Examples
    --------
    A group the fit has not seen gets the code −1:

    >>> import pandas as pd
    >>> from attunement.trials.formula import parse_formula
    >>> f = parse_formula("y ~ x + (1 | g)")
    >>> seen = pd.DataFrame({"y": [1.0, 2.5, 2, 4], "x": [0, 1, 0, 1], "g": ["a", "a", "b", "b"]})
    >>> terms = design_matrices(f, seen, "lm()", 100)[2]
    >>> X, [(Z, codes)] = new_design(f, seen, terms, pd.DataFrame({"x": [3], "g": ["c"]}))
    >>> X.tolist(), codes.tolist()
    ([[1.0, 3.0]], [-1])
    """
    contrasts = check_contrasts(contrasts, formula, fitted)
    if not isinstance(newdata, pd.DataFrame):
        raise TypeError(f"newdata must be a pandas DataFrame, not {type(newdata).__name__}")
    random_vars = [v for r in formula.random for v in (*r.group, *(x for t in r.terms for x in t))]
    fixed_vars = [v for t in formula.fixed for v in t]
    for v in dict.fromkeys(fixed_vars + random_vars):
        if fitted_basis(v):
            raise FormulaError(f"newdata: {v} depends on the fitted data's values; predict "
                               "the fitted rows or write the polynomial out with I()")
        for col in columns_of(v):
            if col not in newdata.columns:
                raise FormulaError(f"newdata has no column {col!r}; columns are "
                                   f"{list(newdata.columns)}")
            missing = newdata[col].isna().to_numpy()
            if missing.any():
                raise FormulaError(f"newdata: column {col!r} has a missing value in row(s) "
                                   f"{list(newdata.index[missing][:10])}")
    levels: dict[str, list] = {}
    model_matrix(fitted, formula.fixed, formula.intercept, levels, contrasts)
    for r in formula.random:
        model_matrix(fitted, r.terms, r.intercept, levels, contrasts)
    for var, lv in levels.items():
        col = columns_of(var)[0]
        new = newdata[col]
        unseen = ~new.isin(lv).to_numpy()
        if unseen.any():
            i = int(np.flatnonzero(unseen)[0])
            raise FormulaError(f"newdata: column {col!r} has level {new.iloc[i]!r} (row "
                               f"{newdata.index[i]!r}) that the fit has not seen; the fixed "
                               f"effects know {lv}")
    X, _ = model_matrix(newdata, formula.fixed, formula.intercept, levels, contrasts)
    fitted_levels = [group_codes(fitted, r.group)[1] for r in formula.random]
    order = sorted(range(len(formula.random)), key=lambda i: -len(fitted_levels[i]))
    out = []
    for i, t in zip(order, terms, strict=True):
        r = formula.random[i]
        Z, _ = model_matrix(newdata, r.terms, r.intercept, levels, contrasts)
        key = newdata[list(r.group)].astype(str).agg(":".join, axis=1) if len(r.group) > 1 \
            else newdata[r.group[0]].astype(str)
        index = {lv: j for j, lv in enumerate(t.levels)}
        out.append((Z, np.array([index.get(k, -1) for k in key], dtype=np.intp)))
    return X, out


def rows_text(mask: np.ndarray, index: pd.Index) -> str:
    """``row(s) [...]`` naming the first five rows where ``mask`` holds.

    Parameters
    ----------
    mask : numpy.ndarray of bool
        The rows at fault.
    index : pandas.Index
        The data's row labels.

    Returns
    -------
    str
        The text for an error message.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> rows_text(np.array([True, False, True]), pd.Index([10, 11, 12]))
    'row(s) [10, 12]'
    """
    bad = list(index[mask][:5])
    more = f" (and {int(mask.sum()) - 5} more)" if mask.sum() > 5 else ""
    return f"row(s) {bad}{more}"


def prior_weights(data: pd.DataFrame, weights: str | np.ndarray | None) -> np.ndarray | None:
    """Prior weights from a column of ``data`` or an array (one per row), all checked
    positive and finite: a missing, zero or negative weight is an error naming the rows
    (never a row silently left out).

    Parameters
    ----------
    data : pandas.DataFrame
        The rows of the model.
    weights : str or numpy.ndarray or None
        A column name of ``data`` or one weight per row.

    Returns
    -------
    numpy.ndarray or None
        The weights (None when none were given).

    Examples
    --------
    >>> import pandas as pd
    >>> visits = pd.DataFrame({"y": [0.5, 0.2], "n": [4, 0]})
    >>> prior_weights(visits.iloc[:1], "n")
    array([4.])
    >>> prior_weights(visits, "n")
    Traceback (most recent call last):
    ...
    attunement.trials.formula.FormulaError: weights column 'n': a weight must be a positive number; missing, zero or negative at row(s) [1]
    """
    if weights is None:
        return None
    if isinstance(weights, str):
        if weights not in data.columns:
            raise FormulaError(f"the weights column {weights!r} is not in the data; columns "
                               f"are {list(data.columns)}")
        col = data[weights]
        if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            raise FormulaError(f"the weights column {weights!r} must be numeric")
        w, label = col.to_numpy(float), f"weights column {weights!r}"
    else:
        w, label = np.asarray(weights, float), "weights"
        if w.shape != (len(data),):
            raise ValueError(f"weights has {w.size} values for {len(data)} rows")
    bad = ~(np.isfinite(w) & (w > 0))
    if bad.any():
        raise FormulaError(f"{label}: a weight must be a positive number; missing, zero or "
                           f"negative at {rows_text(bad, data.index)}")
    return w


def simulated_random_part(terms: list[_Term], theta: np.ndarray, nsim: int,
                          rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
    """Zb for ``nsim`` new draws of the random effects b = scale·Λu, u ~ N(0, I) per level
    (covariance scale²ΛΛᵀ), as lme4's ``simulate`` with ``use.u = FALSE``.

    Parameters
    ----------
    terms : list
        The random-effects terms.
    theta : numpy.ndarray
        Their θ.
    nsim : int
        How many draws.
    rng : numpy.random.Generator
        The random numbers.
    scale : float, default 1.0
        The residual SD (σ) of a linear model.

    Returns
    -------
    numpy.ndarray
        An ``n × nsim`` array.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from attunement.trials.formula import parse_formula
    >>> frame = pd.DataFrame({"y": [1.0, 2.0, 3.0, 5.0], "g": ["a", "a", "b", "b"]})
    >>> terms = design_matrices(parse_formula("y ~ 1 + (1 | g)"), frame, "lm()", 100)[2]
    >>> draws = simulated_random_part(terms, np.array([1.0]), 5, np.random.default_rng(1))
    >>> draws.shape, bool((draws[0] == draws[1]).all())     # one draw per group
    ((4, 5), True)
    """
    out = np.zeros((len(terms[0].codes), nsim))
    for t, lam in zip(terms, term_factors(terms, theta), strict=True):
        b = scale * np.einsum("ij,mjs->mis", lam, rng.standard_normal((t.m, t.k, nsim)))
        out += np.einsum("nk,nks->ns", t.Z, b[t.codes])
    return out


def theta_lower_bounds(terms: list[_Term]) -> np.ndarray:
    """Lower bounds of θ: 0 for the diagonal entries of each term's factor, −∞ elsewhere.

    Parameters
    ----------
    terms : list
        The random-effects terms, in θ's order.

    Returns
    -------
    numpy.ndarray
        One bound per entry of θ.

    Examples
    --------
    A correlated intercept and slope: θ = (λ₁₁, λ₂₁, λ₂₂).

    >>> import pandas as pd
    >>> from attunement.trials.formula import parse_formula
    >>> d = pd.DataFrame({"y": [1.0, 2, 4, 3], "t": [0, 1, 0, 1], "id": list("ppqq")})
    >>> theta_lower_bounds(design_matrices(parse_formula("y ~ t + (t | id)"), d, "lm()", 99)[2])
    array([  0., -inf,   0.])
    """
    lower = []
    for t in terms:
        for j in range(t.k):
            for i in range(j, t.k):
                lower.append(0.0 if i == j else -np.inf)
    return np.array(lower)


def term_factors(terms: list[_Term], theta: np.ndarray) -> list[np.ndarray]:
    """Each term's lower-triangular factor Λ at θ.

    Parameters
    ----------
    terms : list
        The random-effects terms.
    theta : numpy.ndarray
        θ, column by column within each term.

    Returns
    -------
    list of numpy.ndarray
        One k × k factor per term.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from attunement.trials.formula import parse_formula
    >>> rows = pd.DataFrame({"y": [2.0, 1, 4, 3], "w": [1, 2, 1, 2], "c": list("uuvv")})
    >>> terms = design_matrices(parse_formula("y ~ w + (w | c)"), rows, "lm()", 50)[2]
    >>> term_factors(terms, np.array([1.0, 0.5, 2.0]))[0].tolist()
    [[1.0, 0.0], [0.5, 2.0]]
    """
    out, idx = [], 0
    for t in terms:
        out.append(_lower(theta[idx: idx + t.ntheta], t.k))
        idx += t.ntheta
    return out


def canonical_theta(theta: np.ndarray, terms: list[_Term]) -> np.ndarray:
    """Flip the sign of any column of a term's Λ whose diagonal is negative (ΛΛᵀ unchanged).

    Parameters
    ----------
    theta : numpy.ndarray
        θ from the optimiser.
    terms : list
        The random-effects terms.

    Returns
    -------
    numpy.ndarray
        θ with non-negative diagonal entries.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from attunement.trials.formula import parse_formula
    >>> obs = pd.DataFrame({"y": [1.5, 2, 3, 3.5], "s": [0, 2, 0, 2], "k": ["m", "m", "n", "n"]})
    >>> fitted_terms = design_matrices(parse_formula("y ~ s + (s | k)"), obs, "lm()", 20)[2]
    >>> canonical_theta(np.array([-1.0, 0.5, 2.0]), fitted_terms).tolist()
    [1.0, -0.5, 2.0]
    """
    out, idx = theta.copy(), 0
    for t in terms:
        lam = _lower(out[idx: idx + t.ntheta], t.k)
        lam = lam * np.where(np.diag(lam) < 0, -1.0, 1.0)[None, :]
        out[idx: idx + t.ntheta] = lam.T[np.triu_indices(t.k)]
        idx += t.ntheta
    return out


def variance_rows(terms: list[_Term], theta: np.ndarray,
                  scale: float = 1.0) -> list[tuple[str, str, str, float, float]]:
    """(group, term1, term2, variance or covariance, SD or correlation) of each term's
    covariance scale·ΛΛᵀ: variances first, then covariances column by column.

    Parameters
    ----------
    terms : list
        The random-effects terms of the fit.
    theta : numpy.ndarray
        The estimated θ, which fixes each term's Λ.
    scale : float, default 1.0
        σ² of a linear model (1 for a GLMM).

    Returns
    -------
    list of tuple
        The rows of the variance table.

    Examples
    --------
    Λ = [[1, 0], [0.5, 2]] with σ² = 2: variances 2 and 8.5, correlation 0.2425:

    >>> import numpy as np
    >>> import pandas as pd
    >>> from attunement.trials.formula import parse_formula
    >>> long = pd.DataFrame({"y": [3.0, 1, 4, 1, 5, 9], "d": [0, 1] * 3, "p": list("aabbcc")})
    >>> re_terms = design_matrices(parse_formula("y ~ d + (d | p)"), long, "lm()", 100)[2]
    >>> [(r[1], r[2], round(float(r[3]), 2), round(float(r[4]), 4))
    ...  for r in variance_rows(re_terms, np.array([1.0, 0.5, 2.0]), 2.0)]
    [('(Intercept)', '', 2.0, 1.4142), ('d', '', 8.5, 2.9155), ('(Intercept)', 'd', 1.0, 0.2425)]
    """
    rows = []
    for t, lam in zip(terms, term_factors(terms, theta), strict=True):
        cov = scale * lam @ lam.T
        sd = np.sqrt(np.diag(cov))
        for i in range(t.k):
            rows.append((t.group, t.columns[i], "", cov[i, i], sd[i]))
        for j in range(t.k):
            for i in range(j + 1, t.k):
                corr = cov[i, j] / (sd[i] * sd[j]) if sd[i] > 0 and sd[j] > 0 else float("nan")
                rows.append((t.group, t.columns[j], t.columns[i], cov[i, j], corr))
    return rows


VARIANCE_COLUMNS = ["group", "term1", "term2", "variance", "sd_or_corr"]


@dataclass
class MixedFit(ABC):
    """What every mixed-model fit carries (:class:`~attunement.trials.LMMResult` and
    :class:`~attunement.trials.GLMMResult` add their own).

    Examples
    --------
    R: ``lmer(y ~ x + (1 | g), d)`` gives the variances 1.019396 (g) and 0.023250 (residual),
    ``ranef()`` 1.0026, 0.0083, −1.0109 and logLik −3.151253 (lme4 1.1-31):

    >>> import pandas as pd
    >>> from attunement.trials import fit_lmm
    >>> d = pd.DataFrame({"y": [2.0, 3.1, 3.9, 5.2, 1.2, 2.0, 3.1, 3.9, -0.2, 1.2, 2.0, 3.1],
    ...                   "x": [0, 1, 2, 3] * 3, "g": ["a"] * 4 + ["b"] * 4 + ["c"] * 4})
    >>> fit = fit_lmm("y ~ x + (1 | g)", d)
    >>> {k: round(v, 6) for k, v in fit.variance_components().items()}, round(fit.loglik, 6)
    ({'g': 1.019396, 'residual': 0.02325}, -3.151253)
    >>> fit.ranef().value.round(4).tolist()
    [1.0026, 0.0083, -1.0109]
    """

    formula: str
    nobs: int
    fixed: pd.DataFrame
    variance: pd.DataFrame
    loglik: float
    deviance: float
    theta: np.ndarray
    vcov: pd.DataFrame
    ngroups: dict[str, int]
    singular: bool
    converged: bool
    optimizer_message: str = field(default="", kw_only=True)
    dropped: int = field(default=0, kw_only=True)
    _model: Any = field(default=None, repr=False, kw_only=True)

    @property
    def npar(self) -> int:
        """Number of parameters: fixed effects and θ."""
        return len(self.fixed) + len(self.theta)

    @property
    def aic(self) -> float:
        """Akaike information criterion (for a REML fit on the REML criterion, as lme4)."""
        return -2 * self.loglik + 2 * self.npar

    @property
    def bic(self) -> float:
        """Bayesian information criterion."""
        return -2 * self.loglik + math.log(self.nobs) * self.npar

    def variance_components(self) -> dict[str, float]:
        """The variance components by name, as :func:`variance_components` of the table.

        Returns
        -------
        dict of str to float
            ``{group: variance, ..., "residual": variance}``.
        """
        return variance_components(self.variance)

    def _fitted_model(self, what: str):
        model = getattr(self, "_model", None)
        if model is None:
            raise ValueError(f"the result does not carry its model; refit to get {what}")
        return model

    @abstractmethod
    def _modes(self, model) -> list[np.ndarray]:
        """The conditional modes of the random effects, one array per term."""

    def ranef(self) -> pd.DataFrame:
        """Conditional modes of the random effects (lme4's ``ranef``).

        Returns
        -------
        pandas.DataFrame
            Columns group, level, term and value.
        """
        model = self._fitted_model("ranef")
        return ranef_frame(model.terms, self._modes(model))

    @abstractmethod
    def _offset(self, model, newdata: pd.DataFrame | None) -> np.ndarray:
        """The offset of the fitted rows (``newdata`` None) or of ``newdata``'s rows."""

    def _linkinv(self, eta: np.ndarray) -> np.ndarray:
        """The inverse link (the identity for the linear mixed model)."""
        return eta

    def predict(self, newdata: pd.DataFrame | None = None, *, re_form: str = "full",
                type: str = "link") -> np.ndarray:
        """Predictions of the fitted model, as lme4's ``predict``.

        Parameters
        ----------
        newdata
            Rows to predict for, with the columns the formula uses (the response is not
            needed); None (default) predicts the rows the model was fitted to. A level of a
            grouping factor not seen in the fit gets the fixed part only for that term
            (lme4's ``allow.new.levels = TRUE``); a level of a fixed-effect factor not seen in
            the fit, or a missing value, is an error naming the column and row.
        re_form
            ``"full"`` (default) adds the conditional modes of the random effects (lme4's
            ``re.form = NULL``); ``"none"`` gives the fixed part only (``re.form = NA``).
        type
            ``"link"`` (default) the linear predictor, ``"response"`` its inverse link (the
            same for a linear mixed model).

        Returns
        -------
        numpy.ndarray
            One prediction per row, in the order of the fitted rows or of ``newdata``.

        Examples
        --------
        R: ``predict(lmer(Reaction ~ Days + (Days | Subject), sleepstudy), newdata,
        re.form = NA)``

        >>> import pandas as pd
        >>> from attunement.trials import fit_lmm
        >>> d = pd.DataFrame({"y": [1.0, 2.1, 2.9, 4.2, 1.2, 2.0, 3.1, 3.9, 0.8, 2.2, 3.0, 4.1],
        ...                   "x": [0, 1, 2, 3] * 3, "g": ["a"] * 4 + ["b"] * 4 + ["c"] * 4})
        >>> fit = fit_lmm("y ~ x + (1 | g)", d)
        >>> fit.predict(pd.DataFrame({"x": [10], "g": ["new"]}), re_form="none").round(2)
        array([11.13])
        """
        if re_form not in ("full", "none"):
            raise ValueError(f"re_form must be 'full' or 'none', not {re_form!r}")
        if type not in ("link", "response"):
            raise ValueError(f"type must be 'link' or 'response', not {type!r}")
        model = self._fitted_model("predictions")
        beta = self.fixed["estimate"].to_numpy()
        if newdata is None:
            eta = model.X @ beta + self._offset(model, None)
            if re_form == "full":
                for t, b in zip(model.terms, self._modes(model), strict=True):
                    eta += np.einsum("nk,nk->n", t.Z, b[t.codes])
            return self._linkinv(eta) if type == "response" else eta
        X, Zs = new_design(model.parsed, model.data, model.terms, newdata,
                           getattr(model, "contrasts", None))
        eta = X @ beta + self._offset(model, newdata)
        if re_form == "full":
            for b, (Z, codes) in zip(self._modes(model), Zs, strict=True):
                seen = codes >= 0
                eta[seen] += np.einsum("nk,nk->n", Z[seen], b[codes[seen]])
        return self._linkinv(eta) if type == "response" else eta

    @abstractmethod
    def _draw(self, model, nsim: int, rng: np.random.Generator) -> np.ndarray:
        """``nsim`` simulated responses of the fitted rows (``nobs × nsim``)."""

    def simulate(self, nsim: int = 1, seed: int | None = None) -> np.ndarray:
        """New responses from the fitted model: new random effects each time, then new
        residuals (LMM) or binomial / Poisson draws (GLMM), as lme4's ``simulate`` with its
        default ``use.u = FALSE``.

        Parameters
        ----------
        nsim
            Number of simulated responses per fitted row.
        seed
            Seed of NumPy's default generator (the draws are not R's random stream).

        Returns
        -------
        numpy.ndarray
            ``nobs × nsim``, column j the j-th simulated response. LMM: mean Xβ (plus any
            offset), covariance σ²(ZΛΛᵀZᵀ + W⁻¹) with W the prior weights (I without).
            Binomial GLMM: the proportion of successes out of each row's trials (0/1 for a
            0/1 response), as R's ``binomial()$simulate`` for a response that is not a
            two-column matrix; non-integer trials are an error, as in R. Poisson GLMM:
            counts (prior weights do not enter, as R's ``poisson()$simulate``).

        Examples
        --------
        R: ``simulate(lmer(Reaction ~ Days + (Days | Subject), sleepstudy), nsim = 2,
        seed = 1)`` or ``simulate(glmer(p_admitted ~ Gender + (1 | Dept), ucb, binomial,
        weights = applicants), nsim = 2)`` (same distribution, other draws; the moments are
        checked in ``tests/trials/test_predict.py`` and ``tests/trials/test_lme4_factors.py``)

        >>> import pandas as pd
        >>> from attunement.trials import fit_lmm
        >>> d = pd.DataFrame({"y": [1.0, 2.1, 2.9, 4.2, 1.2, 2.0, 3.1, 3.9, 0.8, 2.2, 3.0, 4.1],
        ...                   "x": [0, 1, 2, 3] * 3, "g": ["a"] * 4 + ["b"] * 4 + ["c"] * 4})
        >>> fit_lmm("y ~ x + (1 | g)", d).simulate(nsim=3, seed=1).shape
        (12, 3)
        """
        if isinstance(nsim, bool) or not isinstance(nsim, int | np.integer) or nsim < 1:
            raise ValueError(f"nsim must be a positive whole number, not {nsim!r}")
        model = self._fitted_model("simulations")
        return self._draw(model, int(nsim), np.random.default_rng(seed))

    def _repr_pretty_(self, p, cycle) -> None:  # pragma: no cover - IPython display
        p.text(str(self))


def variance_components(variance: pd.DataFrame) -> dict[str, float]:
    """``{group: variance, ..., "residual": variance}`` from a variance table; random-slope
    variances are named ``group.column`` and covariances ``group.col1.col2``.

    Parameters
    ----------
    variance : pandas.DataFrame
        A fit's ``variance`` table.

    Returns
    -------
    dict of str to float
        The variances (and covariances) by name.

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"group": ["centre", "Residual"], "term1": ["(Intercept)", ""],
    ...                       "term2": ["", ""], "variance": [0.25, 1.5], "sd_or_corr": [0.5, 1.22]})
    >>> variance_components(table)
    {'centre': 0.25, 'residual': 1.5}
    """
    out: dict[str, float] = {}
    for row in variance.itertuples():
        if row.group == "Residual":
            out["residual"] = float(row.variance)
            continue
        single = (variance["group"] == row.group).sum() == 1 and row.term1 == "(Intercept)"
        key = row.group if single else ".".join(
            x for x in (row.group, row.term1, row.term2) if x)
        out[key] = float(row.variance)
    return out


def summary_dict(res, head: dict, fixed: dict, tail: dict) -> dict:
    """The CLI's JSON shape of a mixed-model fit: the formula, ``head``, the data and groups,
    ``fixed``, the variance components and logLik, then ``tail``.

    Parameters
    ----------
    res : MixedFit
        The fit.
    head, fixed, tail : dict
        What the model adds, in that order.

    Returns
    -------
    dict
        Plain values for JSON.

    Examples
    --------
    >>> import pandas as pd
    >>> from attunement.trials import fit_lmm
    >>> d = pd.DataFrame({"y": [1.0, 2.1, 0.5, 1.9, 1.4, 2.6], "g": ["a", "a", "b", "b", "c", "c"]})
    >>> list(summary_dict(fit_lmm("y ~ 1 + (1 | g)", d), {"reml": True}, {}, {}))[:3]
    ['formula', 'reml', 'nobs']
    """
    return {
        "formula": res.formula,
        **head,
        "nobs": res.nobs,
        "rows_with_missing_values_left_out": res.dropped,
        "groups": res.ngroups,
        "fixed": fixed,
        "variance": variance_components(res.variance),
        "loglik": res.loglik,
        **tail,
    }


def ranef_frame(terms: list[_Term], modes: list[np.ndarray]) -> pd.DataFrame:
    """Conditional modes as lme4's ``ranef``, in a long table.

    Parameters
    ----------
    terms : list
        The random-effects terms.
    modes : list of numpy.ndarray
        One levels × k array per term.

    Returns
    -------
    pandas.DataFrame
        group, level, term, value.

    Examples
    --------
    Two households, x and z, with modes −0.5 and 0.5:

    >>> from attunement.trials.formula import parse_formula
    >>> import pandas as pd
    >>> two = pd.DataFrame({"y": [1.0, 3.0, 2.0, 4.0], "h": ["x", "x", "z", "z"]})
    >>> one_term = design_matrices(parse_formula("y ~ (1 | h)"), two, "lm()", 10)[2]
    >>> import numpy as np
    >>> ranef_frame(one_term, [np.array([[-0.5], [0.5]])])[["level", "value"]].values.tolist()
    [['x', -0.5], ['z', 0.5]]
    """
    rows = []
    for t, b in zip(terms, modes, strict=True):
        for li, level in enumerate(t.levels):
            for ci, col in enumerate(t.columns):
                rows.append((t.group, level, col, float(b[li, ci])))
    return pd.DataFrame(rows, columns=["group", "level", "term", "value"])


def random_effects_lines(variance: pd.DataFrame, ngroups: dict[str, int], nobs: int,
                         dropped: int) -> list[str]:
    """The "Random effects" table and the "Number of obs" line of an lme4-style print (shared
    by the linear and the generalised mixed model).

    Parameters
    ----------
    variance : pandas.DataFrame
        The variance table.
    ngroups : dict of str to int
        Levels per grouping factor.
    nobs, dropped : int
        Rows used and rows left out.

    Returns
    -------
    list of str
        The lines.

    Examples
    --------
    >>> import pandas as pd
    >>> vc = pd.DataFrame({"group": ["site"], "term1": ["(Intercept)"], "term2": [""],
    ...                    "variance": [4.0], "sd_or_corr": [2.0]})
    >>> random_effects_lines(vc, {"site": 6}, 120, 3)[-1]
    'Number of obs: 120 (3 rows with missing values left out), groups:  site, 6'
    """
    lines = ["Random effects:",
             f" {'Groups':<16}{'Name':<14}{'Variance':>11}{'Std.Dev.':>11}{'Corr':>8}"]
    for r in variance.itertuples():
        if r.term2:
            continue
        corr = variance[(variance.group == r.group) & (variance.term2 != "")]
        c = ""
        if r.term1 != "(Intercept)" and len(corr):
            c = " ".join(f"{x:.2f}" for x in corr[corr.term2 == r.term1]["sd_or_corr"])
        lines.append(f" {r.group:<16}{r.term1 or '':<14}{r.variance:>11.5f}"
                     f"{r.sd_or_corr:>11.5f}{c:>8}")
    groups = ", ".join(f"{g}, {m}" for g, m in ngroups.items())
    note = f" ({dropped} rows with missing values left out)" if dropped else ""
    lines.append(f"Number of obs: {nobs}{note}, groups:  {groups}")
    return lines


def warning_lines(singular: bool, converged: bool, message: str) -> list[str]:
    """The closing lines of an lme4-style print: a singular fit, an optimiser that did not
    converge.

    Parameters
    ----------
    singular, converged : bool
        The fit's flags.
    message : str
        The optimiser's message.

    Returns
    -------
    list of str
        Nothing for a regular fit.

    Examples
    --------
    >>> warning_lines(False, True, ""), warning_lines(False, False, "maxiter")[-1]
    ([], 'WARNING: the optimiser did not converge: maxiter')
    """
    lines = []
    if singular:
        lines += ["", "boundary (singular) fit: a variance is estimated as 0 or a correlation "
                      "as ±1"]
    if not converged:
        lines += ["", f"WARNING: the optimiser did not converge: {message}"]
    return lines
