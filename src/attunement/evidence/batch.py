"""Many random-effects meta-analyses at once (simulation studies, sensitivity analyses).

``rma_batch`` fits the intercept-only model of :func:`attunement.evidence.rma` to every row of
a matrix of effect sizes in one vectorised pass: the same estimators, starting values and
stopping rule, the same numbers (tested row by row against ``rma``), without a Python loop over
data sets.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.special import chdtrc, ndtr, ndtri, stdtr, stdtrit

from attunement._blas import bounded_blas
from attunement.evidence.estimators import DEFAULT_CONTROL, _score_root

__all__ = ["rma_batch"]

_BATCH_METHODS = ("FE", "EE", "DL", "HE", "ML", "REML", "EB", "PM")


def _sums(Y: np.ndarray, V: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, ...]:
    W = 1.0 / (V + t[:, None])
    sw = W.sum(1)
    mu = (W * Y).sum(1) / sw
    E = Y - mu[:, None]
    WE = W * E
    return W, sw, mu, E, WE


@bounded_blas
def rma_batch(
    yi: Any,
    vi: Any,
    *,
    method: str = "REML",
    test: str = "z",
    level: float = 95,
    threshold: float = 1e-12,
    maxiter: int = 1000,
) -> pd.DataFrame:
    """Fit one intercept-only model per row of ``yi``/``vi`` (shape: data sets × studies).

    Parameters
    ----------
    yi, vi : array-like
        Effects and sampling variances, one data set per row.
    method : str, default "REML"
        FE/EE, DL, HE, ML, REML, EB or PM.
    test : str, default "z"
        ``z`` or ``knha``.
    level : float, default 95
        Confidence level.
    threshold : float, default 1e-12
        Convergence threshold of the iterative estimators.
    maxiter : int, default 1000
        Iterations before falling back to bracketing the root.

    Returns
    -------
    pandas.DataFrame
        One row per data set: estimate, se, zval, pval, ci_lb, ci_ub, tau2, I2, H2, QE, QEp,
        iterations; each row equals :func:`~attunement.evidence.rma` on the same data.

    Examples
    --------
    The BCG log risk ratios twice, the second set with every effect halved (R: ``rma(yi, vi,
    data = dat)`` gives τ² = 0.3132 for the first); each row is what ``rma`` gives:

    >>> import numpy as np
    >>> from attunement.evidence import escalc, rma
    >>> from attunement.evidence.datasets import dat_bcg
    >>> dat = escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=dat_bcg())
    >>> Y = np.vstack([dat.yi, dat.yi / 2])
    >>> V = np.vstack([dat.vi, dat.vi])
    >>> out = rma_batch(Y, V)
    >>> [round(float(t), 4) for t in out.tau2]
    [0.3132, 0.0513]
    >>> bool(np.isclose(out.tau2[1], rma(dat.yi / 2, dat.vi).tau2, rtol=1e-10))
    True
    """
    Y = np.atleast_2d(np.asarray(yi, dtype=float))
    V = np.atleast_2d(np.asarray(vi, dtype=float))
    if Y.shape != V.shape:
        raise ValueError(f"yi has shape {Y.shape} but vi has shape {V.shape}")
    if method not in _BATCH_METHODS:
        raise ValueError(f"method must be one of {', '.join(_BATCH_METHODS)}")
    if test not in {"z", "knha"}:
        raise ValueError("test must be 'z' or 'knha'")
    if np.isnan(Y).any() or np.isnan(V).any():
        raise ValueError("missing values in yi or vi")
    if not np.all(V > 0):
        raise ValueError("sampling variances must be positive")
    n, k = Y.shape
    if k < 2:
        raise ValueError("each data set needs at least 2 studies")
    Ymc = Y - Y.mean(1, keepdims=True)
    iters = np.zeros(n, dtype=int)
    # heterogeneity with fixed-effect weights
    Wf = 1.0 / V
    swf = Wf.sum(1)
    Ef = Ymc - ((Wf * Ymc).sum(1) / swf)[:, None]
    QE = np.maximum(0.0, (Wf * Ef * Ef).sum(1))
    trPf = swf - (Wf * Wf).sum(1) / swf
    vt = (k - 1) / trPf

    if method in {"FE", "EE"}:
        tau2 = np.zeros(n)
    elif method == "DL":
        tau2 = np.maximum(0.0, (QE - (k - 1)) / trPf)
    elif method in {"PM", "EB"}:
        tau2 = np.zeros(n)
        active = k - 1 <= QE
        for _ in range(maxiter):
            if not active.any():
                break
            W, _, _, E, WE = _sums(Ymc[active], V[active], tau2[active])
            q = (WE * E).sum(1)
            dq = (WE * WE).sum(1)
            step = (q - (k - 1)) / dq
            tau2[active] += step
            iters[active] += 1
            done = np.abs(step) <= threshold * np.maximum(1.0, tau2[active])
            idx = np.flatnonzero(active)
            active[idx[done]] = False
        tau2 = np.maximum(tau2, 0.0)
    else:
        tau2 = np.maximum(0.0, ((Ymc * Ymc).sum(1) - (1 - 1 / k) * V.sum(1)) / (k - 1))
        if method != "HE":
            tau2 = _fisher(Ymc, V, tau2, method, threshold, maxiter, iters)
            # metafor's check that tau2 = 0 does not have a higher likelihood
            ll0 = _loglik(Ymc, V, np.zeros(n), method)
            ll = _loglik(Ymc, V, tau2, method)
            tau2 = np.where((ll0 - ll > 1e-12) & (tau2 > threshold), 0.0, tau2)
    W = 1.0 / (V + tau2[:, None])
    sw = W.sum(1)
    beta = (W * Y).sum(1) / sw
    vb = 1.0 / sw
    alpha = 1 - (level / 100 if level > 1 else level)
    if test == "knha":
        E = Y - beta[:, None]
        rss = (W * E * E).sum(1)
        vb = vb * np.where(rss <= np.finfo(float).eps, 0.0, rss / (k - 1))
        se = np.sqrt(vb)
        z = beta / se
        pval = 2 * stdtr(k - 1, -np.abs(z))
        crit = stdtrit(k - 1, 1 - alpha / 2)
    else:
        se = np.sqrt(vb)
        z = beta / se
        pval = 2 * ndtr(-np.abs(z))
        crit = -ndtri(alpha / 2)
    if method in {"FE", "EE"}:
        with np.errstate(divide="ignore", invalid="ignore"):
            I2 = np.where(QE > 0, np.maximum(0.0, 100 * (QE - (k - 1)) / QE), 0.0)
        H2 = QE / (k - 1)
    else:
        I2 = 100 * tau2 / (vt + tau2)
        H2 = tau2 / vt + 1
    return pd.DataFrame({
        "estimate": beta, "se": se, "zval" if test == "z" else "tval": z, "pval": pval,
        "ci_lb": beta - crit * se, "ci_ub": beta + crit * se, "tau2": tau2, "I2": I2, "H2": H2,
        "QE": QE, "QEp": chdtrc(k - 1, QE), "iterations": iters,
    })


def _fisher(Ymc, V, tau2, method, threshold, maxiter, iters):
    """Row-wise Fisher scoring with metafor's step halving, then Newton near the root
    (the same scheme as ``rma``)."""
    n = Ymc.shape[0]
    tau2 = tau2.copy()
    active = np.ones(n, dtype=bool)
    newton = np.zeros(n, dtype=bool)
    for _ in range(maxiter):
        if not active.any():
            break
        idx = np.flatnonzero(active)
        t = tau2[idx]
        W, sw, _, _, WE = _sums(Ymc[idx], V[idx], t)
        W2 = W * W
        sw2 = W2.sum(1)
        sw3 = (W2 * W).sum(1)
        A = (WE * WE).sum(1)
        if method == "ML":
            score = A - sw
            info = sw2
            # derivative of A - sw: dA + sw2, dA = -2 Σw³e² + 2 (Σw²e)² / sw
            dA = -2 * (W2 * WE * (WE / W)).sum(1) + 2 * ((W * WE).sum(1)) ** 2 / sw
            dS = dA + sw2
        else:
            trP = sw - sw2 / sw
            info = sw2 - 2 * sw3 / sw + (sw2 / sw) ** 2
            score = A - trP
            dA = -2 * (W2 * WE * (WE / W)).sum(1) + 2 * ((W * WE).sum(1)) ** 2 / sw
            dS = dA + info
        adj = score / info
        use_newton = newton[idx] & (dS < 0)
        adj = np.where(use_newton, -score / np.where(dS < 0, dS, -1.0), adj)
        newton[idx] |= np.abs(score / info) < 1e-3 * (1 + t)
        adj = np.where((t <= 0) & (adj < 0), 0.0, adj)
        for _ in range(1100):
            low = t + adj < 0
            if not low.any():
                break
            adj = np.where(low, adj / 2, adj)
        tau2[idx] = t + adj
        iters[idx] += 1
        done = np.abs(adj) <= threshold
        active[idx[done]] = False
    if active.any():
        # Fisher scoring can cycle (see rma); solve the same score equation by bracketing
        ctrl = dict(DEFAULT_CONTROL)
        X = np.ones((Ymc.shape[1], 1))
        for i in np.flatnonzero(active):
            tau2[i] = _score_root(method, Ymc[i], V[i], X, Ymc.shape[1], 1, ctrl)
    return tau2


def _loglik(Ymc, V, tau2, method):
    _, sw, _, E, WE = _sums(Ymc, V, tau2)
    ll = -0.5 * np.log(V + tau2[:, None]).sum(1) - 0.5 * (WE * E).sum(1)
    return ll - 0.5 * np.log(sw) if method == "REML" else ll
