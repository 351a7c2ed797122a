"""Back-transformations of pooled proportions and rates, as metafor's ``transf.*`` functions.

Each function takes values on the analysis scale (an estimate, CI or prediction bounds) and
returns them on the scale of the data; the formulas and the clipping at the boundaries are
those of metafor 3.8-1 (``help(transf)``), checked against its output in
``tests/reference/metafor_proportions_rates.json``. Freeman–Tukey back-transformations need
the sample size (``ni``) or person-time (``ti``); for a pooled estimate metafor uses the
harmonic mean of the sample sizes (Miller 1978, *Am Stat* 32:138) — :func:`transf_ipft_hm`.

>>> round(float(transf_ilogit(0.4)), 6)     # R: transf.ilogit(0.4) = 0.598688
0.598688
>>> round(float(transf_ipft_hm(0.8, ni=[10, 20, 40])), 6)   # R: 0.515428
0.515428
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy.special import expit

__all__ = [
    "back_transform",
    "transf_iarcsin",
    "transf_iirft",
    "transf_ilogit",
    "transf_ipft",
    "transf_ipft_hm",
    "transf_irft",
    "transf_isqrt",
    "transf_pft",
]


def transf_ilogit(x: Any) -> np.ndarray:
    """Inverse logit: a log odds back to a proportion (for ``PLO``).

    Parameters
    ----------
    x : float or array-like
        Log odds.

    Returns
    -------
    numpy.ndarray
        Proportions, 1 / (1 + exp(−x)).

    Examples
    --------
    R: ``transf.ilogit(1.2)`` = 0.7685248.

    >>> round(float(transf_ilogit(1.2)), 7)
    0.7685248
    """
    return expit(np.asarray(x, dtype=float))


def transf_iarcsin(x: Any) -> np.ndarray:
    """Inverse arcsine square root: sin(x)² (for ``PAS``).

    Parameters
    ----------
    x : array-like
        Values on the arcsine scale (``escalc("PAS")``'s ``yi``).

    Returns
    -------
    numpy.ndarray
        Proportions; 0 below 0 and 1 above π/2, as metafor clips them.

    Examples
    --------
    R: ``transf.iarcsin(0.8)`` = 0.5145998.

    >>> round(float(transf_iarcsin(0.8)), 7)
    0.5145998
    """
    x = np.asarray(x, dtype=float)
    z = np.sin(x) ** 2
    return np.where(x < 0, 0.0, np.where(x > np.arcsin(1.0), 1.0, z))


def transf_isqrt(x: Any) -> np.ndarray:
    """Inverse square root: x², with 0 for a negative x (for ``IRS``).

    Parameters
    ----------
    x : float or numpy.ndarray
        Square roots of incidence rates, the scale of ``escalc("IRS")``; a negative value
        (a bound below zero) gives a rate of 0.

    Returns
    -------
    numpy.ndarray
        The rates.

    Examples
    --------
    R: ``transf.isqrt(c(-0.5, 1.2))`` = 0, 1.44.

    >>> transf_isqrt([-0.5, 1.2]).round(2).tolist()
    [0.0, 1.44]
    """
    x = np.asarray(x, dtype=float)
    return np.where(x < 0, 0.0, x * x)


def transf_pft(p: Any, ni: Any) -> np.ndarray:
    """Freeman–Tukey double arcsine of a proportion.

    Parameters
    ----------
    p : float or array-like
        Proportions.
    ni : float or array-like
        Sample sizes.

    Returns
    -------
    numpy.ndarray
        The transformed values, the ``yi`` of ``escalc("PFT")``.

    Examples
    --------
    R: ``transf.pft(16/17, 17)`` equals ``escalc("PFT", xi = 16, ni = 17)$yi``:

    >>> from attunement.evidence import escalc
    >>> float(transf_pft(16 / 17, 17)) == float(escalc("PFT", xi=[16], ni=[17])["yi"][0])
    True
    """
    p, ni = np.asarray(p, dtype=float), np.asarray(ni, dtype=float)
    x = p * ni
    return 0.5 * (np.arcsin(np.sqrt(x / (ni + 1))) + np.arcsin(np.sqrt((x + 1) / (ni + 1))))


def transf_ipft(x: Any, ni: Any) -> np.ndarray:
    """Inverse Freeman–Tukey double arcsine (Miller 1978): back to a proportion.

    Parameters
    ----------
    x : float or array-like
        Values on the double-arcsine scale.
    ni : float or array-like
        The sample size each value refers to.

    Returns
    -------
    numpy.ndarray
        Proportions; values beyond the transforms of 0 and 1 give 0 and 1.

    Examples
    --------
    R: ``transf.ipft(0.8, 20)`` = 0.5153123.

    >>> round(float(transf_ipft(0.8, 20)), 7)
    0.5153123
    """
    x, ni = np.asarray(x, dtype=float), np.asarray(ni, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        s = np.sin(2 * x)
        z = 0.5 * (1 - np.sign(np.cos(2 * x)) * np.sqrt(1 - (s + (s - 1 / s) / ni) ** 2))
    z = np.where(x > transf_pft(1.0, ni), 1.0, z)
    return np.where(x < transf_pft(0.0, ni), 0.0, z)


def transf_ipft_hm(x: Any, ni: Sequence[float] | np.ndarray) -> np.ndarray:
    """Inverse Freeman–Tukey for a pooled ``PFT`` estimate, at the harmonic mean sample size.

    Parameters
    ----------
    x : float or array-like
        Pooled values on the double-arcsine scale (estimate, bounds).
    ni : sequence of float
        The studies' sample sizes (missing ones are left out).

    Returns
    -------
    numpy.ndarray
        Proportions.

    Examples
    --------
    R: ``transf.ipft.hm(1.2, targs = list(ni = c(10, 20, 40)))`` = 0.8889029.

    >>> round(float(transf_ipft_hm(1.2, ni=[10, 20, 40])), 7)
    0.8889029
    """
    n = np.asarray(ni, dtype=float)
    n = n[~np.isnan(n)]
    return transf_ipft(x, 1 / np.mean(1 / n))


def transf_irft(ir: Any, ti: Any) -> np.ndarray:
    """Freeman–Tukey transformation of an incidence rate.

    Parameters
    ----------
    ir : float or array-like
        Incidence rates (events per unit of person-time).
    ti : float or array-like
        Person-time.

    Returns
    -------
    numpy.ndarray
        ½ (√ir + √(ir + 1/ti)), which is ``escalc("IRFT")``'s ``yi``.

    Examples
    --------
    Nine events in 413 person-years; R: ``transf.irft(9/413, 413)`` equals
    ``escalc("IRFT", xi = 9, ti = 413)$yi``:

    >>> from attunement.evidence import escalc
    >>> rate = escalc("IRFT", xi=[9], ti=[413])
    >>> bool(transf_irft(9 / 413, 413).item() == rate.yi.iloc[0])
    True
    """
    ir, ti = np.asarray(ir, dtype=float), np.asarray(ti, dtype=float)
    return 0.5 * (np.sqrt(ir) + np.sqrt(ir + 1 / ti))


def transf_iirft(x: Any, ti: Any) -> np.ndarray:
    """Inverse Freeman–Tukey transformation of a rate (undoes :func:`transf_irft`).

    Parameters
    ----------
    x : float or array-like
        Values on the Freeman–Tukey scale.
    ti : float or array-like
        Person-time.

    Returns
    -------
    numpy.ndarray
        Incidence rates, 0 below the transform of a zero rate.

    Examples
    --------
    R: ``transf.iirft(c(0.4, 0), 50)`` = 0.15015625, 0 (zero is below the transform of a
    zero rate, ½√(1/50)):

    >>> transf_iirft([0.4, 0.0], 50).tolist()
    [0.15015625, 0.0]
    """
    x, ti = np.asarray(x, dtype=float), np.asarray(ti, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (1 / ti - 8 * x**2 + 16 * ti * x**4) / (16 * x**2 * ti)
    z = np.where(x < transf_irft(0.0, ti), 0.0, z)
    return np.where(z <= np.finfo(float).eps, 0.0, z)


def back_transform(measure: str, *, ni: Any = None, ti: Any = None) -> Callable | None:
    """The back-transformation metafor users apply to a pooled ``measure`` (``None`` when the
    measure is already on the data scale): ``exp`` for log measures, inverse logit, arcsine,
    square root and Freeman–Tukey (with the harmonic mean of ``ni``, or the mean person-time
    ``ti``). Pass the result as ``transf`` to ``RMAResult.predict``.

    Parameters
    ----------
    measure : str
        The ``escalc`` measure of the pooled model, e.g. ``"PLO"`` or ``"PFT"``.
    ni : array-like, optional
        The studies' sample sizes (needed for ``PFT``).
    ti : array-like, optional
        The studies' person-times (needed for ``IRFT``).

    Returns
    -------
    callable or None
        The function from the analysis scale to the data scale.

    Examples
    --------
    R: ``predict(rma(yi, vi, data = escalc("PFT", xi = xi, ni = ni, data = dat.pritz1997)),
    transf = transf.ipft.hm, targs = list(ni = dat.pritz1997$ni))`` gives 0.8029 [0.7022,
    0.8893]; ``rma(...).predict(transf=back_transform("PFT", ni=ni))`` the same
    (``tests/evidence``). For a log odds:

    >>> round(float(back_transform("PLO")(0.4)), 6)     # R: transf.ilogit(0.4)
    0.598688
    >>> back_transform("RD") is None
    True
    """
    m = measure.upper()
    if m in {"PLN", "IRLN", "IRR", "RR", "OR", "PETO"}:
        return np.exp
    if m in {"PR", "IR", "IRD", "RD"}:
        return None
    if m == "PLO":
        return transf_ilogit
    if m == "PAS":
        return transf_iarcsin
    if m == "IRS":
        return transf_isqrt
    if m == "PFT":
        if ni is None:
            raise ValueError("the PFT back-transformation needs the sample sizes ni")
        return lambda x: transf_ipft_hm(x, ni)
    if m == "IRFT":
        if ti is None:
            raise ValueError("the IRFT back-transformation needs the person-times ti")
        t = float(np.nanmean(np.asarray(ti, dtype=float)))
        return lambda x: transf_iirft(x, t)
    raise ValueError(f"no back-transformation is defined for measure {measure!r}")
