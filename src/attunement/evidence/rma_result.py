"""The fitted ``rma`` model as data: metafor's fields, accessors, predictions, the Q-profile
interval for τ² and the metafor-style print.

:class:`RMAFit` needs nothing above the estimators, so the modules that work on a fitted model
(``bias``, ``diagnostics_more``, ``permutation``, ``selection``, ``tests_anova``, ``casewise``)
take it as a plain argument and refit through :meth:`RMAFit.refit_on`;
:class:`attunement.evidence.models.RMAResult` adds the refitting and the shortcuts to them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import chdtri

from attunement.evidence._core import Coefficients, _as_level, _crit, _proj
from attunement.evidence.estimators import ESTIMATORS, _q_generalised

__all__ = ["RMAFit"]

_FIXED = frozenset(name for name, est in ESTIMATORS.items() if not est.random)


@dataclass(repr=False)
class RMAFit(Coefficients):
    """A fitted meta-analytic model (metafor's ``rma.uni`` object) as data.

    Fields use metafor's names: ``beta``, ``se``, ``zval``, ``pval``, ``ci_lb``, ``ci_ub``,
    ``vb``, ``tau2``, ``se_tau2``, ``I2``, ``H2``, ``QE``, ``QEp``, ``QM``, ``QMp``, ``R2``.

    Examples
    --------
    R, on the BCG log risk ratios: ``res <- rma(yi, vi, data = dat)``;
    ``predict(res, transf = exp)`` gives 0.4894 [0.3441, 0.6962], prediction interval
    [0.1546, 1.5490]; ``confint(res)`` τ² 0.3132 [0.1197, 1.1115]; ``weights(res)[1]`` 5.0595 %:

    >>> import numpy as np
    >>> from attunement.evidence import escalc, rma
    >>> from attunement.evidence.datasets import dat_bcg
    >>> res = rma(escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=dat_bcg()))
    >>> res.predict(transf=np.exp)[["pred", "ci_lb", "ci_ub", "pi_lb", "pi_ub"]].round(4).iloc[0].tolist()
    [0.4894, 0.3441, 0.6962, 0.1546, 1.549]
    >>> res.confint().loc["tau2"].round(4).tolist(), round(float(res.weights_percent()[0]), 4)
    ([0.3132, 0.1197, 1.1115], 5.0595)
    """

    vb: np.ndarray
    tau2: float
    se_tau2: float
    I2: float
    H2: float
    QE: float
    QEp: float
    QM: float
    QMp: float
    QM_df: tuple[int, int | None]
    ddf: int | None
    s2w: float
    vt: float
    fit_stats: dict[str, dict[str, float]]
    yi: np.ndarray
    vi: np.ndarray
    X: np.ndarray
    weights: np.ndarray | None
    level: float
    int_only: bool
    int_incl: bool
    btt: list[int]
    tau2_fixed: bool
    control: dict[str, float]
    study_labels: list[str] | None
    R2: float | None = None
    measure: str | None = None
    iterations: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    # -- simple accessors ------------------------------------------------------------------
    @property
    def slab(self) -> list[str]:
        """Study labels ("Study 1", ... when none were given)."""
        if self.study_labels is None:
            self.study_labels = [f"Study {i + 1}" for i in range(self.k)]
        return self.study_labels

    @property
    def tau(self) -> float:
        return math.sqrt(self.tau2) if self.tau2 >= 0 else float("nan")

    @property
    def alpha(self) -> float:
        return _as_level(self.level)

    @property
    def is_fixed(self) -> bool:
        return self.method in _FIXED

    @property
    def parms(self) -> int:
        return self.p + (0 if self.is_fixed or self.tau2_fixed else 1)

    @property
    def estimate(self) -> float:
        return float(self.beta[0])

    def weights_percent(self) -> np.ndarray:
        """Percentage weight of each study (metafor's ``weights()``).

        Returns
        -------
        numpy.ndarray
            Weights summing to 100, in data order.
        """
        w = self.weights if self.weights is not None else 1 / (self.vi + self.tau2)
        return 100 * w / w.sum()

    def hat(self) -> np.ndarray:
        """Leverages: diagonal of X (XᵀW X)⁻¹ XᵀW (metafor's ``hatvalues()``).

        Returns
        -------
        numpy.ndarray
            One leverage per study, between 0 and 1.
        """
        w = self.weights if self.weights is not None else 1 / (self.vi + self.tau2)
        proj = _proj(self.X, w)
        h = proj.h * w
        h[h > 1 - 10 * np.finfo(float).eps] = 1.0
        return h

    def fitted(self) -> np.ndarray:
        """The fitted values Xb (metafor's ``fitted()``).

        Returns
        -------
        numpy.ndarray
            One value per study; the pooled estimate for every study without moderators.
        """
        return self.X @ self.beta

    def logLik(self) -> float:
        """The log-likelihood, restricted for a REML fit (R's ``logLik``).

        Returns
        -------
        float
            The maximised (restricted) log-likelihood.
        """
        kind = "REML" if self.method == "REML" else "ML"
        return self.fit_stats[kind]["logLik"]

    # -- tables ----------------------------------------------------------------------------
    def coef_table(self) -> pd.DataFrame:
        """Tidy table of the fixed effects.

        Returns
        -------
        pandas.DataFrame
            Indexed by term: estimate, se, zval (or tval), pval, ci_lb and ci_ub.
        """
        stat = "zval" if self.ddf is None else "tval"
        return pd.DataFrame(
            {
                "estimate": self.beta,
                "se": self.se,
                stat: self.zval,
                "pval": self.pval,
                "ci_lb": self.ci_lb,
                "ci_ub": self.ci_ub,
            },
            index=pd.Index(self.coef_names, name="term"),
        )

    def study_table(self) -> pd.DataFrame:
        """One row per study: effect, its CI, and its weight in the model.

        Returns
        -------
        pandas.DataFrame
            ``study``, ``yi``, ``vi``, the study's own CI and its ``weight`` (%).
        """
        crit = _crit(self.alpha, None)
        sei = np.sqrt(self.vi)
        return pd.DataFrame(
            {
                "study": self.slab,
                "yi": self.yi,
                "vi": self.vi,
                "ci_lb": self.yi - crit * sei,
                "ci_ub": self.yi + crit * sei,
                "weight": self.weights_percent(),
            }
        )

    # -- predictions -----------------------------------------------------------------------
    def predict(
        self,
        newmods: Any = None,
        *,
        pi_type: str = "default",
        transf: Any = None,
        level: float | None = None,
    ) -> pd.DataFrame:
        """Predicted (average) effect with CI and prediction interval (metafor ``predict``).

        ``newmods``: moderator values (without the intercept), one row per prediction; omitted
        for an intercept-only model. ``pi_type``: ``"default"`` (z, or t(k − p) after
        Knapp–Hartung), ``"riley"`` (t with k − p − 1 df; Higgins, Thompson & Spiegelhalter
        2009) or ``"t"``. ``transf`` (e.g. ``np.exp``, ``np.tanh``) back-transforms the results.

        Parameters
        ----------
        newmods : array-like, optional
            Moderator values, one row per prediction.
        pi_type : str, default "default"
            How the prediction interval is computed.
        transf : callable, optional
            Back-transformation applied to the prediction and bounds.
        level : float, optional
            Confidence level (the model's by default).

        Returns
        -------
        pandas.DataFrame
            ``pred``, ``se``, ``ci_lb``, ``ci_ub``, ``pi_lb``, ``pi_ub`` (``se`` is NaN after
            ``transf``).
        """
        alpha = self.alpha if level is None else _as_level(level)
        if newmods is None:
            if not self.int_only:
                Xn = self.X.copy()
            else:
                Xn = np.ones((1, 1))
        else:
            Xn = np.atleast_2d(np.asarray(newmods, dtype=float))
            if self.int_incl:
                if Xn.shape[1] != self.p - 1:
                    if Xn.shape[0] == self.p - 1 and self.p - 1 == 1:
                        Xn = Xn.T
                    else:
                        raise ValueError(f"newmods needs {self.p - 1} column(s)")
                Xn = np.column_stack([np.ones(Xn.shape[0]), Xn])
            elif Xn.shape[1] != self.p:
                raise ValueError(f"newmods needs {self.p} column(s)")
        pred = Xn @ self.beta
        vpred = np.einsum("ij,jk,ik->i", Xn, self.vb, Xn)
        se = np.sqrt(vpred)
        ddf = self.ddf
        crit = _crit(alpha, ddf)
        ci_lb, ci_ub = pred - crit * se, pred + crit * se
        df_pi = ddf if ddf is not None else self.k - self.p
        if pi_type == "default":
            pcrit = crit
        elif pi_type == "riley":
            pcrit = _crit(alpha, max(1, df_pi - self.parms + self.p))
        elif pi_type == "t":
            pcrit = _crit(alpha, max(1, df_pi))
        else:
            raise ValueError("pi_type must be 'default', 'riley' or 't'")
        if self.is_fixed:
            pi_lb = np.full_like(pred, np.nan)
            pi_ub = np.full_like(pred, np.nan)
        else:
            pi_lb = pred - pcrit * np.sqrt(vpred + self.tau2)
            pi_ub = pred + pcrit * np.sqrt(vpred + self.tau2)
        out = pd.DataFrame(
            {"pred": pred, "se": se, "ci_lb": ci_lb, "ci_ub": ci_ub, "pi_lb": pi_lb,
             "pi_ub": pi_ub}
        )
        if transf is not None:
            for col in ("pred", "ci_lb", "ci_ub", "pi_lb", "pi_ub"):
                out[col] = transf(out[col].to_numpy())
            out["se"] = np.nan
            lo = np.minimum(out.ci_lb, out.ci_ub)
            out["ci_ub"] = np.maximum(out.ci_lb, out.ci_ub)
            out["ci_lb"] = lo
            lo = np.minimum(out.pi_lb, out.pi_ub)
            out["pi_ub"] = np.maximum(out.pi_lb, out.pi_ub)
            out["pi_lb"] = lo
        return out

    # -- confidence interval for tau2 (Q-profile) ------------------------------------------
    def confint(self, level: float | None = None, type: str | None = None) -> pd.DataFrame:
        """Q-profile CI for τ² and the matching CIs for τ, I² and H² (metafor ``confint``).

        When Q at τ² = 0 is already below the critical value the lower bound is 0; when even the
        upper bound is below 0 both are 0 and the interval is flagged as null
        (``.attrs["ci_null"]``). For GENQ fits metafor's default is the generalised Q-profile
        interval, which is not implemented: pass ``type="QP"`` for the standard one.

        Parameters
        ----------
        level : float, optional
            Confidence level (the model's by default).
        type : str, optional
            ``"QP"`` for the Q-profile interval.

        Returns
        -------
        pandas.DataFrame
            ``estimate``, ``ci_lb``, ``ci_ub`` for tau2, tau, I2 and H2.
        """
        if type is None:
            if self.method == "GENQ":
                raise NotImplementedError(
                    "the generalised Q-profile CI (metafor's default for GENQ) is not "
                    "implemented; use confint(type='QP') for the standard Q-profile interval"
                )
            type = "QP"
        if type != "QP":
            raise ValueError("type must be 'QP' (Q-profile)")
        if self.k == 1:
            raise ValueError("cannot compute a confidence interval for tau^2 with k = 1")
        if self.is_fixed:
            raise ValueError("the model has no random-effects component (method is FE/EE)")
        if self.tau2_fixed:
            raise ValueError("tau^2 was fixed, not estimated")
        alpha = self.alpha if level is None else _as_level(level)
        k, p, y, v, X = self.k, self.p, self.yi, self.vi, self.X
        tau2_min = min(0.0, self.tau2)
        tau2_max = max(100.0, self.tau2 * 10, tau2_min * 10)
        df = k - p
        crit_u = float(chdtri(df, alpha / 2))
        crit_l = float(chdtri(df, 1 - alpha / 2))
        tol = self.control["tol"]

        def q(t: float) -> float:
            return _q_generalised(t, y, v, X)

        q_max, q_min = q(tau2_max), q(tau2_min)
        ci_null = False
        lb = ub = float("nan")
        if q_min < crit_l:
            lb = ub = tau2_min
            ci_null = tau2_min <= 0
        elif q_max > crit_l:
            ub = tau2_max
        else:
            ub = brentq(lambda t: q(t) - crit_l, tau2_min, tau2_max, xtol=tol * 1e-2,
                        rtol=4 * np.finfo(float).eps, maxiter=10000)
        if q_max > crit_u:
            lb = ub = tau2_max
        elif q_min < crit_u:
            lb = tau2_min
        else:
            lb = brentq(lambda t: q(t) - crit_u, tau2_min, tau2_max, xtol=tol * 1e-2,
                        rtol=4 * np.finfo(float).eps, maxiter=10000)
        vt = self.vt
        out = pd.DataFrame(
            {
                "estimate": [self.tau2, self.tau, self.I2, self.H2],
                "ci_lb": [lb, math.sqrt(lb) if lb >= 0 else np.nan, 100 * lb / (vt + lb),
                          lb / vt + 1],
                "ci_ub": [ub, math.sqrt(ub) if ub >= 0 else np.nan, 100 * ub / (vt + ub),
                          ub / vt + 1],
            },
            index=pd.Index(["tau2", "tau", "I2", "H2"], name="parameter"),
        )
        out.attrs["ci_null"] = ci_null
        out.attrs["type"] = "Q-profile"
        # a bound at the edge of the search interval is only known to be beyond it
        out.attrs["ub_beyond_search"] = bool(ub == tau2_max)
        out.attrs["lb_beyond_search"] = bool(lb == tau2_max)
        return out

    # -- refitting -------------------------------------------------------------------------
    def refit_on(self, y: np.ndarray, v: np.ndarray, X: np.ndarray, coef_names: list[str],
                 int_incl: bool, **kw: Any) -> RMAFit:
        """Fit a model to other data with ``rma``'s fitting core (its keyword arguments:
        ``method``, ``test``, ``weights``, ``level``, ``tau2_value``, ``control``, ``btt``,
        ``slab``, ``skip_r2``, ``light``); :class:`~attunement.evidence.models.RMAResult`
        provides it.

        Parameters
        ----------
        y, v : numpy.ndarray
            The effects and their variances.
        X : numpy.ndarray
            The model matrix.
        coef_names : list of str
            Names of the coefficients.
        int_incl : bool
            Whether ``X`` includes an intercept.
        **kw
            The fitting options listed above.

        Returns
        -------
        RMAFit
            The new model.
        """
        raise NotImplementedError("refit_on needs an RMAResult (from rma)")

    def summary(self) -> str:
        """The model printed as metafor prints it.

        Returns
        -------
        str
            Heterogeneity, the test of moderators and the coefficient table.
        """
        return _format(self)

    def __str__(self) -> str:
        return _format(self)

    def __repr__(self) -> str:  # notebooks show the metafor-style summary
        return _format(self)


def _num(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


# ------------------------------------------------------------------------------------------
# Printing
# ------------------------------------------------------------------------------------------
def _model_label(r: RMAFit) -> str:
    if r.is_fixed:
        return "Fixed-Effects Model" if r.int_only else "Fixed-Effects with Moderators Model"
    return "Random-Effects Model" if r.int_only else "Mixed-Effects Model"


def _fmt_p(p: float) -> str:
    if not math.isfinite(p):
        return "NA"
    return "<.0001" if p < 1e-4 else f"{p:.4f}"


def _stars(p: float) -> str:
    if not math.isfinite(p):
        return ""
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else "." if p < 0.1 else ""


def _coef_block(names: list[str] | None, est: np.ndarray, se: np.ndarray, stat: np.ndarray,
                pval: np.ndarray, lb: np.ndarray, ub: np.ndarray, ddf: int | None) -> list[str]:
    """metafor's table of coefficients (header and one row each; ``names=None``: no names)."""
    name_w = 0 if names is None else max(len(n) for n in names) + 2
    cols = ["estimate", "se", "zval" if ddf is None else "tval"] + (
        ["df"] if ddf is not None else []) + ["pval", "ci.lb", "ci.ub"]
    widths = [10, 10, 10] + ([5] if ddf is not None else []) + [10, 10, 10]
    lines = [" " * name_w + "".join(f"{c:>{w}}" for c, w in zip(cols, widths, strict=True))]
    for i in range(len(est)):
        vals = [f"{est[i]:.4f}", f"{se[i]:.4f}", f"{stat[i]:.4f}"]
        if ddf is not None:
            vals.append(str(ddf))
        vals += [_fmt_p(pval[i]), f"{lb[i]:.4f}", f"{ub[i]:.4f}"]
        row = "".join(f"{val:>{w}}" for val, w in zip(vals, widths, strict=True))
        lines.append(("" if names is None else f"{names[i]:<{name_w}}")
                     + (row + "  " + _stars(pval[i])).rstrip())
    return lines


def _format(r: RMAFit) -> str:
    lines = []
    head = f"{_model_label(r)} (k = {r.k}"
    head += ")" if r.is_fixed else f"; tau^2 estimator: {r.method})"
    lines += [head, ""]
    total = "total" if r.int_only else "residual"
    pairs: list[tuple[str, str]] = []
    if not r.is_fixed:
        se = f" (SE = {r.se_tau2:.4f})" if math.isfinite(r.se_tau2) else ""
        pairs += [
            (f"tau^2 (estimated amount of {total} heterogeneity):", f"{r.tau2:.4f}{se}"),
            ("tau (square root of estimated tau^2 value):", f"{r.tau:.4f}"),
        ]
    unacc = "total" if r.int_only else "unaccounted"
    pairs += [
        (f"I^2 ({total} heterogeneity / {unacc} variability):", f"{r.I2:.2f}%"),
        (f"H^2 ({unacc} variability / sampling variability):", f"{r.H2:.2f}"),
    ]
    if r.R2 is not None:
        pairs.append(("R^2 (amount of heterogeneity accounted for):", f"{r.R2:.2f}%"))
    width = max(len(a) for a, _ in pairs) + 1
    lines += [a.ljust(width) + b for a, b in pairs]
    lines += ["", "Test for " + ("Residual " if not r.int_only else "") + "Heterogeneity:",
              f"Q{'E' if not r.int_only else ''}(df = {r.k - r.p}) = {r.QE:.4f}, "
              f"p-val {'<' if r.QEp < 1e-4 else '='} {_fmt_p(r.QEp).lstrip('<')}", ""]
    if not r.int_only:
        coefs = ", ".join(str(b + 1) for b in r.btt)
        lines.append(f"Test of Moderators (coefficient{'s' if len(r.btt) > 1 else ''} {coefs}):")
        if r.ddf is None:
            lines.append(f"QM(df = {r.QM_df[0]}) = {r.QM:.4f}, p-val = {_fmt_p(r.QMp)}")
        else:
            lines.append(
                f"F(df1 = {r.QM_df[0]}, df2 = {r.QM_df[1]}) = {r.QM:.4f}, p-val = {_fmt_p(r.QMp)}"
            )
        lines.append("")
    lines += ["Model Results:", ""]
    lines += _coef_block(None if r.int_only else r.coef_names, r.beta, r.se, r.zval, r.pval,
                         r.ci_lb, r.ci_ub, r.ddf)
    if r.int_only and not r.is_fixed:
        pr = r.predict()
        q = f"t({r.ddf})" if r.ddf is not None else "z"
        lines += ["", f"Prediction interval ({q} quantile): "
                      f"{pr.pi_lb.iloc[0]:.4f} to {pr.pi_ub.iloc[0]:.4f}"]
    lines += ["", "---", "Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1"]
    return "\n".join(lines)
