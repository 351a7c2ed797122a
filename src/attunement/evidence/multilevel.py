"""Three-level meta-analysis: several effect sizes nested in studies or sites, as metafor's
``rma.mv(yi, vi, random = ~ 1 | cluster/estimate)``.

Model: y_ij = x_ijᵀβ + u_j + w_ij + e_ij with u_j ~ N(0, σ²₁) (between clusters),
w_ij ~ N(0, σ²₂) (between estimates within a cluster), e_ij ~ N(0, v_ij) known (Konstantopoulos
2011, https://doi.org/10.1002/jrsm.35; Cheung 2014). The marginal covariance is block
diagonal with blocks D_j + σ²₁11ᵀ, so its inverse and determinant come from the
Sherman–Morrison formula per cluster: every likelihood evaluation is O(k).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import brentq, minimize, minimize_scalar
from scipy.special import chdtrc, chdtri, ndtr, ndtri

__all__ = ["MVResult", "rma_mv"]

_LOG2PI = math.log(2 * math.pi)


class _ThreeLevel:
    """Log-likelihood of the three-level model for given (σ²₁, σ²₂)."""

    def __init__(self, y: np.ndarray, v: np.ndarray, X: np.ndarray, groups: np.ndarray,
                 reml: bool) -> None:
        self.y, self.v, self.X, self.g = y, v, X, groups
        self.m = int(groups.max()) + 1
        self.reml = reml
        self.k, self.p = X.shape
        self.logdet_xtx = float(np.linalg.slogdet(X.T @ X)[1])

    def _sum_by_group(self, a: np.ndarray) -> np.ndarray:
        if a.ndim == 1:
            return np.bincount(self.g, weights=a, minlength=self.m)
        return np.stack([np.bincount(self.g, weights=a[:, j], minlength=self.m)
                         for j in range(a.shape[1])], axis=1)

    def fit(self, s1: float, s2: float) -> dict[str, Any]:
        y, X = self.y, self.X
        d = self.v + s2
        inv_d = 1.0 / d
        S = np.bincount(self.g, weights=inv_d, minlength=self.m)
        c = 1.0 + s1 * S
        uX = self._sum_by_group(X * inv_d[:, None])
        uy = np.bincount(self.g, weights=y * inv_d, minlength=self.m)
        XtVX = X.T @ (X * inv_d[:, None]) - s1 * (uX.T @ (uX / c[:, None]))
        XtVy = X.T @ (y * inv_d) - s1 * (uX.T @ (uy / c))
        vb = np.linalg.inv(XtVX)
        beta = vb @ XtVy
        r = y - X @ beta
        ur = np.bincount(self.g, weights=r * inv_d, minlength=self.m)
        rss = float(np.dot(r * inv_d, r) - s1 * np.dot(ur, ur / c))
        logdet_v = float(np.sum(np.log(d)) + np.sum(np.log(c)))
        ll_ml = -0.5 * (self.k * _LOG2PI + logdet_v + rss)
        ll_reml = -0.5 * ((self.k - self.p) * _LOG2PI - self.logdet_xtx + logdet_v
                          + float(np.linalg.slogdet(XtVX)[1]) + rss)
        return {"beta": beta, "vb": vb, "ll_ml": ll_ml, "ll_reml": ll_reml}

    def loglik(self, s1: float, s2: float) -> float:
        out = self.fit(s1, s2)
        return out["ll_reml"] if self.reml else out["ll_ml"]


def _maximise(model: _ThreeLevel, start: tuple[float, float],
              fixed: tuple[float | None, float | None] = (None, None)) -> tuple[float, float]:
    """Maximise the (restricted) likelihood over σ² ≥ 0, optionally holding one fixed."""
    free = [i for i in range(2) if fixed[i] is None]

    def full(theta: np.ndarray) -> tuple[float, float]:
        vals = list(fixed)
        for j, i in enumerate(free):
            vals[i] = float(theta[j])
        return vals[0], vals[1]  # type: ignore[return-value]

    if len(free) == 1:
        i = free[0]
        hi = max(10.0, 10 * start[i])

        def f(t: float) -> float:
            return -model.loglik(*full(np.array([t])))

        res = minimize_scalar(f, bounds=(0.0, hi), method="bounded",
                              options={"xatol": 1e-13, "maxiter": 2000})
        best = float(res.x)
        if f(0.0) <= f(best):
            best = 0.0
        return full(np.array([best]))
    x0 = np.array([max(start[0], 1e-4), max(start[1], 1e-4)])
    res = minimize(lambda t: -model.loglik(t[0], t[1]), x0, method="L-BFGS-B",
                   bounds=[(0.0, None), (0.0, None)],
                   options={"ftol": 1e-15, "gtol": 1e-11, "maxiter": 10000})
    x = res.x.copy()
    # polish each component in turn (coordinate-wise 1-D maximisation converges to the
    # optimum to near machine precision where the quasi-Newton step stops early)
    for _ in range(60):
        old = x.copy()
        for i in range(2):
            fix = [float(x[0]), float(x[1])]
            fix[i] = None  # type: ignore[call-overload]
            x = np.array(_maximise(model, (float(x[0]), float(x[1])), tuple(fix)))  # type: ignore[arg-type]
        if np.max(np.abs(x - old)) < 1e-13:
            break
    return float(x[0]), float(x[1])


@dataclass(repr=False)
class MVResult:
    """A fitted three-level model (metafor's ``rma.mv`` with ``~ 1 | cluster/estimate``)."""

    method: str
    k: int
    n_clusters: int
    coef_names: list[str]
    beta: np.ndarray
    se: np.ndarray
    zval: np.ndarray
    pval: np.ndarray
    ci_lb: np.ndarray
    ci_ub: np.ndarray
    vb: np.ndarray
    sigma2: np.ndarray
    QE: float
    QEp: float
    fit_stats: dict[str, float]
    level: float
    _model: Any = field(repr=False)

    def profile_ci(self, component: int, level: float | None = None) -> tuple[float, float]:
        """Profile-likelihood CI for σ²₁ (component 0, between clusters) or σ²₂ (1)."""
        lev = self.level if level is None else level
        alpha = 1 - (lev / 100 if lev > 1 else lev)
        crit = float(chdtri(1, alpha))
        model = self._model
        ll_max = model.loglik(*self.sigma2)
        est = float(self.sigma2[component])

        def drop(t: float) -> float:
            fixed: list[float | None] = [None, None]
            fixed[component] = t
            s = _maximise(model, (float(self.sigma2[0]), float(self.sigma2[1])),
                          (fixed[0], fixed[1]))
            return 2 * (ll_max - model.loglik(*s)) - crit

        lo = 0.0 if drop(0.0) <= 0 else brentq(drop, 0.0, est, xtol=1e-12, rtol=1e-12)
        hi_end = max(est * 10, 1.0)
        while drop(hi_end) < 0:
            hi_end *= 10
            if hi_end > 1e8:
                return lo, math.inf
        hi = brentq(drop, est, hi_end, xtol=1e-12, rtol=1e-12)
        return lo, hi

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "k": self.k, "clusters": self.n_clusters,
                "estimate": float(self.beta[0]), "se": float(self.se[0]),
                "pval": float(self.pval[0]), "ci_lb": float(self.ci_lb[0]),
                "ci_ub": float(self.ci_ub[0]), "sigma2_between": float(self.sigma2[0]),
                "sigma2_within": float(self.sigma2[1]), "Q": self.QE, "Q_p": self.QEp}

    def __repr__(self) -> str:
        return self.__str__()

    def __str__(self) -> str:
        lines = [
            f"Multilevel Meta-Analysis Model (k = {self.k}; {self.n_clusters} clusters; "
            f"method: {self.method})",
            "",
            f"sigma^2.1 (between clusters):            {self.sigma2[0]:.4f}",
            f"sigma^2.2 (within clusters, between ES): {self.sigma2[1]:.4f}",
            "",
            f"Test for Heterogeneity: Q(df = {self.k - len(self.beta)}) = {self.QE:.4f}, "
            f"p = {self.QEp:.4g}",
            "",
        ]
        for i, name in enumerate(self.coef_names):
            lines.append(f"{name:<10} {self.beta[i]:9.4f} (se {self.se[i]:.4f}), "
                         f"z = {self.zval[i]:.4f}, p = {self.pval[i]:.4g}, "
                         f"CI {self.ci_lb[i]:.4f} to {self.ci_ub[i]:.4f}")
        return "\n".join(lines)


def rma_mv(
    yi: Any = "yi",
    vi: Any = "vi",
    *,
    cluster: Any,
    data: pd.DataFrame | None = None,
    mods: Any = None,
    method: str = "REML",
    level: float = 95,
) -> MVResult:
    """Three-level random-effects model: estimates nested in ``cluster`` (a column name or
    labels), with between-cluster (σ²₁) and within-cluster (σ²₂) variance components,
    estimated by ``REML`` (default) or ``ML``. Optional numeric moderators as ``mods``.
    """
    from attunement.evidence.models import _design, _vector

    if method not in {"REML", "ML"}:
        raise ValueError("method must be 'REML' or 'ML'")
    y = _vector("yi", yi, data)
    v = _vector("vi", vi, data)
    if y is None or v is None:
        raise ValueError("yi and vi are required")
    labels = data[cluster] if isinstance(cluster, str) and data is not None else cluster
    labels = pd.Series(np.asarray(labels))
    if len(labels) != y.size:
        raise ValueError("cluster must have one label per estimate")
    X, names, _, _ = _design(mods, data, y.size, True)
    bad = np.isnan(y) | np.isnan(v) | labels.isna().to_numpy() | np.isnan(X).any(axis=1)
    if bad.any():
        raise ValueError(f"missing values in rows {', '.join(str(i + 1) for i in np.flatnonzero(bad)[:10])}")
    if np.any(v <= 0):
        raise ValueError("sampling variances must be positive")
    groups = pd.factorize(labels)[0]
    model = _ThreeLevel(y, v, X, groups, reml=method == "REML")
    k, p = X.shape
    if k < p + 2:
        raise ValueError("too few estimates for two variance components")
    start = (float(np.var(y)) / 2, float(np.var(y)) / 2)
    s1, s2 = _maximise(model, start)
    out = model.fit(s1, s2)
    beta, vb = out["beta"], out["vb"]
    se = np.sqrt(np.diag(vb))
    z = beta / se
    alpha = 1 - (level / 100 if level > 1 else level)
    crit = float(-ndtri(alpha / 2))
    w = 1 / v
    Xw = X * w[:, None]
    bfe = np.linalg.solve(X.T @ Xw, Xw.T @ y)
    e = y - X @ bfe
    QE = float(np.dot(w * e, e))
    parms = p + 2
    if method == "REML":
        ll = out["ll_reml"]
        dev = -2 * ll
        n_bic = k - p
    else:
        ll = out["ll_ml"]
        dev = -2 * (ll + 0.5 * float(np.sum(_LOG2PI + np.log(v))))
        n_bic = k
    fit_stats = {"logLik": ll, "deviance": dev, "AIC": -2 * ll + 2 * parms,
                 "BIC": -2 * ll + parms * math.log(n_bic)}
    return MVResult(method, k, model.m, names, beta, se, z, 2 * ndtr(-np.abs(z)),
                    beta - crit * se, beta + crit * se, vb, np.array([s1, s2]), QE,
                    float(chdtrc(k - p, QE)), fit_stats, level, model)
