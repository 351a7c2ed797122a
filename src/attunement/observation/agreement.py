"""Observer agreement: Cohen's (weighted) kappa, Fleiss' and Light's kappa, Shrout–Fleiss ICCs,
time-unit kappa with tolerance, and event-based agreement with alignment.

The category set always comes from the caller (the coding scheme or the instrument's range),
never from the observed ratings: an unobserved category changes weighted kappa (Fleiss, Cohen & Everitt 1969).

Standard errors of Cohen's kappa follow Fleiss, Cohen & Everitt (1969) (the large-sample
variance under the alternative); CIs are Wald intervals, clipped to [−1, 1] as psych does.
ICCs, F tests and CIs follow Shrout & Fleiss (1979) / McGraw & Wong (1996) exactly as R's
``psych::ICC`` computes them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from attunement.observation.errors import ObservationError

NIL = "(nil)"


def _codes(ratings: Sequence[Any], categories: Sequence[Any], who: str) -> np.ndarray:
    index = {c: i for i, c in enumerate(categories)}
    out = np.empty(len(ratings), dtype=np.int64)
    for i, r in enumerate(ratings):
        if r not in index:
            raise ObservationError(
                f"rating {r!r} is not one of the categories {list(categories)!r}",
                field=f"{who}[{i}]")
        out[i] = index[r]
    return out


def weight_matrix(k: int, weights: str | np.ndarray | None) -> np.ndarray:
    """Agreement weights for a K×K table.

    Parameters
    ----------
    k : int
        The number of categories.
    weights : {None, "unweighted", "linear", "quadratic"} or array
        Identity (unweighted), linear 1 − |i−j|/(k−1), quadratic 1 − (i−j)²/(k−1)², or a k×k
        matrix of one's own.

    Returns
    -------
    numpy.ndarray
        The k×k agreement weights (psych's ``cohen.kappa`` uses the same, as agreement weights).

    Raises
    ------
    ValueError
        An unknown name, or a matrix of the wrong shape.

    Examples
    --------
    >>> weight_matrix(3, "linear")
    array([[1. , 0.5, 0. ],
           [0.5, 1. , 0.5],
           [0. , 0.5, 1. ]])
    """
    if weights is None or (isinstance(weights, str) and weights == "unweighted"):
        return np.eye(k)
    if isinstance(weights, str):
        i, j = np.indices((k, k))
        if weights == "linear":
            return 1 - np.abs(i - j) / (k - 1)
        if weights == "quadratic":
            return 1 - (i - j) ** 2 / (k - 1) ** 2
        raise ValueError("weights must be None, 'linear', 'quadratic' or a matrix")
    w = np.asarray(weights, float)
    if w.shape != (k, k):
        raise ValueError(f"weight matrix must be {k}×{k}")
    return w


def kappa_from_table(table: np.ndarray, weights: str | np.ndarray | None = None,
                     *, alpha: float = 0.05) -> dict:
    """Cohen's kappa of a K×K count table (rows coder 1), with the FCE variance and a Wald CI.

    Parameters
    ----------
    table : array-like
        K×K counts: rows coder 1's category, columns coder 2's.
    weights : {None, "linear", "quadratic"} or array, optional
        Agreement weights (:func:`weight_matrix`); None for the unweighted kappa.
    alpha : float, default 0.05
        1 − the confidence level.

    Returns
    -------
    dict
        ``kappa, var, se, ci_low, ci_high, p_observed, p_expected, n, kappa_max`` (``kappa_max``
        for the unweighted kappa only). The variance is Fleiss, Cohen & Everitt's (1969); a
        variance negative by rounding is set to 0, as psych does.

    Raises
    ------
    ObservationError
        The table is empty.

    Examples
    --------
    R: ``psych::cohen.kappa(data.frame(r1 = c(1,1,1,1,1,1), r2 = c(1,1,2,1,2,1)))`` gives
    kappa 0, var 0 and CI [0, 0]. The 4-point worked example of ``docs/statistics/coded-interaction.md``;
    R ``psych::cohen.kappa`` on the same ratings: kappa 0.5858896.

    >>> r = kappa_from_table([[5, 2, 0, 0], [1, 6, 2, 0], [0, 2, 7, 1], [0, 0, 1, 3]])
    >>> round(r["kappa"], 4), round(r["p_observed"], 2), round(r["p_expected"], 4)
    (0.5859, 0.7, 0.2756)
    """
    x = np.asarray(table, float)
    n = x.sum()
    if n <= 0:
        raise ObservationError("no rated units to compare", field="ratings")
    p = x / n
    k = len(p)
    w = weight_matrix(k, weights)
    pr, pc = p.sum(1), p.sum(0)
    po = float((w * p).sum())
    pe = float((w * np.outer(pr, pc)).sum())
    if pe >= 1:
        kappa = float("nan")
        var = float("nan")
    else:
        kappa = (po - pe) / (1 - pe)
        wi = w @ pc          # w̄_i. = Σ_j p_.j w_ij
        wj = pr @ w          # w̄_.j = Σ_i p_i. w_ij
        term = (p * (w - (wi[:, None] + wj[None, :]) * (1 - kappa)) ** 2).sum()
        var = (term - (kappa - pe * (1 - kappa)) ** 2) / (n * (1 - pe) ** 2)
    z = stats.norm.ppf(1 - alpha / 2)
    if not math.isnan(kappa) and not var >= 0:
        # psych::cohen.kappa sets a negative or undefined large-sample variance to 0 (it is a
        # rounding residue of 0 in degenerate tables, e.g. one coder using a single category),
        # so the interval is [kappa, kappa]; clipping NaN bounds to [-1, 1] would invent one
        var = 0.0
    se = float(np.sqrt(var)) if var >= 0 else float("nan")
    lo, hi = kappa - z * se, kappa + z * se
    return {"kappa": float(kappa), "var": float(var), "se": se,
            "ci_low": float(max(-1.0, lo)) if not math.isnan(lo) else float("nan"),
            "ci_high": float(min(1.0, hi)) if not math.isnan(hi) else float("nan"),
            "p_observed": po, "p_expected": pe, "n": int(n),
            "kappa_max": _kappa_max(pr, pc, pe) if weights is None else float("nan")}


def _kappa_max(pr: np.ndarray, pc: np.ndarray, pe: float) -> float:
    return float((np.minimum(pr, pc).sum() - pe) / (1 - pe)) if pe < 1 else float("nan")


def agreement_table(r1: Sequence[Any], r2: Sequence[Any], categories: Sequence[Any]) -> np.ndarray:
    """K×K count table of two coders' ratings over the given categories.

    Parameters
    ----------
    r1, r2 : sequence
        The two coders' ratings of the same units, in the same order.
    categories : sequence
        The category set (from the scheme or instrument, not from the data).

    Returns
    -------
    numpy.ndarray
        Counts, rows coder 1, columns coder 2, in the order of ``categories``.

    Raises
    ------
    ObservationError
        The coders rated different numbers of units, or a rating is not a category (the message
        names ``coder1[i]`` or ``coder2[i]``).

    Examples
    --------
    >>> agreement_table(list("AABBC"), list("AABCC"), "ABC")
    array([[2, 0, 0],
           [0, 1, 1],
           [0, 0, 1]])
    """
    if len(r1) != len(r2):
        raise ObservationError(f"the coders rated {len(r1)} and {len(r2)} units", field="ratings")
    a, b = _codes(r1, categories, "coder1"), _codes(r2, categories, "coder2")
    k = len(categories)
    return np.bincount(a * k + b, minlength=k * k).reshape(k, k)


def cohen_kappa(
    rater1: Sequence[Any],
    rater2: Sequence[Any],
    categories: Sequence[Any],
    *,
    weights: str | np.ndarray | None = None,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Cohen's kappa (unweighted, ``"linear"`` or ``"quadratic"``) with FCE SE and CI.

    Checked against psych 2.2.9 ``cohen.kappa`` (point estimates and the unweighted variance) and
    the Fleiss–Cohen–Everitt variance for weighted kappa (psych's weighted variance differs; see
    ``docs/statistics/coded-interaction.md``).

    Parameters
    ----------
    rater1, rater2 : sequence
        The two coders' ratings of the same units.
    categories : sequence
        The category set, in scale order for weighted kappa.
    weights : {None, "linear", "quadratic"} or array, optional
        Agreement weights; None for the unweighted kappa.
    alpha : float, default 0.05
        1 − the confidence level.

    Returns
    -------
    pandas.DataFrame
        One row: ``weights, kappa, se, ci_low, ci_high, p_observed, p_expected, kappa_max, n``.

    Raises
    ------
    ObservationError
        Different numbers of ratings, or a rating outside ``categories``.

    Examples
    --------
    R: ``psych::cohen.kappa(data.frame(a = c(1,1,2,2,3), b = c(1,1,2,3,3)))$kappa`` is 0.7058824.

    >>> r = cohen_kappa(list("AABBC"), list("AABCC"), categories="ABC")
    >>> round(float(r["kappa"].iloc[0]), 4)
    0.7059
    """
    res = kappa_from_table(agreement_table(rater1, rater2, list(categories)), weights, alpha=alpha)
    name = weights if isinstance(weights, str) else ("unweighted" if weights is None else "custom")
    return pd.DataFrame([{"weights": name, **{k: res[k] for k in (
        "kappa", "se", "ci_low", "ci_high", "p_observed", "p_expected", "kappa_max", "n")}}])


def fleiss_kappa(ratings: Sequence[Sequence[Any]], categories: Sequence[Any]) -> float:
    """Fleiss (1971) kappa for several raters.

    Parameters
    ----------
    ratings : sequence of sequences
        Units × raters (the same number of raters per unit).
    categories : sequence
        The category set.

    Returns
    -------
    float
        Fleiss' kappa.

    Raises
    ------
    ObservationError
        Not a units × raters table with at least two raters, or a rating outside ``categories``.

    Examples
    --------
    The textbook formula (Fleiss 1971, *Psychol Bull* 76:378–382) computed in base R (as in
    ``tests/reference/irr_reference.R``; ``irr::kappam.fleiss`` is not packaged for Debian) gives
    0.5833333 for these ratings coded 1–3.

    >>> ratings = [["A", "A", "A"], ["B", "B", "A"], ["C", "C", "C"], ["A", "B", "A"],
    ...            ["B", "B", "B"]]
    >>> round(fleiss_kappa(ratings, "ABC"), 4)
    0.5833
    """
    arr = np.asarray(ratings, dtype=object)
    if arr.ndim != 2 or arr.shape[1] < 2:
        raise ObservationError("ratings must be a units × raters table with ≥ 2 raters",
                               field="ratings")
    n, m = arr.shape
    k = len(categories)
    idx = _codes(arr.ravel().tolist(), list(categories), "ratings").reshape(n, m)
    counts = np.zeros((n, k))
    np.add.at(counts, (np.repeat(np.arange(n), m), idx.ravel()), 1)
    p_i = ((counts ** 2).sum(1) - m) / (m * (m - 1))
    p_j = counts.sum(0) / (n * m)
    pe = (p_j ** 2).sum()
    return float((p_i.mean() - pe) / (1 - pe))


def light_kappa(ratings: Sequence[Sequence[Any]], categories: Sequence[Any]) -> float:
    """Light (1971) kappa: the mean of Cohen's kappa over all pairs of raters.

    Parameters
    ----------
    ratings : sequence of sequences
        Units × raters.
    categories : sequence
        The category set.

    Returns
    -------
    float
        The mean pairwise kappa.

    Examples
    --------
    R: ``psych::cohen.kappa(data.frame(c1 = c(1,2,3,1,2), c2 = c(1,2,3,2,2),
    c3 = c(1,1,3,1,2)))$av.kappa`` is 0.6064815.

    >>> ratings = [["A", "A", "A"], ["B", "B", "A"], ["C", "C", "C"], ["A", "B", "A"],
    ...            ["B", "B", "B"]]
    >>> round(light_kappa(ratings, "ABC"), 4)
    0.6065
    """
    arr = np.asarray(ratings, dtype=object)
    m = arr.shape[1]
    ks = [kappa_from_table(agreement_table(arr[:, i].tolist(), arr[:, j].tolist(),
                                           list(categories)))["kappa"]
          for i in range(m) for j in range(i + 1, m)]
    return float(np.mean(ks))


def icc(ratings: Sequence[Sequence[float]] | np.ndarray, *, alpha: float = 0.05) -> pd.DataFrame:
    """The six Shrout–Fleiss ICCs for a targets × raters table (no missing values).

    Parameters
    ----------
    ratings : array-like
        Targets × raters, numeric, complete.
    alpha : float, default 0.05
        1 − the confidence level.

    Returns
    -------
    pandas.DataFrame
        One row per form ``ICC(1,1) ICC(2,1) ICC(3,1) ICC(1,k) ICC(2,k) ICC(3,k)`` with
        ``type, icc, F, df1, df2, p, ci_low, ci_high`` — the same numbers as R
        ``psych::ICC(x, lmer = FALSE)`` (ICC2/ICC3 are McGraw & Wong's ICC(A,·)/ICC(C,·)).

    Raises
    ------
    ObservationError
        Fewer than two targets or raters, or a missing or non-numeric rating.

    Examples
    --------
    Shrout & Fleiss (1979) Table 2; R: ``psych::ICC(sf, lmer = FALSE)$results$ICC[2]`` is
    0.2897638.

    >>> sf = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]
    >>> icc(sf).set_index("type")["icc"].round(2).tolist()
    [0.17, 0.29, 0.71, 0.44, 0.62, 0.91]
    >>> round(float(icc(sf)["icc"].iloc[1]), 7)
    0.2897638
    """
    x = np.asarray(ratings, float)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 2:
        raise ObservationError("ICC needs a targets × raters table with ≥ 2 of each",
                               field="ratings")
    if not np.all(np.isfinite(x)):
        raise ObservationError("ICC ratings contain missing or non-numeric values",
                               field="ratings")
    n, k = x.shape
    grand = x.mean()
    ss_total = ((x - grand) ** 2).sum()
    ss_b = k * ((x.mean(1) - grand) ** 2).sum()
    ss_j = n * ((x.mean(0) - grand) ** 2).sum()
    ss_e = ss_total - ss_b - ss_j
    msb = ss_b / (n - 1)
    msj = ss_j / (k - 1)
    mse = ss_e / ((n - 1) * (k - 1))
    msw = (ss_j + ss_e) / (n * (k - 1))

    icc1 = (msb - msw) / (msb + (k - 1) * msw)
    icc2 = (msb - mse) / (msb + (k - 1) * mse + k * (msj - mse) / n)
    icc3 = (msb - mse) / (msb + (k - 1) * mse)
    icc1k = (msb - msw) / msb
    icc2k = (msb - mse) / (msb + (msj - mse) / n)
    icc3k = (msb - mse) / msb

    f11, df11n, df11d = msb / msw, n - 1, n * (k - 1)
    f21, df21n, df21d = msb / mse, n - 1, (n - 1) * (k - 1)
    p11 = stats.f.sf(f11, df11n, df11d)
    p21 = stats.f.sf(f21, df21n, df21d)
    q = 1 - alpha / 2
    f1l = f11 / stats.f.ppf(q, df11n, df11d)
    f1u = f11 * stats.f.ppf(q, df11d, df11n)
    l1, u1 = (f1l - 1) / (f1l + k - 1), (f1u - 1) / (f1u + k - 1)
    f3l = f21 / stats.f.ppf(q, df21n, df21d)
    f3u = f21 * stats.f.ppf(q, df21d, df21n)
    l3, u3 = (f3l - 1) / (f3l + k - 1), (f3u - 1) / (f3u + k - 1)
    fj = msj / mse
    vn = (k - 1) * (n - 1) * (k * icc2 * fj + n * (1 + (k - 1) * icc2) - k * icc2) ** 2
    vd = (n - 1) * k ** 2 * icc2 ** 2 * fj ** 2 + (n * (1 + (k - 1) * icc2) - k * icc2) ** 2
    v = vn / vd
    f2u = stats.f.ppf(q, n - 1, v)
    f2l = stats.f.ppf(q, v, n - 1)
    l2 = n * (msb - f2u * mse) / (f2u * (k * msj + (k * n - k - n) * mse) + n * msb)
    u2 = n * (f2l * msb - mse) / (k * msj + (k * n - k - n) * mse + n * f2l * msb)
    rows = [
        ("ICC(1,1)", icc1, f11, df11n, df11d, p11, l1, u1),
        ("ICC(2,1)", icc2, f21, df21n, df21d, p21, l2, u2),
        ("ICC(3,1)", icc3, f21, df21n, df21d, p21, l3, u3),
        ("ICC(1,k)", icc1k, f11, df11n, df11d, p11, 1 - 1 / f1l, 1 - 1 / f1u),
        ("ICC(2,k)", icc2k, f21, df21n, df21d, p21, l2 * k / (1 + l2 * (k - 1)),
         u2 * k / (1 + u2 * (k - 1))),
        ("ICC(3,k)", icc3k, f21, df21n, df21d, p21, 1 - 1 / f3l, 1 - 1 / f3u),
    ]
    return pd.DataFrame(rows, columns=["type", "icc", "F", "df1", "df2", "p", "ci_low", "ci_high"])


# ---------------------------------------------------------------------------------------------
# timed-event agreement


def unit_codes(
    onsets: np.ndarray, offsets: np.ndarray, codes: Sequence[str], n: int, unit: float = 1.0,
    *, none: str = NIL,
) -> np.ndarray:
    """The code occurring at the midpoint of each time unit (``none`` where nothing is coded).

    Intended for one mutually exclusive set of states; where states overlap, the later-starting
    one wins.

    Parameters
    ----------
    onsets, offsets : numpy.ndarray
        Event times in seconds (a NaN offset: a point event, one unit long).
    codes : sequence of str
        The events' codes.
    n : int
        The number of time units.
    unit : float, default 1.0
        The unit length in seconds.
    none : str, default ``"(nil)"``
        The code of a unit in which nothing is coded.

    Returns
    -------
    numpy.ndarray
        ``n`` codes (object array).

    Examples
    --------
    >>> import numpy as np
    >>> unit_codes(np.array([0.0, 2.0]), np.array([2.0, 5.0]), ["C", "F"], 6).tolist()
    ['C', 'C', 'F', 'F', 'F', '(nil)']
    """
    out = np.full(n, none, dtype=object)
    mids = (np.arange(n) + 0.5) * unit
    order = np.argsort(np.asarray(onsets, float), kind="stable")
    for i in order:
        on, off = float(onsets[i]), float(offsets[i])
        if np.isnan(off):
            off = on + unit
        lo = np.searchsorted(mids, on, side="left")
        hi = np.searchsorted(mids, off, side="left")
        out[lo:hi] = codes[i]
    return out


def time_unit_kappa(
    coder1: Sequence[Any],
    coder2: Sequence[Any],
    categories: Sequence[Any],
    *,
    tolerance: int = 0,
) -> pd.DataFrame:
    """Time-unit kappa (Bakeman, Quera & Gnisci 2009) of two per-unit code series.

    With ``tolerance = t`` units, a disagreement at unit u is tallied as an agreement when coder
    1's code appears in coder 2's record within u ± t (or coder 2's code in coder 1's), so onset
    jitter of up to t units is forgiven; otherwise the pair is tallied as coded. The category set
    (including a "nothing coded" category if used) comes from the caller.

    Parameters
    ----------
    coder1, coder2 : sequence
        One code per time unit for each coder.
    categories : sequence
        The category set.
    tolerance : int, default 0
        Forgiven jitter in units.

    Returns
    -------
    pandas.DataFrame
        One row: ``tolerance, kappa, se, ci_low, ci_high, p_observed, p_expected, n``.

    Raises
    ------
    ObservationError
        The records differ in length, or a code is not a category.

    Examples
    --------
    The worked example of ``docs/statistics/coded-interaction.md`` (coder B one second behind); with no
    tolerance this is Cohen's kappa of the unit pairs (R: ``psych::cohen.kappa`` gives 0.68).

    >>> a, b = list("CCCCFFFRRRRRFFCCCCCC"), list("CCCCCFFFRRRRRFFCCCCC")
    >>> round(float(time_unit_kappa(a, b, "CFR")["kappa"].iloc[0]), 3)
    0.68
    >>> float(time_unit_kappa(a, b, "CFR", tolerance=1)["kappa"].iloc[0])
    1.0
    """
    a = np.asarray(coder1, dtype=object)
    b = np.asarray(coder2, dtype=object)
    if len(a) != len(b):
        raise ObservationError(f"the coders' records have {len(a)} and {len(b)} units",
                               field="units")
    cats = list(categories)
    ai, bi = _codes(a.tolist(), cats, "coder1"), _codes(b.tolist(), cats, "coder2")
    t = int(tolerance)
    if t > 0:
        n = len(ai)
        aj, bj = ai.copy(), bi.copy()
        dis = np.flatnonzero(ai != bi)
        for u in dis:
            lo, hi = max(0, u - t), min(n, u + t + 1)
            if ai[u] in bi[lo:hi]:
                bj[u] = ai[u]
            elif bi[u] in ai[lo:hi]:
                aj[u] = bi[u]
        ai, bi = aj, bj
    k = len(cats)
    table = np.bincount(ai * k + bi, minlength=k * k).reshape(k, k)
    res = kappa_from_table(table)
    return pd.DataFrame([{"tolerance": t, **{x: res[x] for x in (
        "kappa", "se", "ci_low", "ci_high", "p_observed", "p_expected", "n")}}])


def align_events(
    a_onsets: Sequence[float], b_onsets: Sequence[float], *, tolerance: float = 1.0
) -> list[tuple[int | None, int | None]]:
    """One-to-one matching of two coders' events whose onsets differ by at most ``tolerance`` s.

    Dynamic programming over the onset-sorted sequences (Needleman–Wunsch with gap cost 1 and a
    match allowed only within the tolerance; among equally good alignments the one with the
    smallest total onset difference wins).

    Parameters
    ----------
    a_onsets, b_onsets : sequence of float
        The two coders' event onsets in seconds.
    tolerance : float, default 1.0
        The largest onset difference of a match.

    Returns
    -------
    list of tuple
        Pairs of indices into the inputs; None stands for unmatched.

    Examples
    --------
    >>> align_events([1.0, 5.0, 9.0], [1.4, 9.8, 20.0], tolerance=1.0)
    [(0, 0), (1, None), (2, 1), (None, 2)]
    """
    a = np.asarray(a_onsets, float)
    b = np.asarray(b_onsets, float)
    oa, ob = np.argsort(a, kind="stable"), np.argsort(b, kind="stable")
    sa, sb = a[oa], b[ob]
    n, m = len(sa), len(sb)
    big = 1e6
    # cost = number of unmatched events * big + total |onset difference| of matched pairs
    cost = np.zeros((n + 1, m + 1))
    cost[:, 0] = np.arange(n + 1) * big
    cost[0, :] = np.arange(m + 1) * big
    move = np.zeros((n + 1, m + 1), dtype=np.int8)  # 0 diag, 1 up (a unmatched), 2 left
    move[1:, 0] = 1
    move[0, 1:] = 2
    for i in range(1, n + 1):
        diff = np.abs(sa[i - 1] - sb)
        for j in range(1, m + 1):
            best, mv = cost[i - 1, j] + big, 1
            left = cost[i, j - 1] + big
            if left < best:
                best, mv = left, 2
            if diff[j - 1] <= tolerance + 1e-9:
                d = cost[i - 1, j - 1] + diff[j - 1]
                if d < best:
                    best, mv = d, 0
            cost[i, j], move[i, j] = best, mv
    pairs: list[tuple[int | None, int | None]] = []
    i, j = n, m
    while i > 0 or j > 0:
        mv = move[i, j]
        if mv == 0:
            pairs.append((int(oa[i - 1]), int(ob[j - 1])))
            i, j = i - 1, j - 1
        elif mv == 1:
            pairs.append((int(oa[i - 1]), None))
            i -= 1
        else:
            pairs.append((None, int(ob[j - 1])))
            j -= 1
    return pairs[::-1]


def align_sequences(codes1: Sequence[str], codes2: Sequence[str]) -> list[tuple[int | None,
                                                                             int | None]]:
    """Needleman–Wunsch alignment of two untimed code sequences (Quera, Bakeman & Gnisci 2007).

    Costs: substitution 1 (0 for equal codes), omission/commission 1; among alignments of equal
    cost, matches are preferred to a gap pair.

    Parameters
    ----------
    codes1, codes2 : sequence of str
        The two coders' codes in order.

    Returns
    -------
    list of tuple
        Index pairs ``(i, j)``; None stands for nil (an event the other coder did not record).

    Examples
    --------
    >>> align_sequences(list("CFRFC"), list("CFRC"))
    [(0, 0), (1, 1), (2, 2), (3, None), (4, 3)]
    """
    a, b = list(codes1), list(codes2)
    n, m = len(a), len(b)
    cost = np.zeros((n + 1, m + 1))
    cost[:, 0] = np.arange(n + 1)
    cost[0, :] = np.arange(m + 1)
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            cost[i, j] = min(cost[i - 1, j - 1] + (a[i - 1] != b[j - 1]),
                             cost[i - 1, j] + 1, cost[i, j - 1] + 1)
    pairs: list[tuple[int | None, int | None]] = []
    i, j = n, m
    while i > 0 or j > 0:
        if i > 0 and j > 0 and cost[i, j] == cost[i - 1, j - 1] + (a[i - 1] != b[j - 1]):
            pairs.append((i - 1, j - 1))
            i, j = i - 1, j - 1
        elif i > 0 and cost[i, j] == cost[i - 1, j] + 1:
            pairs.append((i - 1, None))
            i -= 1
        else:
            pairs.append((None, j - 1))
            j -= 1
    return pairs[::-1]


def event_agreement(
    events1: pd.DataFrame,
    events2: pd.DataFrame,
    categories: Sequence[str],
    *,
    tolerance: float = 1.0,
    method: str = "onset",
) -> pd.DataFrame:
    """Event-based agreement of two coders' event tables (one session, one set of codes).

    Events are aligned by onset within ``tolerance`` seconds (:func:`align_events`), or with
    ``method="sequence"`` by their order only (:func:`align_sequences`, GSEQ's approach); aligned
    pairs are tallied by code in a (K+1)×(K+1) table with a nil code for an event one coder
    missed (nil–nil is structurally empty).

    Parameters
    ----------
    events1, events2 : pandas.DataFrame
        Event tables (:func:`~attunement.observation.events.make_event_table`).
    categories : sequence of str
        The codes compared; other codes are left out.
    tolerance : float, default 1.0
        Onset difference in seconds within which two events match (``method="onset"``).
    method : {"onset", "sequence"}
        How to align.

    Returns
    -------
    pandas.DataFrame
        One row: ``kappa_with_nil`` (did they see the same events and label them alike),
        ``kappa_matched`` (label agreement of matched events only), ``n_matched, n_only_1,
        n_only_2, percent_agreement``.

    Raises
    ------
    ObservationError
        A coder has events but none with a code in ``categories``.
    ValueError
        An unknown ``method``.

    Examples
    --------
    >>> from attunement.observation import make_event_table
    >>> def table(rows):
    ...     return make_event_table([{"session": "s", "actor": "Infant", "code": c, "onset": t,
    ...                               "offset": t + 1} for c, t in rows])
    >>> a = table([("cry", 1.0), ("fuss", 5.0), ("cry", 9.0)])
    >>> b = table([("cry", 1.5), ("cry", 5.2), ("cry", 9.1), ("fuss", 30.0)])
    >>> r = event_agreement(a, b, ["cry", "fuss"], tolerance=1.0).iloc[0]
    >>> int(r["n_matched"]), int(r["n_only_1"]), int(r["n_only_2"]), float(r["percent_agreement"])
    (3, 0, 1, 0.5)
    """
    cats = list(categories)
    e1 = events1[events1["code"].isin(cats)].reset_index(drop=True)
    e2 = events2[events2["code"].isin(cats)].reset_index(drop=True)
    for name, e, full in (("coder 1", e1, events1), ("coder 2", e2, events2)):
        extra = sorted(set(full["code"]) - set(cats))
        if extra and len(e) == 0 and len(full):
            raise ObservationError(f"{name}: none of the codes are in the category set "
                                   f"({', '.join(extra[:5])} …)", field="code")
    if method == "onset":
        pairs = align_events(e1["onset"].to_numpy(), e2["onset"].to_numpy(),
                             tolerance=tolerance)
    elif method == "sequence":
        e1 = e1.sort_values("onset", kind="stable").reset_index(drop=True)
        e2 = e2.sort_values("onset", kind="stable").reset_index(drop=True)
        pairs = align_sequences(e1["code"].tolist(), e2["code"].tolist())
    else:
        raise ValueError("method must be 'onset' or 'sequence'")
    c1 = [e1.at[i, "code"] if i is not None else NIL for i, _ in pairs]
    c2 = [e2.at[j, "code"] if j is not None else NIL for _, j in pairs]
    return pairs_agreement(c1, c2, cats)


def pairs_agreement(codes1: Sequence[str], codes2: Sequence[str],
                    categories: Sequence[str]) -> pd.DataFrame:
    """Kappa with and without nil over aligned code pairs (nil = event missed by that coder).

    Parameters
    ----------
    codes1, codes2 : sequence of str
        Aligned codes, ``"(nil)"`` where a coder has no event.
    categories : sequence of str
        The category set (nil is added).

    Returns
    -------
    pandas.DataFrame
        One row: ``kappa_with_nil, kappa_matched, n_matched, n_only_1, n_only_2,
        percent_agreement``.

    Examples
    --------
    The event-based worked example of ``docs/statistics/coded-interaction.md``.

    >>> r = pairs_agreement(list("CFRFC") + ["(nil)", "(nil)"],
    ...                     list("CFR") + ["(nil)"] + list("CFC"), categories="CFR")
    >>> round(float(r["kappa_with_nil"].iloc[0]), 3), float(r["kappa_matched"].iloc[0])
    (0.417, 1.0)
    """
    cats = [*list(categories), NIL]
    table = agreement_table(list(codes1), list(codes2), cats)
    with_nil = kappa_from_table(table)
    matched = table[:-1, :-1]
    kap_m = kappa_from_table(matched)["kappa"] if matched.sum() else float("nan")
    n_m = int(matched.sum())
    return pd.DataFrame([{
        "kappa_with_nil": with_nil["kappa"], "kappa_matched": kap_m, "n_matched": n_m,
        "n_only_1": int(table[:-1, -1].sum()), "n_only_2": int(table[-1, :-1].sum()),
        "percent_agreement": float(np.trace(table)) / table.sum() if table.sum() else np.nan,
    }])
