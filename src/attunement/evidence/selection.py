"""Step-function selection models for rma fits by ML (metafor's ``selmodel(type="stepfun")``;
Vevea & Hedges 1995, Psychometrika 60:419).

Each study's one-sided p-value (``alternative="greater"``: p = 1 − Φ(y/√v)) falls into an
interval of ``steps``; its chance of being published relative to the first interval is δⱼ. The
likelihood of study i is δ_{j(i)} φ(y; x'β, v + τ²) / Aᵢ with Aᵢ = Σⱼ δⱼ P(pᵢ ∈ interval j).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import optimize, stats

from attunement.evidence._core import Coefficients
from attunement.evidence.rma_result import RMAFit


@dataclass
class SelModelResult(Coefficients):
    """Estimates of the selection model (fitted by ML, z tests) and the LRT against the model
    without selection.

    Examples
    --------
    R: ``selmodel(rma(yi, vi, data = dat.hackshaw1998, method = "ML"), type = "stepfun",
    steps = c(0.05, 1))`` gives the adjusted estimate 0.3278, δ = 1 and 2.7917, LRT 2.1254
    (p = 0.1449):

    >>> from attunement.evidence import rma
    >>> from attunement.evidence.datasets import dat_hackshaw1998
    >>> step = selmodel(rma(dat_hackshaw1998(), method="ML"), steps=[0.05, 1]).to_dict()
    >>> round(step["beta"][0], 4), [round(d, 4) for d in step["delta"]]
    (0.3278, [1.0, 2.7917])
    >>> round(step["LRT"], 4), round(step["LRTp"], 4)
    (2.1254, 0.1449)
    """

    tau2: float
    se_tau2: float
    delta: np.ndarray
    se_delta: np.ndarray
    steps: np.ndarray
    ll: float
    LRT: float
    LRTdf: int
    LRTp: float

    def to_dict(self) -> dict[str, Any]:
        """Plain numbers (for JSON).

        Returns
        -------
        dict
            Coefficients with SEs and CIs, τ², the selection weights ``delta`` with their SEs
            (None for the fixed first one), ``steps``, ``logLik`` and the LRT.
        """
        return {"beta": self.beta.tolist(), "se": self.se.tolist(), "pval": self.pval.tolist(),
                "ci_lb": self.ci_lb.tolist(), "ci_ub": self.ci_ub.tolist(), "tau2": self.tau2,
                "se_tau2": self.se_tau2, "delta": self.delta.tolist(),
                "se_delta": [None if np.isnan(s) else float(s) for s in self.se_delta],
                "steps": self.steps.tolist(), "logLik": self.ll, "LRT": self.LRT,
                "LRTdf": self.LRTdf, "LRTp": self.LRTp}


def _negll(theta: np.ndarray, y: np.ndarray, v: np.ndarray, X: np.ndarray,
           cuts: np.ndarray, grp: np.ndarray) -> float:
    p = X.shape[1]
    beta, tau2 = theta[:p], max(theta[p], 0.0)
    delta = np.concatenate([[1.0], theta[p + 1:]])
    mu = X @ beta
    s = np.sqrt(v + tau2)
    # P(p_i <= step_j) = P(y > sqrt(v) z_{1-step_j}) under N(mu, v + tau2)
    upper = stats.norm.sf(cuts[None, :] * np.sqrt(v)[:, None], mu[:, None], s[:, None])
    k = len(y)
    probs = np.diff(np.concatenate([np.zeros((k, 1)), upper, np.ones((k, 1))], axis=1), axis=1)
    A = probs @ delta
    if np.any(A <= 0) or np.any(delta[grp] <= 0):
        return np.inf
    ll = np.log(delta[grp]) + stats.norm.logpdf(y, mu, s) - np.log(A)
    return -float(ll.sum())


#: metafor truncates p-values to [PVAL_MIN, 1 - PVAL_MIN] in the beta selection model
PVAL_MIN = 1e-5


_GRID = np.linspace(-12.0, 12.0, 12001)  # standard-normal grid for A_i (Simpson's rule)
_SIMPSON = np.ones(_GRID.size)
_SIMPSON[1:-1:2], _SIMPSON[2:-1:2] = 4.0, 2.0
_SIMPSON *= (_GRID[1] - _GRID[0]) / 3


def _negll_beta(theta: np.ndarray, y: np.ndarray, v: np.ndarray, X: np.ndarray) -> float:
    p = X.shape[1]
    beta, tau2 = theta[:p], max(theta[p], 0.0)
    d1, d2 = theta[p + 1], theta[p + 2]
    if d1 <= 0 or d2 <= 0:
        return np.inf

    def w(pv: Any) -> Any:
        pv = np.clip(pv, PVAL_MIN, 1 - PVAL_MIN)
        return pv ** (d1 - 1) * (1 - pv) ** (d2 - 1)

    mu = X @ beta
    s = np.sqrt(v + tau2)
    sv = np.sqrt(v)
    # A_i = E[w(p(Y))] for Y ~ N(mu_i, v_i + tau2), on a fixed grid of standard-normal quantiles
    t = mu[:, None] + s[:, None] * _GRID[None, :]
    A = (w(stats.norm.sf(t / sv[:, None])) * stats.norm.pdf(_GRID)[None, :]) @ _SIMPSON
    if np.any(A <= 0):
        return np.inf
    ll = np.log(w(stats.norm.sf(y / sv))) + stats.norm.logpdf(y, mu, s) - np.log(A)
    return -float(ll.sum())


def _hessian(f: Any, x: np.ndarray, rel: float = 1e-4) -> np.ndarray:
    n = x.size
    h = rel * np.maximum(1.0, np.abs(x))
    H = np.empty((n, n))
    for i in range(n):
        for j in range(i, n):
            ei, ej = np.zeros(n), np.zeros(n)
            ei[i], ej[j] = h[i], h[j]
            H[i, j] = H[j, i] = (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej)
                                 + f(x - ei - ej)) / (4 * h[i] * h[j])
    return H


def selmodel(fit: RMAFit, steps: Any = None, *, type: str = "stepfun") -> SelModelResult:
    """Fit a selection model to an rma fit by maximum likelihood (metafor ``selmodel``).

    Parameters
    ----------
    fit : RMAResult
        A random- or mixed-effects fit without user weights and with τ² estimated; it is
        refitted by ML, as metafor.
    steps : array-like, optional
        The one-sided p-value cut points of a step-function model (Vevea & Hedges 1995,
        https://doi.org/10.1007/BF02294384), e.g. ``[0.025, 1]``.
    type : str, default "stepfun"
        ``"stepfun"``, or ``"beta"`` for the beta selection model (Citkowicz & Vevea 2017,
        https://doi.org/10.1037/met0000085; δ in [1e-5, 100]).

    Returns
    -------
    SelModelResult
        The adjusted ``beta``, ``tau2``, the selection parameters ``delta`` (with SEs) and the
        likelihood-ratio test ``LRT`` (``LRTdf``, ``LRTp``) against the model without selection.

    Examples
    --------
    R: ``selmodel(rma(yi, vi, data = dat.hackshaw1998, method = "ML"), type = "stepfun",
    steps = c(0.025, 1))`` gives β = 0.1944 (se 0.0798), τ² = 0.0166, δ₂ = 0.7644 (se 0.5989),
    LRT = 0.1171 (df 1), p = 0.7323; with ``type = "beta"``: β = 0.9379, δ = (1.6657, 1.1310),
    LRT = 4.677 (df 2) (``tests/reference/metafor_more_selmodel.json``; the beta model's
    optimum agrees to 1e-4 relative):

    >>> from attunement.evidence import rma
    >>> from attunement.evidence.datasets import dat_hackshaw1998
    >>> ml = rma(dat_hackshaw1998(), method="ML")
    >>> sel = selmodel(ml, steps=[0.025, 1])
    >>> round(float(sel.beta[0]), 4), round(float(sel.delta[1]), 4), round(sel.LRT, 4)
    (0.1944, 0.7644, 0.1171)
    >>> beta = selmodel(ml, type="beta")
    >>> round(float(beta.beta[0]), 3), [round(float(d), 3) for d in beta.delta]
    (0.938, [1.666, 1.131])
    """

    if fit.weights is not None or fit.is_fixed or fit.tau2_fixed:
        raise ValueError("selmodel: needs a random/mixed-effects fit without user weights "
                         "and with tau^2 estimated")
    if type == "beta":
        return _selmodel_beta(fit)
    if type != "stepfun":
        raise ValueError(f"selmodel type must be 'stepfun' or 'beta', not {type!r}")
    if steps is None:
        raise ValueError("a step-function selection model needs steps, e.g. [0.025, 1]")
    st = np.sort(np.asarray(steps, dtype=float))
    if st.size == 0 or np.any((st <= 0) | (st > 1)):
        raise ValueError(f"steps must lie in (0, 1], got {list(np.atleast_1d(steps))}")
    if st[-1] != 1:
        st = np.append(st, 1.0)
    if st.size < 2:
        raise ValueError("steps must give at least two intervals (for example 0.025, 1)")
    y, v, X = fit.yi, fit.vi, fit.X
    pv = stats.norm.sf(y / np.sqrt(v))
    grp = np.searchsorted(st, pv, side="left")  # first j with p <= steps[j]
    empty = [j for j in range(st.size) if not np.any(grp == j)]
    if empty:
        j = empty[0]
        lo = 0 if j == 0 else st[j - 1]
        raise ValueError(f"no study has a one-sided p-value in the interval ({lo:g}, {st[j]:g}]; "
                         "choose other steps")
    ml = _ml(fit)
    cuts = stats.norm.isf(st[:-1])
    p = X.shape[1]
    x0 = np.concatenate([ml.beta, [ml.tau2], np.ones(st.size - 1)])
    bounds = [(None, None)] * p + [(0.0, None)] + [(1e-8, 100.0)] * (st.size - 1)

    def f(t: np.ndarray) -> float:
        return _negll(t, y, v, X, cuts, grp)

    return _finish(fit, ml, f, x0, bounds, st, polish=True)


def _ml(fit: RMAFit) -> RMAFit:
    if fit.method == "ML":
        return fit
    return fit.refit_on(fit.yi, fit.vi, fit.X, fit.coef_names, fit.int_incl, method="ML",
                        test="z", weights=None, level=fit.level, tau2_value=None,
                        control=fit.control, btt=None, slab=None, skip_r2=True)


def _selmodel_beta(fit: RMAFit) -> SelModelResult:
    y, v, X = fit.yi, fit.vi, fit.X
    ml = _ml(fit)
    p = X.shape[1]
    x0 = np.concatenate([ml.beta, [ml.tau2], [1.0, 1.0]])
    bounds = [(None, None)] * p + [(0.0, None)] + [(PVAL_MIN, 100.0)] * 2

    def f(t: np.ndarray) -> float:
        return _negll_beta(t, y, v, X)

    return _finish(fit, ml, f, x0, bounds, np.array([]), polish=False, free_deltas=2)


def _finish(fit: RMAFit, ml: RMAFit, f: Any, x0: np.ndarray, bounds: list,
            st: np.ndarray, *, polish: bool, free_deltas: int | None = None) -> SelModelResult:
    p = fit.X.shape[1]
    best = optimize.minimize(f, x0, method="L-BFGS-B", bounds=bounds,
                             options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 10000})
    theta = best.x
    if polish:
        polished = optimize.minimize(f, best.x, method="Nelder-Mead",
                                     options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 20000})
        if polished.fun < best.fun:
            theta = polished.x
    theta[p] = max(theta[p], 0.0)
    # the beta model's grid integral is smooth only to ~1e-9: a wider difference step
    H = _hessian(f, theta, 1e-4 if polish else 2e-3)
    free = np.ones(theta.size, dtype=bool)
    if theta[p] < 1e-8:  # tau^2 on the boundary: no SE, as metafor
        free[p] = False
    cov = np.full((theta.size, theta.size), np.nan)
    cov[np.ix_(free, free)] = np.linalg.inv(H[np.ix_(free, free)])
    se_all = np.sqrt(np.diag(cov))
    beta, se = theta[:p], se_all[:p]
    z = beta / se
    crit = stats.norm.isf(fit.alpha / 2)
    ll = -f(theta)
    LRT = max(0.0, 2 * (ll - ml.fit_stats["ML"]["logLik"]))
    df = st.size - 1 if free_deltas is None else free_deltas
    n_fixed = 1 if free_deltas is None else 0  # the step model's first delta is 1
    delta = np.concatenate([[1.0] * n_fixed, theta[p + 1:]])
    se_delta = np.concatenate([[np.nan] * n_fixed, se_all[p + 1:]])
    return SelModelResult(
        method="ML", test="z", k=fit.k, p=p, coef_names=list(fit.coef_names), beta=beta, se=se, zval=z, pval=2 * stats.norm.sf(np.abs(z)), ci_lb=beta - crit * se,
        ci_ub=beta + crit * se, tau2=float(theta[p]), se_tau2=float(se_all[p]),
        delta=delta, se_delta=se_delta, steps=st, ll=ll, LRT=LRT,
        LRTdf=df, LRTp=float(stats.chi2.sf(LRT, df)))


@dataclass
class HCResult:
    """Henmi–Copas estimate (the common-effect estimate) with its robust CI.

    Examples
    --------
    R: ``hc(rma(yi, vi, data = dat.hackshaw1998))`` gives 0.1858 (se 0.0493), CI 0.0830 to
    0.2885, with the DerSimonian–Laird τ² 0.0170:

    >>> from attunement.evidence import rma
    >>> from attunement.evidence.datasets import dat_hackshaw1998
    >>> henmi = hc(rma(dat_hackshaw1998())).to_dict()
    >>> {key: round(value, 4) for key, value in henmi.items()}
    {'beta': 0.1858, 'se': 0.0493, 'ci_lb': 0.083, 'ci_ub': 0.2885, 'tau2': 0.017}
    """

    beta: float
    se: float
    ci_lb: float
    ci_ub: float
    tau2: float

    def to_dict(self) -> dict[str, float]:
        """The estimate, its interval and τ² as plain floats.

        Returns
        -------
        dict of str to float
            ``beta``, ``se``, ``ci_lb``, ``ci_ub`` and ``tau2``.
        """
        return {"beta": self.beta, "se": self.se, "ci_lb": self.ci_lb, "ci_ub": self.ci_ub,
                "tau2": self.tau2}


def hc(fit: RMAFit) -> HCResult:
    """Henmi–Copas CI (Henmi & Copas 2010, https://doi.org/10.1002/sim.4029; metafor ``hc``):
    the common-effect estimate with an interval that allows for heterogeneity (DL τ²) and for
    publication bias.

    Parameters
    ----------
    fit : RMAResult
        A fit without moderators.

    Returns
    -------
    HCResult
        ``beta``, ``se``, ``ci_lb``, ``ci_ub`` and the DL ``tau2``.

    Examples
    --------
    R: ``hc(rma(yi, vi, data = dat.hackshaw1998), control = list(tol = 1e-12))`` gives
    0.1858 [0.083023, 0.288498]; metafor's default uniroot tolerance (1.2e-4) moves the bounds
    in the 7th decimal.

    >>> from attunement.evidence import rma
    >>> from attunement.evidence.datasets import dat_hackshaw1998
    >>> res = hc(rma(dat_hackshaw1998()))
    >>> round(res.beta, 4), round(res.ci_lb, 6), round(res.ci_ub, 6)
    (0.1858, 0.083023, 0.288498)
    """
    from scipy import integrate

    if not fit.int_only:
        raise ValueError("hc: only for models without moderators")
    if fit.k < 2:
        raise ValueError("hc: needs at least 2 studies")
    if np.any(fit.vi <= 0):
        raise ValueError("hc: every sampling variance must be positive")
    y, v, k = fit.yi, fit.vi, fit.k
    w = 1 / v
    W1 = w.sum()
    W2, W3, W4 = (w**2).sum() / W1, (w**3).sum() / W1, (w**4).sum() / W1
    beta = float((w * y).sum() / W1)
    Q = float((w * (y - beta) ** 2).sum())
    tau2 = max(0.0, (Q - (k - 1)) / (W1 - W2))
    se = float(np.sqrt((tau2 * W2 + 1) / W1))
    VR = 1 + tau2 * W2
    SDR = np.sqrt(VR)
    D = W3 - W2**2

    def EQ(r: float) -> float:
        return (k - 1) + tau2 * (W1 - W2) + tau2**2 * (r**2 / VR**2 - 1 / VR) * D

    def VQ(r: float) -> float:
        a = r**2 / VR**2 - 1 / VR
        return (2 * (k - 1) + 4 * tau2 * (W1 - W2) + 2 * tau2**2 * (W1 * W2 - 2 * W3 + W2**2)
                + 4 * tau2**2 * a * D + 4 * tau2**3 * a * (W4 - 2 * W2 * W3 + W2**3)
                + 2 * tau2**4 * (1 / VR**2 - 2 * r**2 / VR**3) * D**2)

    def finv(f: float) -> float:
        return (W1 / W2 - 1) * (f**2 - 1) + (k - 1)

    half_alpha = fit.alpha / 2

    def eqn(x: float) -> float:
        def integrand(r: float) -> float:
            eq, vq = EQ(SDR * r), VQ(SDR * r)
            return float(stats.gamma.cdf(finv(r / x), a=eq**2 / vq, scale=vq / eq)
                         * stats.norm.pdf(r))
        return integrate.quad(integrand, x, np.inf, epsabs=1e-13, epsrel=1e-12)[0] - half_alpha

    t0 = optimize.brentq(eqn, 1e-8, 2, xtol=1e-14, rtol=1e-14, maxiter=1000)
    u0 = SDR * t0
    return HCResult(beta=beta, se=se, ci_lb=float(beta - u0 * se), ci_ub=float(beta + u0 * se),
                    tau2=float(tau2))
