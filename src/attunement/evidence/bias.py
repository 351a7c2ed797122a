"""Small-study effects and publication bias: Egger-type regression test, Begg's rank test,
trim-and-fill and fail-safe N, as metafor's ``regtest``, ``ranktest``, ``trimfill`` and ``fsn``.

Sources: Egger et al. 1997 (BMJ 315:629); Sterne & Egger 2005; Begg & Mazumdar 1994
(Biometrics 50:1088); Duval & Tweedie 2000 (Biometrics 56:455; JASA 95:89); Rosenthal 1979
(Psychol Bull 86:638); Orwin 1983 (J Educ Stat 8:157); Rosenberg 2005 (Evolution 59:464).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import ndtr, ndtri

from attunement.evidence._core import Projection, _crit, _pval
from attunement.evidence.rma_result import RMAFit

__all__ = ["FailSafeN", "RankTest", "RegTest", "fsn", "ranktest", "regtest", "trimfill"]


@dataclass(repr=False)
class RegTest:
    """Result of :func:`regtest`: test of funnel-plot asymmetry and the limit estimate.

    Examples
    --------
    R: ``regtest(rma(yi, vi, data = dat), model = "lm")`` on the BCG log risk ratios (Egger's
    original weighted regression) gives t = −1.4013 on 11 df, p = 0.1887:

    >>> from attunement.evidence import escalc, rma
    >>> from attunement.evidence.datasets import dat_bcg
    >>> dat = escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=dat_bcg())
    >>> egger = regtest(rma(dat), model="lm").to_dict()
    >>> round(egger["stat"], 4), egger["df"], round(egger["pval"], 4)
    (-1.4013, 11, 0.1887)
    """

    model: str
    predictor: str
    zval: float
    pval: float
    ddf: int | None
    est: float | None
    ci_lb: float | None
    ci_ub: float | None
    fit: Any = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The test for a JSON report.

        Returns
        -------
        dict
            ``model``, ``predictor``, ``stat`` (z or t), ``pval``, ``df`` (None for z) and the
            limit estimate with its CI (None unless asked for).
        """
        return {"model": self.model, "predictor": self.predictor, "stat": self.zval,
                "pval": self.pval, "df": self.ddf, "limit_estimate": self.est,
                "limit_ci_lb": self.ci_lb, "limit_ci_ub": self.ci_ub}

    def __repr__(self) -> str:
        return self.__str__()

    def __str__(self) -> str:
        kind = "mixed-effects meta-regression" if self.model == "rma" else "weighted regression"
        stat = f"z = {self.zval:.4f}" if self.ddf is None else f"t = {self.zval:.4f}, df = {self.ddf}"
        out = [
            "Regression Test for Funnel Plot Asymmetry",
            "",
            f"Model:     {kind}",
            f"Predictor: {'standard error' if self.predictor == 'sei' else self.predictor}",
            "",
            f"Test for Funnel Plot Asymmetry: {stat}, p = {self.pval:.4f}",
        ]
        if self.est is not None:
            out.append(
                f"Limit Estimate (as sei -> 0):   b = {self.est:.4f} "
                f"(CI: {self.ci_lb:.4f}, {self.ci_ub:.4f})"
            )
        return "\n".join(out)


def regtest(
    x: RMAFit,
    *,
    model: str = "rma",
    predictor: str = "sei",
    ni: Any = None,
) -> RegTest:
    """Egger-type regression test for funnel-plot asymmetry (metafor ``regtest``; Egger et al.
    1997, https://doi.org/10.1136/bmj.315.7109.629).

    Parameters
    ----------
    x : RMAResult
        The fitted model.
    model : str, default "rma"
        ``"rma"`` adds the predictor to the fitted model, keeping its τ² estimator and test;
        ``"lm"`` is the classical Egger test (weighted least squares with weights 1/vi and a
        free dispersion, t test).
    predictor : str, default "sei"
        ``sei``, ``vi``, ``ni``, ``ninv``, ``sqrtni`` or ``sqrtninv`` (the last four need
        ``ni``).
    ni : array-like, optional
        Sample sizes.

    Returns
    -------
    RegTest
        ``zval`` (a t statistic with ``ddf`` after Knapp–Hartung or ``model="lm"``), ``pval``
        and, for ``sei``/``vi`` predictors of a model without moderators, the limit estimate
        ``est`` with its CI.

    Examples
    --------
    R: ``regtest(rma(yi, vi, data = dat))`` on the BCG log risk ratios gives z = −0.8033,
    p = 0.4218, limit estimate −0.5104 (``tests/reference/metafor_reference.json``, to 1e-6):

    >>> from attunement.evidence import escalc, rma
    >>> from attunement.evidence.datasets import dat_bcg
    >>> dat = escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=dat_bcg())
    >>> eg = regtest(rma(dat))
    >>> round(eg.zval, 4), round(eg.pval, 4), round(eg.est, 4)
    (-0.8033, 0.4218, -0.5104)
    """
    if model not in {"rma", "lm"}:
        raise ValueError("model must be 'rma' or 'lm'")
    yi, vi, X = x.yi, x.vi, x.X
    p = x.p
    if predictor == "sei":
        extra = np.sqrt(vi)
    elif predictor == "vi":
        extra = vi
    elif predictor in {"ni", "ninv", "sqrtni", "sqrtninv"}:
        if ni is None:
            raise ValueError(f"predictor {predictor!r} needs the sample sizes ni")
        n = np.asarray(ni, dtype=float)
        extra = {"ni": n, "ninv": 1 / n, "sqrtni": np.sqrt(n), "sqrtninv": 1 / np.sqrt(n)}[
            predictor
        ]
    else:
        raise ValueError(f"unknown predictor {predictor!r}")
    Xr = np.column_stack([X, extra])
    if np.linalg.matrix_rank(Xr) < Xr.shape[1]:
        raise ValueError("the predictor is collinear with the model (e.g. all variances equal)")
    names = [*x.coef_names, predictor]
    limit = predictor in {"sei", "vi", "ninv", "sqrtninv"} and x.int_only
    if model == "rma":
        fit = x.refit_on(
            yi, vi, Xr, names, False, method=x.method, test=x.test, weights=x.weights,
            level=x.level, tau2_value=x.tau2 if x.tau2_fixed else None, control=x.control,
            btt=None, slab=x.slab, skip_r2=True,
        )
        zval, pval, ddf = float(fit.zval[p]), float(fit.pval[p]), fit.ddf
        est = float(fit.beta[0]) if limit else None
        lo = float(fit.ci_lb[0]) if limit else None
        hi = float(fit.ci_ub[0]) if limit else None
    else:
        w = 1 / vi
        proj = Projection.build(Xr, w)
        beta = proj.coef(yi)
        k, q = Xr.shape
        ddf = k - q
        sigma2 = proj.quad(yi) / ddf
        se = np.sqrt(np.diag(proj.M) * sigma2)
        tvals = beta / se
        pvals = _pval(tvals, ddf)
        zval, pval = float(tvals[p]), float(pvals[p])
        crit = _crit(x.alpha, ddf)
        est = float(beta[0]) if limit else None
        lo = float(beta[0] - crit * se[0]) if limit else None
        hi = float(beta[0] + crit * se[0]) if limit else None
        fit = pd.DataFrame({"estimate": beta, "se": se, "tval": tvals, "pval": pvals},
                           index=names)
    return RegTest(model, predictor, zval, pval, ddf, est, lo, hi, fit)


@dataclass
class RankTest:
    """Begg & Mazumdar rank correlation test: Kendall's tau and its p-value."""

    tau: float
    pval: float

    def __str__(self) -> str:
        return (
            "Rank Correlation Test for Funnel Plot Asymmetry\n\n"
            f"Kendall's tau = {self.tau:.4f}, p = {self.pval:.4f}"
        )


_EXACT_KENDALL_MAX_K = 1000


def ranktest(x: RMAFit | Any, vi: Any = None) -> RankTest:
    """Begg & Mazumdar (1994) rank correlation test (metafor ``ranktest``;
    https://doi.org/10.2307/2533446).

    Parameters
    ----------
    x : RMAResult or array-like
        A fitted model, or the effect sizes.
    vi : array-like, optional
        The sampling variances (when ``x`` is the effect sizes).

    Returns
    -------
    RankTest
        Kendall's ``tau`` and its ``pval``.

    Notes
    -----
    Kendall's tau between the standardised effects and their variances. metafor calls
    ``cor.test(..., method = "kendall", exact = TRUE)``, so the p-value is exact at any k when
    there are no ties, and the normal approximation is used only with ties. Above k = 1000
    the exact distribution costs seconds to minutes (as in R) while the two p-values differ
    by less than 1e-3 relative, so the normal approximation is used there too.

    R: ``ranktest(escalc("OR", ai=n.cbt.non, n1i=n.cbt.non+n.cbt.rec, ci=n.ctrl.non,
    n2i=n.ctrl.non+n.ctrl.rec, data=dat.landenberger2005))`` gives tau = 0.2716273,
    p = 0.002407990 (k = 58; the normal approximation would give 0.002596).

    Examples
    --------
    R: ``ranktest(rma(yi, vi, data = dat))`` on the BCG log risk ratios gives
    tau = 0.0256, p = 0.9524 (exact):

    >>> from attunement.evidence import escalc, rma
    >>> from attunement.evidence.datasets import dat_bcg
    >>> dat = escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=dat_bcg())
    >>> rk = ranktest(rma(dat))
    >>> round(rk.tau, 4), round(rk.pval, 4)
    (0.0256, 0.9524)
    """
    if isinstance(x, RMAFit):
        yi, v = x.yi, x.vi
    else:
        yi, v = np.asarray(x, dtype=float), np.asarray(vi, dtype=float)
    w = 1 / v
    theta = np.dot(w, yi) / w.sum()
    vb = 1 / w.sum()
    ystar = (yi - theta) / np.sqrt(v - vb)
    ties = len(np.unique(ystar)) < ystar.size or len(np.unique(v)) < v.size
    exact = not ties and ystar.size <= _EXACT_KENDALL_MAX_K
    res = stats.kendalltau(ystar, v, method="exact" if exact else "asymptotic")
    return RankTest(float(res.statistic), float(res.pvalue))


def _sqrt(x: float) -> float:
    return math.sqrt(x) if x >= 0 else math.nan


@dataclass(repr=False)
class TrimFill:
    """Trim-and-fill result: the number of imputed studies, the side, and the refitted model.

    ``model`` is the fit to the observed and the filled studies; ``filled`` flags the latter.

    Examples
    --------
    R: ``trimfill(rma(yi, vi, data = dat, method = "DL"))`` on the BCG log risk ratios gives
    se 0.1735 and CI −0.9961 to −0.3161 with one study filled:

    >>> from attunement.evidence import escalc, rma
    >>> from attunement.evidence.datasets import dat_bcg
    >>> dat = escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=dat_bcg())
    >>> out = trimfill(rma(dat, method="DL"))
    >>> int(out.filled.sum()), [round(out.to_dict()[key], 4) for key in ("se", "ci_lb", "ci_ub")]
    (1, [0.1735, -0.9961, -0.3161])
    """

    k0: int
    se_k0: float
    p_k0: float | None
    side: str
    estimator: str
    model: RMAFit
    filled: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        """The number filled and the refitted pooled estimate, as plain values.

        Returns
        -------
        dict
            ``k0``, ``side``, ``estimator``, ``estimate``, ``se``, ``ci_lb``, ``ci_ub`` and
            ``tau2`` of the filled model.
        """
        return {"k0": self.k0, "side": self.side, "estimator": self.estimator,
                "estimate": float(self.model.beta[0]), "se": float(self.model.se[0]),
                "ci_lb": float(self.model.ci_lb[0]), "ci_ub": float(self.model.ci_ub[0]),
                "tau2": self.model.tau2}

    def __repr__(self) -> str:
        return self.__str__()

    def __str__(self) -> str:
        side = "left" if self.side == "left" else "right"
        return (
            f"Estimated number of missing studies on the {side} side: {self.k0} "
            f"(SE = {self.se_k0:.4f})\n\n{self.model}"
        )


def trimfill(
    x: RMAFit,
    *,
    side: str | None = None,
    estimator: str = "L0",
    maxiter: int = 100,
) -> TrimFill:
    """Duval & Tweedie trim-and-fill (metafor ``trimfill``; Duval & Tweedie 2000,
    https://doi.org/10.1111/j.0006-341X.2000.00455.x).

    Parameters
    ----------
    x : RMAResult
        A fitted model without moderators.
    side : str, optional
        ``"left"`` or ``"right"``: where studies are missing. Without it, they are imputed on
        the side opposite to the sign of the Egger-type slope (regression of yi on sei with
        the model's τ² method).
    estimator : str, default "L0"
        ``L0``, ``R0`` or ``Q0``.
    maxiter : int, default 100
        Iterations before giving up.

    Returns
    -------
    TrimFill
        ``k0`` imputed studies (with ``se_k0``), the ``side``, and the ``model`` refitted to
        the filled data with the input model's τ² estimator and a z test, as metafor does.

    Examples
    --------
    R: ``trimfill(rma(yi, vi, data = dat, method = "DL"))`` on the BCG log risk ratios imputes
    1 study on the right and gives −0.6561, τ² = 0.3081
    (``tests/reference/metafor_reference.json``):

    >>> from attunement.evidence import escalc, rma
    >>> from attunement.evidence.datasets import dat_bcg
    >>> dat = escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=dat_bcg())
    >>> tf = trimfill(rma(dat, method="DL"))
    >>> tf.k0, tf.side, round(tf.model.estimate, 4), round(tf.model.tau2, 4)
    (1, 'right', -0.6561, 0.3081)
    """
    if not x.int_only:
        raise ValueError("trim-and-fill is for models without moderators")
    if x.k == 1:
        raise ValueError("trim-and-fill needs k > 1")
    if estimator not in {"L0", "R0", "Q0"}:
        raise ValueError("estimator must be 'L0', 'R0' or 'Q0'")
    yi, vi, wi = x.yi.copy(), x.vi.copy(), x.weights
    ctrl = x.control

    def fit(y, v, w, X=None, names=("intrcpt",), int_incl=True):
        X = np.ones((y.size, 1)) if X is None else X
        return x.refit_on(y, v, X, list(names), int_incl, method=x.method, test="z",
                          weights=w, level=x.level, tau2_value=None, control=ctrl, btt=None,
                          slab=None, skip_r2=True, light=True)

    if side is None:
        Xs = np.column_stack([np.ones(yi.size), np.sqrt(vi)])
        slope = fit(yi, vi, wi, Xs, ("intrcpt", "sei"), False).beta[1]
        side = "right" if slope < 0 else "left"
    elif side not in {"left", "right"}:
        raise ValueError("side must be 'left' or 'right'")
    if side == "right":
        yi = -yi
    ix = np.argsort(yi, kind="stable")
    yi, vi = yi[ix], vi[ix]
    wi = None if wi is None else wi[ix]
    k = yi.size
    k0_sav, k0, it = -1, 0, 0
    se_k0 = float("nan")
    beta = 0.0
    while abs(k0 - k0_sav) > 0:
        k0_sav = k0
        it += 1
        if it > maxiter:
            raise ValueError(f"trim-and-fill did not converge in {maxiter} iterations (the "
                             "number of missing studies oscillates; metafor stops here too)")
        sel = slice(0, k - k0)
        beta = float(fit(yi[sel], vi[sel], None if wi is None else wi[sel]).beta[0])
        yc = yi - beta
        # rounding noise around a pooled value equal to a study's effect (e.g. identical
        # effects) must not give that study a sign: it is a zero deviation, as in exact algebra
        yc[np.abs(yc) <= 100 * np.finfo(float).eps * max(1.0, float(np.abs(yi).max()))] = 0.0
        order = np.argsort(np.abs(yc), kind="stable")
        ranks = np.empty(k)
        ranks[order] = np.arange(1, k + 1)
        signed = np.sign(yc) * ranks
        if estimator == "R0":
            neg = -signed[signed < 0]
            k0f = (k - (neg.max() if neg.size else 0)) - 1
            se_k0 = math.sqrt(2 * max(0, k0f) + 2)
        else:
            Sr = float(signed[signed > 0].sum())
            if estimator == "L0":
                k0f = (4 * Sr - k * (k + 1)) / (2 * k - 1)
            else:
                disc = 2 * k**2 - 4 * Sr + 0.25
                if disc < 0:
                    raise ValueError("the Q0 estimator is undefined for these data; use L0 or R0")
                k0f = k - 0.5 - math.sqrt(disc)
            var_sr = (k * (k + 1) * (2 * k + 1) + 10 * k0f**3 + 27 * k0f**2 + 17 * k0f
                      - 18 * k * k0f**2 - 18 * k * k0f + 6 * k**2 * k0f) / 24
            # a negative variance (possible for large k0) gives an undefined SE, as in metafor
            if estimator == "L0":
                se_k0 = 4 * _sqrt(var_sr) / (2 * k - 1)
            else:
                se_k0 = 2 * _sqrt(var_sr) / _sqrt((k - 0.5) ** 2 - k0f * (2 * k - k0f - 1))
        k0 = max(0, int(np.round(k0f)))  # numpy rounds half to even, as R's round()
        se_k0 = se_k0 if math.isnan(se_k0) else max(0.0, se_k0)
    if k0 > 0:
        yc = -(yc - beta) if side == "right" else yc - beta
        y_fill = np.concatenate([x.yi, -yc[k - k0:]])
        v_fill = np.concatenate([x.vi, vi[k - k0:]])
        w_fill = None if wi is None else np.concatenate([x.weights, wi[k - k0:]])
        model = x.refit_on(y_fill, v_fill, np.ones((k + k0, 1)), ["intrcpt"], True,
                           method=x.method, test="z", weights=w_fill, level=x.level,
                           tau2_value=None, control=ctrl, btt=None,
                           slab=[*x.slab, *(f"Filled {i + 1}" for i in range(k0))])
        filled = np.r_[np.zeros(x.k, bool), np.ones(k0, bool)]
    else:
        model = x
        filled = np.zeros(x.k, bool)
    p_k0 = None
    if estimator == "R0":
        m = np.arange(-1, k0)
        p_k0 = float(1 - np.sum([math.comb(int(j) + 1, int(j) + 1) * 0.5 ** (j + 2) for j in m]))
    return TrimFill(k0, se_k0, p_k0, side, estimator, model, filled)


@dataclass
class FailSafeN:
    """Fail-safe N: how many null studies would bring the result to the target.

    Examples
    --------
    R: ``fsn(yi, vi, data = dat, type = "Orwin")`` on the BCG log risk ratios: mean −0.7407,
    target −0.3703 (half of it), fail-safe N 13:

    >>> from attunement.evidence import escalc
    >>> from attunement.evidence.datasets import dat_bcg
    >>> dat = escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=dat_bcg())
    >>> orwin = fsn(dat.yi, dat.vi, type="Orwin")
    >>> orwin.fsnum, round(orwin.meanes, 4), round(orwin.target, 4)
    (13, -0.7407, -0.3703)
    """

    type: str
    fsnum: float
    alpha: float
    pval: float | None
    meanes: float | None
    target: float | None

    def to_dict(self) -> dict[str, Any]:
        """Every field by name, for the CLI's JSON output.

        Returns
        -------
        dict
            ``type`` (the method), ``fsnum`` (the fail-safe number), ``alpha``, ``pval``,
            ``meanes`` and ``target``, named as metafor's ``fsn()`` names them.
        """
        return {"type": self.type, "fsnum": self.fsnum, "alpha": self.alpha, "pval": self.pval,
                "meanes": self.meanes, "target": self.target}

    def __str__(self) -> str:
        return f"Fail-safe N Calculation Using the {self.type} Approach\n\nFail-safe N: {self.fsnum:g}"


def fsn(
    yi: Any,
    vi: Any = None,
    *,
    type: str = "Rosenthal",
    alpha: float = 0.05,
    target: float | None = None,
    weighted: bool = False,
) -> FailSafeN:
    """Fail-safe N (metafor ``fsn``): how many studies averaging a null result would bring the
    pooled result to non-significance or to ``target``.

    Parameters
    ----------
    yi : array-like or RMAResult
        The effect sizes, or a fitted model.
    vi : array-like, optional
        The sampling variances (needed except for unweighted Orwin).
    type : str, default "Rosenthal"
        ``Rosenthal`` (Stouffer's combined z, one-sided; Rosenthal 1979,
        https://doi.org/10.1037/0033-2909.86.3.638), ``Orwin`` (unweighted mean, or weighted
        with ``weighted=True``, against ``target``; Orwin 1983, J Educ Stat 8:157) or
        ``Rosenberg`` (weighted, fixed-effect z test, two-sided; Rosenberg 2005,
        https://doi.org/10.1111/j.0014-3820.2005.tb01004.x).
    alpha : float, default 0.05
        Significance level.
    target : float, optional
        Orwin's target effect (default half the mean).
    weighted : bool, default False
        Orwin's weighted mean.

    Returns
    -------
    FailSafeN
        ``fsnum`` and, by type, ``pval``, ``meanes`` and ``target``.

    Examples
    --------
    R: ``fsn(yi, vi, data = dat)`` on the BCG log risk ratios gives 598; ``type = "Orwin"``
    13; ``type = "Rosenberg"`` 370 (``tests/reference/metafor_reference.json``):

    >>> from attunement.evidence import escalc
    >>> from attunement.evidence.datasets import dat_bcg
    >>> dat = escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=dat_bcg())
    >>> [fsn(dat.yi, dat.vi, type=t).fsnum for t in ("Rosenthal", "Orwin", "Rosenberg")]
    [598, 13, 370]
    """
    if isinstance(yi, RMAFit):
        yi, vi = yi.yi, yi.vi
    y = np.asarray(yi, dtype=float)
    v = None if vi is None else np.asarray(vi, dtype=float)
    if np.isnan(y).any() or (v is not None and np.isnan(v).any()):
        raise ValueError("missing values in yi or vi")
    k = y.size
    pval = meanes = None
    if type == "Rosenthal":
        if v is None:
            raise ValueError("Rosenthal's fail-safe N needs vi")
        z_avg = abs(np.sum(y / np.sqrt(v)) / math.sqrt(k))
        pval = float(ndtr(-z_avg))
        fsnum = max(0.0, k * (z_avg / -ndtri(alpha)) ** 2 - k)
        target = None
    elif type == "Orwin":
        if weighted:
            if v is None:
                raise ValueError("weighted Orwin fail-safe N needs vi")
            meanes = float(np.dot(1 / v, y) / np.sum(1 / v))
        else:
            meanes = float(np.mean(y))
        if target is None:
            target = meanes / 2
        if target == 0:
            fsnum = math.inf
        else:
            if np.sign(target) != np.sign(meanes):
                target = -target
            fsnum = max(0.0, k * (meanes - target) / target)
    elif type == "Rosenberg":
        if v is None:
            raise ValueError("Rosenberg's fail-safe N needs vi")
        w = 1 / v
        meanes = float(np.dot(w, y) / w.sum())
        zval = meanes / math.sqrt(1 / w.sum())
        wp = (np.dot(w, y) / -ndtri(alpha / 2)) ** 2 - w.sum()
        pval = float(2 * ndtr(-abs(zval)))
        fsnum = max(0.0, k * wp / w.sum())
        target = None
    else:
        raise ValueError("type must be 'Rosenthal', 'Orwin' or 'Rosenberg'")
    if math.isfinite(fsnum) and abs(fsnum - round(fsnum)) >= math.sqrt(np.finfo(float).eps):
        fsnum = math.ceil(fsnum)
    elif math.isfinite(fsnum):
        fsnum = round(fsnum)
    return FailSafeN(type, fsnum, alpha, pval, meanes, target)
