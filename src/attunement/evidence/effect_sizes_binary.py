"""2×2-table effect sizes beyond RR/OR/RD: association coefficients, OR→SMD conversions and
paired (matched) binary measures, as metafor 3.8's ``escalc``.

The cells reach these functions after ``escalc``'s zero-cell rules (``add``/``to``/``drop00``).
Formulas: ``help(escalc)`` in metafor 3.8 (Viechtbauer 2010,
https://doi.org/10.18637/jss.v036.i03); phi's variances from Bonett 2007 (Psychol Methods
12:433), Yule's Q/Y from Bishop, Fienberg & Holland 1975 (ch. 11), the tetrachoric
correlation as the bivariate-normal ML estimate (Pearson 1900; Drasgow 1986); OR→SMD by
Chinn 2000 (Stat Med 19:3127, logistic) and Cox 1970 (1.65, normal); paired tables by Fagerland,
Lydersen & Laake 2014 (Stat Methods Med Res 24:159): ``ai`` both events, ``bi`` event only
at the first occasion/member, ``ci`` only at the second, ``di`` neither. Checked against R
in ``tests/reference/escalc_binary.json`` and ``escalc_rtet.json``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.integrate import quad
from scipy.optimize import brentq
from scipy.special import ndtr, ndtri

__all__ = ["BINARY_MEASURES", "binary_effect"]

#: measures computed here from the cells ai bi ci di (or ai n1i ci n2i)
BINARY_MEASURES = ("PHI", "YUQ", "YUY", "RTET", "OR2DL", "OR2DN", "MPRD", "MPRR", "MPOR",
                   "MPORC", "MPPETO")


def _bvn_lower(h: float, k: float, rho: float) -> float:
    """P(X < h, Y < k) for a standard bivariate normal with correlation rho.

    Φ(h)Φ(k) plus the integral of the bivariate density over the correlation from 0 to rho
    (Plackett's identity, dΦ2/dρ = φ2), accurate to about 1e-14.
    """
    def density(r: float) -> float:
        s = 1 - r * r
        return math.exp(-(h * h - 2 * r * h * k + k * k) / (2 * s)) / (2 * math.pi * math.sqrt(s))

    val, _ = quad(density, 0.0, rho, epsabs=1e-15, epsrel=1e-13)
    return float(ndtr(h) * ndtr(k) + val)


def _rtet_one(a: float, b: float, c: float, d: float) -> tuple[float, float]:
    """Tetrachoric correlation of one table and its large-sample variance.

    The bivariate-normal model of a 2×2 table is saturated, so the maximum-likelihood
    thresholds are the normal quantiles of the margins and rho solves Φ2(h, k; rho) = ai/ni
    exactly; the variance is the delta-method (inverse-information) variance of that solution.
    metafor maximises the same likelihood numerically (Nelder–Mead, optimiser tolerance) and
    takes the variance from a finite-difference Hessian, so it agrees to about 1e-4.
    """
    n = a + b + c + d
    if min(a + b, c + d, a + c, b + d) == 0:
        return 0.0, math.inf
    if b == 0 and c == 0:
        return 1.0, 0.0
    if a == 0 and d == 0:
        return -1.0, 0.0
    if 0 in (a, b, c, d):
        # the estimate is at ±1 and its variance undefined: metafor returns ±1 with the
        # variance of a Hessian taken at its 0.9999 bound
        return (1.0 if b == 0 or c == 0 else -1.0), math.nan
    h, k = float(ndtri((a + b) / n)), float(ndtri((a + c) / n))
    rho = brentq(lambda r: _bvn_lower(h, k, r) - a / n, -0.999999, 0.999999,
                 xtol=1e-15, rtol=1e-15, maxiter=200)
    s = math.sqrt(1 - rho * rho)
    dens = math.exp(-(h * h - 2 * rho * h * k + k * k) / (2 * s * s)) / (2 * math.pi * s)
    row, col = ndtr((k - rho * h) / s), ndtr((h - rho * k) / s)
    # dρ/dp for each cell's proportion (a moves the cell and both margins, b the row, c the col)
    grad = np.array([1 - row - col, -row, -col, 0.0]) / dens
    p = np.array([a, b, c, d]) / n
    return rho, float((np.sum(grad**2 * p) - np.sum(grad * p) ** 2) / n)


def binary_effect(measure: str, ai: np.ndarray, bi: np.ndarray, ci: np.ndarray,
                  di: np.ndarray, vtype: str) -> tuple[np.ndarray, np.ndarray]:
    """``yi`` and ``vi`` of one of :data:`BINARY_MEASURES` from (already adjusted) cells.

    Parameters
    ----------
    measure : str
        The measure, e.g. ``"PHI"``, ``"YUQ"``, ``"RTET"`` or ``"MPOR"``.
    ai, bi, ci, di : numpy.ndarray
        The 2×2 cells of each study, after any continuity correction.
    vtype : str
        metafor's variance type: ``"LS"`` (large-sample) or, for ``PHI``, ``"ST"``/``"CS"``.

    Returns
    -------
    yi, vi : numpy.ndarray
        The effect sizes and their sampling variances.

    Examples
    --------
    R: ``escalc("PHI", ai=4, bi=119, ci=11, di=128)`` gives -0.1001392327, 0.0031819154;
    ``escalc("MPOR", ai=12, bi=9, ci=4, di=25)`` gives 0.4309984101, 0.0943265237:

    >>> import numpy as np
    >>> [round(float(v[0]), 10) for v in binary_effect(
    ...     "PHI", *(np.array([x], dtype=float) for x in (4, 119, 11, 128)), "LS")]
    [-0.1001392327, 0.0031819154]
    >>> [round(float(v[0]), 10) for v in binary_effect(
    ...     "MPOR", *(np.array([x], dtype=float) for x in (12, 9, 4, 25)), "LS")]
    [0.4309984101, 0.0943265237]
    """
    n1, n2 = ai + bi, ci + di
    ni = n1 + n2
    p1, p2 = ai / n1, ci / n2
    if measure == "PHI":
        yi = (ai * di - bi * ci) / np.sqrt(n1 * n2 * (ai + ci) * (bi + di))
        if vtype == "ST":
            q1, q2 = 1 - p1, 1 - p2
            vi = (ni**2 * (4 * n1**3 * p1**2 * p2 * q1**2 * q2
                           + 4 * n2**3 * p1 * p2**2 * q1 * q2**2
                           + n1 * n2**2 * p2 * q2 * (p2 * q1 + p1 * q2)
                           * (p2 * q1 + p1 * (4 * q1 + q2))
                           + n1**2 * n2 * p1 * q1 * (p2 * q1 + p1 * q2)
                           * (p1 * q2 + p2 * (q1 + 4 * q2)))
                  / (4 * (ai + ci) ** 3 * (bi + di) ** 3))
        elif vtype in {"LS", "CS"}:
            r1, r2 = n1 / ni, n2 / ni
            c1, c2 = (ai + ci) / ni, (bi + di) / ni
            vi = (1 / ni) * (1 - yi**2 + yi * (1 + yi**2 / 2) * (r1 - r2) * (c1 - c2)
                             / np.sqrt(r1 * r2 * c1 * c2)
                             - 0.75 * yi**2 * ((r1 - r2) ** 2 / (r1 * r2)
                                               + (c1 - c2) ** 2 / (c1 * c2)))
        else:
            raise ValueError(f"vtype for PHI must be 'ST', 'LS' or 'CS', not {vtype!r}")
        return yi, vi
    if measure == "RTET":
        out = np.full((2, ai.size), np.nan)
        for i, cells in enumerate(zip(ai, bi, ci, di, strict=True)):
            if not np.isnan(cells).any():
                out[:, i] = _rtet_one(*(float(x) for x in cells))
        return out[0], out[1]
    inv_sum = 1 / ai + 1 / bi + 1 / ci + 1 / di
    odds_ratio = (ai / bi) / (ci / di)
    if measure == "YUQ":
        yi = (odds_ratio - 1) / (odds_ratio + 1)
        return yi, 0.25 * (1 - yi**2) ** 2 * inv_sum
    if measure == "YUY":
        yi = (np.sqrt(odds_ratio) - 1) / (np.sqrt(odds_ratio) + 1)
        return yi, (1 / 16) * (1 - yi**2) ** 2 * inv_sum
    if measure in {"OR2DL", "OR2DN"}:
        log_or = np.log(p1 / (1 - p1)) - np.log(p2 / (1 - p2))
        if measure == "OR2DL":
            return np.sqrt(3) / np.pi * log_or, 3 / np.pi**2 * inv_sum
        return log_or / 1.65, inv_sum / 1.65**2
    if measure in {"MPRD", "MPRR", "MPOR"}:
        pi12, pi21 = bi / ni, ci / ni
        first, second = (ai + bi) / ni, (ai + ci) / ni
        if measure == "MPRD":
            return (first - second,
                    pi12 * (1 - pi12) / ni + 2 * pi12 * pi21 / ni + pi21 * (1 - pi21) / ni)
        if measure == "MPRR":
            return np.log(first) - np.log(second), (pi12 + pi21) / (ni * first * second)
        return (np.log(first / (1 - first)) - np.log(second / (1 - second)),
                (pi12 * (1 - pi12) + pi21 * (1 - pi21) + 2 * pi12 * pi21)
                / (ni * first * (1 - first) * second * (1 - second)))
    if measure == "MPORC":
        return np.log(bi) - np.log(ci), 1 / bi + 1 / ci
    if measure == "MPPETO":
        expected, var = (bi + ci) / 2, (bi + ci) / 4
        return (bi - expected) / var, 1 / var
    raise ValueError(f"unknown 2x2 measure {measure!r}")
