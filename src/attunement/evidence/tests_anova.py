"""Wald tests of linear contrasts and likelihood-ratio tests for rma fits (metafor ``anova.rma``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from attunement.evidence._core import _pval
from attunement.evidence.rma_result import RMAFit


@dataclass
class WaldResult:
    """Wald test of ``L b = 0``: per-row estimates and the omnibus QM (chi² or F after knha)."""

    L: np.ndarray | None
    Xb: np.ndarray
    se: np.ndarray
    zval: np.ndarray
    pval: np.ndarray
    QM: float
    QMdf: tuple[int, int | None]
    QMp: float


@dataclass
class LRTResult:
    """Likelihood-ratio test of a reduced model against a full model (both fitted the same way)."""

    LRT: float
    df: int
    pval: float
    fit_stats_full: dict[str, float]
    fit_stats_reduced: dict[str, float]
    tau2_full: float
    tau2_reduced: float
    QE_full: float
    QE_reduced: float
    R2: float | None


def wald(fit: RMAFit, X: Any = None, *, btt: Any = None) -> WaldResult:
    """Wald test of the linear contrasts ``X`` (rows = hypotheses, columns = coefficients) or of
    the coefficients ``btt`` (0-based) being zero, as metafor's ``anova(fit, X=)``/``btt=``.

    Parameters
    ----------
    fit : RMAResult
        The fitted model.
    X : array-like, optional
        Contrast matrix, one row per hypothesis and one column per coefficient.
    btt : sequence of int, optional
        Coefficients (0-based) tested jointly against zero; give this or ``X``.

    Returns
    -------
    WaldResult
        Each row's estimate ``Xb`` with ``se``, ``zval``, ``pval``, and the omnibus ``QM``
        with its df and p-value.

    Examples
    --------
    R: ``anova(rma(yi, vi, mods = ~ weeks + setting + tester, data = dat.raudenbush1985),
    X = rbind(c(0,1,0,0), c(0,0,1,-1)))`` gives QM = 7.0224 (df 2), p = 0.0299:

    >>> from attunement.evidence import rma
    >>> from attunement.evidence.datasets import dat_raudenbush1985
    >>> reg = rma("yi", "vi", data=dat_raudenbush1985(), mods="~ weeks + setting + tester")
    >>> test = wald(reg, [[0, 1, 0, 0], [0, 0, 1, -1]])
    >>> round(test.QM, 4), test.QMdf[0], round(test.QMp, 4)
    (7.0224, 2, 0.0299)
    """
    if (X is None) == (btt is None):
        raise ValueError("give exactly one of X (contrast matrix) or btt (coefficient indices)")
    ddf = fit.ddf if fit.test != "z" else None
    if X is not None:
        L = np.atleast_2d(np.asarray(X, dtype=float))
        if L.shape[1] != fit.p:
            raise ValueError(
                f"X has {L.shape[1]} columns but the model has {fit.p} coefficients "
                f"({', '.join(fit.coef_names)})")
    else:
        idx = sorted({int(b) for b in np.atleast_1d(btt)})
        bad = [b for b in idx if not 0 <= b < fit.p]
        if bad:
            raise ValueError(f"btt index {bad[0]} is out of range for {fit.p} coefficients")
        L = np.eye(fit.p)[idx]
    Xb = L @ fit.beta
    vcov = L @ fit.vb @ L.T
    m = L.shape[0]
    if np.linalg.matrix_rank(vcov) < m:
        raise ValueError("the hypotheses in X are linearly dependent (X L'VL is singular)")
    QM = float(Xb @ np.linalg.solve(vcov, Xb))
    se = np.sqrt(np.diag(vcov))
    zval = Xb / se
    pval = _pval(zval, ddf)
    if ddf is None:
        QMp = float(stats.chi2.sf(QM, m))
    else:
        QM /= m
        QMp = float(stats.f.sf(QM, m, ddf))
    return WaldResult(L=L if X is not None else None, Xb=Xb, se=se, zval=zval, pval=pval,
                      QM=QM, QMdf=(m, ddf), QMp=QMp)


def lrt(full: RMAFit, reduced: RMAFit) -> LRTResult:
    """Likelihood-ratio test between nested fits (metafor ``anova(full, reduced)``).

    Both must be fitted to the same data by ML (or both REML with the same fixed effects).
    R: ``anova(rma(yi, vi, mods = ~ weeks + setting + tester, method = "ML"),
    rma(yi, vi, mods = ~ weeks, method = "ML"))`` on dat.raudenbush1985 gives LRT = 2.2932
    (df 2), p = 0.3177.

    Parameters
    ----------
    full : RMAResult
        The model with more coefficients.
    reduced : RMAResult
        The model nested in ``full``.

    Returns
    -------
    LRTResult
        ``LRT``, its ``df`` and ``pval``, with both models' fit statistics, τ², QE and the
        pseudo-R² of the reduction in τ².

    Examples
    --------
    >>> from attunement.evidence import rma
    >>> from attunement.evidence.datasets import dat_raudenbush1985
    >>> dat = dat_raudenbush1985()
    >>> big = rma("yi", "vi", data=dat, mods="~ weeks + setting + tester", method="ML")
    >>> small = rma("yi", "vi", data=dat, mods="~ weeks", method="ML")
    >>> res = lrt(big, small)
    >>> round(res.LRT, 4), res.df, round(res.pval, 4)
    (2.2932, 2, 0.3177)
    """
    if full.yi.shape != reduced.yi.shape or not (
            np.array_equal(full.yi, reduced.yi) and np.array_equal(full.vi, reduced.vi)):
        raise ValueError("the two models were not fitted to the same effect sizes and variances")
    if full.method != reduced.method:
        raise ValueError(f"the models use different methods ({full.method}, {reduced.method})")
    if full.method == "REML" and not np.array_equal(full.X, reduced.X):
        raise ValueError("REML likelihoods of models with different moderators cannot be "
                         "compared; refit both with method='ML'")
    pf, pr = full.parms, reduced.parms
    if pf < pr:
        full, reduced, pf, pr = reduced, full, pr, pf
    if pf == pr:
        raise ValueError("the models have the same number of parameters, so are not nested")
    # the reduced design must lie in the column space of the full one
    Xf = full.X
    resid = reduced.X - Xf @ np.linalg.lstsq(Xf, reduced.X, rcond=None)[0]
    if np.max(np.abs(resid)) > 1e-8 * max(1.0, float(np.max(np.abs(reduced.X)))):
        raise ValueError("the reduced model's moderators are not contained in the full model's")
    kind = "REML" if full.method == "REML" else "ML"
    ll_f, ll_r = full.fit_stats[kind]["logLik"], reduced.fit_stats[kind]["logLik"]
    LRT = max(0.0, 2 * (ll_f - ll_r))
    df = pf - pr
    R2 = None
    if reduced.tau2 > 0 and not full.is_fixed:
        R2 = max(0.0, 100 * (reduced.tau2 - full.tau2) / reduced.tau2)
    return LRTResult(LRT=LRT, df=df, pval=float(stats.chi2.sf(LRT, df)),
                     fit_stats_full=dict(full.fit_stats[kind]),
                     fit_stats_reduced=dict(reduced.fit_stats[kind]),
                     tau2_full=full.tau2, tau2_reduced=reduced.tau2, QE_full=full.QE,
                     QE_reduced=reduced.QE, R2=R2)


def anova(fit: RMAFit, other: RMAFit | None = None, *, X: Any = None,
          btt: Any = None) -> WaldResult | LRTResult:
    """metafor's ``anova``: an LRT when ``other`` is given, else a Wald test (``X`` or ``btt``).

    Parameters
    ----------
    fit : RMAResult
        The (full) model.
    other : RMAResult, optional
        A reduced model for a likelihood-ratio test (both fitted by ML, or REML with the same
        moderators).
    X : array-like, optional
        Contrasts (rows = hypotheses, columns = coefficients) for a Wald test.
    btt : sequence of int, optional
        Coefficients (0-based) tested jointly against zero.

    Returns
    -------
    WaldResult or LRTResult
        ``QM`` with its df and p-value (and each contrast's estimate, SE and z), or ``LRT``
        with its p-value and both models' fit statistics.

    Examples
    --------
    R: ``anova(rma(yi, vi, mods = ~ weeks + setting + tester, data = dat.raudenbush1985),
    X = rbind(c(0,1,0,0), c(0,0,1,-1)))`` gives QM = 7.0224 (df 2), p = 0.0299
    (``tests/reference/metafor_more_reference.json``):

    >>> from attunement.evidence import rma
    >>> from attunement.evidence.datasets import dat_raudenbush1985
    >>> full = rma(dat_raudenbush1985(), mods="~ weeks + setting + tester")
    >>> res = anova(full, X=[[0, 1, 0, 0], [0, 0, 1, -1]])
    >>> round(res.QM, 4), round(res.QMp, 4)
    (7.0224, 0.0299)
    """
    if other is not None:
        if X is not None or btt is not None:
            raise ValueError("give either a second model (LRT) or X/btt (Wald test), not both")
        return lrt(fit, other)
    return wald(fit, X, btt=btt)
