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
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import chdtrc, chdtri, fdtrc, ndtr, ndtri, stdtr, stdtrit

from attunement._blas import bounded_blas
from attunement.evidence._core import Projection, logdet

__all__ = ["METHODS", "TESTS", "RMAResult", "rma", "subgroup_analysis"]

METHODS = ("EE", "FE", "CE", "DL", "HE", "HS", "HSk", "SJ", "ML", "REML", "EB", "PM", "GENQ")
TESTS = ("z", "knha", "t", "adhoc")
_FIXED = {"EE", "FE", "CE"}
_LOG2PI = math.log(2 * math.pi)
_EPS = float(np.finfo(float).eps)

DEFAULT_CONTROL: dict[str, float] = {
    # metafor stops Fisher scoring at a change < 1e-5 and root finding at ~1.2e-4; we solve to
    # the optimum so results agree with metafor run with tight control.
    "threshold": 1e-12,
    "tol": 1e-12,
    "maxiter": 200,
    "tau2_min": 0.0,
    "tau2_max": 100.0,
    "stepadj": 1.0,
    # after Fisher scoring has found the basin, finish with Newton steps (same root, quadratic
    # convergence); 0 gives metafor's plain Fisher scoring, e.g. with threshold=1e-5 to
    # reproduce metafor's default-control output step for step
    "newton": 1.0,
}


def _as_level(level: float) -> float:
    """Return alpha from a confidence level given as 95 or 0.95."""
    if not 0 < level < 100:
        raise ValueError(f"level must be between 0 and 100 (or 0 and 1), not {level}")
    return 1 - (level / 100 if level > 1 else level)


def _crit(alpha: float, df: float | None) -> float:
    if df is None:
        return float(-ndtri(alpha / 2))
    return float(stdtrit(df, 1 - alpha / 2))


def _pval(stat: np.ndarray, df: float | None) -> np.ndarray:
    if df is None:
        return 2 * ndtr(-np.abs(stat))
    return 2 * stdtr(df, -np.abs(stat))


@dataclass(repr=False)
class RMAResult:
    """A fitted meta-analytic model (metafor's ``rma.uni`` object).

    Fields use metafor's names: ``beta``, ``se``, ``zval``, ``pval``, ``ci_lb``, ``ci_ub``,
    ``vb``, ``tau2``, ``se_tau2``, ``I2``, ``H2``, ``QE``, ``QEp``, ``QM``, ``QMp``, ``R2``.
    """

    method: str
    test: str
    k: int
    p: int
    coef_names: list[str]
    beta: np.ndarray
    se: np.ndarray
    zval: np.ndarray
    pval: np.ndarray
    ci_lb: np.ndarray
    ci_ub: np.ndarray
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
        """Percentage weight of each study (metafor's ``weights()``)."""
        w = self.weights if self.weights is not None else 1 / (self.vi + self.tau2)
        return 100 * w / w.sum()

    def hat(self) -> np.ndarray:
        """Leverages: diagonal of X (XᵀW X)⁻¹ XᵀW (metafor's ``hatvalues()``)."""
        w = self.weights if self.weights is not None else 1 / (self.vi + self.tau2)
        proj = _proj(self.X, w)
        h = proj.h * w
        h[h > 1 - 10 * np.finfo(float).eps] = 1.0
        return h

    def fitted(self) -> np.ndarray:
        return self.X @ self.beta

    def logLik(self) -> float:
        kind = "REML" if self.method == "REML" else "ML"
        return self.fit_stats[kind]["logLik"]

    # -- tables ----------------------------------------------------------------------------
    def coef_table(self) -> pd.DataFrame:
        """Tidy table of the fixed effects (estimate, se, z or t, p, CI)."""
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
        """One row per study: effect, its CI, and its weight in the model."""
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

    # -- leave-one-out and influence -------------------------------------------------------
    def _refit(self, keep: np.ndarray, **kw: Any) -> RMAResult:
        weights = None if self.weights is None else self.weights[keep]
        X = self.X[keep]
        return _fit(
            self.yi[keep], self.vi[keep], X, self.coef_names, self.int_incl,
            method=self.method, test=self.test, weights=weights, level=self.level,
            tau2_value=self.tau2 if self.tau2_fixed else None, control=self.control,
            btt=None, slab=[s for s, kp in zip(self.slab, keep, strict=True) if kp],
            skip_r2=True, **kw,
        )

    def leave1out(self) -> pd.DataFrame:
        """Refit the model k times, leaving out each study in turn (metafor ``leave1out``)."""
        if not self.int_only:
            raise ValueError("leave1out is for intercept-only models")
        if self.k == 1:
            raise ValueError("leave1out needs k > 1")
        rows = []
        for i in range(self.k):
            keep = np.ones(self.k, dtype=bool)
            keep[i] = False
            try:
                r = self._refit(keep)
            except (ValueError, np.linalg.LinAlgError):
                rows.append({"study": self.slab[i]})
                continue
            rows.append(
                {"study": self.slab[i], "estimate": r.beta[0], "se": r.se[0],
                 "zval" if r.ddf is None else "tval": r.zval[0], "pval": r.pval[0],
                 "ci_lb": r.ci_lb[0], "ci_ub": r.ci_ub[0], "Q": r.QE, "Qp": r.QEp,
                 "tau2": r.tau2, "I2": r.I2, "H2": r.H2}
            )
        out = pd.DataFrame(rows)
        if self.is_fixed:
            out = out.drop(columns="tau2")
        return out

    def cumul(self, order: Any = None, *, decreasing: bool = False) -> pd.DataFrame:
        """Cumulative meta-analysis (metafor ``cumul``): the model refitted after adding the
        studies one at a time, in data order or sorted by ``order`` (e.g. publication year)."""
        if not self.int_only:
            raise ValueError("cumulative meta-analysis is for models without moderators")
        if order is None:
            idx = np.arange(self.k)
        else:
            key = np.asarray(order)
            if key.size != self.k:
                raise ValueError(f"order has {key.size} values for {self.k} studies")
            idx = np.argsort(-key if decreasing else key, kind="stable")
        rows = []
        for n in range(1, self.k + 1):
            keep = np.zeros(self.k, dtype=bool)
            sel = idx[:n]
            keep[sel] = True
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                r = _fit(self.yi[sel], self.vi[sel], self.X[sel], self.coef_names,
                         self.int_incl, method=self.method, test=self.test,
                         weights=None if self.weights is None else self.weights[sel],
                         level=self.level,
                         tau2_value=self.tau2 if self.tau2_fixed else None,
                         control=self.control, btt=None, slab=None, skip_r2=True)
            rows.append(
                {"study": self.slab[sel[-1]], "estimate": r.beta[0], "se": r.se[0],
                 "zval" if r.ddf is None else "tval": r.zval[0], "pval": r.pval[0],
                 "ci_lb": r.ci_lb[0], "ci_ub": r.ci_ub[0], "Q": r.QE, "Qp": r.QEp,
                 "tau2": r.tau2, "I2": r.I2, "H2": r.H2}
            )
        return pd.DataFrame(rows)

    def influence(self) -> pd.DataFrame:
        """Case diagnostics (metafor ``influence``): externally standardised residuals
        (``rstudent``), DFFITS, Cook's distance, covariance ratio, leave-one-out τ² and QE,
        hat values, weights (%), DFBETAS (``dfbs_<term>``) and the ``inf`` flag set by
        metafor's cut-offs.
        """
        if self.k == 1:
            raise ValueError("influence diagnostics need k > 1")
        k, p = self.k, self.p
        X, a = self.X, self.weights
        if a is not None:
            # user weights: H = X (XᵀAX)⁻¹ XᵀA and sandwich variances, as metafor
            MA = np.linalg.inv(X.T @ (X * a[:, None]))
        btt = list(range(p))
        if not np.linalg.det(self.vb) > 0:
            raise ValueError("influence diagnostics are undefined: the variance of the "
                             "estimates is zero (e.g. Knapp-Hartung with identical effects)")
        svb = np.linalg.inv(self.vb[np.ix_(btt, btt)])
        det_full = np.linalg.det(self.vb[np.ix_(btt, btt)])
        hat = self.hat()
        pred_full = self.X @ self.beta
        cols = {n: np.full(k, np.nan) for n in
                ("delpred", "vdelpred", "s2w", "tau2_del", "QE_del", "dffits", "cook_d",
                 "cov_r")}
        dfbs = np.full((k, p), np.nan)
        for i in range(k):
            keep = np.ones(k, dtype=bool)
            keep[i] = False
            try:
                r = self._refit(keep, light=True)
            except (ValueError, np.linalg.LinAlgError):
                continue
            xi = self.X[i]
            cols["tau2_del"][i] = r.tau2
            cols["QE_del"][i] = r.QE
            cols["delpred"][i] = xi @ r.beta
            cols["vdelpred"][i] = xi @ r.vb @ xi
            cols["s2w"][i] = r.s2w
            if a is None:
                dffits_var = hat[i] * (r.tau2 + self.vi[i])
                vb_del = np.linalg.inv(X.T @ (X / (self.vi + r.tau2)[:, None]))
            else:
                G = X.T @ (X * (a * a * (self.vi + r.tau2))[:, None])
                vb_del = MA @ G @ MA
                dffits_var = float(xi @ vb_del @ xi)  # diag(H diag(v + tau2_del) Hᵀ)_i
            cols["dffits"][i] = (pred_full[i] - cols["delpred"][i]) / math.sqrt(
                r.s2w * dffits_var
            )
            dfb = self.beta - r.beta
            dfbs[i] = dfb / np.sqrt(r.s2w * np.diag(vb_del))
            cols["cook_d"][i] = dfb[btt] @ svb @ dfb[btt]
            cols["cov_r"][i] = np.linalg.det(r.vb[np.ix_(btt, btt)]) / det_full
        resid = self.yi - cols["delpred"]
        resid[np.abs(resid) < 100 * np.finfo(float).eps] = 0
        seresid = np.sqrt(self.vi * cols["s2w"] + cols["vdelpred"] + cols["tau2_del"] * cols["s2w"])
        out = pd.DataFrame(
            {
                "study": self.slab,
                "rstudent": resid / seresid,
                "dffits": cols["dffits"],
                "cook_d": cols["cook_d"],
                "cov_r": cols["cov_r"],
                "tau2_del": cols["tau2_del"],
                "QE_del": cols["QE_del"],
                "hat": hat,
                "weight": self.weights_percent(),
            }
        )
        for j, name in enumerate(self.coef_names):
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

    # -- publication bias shortcuts --------------------------------------------------------
    def regtest(self, **kw: Any) -> Any:
        from attunement.evidence.bias import regtest

        return regtest(self, **kw)

    def ranktest(self) -> Any:
        from attunement.evidence.bias import ranktest

        return ranktest(self)

    def trimfill(self, **kw: Any) -> Any:
        from attunement.evidence.bias import trimfill

        return trimfill(self, **kw)

    def robust(self, cluster: Any, *, adjust: bool = True,
               clubSandwich: bool = False) -> Any:
        """Cluster-robust tests (metafor ``robust``): CR1 by default, CR2 with Satterthwaite
        df and the HTZ test with ``clubSandwich=True``; see :func:`attunement.evidence.robust`.
        """
        from attunement.evidence.robust import robust

        return robust(self, cluster, adjust=adjust, clubSandwich=clubSandwich)

    def permutest(self, **kw: Any) -> Any:
        """Permutation test; see :func:`attunement.evidence.permutation.permutest`."""
        from attunement.evidence.permutation import permutest

        return permutest(self, **kw)

    def anova(self, other: RMAResult | None = None, **kw: Any) -> Any:
        """Wald test (``X=``/``btt=``) or LRT against ``other``; see ``evidence.tests_anova``."""
        from attunement.evidence.tests_anova import anova

        return anova(self, other, **kw)

    def blup(self) -> pd.DataFrame:
        """BLUPs of the true effects; see :func:`attunement.evidence.diagnostics_more.blup`."""
        from attunement.evidence.diagnostics_more import blup

        return blup(self)

    def vif(self, btt: Any = None) -> pd.DataFrame:
        """(Generalised) VIFs; see :func:`attunement.evidence.diagnostics_more.vif`."""
        from attunement.evidence.diagnostics_more import vif

        return vif(self, btt)

    def selmodel(self, steps: Any = None, *, type: str = "stepfun") -> Any:
        """Step-function or beta selection model; see ``evidence.selection.selmodel``."""
        from attunement.evidence.selection import selmodel

        return selmodel(self, steps, type=type)

    def hc(self) -> Any:
        """Henmi-Copas CI; see :func:`attunement.evidence.selection.hc`."""
        from attunement.evidence.selection import hc

        return hc(self)

    def profile(self, **kw: Any) -> pd.DataFrame:
        """Profile log-likelihood of tau^2; see ``evidence.diagnostics_more.profile_tau2``."""
        from attunement.evidence.diagnostics_more import profile_tau2

        return profile_tau2(self, **kw)

    # -- output ----------------------------------------------------------------------------
    def to_dict(self, *, with_confint: bool = True, with_egger: bool = True) -> dict[str, Any]:
        """Plain-JSON summary (the keys of ``attunement meta --json``)."""
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

    def summary(self) -> str:
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
# Fitting
# ------------------------------------------------------------------------------------------
def _is_intercept(X: np.ndarray) -> bool:
    return X.shape[1] == 1 and X[0, 0] == 1.0 and bool(np.all(X == 1.0))


def _proj(X: np.ndarray, a: np.ndarray) -> Any:
    """P for weights ``a``; scalar sums when X is the intercept column."""
    return Projection.build(X, a, _is_intercept(X))


def _q_generalised(tau2: float, y: np.ndarray, v: np.ndarray, X: np.ndarray) -> float:
    """Generalised Q: Σ wᵢ (yᵢ − xᵢᵀβ̂)² with wᵢ = 1/(vᵢ + τ²)."""
    w = 1.0 / (v + tau2)
    if _is_intercept(X):
        sw = w.sum()
        e = y - np.dot(w, y) / sw
        return float(np.dot(w * e, e))
    return _proj(X, w).quad(y)


def _fixed_effects(y, v, X, w):
    proj = _proj(X, w)
    beta = proj.coef(y)
    return proj, beta


def _tau2_estimate(method, y, ymc, v, X, k, p, weights, ctrl, tau2_value):
    """Return (tau2, se_tau2, iterations) following rma.uni's estimator code."""
    tmin = ctrl["tau2_min"]
    if tau2_value is not None:
        fixed = True
    else:
        fixed = False
    it = 0
    if method in {"HS", "HSk", "DL"}:
        w = 1.0 / v
        P = _proj(X, w)
        RSS = P.quad(ymc)
        if method == "DL":
            trP = P.trace()
            tau2 = tau2_value if fixed else (RSS - (k - p)) / trP
        elif method == "HS":
            tau2 = tau2_value if fixed else (RSS - k) / w.sum()
        else:
            tau2 = tau2_value if fixed else (k / (k - p) * RSS - k) / w.sum()
        tau2 = max(tmin, tau2)
        t = max(tau2, 0.0)
        sPP = P.tr_pvpu()
        if method == "DL":
            se = math.sqrt((2 * (k - p) + 4 * t * trP + 2 * t * t * sPP) / trP**2)
        else:
            se = math.sqrt((2 * (k - p) + 4 * t * P.trace() + 2 * t * t * sPP) / w.sum() ** 2)
            if method == "HSk":
                se *= k / (k - p)
        return tau2, se, it, None
    if method == "GENQ":
        P = _proj(X, weights)
        RSS = P.quad(ymc)
        trP = P.trace()
        trPV = float(np.sum(P.diag() * v))
        tau2 = tau2_value if fixed else (RSS - trPV) / trP
        tau2 = max(tmin, tau2)
        t = max(tau2, 0.0)
        se = math.sqrt(
            (2 * P.tr_pvpu(v, v) + 4 * t * P.tr_pvpu(v, 1.0) + 2 * t * t * P.tr_pvpu()) / trP**2
        )
        return tau2, se, it, None
    if method == "SJ":
        tau2_0 = float(np.mean(ymc**2))
        P = _proj(X, 1.0 / (v + tau2_0))
        RSS = P.quad(ymc)
        tau2 = tau2_value if fixed else tau2_0 * RSS / (k - p)
        tau2 = max(tmin, tau2)
        t = max(tau2, 0.0)
        se = math.sqrt(
            tau2_0**2 / (k - p) ** 2
            * (2 * P.tr_pvpu(v, v) + 4 * t * P.tr_pvpu(v, 1.0) + 2 * t * t * P.tr_pvpu())
        )
        return tau2, se, it, None
    if method in {"PM", "EB"}:
        # EB (Morris) solves the same estimating equation as PM, Q(tau^2) = k - p (metafor's
        # output agrees on every fixture data set); solving it by bracketing instead of
        # metafor's linearly converging iteration gives the root to full precision.
        target = k - p
        if fixed:
            tau2 = tau2_value
        elif _q_generalised(tmin, ymc, v, X) < target:
            tau2 = tmin
        else:
            tmax = ctrl["tau2_max"]
            while _q_generalised(tmax, ymc, v, X) > target:
                tmax *= 10
                if tmax > 1e12:
                    raise ValueError("PM estimator: no root for tau^2 below 1e12")
            tau2 = brentq(lambda t: _q_generalised(t, ymc, v, X) - target, tmin, tmax,
                          xtol=ctrl["tol"] * 1e-2, rtol=4 * np.finfo(float).eps, maxiter=10000)
        tau2 = max(tmin, tau2)
        w = 1 / (v + tau2)
        se = math.sqrt(2 * k**2 / (k - p) / w.sum() ** 2)
        return tau2, se, it, None
    # HE, and the starting value of ML / REML / EB
    if method != "HE" and _is_intercept(X):
        # P = I - J/k: RSS = Σ(y - ȳ)², tr(PV) = (1 - 1/k) Σv
        tau2 = tau2_value if fixed else (
            float(np.dot(ymc, ymc)) - (1 - 1 / k) * float(v.sum())) / (k - 1)
    else:
        Pi = _proj(X, np.ones(k))
        RSS = Pi.quad(ymc)
        trPV = float(np.dot(Pi.diag(), v))
        tau2 = tau2_value if fixed else (RSS - trPV) / (k - p)
    if method == "HE":
        tau2 = max(tmin, tau2)
        t = max(tau2, 0.0)
        se = math.sqrt(
            (2 * Pi.tr_pvpu(v, v) + 4 * t * trPV + 2 * t * t * (k - p)) / (k - p) ** 2
        )
        return tau2, se, it, None
    tau2 = max(0.0, tau2, tmin)
    if fixed:
        tau2 = tau2_value
    sums = _InterceptSums(ymc, v) if _is_intercept(X) else None
    tau2, it = _fisher_scoring(method, ymc, v, X, k, p, tau2, ctrl, fixed, sums)
    if method in {"ML", "REML"} and not fixed:
        tau2 = _ll0check(method, y, v, X, k, p, tau2, ctrl, sums)
    tau2 = max(tmin, tau2)
    if sums is not None:
        sw, sw2, sw3, *_ = sums.at(tau2)
        if method == "ML":
            se = math.sqrt(2 / sw2)
        elif method == "REML":
            se = math.sqrt(2 / (sw2 - 2 * sw3 / sw + (sw2 / sw) ** 2))
        else:
            se = math.sqrt(2 * k**2 / (k - p) / sw**2)
        return tau2, se, it, sums
    w = 1 / (v + tau2)
    if method == "ML":
        se = math.sqrt(2 / np.sum(w * w))
    elif method == "REML":
        se = math.sqrt(2 / _proj(X, w).tr_pvpu())
    else:
        se = math.sqrt(2 * k**2 / (k - p) / w.sum() ** 2)
    return tau2, se, it, None


def _fisher_scoring(method, ymc, v, X, k, p, tau2, ctrl, fixed, sums=None):
    threshold, maxiter, tmin = ctrl["threshold"], int(ctrl["maxiter"]), ctrl["tau2_min"]
    stepadj = ctrl["stepadj"]
    int_only = sums is not None
    newton = False
    it = 0
    change = threshold + 1
    while change > threshold:
        it += 1
        old = tau2
        if int_only:
            sw, sw2, sw3, q, PyPy, dA = sums.at(tau2)
            if method == "EB":
                adj = (q * k / (k - p) - k) / sw
                dS = 0.0
            elif method == "ML":
                score = PyPy - sw
                adj = score / sw2
                dS = dA + sw2
            else:
                trP = sw - sw2 / sw
                score = PyPy - trP
                adj = score / (sw2 - 2 * sw3 / sw + (sw2 / sw) ** 2)
                dS = dA + sw2 - 2 * sw3 / sw + (sw2 / sw) ** 2
            # Fisher scoring decides the basin (as metafor); near the root Newton steps with
            # the observed information (same root, quadratic convergence) finish the job.
            if newton and dS < 0:
                adj = -score / dS
                if abs(adj) < 1e-7 * (1 + tau2) and tau2 + adj >= tmin:
                    # quadratic convergence: the error after this step is ~adj², far below
                    # the threshold, so the confirming iteration metafor would run is skipped
                    return tau2 + adj, it
            elif abs(adj) < 1e-3 * (1 + tau2):
                newton = method != "EB" and bool(ctrl["newton"])
        else:
            w = 1.0 / (v + tau2)
            P = _proj(X, w)
            Py = P.apply(ymc)
            if method == "EB":
                adj = (np.dot(Py, ymc) * k / (k - p) - k) / w.sum()
            elif method == "ML":
                adj = (np.dot(Py, Py) - w.sum()) / np.dot(w, w)
            else:
                adj = (np.dot(Py, Py) - P.trace()) / P.tr_pvpu()
        adj = float(adj) * stepadj
        if math.isnan(adj):
            adj = 0.0
        if tau2 <= tmin and adj < 0:
            adj = 0.0
        while tau2 + adj < tmin:
            adj /= 2
        tau2 = old if fixed else tau2 + adj
        change = abs(old - tau2)
        if it > maxiter:
            # Fisher scoring can cycle (metafor then stops with an error); the estimate is
            # still the root of the same score equation, so find it by bracketing instead.
            return _score_root(method, ymc, v, X, k, p, ctrl), it
    return tau2, it


class _InterceptSums:
    """Weighted sums for an intercept-only model in one matrix product per value of tau^2:
    Σw, Σw², Σw³, Q = Σw(y − ȳ_w)² and Σw²(y − ȳ_w)² (the O(k) core of the iterations)."""

    __slots__ = ("B", "Wp", "last", "logsums", "v")

    def __init__(self, y: np.ndarray, v: np.ndarray) -> None:
        self.B = np.vstack([np.ones_like(y), y, y * y])
        self.Wp = np.empty((3, y.size))
        self.v = v
        self.logsums: dict[float, float] = {}
        self.last: tuple[float, tuple[float, ...]] = (math.nan, ())

    def logsum(self, tau2: float) -> float:
        """Σ log(v + τ²), remembered (the likelihood check and the fit statistics share it)."""
        out = self.logsums.get(tau2)
        if out is None:
            out = self.logsums[tau2] = float(np.sum(np.log(self.v + tau2)))
        return out

    def at(self, tau2: float) -> tuple[float, ...]:
        """Σw, Σw², Σw³, Q, A = Σw²e² and dA/dτ², with w = 1/(v + τ²), e = y − ȳ_w."""
        if tau2 == self.last[0]:
            return self.last[1]
        w, w2, w3 = self.Wp
        np.add(self.v, tau2, out=w)
        np.reciprocal(w, out=w)
        np.multiply(w, w, out=w2)
        np.multiply(w2, w, out=w3)
        (a1, a2, a3), (b1, b2, b3), (c1, c2, c3) = (self.B @ self.Wp.T).tolist()
        mu = b1 / a1
        dmu = (b1 * a2 - b2 * a1) / (a1 * a1)
        A = c2 - 2 * mu * b2 + mu * mu * a2
        dA = -2 * c3 - 2 * dmu * b2 + 4 * mu * b3 + 2 * mu * dmu * a2 - 2 * mu * mu * a3
        out = (a1, a2, a3, c1 - mu * b1, A, dA)
        self.last = (tau2, out)
        return out


def _score(method, t, ymc, v, X, k, p):
    """Score of the (restricted) likelihood in tau^2, up to a positive factor."""
    w = 1.0 / (v + t)
    P = _proj(X, w)
    Py = P.apply(ymc)
    if method == "EB":
        return float(np.dot(Py, ymc)) * k / (k - p) - k
    if method == "ML":
        return float(np.dot(Py, Py) - w.sum())
    return float(np.dot(Py, Py) - P.trace())


def _score_root(method, ymc, v, X, k, p, ctrl):
    tmin = ctrl["tau2_min"]
    if _score(method, tmin, ymc, v, X, k, p) <= 0:
        return tmin
    hi = max(ctrl["tau2_max"], 1.0)
    while _score(method, hi, ymc, v, X, k, p) > 0:
        hi *= 10
        if hi > 1e12:
            raise ValueError(f"could not bracket the {method} estimate of tau^2")
    return brentq(lambda t: _score(method, t, ymc, v, X, k, p), tmin, hi,
                  xtol=ctrl["tol"] * 1e-2, rtol=4 * np.finfo(float).eps, maxiter=10000)


def _ll_at(method, y, v, X, k, p, tau2):
    w = 1.0 / (v + tau2)
    P = _proj(X, w)
    RSS = P.quad(y)
    XtWX = np.linalg.inv(P.M)
    if method == "ML":
        return -0.5 * k * _LOG2PI - 0.5 * float(np.sum(np.log(v + tau2))) - 0.5 * RSS
    return (
        -0.5 * (k - p) * _LOG2PI
        - 0.5 * float(np.sum(np.log(v + tau2)))
        - 0.5 * logdet(XtWX)
        - 0.5 * RSS
    )


def _ll0check(method, y, v, X, k, p, tau2, ctrl, sums=None):
    if sums is not None:
        lls = []
        for t in (0.0, tau2):
            sw, _, _, q, *_ = sums.at(t)
            ll_t = -0.5 * sums.logsum(t) - 0.5 * q
            lls.append(ll_t - 0.5 * math.log(sw) if method == "REML" else ll_t)
        ll0, ll = lls
    else:
        ymc = y - y.mean()
        ll0 = _ll_at(method, ymc, v, X, k, p, 0.0)
        ll = _ll_at(method, ymc, v, X, k, p, tau2)
    if ll0 - ll > ctrl["tol"] and tau2 > ctrl["threshold"]:
        warnings.warn(
            "Fisher scoring may have stopped at a local maximum; setting tau^2 = 0",
            stacklevel=4,
        )
        return 0.0
    return tau2


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
    se_tau2 = float("nan")
    iterations = 0
    cache = None
    if method in _FIXED:
        tau2 = 0.0
    elif k == 1:
        tau2 = 0.0 if tau2_value is None else tau2_value
    else:
        tau2, se_tau2, iterations, cache = _tau2_estimate(
            method, y, ymc, v, X, k, p, weights, control, tau2_value
        )
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
        kk = max(k, parms + 2)
        kr = max(k - p, parms + 2)
        fit_stats = {
            "ML": {
                "logLik": ll_ml,
                "deviance": dev_ml,
                "AIC": -2 * ll_ml + 2 * parms,
                "BIC": -2 * ll_ml + parms * math.log(k),
                "AICc": -2 * ll_ml + 2 * parms * kk / (kk - parms - 1),
            },
            "REML": {
                "logLik": ll_reml,
                "deviance": -2 * ll_reml,
                "AIC": -2 * ll_reml + 2 * parms,
                "BIC": -2 * ll_reml + parms * math.log(k - p) if k > p else float("nan"),
                "AICc": -2 * ll_reml + 2 * parms * kr / (kr - parms - 1),
            },
        }

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
        kk, kr = max(k, parms + 2), max(k - 1, parms + 2)
        fit_stats = {
            "ML": {"logLik": ll_ml, "deviance": dev_ml, "AIC": -2 * ll_ml + 2 * parms,
                   "BIC": -2 * ll_ml + parms * math.log(k),
                   "AICc": -2 * ll_ml + 2 * parms * kk / (kk - parms - 1)},
            "REML": {"logLik": ll_reml, "deviance": -2 * ll_reml,
                     "AIC": -2 * ll_reml + 2 * parms,
                     "BIC": -2 * ll_reml + parms * math.log(k - 1),
                     "AICc": -2 * ll_reml + 2 * parms * kr / (kr - parms - 1)},
        }
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


def subgroup_analysis(fit: RMAResult, groups: Sequence[Any]) -> tuple[pd.DataFrame, dict]:
    """Subgroup analysis both ways users expect: a separate model per subgroup
    (the fit's τ² estimator and test) and the test of subgroup differences, QM from the
    mixed-effects model with the subgroup as a categorical moderator (common τ²).

    Returns one row per subgroup (k, estimate, se, CI, τ², I²) and the test as a dict.
    """
    if not fit.int_only:
        raise ValueError("subgroup analysis starts from a model without moderators")
    labels = pd.Series([None if g is None or (isinstance(g, float) and math.isnan(g))
                        else str(g) for g in groups])
    if len(labels) != fit.k:
        raise ValueError(f"{len(labels)} subgroup labels for {fit.k} studies")
    if labels.isna().any():
        raise ValueError("every study needs a subgroup label")
    rows = []
    for level in dict.fromkeys(labels):
        idx = np.flatnonzero(labels.to_numpy() == level)
        row: dict[str, Any] = {"subgroup": level, "k": idx.size}
        if idx.size >= 2 or fit.is_fixed:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                sub = rma(fit.yi[idx], fit.vi[idx], method=fit.method, test=fit.test,
                          level=fit.level, control=fit.control)
            row.update(estimate=sub.beta[0], se=sub.se[0], ci_lb=sub.ci_lb[0],
                       ci_ub=sub.ci_ub[0], pval=sub.pval[0], tau2=sub.tau2, I2=sub.I2,
                       Q=sub.QE, Q_p=sub.QEp)
        else:
            crit = _crit(fit.alpha, None)
            y0, se0 = fit.yi[idx[0]], math.sqrt(fit.vi[idx[0]])
            row.update(estimate=y0, se=se0, ci_lb=y0 - crit * se0, ci_ub=y0 + crit * se0)
        rows.append(row)
    table = pd.DataFrame(rows)
    test: dict[str, Any] = {}
    if table.shape[0] > 1:
        mixed = rma(fit.yi, fit.vi, mods=pd.DataFrame({"subgroup": labels}), method=fit.method,
                    test=fit.test, level=fit.level, control=fit.control)
        test = {"QM": mixed.QM, "df": mixed.QM_df[0] if mixed.QM_df[1] is None
                else list(mixed.QM_df), "pval": mixed.QMp, "tau2_common": mixed.tau2,
                "statistic": "chisq" if mixed.ddf is None else "F"}
    return table, test


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


# ------------------------------------------------------------------------------------------
# Front end
# ------------------------------------------------------------------------------------------
_FACTOR = re.compile(r"^(?:factor|C)\((\w+)\)$")


def _design(mods: Any, data: pd.DataFrame | None, k: int, intercept: bool):
    """Build the model matrix from ``mods`` (names, a formula string, an array or a frame)."""
    if mods is None:
        return np.ones((k, 1)), ["intrcpt"], True, []
    terms: list[tuple[str, np.ndarray | pd.Series, bool]] = []
    if isinstance(mods, str):
        formula = mods.strip().lstrip("~").strip()
        parts = [t.strip() for t in re.split(r"\s*\+\s*|\s*-\s*(?=1\b)", formula) if t.strip()]
        if re.search(r"-\s*1\b", formula) or "0" in parts:
            intercept = False
        parts = [t for t in parts if t not in {"1", "0"}]
        if data is None:
            raise ValueError("a moderator formula needs data")
        for term in parts:
            m = _FACTOR.match(term)
            col = m.group(1) if m else term
            if col not in data.columns:
                raise ValueError(f"moderator column {col!r} not found in the data")
            terms.append((col, data[col], bool(m)))
    elif isinstance(mods, pd.DataFrame):
        for col in mods.columns:
            terms.append((str(col), mods[col], False))
    elif isinstance(mods, pd.Series):
        terms.append((str(mods.name or "mods"), mods, False))
    elif isinstance(mods, (list, tuple)) and mods and all(isinstance(m, str) for m in mods):
        if data is None:
            raise ValueError("moderator names need data")
        for col in mods:
            m = _FACTOR.match(col)
            name = m.group(1) if m else col
            if name not in data.columns:
                raise ValueError(f"moderator column {name!r} not found in the data")
            terms.append((name, data[name], bool(m)))
    else:
        arr = np.asarray(mods, dtype=float)
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.shape[0] != k:
            raise ValueError(f"mods has {arr.shape[0]} rows, expected {k}")
        for j in range(arr.shape[1]):
            terms.append((f"mods{j + 1}" if arr.shape[1] > 1 else "mods", arr[:, j], False))
    cols: list[np.ndarray] = []
    names: list[str] = []
    categorical: list[str] = []
    first_factor = True
    for name, values, as_factor in terms:
        s = pd.Series(values).reset_index(drop=True)
        if len(s) != k:
            raise ValueError(f"moderator {name!r} has {len(s)} values, expected {k}")
        is_cat = as_factor or not pd.api.types.is_numeric_dtype(s) or isinstance(
            s.dtype, pd.CategoricalDtype
        )
        if is_cat:
            categorical.append(name)
            cat = s.astype("category")
            levels = list(cat.cat.categories)
            drop_first = intercept or not first_factor
            first_factor = False
            missing = s.isna().to_numpy()
            for lev in levels[1:] if drop_first else levels:
                col = (s == lev).to_numpy(dtype=float)
                col[missing] = np.nan
                cols.append(col)
                names.append(f"{name}[{lev}]")
        else:
            cols.append(s.to_numpy(dtype=float))
            names.append(name)
    X = np.column_stack(cols) if cols else np.empty((k, 0))
    if intercept:
        X = np.column_stack([np.ones(k), X])
        names = ["intrcpt", *names]
    return X, names, intercept, categorical


def _vector(name: str, value: Any, data: pd.DataFrame | None) -> np.ndarray | None:
    if value is None:
        return None
    if isinstance(value, str):
        if data is None or value not in data.columns:
            raise ValueError(f"column {value!r} (for {name}) not found in the data")
        try:
            return pd.to_numeric(data[value], errors="raise").to_numpy(dtype=float)
        except (TypeError, ValueError):
            raise ValueError(f"column {value!r} (for {name}) must be numeric") from None
    return np.asarray(value, dtype=float).ravel()


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
) -> RMAResult:
    """Fit a fixed-, random- or mixed-effects meta-analytic model (metafor's ``rma``).

    ``yi``/``vi`` (or ``sei``) are arrays or column names in ``data``; a data frame returned by
    :func:`escalc` can be passed as ``yi`` (its ``yi``/``vi`` columns are used) or as
    ``data``. ``method``: ``FE``/``EE`` (common effect), ``DL``, ``HE``, ``HS``, ``HSk``,
    ``SJ``, ``ML``, ``REML`` (default), ``EB``, ``PM``, ``GENQ`` (needs ``weights``).
    ``test``: ``z`` (default), ``knha`` (Knapp–Hartung), ``t``, ``adhoc``. ``mods``: moderator
    column names, a formula string like ``"~ ablat + factor(alloc)"``, or an array; text
    columns are treated as categorical (first level is the reference) and ``- 1`` fits cell
    means. ``btt``: 0-based indices of the coefficients in the omnibus test. ``tau2``: fix τ²
    instead of estimating it. ``na_action``: ``"fail"`` (default: an error naming the studies
    with missing values) or ``"omit"`` (leave them out with a warning, metafor's default).
    ``control``: ``threshold`` (1e-12), ``tol`` (1e-12), ``maxiter``, ``tau2_min``,
    ``tau2_max``, ``stepadj`` and ``newton`` (1; 0 with ``threshold=1e-5`` reproduces
    metafor's default Fisher scoring exactly).

    >>> fit = rma([-0.89, -1.59, -1.35, -1.44], [0.33, 0.19, 0.42, 0.02], method="DL")
    >>> round(fit.estimate, 8), fit.tau2      # metafor: -1.42201089, 0
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

    int_model = mods is None
    if int_model and w_user is None:
        has_na = np.isnan(y) | np.isnan(v) if np.isnan(y.sum() + v.sum()) else None
    else:
        has_na = np.isnan(y) | np.isnan(v) | np.isnan(X).any(axis=1)
        if w_user is not None:
            has_na |= np.isnan(w_user)
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
    res = _fit(
        y, v, X, names, int_incl, method=method, test=test, weights=w_user, level=level,
        tau2_value=tau2, control=ctrl, btt=btt, slab=labels,
    )
    if data is not None:
        res.measure = data.attrs.get("measure")
    return res


# ------------------------------------------------------------------------------------------
# Printing
# ------------------------------------------------------------------------------------------
def _model_label(r: RMAResult) -> str:
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


def _format(r: RMAResult) -> str:
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
    stat = "zval" if r.ddf is None else "tval"
    name_w = 0 if r.int_only else max(len(n) for n in r.coef_names) + 2
    cols = ["estimate", "se", stat] + (["df"] if r.ddf is not None else []) + [
        "pval", "ci.lb", "ci.ub"]
    widths = [10, 10, 10] + ([5] if r.ddf is not None else []) + [10, 10, 10]
    lines.append(" " * name_w + "".join(f"{c:>{w}}" for c, w in zip(cols, widths, strict=True)))
    for i, name in enumerate(r.coef_names):
        vals = [f"{r.beta[i]:.4f}", f"{r.se[i]:.4f}", f"{r.zval[i]:.4f}"]
        if r.ddf is not None:
            vals.append(str(r.ddf))
        vals += [_fmt_p(r.pval[i]), f"{r.ci_lb[i]:.4f}", f"{r.ci_ub[i]:.4f}"]
        row = "".join(f"{val:>{w}}" for val, w in zip(vals, widths, strict=True))
        lines.append((("" if r.int_only else f"{name:<{name_w}}") + row + "  "
                      + _stars(r.pval[i])).rstrip())
    if r.int_only and not r.is_fixed:
        pr = r.predict()
        q = f"t({r.ddf})" if r.ddf is not None else "z"
        lines += ["", f"Prediction interval ({q} quantile): "
                      f"{pr.pi_lb.iloc[0]:.4f} to {pr.pi_ub.iloc[0]:.4f}"]
    lines += ["", "---", "Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1"]
    return "\n".join(lines)
