"""Estimators of the between-study variance τ² of metafor's ``rma.uni``, one class per method.

Every estimator has the same interface, :meth:`Tau2Estimator.estimate`, and returns a
:class:`Tau2Estimate` (τ̂², its standard error, the iterations it took); :data:`ESTIMATORS`
maps metafor's method names to them and is the only place a method name is looked up.

Methods and their sources (formulas and standard errors as in metafor 3.8, Viechtbauer 2010,
https://doi.org/10.18637/jss.v036.i03; see ``docs/statistics/evidence.md``):

- ``EE``/``FE``/``CE``: common effect, τ² = 0.
- ``DL``: DerSimonian & Laird (1986), https://doi.org/10.1016/0197-2456(86)90046-2.
- ``HE``: Hedges (1983), Hedges & Olkin (1985), unweighted method of moments.
- ``HS``/``HSk``: Hunter & Schmidt (2004); ``HSk`` with the k/(k − p) correction.
- ``SJ``: Sidik & Jonkman (2005), https://doi.org/10.1081/BIP-200067915.
- ``ML``/``REML``: (restricted) maximum likelihood by Fisher scoring (Raudenbush 2009).
- ``PM``: Paule & Mandel (1982); ``EB``: Morris (1983) empirical Bayes, the same estimating
  equation Q(τ²) = k − p.
- ``GENQ``: generalised Q with user weights (DerSimonian & Kacker 2007,
  https://doi.org/10.1016/j.cct.2006.04.004).

An estimator used on its own: the DerSimonian–Laird τ² of the BCG log risk ratios (R:
``rma(yi, vi, data = dat, method = "DL")`` gives τ² = 0.3088, SE 0.2299):

>>> from attunement.evidence import escalc
>>> from attunement.evidence.datasets import dat_bcg
>>> dat = escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=dat_bcg())
>>> y, v = dat.yi.to_numpy(), dat.vi.to_numpy()
>>> est = ESTIMATORS["DL"].estimate(y, y - y.mean(), v, np.ones((13, 1)), None, DEFAULT_CONTROL)
>>> round(est.tau2, 4), round(est.se, 4)
(0.3088, 0.2299)
"""

from __future__ import annotations

import math
import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from scipy.optimize import brentq

from attunement.evidence._core import _LOG2PI, _is_intercept, _proj, logdet

__all__ = ["DEFAULT_CONTROL", "ESTIMATORS", "Tau2Estimate", "Tau2Estimator"]

Array = np.ndarray
Control = dict[str, float]

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


@dataclass(frozen=True, slots=True)
class Tau2Estimate:
    """What an estimator returns: τ̂², its standard error and the iterations it took.

    ``sums`` carries the intercept-only weighted sums of the likelihood estimators, so the fit
    statistics reuse Σ log(vᵢ + τ²) instead of computing it again.
    """

    tau2: float
    se: float
    iterations: int = 0
    sums: _InterceptSums | None = None


class Tau2Estimator(ABC):
    """One estimator of τ² (metafor's ``method=``).

    A subclass implements :meth:`estimate`, which keeps this docstring when the subclass
    gives none (every estimator takes the same inputs).

    Examples
    --------
    ``rma`` looks the method up in :data:`ESTIMATORS`:

    >>> type(ESTIMATORS["REML"]).__name__, ESTIMATORS["REML"].random, ESTIMATORS["FE"].random
    ('MaximumLikelihood', True, False)
    """

    #: False for the common-effect methods, whose τ² is 0 by definition
    random: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("estimate")
        if own is not None and own.__doc__ is None:
            own.__doc__ = Tau2Estimator.estimate.__doc__

    @abstractmethod
    def estimate(
        self,
        y: np.ndarray,
        ymc: np.ndarray,
        v: np.ndarray,
        X: np.ndarray,
        weights: np.ndarray | None,
        ctrl: dict[str, float],
        tau2_value: float | None = None,
    ) -> Tau2Estimate:
        """Estimate τ² (or, with ``tau2_value``, take it as given and return its SE).

        Parameters
        ----------
        y, ymc : numpy.ndarray
            The effects, and the effects minus their mean.
        v : numpy.ndarray
            The sampling variances.
        X : numpy.ndarray
            The k × p model matrix.
        weights : numpy.ndarray or None
            User weights (``GENQ`` needs them; the others ignore them).
        ctrl : dict
            The ``control`` settings (``tau2_min``, ``tol``, ``threshold``, ...).
        tau2_value : float, optional
            A fixed τ².

        Returns
        -------
        Tau2Estimate
        """


class CommonEffect(Tau2Estimator):
    """``EE``/``FE``/``CE``: no between-study variance.

    Examples
    --------
    R: ``rma(yi, vi, data = dat, method = "EE")`` pools the BCG trials with τ² = 0 and
    estimate −0.4303:

    >>> from attunement.evidence import escalc, rma
    >>> from attunement.evidence.datasets import dat_bcg
    >>> dat = escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=dat_bcg())
    >>> common = rma(dat, method="EE")
    >>> common.tau2, round(common.estimate, 4)
    (0.0, -0.4303)
    """

    random = False

    def estimate(self, y: Array, ymc: Array, v: Array, X: Array, weights: Array | None,
                 ctrl: Control, tau2_value: float | None = None) -> Tau2Estimate:
        return Tau2Estimate(0.0, float("nan"))


def _moment_se(k: int, p: int, t: float, trace: float, sPP: float, scale: float) -> float:
    return math.sqrt((2 * (k - p) + 4 * t * trace + 2 * t * t * sPP) / scale**2)


class DerSimonianLaird(Tau2Estimator):
    """``DL``: (RSS − (k − p)) / tr(P) with the weights 1/vᵢ.

    Examples
    --------
    R: ``rma(yi, vi, data = dat.raudenbush1985, method = "DL")$tau2`` = 0.02590367.

    >>> from attunement.evidence import rma
    >>> from attunement.evidence.datasets import dat_raudenbush1985
    >>> round(rma("yi", "vi", data=dat_raudenbush1985(), method="DL").tau2, 8)
    0.02590367
    """

    def estimate(self, y: Array, ymc: Array, v: Array, X: Array, weights: Array | None,
                 ctrl: Control, tau2_value: float | None = None) -> Tau2Estimate:
        k, p = X.shape
        P = _proj(X, 1.0 / v)
        RSS = P.quad(ymc)
        trP = P.trace()
        tau2 = tau2_value if tau2_value is not None else (RSS - (k - p)) / trP
        tau2 = max(ctrl["tau2_min"], tau2)
        return Tau2Estimate(tau2, _moment_se(k, p, max(tau2, 0.0), trP, P.tr_pvpu(), trP))


class HunterSchmidt(Tau2Estimator):
    """``HS``: (RSS − k) / Σwᵢ; ``HSk`` (``small_k=True``) scales RSS and the SE by k/(k − p).

    Examples
    --------
    R: on the BCG log risk ratios ``method = "HS"`` gives τ² = 0.2284 and ``"HSk"`` 0.2492:

    >>> from attunement.evidence import escalc, rma
    >>> from attunement.evidence.datasets import dat_bcg
    >>> dat = escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=dat_bcg())
    >>> [round(rma(dat, method=m).tau2, 4) for m in ("HS", "HSk")]
    [0.2284, 0.2492]
    """

    def __init__(self, small_k: bool = False) -> None:
        self.small_k = small_k

    def estimate(self, y: Array, ymc: Array, v: Array, X: Array, weights: Array | None,
                 ctrl: Control, tau2_value: float | None = None) -> Tau2Estimate:
        k, p = X.shape
        w = 1.0 / v
        P = _proj(X, w)
        RSS = P.quad(ymc)
        if tau2_value is not None:
            tau2 = tau2_value
        elif self.small_k:
            tau2 = (k / (k - p) * RSS - k) / w.sum()
        else:
            tau2 = (RSS - k) / w.sum()
        tau2 = max(ctrl["tau2_min"], tau2)
        sPP = P.tr_pvpu()
        se = _moment_se(k, p, max(tau2, 0.0), P.trace(), sPP, w.sum())
        if self.small_k:
            se *= k / (k - p)
        return Tau2Estimate(tau2, se)


def _pvpu_se(P: Any, v: np.ndarray, t: float) -> float:
    """2 tr(PVPV) + 4τ² tr(PVP) + 2τ⁴ tr(PP): the numerator of the generalised-Q SEs."""
    return 2 * P.tr_pvpu(v, v) + 4 * t * P.tr_pvpu(v, 1.0) + 2 * t * t * P.tr_pvpu()


class GeneralisedQ(Tau2Estimator):
    """``GENQ``: (RSS − tr(PV)) / tr(P) with the user's weights.

    Examples
    --------
    With the weights 1/vᵢ it is the DerSimonian–Laird estimate; R: ``rma(yi, vi, data = dat,
    method = "GENQ", weights = 1/vi)`` gives τ² = 0.3088 (SE 0.2299) on the BCG trials:

    >>> from attunement.evidence import escalc, rma
    >>> from attunement.evidence.datasets import dat_bcg
    >>> dat = escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=dat_bcg())
    >>> genq = rma(dat, method="GENQ", weights=1 / dat.vi.to_numpy())
    >>> round(genq.tau2, 4), round(genq.se_tau2, 4)
    (0.3088, 0.2299)
    """

    def estimate(self, y: Array, ymc: Array, v: Array, X: Array, weights: Array | None,
                 ctrl: Control, tau2_value: float | None = None) -> Tau2Estimate:
        P = _proj(X, weights)
        RSS = P.quad(ymc)
        trP = P.trace()
        trPV = float(np.sum(P.diag() * v))
        tau2 = tau2_value if tau2_value is not None else (RSS - trPV) / trP
        tau2 = max(ctrl["tau2_min"], tau2)
        return Tau2Estimate(tau2, math.sqrt(_pvpu_se(P, v, max(tau2, 0.0)) / trP**2))


class SidikJonkman(Tau2Estimator):
    """``SJ``: τ₀² RSS / (k − p) with the weights 1/(vᵢ + τ₀²), τ₀² = mean((yᵢ − ȳ)²).

    Examples
    --------
    R: ``rma(yi, vi, method = "SJ", data = dat.raudenbush1985)`` gives τ² = 0.0771:

    >>> from attunement.evidence import rma
    >>> from attunement.evidence.datasets import dat_raudenbush1985
    >>> sj = rma("yi", "vi", data=dat_raudenbush1985(), method="SJ")
    >>> round(sj.tau2, 4)
    0.0771
    """

    def estimate(self, y: Array, ymc: Array, v: Array, X: Array, weights: Array | None,
                 ctrl: Control, tau2_value: float | None = None) -> Tau2Estimate:
        k, p = X.shape
        tau2_0 = float(np.mean(ymc**2))
        P = _proj(X, 1.0 / (v + tau2_0))
        RSS = P.quad(ymc)
        tau2 = tau2_value if tau2_value is not None else tau2_0 * RSS / (k - p)
        tau2 = max(ctrl["tau2_min"], tau2)
        se = math.sqrt(tau2_0**2 / (k - p) ** 2 * _pvpu_se(P, v, max(tau2, 0.0)))
        return Tau2Estimate(tau2, se)


class PauleMandel(Tau2Estimator):
    """``PM`` (and ``EB``): the root of the generalised Q(τ²) = k − p.

    EB (Morris) solves the same estimating equation as PM (metafor's output agrees on every
    fixture data set); solving it by bracketing instead of metafor's linearly converging
    iteration gives the root to full precision.

    Examples
    --------
    R: ``rma(yi, vi, data = dat, method = "PM")`` on the BCG trials stops its iteration at
    τ² = 0.3181 (``"EB"`` at 0.3181 too); the root itself, to 3 decimals:

    >>> from attunement.evidence import escalc, rma
    >>> from attunement.evidence.datasets import dat_bcg
    >>> bcg = escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=dat_bcg())
    >>> {m: round(rma(bcg, method=m).tau2, 3) for m in ("PM", "EB")}
    {'PM': 0.318, 'EB': 0.318}
    """

    def estimate(self, y: Array, ymc: Array, v: Array, X: Array, weights: Array | None,
                 ctrl: Control, tau2_value: float | None = None) -> Tau2Estimate:
        k, p = X.shape
        tmin = ctrl["tau2_min"]
        target = k - p
        if tau2_value is not None:
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
        return Tau2Estimate(tau2, math.sqrt(2 * k**2 / (k - p) / w.sum() ** 2))


class Hedges(Tau2Estimator):
    """``HE``: (RSS − tr(PV)) / (k − p) with unit weights.

    Examples
    --------
    R: the Hedges estimate of the BCG trials is ``rma(yi, vi, data = dat, method = "HE")$tau2``
    = 0.3285639:

    >>> from attunement.evidence import escalc, rma
    >>> from attunement.evidence.datasets import dat_bcg
    >>> dat = escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=dat_bcg())
    >>> round(rma(dat, method="HE").tau2, 7)
    0.3285639
    """

    def estimate(self, y: Array, ymc: Array, v: Array, X: Array, weights: Array | None,
                 ctrl: Control, tau2_value: float | None = None) -> Tau2Estimate:
        k, p = X.shape
        Pi = _proj(X, np.ones(k))
        RSS = Pi.quad(ymc)
        trPV = float(np.dot(Pi.diag(), v))
        tau2 = tau2_value if tau2_value is not None else (RSS - trPV) / (k - p)
        tau2 = max(ctrl["tau2_min"], tau2)
        t = max(tau2, 0.0)
        se = math.sqrt(
            (2 * Pi.tr_pvpu(v, v) + 4 * t * trPV + 2 * t * t * (k - p)) / (k - p) ** 2
        )
        return Tau2Estimate(tau2, se)


class MaximumLikelihood(Tau2Estimator):
    """``ML`` and ``REML`` (``restricted=True``): Fisher scoring from the Hedges estimate,
    finished by Newton steps, then metafor's check that τ² = 0 is not more likely.

    Examples
    --------
    R: on dat.raudenbush1985, ``method = "ML"`` gives τ² = 0.01256209 and ``"REML"``
    0.01882635:

    >>> from attunement.evidence import rma
    >>> from attunement.evidence.datasets import dat_raudenbush1985
    >>> teachers = dat_raudenbush1985()
    >>> [round(rma("yi", "vi", data=teachers, method=m).tau2, 4) for m in ("ML", "REML")]
    [0.0126, 0.0188]
    """

    def __init__(self, restricted: bool = False) -> None:
        self.method = "REML" if restricted else "ML"

    def estimate(self, y: Array, ymc: Array, v: Array, X: Array, weights: Array | None,
                 ctrl: Control, tau2_value: float | None = None) -> Tau2Estimate:
        k, p = X.shape
        method = self.method
        tmin = ctrl["tau2_min"]
        fixed = tau2_value is not None
        if _is_intercept(X):
            # P = I - J/k: RSS = Σ(y - ȳ)², tr(PV) = (1 - 1/k) Σv
            tau2 = tau2_value if fixed else (
                float(np.dot(ymc, ymc)) - (1 - 1 / k) * float(v.sum())) / (k - 1)
        else:
            Pi = _proj(X, np.ones(k))
            RSS = Pi.quad(ymc)
            trPV = float(np.dot(Pi.diag(), v))
            tau2 = tau2_value if fixed else (RSS - trPV) / (k - p)
        tau2 = max(0.0, tau2, tmin)
        if fixed:
            tau2 = tau2_value
        sums = _InterceptSums(ymc, v) if _is_intercept(X) else None
        tau2, it = _fisher_scoring(method, ymc, v, X, k, p, tau2, ctrl, fixed, sums)
        if not fixed:
            tau2 = _ll0check(method, y, v, X, k, p, tau2, ctrl, sums)
        tau2 = max(tmin, tau2)
        if sums is not None:
            sw, sw2, sw3, *_ = sums.at(tau2)
            if method == "ML":
                se = math.sqrt(2 / sw2)
            else:
                se = math.sqrt(2 / (sw2 - 2 * sw3 / sw + (sw2 / sw) ** 2))
            return Tau2Estimate(tau2, se, it, sums)
        w = 1 / (v + tau2)
        if method == "ML":
            se = math.sqrt(2 / np.sum(w * w))
        else:
            se = math.sqrt(2 / _proj(X, w).tr_pvpu())
        return Tau2Estimate(tau2, se, it)


#: metafor's method names → estimators, in the order ``rma``'s error message lists them
ESTIMATORS: dict[str, Tau2Estimator] = {
    "EE": CommonEffect(),
    "FE": CommonEffect(),
    "CE": CommonEffect(),
    "DL": DerSimonianLaird(),
    "HE": Hedges(),
    "HS": HunterSchmidt(),
    "HSk": HunterSchmidt(small_k=True),
    "SJ": SidikJonkman(),
    "ML": MaximumLikelihood(),
    "REML": MaximumLikelihood(restricted=True),
    "EB": PauleMandel(),
    "PM": PauleMandel(),
    "GENQ": GeneralisedQ(),
}


def _q_generalised(tau2: float, y: np.ndarray, v: np.ndarray, X: np.ndarray) -> float:
    """Generalised Q: Σ wᵢ (yᵢ − xᵢᵀβ̂)² with wᵢ = 1/(vᵢ + τ²)."""
    w = 1.0 / (v + tau2)
    if _is_intercept(X):
        sw = w.sum()
        e = y - np.dot(w, y) / sw
        return float(np.dot(w * e, e))
    return _proj(X, w).quad(y)


def _fisher_scoring(method, ymc, v, X, k, p, tau2, ctrl, fixed, sums=None):
    """Fisher scoring for the ML or REML estimate of tau^2 (metafor's iteration)."""
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
            sw, sw2, sw3, _q, PyPy, dA = sums.at(tau2)
            if method == "ML":
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
                newton = bool(ctrl["newton"])
        else:
            w = 1.0 / (v + tau2)
            P = _proj(X, w)
            Py = P.apply(ymc)
            if method == "ML":
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
    if method == "ML":
        return float(np.dot(Py, Py) - w.sum())
    return float(np.dot(Py, Py) - P.trace())


def _score_root(method, ymc, v, X, k, p, ctrl):
    """The ML or REML estimate by bracketing the root of the score."""
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
    """The ML or REML log-likelihood at tau^2."""
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
    """metafor's check: tau^2 = 0 when it is more likely than the Fisher-scoring optimum."""
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
            stacklevel=5,
        )
        return 0.0
    return tau2


