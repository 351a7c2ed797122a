"""Multivariate and multilevel meta-analysis, as metafor's ``rma.mv``.

Model: y = Xβ + Σ_t Z_t u_t + e with e ~ N(0, V) (V known: sampling variances, or a full
block-diagonal matrix for correlated estimates) and random effects from

* ``~ 1 | a/b`` terms: one variance component σ² per level of nesting (``a``, ``a/b``);
* at most two ``~ inner | outer`` terms: within each level of ``outer``, the effects of the levels
  of ``inner`` have covariance G (τ², ρ for the first term; γ², φ for the second) with
  ``struct`` CS (compound symmetry), HCS (heteroscedastic CS), UN (unstructured), AR (AR(1)
  over the sorted levels of ``inner``), ID (independent, ρ = 0) or DIAG.

Variance components maximise the ML or REML likelihood (Viechtbauer 2010,
https://doi.org/10.18637/jss.v036.i03; Konstantopoulos 2011, https://doi.org/10.1002/jrsm.35;
Berkey et al. 1998, https://doi.org/10.1002/(SICI)1097-0258(19981130)17:22%3C2537::AID-SIM953%3E3.0.CO;2-C).
The marginal covariance M = V + Σ Z G Zᵀ is block diagonal over the connected groups of
estimates (the same study, district or trial); blocks of one size are factorised together, so
a fit costs O(Σ block³) rather than O(k³).

Checked against metafor 3.8-1 in ``tests/reference/rmamv_reference.json`` (script
``tests/reference/rmamv_reference.R``).
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.optimize import brentq

from attunement._blas import bounded_blas
from attunement.evidence._core import Coefficients
from attunement.evidence._mv_engine import _LOG2PI, _Engine, _GTerm, _optimise
from attunement.evidence.design import _design, _vector
from attunement.evidence.formula import model_matrix

__all__ = ["STRUCTS", "MVResult", "rma_mv"]

STRUCTS = ("CS", "HCS", "UN", "AR", "ID", "DIAG")


# ------------------------------------------------------------------------------------ results
@dataclass(repr=False)
class MVResult(Coefficients):
    """A fitted ``rma.mv`` model, with metafor's names.

    Examples
    --------
    Two levels (trials, and outcomes within trials) on dat.berkey1998; R:
    ``rma.mv(yi, vi, random = ~ 1 | trial/es, data = dat)`` gives σ² = 0 and 0.1609, and
    ``confint(res, sigma2 = 1)`` 0 to 0.1885:

    >>> from attunement.evidence.datasets import dat_berkey1998
    >>> dat = dat_berkey1998().assign(es=range(10))
    >>> ml = rma_mv("yi", "vi", random="~ 1 | trial/es", data=dat)
    >>> ml.s_names, ml.sigma2.round(4).tolist()
    (['trial', 'trial/es'], [0.0, 0.1609])
    >>> [round(bound, 4) for bound in ml.profile_ci(0)]
    [0.0, 0.1885]
    >>> round(float(ml.coef_table().loc["intrcpt", "estimate"]), 4), ml.to_dict()["model"]
    (0.0155, 'rma.mv')
    """

    ddf: np.ndarray
    vb: np.ndarray
    sigma2: np.ndarray
    s_names: list[str]
    s_nlevels: list[int]
    tau2: np.ndarray
    rho: np.ndarray
    gamma2: np.ndarray
    phi: np.ndarray
    structs: list[str]
    QE: float
    QEp: float
    QM: float
    QMp: float
    QMdf: tuple[float, float | None]
    btt: list[int]
    fit_stats: dict[str, float]
    level: float
    parms: int
    X: np.ndarray = field(repr=False)
    yi: np.ndarray = field(repr=False)
    _engine: Any = field(repr=False)
    _theta: np.ndarray = field(repr=False)

    @property
    def n_clusters(self) -> int:
        """Number of levels of the outermost random-effects factor."""
        if self.s_nlevels:
            return int(self.s_nlevels[0])
        return int(self._engine.g_terms[0].n_outer) if self._engine.g_terms else self.k

    @property
    def int_only(self) -> bool:
        return self.p == 1 and self.coef_names == ["intrcpt"]

    @property
    def alpha(self) -> float:
        return 1 - (self.level / 100 if self.level > 1 else self.level)

    @property
    def is_mv(self) -> bool:
        return True

    def marginal_blocks(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """The marginal covariance M = V + Σ Z G Zᵀ, block by block.

        Returns
        -------
        list of (numpy.ndarray, numpy.ndarray)
            For each group of connected estimates, their row indices and their block of M.
        """
        return self._engine.marginal_blocks(self._theta)

    @property
    def M(self) -> np.ndarray:
        """The marginal covariance matrix of the estimates (k × k)."""
        out = np.zeros((self.k, self.k))
        for idx, block in self.marginal_blocks():
            out[np.ix_(idx, idx)] = block
        return out

    def coef_table(self) -> pd.DataFrame:
        """The fixed effects as metafor prints them.

        Returns
        -------
        pandas.DataFrame
            Indexed by coefficient: estimate, se, zval (tval and df with ``test="t"``), pval,
            ci_lb, ci_ub.
        """
        stat = "tval" if self.test == "t" else "zval"
        table = pd.DataFrame({"estimate": self.beta, "se": self.se, stat: self.zval,
                              "pval": self.pval, "ci_lb": self.ci_lb, "ci_ub": self.ci_ub},
                             index=self.coef_names)
        if self.test == "t":
            table.insert(3, "df", self.ddf)
        return table

    def robust(self, cluster: Any, *, adjust: bool = True, clubSandwich: bool = False) -> Any:
        """Cluster-robust tests (metafor ``robust``): CR1 with t(n − p) by default, CR2 with
        Satterthwaite df and the HTZ test with ``clubSandwich=True``.

        R: ``robust(rma.mv(yi, vi, random = ~ 1 | study/esid, data = dat.assink2016),
        cluster = study)`` gives estimate 0.4268, SE 0.11830, t(16), p = 0.002361; with
        ``clubSandwich = TRUE``: SE 0.11865, df 15.448, p = 0.002534.

        Parameters
        ----------
        cluster : array-like
            One cluster label per estimate (e.g. the study).
        adjust : bool, default True
            CR1's small-sample factor.
        clubSandwich : bool, default False
            CR2 with Satterthwaite df (as the clubSandwich package).

        Returns
        -------
        RobustResult
            Robust standard errors and tests.
        """
        from attunement.evidence.robust import robust

        return robust(self, cluster, adjust=adjust, clubSandwich=clubSandwich)

    def profile_ci(self, component: int, level: float | None = None) -> tuple[float, float]:
        """Profile-likelihood CI for the variance component ``sigma2[component]`` (metafor's
        ``confint(fit, sigma2 = component + 1)``).

        Parameters
        ----------
        component : int
            Which σ² (0-based, as ``sigma2``).
        level : float, optional
            Confidence level (the model's by default).

        Returns
        -------
        tuple of float
            Lower and upper bound (the upper is infinite when the likelihood stays flat).
        """
        lev = self.level if level is None else level
        alpha = 1 - (lev / 100 if lev > 1 else lev)
        crit = float(stats.chi2.isf(alpha, 1))
        engine, theta = self._engine, self._theta
        if not 0 <= component < engine.n_s:
            raise ValueError(f"component must pick one of the {engine.n_s} sigma2 "
                             f"component(s) (0-based), not {component}")
        ll_max = engine.evaluate(theta, grad=False)["ll"]
        est = float(theta[component])

        def drop(t: float) -> float:
            fit = _optimise(engine, theta, {component: t})
            return 2 * (ll_max - engine.evaluate(fit, grad=False)["ll"]) - crit

        lo = 0.0 if est == 0 or drop(0.0) <= 0 else brentq(drop, 0.0, est, xtol=1e-12,
                                                            rtol=1e-12)
        hi_end = max(est * 10, 1.0)
        while drop(hi_end) < 0:
            hi_end *= 10
            if hi_end > 1e8:
                return lo, math.inf
        return lo, brentq(drop, est, hi_end, xtol=1e-12, rtol=1e-12)

    def to_dict(self) -> dict[str, Any]:
        """Plain numbers for JSON, with metafor's names.

        Returns
        -------
        dict
            The coefficients, the variance components, the QE and QM tests, fit statistics.
        """

        def arr(a: np.ndarray) -> list[float]:
            return [float(v) for v in np.atleast_1d(a)]

        return {
            "model": "rma.mv", "method": self.method, "test": self.test, "k": self.k,
            "coefficients": {name: {key: float(v) for key, v in row.items()}
                             for name, row in self.coef_table().iterrows()},
            "estimate": float(self.beta[0]), "se": float(self.se[0]),
            "pval": float(self.pval[0]), "ci_lb": float(self.ci_lb[0]),
            "ci_ub": float(self.ci_ub[0]),
            "sigma2": dict(zip(self.s_names, arr(self.sigma2), strict=True)) if self.s_names
            else {},
            "tau2": arr(self.tau2), "rho": arr(self.rho), "gamma2": arr(self.gamma2),
            "phi": arr(self.phi), "struct": self.structs,
            "QE": self.QE, "QEp": self.QEp, "QM": self.QM, "QMp": self.QMp,
            "QMdf": [self.QMdf[0], self.QMdf[1]], "fit_stats": dict(self.fit_stats),
        }

    def __repr__(self) -> str:
        return self.__str__()

    def __str__(self) -> str:
        return _format(self)


# ------------------------------------------------------------------------------------ parsing
def _labels(data: pd.DataFrame | None, name: str, what: str, k: int) -> pd.Series:
    if data is None or name not in data.columns:
        raise ValueError(f"random-effects variable {name!r} ({what}) not found in the data")
    s = data[name].reset_index(drop=True)
    miss = np.flatnonzero(s.isna().to_numpy())
    if miss.size:
        rows = ", ".join(str(i + 1) for i in miss[:10])
        raise ValueError(f"random-effects variable {name!r} is missing in row(s) {rows}")
    if len(s) != k:
        raise ValueError(f"random-effects variable {name!r} has {len(s)} values, expected {k}")
    return s


def _parse_random(random: Any, struct: Any, data: pd.DataFrame | None, k: int
                  ) -> tuple[list[str], list[np.ndarray], list[_GTerm]]:
    formulas = [random] if isinstance(random, str) else list(random)
    structs = [struct] if isinstance(struct, str) else list(struct)
    for st in structs:
        if st not in STRUCTS:
            raise ValueError(f"struct must be one of {', '.join(STRUCTS)}, not {st!r}")
    s_names: list[str] = []
    s_codes: list[np.ndarray] = []
    g_terms: list[_GTerm] = []
    for f in formulas:
        if not isinstance(f, str):
            raise ValueError(f"random must be formula strings such as '~ 1 | study', not {f!r}")
        m = re.fullmatch(r"\s*~\s*(.+?)\s*\|\s*(.+?)\s*", f)
        if m is None:
            raise ValueError(f"random-effects formula {f!r} is not of the form '~ 1 | study', "
                             "'~ 1 | study/es' or '~ inner | outer'")
        inner, outer = m.group(1), m.group(2)
        if inner == "1":
            parts = [p.strip() for p in outer.split("/")]
            for depth in range(1, len(parts) + 1):
                cols = parts[:depth]
                labs = [_labels(data, c, f, k).astype(str) for c in cols]
                key = labs[0] if depth == 1 else pd.Series(
                    ["\x1f".join(t) for t in zip(*labs, strict=True)])
                s_names.append("/".join(cols))
                s_codes.append(pd.factorize(key)[0])
            continue
        if len(g_terms) >= 2:
            raise ValueError("at most two '~ inner | outer' terms (as metafor)")
        st = structs[min(len(g_terms), len(structs) - 1)]
        inner_s = _labels(data, inner, f, k)
        outer_s = _labels(data, outer, f, k)
        uniq = sorted(pd.unique(inner_s))  # R's factor(): sorted levels
        codes = np.asarray(pd.Categorical(inner_s, categories=uniq).codes)
        levels = [str(int(u)) if isinstance(u, float) and u.is_integer() else str(u)
                  for u in uniq]
        oc = pd.factorize(outer_s)[0]
        g_terms.append(_GTerm(st, inner, outer, codes, levels, oc, int(oc.max()) + 1))
    if not s_codes and not g_terms:
        raise ValueError("random needs at least one term")
    return s_names, s_codes, g_terms


def _sampling_covariance(V: Any, data: pd.DataFrame | None, k: int) -> np.ndarray:
    """Variances (1-D) or a full k × k matrix; checked, never coerced."""
    if isinstance(V, str):
        if data is None or V not in data.columns:
            raise ValueError(f"column {V!r} (for V) not found in the data")
        V = data[V]
    arr = np.asarray(V, dtype=float)
    if arr.ndim == 2 and 1 in arr.shape and arr.size == k and k > 1:
        arr = arr.ravel()
    if arr.ndim == 1:
        if arr.size != k:
            raise ValueError(f"V has {arr.size} variances, expected {k} (one per estimate)")
        bad = np.flatnonzero(~np.isfinite(arr) | (arr <= 0))
        if bad.size:
            rows = ", ".join(str(i + 1) for i in bad[:10])
            raise ValueError(f"sampling variances must be positive numbers (row(s) {rows})")
        return arr
    if arr.shape != (k, k):
        raise ValueError(f"V is {arr.shape[0]} x {arr.shape[1]}; expected {k} x {k}")
    if not np.all(np.isfinite(arr)):
        i, j = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(f"V has a missing or infinite value at row {i + 1}, column {j + 1}")
    if not np.allclose(arr, arr.T, rtol=1e-10, atol=1e-12):
        i, j = np.argwhere(~np.isclose(arr, arr.T, rtol=1e-10, atol=1e-12))[0]
        raise ValueError(f"V is not symmetric (row {i + 1}, column {j + 1})")
    bad = np.flatnonzero(np.diag(arr) <= 0)
    if bad.size:
        raise ValueError(f"V has a non-positive variance on the diagonal (row {bad[0] + 1})")
    return (arr + arr.T) / 2


# -------------------------------------------------------------------------------------- fit
@bounded_blas
def rma_mv(
    yi: Any = "yi",
    V: Any = "vi",
    *,
    random: Any = None,
    struct: Any = "CS",
    data: pd.DataFrame | None = None,
    mods: Any = None,
    btt: Any = None,
    method: str = "REML",
    test: str = "z",
    level: float = 95,
    cluster: Any = None,
    vi: Any = None,
) -> MVResult:
    """Multivariate / multilevel meta-analysis (metafor's ``rma.mv``).

    Parameters
    ----------
    yi : array-like or str, default "yi"
        The estimates (values or a column of ``data``).
    V : array-like or str, default "vi"
        Sampling variances, or a full (block-diagonal) covariance matrix, e.g. from
        :func:`vcalc`.
    random : str or list of str, optional
        Random-effects formulas: ``"~ 1 | study/es"`` (nested levels), ``"~ outcome | trial"``
        (an inner factor within an outer one); a list for two.
    struct : str or list of str, default "CS"
        CS, HCS, UN, AR, ID or DIAG for ``~ inner | outer`` terms (a list for two).
    data : pandas.DataFrame, optional
        The data the column names and formulas refer to.
    mods : str, list or array-like, optional
        A formula string (``"~ outcome - 1"``, R's treatment contrasts), column names or a
        matrix.
    btt : sequence of int, optional
        Coefficients (0-based) for the test of moderators.
    method : str, default "REML"
        REML or ML.
    test : str, default "z"
        ``"z"`` or ``"t"`` (df k − p, metafor's ``dfs = "residual"``).
    level : float, default 95
        Confidence level.
    cluster : array-like or str, optional
        Shorthand for ``random="~ 1 | cluster/estimate"``.
    vi : array-like or str, optional
        The earlier name of ``V``.

    Returns
    -------
    MVResult
        Fixed effects (``beta``, ``se``, ...), variance components (``sigma2``, ``tau2``,
        ``rho``, ``gamma2``, ``phi``), ``QE``/``QM`` tests and fit statistics, with
        ``robust()`` and ``profile_ci()``.

    Examples
    --------
    R: ``rma.mv(yi, V, mods = ~ outcome - 1, random = ~ outcome | trial, struct = "UN",
    data = dat.berkey1998)`` gives outcomeAL −0.3392 (se 0.0879), outcomePD 0.3534 (0.0588),
    τ² = 0.0327, 0.0117, ρ = 0.6088 (``tests/reference/rmamv_reference.json``, to 1e-6):

    >>> import numpy as np
    >>> from attunement.evidence.datasets import dat_berkey1998
    >>> dat = dat_berkey1998()
    >>> V = np.zeros((10, 10))
    >>> for i in range(0, 10, 2):       # each trial's 2 x 2 block
    ...     V[i:i + 2, i:i + 2] = dat[["v1i", "v2i"]].to_numpy()[i:i + 2]
    >>> res = rma_mv("yi", V, mods="~ outcome - 1", random="~ outcome | trial", struct="UN",
    ...              data=dat)
    >>> [round(float(b), 4) for b in res.beta], [round(float(t), 4) for t in res.tau2]
    ([-0.3392, 0.3534], [0.0327, 0.0117])
    >>> round(float(res.rho[0]), 4)
    0.6088
    """
    if vi is not None:
        V = vi
    if method not in {"REML", "ML"}:
        raise ValueError(f"method must be 'REML' or 'ML', not {method!r}")
    if test not in {"z", "t"}:
        raise ValueError(f"test must be 'z' or 't', not {test!r}")
    y = _vector("yi", yi, data)
    if y is None:
        raise ValueError("yi is required")
    k = y.size
    bad = np.flatnonzero(~np.isfinite(y))
    if bad.size:
        raise ValueError(f"yi is missing or not finite in row(s) "
                         f"{', '.join(str(i + 1) for i in bad[:10])}")
    if data is not None:
        data = data.reset_index(drop=True)
    Vm = _sampling_covariance(V, data, k)
    if cluster is not None:
        if random is not None:
            raise ValueError("give either cluster= or random=, not both")
        labels = data[cluster] if isinstance(cluster, str) and data is not None else cluster
        labels = pd.Series(np.asarray(labels)).reset_index(drop=True)
        if len(labels) != k:
            raise ValueError("cluster must have one label per estimate")
        if labels.isna().any():
            rows = ", ".join(str(i + 1) for i in np.flatnonzero(labels.isna())[:10])
            raise ValueError(f"cluster is missing in row(s) {rows}")
        data_for_mods = data
        data = pd.DataFrame({"cluster": labels, "estimate": np.arange(k)})
        random = "~ 1 | cluster/estimate"
    else:
        data_for_mods = data
    if random is None:
        raise ValueError("random is required, e.g. random='~ 1 | study/es'")
    s_names, s_codes, g_terms = _parse_random(random, struct, data, k)
    if (isinstance(mods, (list, tuple)) and mods and data_for_mods is not None
            and all(isinstance(m, str) for m in mods)):
        mods = "~ " + " + ".join(mods)  # column names: R's coding and names, as a formula
    if isinstance(mods, str) and mods.strip().startswith("~"):
        if data_for_mods is None:
            raise ValueError("a moderator formula needs data")
        X, names, intercept = model_matrix(mods, data_for_mods)
    else:
        X, names, intercept, _ = _design(mods, data_for_mods, k, True)
        badx = np.flatnonzero(np.isnan(X).any(axis=1))
        if badx.size:
            raise ValueError(f"moderators are missing in row(s) "
                             f"{', '.join(str(i + 1) for i in badx[:10])}")
    p = X.shape[1]
    if np.linalg.matrix_rank(X) < p:
        raise ValueError(f"the moderators are linearly dependent (columns: {', '.join(names)})")
    if k <= p:
        raise ValueError(f"too few estimates ({k}) for {p} coefficients")
    engine = _Engine(y, Vm, X, s_codes, g_terms, reml=method == "REML")
    vdiag = Vm if Vm.ndim == 1 else np.diag(Vm)
    ols = np.linalg.lstsq(X, y, rcond=None)[0]
    total = max(float(np.var(y - X @ ols, ddof=0) - np.mean(vdiag)), 0.01 * float(np.var(y)),
                1e-4)
    n_comp = len(s_codes) + len(g_terms)
    start = [total / n_comp] * len(s_codes)
    for g in g_terms:
        start += [total / n_comp] * g.n_tau + [0.5 if g.struct != "UN" else 0.3] * g.n_rho
    # as metafor: a factor with a single level cannot be told from the intercept, so its
    # variance component is fixed at 0 (with a warning) and not counted as a parameter
    fixed = {i: 0.0 for i, c in enumerate(s_codes) if int(c.max()) == 0}
    if fixed:
        warnings.warn("single-level factor(s) in random ("
                      + ", ".join(s_names[i] for i in fixed)
                      + "): the corresponding sigma2 fixed to 0", stacklevel=2)
    theta = _optimise(engine, np.array(start), fixed)
    out = engine.evaluate(theta, grad=False)
    if out is None:
        raise ValueError("the marginal covariance is not positive definite at the optimum")
    beta, vb = out["beta"], out["vb"]
    se = np.sqrt(np.diag(vb))
    zval = beta / se
    if btt is None:
        btt_l = list(range(1, p)) if intercept and p > 1 else list(range(p))
    else:
        btt_l = sorted({int(b) for b in np.atleast_1d(btt)})
        if not btt_l or min(btt_l) < 0 or max(btt_l) >= p:
            raise ValueError(f"btt must pick coefficients 0..{p - 1}")
    m = len(btt_l)
    bb = beta[btt_l]
    QM = float(bb @ np.linalg.solve(vb[np.ix_(btt_l, btt_l)], bb))
    alpha = 1 - (level / 100 if level > 1 else level)
    if test == "t":
        ddf = np.full(p, float(k - p))
        QM /= m
        QMdf: tuple[float, float | None] = (float(m), float(k - p))
        QMp = float(stats.f.sf(QM, m, k - p))
        pval = 2 * stats.t.sf(np.abs(zval), ddf)
        crit = stats.t.isf(alpha / 2, ddf)
    else:
        ddf = np.full(p, np.nan)
        QMdf = (float(m), None)
        QMp = float(stats.chi2.sf(QM, m))
        pval = 2 * stats.norm.sf(np.abs(zval))
        crit = np.full(p, stats.norm.isf(alpha / 2))
    # residual heterogeneity and the saturated log-likelihood use V alone
    QE, ll_qe = _qe(engine, Vm, y, X)
    QEp = float(stats.chi2.sf(QE, k - p))
    s2, pars = engine.split(theta)
    parms = p + engine.n_par - len(fixed)
    ll_ml, ll_reml = out["ll_ml"], out["ll_reml"]
    ll = ll_reml if method == "REML" else ll_ml
    n = k - p if method == "REML" else k
    dev = -2 * ll_reml if method == "REML" else -2 * (ll_ml - ll_qe)
    fit_stats = {"logLik": ll, "deviance": dev, "AIC": -2 * ll + 2 * parms,
                 "BIC": -2 * ll + parms * math.log(n),
                 "AICc": -2 * ll + 2 * parms * max(n, parms + 2) / (max(n, parms + 2)
                                                                    - parms - 1)}

    def comp(i: int) -> tuple[np.ndarray, np.ndarray]:
        if i >= len(g_terms):
            return np.array([0.0]), np.array([0.0])
        g, par = g_terms[i], pars[i]
        rho = par[g.n_tau:] if g.n_rho else np.array([0.0])
        return np.asarray(par[: g.n_tau], dtype=float), np.asarray(rho, dtype=float)

    tau2, rho = comp(0)
    gamma2, phi = comp(1)
    return MVResult(method, test, k, p, names, beta, se, zval, pval, beta - crit * se,
                    beta + crit * se, ddf, vb, np.asarray(s2, dtype=float), s_names,
                    [int(c.max()) + 1 for c in s_codes], tau2, rho, gamma2, phi,
                    [g.struct for g in g_terms], QE, QEp, QM, QMp, QMdf, btt_l, fit_stats,
                    level, parms, X, y, engine, theta)


def _qe(engine: _Engine, V: np.ndarray, y: np.ndarray, X: np.ndarray) -> tuple[float, float]:
    """QE = eᵀV⁻¹e from the fixed-effects fit, and the saturated log-likelihood (metafor);
    V is block diagonal within the engine's groups, so both go block by block."""
    k, p = X.shape
    XtWX, XtWy, logdet, cache = np.zeros((p, p)), np.zeros(p), 0.0, []
    for grp in engine.groups:
        L = np.linalg.cholesky(grp["V"])
        logdet += 2 * float(np.sum(np.log(np.diagonal(L, axis1=1, axis2=2))))
        W = np.linalg.inv(grp["V"])
        WX = W @ grp["X"]
        XtWX += np.einsum("bsp,bsq->pq", grp["X"], WX)
        XtWy += np.einsum("bsp,bs->p", WX, grp["y"])
        cache.append((grp, W))
    b = np.linalg.solve(XtWX, XtWy)
    qe = 0.0
    for grp, W in cache:
        e = grp["y"] - grp["X"] @ b
        qe += float(np.einsum("bs,bst,bt->", e, W, e))
    return qe, -0.5 * k * _LOG2PI - 0.5 * logdet


# ---------------------------------------------------------------------------------- printing
def _fmt_p(p: float) -> str:
    return "< .0001" if p < 1e-4 else f"= {p:.4f}"


def _format(r: MVResult) -> str:
    lines = ["", f"Multivariate Meta-Analysis Model (k = {r.k}; method: {r.method})", "",
             "Variance Components:", ""]
    if r.s_names:
        width = max(len(n) for n in r.s_names)
        lines.append(f"{'':11}{'estim':>8}{'sqrt':>8}{'nlvls':>7}{'fixed':>7}  "
                     f"{'factor':>{width}}")
        for i, (name, n) in enumerate(zip(r.s_names, r.s_nlevels, strict=True)):
            lines.append(f"{'sigma^2.' + str(i + 1):<11}{r.sigma2[i]:8.4f}"
                         f"{math.sqrt(r.sigma2[i]):8.4f}{n:7d}{'no':>7}  {name:>{width}}")
        lines.append("")
    for t, g in enumerate(r._engine.g_terms):
        var, cor = ("tau", "rho") if t == 0 else ("gamma", "phi")
        values = r.tau2 if t == 0 else r.gamma2
        corr = r.rho if t == 0 else r.phi
        lines += [f"outer factor: {g.outer_name} (nlvls = {g.n_outer})",
                  f"inner factor: {g.inner_name} (nlvls = {g.m})", ""]
        if g.n_tau == 1:
            lines.append(f"{'':11}{'estim':>8}{'sqrt':>8}{'fixed':>7}")
            lines.append(f"{var + '^2':<11}{values[0]:8.4f}{math.sqrt(values[0]):8.4f}"
                         f"{'no':>7}")
            if g.n_rho:
                lines.append(f"{cor:<11}{corr[0]:8.4f}{'':8}{'no':>7}")
        else:
            counts = np.bincount(g.inner, minlength=g.m)
            lines.append(f"{'':11}{'estim':>8}{'sqrt':>8}{'k.lvl':>7}{'fixed':>7}  level")
            for i, lev in enumerate(g.levels):
                lines.append(f"{var + '^2.' + str(i + 1):<11}{values[i]:8.4f}"
                             f"{math.sqrt(values[i]):8.4f}{counts[i]:7d}{'no':>7}  {lev}")
            if g.struct in {"HCS", "CS", "AR"} and g.n_rho:
                lines.append(f"{cor:<11}{corr[0]:8.4f}{'':8}{'':7}{'no':>7}")
            elif g.struct == "UN":
                R = g.corr(corr)
                lines.append("")
                lines.append(" " * 6 + "".join(f"{cor + '.' + lev:>10}" for lev in g.levels))
                for i, lev in enumerate(g.levels):
                    row = "".join(f"{R[i, j]:10.4f}" if j < i else
                                  (f"{1:>10}" if j == i else f"{'':>10}") for j in range(g.m))
                    lines.append(f"{lev:<6}{row}")
        lines.append("")
    lines += ["Test for Residual Heterogeneity:",
              f"QE(df = {r.k - r.p}) = {r.QE:.4f}, p-val {_fmt_p(r.QEp)}", ""]
    if not r.int_only:
        coefs = _btt_text(r.btt)
        lines.append(f"Test of Moderators (coefficient{'s' if len(r.btt) > 1 else ''} "
                     f"{coefs}):")
        if r.test == "t":
            lines.append(f"F(df1 = {r.QMdf[0]:g}, df2 = {r.QMdf[1]:g}) = {r.QM:.4f}, "
                         f"p-val {_fmt_p(r.QMp)}")
        else:
            lines.append(f"QM(df = {r.QMdf[0]:g}) = {r.QM:.4f}, p-val {_fmt_p(r.QMp)}")
        lines.append("")
    lines += ["Model Results:", ""]
    stat = "tval" if r.test == "t" else "zval"
    cols = {"estimate": [f"{v:.4f}" for v in r.beta], "se": [f"{v:.4f}" for v in r.se],
            stat: [f"{v:.4f}" for v in r.zval]}
    if r.test == "t":
        cols["df"] = [f"{v:g}" for v in r.ddf]
    cols["pval"] = ["<.0001" if v < 1e-4 else f"{v:.4f}" for v in r.pval]
    cols["ci.lb"] = [f"{v:.4f}" for v in r.ci_lb]
    cols["ci.ub"] = [f"{v:.4f}" for v in r.ci_ub]
    cols[""] = [_stars(v) for v in r.pval]
    lines.append(pd.DataFrame(cols, index=r.coef_names).to_string())
    lines += ["", "---", "Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1"]
    return "\n".join(lines)


def _stars(p: float) -> str:
    for cut, mark in ((0.001, "***"), (0.01, "**"), (0.05, "*"), (0.1, ".")):
        if p < cut:
            return mark
    return ""


def _btt_text(btt: list[int]) -> str:
    """Coefficient numbers as metafor prints them: ``2:4`` for a run, else ``1,3``."""
    nums = [b + 1 for b in btt]
    if len(nums) > 1 and nums == list(range(nums[0], nums[-1] + 1)):
        return f"{nums[0]}:{nums[-1]}"
    return ",".join(str(n) for n in nums)
