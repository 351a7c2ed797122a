"""Profile-likelihood confidence intervals for linear and generalised linear mixed models,
as lme4's ``confint(fit, method = "profile")``, and the parametric bootstrap.

lme4 profiles the maximum-likelihood deviance (its ``profile`` refits a REML model by ML;
Bates, Mächler, Bolker & Walker 2015, *J Stat Softw* 67(1), §5.1): each parameter is held at
a value v while the deviance is minimised over all the others, and the signed square root
ζ(v) = sign(v − v̂)·√(dev(v) − dev(v̂)) is set to ±z₍₁₊level₎/₂. The variance parameters are on
lme4's "sdcor" scale (the standard deviations and correlations of each term, then the
residual σ) and the deviance of (sd, cor, σ) has β profiled out (lme4's ``devfun2``); a fixed
effect βⱼ = v is the model of y − v·xⱼ without column j. lme4 evaluates ζ on a grid and
interpolates with splines; here the limits are found by root finding on ζ itself.

The parametric bootstrap (``method="boot"``) is lme4's ``bootMer`` with ``use.u = FALSE``:
responses simulated from the fit, each refitted, percentile intervals.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import optimize, stats

from attunement._blas import bounded_blas
from attunement.trials.glmm import GLMMResult, refit_response
from attunement.trials.lmm import LMMResult, _Model, _newton_polish, _optimise
from attunement.trials.mixed import _Term, term_factors

__all__ = ["bootstrap_estimates", "confint"]


def _names(terms: list[_Term]) -> list[str]:
    """lme4's ``oldNames = FALSE`` names: ``sd_x|g``, ``cor_y.x|g`` in θ's order."""
    out = []
    for t in terms:
        for j in range(t.k):
            for i in range(j, t.k):
                out.append(f"sd_{t.columns[i]}|{t.group}" if i == j
                           else f"cor_{t.columns[i]}.{t.columns[j]}|{t.group}")
    return out


def _sdcor(theta: np.ndarray, sigma: float, terms: list[_Term]) -> np.ndarray:
    out = []
    for t, lam in zip(terms, term_factors(terms, theta), strict=True):
        cov = sigma * sigma * lam @ lam.T
        sd = np.sqrt(np.diag(cov))
        for j in range(t.k):
            for i in range(j, t.k):
                ok = sd[i] > 0 and sd[j] > 0
                out.append(sd[i] if i == j else cov[i, j] / (sd[i] * sd[j]) if ok else 0.0)
    return np.array([*out, sigma])


def _psd_factor(A: np.ndarray) -> np.ndarray | None:
    """Lower-triangular L with LLᵀ = A for a positive semi-definite A (a zero pivot gives a
    zero column); None when A is not positive semi-definite."""
    k = len(A)
    L = np.zeros((k, k))
    tol = 1e-12 * max(1.0, float(np.max(np.abs(np.diag(A)))))
    for j in range(k):
        d = A[j, j] - L[j, :j] @ L[j, :j]
        if d < -tol:
            return None
        L[j, j] = math.sqrt(max(d, 0.0))
        for i in range(j + 1, k):
            r = A[i, j] - L[i, :j] @ L[j, :j]
            if L[j, j] > 0:
                L[i, j] = r / L[j, j]
            elif abs(r) > tol:
                return None
    return L


def _theta(p: np.ndarray, terms: list[_Term]) -> np.ndarray | None:
    """θ from (sd, cor, …, σ); None outside the parameter space."""
    sigma, idx, theta = p[-1], 0, []
    for t in terms:
        sd, corr = np.zeros(t.k), np.eye(t.k)
        for j in range(t.k):
            for i in range(j, t.k):
                if i == j:
                    sd[i] = p[idx]
                else:
                    corr[i, j] = corr[j, i] = p[idx]
                idx += 1
        L = _psd_factor(np.outer(sd, sd) * corr)
        if L is None:
            return None
        theta += list((L / sigma).T[np.triu_indices(t.k)])
    return np.array(theta)


def _bounds(terms: list[_Term]) -> list[tuple[float, float | None]]:
    out: list[tuple[float, float | None]] = []
    for t in terms:
        for j in range(t.k):
            for i in range(j, t.k):
                out.append((0.0, None) if i == j else (-1.0, 1.0))
    return [*out, (1e-10, None)]


@bounded_blas
def confint(fit: LMMResult | GLMMResult, level: float = 0.95, method: str = "profile", nsim: int = 500,
            seed: int | None = None) -> pd.DataFrame:
    """Profile-likelihood or parametric-bootstrap confidence intervals of a linear mixed
    model, as lme4's ``confint(fit, method = "profile" | "boot", oldNames = FALSE)``.

    Parameters
    ----------
    fit
        A fit of :func:`~attunement.trials.fit_lmm` (REML or ML; the profile is of the ML
        deviance either way, as lme4's; the bootstrap refits as the fit was made), or of
        :func:`~attunement.trials.fit_glmm` (the profile of the Laplace or adaptive
        Gauss–Hermite deviance over the SDs, correlations and fixed effects, as lme4's; the
        bootstrap refits as the fit was made).
    level
        Confidence level, in (0, 1).
    method
        ``"profile"`` (default) or ``"boot"``: ``nsim`` responses simulated from the fit
        (new random effects each time, :meth:`simulate`), each refitted, and the percentile
        interval of each parameter (lme4's ``bootMer`` with ``boot.type = "perc"``).
    nsim, seed
        Bootstrap samples and the seed of NumPy's generator (``method="boot"`` only).

    Returns
    -------
    pandas.DataFrame
        ``parameter``, ``lower``, ``upper``: the standard deviations and correlations of each
        random-effects term (``sd_(Intercept)|g``, ``cor_x.(Intercept)|g``), ``sigma``, then
        the fixed effects. A limit that the profile does not reach inside the parameter space
        is its boundary (0 for a standard deviation, ±1 for a correlation).

    Examples
    --------
    R: ``confint(lmer(height ~ age + (age | Subject), Oxboys), method = "profile",
    oldNames = FALSE)`` gives sd_(Intercept)|Subject 6.174353 to 10.685564,
    cor_age.(Intercept)|Subject 0.343975 to 0.822516, sigma 0.597493 to 0.733952 and age
    5.854515 to 7.196438 (lme4 1.1-31); ``confint(fit_lmm("height ~ age + (age | Subject)",
    oxboys))`` gives the same to 1e-4 (``tests/trials/test_lme4_factors.py``,
    ``tests/trials/data/lme4_confint.R``).

    ``confint(lmer(score ~ Machine + (1 | Worker), Machines), method = "boot", nsim = 2000,
    seed = 16, oldNames = FALSE)`` gives sd_(Intercept)|Worker 1.848107 to 8.557818 and
    MachineB 5.788917 to 10.095745; ``confint(fit, method="boot", nsim=300)`` agrees within
    Monte Carlo error (the random streams differ). ``confint(glmer(p_admitted ~ Gender +
    (1 | Dept), ucb, binomial, weights = applicants), method = "profile")`` gives
    sd_(Intercept)|Dept 0.681745 to 2.236207 and GenderMale −0.252761 to 0.063853; with
    ``method = "boot", nsim = 2000, seed = 16`` it gives sd_(Intercept)|Dept 0.384679 to
    1.663273 and GenderMale −0.248316 to 0.070615, which ``confint(fit, method="boot")``
    matches within Monte Carlo error (``tests/trials/data/glmm_boot.R``).
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, not {level!r}")
    if method not in ("profile", "boot"):
        raise ValueError(f"method must be 'profile' or 'boot', not {method!r}")
    model: _Model = fit._fitted_model("confidence intervals")
    z = float(stats.norm.ppf((1 + level) / 2))
    if method == "boot":
        return _bootstrap(fit, level, nsim, seed)
    if isinstance(fit, GLMMResult):
        return _glmm_profile(fit, model, z)
    terms = model.terms
    theta, ok, msg = _optimise(model, False, fit.theta)
    if not ok:
        raise ValueError(f"the ML refit for the profile did not converge: {msg}")
    beta, _, s2 = model.fixed(theta, False)
    dev0 = model.deviance(theta, False)
    p0 = _sdcor(theta, math.sqrt(s2), terms)
    bounds = _bounds(terms)

    def dev_sdcor(p: np.ndarray) -> float:
        th = _theta(p, terms)
        if th is None:
            return np.inf
        try:
            return model.unprofiled(th, p[-1], False)
        except np.linalg.LinAlgError:
            return np.inf

    rows = _profile(dev_sdcor, p0, bounds, [*_names(terms), "sigma"], z, dev0)
    for j, name in enumerate(fit.fixed["term"]):
        rest = np.delete(model.X, j, axis=1)
        xj = model.X[:, j]
        warm = {1: theta.copy(), -1: theta.copy()}

        def zeta_fixed(v: float, side: int, rest=rest, xj=xj, warm=warm, b=beta[j]) -> float:
            m = _Model(rest, model.y - v * xj, terms, model.weights)
            th, fx = _minimise(lambda t: m.deviance(t, False), warm[side],
                               [(lb if np.isfinite(lb) else None, None) for lb in model.lower])
            warm[side] = th
            return math.copysign(math.sqrt(max(fx - dev0, 0.0)), v - b)

        se = float(fit.fixed["se"].iloc[j])
        rows.append((name, *(_limit(zeta_fixed, beta[j], side, z, None, None, se)
                             for side in (-1, 1))))
    return pd.DataFrame(rows, columns=["parameter", "lower", "upper"])


def _profile(dev, p0: np.ndarray, bounds: list, names: list[str], z: float,
             dev0: float) -> list[tuple[str, float, float]]:
    """(name, lower, upper) of each parameter of ``dev`` (a deviance of the vector p, optimum
    p0 with value dev0): the deviance is minimised over the others at each trial value."""
    rows = []
    for j, name in enumerate(names):
        free = [i for i in range(len(p0)) if i != j]
        start = {1: p0.copy(), -1: p0.copy()}

        def zeta(v: float, side: int, j=j, free=free, start=start) -> float:
            x0 = start[side].copy()
            x0[j] = v

            def f(x: np.ndarray) -> float:
                p = x0.copy()
                p[free] = x
                d = dev(p)
                return d if np.isfinite(d) else 1e100

            x, fx = _minimise(f, x0[free], [bounds[i] for i in free])
            start[side][free] = x
            return math.copysign(math.sqrt(max(fx - dev0, 0.0)), v - p0[j])

        lo, hi = bounds[j]
        rows.append((name, *(_limit(zeta, p0[j], side, z, lo, hi) for side in (-1, 1))))
    return rows


def _glmm_profile(fit: GLMMResult, model, z: float) -> pd.DataFrame:
    """Profile of the Laplace (or adaptive Gauss–Hermite) deviance over the standard
    deviations and correlations of each term and the fixed effects, as lme4's profile of a
    ``glmer`` fit."""
    terms, nagq = model.terms, fit.nagq
    beta = fit.fixed["estimate"].to_numpy()
    nv = sum(t.ntheta for t in terms)
    p0 = np.concatenate([_sdcor(fit.theta, 1.0, terms)[:-1], beta])

    def dev(p: np.ndarray) -> float:
        th = _theta(np.append(p[:nv], 1.0), terms)
        return np.inf if th is None else model.deviance(th, p[nv:], nagq)

    bounds = [*_bounds(terms)[:-1], *[(None, None)] * len(beta)]
    rows = _profile(dev, p0, bounds, [*_names(terms), *fit.fixed["term"]], z, dev(p0))
    model.deviance(fit.theta, beta, nagq)  # leave the conditional modes at the optimum
    return pd.DataFrame(rows, columns=["parameter", "lower", "upper"])


def _minimise(f, x0: np.ndarray, bounds: list) -> tuple[np.ndarray, float]:
    """L-BFGS-B from a warm start, then Newton steps (as the LMM's own fit) for a minimum
    accurate enough that √(dev − dev̂) is."""
    x, fx, ok = _newton_polish(f, x0, iters=12)
    if not ok:
        res = optimize.minimize(f, x, method="L-BFGS-B", bounds=bounds,
                                options={"ftol": 1e-12, "gtol": 1e-8, "maxiter": 500})
        x, fx, _ = _newton_polish(f, res.x, iters=12)
    return x, fx


def _limit(zeta, centre: float, side: int, z: float, lo: float | None, hi: float | None,
           scale: float | None = None) -> float:
    """The value on ``side`` of ``centre`` where |ζ| = z; the bound when ζ stays below."""
    step = scale if scale else 0.25 * max(abs(centre), 0.1)
    inner = centre
    for _ in range(60):
        outer = centre + side * step
        bound = lo if side < 0 else hi
        if bound is not None and (outer - bound) * side >= 0:
            outer = bound
            if abs(zeta(outer, side)) < z:
                return float(bound)
            break
        if abs(zeta(outer, side)) >= z:
            break
        inner, step = outer, step * 2
    return float(optimize.brentq(lambda v: abs(zeta(v, side)) - z, min(inner, outer),
                                 max(inner, outer), xtol=1e-9, rtol=1e-8))


@bounded_blas
def bootstrap_estimates(fit: LMMResult | GLMMResult, nsim: int,
                        seed: int | None = None) -> pd.DataFrame:
    """Parameters (lme4's sd/cor, ``sigma`` for an LMM, fixed effects) of the fit refitted to
    ``nsim`` responses simulated from it (lme4's ``bootMer``, ``type = "parametric"``,
    ``use.u = FALSE``); one row per simulation. A GLMM is refitted as it was fitted (Laplace
    or adaptive Gauss–Hermite with the fit's ``nagq``) to simulated binomial proportions out
    of the same trials, or Poisson counts.

    Parameters
    ----------
    fit : LMMResult or GLMMResult
        The fit to resample.
    nsim : int
        Number of simulated responses.
    seed : int, optional
        Seed of the simulations.

    Returns
    -------
    pandas.DataFrame
        One row per simulation, one column per parameter (``sd_(Intercept)|g``, ``sigma``,
        the fixed effects).

    Examples
    --------
    The percentiles of these columns are ``confint(fit, method="boot")``:

    >>> import pandas as pd
    >>> from attunement.trials import fit_lmm
    >>> d = pd.DataFrame({"y": [2.0, 3.1, 3.9, 5.2, 1.2, 2.0, 3.1, 3.9, -0.2, 1.2, 2.0, 3.1],
    ...                   "x": [0, 1, 2, 3] * 3, "g": ["a"] * 4 + ["b"] * 4 + ["c"] * 4})
    >>> boot = bootstrap_estimates(fit_lmm("y ~ x + (1 | g)", d), 20, seed=1)
    >>> boot.shape, boot.columns.tolist()
    ((20, 4), ['sd_(Intercept)|g', 'sigma', '(Intercept)', 'x'])
    """
    if isinstance(fit, GLMMResult):
        return _glmm_bootstrap_estimates(fit, nsim, seed)
    model: _Model = fit._fitted_model("bootstrap")
    offset = fit._offset(model, None)
    sims = fit.simulate(nsim, seed) - offset[:, None]
    bounds = [(lb if np.isfinite(lb) else None, None) for lb in model.lower]
    rows = []
    for s in range(nsim):
        m = _Model(model.X, sims[:, s], model.terms, model.weights)
        # from the fit's θ inside the bounds: L-BFGS-B alone (a bootstrap needs ~1e-6)
        theta = optimize.minimize(lambda t, m=m: m.deviance(t, fit.reml), fit.theta,
                                  method="L-BFGS-B", bounds=bounds,
                                  options={"ftol": 1e-12, "gtol": 1e-8}).x
        beta, _, s2 = m.fixed(theta, fit.reml)
        rows.append([*_sdcor(theta, math.sqrt(s2), model.terms), *beta])
    return pd.DataFrame(rows, columns=[*_names(model.terms), "sigma", *fit.fixed["term"]])


def _glmm_bootstrap_estimates(fit: GLMMResult, nsim: int, seed: int | None) -> pd.DataFrame:
    model = fit._fitted_model("bootstrap")
    rows = []
    for y in fit.simulate(nsim, seed).T:
        theta, beta = refit_response(model, y, fit.nagq)
        rows.append([*_sdcor(theta, 1.0, model.terms)[:-1], *beta])
    model.deviance(fit.theta, fit.fixed["estimate"].to_numpy(), fit.nagq)  # modes at the fit
    return pd.DataFrame(rows, columns=[*_names(model.terms), *fit.fixed["term"]])


def _bootstrap(fit: LMMResult | GLMMResult, level: float, nsim: int,
               seed: int | None) -> pd.DataFrame:
    est = bootstrap_estimates(fit, nsim, seed)
    a = (1 - level) / 2
    q = est.quantile([a, 1 - a])
    return pd.DataFrame({"parameter": list(est.columns), "lower": q.iloc[0].to_numpy(),
                         "upper": q.iloc[1].to_numpy()})
