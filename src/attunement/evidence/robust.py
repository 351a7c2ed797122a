"""Cluster-robust inference for a fitted ``rma`` model, as metafor's ``robust()``.

Effect sizes from the same study, centre or sample are not independent. ``robust`` keeps the
model's estimates and replaces their covariance by a sandwich estimator over the clusters:

* default (metafor's ``robust(fit, cluster)``): CR1, i.e. bread = vb Xᵀ W, meat = Σⱼ eⱼeⱼᵀ,
  multiplied by n/(n − p) for n clusters (``adjust=False``: CR0), with t and F tests on
  n − p degrees of freedom (Hedges, Tipton & Johnson 2010, *Res Synth Methods* 1:39);
* ``clubSandwich=True`` (metafor's ``robust(fit, cluster, clubSandwich = TRUE)``, which calls
  the clubSandwich package): the bias-reduced CR2 estimator of Bell & McCaffrey (2002) under
  the model's working covariance diag(vi + τ²), each coefficient tested with a t test whose
  degrees of freedom come from a Satterthwaite approximation, and the moderators together
  with the HTZ Hotelling-T² test (Tipton & Pustejovsky 2015, *J Educ Behav Stat* 40:604;
  Pustejovsky & Tipton 2018, *J Bus Econ Stat* 36:672).

Checked against metafor 3.8-1 and clubSandwich 0.5.8 in
``tests/reference/metafor_robust.json`` (script ``tests/reference/metafor_robust.R``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["RobustResult", "robust"]


@dataclass(repr=False)
class RobustResult:
    """Cluster-robust tests of a fitted model's coefficients (see :func:`robust`).

    Examples
    --------
    R: ``robust(rma.mv(yi, vi, random = ~ 1 | trial/es, data = dat), cluster = trial)`` on
    dat.berkey1998 gives SE 0.06322, p = 0.8180 on 4 df; with ``clubSandwich = TRUE`` SE
    0.06323 on 3.9911 df:

    >>> from attunement.evidence import rma_mv
    >>> from attunement.evidence.datasets import dat_berkey1998
    >>> dat = dat_berkey1998().assign(es=range(10))
    >>> two_level = rma_mv("yi", "vi", random="~ 1 | trial/es", data=dat)
    >>> cr1 = two_level.robust(dat.trial)
    >>> cr1.to_dict()["coefficients"]["intrcpt"]["df"], round(float(cr1.pval[0]), 4)
    (4.0, 0.818)
    >>> cr2 = two_level.robust(dat.trial, clubSandwich=True)
    >>> cr2.vbest, cr2.coef_table()[["se", "df"]].round(4).iloc[0].tolist()
    ('CR2', [0.0632, 3.9911])
    """

    model: Any
    vbest: str
    n_clusters: int
    cluster_sizes: np.ndarray
    coef_names: list[str]
    beta: np.ndarray
    se: np.ndarray
    tval: np.ndarray
    df: np.ndarray
    pval: np.ndarray
    ci_lb: np.ndarray
    ci_ub: np.ndarray
    vb: np.ndarray
    QM: float
    QM_df: tuple[float, float]
    QMp: float
    btt: list[int]

    def coef_table(self) -> pd.DataFrame:
        """The coefficients with their cluster-robust inference.

        Returns
        -------
        pandas.DataFrame
            One row per coefficient: estimate, robust se, tval, df, pval, ci_lb and ci_ub.
        """
        return pd.DataFrame({"estimate": self.beta, "se": self.se, "tval": self.tval,
                             "df": self.df, "pval": self.pval, "ci_lb": self.ci_lb,
                             "ci_ub": self.ci_ub}, index=self.coef_names)

    def to_dict(self) -> dict[str, Any]:
        """Plain numbers for JSON: the coefficient table, the moderator test and the clusters.

        Returns
        -------
        dict
            ``vcov`` (CR1 or CR2), ``clusters``, ``coefficients``, ``QM``, ``QM_df``, ``QM_p``.
        """
        return {"vcov": self.vbest, "clusters": self.n_clusters,
                "coefficients": {name: {k: float(v) for k, v in row.items()}
                                 for name, row in self.coef_table().iterrows()},
                "QM": float(self.QM), "QM_df": [float(x) for x in self.QM_df],
                "QM_p": float(self.QMp)}

    def __repr__(self) -> str:
        return self.__str__()

    def __str__(self) -> str:
        sizes = self.cluster_sizes
        df_note = ("Satterthwaite approx" if self.vbest == "CR2" else "residual method")
        coefs = ", ".join(str(b + 1) for b in self.btt)
        lines = [
            f"Cluster-robust inference ({self.vbest}; df: {df_note})",
            "",
            f"Number of estimates:   {int(sizes.sum())}",
            f"Number of clusters:    {self.n_clusters}",
            f"Estimates per cluster: {int(sizes.min())}-{int(sizes.max())} "
            f"(mean: {sizes.mean():.2f}, median: {np.median(sizes):g})",
            "",
            f"Test of Moderators (coefficient{'s' if len(self.btt) > 1 else ''} {coefs}):",
            f"F(df1 = {self.QM_df[0]:g}, df2 = {self.QM_df[1]:.4g}) = {self.QM:.4f}, "
            f"p-val = {self.QMp:.4g}",
            "",
            self.coef_table().to_string(float_format=lambda v: f"{v:.4f}"),
        ]
        return "\n".join(lines)


def robust(x: Any, cluster: Any, *, adjust: bool = True,
           clubSandwich: bool = False) -> RobustResult:
    """Cluster-robust tests for the coefficients of a fitted model (metafor's ``robust``).

    Parameters
    ----------
    x : RMAResult or MVResult
        The fit.
    cluster : array-like
        One cluster label per estimate used in the fit (NaN/None not allowed).
    adjust : bool, default True
        The CR1 small-sample factor n/(n − p) (False: CR0).
    clubSandwich : bool, default False
        CR2 with Satterthwaite df and the HTZ test, as R's clubSandwich (Pustejovsky & Tipton
        2018, https://doi.org/10.1080/07350015.2016.1247004; models fitted with
        inverse-variance weights).

    Returns
    -------
    RobustResult
        Coefficients with robust ``se``, ``tval``, ``df``, ``pval`` and CI, the robust ``vb``
        and the test of moderators ``QM``.

    Examples
    --------
    R: ``robust(rma(yi, vi, mods = ~ year, data = dat.konstantopoulos2011), cluster =
    district)`` gives SE(year) = 0.0077994, t(9) = 0.6631, p = 0.5239; with
    ``clubSandwich = TRUE``: SE 0.0090107, df 3.3016, p = 0.6028
    (``tests/reference/metafor_robust.json``, to 1e-5):

    >>> from attunement.evidence import rma
    >>> from attunement.evidence.datasets import dat_konstantopoulos2011
    >>> dat = dat_konstantopoulos2011()
    >>> fit = rma(dat, mods="~ year")
    >>> cr1 = robust(fit, dat.district)
    >>> round(float(cr1.se[1]), 7), round(float(cr1.tval[1]), 4), round(float(cr1.pval[1]), 4)
    (0.0077994, 0.6631, 0.5239)
    >>> cr2 = robust(fit, dat.district, clubSandwich=True)
    >>> round(float(cr2.se[1]), 7), round(float(cr2.df[1]), 4), round(float(cr2.pval[1]), 4)
    (0.0090107, 3.3016, 0.6028)
    """
    if getattr(x, "is_mv", False):
        return _robust_mv(x, cluster, adjust=adjust, clubSandwich=clubSandwich)
    _codes, n, groups = _clusters(x, cluster, rows="studies", row="study")
    p = x.p
    X, yi, beta = x.X, x.yi, np.asarray(x.beta, dtype=float)
    resid = yi - X @ beta
    sizes = np.array([g.size for g in groups])
    btt = list(x.btt)
    if clubSandwich:
        if x.weights is not None:
            raise ValueError("clubSandwich=True is implemented for models with the default "
                             "inverse-variance weights")
        v = x.vi + x.tau2
        vb, dfs, (QM, QM_df, QMp) = _cr2(X, [np.diag(v[g]) for g in groups], resid, groups,
                                          beta, btt, x.int_only)
        vbest = "CR2"
    else:
        if x.weights is None:
            w = 1 / (x.vi + x.tau2)
            bread = x.vb @ (X.T * w)
        else:
            a = np.asarray(x.weights, dtype=float)
            bread = np.linalg.inv((X.T * a) @ X) @ (X.T * a)
        vb, vbest, dfs, (QM, QM_df, QMp) = _cr1(bread, resid, groups, beta, btt, n, p, adjust)
    return _result(x, vbest, n, sizes, beta, vb, dfs, QM, QM_df, QMp, btt)


def _cr1(bread: np.ndarray, resid: np.ndarray, groups: list[np.ndarray], beta: np.ndarray,
         btt: list[int], n: int, p: int, adjust: bool
         ) -> tuple[np.ndarray, str, np.ndarray, tuple[float, tuple[float, float], float]]:
    """The sandwich from the bread (X'WX)⁻¹X'W: CR0, or CR1 (× n/(n − p)) with ``adjust``; t
    tests with n − p df and the F test of the coefficients ``btt``."""
    scores = np.column_stack([bread[:, g] @ resid[g] for g in groups])
    vb = scores @ scores.T
    vbest = "CR0"
    if adjust:
        vb = vb * n / (n - p)
        vbest = "CR1"
    dfs = np.full(p, float(n - p))
    bb = beta[btt]
    QM = float(bb @ np.linalg.solve(vb[np.ix_(btt, btt)], bb)) / len(btt)
    return vb, vbest, dfs, (QM, (float(len(btt)), float(n - p)),
                            float(stats.f.sf(QM, len(btt), n - p)))


def _result(x: Any, vbest: str, n: int, sizes: np.ndarray, beta: np.ndarray, vb: np.ndarray,
            dfs: np.ndarray, QM: float, QM_df: tuple[float, float], QMp: float,
            btt: list[int]) -> RobustResult:
    se = np.sqrt(np.diag(vb))
    tval = beta / se
    pval = 2 * stats.t.sf(np.abs(tval), dfs)
    crit = stats.t.ppf(1 - x.alpha / 2, dfs)
    return RobustResult(x, vbest, n, sizes, list(x.coef_names), beta, se, tval, dfs, pval,
                        beta - crit * se, beta + crit * se, vb, QM, QM_df, QMp, btt)


def _clusters(x: Any, cluster: Any, *, rows: str = "estimates", row: str = "row"
              ) -> tuple[np.ndarray, int, list[np.ndarray]]:
    """Cluster codes, the number of clusters and each cluster's rows; ``rows``/``row`` name the
    model's rows in the errors (studies of ``rma``, estimates of ``rma_mv``)."""
    labels = pd.Series(np.asarray(cluster, dtype=object).ravel())
    if len(labels) != x.k:
        raise ValueError(f"cluster has {len(labels)} labels; the model has {x.k} {rows}")
    if labels.isna().any():
        missing = ", ".join(str(i + 1) for i in np.flatnonzero(labels.isna())[:10])
        raise ValueError(f"cluster has missing labels ({row} {missing})")
    codes, uniques = pd.factorize(labels, sort=True)
    n = len(uniques)
    if n - x.p <= 0:
        raise ValueError(f"the number of clusters ({n}) must be larger than the number of "
                         f"coefficients ({x.p})")
    return codes, n, [np.flatnonzero(codes == j) for j in range(n)]


def _robust_mv(x: Any, cluster: Any, *, adjust: bool, clubSandwich: bool) -> RobustResult:
    """``robust`` for an ``rma_mv`` fit: the working covariance is the model's marginal M
    (metafor passes ``M`` and ``W = M⁻¹`` to clubSandwich)."""
    codes, n, groups = _clusters(x, cluster)
    p = x.p
    X, beta = x.X, np.asarray(x.beta, dtype=float)
    resid = x.yi - X @ beta
    sizes = np.array([g.size for g in groups])
    btt = list(x.btt)
    blocks = x.marginal_blocks()
    if clubSandwich:
        for idx, _ in blocks:
            if np.unique(codes[idx]).size > 1:
                raise ValueError("clubSandwich=True needs clusters that contain the random "
                                 "effects and V: estimates linked by the model are in "
                                 f"different clusters (rows {', '.join(str(i + 1) for i in idx[:6])})")
        M = x.M
        phis = [M[np.ix_(g, g)] for g in groups]
        vb, dfs, (QM, QM_df, QMp) = _cr2(X, phis, resid, groups, beta, btt, x.int_only)
        vbest = "CR2"
    else:
        XtW = np.empty((p, x.k))
        for idx, block in blocks:
            XtW[:, idx] = X[idx].T @ np.linalg.inv(block)
        bread = x.vb @ XtW
        vb, vbest, dfs, (QM, QM_df, QMp) = _cr1(bread, resid, groups, beta, btt, n, p, adjust)
    return _result(x, vbest, n, sizes, beta, vb, dfs, QM, QM_df, QMp, btt)


def _inv_sqrt(a: np.ndarray) -> np.ndarray:
    """Symmetric a^(-1/2), eigenvalues ≤ 1e-12 set to 0 (clubSandwich's matrix_power)."""
    vals, vecs = np.linalg.eigh(a)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.where(vals > 1e-12, vals ** -0.5, 0.0)
    return (vecs * inv) @ vecs.T


def _cr2(X: np.ndarray, phis: list[np.ndarray], resid: np.ndarray, groups: list[np.ndarray],
         beta: np.ndarray, btt: list[int], int_only: bool):
    """CR2 covariance, Satterthwaite df per coefficient and the HTZ test (working model Φⱼ
    per cluster, weights Wⱼ = Φⱼ⁻¹: clubSandwich's inverse-variance case)."""
    Ws = [np.linalg.inv(phi) for phi in phis]
    M = np.linalg.inv(sum(X[g].T @ W @ X[g] for g, W in zip(groups, Ws, strict=True)))
    p = X.shape[1]
    LM = np.linalg.cholesky(M)
    scores, G, H = [], [], []
    for g, phi, W in zip(groups, phis, Ws, strict=True):
        Xj = X[g]
        L = np.linalg.cholesky(phi)                       # Φⱼ = L Lᵀ, U = Lᵀ
        # A_j = Uᵀ [U (Φⱼ − Xⱼ M Xⱼᵀ) Uᵀ]^(-½) U  (clubSandwich's CR2)
        inner = L.T @ (phi - Xj @ M @ Xj.T) @ L
        A = L @ _inv_sqrt(inner) @ L.T
        ME = M @ Xj.T @ W @ A                             # p × nⱼ
        scores.append(ME @ resid[g])
        G.append(ME @ L)                                  # ME Φⱼ^½
        H.append(ME @ Xj @ LM)                            # p × p
    S = np.column_stack(scores)
    vb = S @ S.T
    J = len(groups)
    Harr = np.stack(H, axis=2)                            # (p, p, J)
    dfs = np.empty(p)
    for i in range(p):
        h = Harr[i]                                       # (p, J): columns are clusters
        P = -(h.T @ h)
        P[np.diag_indices(J)] += np.array([np.sum(gj[i] ** 2) for gj in G])
        dfs[i] = np.trace(P) ** 2 / np.sum(P**2)
    if int_only:
        QM = float(max(0.0, (beta[0] / np.sqrt(vb[0, 0])) ** 2))
        return vb, dfs, (QM, (1.0, float(dfs[0])), float(2 * stats.t.sf(np.sqrt(QM), dfs[0])))
    q = len(btt)
    C = np.eye(p)[btt]
    Gc = [C @ gj for gj in G]
    Hc = np.einsum("ap,puj->auj", C, Harr)                # (q, p, J)
    # P[s, t] (J × J) for each pair of constrained coefficients
    P = np.empty((q, q, J, J))
    for s in range(q):
        for t in range(q):
            tmp = -(Hc[s].T @ Hc[t])
            tmp[np.diag_indices(J)] += np.array([np.sum(gj[s] * gj[t]) for gj in Gc])
            P[s, t] = tmp
    omega = np.einsum("stjj->st", P)
    on = _inv_sqrt(omega)
    B = np.einsum("as,stjk,tb->abjk", on, P, on)
    var = np.empty((q, q))
    for s in range(q):
        for t in range(q):
            var[s, t] = np.sum(B[s, t] * B[t, s]) + np.sum(B[s, s] * B[t, t])
    nu = q * (q + 1) / var.sum()
    cb = C @ beta
    Q = float(cb @ np.linalg.solve(C @ vb @ C.T, cb))
    delta = max((nu - q + 1) / nu, 0.0)
    df2 = nu - q + 1
    F = delta * Q / q
    p_val = float(stats.f.sf(F, q, df2)) if df2 > 0 else float("nan")
    return vb, dfs, (max(0.0, F), (float(q), float(df2)), p_val)
