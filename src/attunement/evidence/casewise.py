"""Leave-one-out, cumulative and influence diagnostics of an ``rma`` fit (metafor's
``leave1out``, ``cumul`` and ``influence``; Viechtbauer & Cheung 2010,
https://doi.org/10.1002/jrsm.11)."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import chdtrc

from attunement.evidence.rma_result import RMAFit

__all__ = ["cumul", "influence", "leave1out", "refit_subset"]


def refit_subset(fit: RMAFit, keep: np.ndarray, **kw: Any) -> RMAFit:
    """The model refitted to the studies in ``keep``, with the same method and settings.

    Parameters
    ----------
    fit : RMAResult
        The model fitted to all studies.
    keep : numpy.ndarray of bool
        One flag per study: True for the studies to keep.
    **kw
        Passed on to the refit (e.g. ``light=True`` to skip the extras).

    Returns
    -------
    RMAResult
        The fit to the kept studies.

    Examples
    --------
    R: ``rma(yi, vi, data = dat.raudenbush1985[1:10, ])`` gives 0.1335 with τ² = 0.0754:

    >>> from attunement.evidence import rma
    >>> from attunement.evidence.datasets import dat_raudenbush1985
    >>> import numpy as np
    >>> res = rma("yi", "vi", data=dat_raudenbush1985())
    >>> first10 = refit_subset(res, np.arange(res.k) < 10)
    >>> first10.k, round(first10.estimate, 4), round(first10.tau2, 4)
    (10, 0.1335, 0.0754)
    """
    weights = None if fit.weights is None else fit.weights[keep]
    X = fit.X[keep]
    return fit.refit_on(
        fit.yi[keep], fit.vi[keep], X, fit.coef_names, fit.int_incl,
        method=fit.method, test=fit.test, weights=weights, level=fit.level,
        tau2_value=fit.tau2 if fit.tau2_fixed else None, control=fit.control,
        btt=None, slab=[s for s, kp in zip(fit.slab, keep, strict=True) if kp],
        skip_r2=True, **kw,
    )


def leave1out(fit: RMAFit) -> pd.DataFrame:
    """Refit the model k times, leaving out each study in turn (metafor ``leave1out``).

    Parameters
    ----------
    fit : RMAResult
        A model without moderators.

    Returns
    -------
    pandas.DataFrame
        One row per study left out: ``study``, the estimate with its ``se``, test, p-value and
        CI, then ``Q``/``Qp``, ``tau2``, ``I2`` and ``H2`` of the other studies.

    Examples
    --------
    R: ``leave1out(rma(yi, vi, data = dat.raudenbush1985))`` -- without study 1 the
    estimate is 0.0952 (se 0.0588), τ² 0.02736:

    >>> from attunement.evidence import rma
    >>> from attunement.evidence.datasets import dat_raudenbush1985
    >>> rows = leave1out(rma("yi", "vi", data=dat_raudenbush1985()))
    >>> row = rows.iloc[0]
    >>> row.study, row[["estimate", "se"]].astype(float).round(4).tolist(), round(float(row.tau2), 3)
    ('Study 1', [0.0952, 0.0588], 0.027)
    """
    if not fit.int_only:
        raise ValueError("leave1out is for intercept-only models")
    if fit.k == 1:
        raise ValueError("leave1out needs k > 1")
    rows = []
    for i in range(fit.k):
        keep = np.ones(fit.k, dtype=bool)
        keep[i] = False
        try:
            r = refit_subset(fit, keep)
        except (ValueError, np.linalg.LinAlgError):
            rows.append({"study": fit.slab[i]})
            continue
        rows.append(
            {"study": fit.slab[i], "estimate": r.beta[0], "se": r.se[0],
             "zval" if r.ddf is None else "tval": r.zval[0], "pval": r.pval[0],
             "ci_lb": r.ci_lb[0], "ci_ub": r.ci_ub[0], "Q": r.QE, "Qp": r.QEp,
             "tau2": r.tau2, "I2": r.I2, "H2": r.H2}
        )
    out = pd.DataFrame(rows)
    if fit.is_fixed:
        out = out.drop(columns="tau2")
    return out

def cumul(fit: RMAFit, order: Any = None, *, decreasing: bool = False) -> pd.DataFrame:
    """Cumulative meta-analysis (metafor ``cumul``): the model refitted after adding the
    studies one at a time, in data order or sorted by ``order`` (e.g. publication year).

    Parameters
    ----------
    fit : RMAResult
        A fit without moderators.
    order : array-like, optional
        One sort key per study; the data order when omitted.
    decreasing : bool, default False
        Sort ``order`` from the largest value.

    Returns
    -------
    pandas.DataFrame
        Row n is the model of the first n studies, named by the study added last.

    Examples
    --------
    R: ``cumul(rma(yi, vi, data = dat.raudenbush1985))`` ends at the full model, 0.0837
    with τ² 0.0188:

    >>> from attunement.evidence import rma
    >>> from attunement.evidence.datasets import dat_raudenbush1985
    >>> steps = cumul(rma("yi", "vi", data=dat_raudenbush1985()))
    >>> len(steps), steps[["estimate", "tau2"]].iloc[-1].round(4).tolist()
    (19, [0.0837, 0.0188])
    """
    if not fit.int_only:
        raise ValueError("cumulative meta-analysis is for models without moderators")
    if order is None:
        idx = np.arange(fit.k)
    else:
        key = np.asarray(order)
        if key.size != fit.k:
            raise ValueError(f"order has {key.size} values for {fit.k} studies")
        idx = np.argsort(-key if decreasing else key, kind="stable")
    rows = []
    for n in range(1, fit.k + 1):
        keep = np.zeros(fit.k, dtype=bool)
        sel = idx[:n]
        keep[sel] = True
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = fit.refit_on(fit.yi[sel], fit.vi[sel], fit.X[sel], fit.coef_names,
                             fit.int_incl, method=fit.method, test=fit.test,
                             weights=None if fit.weights is None else fit.weights[sel],
                             level=fit.level,
                             tau2_value=fit.tau2 if fit.tau2_fixed else None,
                             control=fit.control, btt=None, slab=None, skip_r2=True)
        rows.append(
            {"study": fit.slab[sel[-1]], "estimate": r.beta[0], "se": r.se[0],
             "zval" if r.ddf is None else "tval": r.zval[0], "pval": r.pval[0],
             "ci_lb": r.ci_lb[0], "ci_ub": r.ci_ub[0], "Q": r.QE, "Qp": r.QEp,
             "tau2": r.tau2, "I2": r.I2, "H2": r.H2}
        )
    return pd.DataFrame(rows)

def influence(fit: RMAFit) -> pd.DataFrame:
    """Case diagnostics (metafor ``influence``): externally standardised residuals
    (``rstudent``), DFFITS, Cook's distance, covariance ratio, leave-one-out τ² and QE,
    hat values, weights (%), DFBETAS (``dfbs_<term>``) and the ``inf`` flag set by
    metafor's cut-offs.

    Parameters
    ----------
    fit : RMAResult
        A fit with two or more studies.

    Returns
    -------
    pandas.DataFrame
        One row per study, the columns above.

    Examples
    --------
    R: ``influence(rma(yi, vi, data = dat.raudenbush1985))`` -- study 1 has rstudent
    −0.3027, Cook's distance 0.0497 and hat 0.0775:

    >>> from attunement.evidence import rma
    >>> from attunement.evidence.datasets import dat_raudenbush1985
    >>> diag = influence(rma("yi", "vi", data=dat_raudenbush1985()))
    >>> first = diag.iloc[0]
    >>> first[["rstudent", "cook_d", "hat"]].astype(float).round(4).tolist(), bool(first.inf)
    ([-0.3027, 0.0497, 0.0775], False)
    """
    if fit.k == 1:
        raise ValueError("influence diagnostics need k > 1")
    k, p = fit.k, fit.p
    X, a = fit.X, fit.weights
    if a is not None:
        # user weights: H = X (XᵀAX)⁻¹ XᵀA and sandwich variances, as metafor
        MA = np.linalg.inv(X.T @ (X * a[:, None]))
    btt = list(range(p))
    if not np.linalg.det(fit.vb) > 0:
        raise ValueError("influence diagnostics are undefined: the variance of the "
                         "estimates is zero (e.g. Knapp-Hartung with identical effects)")
    svb = np.linalg.inv(fit.vb[np.ix_(btt, btt)])
    det_full = np.linalg.det(fit.vb[np.ix_(btt, btt)])
    hat = fit.hat()
    pred_full = fit.X @ fit.beta
    cols = {n: np.full(k, np.nan) for n in
            ("delpred", "vdelpred", "s2w", "tau2_del", "QE_del", "dffits", "cook_d",
             "cov_r")}
    dfbs = np.full((k, p), np.nan)
    for i in range(k):
        keep = np.ones(k, dtype=bool)
        keep[i] = False
        try:
            r = refit_subset(fit, keep, light=True)
        except (ValueError, np.linalg.LinAlgError):
            continue
        xi = fit.X[i]
        cols["tau2_del"][i] = r.tau2
        cols["QE_del"][i] = r.QE
        cols["delpred"][i] = xi @ r.beta
        cols["vdelpred"][i] = xi @ r.vb @ xi
        cols["s2w"][i] = r.s2w
        if a is None:
            dffits_var = hat[i] * (r.tau2 + fit.vi[i])
            vb_del = np.linalg.inv(X.T @ (X / (fit.vi + r.tau2)[:, None]))
        else:
            G = X.T @ (X * (a * a * (fit.vi + r.tau2))[:, None])
            vb_del = MA @ G @ MA
            dffits_var = float(xi @ vb_del @ xi)  # diag(H diag(v + tau2_del) Hᵀ)_i
        cols["dffits"][i] = (pred_full[i] - cols["delpred"][i]) / math.sqrt(
            r.s2w * dffits_var
        )
        dfb = fit.beta - r.beta
        dfbs[i] = dfb / np.sqrt(r.s2w * np.diag(vb_del))
        cols["cook_d"][i] = dfb[btt] @ svb @ dfb[btt]
        cols["cov_r"][i] = np.linalg.det(r.vb[np.ix_(btt, btt)]) / det_full
    resid = fit.yi - cols["delpred"]
    resid[np.abs(resid) < 100 * np.finfo(float).eps] = 0
    seresid = np.sqrt(fit.vi * cols["s2w"] + cols["vdelpred"] + cols["tau2_del"] * cols["s2w"])
    out = pd.DataFrame(
        {
            "study": fit.slab,
            "rstudent": resid / seresid,
            "dffits": cols["dffits"],
            "cook_d": cols["cook_d"],
            "cov_r": cols["cov_r"],
            "tau2_del": cols["tau2_del"],
            "QE_del": cols["QE_del"],
            "hat": hat,
            "weight": fit.weights_percent(),
        }
    )
    for j, name in enumerate(fit.coef_names):
        out[f"dfbs_{name}"] = dfbs[:, j]
    m = len(btt)
    infl = (
        (np.abs(out.dffits) > 3 * math.sqrt(p / (k - p)))
        | (1 - chdtrc(m, out.cook_d.to_numpy()) > 0.5)
        | (out.hat > 3 * p / k)
        | (np.abs(dfbs) > 1).any(axis=1)
    )
    out["inf"] = infl.fillna(False).astype(bool)
    return out

