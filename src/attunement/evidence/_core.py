"""O(k) linear algebra for inverse-variance models with diagonal weights, and the small helpers
(confidence levels, critical values, p-values) every evidence module shares.

metafor forms the k × k matrices W and P = W − W X (XᵀW X)⁻¹ XᵀW. Every quantity it takes from
them is a trace or a quadratic form that, because W is diagonal, reduces to sums over studies
and p × p products. These helpers compute exactly those quantities, so a fit costs O(k p²)
instead of O(k³) and gives the same numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import ndtr, ndtri, stdtr, stdtrit

_LOG2PI = math.log(2 * math.pi)
_EPS = float(np.finfo(float).eps)


@dataclass(repr=False)
class Coefficients:
    """The fields every fitted meta-analytic model starts with, in metafor's names and order:
    the method and test, k studies, p coefficients and each coefficient's estimate, SE, z (or
    t), p-value and CI (``rma``'s and ``rma_mv``'s results extend it)."""

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


@dataclass(slots=True)
class Projection:
    """P = A − A X (XᵀA X)⁻¹ XᵀA for diagonal weights ``a`` (never formed explicitly)."""

    X: np.ndarray
    a: np.ndarray
    M: np.ndarray  # (XᵀA X)⁻¹
    h: np.ndarray  # x_iᵀ M x_i

    @classmethod
    def build(cls, X: np.ndarray, a: np.ndarray, intercept_only: bool = False) -> Any:
        if intercept_only:
            return InterceptProjection(a)
        XtAX = X.T @ (X * a[:, None])
        M = _inv(XtAX)
        h = np.einsum("ij,jk,ik->i", X, M, X)
        return cls(X, a, M, h)

    def coef(self, y: np.ndarray) -> np.ndarray:
        """Weighted least-squares coefficients M Xᵀ A y."""
        return self.M @ (self.X.T @ (self.a * y))

    def apply(self, y: np.ndarray) -> np.ndarray:
        """P y = A (y − X β_A(y))."""
        return self.a * (y - self.X @ self.coef(y))

    def quad(self, y: np.ndarray) -> float:
        """yᵀ P y."""
        e = y - self.X @ self.coef(y)
        return float(np.dot(self.a * e, e))

    def diag(self) -> np.ndarray:
        return self.a - self.a**2 * self.h

    def trace(self) -> float:
        return float(np.sum(self.diag()))

    def tr_pvpu(self, v: np.ndarray | float = 1.0, u: np.ndarray | float = 1.0) -> float:
        """tr(P D_v P D_u) = Σ_ij u_i v_j P_ij²; v = u = 1 gives sum(P * P)."""
        a, X, M = self.a, self.X, self.M
        uv = u * v * np.ones_like(a)
        first = float(np.sum(uv * a * a)) - 2.0 * float(np.sum(uv * a**3 * self.h))
        a2 = a * a
        Gv = X.T @ (X * (v * a2)[:, None]) if np.ndim(v) else v * (X.T @ (X * a2[:, None]))
        Gu = X.T @ (X * (u * a2)[:, None]) if np.ndim(u) else u * (X.T @ (X * a2[:, None]))
        return first + float(np.trace(M @ Gv @ M @ Gu))


class InterceptProjection:
    """The same quantities for an intercept-only model, as scalar sums (the common case)."""

    __slots__ = ("M", "a", "h", "sa")

    def __init__(self, a: np.ndarray) -> None:
        self.a = a
        self.sa = float(a.sum())
        if not self.sa > 0 or not np.isfinite(self.sa):
            raise np.linalg.LinAlgError("singular weighted cross-product")
        self.M = np.array([[1.0 / self.sa]])
        self.h = 1.0 / self.sa

    def coef(self, y: np.ndarray) -> np.ndarray:
        return np.array([np.dot(self.a, y) / self.sa])

    def apply(self, y: np.ndarray) -> np.ndarray:
        return self.a * (y - np.dot(self.a, y) / self.sa)

    def quad(self, y: np.ndarray) -> float:
        e = y - np.dot(self.a, y) / self.sa
        return float(np.dot(self.a * e, e))

    def diag(self) -> np.ndarray:
        return self.a - self.a**2 / self.sa

    def trace(self) -> float:
        return self.sa - float(np.dot(self.a, self.a)) / self.sa

    def tr_pvpu(self, v: np.ndarray | float = 1.0, u: np.ndarray | float = 1.0) -> float:
        a, sa = self.a, self.sa
        a2 = a * a
        if np.ndim(v) == 0 and np.ndim(u) == 0:
            s2 = float(a2.sum())
            return float(u * v) * (s2 - 2.0 * float(np.dot(a2, a)) / sa + (s2 / sa) ** 2)
        uv = u * v * np.ones_like(a)
        gv = float(np.sum(v * a2))
        gu = float(np.sum(u * a2))
        return float(np.dot(uv, a2)) - 2.0 * float(np.dot(uv, a2 * a)) / sa + gv * gu / sa**2


def _inv(A: np.ndarray) -> np.ndarray:
    if A.shape == (1, 1):
        if A[0, 0] == 0 or not np.isfinite(A[0, 0]):
            raise np.linalg.LinAlgError("singular weighted cross-product")
        return 1.0 / A
    return np.linalg.inv(A)


def logdet(A: np.ndarray) -> float:
    if A.shape == (1, 1):
        return float(np.log(A[0, 0]))
    _sign, value = np.linalg.slogdet(A)
    return float(value)


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


def _is_intercept(X: np.ndarray) -> bool:
    return X.shape[1] == 1 and X[0, 0] == 1.0 and bool(np.all(X == 1.0))


def _proj(X: np.ndarray, a: np.ndarray) -> Any:
    """P for weights ``a``; scalar sums when X is the intercept column."""
    return Projection.build(X, a, _is_intercept(X))


def fit_statistics(k: int, p: int, parms: int, ll_ml: float, ll_reml: float,
                   dev_ml: float) -> dict[str, dict[str, float]]:
    """logLik, deviance, AIC, BIC and AICc under ML and REML, as metafor's ``fit.stats``
    (``parms`` estimated parameters; REML on k − p residual degrees of freedom)."""
    kk, kr = max(k, parms + 2), max(k - p, parms + 2)
    return {
        "ML": {"logLik": ll_ml, "deviance": dev_ml, "AIC": -2 * ll_ml + 2 * parms,
               "BIC": -2 * ll_ml + parms * math.log(k),
               "AICc": -2 * ll_ml + 2 * parms * kk / (kk - parms - 1)},
        "REML": {"logLik": ll_reml, "deviance": -2 * ll_reml, "AIC": -2 * ll_reml + 2 * parms,
                 "BIC": -2 * ll_reml + parms * math.log(k - p) if k > p else float("nan"),
                 "AICc": -2 * ll_reml + 2 * parms * kr / (kr - parms - 1)},
    }
