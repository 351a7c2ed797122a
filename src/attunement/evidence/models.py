"""Fixed-, random- and mixed-effects meta-analysis models, as metafor's ``rma.uni``.

Model: yᵢ = xᵢᵀβ + uᵢ + eᵢ, uᵢ ~ N(0, τ²), eᵢ ~ N(0, vᵢ) with vᵢ known (Viechtbauer 2010,
https://doi.org/10.18637/jss.v036.i03). Estimators of τ², tests, heterogeneity statistics, fit
statistics, pseudo-R², prediction intervals, Q-profile confidence intervals (Viechtbauer 2007,
https://doi.org/10.1002/sim.2514), leave-one-out and influence diagnostics (Viechtbauer & Cheung
2010, https://doi.org/10.1002/jrsm.11) follow the definitions in metafor 3.8 and match its
converged output (``tests/reference/metafor_reference.json``). Weights are diagonal, so every
fit is O(k) (see ``_core``) where metafor's dense algebra is O(k³).

Deliberate difference from metafor: missing values stop the fit with an error naming the rows
(``na_action="omit"`` drops them with a warning, as metafor does by default), and non-positive
sampling variances are an error rather than a warning.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import chdtrc, fdtrc, ndtr, ndtri, stdtr, stdtrit

from attunement._blas import bounded_blas
from attunement.evidence import (
    _core,
    bias,
    casewise,
    diagnostics_more,
    permutation,
    selection,
    tests_anova,
)
from attunement.evidence._core import _EPS, _LOG2PI, _as_level, _crit, _proj, _pval, logdet
from attunement.evidence.design import _design, _vector
from attunement.evidence.estimators import DEFAULT_CONTROL, ESTIMATORS, Tau2Estimate
from attunement.evidence.location_scale import LS_METHODS, RMALSResult, fit_location_scale
from attunement.evidence.rma_result import _FIXED, RMAFit, _model_label, _num
from attunement.evidence.robust import robust as _robust

__all__ = ["METHODS", "TESTS", "RMAResult", "rma"]

METHODS = tuple(ESTIMATORS)
TESTS = ("z", "knha", "t", "adhoc")


class RMAResult(RMAFit):
    """A fitted meta-analytic model (metafor's ``rma.uni`` object).

    Fields use metafor's names: ``beta``, ``se``, ``zval``, ``pval``, ``ci_lb``, ``ci_ub``,
    ``vb``, ``tau2``, ``se_tau2``, ``I2``, ``H2``, ``QE``, ``QEp``, ``QM``, ``QMp``, ``R2``
    (see :class:`~attunement.evidence.rma_result.RMAFit`); the methods below refit the model
    or hand it to the diagnostics, publication-bias, selection-model and test modules.

    Examples
    --------
    R: ``res <- rma(yi, vi, data = dat)`` on the BCG log risk ratios; ``regtest(res)`` gives
    z = −0.8033 and ``blup(res)$pred[1]`` −0.8002, τ² 0.3132:

    >>> from attunement.evidence import escalc, rma
    >>> from attunement.evidence.datasets import dat_bcg
    >>> res = rma(escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=dat_bcg()))
    >>> round(res.regtest().zval, 4), round(float(res.blup().pred.iloc[0]), 4)
    (-0.8033, -0.8002)
    >>> "egger" in res.to_dict(with_egger=False), round(res.to_dict()["tau2"], 4)
    (False, 0.3132)
    """

    def refit_on(self, y: np.ndarray, v: np.ndarray, X: np.ndarray, coef_names: list[str],
                 int_incl: bool, **kw: Any) -> RMAResult:
        """Fit a model to other data with the same fitting core.

        Parameters
        ----------
        y, v, X, coef_names, int_incl
            The data and the design, as in :meth:`RMAFit.refit_on`.
        **kw
            The settings (``method``, ``test``, ``level``, ...).

        Returns
        -------
        RMAResult
            The model fitted to that data.
        """
        return _fit(y, v, X, coef_names, int_incl, **kw)

    # -- leave-one-out and influence -------------------------------------------------------
    def leave1out(self) -> pd.DataFrame:
        """Refit the model k times, leaving out each study in turn (metafor ``leave1out``).

        Returns
        -------
        pandas.DataFrame
            One row per study left out (:func:`~attunement.evidence.casewise.leave1out`).
        """
        return casewise.leave1out(self)

    def cumul(self, order: Any = None, *, decreasing: bool = False) -> pd.DataFrame:
        """Cumulative meta-analysis (metafor ``cumul``).

        Parameters
        ----------
        order : array-like, optional
            A sort key per study (data order by default).
        decreasing : bool, default False
            Largest key first.

        Returns
        -------
        pandas.DataFrame
            The fits as studies are added (:func:`~attunement.evidence.casewise.cumul`).
        """
        return casewise.cumul(self, order, decreasing=decreasing)

    def influence(self) -> pd.DataFrame:
        """Case diagnostics (metafor ``influence``).

        Returns
        -------
        pandas.DataFrame
            One row per study (:func:`~attunement.evidence.casewise.influence`).
        """
        return casewise.influence(self)

    # -- publication bias shortcuts --------------------------------------------------------
    def regtest(self, **kw: Any) -> Any:
        """Egger-type regression test for funnel-plot asymmetry.

        Parameters
        ----------
        **kw
            :func:`~attunement.evidence.bias.regtest`'s options (``model``, ``predictor``).

        Returns
        -------
        RegTest
            The test and the limit estimate.
        """
        return bias.regtest(self, **kw)

    def ranktest(self) -> Any:
        """Begg and Mazumdar's rank correlation test (:func:`~attunement.evidence.bias.ranktest`).

        Returns
        -------
        RankTest
            Kendall's tau and its p-value.
        """
        return bias.ranktest(self)

    def trimfill(self, **kw: Any) -> Any:
        """Duval and Tweedie's trim-and-fill.

        Parameters
        ----------
        **kw
            ``side`` (``"left"`` or ``"right"``, estimated by default) and ``estimator``
            (``"L0"``, ``"R0"`` or ``"Q0"``), as :func:`~attunement.evidence.bias.trimfill`.

        Returns
        -------
        TrimFill
            The studies filled in and the refitted model.
        """
        return bias.trimfill(self, **kw)

    def robust(self, cluster: Any, *, adjust: bool = True,
               clubSandwich: bool = False) -> Any:
        """Cluster-robust tests (metafor ``robust``): CR1 by default, CR2 with Satterthwaite
        df and the HTZ test with ``clubSandwich=True``.

        Parameters
        ----------
        cluster : array-like or str
            The cluster of each study.
        adjust : bool, default True
            The small-sample factor of CR1.
        clubSandwich : bool, default False
            CR2 with Satterthwaite df instead.

        Returns
        -------
        RobustResult
            The coefficients with robust SEs and tests.
        """
        return _robust(self, cluster, adjust=adjust, clubSandwich=clubSandwich)

    def permutest(self, **kw: Any) -> Any:
        """Permutation p-values of the coefficients and the omnibus test.

        Parameters
        ----------
        **kw
            ``iter``, ``exact`` and ``seed`` of :func:`~attunement.evidence.permutation.permutest`.

        Returns
        -------
        PermutestResult
            The permutation p-values.
        """
        return permutation.permutest(self, **kw)

    def anova(self, other: RMAResult | None = None, **kw: Any) -> Any:
        """Wald test (``X=``/``btt=``) or likelihood-ratio test against ``other``.

        Parameters
        ----------
        other : RMAResult, optional
            A nested model for the likelihood-ratio test.
        **kw
            ``X`` or ``btt`` for a Wald test.

        Returns
        -------
        WaldResult or LRTResult
            As :func:`~attunement.evidence.tests_anova.anova`.
        """
        return tests_anova.anova(self, other, **kw)

    def blup(self) -> pd.DataFrame:
        """Best linear unbiased predictions of the studies' true effects.

        Returns
        -------
        pandas.DataFrame
            ``pred``, ``se`` and the interval (:func:`~attunement.evidence.diagnostics_more.blup`).
        """
        return diagnostics_more.blup(self)

    def vif(self, btt: Any = None) -> pd.DataFrame:
        """(Generalised) variance inflation factors of the moderators.

        Parameters
        ----------
        btt : sequence of int, optional
            Coefficients (0-based) taken as one set.

        Returns
        -------
        pandas.DataFrame
            VIF and SIF (:func:`~attunement.evidence.diagnostics_more.vif`).
        """
        return diagnostics_more.vif(self, btt)

    def selmodel(self, steps: Any = None, *, type: str = "stepfun") -> Any:
        """Step-function or beta selection model for publication bias.

        Parameters
        ----------
        steps : sequence of float, optional
            The p-value cut-points of a step function.
        type : str, default "stepfun"
            ``"stepfun"`` or ``"beta"``.

        Returns
        -------
        SelModelResult
            The adjusted estimate and the selection weights.
        """
        return selection.selmodel(self, steps, type=type)

    def hc(self) -> Any:
        """Henmi and Copas's confidence interval (:func:`~attunement.evidence.selection.hc`).

        Returns
        -------
        HCResult
            The estimate with its robust interval.
        """
        return selection.hc(self)

    def profile(self, **kw: Any) -> pd.DataFrame:
        """Profile log-likelihood of τ².

        Parameters
        ----------
        **kw
            The grid: ``tau2``, or ``xlim`` and ``steps``.

        Returns
        -------
        pandas.DataFrame
            As :func:`~attunement.evidence.diagnostics_more.profile_tau2`.
        """
        return diagnostics_more.profile_tau2(self, **kw)

    # -- output ----------------------------------------------------------------------------
    def to_dict(self, *, with_confint: bool = True, with_egger: bool = True) -> dict[str, Any]:
        """Plain-JSON summary (the keys of ``attunement meta --json``).

        Parameters
        ----------
        with_confint : bool, default True
            Add the CIs of τ², I² and H².
        with_egger : bool, default True
            Add Egger's regression test.

        Returns
        -------
        dict
            Plain values only.
        """
        out: dict[str, Any] = {
            "model": _model_label(self),
            "method": self.method,
            "test": self.test,
            "k": self.k,
            "level": self.level,
            "estimate": _num(self.beta[0]),
            "se": _num(self.se[0]),
            "stat": _num(self.zval[0]),
            "pval": _num(self.pval[0]),
            "ci_lb": _num(self.ci_lb[0]),
            "ci_ub": _num(self.ci_ub[0]),
            "tau2": _num(self.tau2),
            "se_tau2": _num(self.se_tau2),
            "tau2_ci_lb": None,
            "tau2_ci_ub": None,
            "I2": _num(self.I2),
            "H2": _num(self.H2),
            "Q": _num(self.QE),
            "Q_df": self.k - self.p,
            "Q_p": _num(self.QEp),
            "pi_lb": None,
            "pi_ub": None,
            "egger_z": None,
            "egger_p": None,
        }
        if self.ddf is not None:
            out["df"] = self.ddf
        if (with_confint and not self.is_fixed and not self.tau2_fixed and self.k > self.p
                and self.method != "GENQ"):
            ci = self.confint()
            out["tau2_ci_lb"] = _num(ci.loc["tau2", "ci_lb"])
            out["tau2_ci_ub"] = _num(ci.loc["tau2", "ci_ub"])
        if self.int_only and not self.is_fixed:
            pr = self.predict()
            out["pi_lb"] = _num(pr.pi_lb.iloc[0])
            out["pi_ub"] = _num(pr.pi_ub.iloc[0])
        if with_egger and self.k >= self.p + 2:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    eg = self.regtest()
                out["egger_z"] = _num(eg.zval)  # a t statistic (egger_df) after Knapp-Hartung
                out["egger_p"] = _num(eg.pval)
                if eg.ddf is not None:
                    out["egger_df"] = eg.ddf
            except (ValueError, np.linalg.LinAlgError):
                pass
        if not self.int_only:
            out["coefficients"] = {
                name: {"estimate": _num(b), "se": _num(s), "stat": _num(z), "pval": _num(pv),
                       "ci_lb": _num(lo), "ci_ub": _num(hi)}
                for name, b, s, z, pv, lo, hi in zip(
                    self.coef_names, self.beta, self.se, self.zval, self.pval, self.ci_lb,
                    self.ci_ub, strict=True)
            }
            out["QM"] = _num(self.QM)
            out["QM_df"] = list(self.QM_df) if self.QM_df[1] is not None else self.QM_df[0]
            out["QM_p"] = _num(self.QMp)
            out["R2"] = _num(self.R2)
        return out


def _tau2_estimate(method, y, ymc, v, X, weights, ctrl, tau2_value) -> Tau2Estimate:
    """τ² by the estimator registered for ``method``."""
    return ESTIMATORS[method].estimate(y, ymc, v, X, weights, ctrl, tau2_value)


@bounded_blas
def _fit(
    y: np.ndarray,
    v: np.ndarray,
    X: np.ndarray,
    coef_names: list[str],
    int_incl: bool,
    *,
    method: str,
    test: str,
    weights: np.ndarray | None,
    level: float,
    tau2_value: float | None,
    control: dict[str, float],
    btt: Sequence[int] | None,
    slab: list[str] | None,
    skip_r2: bool = False,
    light: bool = False,
) -> RMAResult:
    k, p = X.shape
    int_only = p == 1 and int_incl
    if not (int_only and k == 1):
        need = p if (method in _FIXED or tau2_value is not None) else p + 1
        if need > k:
            raise ValueError(
                f"too few studies: {k} studies cannot estimate {p} coefficient(s)"
                + ("" if method in _FIXED else " and tau^2")
            )
    if k == 1 and test != "z":
        warnings.warn("k = 1: using test='z'", stacklevel=3)
        test = "z"
    if method == "GENQ" and weights is None:
        raise ValueError("method='GENQ' needs weights")
    alpha = _as_level(level)
    ymc = y - float(y.sum()) / k
    if k == 1 and method not in _FIXED:
        tau2 = 0.0 if tau2_value is None else tau2_value
        se_tau2, iterations, cache = float("nan"), 0, None
    else:
        est = _tau2_estimate(method, y, ymc, v, X, weights, control, tau2_value)
        tau2, se_tau2, iterations, cache = est.tau2, est.se, est.iterations, est.sums
    tau2_fixed = tau2_value is not None and method not in _FIXED
    if int_only and weights is None and k > 1:
        return _fit_intercept(y, ymc, v, method, test, level, control, slab, tau2, se_tau2,
                              tau2_fixed, iterations, light, cache)

    w = 1.0 / (v + tau2)
    if not np.all(np.isfinite(w)):
        raise ValueError("division by zero when computing the inverse-variance weights")
    proj_w = _proj(X, w)
    s2w = 1.0
    if weights is None:
        beta = proj_w.coef(y)
        vb = proj_w.M.copy()
        e = y - X @ beta
        RSS_f = float(np.dot(w * e, e))
        RSS_knha = RSS_f
    else:
        beta_w = proj_w.coef(y)
        e = y - X @ beta_w
        RSS_knha = float(np.dot(w * e, e))
        proj_a = _proj(X, weights)
        beta = proj_a.coef(y)
        XA = X * weights[:, None]
        vb = proj_a.M @ (XA.T @ (XA * (v + tau2)[:, None])) @ proj_a.M
        e = y - X @ beta
        RSS_f = float(np.dot(w * e, e))
    if test in {"knha", "adhoc"}:
        if method in _FIXED:
            warnings.warn("Knapp & Hartung adjustment is not meant for fixed-effect models",
                          stacklevel=3)
        s2w = 0.0 if RSS_knha <= np.finfo(float).eps else RSS_knha / (k - p)
        if s2w == 0.0 and test == "knha":
            warnings.warn("Knapp-Hartung: the effects fit the model exactly, so the scaling "
                          "factor and the standard errors are 0", stacklevel=3)
        if test == "adhoc":
            s2w = max(s2w, 1.0)
        vb = s2w * vb
    ddf = k - p if test in {"knha", "adhoc", "t"} else None
    se = np.sqrt(np.diag(vb))
    zval = beta / se
    if btt is None:
        btt_l = list(range(1, p)) if (p > 1 and int_incl) else list(range(p))
    else:
        btt_l = list(btt)
    m = len(btt_l)
    bb = beta[btt_l]
    try:
        QM = float(bb @ np.linalg.solve(vb[np.ix_(btt_l, btt_l)], bb))
    except np.linalg.LinAlgError:
        QM = float("nan")
    if ddf is not None:
        QM /= m
        QM_df: tuple[int, int | None] = (m, k - p)
        QMp = float(fdtrc(m, k - p, QM)) if k - p > 0 else float("nan")
        pval = _pval(zval, ddf) if ddf > 0 else np.full(p, np.nan)
        crit = _crit(alpha, ddf) if ddf > 0 else float("nan")
    else:
        QM_df = (m, None)
        QMp = float(chdtrc(m, QM))
        pval = _pval(zval, None)
        crit = _crit(alpha, None)
    ci_lb, ci_ub = beta - crit * se, beta + crit * se

    # heterogeneity (always with the fixed-effect weights 1/vi)
    if k > p:
        if tau2 == 0.0 and method in _FIXED and weights is None:
            proj_fe = proj_w
        else:
            proj_fe = _proj(X, 1.0 / v)
        QE = max(0.0, proj_fe.quad(ymc))
        QEp = float(chdtrc(k - p, QE))
        vt = (k - p) / proj_fe.trace()
        if method in _FIXED:
            I2 = max(0.0, 100 * (QE - (k - p)) / QE) if QE > 0 else 0.0
            H2 = QE / (k - p)
        else:
            I2 = 100 * tau2 / (vt + tau2)
            H2 = tau2 / vt + 1
    else:
        QE, QEp, I2, H2, vt = 0.0, 1.0, 0.0, 1.0, 0.0

    fit_stats: dict[str, dict[str, float]] = {}
    if not light:
        parms = p + (0 if method in _FIXED or tau2_fixed else 1)
        sum_log = float(np.sum(np.log(v + tau2)))
        ll_ml = -0.5 * k * _LOG2PI - 0.5 * sum_log - 0.5 * RSS_f
        ll_reml = (
            -0.5 * (k - p) * _LOG2PI
            + 0.5 * logdet(X.T @ X)
            - 0.5 * sum_log
            + 0.5 * logdet(proj_w.M)  # = -1/2 log|XᵀWX|
            - 0.5 * RSS_f
        )
        dev_ml = -2 * (ll_ml + 0.5 * float(np.sum(_LOG2PI + np.log(v)))) if k > p else 0.0
        fit_stats = _core.fit_statistics(k, p, parms, ll_ml, ll_reml, dev_ml)

    R2 = None
    if not int_only and int_incl and not skip_r2 and not light:
        R2 = _pseudo_r2(method, y, v, X, w, weights, tau2, test, level, control)

    return RMAResult(
        method=method, test=test, k=k, p=p, coef_names=list(coef_names), beta=beta, se=se,
        zval=zval, pval=np.asarray(pval, dtype=float), ci_lb=ci_lb, ci_ub=ci_ub, vb=vb,
        tau2=float(tau2), se_tau2=float(se_tau2), I2=float(I2), H2=float(H2), QE=float(QE),
        QEp=QEp, QM=QM, QMp=QMp, QM_df=QM_df, ddf=ddf, s2w=float(s2w), vt=float(vt),
        fit_stats=fit_stats, yi=y, vi=v, X=X, weights=weights, level=level, int_only=int_only,
        int_incl=int_incl, btt=btt_l, tau2_fixed=tau2_fixed, control=control,
        study_labels=slab, R2=R2, iterations=iterations,
    )


def _fit_intercept(y, ymc, v, method, test, level, control, slab, tau2, se_tau2, tau2_fixed,
                   iterations, light, cache=None):
    """The rest of _fit for an intercept-only model with inverse-variance weights, with scalar
    sums (same formulas; this is the path of almost every meta-analysis and of simulations)."""
    k = y.size
    alpha = _as_level(level)
    vt_ = v + tau2
    w = 1.0 / vt_
    sw = float(w.sum())
    beta = float(np.dot(w, y)) / sw
    e = y - beta
    RSS = float(np.dot(w * e, e))
    vb = 1.0 / sw
    s2w = 1.0
    if test in {"knha", "adhoc"}:
        if method in _FIXED:
            warnings.warn("Knapp & Hartung adjustment is not meant for fixed-effect models",
                          stacklevel=3)
        s2w = RSS / (k - 1) if _EPS < RSS else 0.0
        if s2w == 0.0 and test == "knha":
            warnings.warn("Knapp-Hartung: the effects fit the model exactly, so the scaling "
                          "factor and the standard error are 0", stacklevel=3)
        if test == "adhoc":
            s2w = max(s2w, 1.0)
        vb *= s2w
    ddf = k - 1 if test in {"knha", "adhoc", "t"} else None
    se = math.sqrt(vb)
    z = beta / se if se > 0 else math.copysign(math.inf, beta)
    QM = beta * beta / vb if vb > 0 else math.inf
    if ddf is not None:
        QMp = float(fdtrc(1, ddf, QM))
        pval = float(2 * stdtr(ddf, -abs(z)))
        crit = float(stdtrit(ddf, 1 - alpha / 2))
        QM_df: tuple[int, int | None] = (1, ddf)
    else:
        QMp = float(chdtrc(1, QM))
        pval = float(2 * ndtr(-abs(z)))
        crit = float(-ndtri(alpha / 2))
        QM_df = (1, None)
    # heterogeneity with the fixed-effect weights
    wf = 1.0 / v
    swf = float(wf.sum())
    ef = ymc - float(np.dot(wf, ymc)) / swf
    QE = max(0.0, float(np.dot(wf * ef, ef)))
    QEp = float(chdtrc(k - 1, QE))
    vt = (k - 1) / (swf - float(np.dot(wf, wf)) / swf)
    if method in _FIXED:
        I2 = max(0.0, 100 * (QE - (k - 1)) / QE) if QE > 0 else 0.0
        H2 = QE / (k - 1)
    else:
        I2 = 100 * tau2 / (vt + tau2)
        H2 = tau2 / vt + 1
    fit_stats: dict[str, dict[str, float]] = {}
    if not light:
        parms = 1 + (0 if method in _FIXED or tau2_fixed else 1)
        sum_log = cache.logsum(tau2) if cache is not None else float(np.sum(np.log(vt_)))
        ll_ml = -0.5 * k * _LOG2PI - 0.5 * sum_log - 0.5 * RSS
        ll_reml = -0.5 * (k - 1) * _LOG2PI + 0.5 * math.log(k) - 0.5 * sum_log \
            - 0.5 * math.log(sw) - 0.5 * RSS
        sum_log_v = cache.logsum(0.0) if cache is not None else float(np.sum(np.log(v)))
        dev_ml = -2 * (ll_ml + 0.5 * (k * _LOG2PI + sum_log_v))
        fit_stats = _core.fit_statistics(k, 1, parms, ll_ml, ll_reml, dev_ml)
    return RMAResult(
        method=method, test=test, k=k, p=1, coef_names=["intrcpt"], beta=np.array([beta]),
        se=np.array([se]), zval=np.array([z]), pval=np.array([pval]),
        ci_lb=np.array([beta - crit * se]), ci_ub=np.array([beta + crit * se]),
        vb=np.array([[vb]]), tau2=float(tau2), se_tau2=float(se_tau2), I2=float(I2),
        H2=float(H2), QE=QE, QEp=QEp, QM=QM, QMp=QMp, QM_df=QM_df, ddf=ddf, s2w=float(s2w),
        vt=float(vt), fit_stats=fit_stats, yi=y, vi=v, X=np.ones((k, 1)), weights=None,
        level=level, int_only=True, int_incl=True, btt=[0], tau2_fixed=tau2_fixed,
        control=control, study_labels=slab, R2=None, iterations=iterations,
    )


def _pseudo_r2(method, y, v, X, w, weights, tau2, test, level, control):
    k, p = X.shape
    if method in _FIXED:
        if np.var(y) == 0:
            return 0.0
        ww = w if weights is None else weights
        proj = _proj(X, ww)
        rss = proj.quad(y)
        mu = np.dot(ww, y) / ww.sum()
        tss = float(np.dot(ww, (y - mu) ** 2))
        r2 = 1 - rss / tss
        adj = 1 - (1 - r2) * (k - 1) / (k - p)
        return max(0.0, 100 * adj)
    try:
        res0 = _fit(y, v, np.ones((k, 1)), ["intrcpt"], True, method=method, test=test,
                    weights=weights, level=level, tau2_value=None, control=control, btt=None,
                    slab=None, skip_r2=True, light=True)
    except (ValueError, np.linalg.LinAlgError):
        return float("nan")
    if res0.tau2 == 0:
        return 0.0
    return max(0.0, 100 * (res0.tau2 - tau2) / res0.tau2)


def rma(
    yi: Any = "yi",
    vi: Any = None,
    *,
    sei: Any = None,
    data: pd.DataFrame | None = None,
    mods: Any = None,
    method: str = "REML",
    test: str = "z",
    weights: Any = None,
    level: float = 95,
    tau2: float | None = None,
    intercept: bool = True,
    btt: Sequence[int] | None = None,
    slab: Any = None,
    control: dict[str, float] | None = None,
    na_action: str = "fail",
    scale: Any = None,
    att: Sequence[int] | None = None,
) -> RMAResult | RMALSResult:
    """Fit a fixed-, random- or mixed-effects meta-analytic model (metafor's ``rma``).

    Parameters
    ----------
    yi : array-like, str or pandas.DataFrame, default "yi"
        The effect sizes, or a column of ``data``; a data frame returned by :func:`escalc`
        passed here (or as ``data``) gives ``yi`` and ``vi``.
    vi, sei : array-like or str, optional
        The sampling variances, or their standard errors (one is needed).
    data : pandas.DataFrame, optional
        The data the column names refer to (a polars frame is converted).
    mods : str, list, array-like or pandas.DataFrame, optional
        Moderators: column names, a formula string such as ``"~ ablat + factor(alloc)"``, or
        an array. Text columns are categorical (first level the reference); ``- 1`` fits cell
        means.
    method : str, default "REML"
        The τ² estimator (:data:`attunement.evidence.estimators.ESTIMATORS`): ``EE``/``FE``/``CE``
        (common effect), ``DL``, ``HE``, ``HS``, ``HSk``, ``SJ``, ``ML``, ``REML``, ``EB``,
        ``PM``, ``GENQ`` (needs ``weights``).
    test : str, default "z"
        ``z``, ``knha`` (Knapp–Hartung), ``t`` or ``adhoc``.
    weights : array-like or str, optional
        User weights instead of the inverse variances.
    level : float, default 95
        Confidence level (95 or 0.95).
    tau2 : float, optional
        Fix τ² instead of estimating it.
    intercept : bool, default True
        Add an intercept to the moderators.
    btt : sequence of int, optional
        0-based indices of the coefficients in the omnibus test of moderators.
    slab : array-like or str, optional
        Study labels.
    control : dict, optional
        ``threshold`` (1e-12), ``tol`` (1e-12), ``maxiter``, ``tau2_min``, ``tau2_max``,
        ``stepadj`` and ``newton`` (1; 0 with ``threshold=1e-5`` reproduces metafor's default
        Fisher scoring exactly).
    na_action : str, default "fail"
        ``"fail"``: an error naming the studies with missing values; ``"omit"``: leave them
        out with a warning (metafor's default).
    scale : str, list or array-like, optional
        Fit a location-scale model (metafor's ``rma(..., scale = ~ z)``): log τ²ᵢ = zᵢᵀα,
        by ``method`` ``"REML"`` or ``"ML"``. Given like ``mods``: a formula string
        (``"~ ni"``, ``"~ factor(grade)"``, ``"~ z - 1"``), column names or an array (an
        intercept is added, as for ``mods``). Returns a
        :class:`~attunement.evidence.location_scale.RMALSResult`.
    att : sequence of int, optional
        With ``scale``: 0-based indices of the scale coefficients in the test ``QS``.

    Returns
    -------
    RMAResult or RMALSResult
        The fit (an ``RMALSResult`` with ``scale``), with metafor's field names (``beta``, ``se``, ``tau2``, ``I2``, ``QE``, ...),
        ``predict()``, ``confint()``, ``leave1out()``, ``influence()``, ``regtest()`` and a
        metafor-style print.

    Examples
    --------
    The BCG vaccine trials; in R, ``dat <- escalc(measure = "RR", ai = tpos, bi = tneg,
    ci = cpos, di = cneg, data = dat.bcg); rma(yi, vi, data = dat)`` gives estimate −0.7145,
    τ² = 0.3132 (SE 0.1664) and I² = 92.22% (``tests/reference/metafor_reference.json``, to
    1e-6 relative):

    >>> from attunement.evidence import escalc, rma
    >>> from attunement.evidence.datasets import dat_bcg
    >>> dat = escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=dat_bcg())
    >>> res = rma(yi="yi", vi="vi", data=dat, method="REML")
    >>> round(res.estimate, 4), round(res.tau2, 4), round(res.I2, 2)
    (-0.7145, 0.3132, 92.22)

    DerSimonian–Laird and a meta-regression on latitude (R: ``rma(yi, vi, mods = ~ ablat,
    data = dat)`` gives ablat −0.0291, SE 0.0072):

    >>> round(rma(dat, method="DL").tau2, 4)
    0.3088
    >>> reg = rma(dat, mods="~ ablat")
    >>> round(float(reg.beta[1]), 4), round(float(reg.se[1]), 4)
    (-0.0291, 0.0072)

    A location-scale model, log τ² linear in absolute latitude (R: ``rma(yi, vi, scale =
    ~ ablat, data = dat)`` gives α = (−1.1536, −0.0002), SE 0.0702 for the slope:
    ``tests/evidence/data/location_scale.json``):

    >>> ls = rma(dat, scale="~ ablat")
    >>> [round(float(a), 4) for a in ls.alpha], round(float(ls.se_alpha[1]), 4)
    ([-1.1536, -0.0002], 0.0702)

    Four studies entered by hand (metafor: estimate −1.42201089, τ² = 0):

    >>> fit = rma([-0.89, -1.59, -1.35, -1.44], [0.33, 0.19, 0.42, 0.02], method="DL")
    >>> round(fit.estimate, 8), fit.tau2
    (-1.42201089, 0.0)
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if test not in TESTS:
        raise ValueError(f"unknown test {test!r}; choose one of {', '.join(TESTS)}")
    if na_action not in {"fail", "omit"}:
        raise ValueError("na_action must be 'fail' or 'omit'")
    if not isinstance(yi, (pd.DataFrame, str)) and hasattr(yi, "to_pandas"):
        yi = yi.to_pandas()  # a polars DataFrame
    if isinstance(yi, pd.DataFrame):
        if data is None:
            data = yi
        yi = "yi"
        if vi is None and sei is None:
            vi = "vi"
    if data is not None and not isinstance(data, pd.DataFrame):
        data = data.to_pandas() if hasattr(data, "to_pandas") else pd.DataFrame(data)
    if data is not None and vi is None and sei is None and "vi" in data.columns:
        vi = "vi"
    if isinstance(yi, str) and data is None:
        raise ValueError("yi is a column name but no data was given")
    y = _vector("yi", yi, data)
    if y is None:
        raise ValueError("yi is required")
    v = _vector("vi", vi, data)
    if v is None:
        s = _vector("sei", sei, data)
        if s is None:
            raise ValueError("give the sampling variances (vi) or standard errors (sei)")
        v = s**2
    k_all = y.size
    if v.size != k_all:
        raise ValueError(f"yi has {k_all} values but vi has {v.size}")
    w_user = _vector("weights", weights, data)
    if w_user is not None and w_user.size != k_all:
        raise ValueError("weights must have one value per study")
    X, names, int_incl, _ = _design(mods, data, k_all, intercept)
    Z, z_names, z_int, z_na = None, [], False, None
    if att is not None and scale is None:
        raise ValueError("att= (scale coefficients to test) applies with scale=")
    if scale is not None:
        if method not in LS_METHODS:
            raise ValueError(f"a location-scale model (scale=) is fitted by ML or REML, not "
                             f"{method!r}")
        if tau2 is not None or weights is not None:
            raise ValueError("tau2= and weights= do not apply to a location-scale model "
                             "(scale=)")
        try:
            Z, z_names, z_int, _ = _design(scale, data, k_all, True)
        except ValueError as exc:
            raise ValueError(f"scale: {exc}") from None
        z_na = np.isnan(Z).any(axis=1)
    if isinstance(slab, str) and data is not None and slab in data.columns:
        labels: list[str] | None = [str(s) for s in data[slab]]
    elif slab is not None:
        labels = [str(s) for s in slab]
        if len(labels) != k_all:
            raise ValueError(f"slab has {len(labels)} labels, expected {k_all}")
    else:
        labels = None

    def names_of(mask: np.ndarray) -> str:
        rows = np.flatnonzero(mask)[:10]
        return ", ".join(labels[i] if labels is not None else f"Study {i + 1}" for i in rows)

    if z_na is not None and z_na.any() and na_action == "fail":
        cols = [n for j, n in enumerate(z_names) if np.isnan(Z[:, j]).any()]
        raise ValueError(f"scale column(s) {', '.join(cols)} missing for {int(z_na.sum())} "
                         f"studies ({names_of(z_na)}); fix the data or pass "
                         "na_action='omit' to leave them out")
    int_model = mods is None and z_na is None
    if int_model and w_user is None:
        has_na = np.isnan(y) | np.isnan(v) if np.isnan(y.sum() + v.sum()) else None
    else:
        has_na = np.isnan(y) | np.isnan(v) | np.isnan(X).any(axis=1)
        if w_user is not None:
            has_na |= np.isnan(w_user)
        if z_na is not None:
            has_na |= z_na
        if not has_na.any():
            has_na = None
    if has_na is not None:
        rows = names_of(has_na)
        if na_action == "fail":
            raise ValueError(
                f"missing yi, vi or moderator values for {int(has_na.sum())} studies ({rows}); "
                "fix the data or pass na_action='omit' to leave them out"
            )
        warnings.warn(f"studies with missing values left out of the model: {rows}", stacklevel=2)
        keep = ~has_na
        y, v, X = y[keep], v[keep], X[keep]
        Z = None if Z is None else Z[keep]
        w_user = None if w_user is None else w_user[keep]
        if labels is None:
            labels = [f"Study {i + 1}" for i in range(k_all)]
        labels = [s for s, kp in zip(labels, keep, strict=True) if kp]
    k = y.size
    if k == 0:
        raise ValueError("no studies to pool (k = 0)")
    if not (np.all(v > 0) and math.isfinite(float(v.sum() + y.sum()))):
        bad = ~np.isfinite(v) | (v <= 0) | ~np.isfinite(y)
        raise ValueError(
            "sampling variances must be positive and finite, and effects finite "
            f"(studies: {names_of(bad)})"
        )
    if w_user is not None and (np.any(w_user < 0) or not np.all(np.isfinite(w_user))):
        raise ValueError("weights must be non-negative and finite")
    if (X.shape[1] > 1 or not int_incl) and np.linalg.matrix_rank(X) < X.shape[1]:
        raise ValueError(
            "the moderators are collinear (model matrix not of full rank): " + ", ".join(names)
        )
    if k == 1:
        warnings.warn("only one study (k = 1): tau^2 is set to 0", stacklevel=2)
    ctrl = dict(DEFAULT_CONTROL)
    if control:
        unknown = set(control) - set(ctrl)
        if unknown:
            raise ValueError(f"unknown control setting(s): {', '.join(sorted(unknown))}")
        ctrl.update(control)
    if Z is not None:
        res_ls = fit_location_scale(
            y, v, X, names, int_incl, Z, z_names, z_int, method=method, test=test,
            level=level, btt=None if btt is None else list(btt),
            att=None if att is None else list(att), control=ctrl, slab=labels)
        if data is not None:
            res_ls.measure = data.attrs.get("measure")
        return res_ls
    res = _fit(
        y, v, X, names, int_incl, method=method, test=test, weights=w_user, level=level,
        tau2_value=tau2, control=ctrl, btt=btt, slab=labels,
    )
    if data is not None:
        res.measure = data.attrs.get("measure")
    return res
