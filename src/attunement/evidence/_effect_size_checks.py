"""Helpers shared by the effect-size modules: Hedges' correction and input checks that name
the offending rows."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import gammaln

__all__ = ["hedges_correction"]


def hedges_correction(m: Any) -> np.ndarray:
    """Exact small-sample correction J(m) = Γ(m/2) / (√(m/2) Γ((m−1)/2)) (NaN for m ≤ 1)."""
    m = np.asarray(m, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.exp(gammaln(m / 2) - np.log(np.sqrt(m / 2)) - gammaln((m - 1) / 2))
    return np.where(m <= 1, np.nan, out)


def _bad_rows(mask: np.ndarray) -> str:
    rows = np.flatnonzero(mask)
    shown = ", ".join(str(r + 1) for r in rows[:10])
    return shown + (" ..." if rows.size > 10 else "")


def _check(condition: np.ndarray, message: str) -> None:
    bad = np.asarray(condition) & ~np.isnan(np.asarray(condition, dtype=float))
    if np.any(bad):
        raise ValueError(f"{message} (row {_bad_rows(bad)})")


def _wmean(x: np.ndarray, w: np.ndarray) -> float:
    ok = ~(np.isnan(x) | np.isnan(w))
    return float(np.sum(x[ok] * w[ok]) / np.sum(w[ok]))
