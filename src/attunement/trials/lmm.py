"""Linear mixed models fitted by REML or ML through lme4's profiled deviance.

The formulation is Bates, Mächler, Bolker & Walker (2015), *J Stat Softw* 67(1): the random
effects are b = Λθ u with u ~ N(0, σ²I); the fixed effects and σ² are profiled out, and only the
relative covariance parameters θ (the lower-triangular Cholesky factors of each term's covariance,
divided by σ) are optimised, with lower bounds 0 on their diagonals. For each θ the blocked
Cholesky factor of

    [ΛᵀZᵀZΛ + I   ΛᵀZᵀX   ΛᵀZᵀy]
    [XᵀZΛ         XᵀX     Xᵀy  ]
    [yᵀZΛ         yᵀX     yᵀy  ]

is computed with the random-effect term that has the most levels first: its block is
block-diagonal (one k×k block per level), so it is factorised level by level in one vectorised
call, and only the Schur complement for the remaining terms, X and y is dense (the approach of
MixedModels.jl). The REML criterion is
log|L|² + log|R_X|² + (n − p)(1 + log(2π r²/(n − p))), where r² is the penalised residual sum of
squares; ML uses log|L|² + n(1 + log(2π r²/n)).

Denominator degrees of freedom for the t tests: ``"satterthwaite"`` (lmerTest's method: the
asymptotic covariance of (θ, σ) from the Hessian of the deviance and the gradient of each
contrast's variance; lmerTest takes both numerically, here they are exact, see
:func:`_analytic_derivatives`, so balanced designs give their exact df), ``"kenward-roger"``
(Kenward & Roger 1997, as pbkrtest; the SEs become the adjusted ones, see
:mod:`attunement.trials.kenward_roger`) or ``"between-within"`` (SAS's DDFM=BW, using
the grouping factor with the most levels), or ``"residual"`` (n − p).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, stats

from attunement._blas import bounded_blas
from attunement.trials.formula import (
    Formula,
    FormulaError,
    columns_of,
    evaluate,
    parse_formula,
)
from attunement.trials.kenward_roger import kenward_roger
from attunement.trials.mixed import (
    VARIANCE_COLUMNS,
    MixedFit,
    _Term,
    canonical_theta,
    design_matrices,
    prior_weights,
    random_effects_lines,
    simulated_random_part,
    summary_dict,
    term_factors,
    theta_lower_bounds,
    variance_rows,
    warning_lines,
)
from attunement.trials.newton import backtrack, central_derivatives, newton_direction

__all__ = ["LMMResult", "fit_lmm", "likelihood_ratio_test"]

_LOG2PI = math.log(2 * math.pi)


class _Model:
    """Precomputed cross-products and the profiled deviance for one data set and formula."""

    def __init__(self, X: np.ndarray, y: np.ndarray, terms: list[_Term],
                 weights: np.ndarray | None = None) -> None:
        self.X, self.y, self.terms = X, y, terms
        self.n, self.p = X.shape
        # prior weights (lmer's): residual variance σ²/wᵢ, i.e. the model of √w·y; the
        # cross-products are weighted and the deviance gains −Σ log wᵢ (lme4's ldW)
        self.weights = np.ones(self.n) if weights is None else weights
        self.ldw = float(np.log(self.weights).sum())
        w = self.weights
        t1, rest = terms[0], terms[1:]
        self.rest = rest
        self.q_rest = sum(t.m * t.k for t in rest)
        Zrest = np.zeros((self.n, self.q_rest))
        off = 0
        self.rest_offsets = []
        for t in rest:
            self.rest_offsets.append(off)
            cols = off + t.codes[:, None] * t.k + np.arange(t.k)[None, :]
            Zrest[np.arange(self.n)[:, None], cols] = t.Z
            off += t.m * t.k
        W = np.column_stack([Zrest, X, y])
        self.pw = W.shape[1]
        k1 = t1.k
        self.ZtZ1 = np.zeros((t1.m, k1, k1))
        np.add.at(self.ZtZ1, t1.codes, (w[:, None] * t1.Z)[:, :, None] * t1.Z[:, None, :])
        self.Z1tW = np.zeros((t1.m, k1, self.pw))
        np.add.at(self.Z1tW, t1.codes, (w[:, None] * t1.Z)[:, :, None] * W[:, None, :])
        self.WtW = (W * w[:, None]).T @ W
        self.ntheta = sum(t.ntheta for t in terms)
        self.lower = theta_lower_bounds(terms)

    def _split(self, theta: np.ndarray) -> list[np.ndarray]:
        return term_factors(self.terms, theta)

    def _lam_right(self, M: np.ndarray, lams: list[np.ndarray]) -> np.ndarray:
        """M Λ̃ where Λ̃ = blockdiag(Λ of the remaining terms per level, I)."""
        M = M.copy()
        for t, off, lam in zip(self.rest, self.rest_offsets, lams[1:], strict=True):
            sl = slice(off, off + t.m * t.k)
            block = M[..., sl].reshape(*M.shape[:-1], t.m, t.k)
            M[..., sl] = (block @ lam).reshape(*M.shape[:-1], t.m * t.k)
        return M

    def factor(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """log|L|² and the dense factor of the Schur complement (remaining terms, X, y)."""
        lams = self._split(theta)
        lam1 = lams[0]
        k1 = lam1.shape[0]
        if k1 == 1:
            a = lam1[0, 0]
            d = np.sqrt(a * a * self.ZtZ1[:, 0, 0] + 1.0)
            B = a * self.Z1tW[:, 0, :]
            B = self._lam_right(B, lams)
            L21 = B / d[:, None]
            logdet = 2.0 * np.log(d).sum()
            S = L21.T @ L21
        else:
            A = lam1.T @ self.ZtZ1 @ lam1 + np.eye(k1)
            L11 = np.linalg.cholesky(A)
            B = self._lam_right(lam1.T @ self.Z1tW, lams)
            L21 = np.linalg.solve(L11, B)
            logdet = 2.0 * np.log(np.diagonal(L11, axis1=1, axis2=2)).sum()
            S = np.einsum("mkp,mkq->pq", L21, L21)
        C = self._lam_right(self._lam_right(self.WtW, lams).T, lams).T
        C[np.arange(self.q_rest), np.arange(self.q_rest)] += 1.0
        L22 = np.linalg.cholesky(C - S)
        dg = np.diag(L22)
        logdet += 2.0 * np.log(dg[: self.q_rest]).sum()
        return logdet, L22

    def deviance(self, theta: np.ndarray, reml: bool) -> float:
        try:
            logdet, L22 = self.factor(theta)
        except np.linalg.LinAlgError:
            return np.inf
        q, p, n = self.q_rest, self.p, self.n
        r2 = L22[-1, -1] ** 2
        if reml:
            logdet_x = 2.0 * np.log(np.diag(L22)[q: q + p]).sum()
            return float(logdet + logdet_x + (n - p) * (1.0 + _LOG2PI + math.log(r2 / (n - p)))
                         - self.ldw)
        return float(logdet + n * (1.0 + _LOG2PI + math.log(r2 / n)) - self.ldw)

    def unprofiled(self, theta: np.ndarray, sigma: float, reml: bool) -> float:
        """−2 log-likelihood at (θ, σ), not profiled over σ (used for Satterthwaite df)."""
        logdet, L22 = self.factor(theta)
        q, p, n = self.q_rest, self.p, self.n
        r2 = L22[-1, -1] ** 2
        s2 = sigma * sigma
        if reml:
            logdet_x = 2.0 * np.log(np.diag(L22)[q: q + p]).sum()
            return float(logdet + logdet_x + (n - p) * (_LOG2PI + math.log(s2)) + r2 / s2
                         - self.ldw)
        return float(logdet + n * (_LOG2PI + math.log(s2)) + r2 / s2 - self.ldw)

    def conditional_modes(self, theta: np.ndarray, beta: np.ndarray) -> list[np.ndarray]:
        """b = Λu with u minimising |y − Xβ − ZΛu|² + |u|²: one (levels × k) array per term."""
        lams = self._split(theta)
        lam1 = lams[0]
        q = self.q_rest
        A = lam1.T @ self.ZtZ1 @ lam1 + np.eye(lam1.shape[0])
        B = self._lam_right(lam1.T @ self.Z1tW, lams)[..., :q]  # (m1, k1, q)
        w = np.concatenate([np.zeros(q), -beta, [1.0]])
        b1 = lam1.T @ (self.Z1tW @ w)[..., None]  # (m1, k1, 1)
        zr = np.zeros(self.pw)
        zr[:q] = (self.WtW @ w)[:q]
        b2 = self._lam_right(zr[None, :], lams)[0, :q]
        C = self._lam_right(self._lam_right(self.WtW, lams).T, lams).T[:q, :q] + np.eye(q)
        Ainv_B = np.linalg.solve(A, B)
        Ainv_b1 = np.linalg.solve(A, b1)
        if q:
            S = C - np.einsum("mkq,mkr->qr", B, Ainv_B)
            u2 = np.linalg.solve(S, b2 - np.einsum("mkq,mk->q", B, Ainv_b1[..., 0]))
        else:
            u2 = np.zeros(0)
        u1 = Ainv_b1[..., 0] - np.einsum("mkq,q->mk", Ainv_B, u2)
        out = [u1 @ lam1.T]
        for t, off, lam in zip(self.rest, self.rest_offsets, lams[1:], strict=True):
            out.append(u2[off: off + t.m * t.k].reshape(t.m, t.k) @ lam.T)
        return out

    def fixed(self, theta: np.ndarray, reml: bool) -> tuple[np.ndarray, np.ndarray, float]:
        """β, the unscaled (Lx Lxᵀ)⁻¹ and σ² at θ."""
        _, L22 = self.factor(theta)
        q, p, n = self.q_rest, self.p, self.n
        Lx = L22[q: q + p, q: q + p]
        lyx = L22[-1, q: q + p]
        beta = np.linalg.solve(Lx.T, lyx)
        Linv = np.linalg.inv(Lx)
        unscaled = Linv.T @ Linv
        r2 = L22[-1, -1] ** 2
        sigma2 = r2 / (n - p) if reml else r2 / n
        return beta, unscaled, sigma2


@dataclass
class LMMResult(MixedFit):
    """A fitted linear mixed model (see :func:`fit_lmm`).

    Examples
    --------
    R (lmerTest): ``contest(lmer(y ~ x + (1 | g), d), c(1, 2), joint = FALSE)`` gives the
    value at x = 2 as 3.046667 (SE 0.5849133, df 2.004538, p = 0.03477136):

    >>> import pandas as pd
    >>> d = pd.DataFrame({"y": [2.0, 3.1, 3.9, 5.2, 1.2, 2.0, 3.1, 3.9, -0.2, 1.2, 2.0, 3.1],
    ...                   "x": [0, 1, 2, 3] * 3, "g": ["a"] * 4 + ["b"] * 4 + ["c"] * 4})
    >>> fit = fit_lmm("y ~ x + (1 | g)", d)
    >>> at_two = fit.contrast({"(Intercept)": 1, "x": 2})
    >>> {k: round(v, 6) for k, v in at_two.items()}
    {'estimate': 3.046667, 'se': 0.584913, 'df': 2.004538, 't': 5.208749, 'p': 0.034771}
    >>> fit.to_dict()["df_method"]
    'satterthwaite'
    """

    reml: bool
    sigma: float
    df_method: str

    @property
    def npar(self) -> int:
        """Number of parameters: fixed effects, θ and σ."""
        return len(self.fixed) + len(self.theta) + 1

    def to_dict(self) -> dict:
        """The CLI's JSON shape of the fit.

        Returns
        -------
        dict
            ``{"fixed": {term: {"estimate", "se", "df", "t", "p"}}, "variance", "loglik"}`` and
            the fitting details (REML or ML, df method, singular fit).
        """
        fixed = {
            r.term: {"estimate": float(r.estimate), "se": float(r.se), "df": float(r.df),
                     "t": float(r.t), "p": float(r.p)}
            for r in self.fixed.itertuples()
        }
        return summary_dict(self, {"method": "REML" if self.reml else "ML"}, fixed,
                            {"df_method": self.df_method, "singular": self.singular})

    def _modes(self, model: _Model) -> list[np.ndarray]:
        return model.conditional_modes(self.theta, self.fixed["estimate"].to_numpy())

    def _offset(self, model: _Model, newdata: pd.DataFrame | None) -> np.ndarray:
        data = model.data if newdata is None else newdata
        out = np.zeros(len(data))
        for off in model.parsed.offsets:
            out += evaluate(data, off)
        return out

    def _draw(self, model: _Model, nsim: int, rng: np.random.Generator) -> np.ndarray:
        """Responses with mean Xβ (plus any offset) and covariance σ²(ZΛΛᵀZᵀ + W⁻¹), W the
        prior weights (I without)."""
        mean = model.X @ self.fixed["estimate"].to_numpy() + self._offset(model, None)
        sd = self.sigma / np.sqrt(model.weights)  # σ²/wᵢ with prior weights
        out = mean[:, None] + sd[:, None] * rng.standard_normal((model.n, nsim))
        # b = σΛu with u ~ N(0, I) for each level: covariance σ²ΛΛᵀ
        return out + simulated_random_part(model.terms, self.theta, nsim, rng, self.sigma)

    def contrast(self, weights: dict[str, float] | np.ndarray) -> dict[str, float]:
        """Estimate, SE, df, t and two-sided p of a linear combination of the fixed effects.

        Parameters
        ----------
        weights : dict of str to float or numpy.ndarray
            The weight of each fixed-effect term (by name; others 0), or one per term.

        Returns
        -------
        dict of str to float
            ``estimate``, ``se``, ``df`` (the fit's df method), ``t`` and ``p``.
        """
        names = list(self.fixed["term"])
        if isinstance(weights, dict):
            unknown = set(weights) - set(names)
            if unknown:
                raise KeyError(f"unknown fixed-effect term(s): {sorted(unknown)}; have {names}")
            c = np.array([weights.get(t, 0.0) for t in names], float)
        else:
            c = np.asarray(weights, float)
        est = float(c @ self.fixed["estimate"].to_numpy())
        var = float(c @ self.vcov.to_numpy() @ c)
        se = math.sqrt(var)
        df = _contrast_df(self, c)
        t = est / se
        p = 2 * stats.t.sf(abs(t), df)
        return {"estimate": est, "se": se, "df": df, "t": t, "p": float(p)}

    def __str__(self) -> str:
        lines = [
            f"Linear mixed model fit by {'REML' if self.reml else 'maximum likelihood'}"
            f" (lme4-style profiled deviance)",
            f"Formula: {self.formula}",
            "",
            f"{'REML criterion' if self.reml else 'deviance'} at convergence: {self.deviance:.4f}"
            f"   logLik: {self.loglik:.4f}   AIC: {self.aic:.2f}   BIC: {self.bic:.2f}",
            "",
            *random_effects_lines(self.variance, self.ngroups, self.nobs, self.dropped), "",
            f"Fixed effects (df: {self.df_method}):",
                  f" {'':<22}{'Estimate':>11}{'Std. Error':>12}{'df':>9}{'t value':>9}{'Pr(>|t|)':>10}"]
        for r in self.fixed.itertuples():
            lines.append(f" {r.term:<22}{r.estimate:>11.5f}{r.se:>12.5f}{r.df:>9.1f}"
                         f"{r.t:>9.3f}{_fmt_p(r.p):>10}")
        lines += warning_lines(self.singular, self.converged, self.optimizer_message)
        return "\n".join(lines)


def _fmt_p(p: float) -> str:
    return "<1e-16" if p < 1e-16 else f"{p:.3g}"


def _build(formula: Formula, data: pd.DataFrame, weights: str | np.ndarray | None,
           contrasts: dict[str, str] | None):
    missing = [c for c in formula.variables if c not in data.columns]
    if missing:
        raise FormulaError(f"the data have no column(s) {missing}; columns are {list(data.columns)}")
    w = prior_weights(data, weights)
    used = data[formula.variables]
    bad = used.isna().any(axis=1)
    if bad.any():
        # lme4's default na.action drops incomplete rows; we do so explicitly and report it.
        data = data.loc[~bad]
        w = None if w is None else w[~bad.to_numpy()]
    for col in columns_of(formula.response):
        if not pd.api.types.is_numeric_dtype(data[col]):
            raise FormulaError(f"the response {formula.response!r} must be numeric")
    y = evaluate(data, formula.response)
    for off in formula.offsets:
        # lmer's offset: y = offset + Xβ + Zb + ε, i.e. the model of y − offset
        y = y - evaluate(data, off)
    # lme4 orders random terms by decreasing number of levels
    X, names, terms = design_matrices(formula, data, "ordinary least squares", len(y) - 1,
                                      contrasts)
    return X, names, y, terms, data, w


def _canonical(theta: np.ndarray, model: _Model) -> np.ndarray:
    """Flip the sign of any column of a term's Λ whose diagonal is negative (ΛΛᵀ unchanged)."""
    return canonical_theta(theta, model.terms)


def _newton_polish(f, x: np.ndarray, iters: int = 30) -> tuple[np.ndarray, float, bool]:
    """Unconstrained Newton steps with finite-difference derivatives.

    The profiled deviance depends on θ only through ΛΛᵀ, so it is symmetric under flipping a
    column of Λ; the search needs no bounds and a boundary optimum (a variance of 0) is an
    ordinary smooth minimum at θᵢ = 0.
    """
    fx = f(x)
    for _ in range(iters):
        hs = np.array([1e-4 * max(abs(v), 0.1) for v in x])
        g, H = central_derivatives(f, x, hs, fx)
        if not np.all(np.isfinite(H)) or not np.all(np.isfinite(g)):
            return x, fx, False
        cand, fc, improved = backtrack(f, x, newton_direction(g, H), fx)
        if not improved:
            return x, fx, True
        moved = float(np.max(np.abs(cand - x)))
        x, gain, fx = cand, fx - fc, fc
        if moved < 1e-9 or gain < 1e-13:
            return x, fx, True
    return x, fx, False


def _optimise(model: _Model, reml: bool, start: np.ndarray | None) -> tuple[np.ndarray, bool, str]:
    theta0 = np.array([1.0 if lb == 0 else 0.0 for lb in model.lower]) if start is None else start
    bounds = [(lb if np.isfinite(lb) else None, None) for lb in model.lower]

    def f(th: np.ndarray) -> float:
        return model.deviance(th, reml)

    res = optimize.minimize(f, theta0, method="L-BFGS-B", bounds=bounds,
                            options={"ftol": 1e-13, "gtol": 1e-9, "maxiter": 2000})
    x, fx, ok = _newton_polish(f, res.x)
    # θ = 0 is a stationary point of the sign-symmetric deviance, so a search that reached a
    # boundary may have stopped there although the optimum is inside: restart from inside
    diag = np.flatnonzero(model.lower == 0)
    for i in diag:
        if abs(x[i]) < 1e-3:
            trial = x.copy()
            trial[i] = 0.2
            if f(trial) < np.inf:
                res_i = optimize.minimize(f, trial, method="L-BFGS-B", bounds=bounds,
                                          options={"ftol": 1e-13, "gtol": 1e-9})
                y, fy, ok_y = _newton_polish(f, res_i.x)
                if fy < fx - 1e-10:
                    x, fx, ok = y, fy, ok_y
    msg = ""
    if not ok:
        # derivative-free trust-region fallback (lme4 uses BOBYQA; COBYQA is its successor
        # from Powell's school and respects the bounds exactly)
        res2 = optimize.minimize(f, _canonical(x, model), method="COBYQA", bounds=bounds,
                                 options={"initial_tr_radius": 0.05, "final_tr_radius": 1e-10,
                                          "maxfev": 5000 * len(x)})
        if res2.fun <= fx:
            x, fx = res2.x, res2.fun
        ok = bool(res2.success)
        msg = "" if ok else str(res2.message)
    x = _canonical(x, model)
    # snap tiny diagonal values to the boundary when that is no worse (lme4 reports exact 0)
    snapped = x.copy()
    snapped[(model.lower == 0) & (np.abs(snapped) < 1e-5)] = 0.0
    if f(snapped) <= fx + 1e-10:
        x = snapped
    return x, ok and bool(np.isfinite(fx)), msg


_DF_METHODS = ("satterthwaite", "kenward-roger", "between-within", "residual")


@bounded_blas
def fit_lmm(
    formula: str,
    data: pd.DataFrame,
    reml: bool = True,
    df_method: str = "satterthwaite",
    start: np.ndarray | None = None,
    ddf: str | None = None,
    weights: str | np.ndarray | None = None,
    contrasts: dict[str, str] | None = None,
) -> LMMResult:
    """Fit a linear mixed model with an lme4-style formula, by REML (default) or ML.

    Parameters
    ----------
    formula : str
        An lme4-style formula, e.g. ``"y ~ arm * wave + (1 | centre) + (1 + wave | family)"``;
        ``(1 | a/b)`` nests, ``(1 + x || g)`` gives uncorrelated effects, ``factor(x)`` makes a
        column categorical; ``I()``, ``log()``, ``poly(x, d)``, ``offset()`` and a
        transformed response as in R (see ``docs/statistics/trials.md``).
    data : pandas.DataFrame
        One row per observation. Rows with a missing value in any variable the formula uses
        are left out (lme4's default) and counted in ``dropped``.
    reml
        REML (default) or maximum likelihood.
    df_method
        Denominator df of the t tests: ``"satterthwaite"`` (default, as lmerTest),
        ``"kenward-roger"`` (as pbkrtest / lmerTest ``ddf = "Kenward-Roger"``: the SEs and
        ``vcov`` become Kenward–Roger's adjusted covariance; REML fits only),
        ``"between-within"`` or ``"residual"``.
    start
        Starting values of θ (lme4's ``start``).
    ddf
        lmerTest's name for ``df_method`` (``"Kenward-Roger"``, ``"Satterthwaite"`` are
        accepted in any case).
    weights
        Prior weights, a column name or one value per row (lmer's ``weights``): row i has
        residual variance σ²/wᵢ. Each must be positive; a missing, zero or negative weight
        is an error naming the row. Not with Kenward–Roger df (pbkrtest leaves lmer's
        weights out of V).
    contrasts
        Coding of factors, as R's ``contrasts``: ``{"column": "sum" | "helmert" |
        "treatment"}`` (default treatment, first level as reference; columns of sum and
        Helmert contrasts are numbered, ``f1``, ``f2``, as R). It codes the factor in the
        fixed and the random terms alike (as setting ``contrasts(data$f)`` in R; lmer's
        ``contrasts =`` argument reaches the fixed terms only).

    Returns
    -------
    LMMResult
        ``fixed`` (term, estimate, se, df, t, p, ci_lb, ci_ub), ``variance``, ``loglik``,
        ``vcov``; ``contrast`` tests a linear combination with the same df method.

    Examples
    --------
    On the project's public fixture ``tests/reference/lmm_trial_public.csv``,
    ``fit_lmm("y ~ arm * wave + (1 | centre) + (1 | family)", df).fixed`` gives arm:wave
    0.2959718 (SE 0.0516539) and ``loglik`` −1881.70776, as lme4 1.1-31 (checked in
    ``tests/trials/test_lmm.py`` to 1e-4 relative, in practice ~1e-6).

    Satterthwaite df as lmerTest: ``summary(lmer(Reaction ~ Days + (Days | Subject),
    sleepstudy), ddf = "Satterthwaite")`` gives df 17.0000009 and 17.0000028 (numerical
    derivatives); the exact value, returned here, is 17 for both (checked to 1e-6 against
    lmerTest in ``tests/trials/test_lmm_satterthwaite.py``).

    Kenward–Roger as lmerTest 3.1-3 / pbkrtest 0.5.2: ``summary(lmer(weight ~ Time * Diet +
    (Time | Chick), ChickWeight), ddf = "Kenward-Roger")`` gives Time:Diet2 df 45.5749207 and
    SE 1.3045690; ``fit_lmm("weight ~ Time * Diet + (Time | Chick)", chick,
    df_method="kenward-roger")`` gives the same (``tests/trials/test_lmm_kenward_roger.py``,
    1e-6 relative on df and SE).

    Factors, contrasts and weights as lme4 1.1-31 (``tests/trials/test_lme4_factors.py``):
    ``lmer(score ~ Machine + (0 + Machine | Worker), Machines)`` gives MachineB 7.9666667
    (SE 2.4208504), Worker variances 16.64053 (MachineA), 74.39565 (MachineB), 19.26753
    (MachineC) and logLik −104.15561; after ``contrasts(Machines$Machine) <- "contr.sum"``,
    ``lmer(score ~ Machine + (Machine | Worker), Machines)`` gives Machine1 −7.2944444
    (SE 1.0790747), as ``fit_lmm(..., contrasts={"Machine": "sum"})``; and
    ``lmer(height ~ age + (age | Subject), Oxboys, weights = w)`` (w = 1 + Occasion mod 3)
    gives age 6.4776898 (SE 0.3363261) and logLik −365.63433, as ``weights="w"``.
    """
    if ddf is not None:
        chosen = ddf.lower()
        if df_method != "satterthwaite" and df_method != chosen:
            raise ValueError(f"ddf={ddf!r} and df_method={df_method!r} disagree; give one")
        df_method = chosen
    if df_method not in _DF_METHODS:
        raise ValueError("df_method must be 'satterthwaite', 'kenward-roger', 'between-within' "
                         f"or 'residual', not {df_method!r}")
    if df_method == "kenward-roger" and not reml:
        raise ValueError("Kenward-Roger df are defined for REML fits (reml=True), as in pbkrtest")
    if df_method == "kenward-roger" and weights is not None:
        raise ValueError("Kenward-Roger df with prior weights are not available (pbkrtest "
                         "leaves lmer's weights out); use df_method='satterthwaite'")
    f = parse_formula(formula)
    X, names, y, terms, used, w = _build(f, data, weights, contrasts)
    dropped = len(data) - len(used)
    model = _Model(X, y, terms, w)
    model.data, model.parsed, model.contrasts = used, f, contrasts  # for predict with newdata
    theta, converged, msg = _optimise(model, reml, start)
    beta, unscaled, sigma2 = model.fixed(theta, reml)
    dev = model.deviance(theta, reml)
    vcov = sigma2 * unscaled
    sigma = math.sqrt(sigma2)
    singular = any(np.any(np.abs(np.diag(lam)) < 1e-7) for lam in term_factors(terms, theta))
    rows = variance_rows(terms, theta, sigma2)
    rows.append(("Residual", "", "", sigma2, sigma))
    variance = pd.DataFrame(rows, columns=VARIANCE_COLUMNS)
    se = np.sqrt(np.diag(vcov))
    fixed = pd.DataFrame({"term": names, "estimate": beta, "se": se})
    result = LMMResult(
        formula=formula, reml=reml, nobs=len(y), fixed=fixed, variance=variance,
        loglik=-dev / 2, deviance=dev, theta=theta, sigma=sigma,
        vcov=pd.DataFrame(vcov, index=names, columns=names),
        ngroups={t.group: t.m for t in terms}, df_method=df_method, singular=singular,
        converged=converged, optimizer_message=msg, dropped=dropped, _model=model,
    )
    if df_method == "kenward-roger":
        kr = kenward_roger(X, terms, [sigma2 * lam @ lam.T for lam in term_factors(terms, theta)],
                           sigma2)
        result.__dict__["_kr"] = kr
        se = np.sqrt(np.diag(kr.phi_adjusted))
        fixed["se"] = se
        result.vcov = pd.DataFrame(kr.phi_adjusted, index=names, columns=names)
    dfs = [_contrast_df(result, np.eye(len(names))[i]) for i in range(len(names))]
    fixed["df"] = dfs
    fixed["t"] = beta / se
    fixed["p"] = 2 * stats.t.sf(np.abs(fixed["t"]), fixed["df"])
    q = stats.t.ppf(0.975, fixed["df"])
    fixed["ci_lb"] = beta - q * se
    fixed["ci_ub"] = beta + q * se
    return result


# ---------------------------------------------------------------------------------------------
# denominator degrees of freedom


def _contrast_df(res: LMMResult, c: np.ndarray) -> float:
    model = res._model
    if model is None:
        raise ValueError("the result does not carry its model; refit to compute df")
    if res.df_method == "residual":
        return float(model.n - model.p)
    if res.df_method == "between-within":
        return _between_within_df(model, c)
    if res.df_method == "kenward-roger":
        return res.__dict__["_kr"].df(c)
    return _satterthwaite_df(res, model, c)


def _between_within_df(model: _Model, c: np.ndarray) -> float:
    t = model.terms[0]  # grouping factor with the most levels
    X = model.X
    # a column is "between" if it is constant within every level of the grouping factor
    between = []
    for j in range(X.shape[1]):
        col = X[:, j]
        mins = np.full(t.m, np.inf)
        maxs = np.full(t.m, -np.inf)
        np.minimum.at(mins, t.codes, col)
        np.maximum.at(maxs, t.codes, col)
        between.append(bool(np.all(maxs - mins < 1e-12)))
    between = np.array(between)
    p_between = int(between.sum())
    df_between = t.m - p_between
    df_within = model.n - t.m - (model.p - p_between)
    used = np.abs(c) > 0
    return float(df_within if np.any(used & ~between) else df_between)


#: above this many random effects the q×q matrices of the analytic derivatives get large
#: (memory q², time q³), and the finite-difference derivatives through the blocked factor are used
_ANALYTIC_MAX_Q = 3000


def _satterthwaite_df(res: LMMResult, model: _Model, c: np.ndarray) -> float:
    cache = res.__dict__.setdefault("_satt_cache", {})
    if "A" not in cache:
        vp = np.concatenate([res.theta, [res.sigma]])
        if sum(t.m * t.k for t in model.terms) <= _ANALYTIC_MAX_Q:
            H, jac = _analytic_derivatives(model, res.theta, res.sigma, res.reml)
        else:
            def dev(v: np.ndarray) -> float:
                return model.unprofiled(v[:-1], v[-1], res.reml)

            def vcov_at(v: np.ndarray) -> np.ndarray:
                _, unscaled, _ = model.fixed(v[:-1], res.reml)
                return v[-1] ** 2 * unscaled

            H = _hessian(dev, vp)
            jac = _jacobian_matrices(vcov_at, vp)
        try:
            cache["A"] = 2.0 * np.linalg.inv(H)
        except np.linalg.LinAlgError:
            cache["A"] = 2.0 * np.linalg.pinv(H)
        cache["vp"] = vp
        cache["jac"] = jac
    A, jac = cache["A"], cache["jac"]
    var = float(c @ res.vcov.to_numpy() @ c)
    g = np.array([c @ J @ c for J in jac])
    denom = float(g @ A @ g)
    if denom <= 0:
        return float("inf")
    return 2.0 * var * var / denom


def _analytic_derivatives(model: _Model, theta: np.ndarray, sigma: float,
                          reml: bool) -> tuple[np.ndarray, list[np.ndarray]]:
    """Exact Hessian of the deviance in (θ, σ) and Jacobian of Var(β̂), for Satterthwaite df.

    lmerTest differentiates ``devfun_vp`` (the REML or ML deviance with β profiled and σ free)
    numerically; here the same quantities are written out. With V = σ²Σ, Σ = I + ZΛΛᵀZᵀ and
    P = Σ⁻¹ − Σ⁻¹X(XᵀΣ⁻¹X)⁻¹XᵀΣ⁻¹, the deviance is N log σ² + log|Σ| (+ log|XᵀΣ⁻¹X| for
    REML) + yᵀPy/σ² (N = n − p for REML, n for ML), and with Σₖ = ∂Σ/∂θₖ = Z Dₖ Zᵀ:

        ∂²/∂θₖ∂θₗ = tr(S Σₖₗ) − tr(S Σₖ S Σₗ) + (2 yᵀPΣₖPΣₗPy − yᵀPΣₖₗPy) / σ²
        ∂²/∂θₖ∂σ  = 2 yᵀPΣₖPy / σ³,      ∂²/∂σ² = −2N/σ² + 6 yᵀPy/σ⁴

    where S = P for REML and Σ⁻¹ for ML (Harville 1977, *JASA* 72:320), and
    ∂Var(β̂)/∂θₖ = σ² C XᵀΣ⁻¹ΣₖΣ⁻¹X C, ∂Var(β̂)/∂σ = 2σC with C = (XᵀΣ⁻¹X)⁻¹. Every product
    is taken in the space of the q random effects (Woodbury), never n × n.
    """
    n, p = model.n, model.p
    terms = model.terms
    offsets, q = [], 0
    for t in terms:
        offsets.append(q)
        q += t.m * t.k
    lams = model._split(theta)
    K = _weighted_crossproducts(model, lams)                      # [Z X y]ᵀΣ⁻¹[Z X y]
    ix = slice(q, q + p)
    C = np.linalg.inv(K[ix, ix])
    Kp = K - K[:, ix] @ C @ K[ix, :]                                      # [Z X y]ᵀP[Z X y]
    Mp = Kp[:q, :q]
    S = Mp if reml else K[:q, :q]
    u = Kp[:q, -1]
    ypy = Kp[-1, -1]
    KzX = K[:q, ix]
    N = n - p if reml else n
    s2 = sigma * sigma

    # one entry per θ: its term, the term's rows, and the per-level derivative block dₖ of ΛΛᵀ
    params = []
    for t, o, lam in zip(terms, offsets, lams, strict=True):
        for j in range(t.k):
            for i in range(j, t.k):
                e = np.zeros((t.k, t.k))
                e[i, j] = 1.0
                params.append((t, o, i, j, e @ lam.T + lam @ e.T))

    def apply(t: _Term, o: int, d: np.ndarray, M: np.ndarray) -> np.ndarray:
        """(I_m ⊗ d) M[rows of the term]: Dₖ M restricted to its non-zero rows."""
        block = M[o: o + t.m * t.k].reshape(t.m, t.k, -1)
        out = np.empty_like(block)
        for i in range(t.k):  # k is 1-3: k² axpys beat a tensordot that copies M
            np.multiply(block[:, 0], d[i, 0], out=out[:, i])
            for j in range(1, t.k):
                if d[i, j] != 0.0:
                    out[:, i] += d[i, j] * block[:, j]
        return out.reshape(t.m * t.k, *M.shape[1:])

    nt = len(params)
    H = np.zeros((nt + 1, nt + 1))
    DS = [apply(t, o, d, S) for t, o, _, _, d in params]       # Dₖ S (term rows × q)
    SD = [np.ascontiguousarray(m.T) for m in DS]                # S Dₖ (q × term columns)
    Du = [apply(t, o, d, u) for t, o, _, _, d in params]       # Dₖ u (term rows)
    for a, (ta, oa, ia, ja, _) in enumerate(params):
        ra = slice(oa, oa + ta.m * ta.k)
        for b in range(a + 1):
            tb, ob, ib, jb, _ = params[b]
            rb = slice(ob, ob + tb.m * tb.k)
            # tr(Dₐ S D_b S) = Σ (Dₐ S)[ra, rb] ∘ (S D_b)[ra, rb]  (S symmetric)
            trace2 = float(np.sum(DS[a][:, rb] * SD[b][ra, :]))
            quad2 = float(Du[a] @ Mp[ra, rb] @ Du[b])
            h = -trace2 + 2 * quad2 / s2
            if ta is tb and ja == jb:
                # Σₖₗ = Z (I ⊗ (eᵢeᵢ'ᵀ + eᵢ'eᵢᵀ)) Zᵀ when both θ sit in the same column of Λ
                dab = np.zeros((ta.k, ta.k))
                dab[ia, ib] += 1.0
                dab[ib, ia] += 1.0
                blocks = S[ra, ra].reshape(ta.m, ta.k, ta.m, ta.k)
                diag = np.einsum("lilj->ij", blocks)
                uu = u[ra].reshape(ta.m, ta.k)
                h += float(np.sum(diag * dab)) - float(np.einsum("li,ij,lj->", uu, dab, uu)) / s2
            H[a, b] = H[b, a] = h
        H[a, nt] = H[nt, a] = 2 * float(u[ra] @ Du[a]) / sigma**3
    H[nt, nt] = -2 * N / s2 + 6 * ypy / s2**2

    jac = []
    for t, o, _, _, d in params:
        r = slice(o, o + t.m * t.k)
        DK = apply(t, o, d, KzX)
        jac.append(s2 * C @ (KzX[r].T @ DK) @ C)
    jac.append(2 * sigma * C)
    return H, jac


def _weighted_crossproducts(model: _Model, lams: list[np.ndarray]) -> np.ndarray:
    """[Z X y]ᵀ Σ⁻¹ [Z X y] with Σ = I + ZΛΛᵀZᵀ, columns ordered as the model's terms.

    By Woodbury this is G − TᵀA⁻¹T with G = [Z X y]ᵀ[Z X y], T = ΛᵀG[Z rows] and
    A = I + ΛᵀZᵀZΛ; A is eliminated in two blocks as in :meth:`_Model.factor`: the term with
    the most levels is block-diagonal (one small Cholesky per level), so the cost is
    O(q₁² q₂) rather than O(q³) (q₁, q₂: effects of the first and of the remaining terms).
    """
    from scipy import linalg

    t1 = model.terms[0]
    m1, k1 = t1.m, t1.k
    q1, q2, c2 = m1 * k1, model.q_rest, model.pw
    lam1 = lams[0]
    lam2 = linalg.block_diag(*[np.kron(np.eye(t.m), lam)
                               for t, lam in zip(model.rest, lams[1:], strict=True)]) \
        if q2 else np.zeros((0, 0))
    ZtZ1, Z1tW, WtW = model.ZtZ1, model.Z1tW, model.WtW
    T1_1 = lam1.T @ ZtZ1                                            # (m1, k1, k1)
    T1_w = lam1.T @ Z1tW                                            # (m1, k1, c2)
    G21 = Z1tW[:, :, :q2].transpose(2, 0, 1).reshape(q2, q1)       # Z2ᵀZ1
    T2_1 = lam2.T @ G21                                             # (q2, q1)
    T2_w = lam2.T @ WtW[:q2, :]                                     # (q2, c2)
    L11 = np.linalg.cholesky(T1_1 @ lam1 + np.eye(k1))
    B = np.linalg.solve(L11, T1_1)
    R = np.linalg.solve(L11, T1_w)
    F = np.linalg.solve(L11, T1_w[:, :, :q2] @ lam2)               # L11⁻¹ A12
    if q2:
        S22 = np.eye(q2) + T2_w[:, :q2] @ lam2 - np.einsum("lkq,lkr->qr", F, F)
        L22 = np.linalg.cholesky(S22)
        Y2_1 = linalg.solve_triangular(
            L22, T2_1 - np.einsum("lkq,lkj->qlj", F, B).reshape(q2, q1), lower=True)
        Y2_w = linalg.solve_triangular(L22, T2_w - np.einsum("lkq,lkc->qc", F, R), lower=True)
    else:
        Y2_1, Y2_w = np.zeros((0, q1)), np.zeros((0, c2))
    K = np.empty((q1 + c2, q1 + c2))
    K[:q1, :q1] = -(Y2_1.T @ Y2_1)
    diag = ZtZ1 - np.einsum("lki,lkj->lij", B, B)
    for i in range(k1):
        for j in range(k1):
            K[np.arange(m1) * k1 + i, np.arange(m1) * k1 + j] += diag[:, i, j]
    K[:q1, q1:] = (Z1tW - np.einsum("lki,lkc->lic", B, R)).reshape(q1, c2) - Y2_1.T @ Y2_w
    K[q1:, :q1] = K[:q1, q1:].T
    K[q1:, q1:] = WtW - np.einsum("lkc,lkd->cd", R, R) - Y2_w.T @ Y2_w
    return K


def _step(x: float) -> float:
    return 1e-4 * max(abs(x), 0.1)


def _hessian(f, x: np.ndarray) -> np.ndarray:
    """Central-difference Hessian with one Richardson extrapolation step."""
    def h_at(scale: float) -> np.ndarray:
        return central_derivatives(f, x, np.array([_step(v) * scale for v in x]))[1]

    H1, H2 = h_at(2.0), h_at(1.0)
    return (4 * H2 - H1) / 3


def _jacobian_matrices(f, x: np.ndarray) -> list[np.ndarray]:
    out = []
    for i in range(len(x)):
        h = _step(x[i])
        e = np.zeros(len(x))
        e[i] = h
        d1 = (f(x + e) - f(x - e)) / (2 * h)
        d2 = (f(x + 2 * e) - f(x - 2 * e)) / (4 * h)
        out.append((4 * d1 - d2) / 3)
    return out


def likelihood_ratio_test(smaller: LMMResult, larger: LMMResult) -> dict[str, float]:
    """Likelihood-ratio test of two nested fits (as lme4's ``anova``).

    Both must be ML fits when their fixed effects differ (REML likelihoods of models with
    different fixed effects are not comparable); REML fits are accepted when only the random
    effects differ. A variance tested on its boundary makes the χ² p-value conservative
    (the null distribution is a χ² mixture; Self & Liang 1987).

    Parameters
    ----------
    smaller : LMMResult
        The model nested in ``larger``.
    larger : LMMResult
        The model with more parameters.

    Returns
    -------
    dict of str to float
        ``chi2``, ``df``, ``p`` and both models' AIC.

    Examples
    --------
    R: ``anova(lmer(y ~ 1 + (1 | g), d, REML = FALSE), lmer(y ~ x + (1 | g), d, REML =
    FALSE))`` gives Chisq 39.798 on 1 df, p = 2.816e-10, AIC 47.957 and 10.159:

    >>> import pandas as pd
    >>> rows = pd.DataFrame({"y": [2.0, 3.1, 3.9, 5.2, 1.2, 2.0, 3.1, 3.9, -0.2, 1.2, 2.0, 3.1],
    ...                      "x": [0, 1, 2, 3] * 3, "g": list("aaaabbbbcccc")})
    >>> flat = fit_lmm("y ~ 1 + (1 | g)", rows, reml=False)
    >>> sloped = fit_lmm("y ~ x + (1 | g)", rows, reml=False)
    >>> test = likelihood_ratio_test(flat, sloped)
    >>> round(test["chi2"], 3), test["df"], f"{test['p']:.3e}", round(test["aic_larger"], 3)
    (39.798, 1.0, '2.816e-10', 10.159)
    """
    if smaller.nobs != larger.nobs:
        raise ValueError(f"the fits use different data ({smaller.nobs} vs {larger.nobs} rows)")
    same_fixed = list(smaller.fixed["term"]) == list(larger.fixed["term"])
    if (smaller.reml or larger.reml) and not (smaller.reml and larger.reml and same_fixed):
        raise ValueError("compare ML fits (fit_lmm(..., reml=False)) when the fixed effects "
                         "differ; REML fits only when the fixed effects are the same")
    df = larger.npar - smaller.npar
    if df <= 0:
        raise ValueError("the second model must have more parameters than the first")
    chi2 = max(2 * (larger.loglik - smaller.loglik), 0.0)
    return {"chi2": chi2, "df": float(df), "p": float(stats.chi2.sf(chi2, df)),
            "aic_smaller": smaller.aic, "aic_larger": larger.aic}
