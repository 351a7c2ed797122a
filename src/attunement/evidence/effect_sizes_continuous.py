"""Effect sizes from means, SDs, correlations, test statistics and reliabilities beyond the
classic SMD/COR family, as metafor 3.8's ``escalc``.

Single-group means (MN, MNLN), coefficient-of-variation and variability ratios (CVR, VR;
Nakagawa et al. 2015, Methods Ecol Evol 6:143), SMD standardised by the control group (SMD1;
Glass), change scores standardised by the pre-test SD with heteroscedastic variance (SMCRH;
Bonett 2008) and the ratio of means for paired data (ROMC; Lajeunesse 2011), point-biserial
and biserial correlations (RPB, RBIS; Jacobs & Viechtbauer 2017, Res Synth Methods 8:161),
SMD→log odds ratio (D2ORL, D2ORN), the bias-corrected correlation (UCOR; Olkin & Pratt 1958),
partial correlations from a regression's t statistic (PCOR, ZPCOR; Aloe & Thompson 2013) and
Cronbach's alpha (ARAW, AHW, ABT; Bonett 2002, 2010). Formulas: ``help(escalc)`` of metafor
3.8; values checked against R in ``tests/reference/escalc_continuous.json``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
from scipy.integrate import IntegrationWarning, quad
from scipy.special import gammaln
from scipy.stats import norm

from attunement.evidence._effect_size_checks import _check, _wmean, hedges_correction

__all__ = ["CONTINUOUS_MEASURES", "continuous_effect"]

#: measure → input columns (metafor's names), as in ``effect_sizes.MEASURES``
CONTINUOUS_MEASURES: dict[str, tuple[str, ...]] = {
    "MN": ("mi", "sdi", "ni"),
    "MNLN": ("mi", "sdi", "ni"),
    "CVR": ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i"),
    "VR": ("sd1i", "n1i", "sd2i", "n2i"),
    "SMD1": ("m1i", "n1i", "m2i", "sd2i", "n2i"),
    "RPB": ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i"),
    "RBIS": ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i"),
    "D2ORL": ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i"),
    "D2ORN": ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i"),
    "SMCRH": ("m1i", "sd1i", "m2i", "sd2i", "ni", "ri"),
    "ROMC": ("m1i", "sd1i", "m2i", "sd2i", "ni", "ri"),
    "UCOR": ("ri", "ni"),
    "PCOR": ("ti|ri", "ni", "mi"),
    "ZPCOR": ("ti|ri", "ni", "mi"),
    "ARAW": ("ai", "mi", "ni"),
    "AHW": ("ai", "mi", "ni"),
    "ABT": ("ai", "mi", "ni"),
}

Need = Callable[..., list[np.ndarray]]


def _hyp2f1(a: float, b: float, c: float, x: float) -> float:
    """2F1(a, b; c; x) for 0 ≤ x ≤ 1 and c > a + b, b > 0, by Euler's integral.

    scipy's ``hyp2f1`` returns NaN or loses digits for large c with x near 1 (a large study
    with a small correlation), exactly UCOR's case; Euler's integral with QUADPACK's
    algebraic-endpoint weights (QAWS) agrees with R's gsl to about 1e-11 there.
    """
    if x == 1:  # Gauss's theorem
        return float(np.exp(gammaln(c) + gammaln(c - a - b) - gammaln(c - a) - gammaln(c - b)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IntegrationWarning)
        val, _ = quad(lambda t: (1 - x * t) ** (-a), 0, 1, weight="alg",
                      wvar=(b - 1, c - b - 1), epsabs=0, epsrel=1e-13, limit=1000)
    return float(np.exp(gammaln(c) - gammaln(b) - gammaln(c - b)) * val)


def _fcalc(a: float, b: float, g: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Gauss hypergeometric 2F1(a, b; g; x), NaN where g ≤ a + b (as metafor's .Fcalc)."""
    out = np.full(np.shape(g), np.nan)
    for i, (gi, xi) in enumerate(zip(np.ravel(g), np.ravel(x), strict=True)):
        if np.isfinite(gi) and np.isfinite(xi) and gi > a + b:
            out[i] = _hyp2f1(a, b, float(gi), float(xi))
    return out


def _vtype(measure: str, vtype: str, allowed: tuple[str, ...]) -> None:
    if vtype not in allowed:
        raise ValueError(f"vtype for {measure} must be {', '.join(allowed)}, not {vtype!r}")


def continuous_effect(measure: str, get: dict[str, np.ndarray | None], need: Need,
                      vtype: str) -> tuple[np.ndarray, np.ndarray]:
    """``yi`` and ``vi`` of one of :data:`CONTINUOUS_MEASURES`.

    ``escalc`` is the entry point; this is the computation behind it.

    Parameters
    ----------
    measure : str
        The measure, e.g. ``"MN"``, ``"SMCRH"`` or ``"PCOR"``.
    get : dict of str to numpy.ndarray or None
        metafor's argument names (``mi``, ``sdi``, ``ni``, ...) and their arrays.
    need : callable
        Returns the named arrays, or raises an error naming the missing ones.
    vtype : str
        metafor's variance type, e.g. ``"LS"``.

    Returns
    -------
    yi, vi : numpy.ndarray
        Effect sizes and sampling variances.

    Examples
    --------
    R: ``escalc("PCOR", ti=4.61, ni=218, mi=4)`` gives 0.3012029208, 0.0038816164:

    >>> import numpy as np
    >>> cols = {"ti": np.array([4.61]), "ri": None, "ni": np.array([218.0]),
    ...         "mi": np.array([4.0])}
    >>> yi, vi = continuous_effect("PCOR", cols, lambda *n: [cols[k] for k in n], "LS")
    >>> round(float(yi[0]), 10), round(float(vi[0]), 10)
    (0.3012029208, 0.0038816164)
    """
    if measure in {"MN", "MNLN"}:
        mi, sdi, ni = need("mi", "sdi", "ni")
        _check(sdi < 0, "standard deviations sdi must not be negative")
        _check(ni <= 0, "sample sizes ni must be positive")
        if measure == "MN":
            return mi.copy(), sdi**2 / ni
        _check(mi < 0, "MNLN needs non-negative means mi")
        return np.log(mi), sdi**2 / (ni * mi**2)
    if measure in {"SMCRH", "ROMC"}:
        m1, sd1, m2, sd2, ni, ri = need("m1i", "sd1i", "m2i", "sd2i", "ni", "ri")
        _check((sd1 < 0) | (sd2 < 0), "standard deviations must not be negative")
        _check(np.abs(ri) > 1, "pre-post correlations ri must lie between -1 and 1")
        _check(ni <= 0, "sample sizes ni must be positive")
        if measure == "SMCRH":
            cmi = hedges_correction(ni - 1)
            var_diff = sd1**2 + sd2**2 - 2 * ri * sd1 * sd2
            yi = cmi * (m1 - m2) / sd1
            return yi, cmi**2 * (var_diff / (sd1**2 * (ni - 1)) + yi**2 / (2 * (ni - 1)))
        return (np.log(m1 / m2),
                sd1**2 / (ni * m1**2) + sd2**2 / (ni * m2**2)
                - 2 * ri * sd1 * sd2 / (m1 * m2 * ni))
    if measure == "UCOR":
        return _ucor(need, vtype)
    if measure in {"PCOR", "ZPCOR"}:
        return _pcor(measure, get, need, vtype)
    if measure in {"ARAW", "AHW", "ABT"}:
        ai, mi, ni = need("ai", "mi", "ni")
        _check(ai > 1, "Cronbach's alpha ai must not be larger than 1")
        _check(mi < 2, "the number of items mi must be at least 2")
        _check(ni <= 0, "sample sizes ni must be positive")
        if measure == "ARAW":
            return ai.copy(), 2 * mi * (1 - ai) ** 2 / ((mi - 1) * (ni - 2))
        if measure == "AHW":
            return (1 - (1 - ai) ** (1 / 3),
                    18 * mi * (ni - 1) * (1 - ai) ** (2 / 3) / ((mi - 1) * (9 * ni - 11) ** 2))
        return -np.log(1 - ai), 2 * mi / ((mi - 1) * (ni - 2))
    return _two_groups(measure, get, need, vtype)


def _two_groups(measure: str, get: dict[str, np.ndarray | None], need: Need,
                vtype: str) -> tuple[np.ndarray, np.ndarray]:
    if measure == "VR":
        sd1, n1, sd2, n2 = need("sd1i", "n1i", "sd2i", "n2i")
    elif measure == "SMD1":
        m1, n1, m2, sd2, n2 = need("m1i", "n1i", "m2i", "sd2i", "n2i")
        sd1 = get["sd1i"] if get["sd1i"] is not None else np.zeros_like(n1)
    else:
        m1, sd1, n1, m2, sd2, n2 = need("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i")
    _check((sd1 < 0) | (sd2 < 0), "standard deviations must not be negative")
    _check((n1 <= 0) | (n2 <= 0), "group sizes n1i and n2i must be positive")
    ni = n1 + n2
    if measure == "VR":
        return (np.log(sd1 / sd2) + 1 / (2 * (n1 - 1)) - 1 / (2 * (n2 - 1)),
                1 / (2 * (n1 - 1)) + 1 / (2 * (n2 - 1)))
    if measure == "CVR":
        return (np.log(sd1 / m1) + 1 / (2 * (n1 - 1)) - np.log(sd2 / m2) - 1 / (2 * (n2 - 1)),
                1 / (2 * (n1 - 1)) + sd1**2 / (n1 * m1**2)
                + 1 / (2 * (n2 - 1)) + sd2**2 / (n2 * m2**2))
    if measure == "SMD1":
        # Glass's SMD: standardised by the second (control) group's SD, J(n2i - 1)
        yi = hedges_correction(n2 - 1) * (m1 - m2) / sd2
        return yi, 1 / n1 + 1 / n2 + yi**2 / (2 * n2)
    mi = ni - 2
    sdp = np.sqrt(((n1 - 1) * sd1**2 + (n2 - 1) * sd2**2) / mi)
    di = (m1 - m2) / sdp
    if measure in {"D2ORL", "D2ORN"}:
        factor = np.pi / np.sqrt(3) if measure == "D2ORL" else 1.65
        return factor * di, factor**2 * (1 / n1 + 1 / n2 + di**2 / (2 * ni))
    hi = mi / n1 + mi / n2
    rpb = di / np.sqrt(di**2 + hi)
    if measure == "RPB":
        _vtype(measure, vtype, ("ST", "LS", "CS"))
        if vtype == "CS":
            return rpb, (1 - rpb**2) ** 2 * (ni * rpb**2 / (4 * n1 * n2)
                                             + (2 - 3 * rpb**2) / (2 * ni))
        return rpb, hi**2 / (hi + di**2) ** 3 * (1 / n1 + 1 / n2 + di**2 / (2 * ni))
    # RBIS: biserial from the point-biserial and the group proportions
    p1, p2 = n1 / ni, n2 / ni
    zi = norm.isf(p1)
    fzi = norm.pdf(zi)
    yi = np.sqrt(p1 * p2) / fzi * rpb
    yt = np.where(np.abs(yi) > 1, np.sign(yi), yi)
    vi = 1 / (ni - 1) * (p1 * p2 / fzi**2 - (1.5 + (1 - p1 * zi / fzi) * (1 + p2 * zi / fzi))
                         * yt**2 + yt**4)
    return yi, vi


def _ucor(need: Need, vtype: str) -> tuple[np.ndarray, np.ndarray]:
    ri, ni = need("ri", "ni")
    _check(np.abs(ri) > 1, "correlations ri must lie between -1 and 1")
    _check(ni <= 0, "sample sizes ni must be positive")
    _vtype("UCOR", vtype, ("UB", "LS", "AV"))
    yi = ri * _fcalc(0.5, 0.5, (ni - 2) / 2, 1 - ri**2)
    if vtype == "UB":
        vi = yi**2 - (1 - (ni - 3) / (ni - 2) * (1 - ri**2) * _fcalc(1, 1, ni / 2, 1 - ri**2))
    elif vtype == "LS":
        vi = (1 - yi**2) ** 2 / (ni - 1)
    else:
        vi = (1 - _wmean(yi, ni) ** 2) ** 2 / (ni - 1)
    return yi, vi


def _pcor(measure: str, get: dict[str, np.ndarray | None], need: Need,
          vtype: str) -> tuple[np.ndarray, np.ndarray]:
    ni, mi = need("ni", "mi")
    ti, ri = get["ti"], get["ri"]
    if ti is None and ri is None:
        raise ValueError(f"measure {measure} needs ti (the predictor's t statistic) or ri "
                         "(the partial correlation)")
    _check(ni <= 0, "sample sizes ni must be positive")
    _check(mi < 0, "the number of predictors mi must not be negative")
    _check(ni - mi - 1 <= 0, "residual degrees of freedom ni - mi - 1 must be positive")
    df = ni - mi - 1
    if ri is not None:
        _check(np.abs(ri) > 1, "partial correlations ri must lie between -1 and 1")
        if ti is not None:
            from_t = ti / np.sqrt(ti**2 + df)
            _check(np.abs(from_t - ri) > 1e-6,
                   "ri does not agree with ti (ri = ti / sqrt(ti^2 + ni - mi - 1))")
        yi = ri.copy()
    else:
        yi = ti / np.sqrt(ti**2 + df)
    if measure == "ZPCOR":
        return np.arctanh(yi), 1 / df
    _vtype(measure, vtype, ("LS", "AV"))
    if vtype == "AV":
        return yi, (1 - _wmean(yi, ni) ** 2) ** 2 / df
    return yi, (1 - yi**2) ** 2 / df
