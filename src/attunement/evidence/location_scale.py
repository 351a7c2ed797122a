"""Location-scale meta-regression, as metafor's ``rma(yi, vi, mods = ~ x, scale = ~ z)``.

Model (Viechtbauer & López-López 2022, *Res Synth Methods* 13:697–715):
yᵢ = xᵢᵀβ + uᵢ + eᵢ, uᵢ ~ N(0, τ²ᵢ), eᵢ ~ N(0, vᵢ), with the log link of metafor's default
``link = "log"``: log τ²ᵢ = zᵢᵀα. α maximises the (restricted) log-likelihood with β profiled
out, as metafor does; its covariance is the inverse of the negative Hessian of that profile
likelihood. metafor takes the Hessian numerically (numDeriv) after nlminb; here the gradient
and Hessian are exact (derived below) and the optimum is found by a trust-region Newton
method, so the results equal metafor's to its optimiser's tolerance (``tests/evidence``).

Derivatives. With σᵢ = vᵢ + τ²ᵢ, W = diag(1/σᵢ), P = W − W X (XᵀW X)⁻¹ XᵀW and r = P y,
the REML log-likelihood has ∂ℓ/∂σᵢ = ½(rᵢ² − Pᵢᵢ) and ∂²ℓ/∂σᵢ∂σⱼ = ½Pᵢⱼ² − rᵢ Pᵢⱼ rⱼ (ML:
wᵢ in place of Pᵢᵢ and ½wᵢ²δᵢⱼ in place of ½Pᵢⱼ²; Harville 1977,
https://doi.org/10.1080/01621459.1977.10480998). The chain rule through σᵢ = vᵢ + exp(zᵢᵀα)
gives the α-derivatives; the sums over i, j are traces and quadratic forms that
``_core.Projection`` evaluates in O(k p²) without forming P.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import chdtrc, fdtrc

from attunement.evidence._core import (
    _LOG2PI,
    Coefficients,
    _as_level,
    _crit,
    _proj,
    _pval,
    fit_statistics,
    logdet,
)
from attunement.evidence.rma_result import _coef_block, _fmt_p, _num

__all__ = ["LS_METHODS", "RMALSResult", "fit_location_scale"]

LS_METHODS = ("REML", "ML")


def _tests(coef: np.ndarray, cov: np.ndarray, idx: list[int], ddf: int | None,
           alpha: float) -> dict[str, Any]:
    """Wald z/t tests and CIs of each coefficient and the omnibus test of ``idx`` (χ², or
    F(m, ddf) with ``ddf``), as metafor computes them for both parts of the model."""
    se = np.sqrt(np.diag(cov))
    stat = coef / se
    m = len(idx)
    try:
        sub = cov[np.ix_(idx, idx)]
        Q = float(coef[idx] @ np.linalg.solve(sub, coef[idx])) if m else float("nan")
    except np.linalg.LinAlgError:
        Q = float("nan")
    if ddf is not None:
        Q /= m
        Qp = float(fdtrc(m, ddf, Q)) if ddf > 0 else float("nan")
        pval = _pval(stat, ddf) if ddf > 0 else np.full(coef.size, np.nan)
        crit = _crit(alpha, ddf) if ddf > 0 else float("nan")
    else:
        Qp = float(chdtrc(m, Q))
        pval = _pval(stat, None)
        crit = _crit(alpha, None)
    return {"se": se, "stat": stat, "pval": np.asarray(pval, dtype=float),
            "ci_lb": coef - crit * se, "ci_ub": coef + crit * se, "Q": Q, "Qp": Qp,
            "Q_df": (m, ddf)}


@dataclass(repr=False)
class RMALSResult(Coefficients):
    """A fitted location-scale model (metafor's ``rma.ls`` object).

    Location part in metafor's names: ``beta``, ``se``, ``zval``, ``pval``, ``ci_lb``,
    ``ci_ub``, ``vb``, ``QM``/``QMp``; scale part: ``alpha``, ``se_alpha``, ``zval_alpha``,
    ``pval_alpha``, ``ci_lb_alpha``, ``ci_ub_alpha``, ``va``, ``QS``/``QSp``; ``tau2``, ``I2``
    and ``H2`` per study; ``fit_stats`` (logLik, deviance, AIC, BIC, AICc under ML and REML).

    Examples
    --------
    R: ``rma(yi, vi, scale = ~ ablat, data = dat)`` on the BCG log risk ratios: location
    −0.7156 (se 0.1798), scale coefficients −1.1536 and −0.0002, logLik −12.2024:

    >>> from attunement.evidence import escalc, rma
    >>> from attunement.evidence.datasets import dat_bcg
    >>> dat = escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=dat_bcg())
    >>> ls = rma(dat, scale="~ ablat")
    >>> ls.coef_table().loc["intrcpt", ["estimate", "se"]].round(4).tolist()
    [-0.7156, 0.1798]
    >>> ls.scale_table().estimate.round(4).tolist(), round(ls.logLik(), 4)
    ([-1.1536, -0.0002], -12.2024)
    >>> ls.to_dict()["model"]
    'Location-Scale Model'
    """

    vb: np.ndarray
    QM: float
    QMp: float
    QM_df: tuple[int, int | None]
    ddf: int | None
    s2w: float
    alpha_names: list[str]
    alpha: np.ndarray
    va: np.ndarray
    se_alpha: np.ndarray
    zval_alpha: np.ndarray
    pval_alpha: np.ndarray
    ci_lb_alpha: np.ndarray
    ci_ub_alpha: np.ndarray
    QS: float
    QSp: float
    QS_df: tuple[int, int | None]
    ddf_alpha: int | None
    tau2: np.ndarray
    I2: np.ndarray
    H2: np.ndarray
    vt: float
    QE: float
    QEp: float
    fit_stats: dict[str, dict[str, float]]
    yi: np.ndarray
    vi: np.ndarray
    X: np.ndarray
    Z: np.ndarray
    level: float
    btt: list[int]
    att: list[int]
    int_only: bool
    study_labels: list[str] | None
    iterations: int = 0
    measure: str | None = None

    @property
    def q(self) -> int:
        """Number of scale coefficients."""
        return self.alpha.size

    @property
    def estimate(self) -> float:
        return float(self.beta[0])

    @property
    def slab(self) -> list[str]:
        if self.study_labels is None:
            self.study_labels = [f"Study {i + 1}" for i in range(self.k)]
        return self.study_labels

    def logLik(self) -> float:
        """The log-likelihood at the estimates.

        Returns
        -------
        float
            Under the fitting method (restricted for REML), as R's ``logLik``.
        """
        return self.fit_stats[self.method]["logLik"]

    def coef_table(self) -> pd.DataFrame:
        """The location coefficients, as in the printed model.

        Returns
        -------
        pandas.DataFrame
            Estimate, se, z (or t), p and CI of each location term.
        """
        return self._table(self.coef_names, self.beta, self.se, self.zval, self.pval,
                           self.ci_lb, self.ci_ub, self.ddf)

    def scale_table(self) -> pd.DataFrame:
        """The scale coefficients, on the log τ² scale.

        Returns
        -------
        pandas.DataFrame
            One row per scale term: estimate, standard error, test, p-value and bounds.
        """
        return self._table(self.alpha_names, self.alpha, self.se_alpha, self.zval_alpha,
                           self.pval_alpha, self.ci_lb_alpha, self.ci_ub_alpha, self.ddf_alpha)

    @staticmethod
    def _table(names, est, se, stat, pval, lb, ub, ddf) -> pd.DataFrame:
        return pd.DataFrame({"estimate": est, "se": se, "zval" if ddf is None else "tval": stat,
                             "pval": pval, "ci_lb": lb, "ci_ub": ub},
                            index=pd.Index(names, name="term"))

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON summary (the keys of ``attunement meta --scale ... --json``).

        Returns
        -------
        dict
            Location and scale parts, the QM, QS and Q tests, τ² per study, fit statistics.
        """
        def part(names, est, se, stat, pval, lb, ub) -> dict[str, Any]:
            return {n: {"estimate": _num(b), "se": _num(s), "stat": _num(z), "pval": _num(p),
                        "ci_lb": _num(lo), "ci_ub": _num(hi)}
                    for n, b, s, z, p, lo, hi in zip(names, est, se, stat, pval, lb, ub,
                                                     strict=True)}

        return {
            "model": "Location-Scale Model", "method": self.method, "test": self.test,
            "k": self.k, "level": self.level,
            "location": part(self.coef_names, self.beta, self.se, self.zval, self.pval,
                             self.ci_lb, self.ci_ub),
            "scale": part(self.alpha_names, self.alpha, self.se_alpha, self.zval_alpha,
                          self.pval_alpha, self.ci_lb_alpha, self.ci_ub_alpha),
            "QM": _num(self.QM), "QM_df": _df(self.QM_df), "QM_p": _num(self.QMp),
            "QS": _num(self.QS), "QS_df": _df(self.QS_df), "QS_p": _num(self.QSp),
            "Q": _num(self.QE), "Q_df": self.k - self.p, "Q_p": _num(self.QEp),
            "tau2": [_num(t) for t in self.tau2],
            "fit_stats": {kind: {key: _num(val) for key, val in stats.items()}
                          for kind, stats in self.fit_stats.items()},
        }

    def summary(self) -> str:
        """The model as metafor prints it.

        Returns
        -------
        str
            The heterogeneity test and the location and scale tables.
        """
        return _format(self)

    def __str__(self) -> str:
        return _format(self)

    def __repr__(self) -> str:
        return _format(self)


def _df(df: tuple[int, int | None]) -> Any:
    return df[0] if df[1] is None else list(df)


def _profile(a: np.ndarray, Z: np.ndarray, y: np.ndarray, v: np.ndarray, X: np.ndarray,
             reml: bool, order: int) -> tuple[float, np.ndarray | None, np.ndarray | None]:
    """−ℓ(α) with β profiled out and (``order`` ≥ 1, 2) its gradient and Hessian in α."""
    tau2 = np.exp(Z @ a)
    w = 1.0 / (v + tau2)
    proj = _proj(X, w)
    r = proj.apply(y)
    k, p = X.shape
    ll = -0.5 * float(np.sum(np.log(v + tau2))) - 0.5 * float(np.dot(r, y))
    if reml:
        ll += -0.5 * (k - p) * _LOG2PI + 0.5 * logdet(X.T @ X) + 0.5 * logdet(proj.M)
    else:
        ll += -0.5 * k * _LOG2PI
    if order == 0:
        return -ll, None, None
    d = 0.5 * (r * r - (proj.diag() if reml else w))
    grad = Z.T @ (tau2 * d)
    if order == 1:
        return -ll, -grad, None
    U = tau2[:, None] * Z
    R = U * r[:, None]
    PR = np.column_stack([proj.apply(R[:, t]) for t in range(Z.shape[1])])
    hess = Z.T @ (Z * (tau2 * d)[:, None]) - R.T @ PR
    if reml:
        q = Z.shape[1]
        for s in range(q):
            for t in range(s, q):
                hess[s, t] += 0.5 * proj.tr_pvpu(U[:, s], U[:, t])
                hess[t, s] = hess[s, t]
    else:
        hess += 0.5 * U.T @ (U * (w * w)[:, None])
    return -ll, -grad, -hess


def _standardise(Z: np.ndarray, z_int: bool) -> np.ndarray:
    """mZ with Z mZ = Z with its non-0/1 columns centred and scaled (metafor's ``scaleZ``),
    so that the optimiser works on comparable scales; α = mZ α̃."""
    q = Z.shape[1]
    mZ = np.eye(q)
    if not z_int or q == 1:
        return mZ
    for j in range(1, q):
        col = Z[:, j]
        if np.all((col == 0) | (col == 1)):
            continue
        sd = float(np.std(col, ddof=1))
        mZ[0, j] = -float(col.mean()) / sd
        mZ[j, j] = 1.0 / sd
    return mZ


def _start(y: np.ndarray, v: np.ndarray, X: np.ndarray, Zs: np.ndarray) -> np.ndarray:
    """Starting values: log of a moment estimate of τ² from the unweighted fit, regressed on
    the (standardised) scale design."""
    k, p = X.shape
    e = y - X @ np.linalg.lstsq(X, y, rcond=None)[0]
    tau2 = max(float(e @ e) / max(k - p, 1) - float(v.mean()), 0.01 * float(v.mean()))
    return np.linalg.lstsq(Zs, np.full(k, math.log(tau2)), rcond=None)[0]


def _polish(a: np.ndarray, Zs: np.ndarray, y: np.ndarray, v: np.ndarray, X: np.ndarray,
            reml: bool) -> tuple[np.ndarray, int]:
    """Newton steps from the trust-region optimum until the Newton decrement gᵀH⁻¹g/2 (the
    log-likelihood still to gain, whatever the scale of the columns) is below 1e-12; the
    steps taken, or −1 when it is not reached (no maximum: a τ²ᵢ tending to 0)."""
    for step in range(8):
        _, g, H = _profile(a, Zs, y, v, X, reml, 2)
        try:
            delta = np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            return a, -1
        dec = 0.5 * float(g @ delta)
        if 0 <= dec < 1e-12:
            return a, step
        if dec < 0:  # not a maximum
            return a, -1
        a = a - delta
    return a, -1


def _check_scale_design(Z: np.ndarray, names: list[str]) -> None:
    """A clear error naming the scale column that adds nothing to the columns before it."""
    rank = 0
    for j in range(Z.shape[1]):
        new = int(np.linalg.matrix_rank(Z[:, : j + 1]))
        if new == rank:
            earlier = ", ".join(names[:j]) or "nothing"
            raise ValueError(
                f"the scale model matrix is not of full rank: column {names[j]!r} is constant "
                f"or a linear combination of {earlier}"
                if j else f"the scale column {names[j]!r} is all zero")
        rank = new


def fit_location_scale(
    y: np.ndarray,
    v: np.ndarray,
    X: np.ndarray,
    coef_names: list[str],
    int_incl: bool,
    Z: np.ndarray,
    alpha_names: list[str],
    z_int_incl: bool,
    *,
    method: str,
    test: str,
    level: float,
    btt: list[int] | None,
    att: list[int] | None,
    control: dict[str, float],
    slab: list[str] | None,
) -> RMALSResult:
    """Fit the location-scale model to checked data; ``rma(..., scale=)`` is the entry point.

    The scale coefficients maximise the (restricted) likelihood with β profiled out.

    Parameters
    ----------
    y, v : numpy.ndarray
        Effects and their sampling variances.
    X : numpy.ndarray
        Location model matrix.
    coef_names : list of str
        Names of its columns.
    int_incl : bool
        Whether ``X`` starts with an intercept.
    Z : numpy.ndarray
        Scale model matrix (log τ²ᵢ = Zᵢα).
    alpha_names : list of str
        Names of the columns of ``Z``.
    z_int_incl : bool
        Whether ``Z`` starts with an intercept.
    method : str
        ``"ML"`` or ``"REML"``.
    test : str
        ``"z"`` or ``"t"``.
    level : float
        Confidence level.
    btt, att : list of int or None
        Location and scale coefficients (0-based) for the omnibus tests (all but the
        intercept when None).
    control : dict
        Optimiser settings (``maxiter``).
    slab : list of str or None
        Study labels.

    Returns
    -------
    RMALSResult
        The fit.

    Examples
    --------
    R: ``rma(yi, vi, scale = ~ ablat, data = dat)`` on the BCG trials gives the scale
    coefficients −1.1536 and −0.0002:

    >>> import numpy as np
    >>> from attunement.evidence import escalc
    >>> from attunement.evidence.datasets import dat_bcg
    >>> bcg = dat_bcg()
    >>> dat = escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=bcg)
    >>> y, v, ones = dat.yi.to_numpy(), dat.vi.to_numpy(), np.ones((13, 1))
    >>> Z = np.column_stack([ones, bcg.ablat])
    >>> res = fit_location_scale(y, v, ones, ["intrcpt"], True, Z, ["intrcpt", "ablat"], True,
    ...                          method="REML", test="z", level=95, btt=None, att=None,
    ...                          control={}, slab=None)
    >>> res.alpha.round(4).tolist()
    [-1.1536, -0.0002]
    """
    if method not in LS_METHODS:
        raise ValueError(f"a location-scale model is fitted by ML or REML, not {method!r}")
    k, p = X.shape
    q = Z.shape[1]
    if p + q > k:
        raise ValueError(f"too few studies: {k} studies cannot estimate {p} location and "
                         f"{q} scale coefficient(s)")
    _check_scale_design(Z, alpha_names)
    reml = method == "REML"
    mZ = _standardise(Z, z_int_incl)
    Zs = Z @ mZ
    maxiter = int(control.get("maxiter", 200))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # exp overflow on a rejected step
        opt = minimize(lambda a: _profile(a, Zs, y, v, X, reml, 1)[:2], _start(y, v, X, Zs),
                       jac=True, hess=lambda a: _profile(a, Zs, y, v, X, reml, 2)[2],
                       method="trust-exact", options={"gtol": 1e-10, "maxiter": maxiter})
    a_s, nit = _polish(opt.x, Zs, y, v, X, reml)
    alpha = mZ @ a_s
    hess = _profile(alpha, Z, y, v, X, reml, 2)[2]
    if nit < 0:
        warnings.warn(f"the scale model did not converge in {opt.nit} iterations "
                      f"({opt.message}); a tau^2 may be tending to 0", stacklevel=3)
    try:
        va = np.linalg.inv(np.linalg.cholesky(hess))
        va = va.T @ va
    except np.linalg.LinAlgError:
        warnings.warn("the Hessian of the scale model is not positive definite: no standard "
                      "errors for the scale coefficients", stacklevel=3)
        va = np.full((q, q), np.nan)
    level_alpha = _as_level(level)
    tau2 = np.exp(Z @ alpha)
    tiny = tau2 < 1e-8 * float(v.min())
    if tiny.any():
        rows = ", ".join((slab or [f"Study {i + 1}" for i in range(k)])[i]
                         for i in np.flatnonzero(tiny)[:10])
        warnings.warn(f"the fitted tau^2 is practically 0 for {int(tiny.sum())} studies "
                      f"({rows}): the scale coefficients tend to -infinity there and their "
                      "standard errors are not meaningful", stacklevel=3)

    # location part: weighted least squares with w = 1/(v + τ²ᵢ), as rma.uni
    w = 1.0 / (v + tau2)
    proj = _proj(X, w)
    beta = proj.coef(y)
    RSS = proj.quad(y)
    s2w = 1.0
    if test in {"knha", "adhoc"}:
        s2w = 0.0 if np.finfo(float).eps >= RSS else RSS / (k - p)
        if test == "adhoc":
            s2w = max(s2w, 1.0)
    vb = s2w * proj.M
    small = test in {"knha", "adhoc", "t"}
    ddf = k - p if small else None
    ddf_alpha = k - q if small else None
    if btt is None:
        btt = list(range(1, p)) if (p > 1 and int_incl) else list(range(p))
    if att is None:
        att = list(range(1, q)) if (q > 1 and z_int_incl) else list(range(q))
    elif not att or any(not 0 <= j < q for j in att):
        raise ValueError(f"att must list scale coefficients 0 to {q - 1} (0-based): {att}")
    loc = _tests(beta, vb, btt, ddf, level_alpha)
    sc = _tests(alpha, va, att, ddf_alpha, level_alpha)

    # heterogeneity with the fixed-effect weights, as rma.uni
    if k > p:
        proj_fe = _proj(X, 1.0 / v)
        QE = max(0.0, proj_fe.quad(y - y.mean()))
        QEp = float(chdtrc(k - p, QE))
        vt = (k - p) / proj_fe.trace()
    else:
        QE, QEp, vt = 0.0, 1.0, 0.0
    sum_log = float(np.sum(np.log(v + tau2)))
    ll_ml = -0.5 * k * _LOG2PI - 0.5 * sum_log - 0.5 * RSS
    ll_reml = (-0.5 * (k - p) * _LOG2PI + 0.5 * logdet(X.T @ X) - 0.5 * sum_log
               + 0.5 * logdet(proj.M) - 0.5 * RSS)
    dev_ml = -2 * (ll_ml + 0.5 * float(np.sum(_LOG2PI + np.log(v)))) if k > p else 0.0
    return RMALSResult(
        method=method, test=test, k=k, p=p, coef_names=list(coef_names), beta=beta,
        se=loc["se"], zval=loc["stat"], pval=loc["pval"], ci_lb=loc["ci_lb"],
        ci_ub=loc["ci_ub"], vb=vb, QM=loc["Q"], QMp=loc["Qp"], QM_df=loc["Q_df"], ddf=ddf,
        s2w=float(s2w), alpha_names=list(alpha_names), alpha=alpha, va=va, se_alpha=sc["se"],
        zval_alpha=sc["stat"], pval_alpha=sc["pval"], ci_lb_alpha=sc["ci_lb"],
        ci_ub_alpha=sc["ci_ub"], QS=sc["Q"], QSp=sc["Qp"], QS_df=sc["Q_df"],
        ddf_alpha=ddf_alpha, tau2=tau2, I2=100 * tau2 / (vt + tau2),
        H2=tau2 / vt + 1 if vt > 0 else np.full(k, np.nan), vt=float(vt), QE=float(QE), QEp=QEp,
        fit_stats=fit_statistics(k, p, p + q, ll_ml, ll_reml, dev_ml), yi=y, vi=v, X=X, Z=Z,
        level=level, btt=list(btt), att=list(att), int_only=p == 1 and int_incl,
        study_labels=slab, iterations=int(opt.nit) + max(nit, 0),
    )


def _format(r: RMALSResult) -> str:
    """metafor's print of an ``rma.ls`` fit."""
    lines = [f"Location-Scale Model (k = {r.k}; tau^2 estimator: {r.method})", ""]
    resid = "" if r.int_only else "Residual "
    lines += [f"Test for {resid}Heterogeneity:",
              f"Q{'' if r.int_only else 'E'}(df = {r.k - r.p}) = {r.QE:.4f}, "
              f"p-val {'<' if r.QEp < 1e-4 else '='} {_fmt_p(r.QEp).lstrip('<')}", ""]
    parts = [("Location", "QM", r.QM, r.QM_df, r.QMp, r.btt, r.coef_names,
              (r.beta, r.se, r.zval, r.pval, r.ci_lb, r.ci_ub), r.ddf, not r.int_only),
             ("Scale", "QS", r.QS, r.QS_df, r.QSp, r.att, r.alpha_names,
              (r.alpha, r.se_alpha, r.zval_alpha, r.pval_alpha, r.ci_lb_alpha,
               r.ci_ub_alpha), r.ddf_alpha, True)]
    for title, qname, Q, Q_df, Qp, idx, names, cols, ddf, show_test in parts:
        if show_test:
            coefs = ", ".join(str(b + 1) for b in idx)
            lines.append(f"Test of {title} Coefficients (coefficient"
                         f"{'s' if len(idx) > 1 else ''} {coefs}):")
            lines.append(f"{qname}(df = {Q_df[0]}) = {Q:.4f}, p-val = {_fmt_p(Qp)}"
                         if Q_df[1] is None else
                         f"F(df1 = {Q_df[0]}, df2 = {Q_df[1]}) = {Q:.4f}, p-val = {_fmt_p(Qp)}")
            lines.append("")
        lines += [f"Model Results ({title}):", ""]
        lines += _coef_block(names if show_test or title == "Scale" else None, *cols, ddf)
        lines.append("")
    lines += ["---", "Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1"]
    return "\n".join(lines)
