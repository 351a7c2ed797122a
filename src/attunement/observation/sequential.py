"""Sequential analysis as GSEQ defines it (Bakeman & Quera 2011), vectorised with NumPy.

* 2×2 statistics: odds ratio, log odds ratio with a Wald CI, Yule's Q (with a CI through the OR
  interval), Haberman's adjusted residual, X² (``docs/statistics/coded-interaction.md``).
* Time-window tables: time units of size ``unit``; every cue onset opens the window
  ``(onset, +W)``: the onset's unit and the following units up to ``W`` seconds (half-open, so
  ``(onset, +5)`` with 1-s units is the onset second and the next four); target units are the
  units holding a response onset (or, with ``target="occurrence"``, in which it is occurring).
  Times are converted to units first (``floor(t / unit)``), as GSEQ does.
* Circular-shift permutation test: the response stream is shifted circularly by every shift
  1…N−1 (or a seeded sample of ``permutations`` of them when there are more), Yule's Q is
  recomputed for each, and p = (#{Q_shift ≥ Q_obs} + 1) / (n_shifts + 1). All shifts are
  computed at once as a circular cross-correlation by FFT.
* Lag-sequential analysis of event sequences (transition counts, probabilities, expected
  frequencies, adjusted residuals, Yule's Q), with structural zeros fitted by iterative
  proportional fitting when repeats are impossible.
* Lagged and windowed cross-correlation (Boker et al. 2002) for per-second coded series.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

_EPS = 1e-9


def table_2x2_stats(a: float, b: float, c: float, d: float, *, alpha: float = 0.05) -> dict:
    """Statistics of a 2×2 table (rows: given yes/no; columns: target yes/no).

    Parameters
    ----------
    a, b, c, d : float
        The cells: given and target, given only, target only, neither.
    alpha : float, default 0.05
        1 − the confidence level of the OR and Q intervals.

    Returns
    -------
    dict
        ``a, b, c, d, n, odds_ratio, log_odds_ratio, se_log_odds_ratio, or_ci_low,
        or_ci_high, yules_q, q_ci_low, q_ci_high, expected_a, adjusted_residual, chi2,
        p_target_given, p_target_not_given``. Undefined values are NaN (a zero cell makes the
        OR 0 or ∞ and its CI undefined; no correction is applied).

    Examples
    --------
    Worked example A of ``docs/statistics/coded-interaction.md``. R: ``m <- matrix(c(18, 12, 42,
    228), 2)``; ``psych::Yule(m)`` is 0.78125 and ``chisq.test(m, correct = FALSE)$stdres[1, 1]``
    is 5.773503.

    >>> s = table_2x2_stats(18, 42, 12, 228)
    >>> round(s["yules_q"], 5), round(s["adjusted_residual"], 6)
    (0.78125, 5.773503)
    """
    return {k: float(np.asarray(v).ravel()[0]) for k, v in _stats_arrays(
        np.asarray([a], float), np.asarray([b], float), np.asarray([c], float),
        np.asarray([d], float), alpha=alpha).items()}


def _stats_arrays(a, b, c, d, *, alpha: float = 0.05) -> dict[str, np.ndarray]:
    n = a + b + c + d
    r1, c1 = a + b, a + c
    with np.errstate(divide="ignore", invalid="ignore"):
        ad, bc = a * d, b * c
        orr = np.where(bc > 0, ad / np.where(bc > 0, bc, 1), np.where(ad > 0, np.inf, np.nan))
        log_or = np.log(orr)
        se = np.sqrt(1 / a + 1 / b + 1 / c + 1 / d)
        se = np.where((a > 0) & (b > 0) & (c > 0) & (d > 0), se, np.nan)
        z = stats.norm.ppf(1 - alpha / 2)
        lo, hi = np.exp(log_or - z * se), np.exp(log_or + z * se)
        q = np.where(ad + bc > 0, (ad - bc) / np.where(ad + bc > 0, ad + bc, 1), np.nan)
        e = r1 * c1 / n
        denom = np.sqrt(e * (1 - r1 / n) * (1 - c1 / n))
        adj = np.where(denom > 0, (a - e) / np.where(denom > 0, denom, 1), np.nan)
        e_all = [r1 * c1 / n, r1 * (n - c1) / n, (n - r1) * c1 / n, (n - r1) * (n - c1) / n]
        chi2 = sum((o - ee) ** 2 / ee for o, ee in zip((a, b, c, d), e_all, strict=True))
        chi2 = np.where(denom > 0, chi2, np.nan)
        return {
            "a": a, "b": b, "c": c, "d": d, "n": n,
            "odds_ratio": orr, "log_odds_ratio": log_or, "se_log_odds_ratio": se,
            "or_ci_low": lo, "or_ci_high": hi,
            "yules_q": q, "q_ci_low": (lo - 1) / (lo + 1), "q_ci_high": (hi - 1) / (hi + 1),
            "expected_a": e, "adjusted_residual": adj, "chi2": chi2,
            "p_target_given": np.where(r1 > 0, a / np.where(r1 > 0, r1, 1), np.nan),
            "p_target_not_given": np.where(n - r1 > 0, c / np.where(n - r1 > 0, n - r1, 1),
                                           np.nan),
        }


def n_units(duration: float, unit: float = 1.0) -> int:
    """Number of time units in a session of ``duration`` seconds (the last one may be partial).

    Parameters
    ----------
    duration : float
        Session length in seconds.
    unit : float, default 1.0
        Unit length in seconds.

    Returns
    -------
    int
        At least 1.

    Examples
    --------
    >>> n_units(60.5)
    61
    """
    return max(int(np.ceil(duration / unit - _EPS)), 1)


def window_units(
    onsets: np.ndarray, n: int, window: tuple[float, float] = (0.0, 5.0), unit: float = 1.0
) -> np.ndarray:
    """Boolean unit series: units inside ``(onset + lo, onset + hi)`` windows of the onsets.

    Parameters
    ----------
    onsets : numpy.ndarray
        Cue onsets in seconds.
    n : int
        Number of units (:func:`n_units`).
    window : tuple of float, default (0.0, 5.0)
        The window in seconds after each onset, half-open: the onset's unit and the following
        units up to ``hi`` seconds.
    unit : float, default 1.0
        Unit length in seconds.

    Returns
    -------
    numpy.ndarray
        ``n`` booleans.

    Raises
    ------
    ValueError
        The window is shorter than one unit.

    Examples
    --------
    >>> import numpy as np
    >>> np.flatnonzero(window_units(np.array([3.0, 25.0]), 30)).tolist()
    [3, 4, 5, 6, 7, 25, 26, 27, 28, 29]
    """
    lo_u = round(window[0] / unit)
    hi_u = round(window[1] / unit)
    if hi_u <= lo_u:
        raise ValueError("the window must be at least one time unit long")
    start = np.floor(np.asarray(onsets, float) / unit + _EPS).astype(np.int64) + lo_u
    stop = start + (hi_u - lo_u)
    start = np.clip(start, 0, n)
    stop = np.clip(stop, 0, n)
    diff = np.bincount(start, minlength=n + 1)[: n + 1] - np.bincount(stop, minlength=n + 1)[
        : n + 1]
    return np.cumsum(diff)[:n] > 0


def onset_units(onsets: np.ndarray, n: int, unit: float = 1.0) -> np.ndarray:
    """Boolean unit series: units holding at least one onset.

    Parameters
    ----------
    onsets : numpy.ndarray
        Onsets in seconds.
    n, unit
        As for :func:`window_units`.

    Returns
    -------
    numpy.ndarray
        ``n`` booleans, True where an onset falls.

    Examples
    --------
    >>> import numpy as np
    >>> np.flatnonzero(onset_units(np.array([5.2, 18.0]), 30)).tolist()
    [5, 18]
    """
    idx = np.floor(np.asarray(onsets, float) / unit + _EPS).astype(np.int64)
    idx = np.clip(idx, 0, n - 1)
    out = np.zeros(n, dtype=bool)
    out[idx] = True
    return out


def occurrence_units(onsets: np.ndarray, offsets: np.ndarray, n: int,
                     unit: float = 1.0) -> np.ndarray:
    """Boolean unit series: units in which a state is occurring (a point occupies its unit).

    Parameters
    ----------
    onsets, offsets : numpy.ndarray
        State times in seconds; a NaN offset is a point event.
    n, unit
        As for :func:`window_units`.

    Returns
    -------
    numpy.ndarray
        ``n`` booleans, True while a state is occurring.

    Examples
    --------
    >>> import numpy as np
    >>> np.flatnonzero(occurrence_units(np.array([5.0, 18.0]), np.array([8.0, np.nan]), 30)).tolist()
    [5, 6, 7, 18]
    """
    on = np.floor(np.asarray(onsets, float) / unit + _EPS).astype(np.int64)
    off_t = np.asarray(offsets, float)
    off = np.where(np.isnan(off_t), on + 1,
                   np.ceil(np.nan_to_num(off_t) / unit - _EPS).astype(np.int64))
    off = np.maximum(off, on + 1)
    on, off = np.clip(on, 0, n), np.clip(off, 0, n)
    diff = np.bincount(on, minlength=n + 1)[: n + 1] - np.bincount(off, minlength=n + 1)[: n + 1]
    return np.cumsum(diff)[:n] > 0


def tally_2x2(given: np.ndarray, target: np.ndarray) -> tuple[int, int, int, int]:
    """(a, b, c, d) of two boolean unit series.

    Parameters
    ----------
    given, target : numpy.ndarray
        Boolean unit series of one length (rows: given yes/no; columns: target yes/no).

    Returns
    -------
    tuple of int
        ``(a, b, c, d)``: given and target, given only, target only, neither.

    Examples
    --------
    Worked example B of ``docs/statistics/coded-interaction.md``:

    >>> import numpy as np
    >>> g = window_units(np.array([3.0, 25.0, 47.0]), 60)
    >>> t = onset_units(np.array([5.0, 18.0, 28.0, 55.0]), 60)
    >>> tally_2x2(g, t)
    (2, 13, 2, 43)
    """
    given, target = np.asarray(given, bool), np.asarray(target, bool)
    n, ng, nt = len(given), int(given.sum()), int(target.sum())
    a = int(np.count_nonzero(given & target))
    return a, ng - a, nt - a, n - ng - nt + a


def time_window_table(
    cue_onsets: Sequence[float],
    response_onsets: Sequence[float],
    duration: float,
    *,
    window: tuple[float, float] = (0.0, 5.0),
    unit: float = 1.0,
    response_offsets: Sequence[float] | None = None,
    target: str = "onset",
    alpha: float = 0.05,
) -> dict:
    """GSEQ time-window 2×2 table and its statistics for one session.

    Parameters
    ----------
    cue_onsets, response_onsets : sequence of float
        Onsets in seconds.
    duration : float
        Session length in seconds.
    window : tuple of float, default (0.0, 5.0)
        The window after each cue onset (:func:`window_units`).
    unit : float, default 1.0
        Unit length in seconds.
    response_offsets : sequence of float, optional
        Needed for ``target="occurrence"``.
    target : {"onset", "occurrence"}
        Target units hold a response onset, or a response in progress.
    alpha : float, default 0.05
        1 − the confidence level.

    Returns
    -------
    dict
        As :func:`table_2x2_stats`.

    Raises
    ------
    ValueError
        An unknown ``target``, or ``"occurrence"`` without offsets.

    Examples
    --------
    Worked example B; R: ``psych::Yule(matrix(c(2, 2, 13, 43), 2))`` is 0.5357143.

    >>> r = time_window_table([3, 25, 47], [5, 18, 28, 55], 60)
    >>> (r["a"], r["b"], r["c"], r["d"]), round(r["yules_q"], 4)
    ((2.0, 13.0, 2.0, 43.0), 0.5357)
    """
    n = n_units(duration, unit)
    g = window_units(np.asarray(cue_onsets, float), n, window, unit)
    t = _target_units(response_onsets, response_offsets, n, unit, target)
    return table_2x2_stats(*tally_2x2(g, t), alpha=alpha)


def _target_units(on, off, n, unit, target):
    if target == "onset":
        return onset_units(np.asarray(on, float), n, unit)
    if target == "occurrence":
        if off is None:
            raise ValueError("target='occurrence' needs response offsets")
        return occurrence_units(np.asarray(on, float), np.asarray(off, float), n, unit)
    raise ValueError("target must be 'onset' or 'occurrence'")


def shifted_overlaps(given: np.ndarray, target: np.ndarray) -> np.ndarray:
    """a(s) = #units where ``given`` and ``target`` shifted circularly by s are both true.

    Row-wise for 2-D inputs (one test per row, same length). Exact integers via FFT.

    Parameters
    ----------
    given, target : numpy.ndarray
        Boolean (or 0/1) series, 1-D or rows of one length.

    Returns
    -------
    numpy.ndarray
        Integer overlaps, one row per input row, one column per shift 0…N−1.

    Examples
    --------
    >>> shifted_overlaps([1, 1, 0, 0], [1, 0, 0, 1]).tolist()
    [[1, 2, 1, 0]]
    """
    g = np.atleast_2d(np.asarray(given, float))
    t = np.atleast_2d(np.asarray(target, float))
    n = g.shape[-1]
    prod = np.fft.rfft(g, axis=-1) * np.conj(np.fft.rfft(t, axis=-1))
    return np.rint(np.fft.irfft(prod, n=n, axis=-1)).astype(np.int64)


def circular_shift_test(
    given: np.ndarray,
    target: np.ndarray,
    *,
    permutations: int = 1000,
    seed: int | np.random.Generator | None = None,
) -> tuple[float, float, int]:
    """Circular-shift permutation test of Yule's Q.

    The target (response) stream is shifted by s units (1 ≤ s < N) with wrap-around; every shift
    is used when ``permutations ≥ N − 1``, otherwise a seeded sample without replacement.
    p = (#{Q_s ≥ Q_obs} + 1) / (shifts + 1), one-sided (responses more likely inside windows).

    Parameters
    ----------
    given, target : numpy.ndarray
        Boolean unit series.
    permutations : int, default 1000
        The most shifts to use.
    seed : int or numpy.random.Generator, optional
        For the sample of shifts.

    Returns
    -------
    tuple
        ``(Q_obs, p, shifts used)``.

    Examples
    --------
    Worked example B: 17 of the 59 shifts reach the observed Q, so p = 18/60.

    >>> import numpy as np
    >>> g = window_units(np.array([3.0, 25.0, 47.0]), 60)
    >>> t = onset_units(np.array([5.0, 18.0, 28.0, 55.0]), 60)
    >>> q, p, k = circular_shift_test(g, t)
    >>> round(q, 4), round(p, 4), k
    (0.5357, 0.3, 59)
    """
    given, target = np.asarray(given, bool), np.asarray(target, bool)
    q, p, k = circular_shift_tests(given[None, :], target[None, :], permutations=permutations,
                                   seed=seed)
    return float(q[0]), float(p[0]), int(k)


def circular_shift_tests(
    given: np.ndarray, target: np.ndarray, *, permutations: int = 1000,
    seed: int | np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Vectorised :func:`circular_shift_test` for many (given, target) row pairs of one length.

    Parameters
    ----------
    given, target : numpy.ndarray
        Boolean series, one test per row.
    permutations, seed
        As for :func:`circular_shift_test`.

    Returns
    -------
    tuple
        ``(Q_obs per row, p per row, shifts used)``; p is NaN with no shifts or an undefined Q.

    Examples
    --------
    >>> import numpy as np
    >>> g = window_units(np.array([3.0, 25.0, 47.0]), 60)
    >>> t = onset_units(np.array([5.0, 18.0, 28.0, 55.0]), 60)
    >>> q, p, k = circular_shift_tests(np.vstack([g, g]), np.vstack([t, t]))
    >>> np.round(q, 4).tolist(), np.round(p, 4).tolist(), k
    ([0.5357, 0.5357], [0.3, 0.3], 59)
    """
    given = np.atleast_2d(np.asarray(given, bool))
    target = np.atleast_2d(np.asarray(target, bool))
    n = given.shape[1]
    if permutations <= 0 or n < 2:
        nan = np.full(given.shape[0], np.nan)
        q = _q_from_overlap(given.sum(1)[:, None] * 0 + (given & target).sum(1)[:, None],
                            given.sum(1), target.sum(1), n)[:, 0]
        return q, nan, 0
    if permutations >= n - 1:
        shifts = np.arange(1, n)
    else:
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        shifts = np.sort(rng.choice(np.arange(1, n), size=permutations, replace=False))
    overlaps = shifted_overlaps(given, target)
    ng, nt = given.sum(1), target.sum(1)
    q_all = _q_from_overlap(overlaps, ng, nt, n)
    q_obs = q_all[:, 0]
    q_perm = q_all[:, shifts]
    with np.errstate(invalid="ignore"):
        hits = np.sum(q_perm >= q_obs[:, None] - 1e-12, axis=1)
    p = (hits + 1) / (len(shifts) + 1)
    p = np.where(np.isnan(q_obs), np.nan, p)
    return q_obs, p, len(shifts)


def _q_from_overlap(a, ng, nt, n):
    a = np.asarray(a, float)
    ng = np.asarray(ng, float)[:, None]
    nt = np.asarray(nt, float)[:, None]
    b, c = ng - a, nt - a
    d = n - ng - nt + a
    ad, bc = a * d, b * c
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ad + bc > 0, (ad - bc) / (ad + bc), np.nan)


# ---------------------------------------------------------------------------------------------
# lag-sequential analysis


def _transition_counts(sequence: Sequence[str], lag: int,
                       labels: list[str]) -> np.ndarray:
    index = {c: k for k, c in enumerate(labels)}
    try:
        x = np.fromiter((index[s] for s in sequence), np.int64, len(sequence))
    except KeyError as exc:
        raise ValueError(f"code {exc.args[0]!r} is not in the code list") from None
    k = len(labels)
    if len(x) <= lag:
        return np.zeros((k, k), dtype=np.int64)
    return np.bincount(x[:-lag] * k + x[lag:], minlength=k * k).reshape(k, k)


def transition_table(sequence: Sequence[str], lag: int = 1,
                     codes: Sequence[str] | None = None) -> pd.DataFrame:
    """Counts of code j at position t + lag after code i at t (rows given, columns target).

    Parameters
    ----------
    sequence : sequence of str
        The event codes in order.
    lag : int, default 1
        The lag.
    codes : sequence of str, optional
        The code list (rows and columns); by default the sorted codes of the sequence.

    Returns
    -------
    pandas.DataFrame
        Counts, index ``given``, columns ``target``.

    Raises
    ------
    ValueError
        A code is not in ``codes``.

    Examples
    --------
    >>> transition_table(list("ABABC")).to_numpy().tolist()
    [[0, 2, 0], [1, 0, 1], [0, 0, 0]]
    """
    seq = [str(s) for s in sequence]
    labels = list(codes) if codes is not None else sorted(set(seq))
    counts = _transition_counts(seq, lag, labels)
    return pd.DataFrame(counts, index=pd.Index(labels, name="given"),
                        columns=pd.Index(labels, name="target"))


def ipf_expected(counts: np.ndarray, structural_zero: np.ndarray, *, tol: float = 1e-10,
                 max_iter: int = 1000) -> np.ndarray:
    """Expected frequencies under quasi-independence by iterative proportional fitting.

    Parameters
    ----------
    counts : numpy.ndarray
        The observed table.
    structural_zero : numpy.ndarray
        Boolean, True where a cell cannot occur (e.g. the diagonal when codes cannot repeat).
    tol : float, default 1e-10
        Stop when the row sums are this close.
    max_iter : int, default 1000
        The most iterations.

    Returns
    -------
    numpy.ndarray
        Expected counts with the observed margins and zeros in the structural cells.

    Examples
    --------
    R: ``loglin(x, list(1, 2), start = 1 - diag(3), fit = TRUE, eps = 1e-12, iter = 1000)$fit``
    gives the same table (first row 0, 2.8943, 1.1057).

    >>> import numpy as np
    >>> x = np.array([[0, 3, 1], [2, 0, 2], [1, 2, 0]])
    >>> ipf_expected(x, np.eye(3, dtype=bool)).round(4)
    array([[0.    , 2.8943, 1.1057],
           [2.1057, 0.    , 1.8943],
           [0.8943, 2.1057, 0.    ]])
    """
    x = np.asarray(counts, float)
    e = np.where(structural_zero, 0.0, 1.0)
    rows, cols = x.sum(1), x.sum(0)
    for _ in range(max_iter):
        rs = e.sum(1)
        e = e * np.divide(rows, rs, out=np.zeros_like(rs), where=rs > 0)[:, None]
        cs = e.sum(0)
        e = e * np.divide(cols, cs, out=np.zeros_like(cs), where=cs > 0)[None, :]
        if np.allclose(e.sum(1), rows, atol=tol, rtol=0):
            break
    return e


def lag_sequential(
    sequence: Sequence[str],
    *,
    max_lag: int = 1,
    codes: Sequence[str] | None = None,
    repeats: bool = True,
) -> pd.DataFrame:
    """Lag-sequential analysis of one event sequence, tidy: one row per lag × given × target.

    Columns: ``lag, given, target, count, given_total, target_total, probability (p(target |
    given)), expected, adjusted_residual, pearson_residual, yules_q``. With ``repeats=False``
    the diagonal is a structural zero: expected values come from IPF under quasi-independence,
    the adjusted residual (which assumes independence) is NaN and the Pearson residual is the
    statistic to read (Bakeman & Quera 2011).

    Parameters
    ----------
    sequence : sequence of str
        The event codes in order.
    max_lag : int, default 1
        Lags 1…``max_lag``.
    codes : sequence of str, optional
        The code list; by default the sorted codes of the sequence.
    repeats : bool, default True
        Whether a code may follow itself.

    Returns
    -------
    pandas.DataFrame
        One row per lag × given × target, the columns above; a code outside ``codes`` raises
        ``ValueError``.

    Examples
    --------
    Worked example C of ``docs/statistics/coded-interaction.md``. R, on the lag-1 table ``x``:
    ``chisq.test(x, correct = FALSE)$stdres["IV", "MV"]`` is 3.297116 and
    ``psych::Yule(matrix(c(5, 1, 1, 12), 2))`` is 0.9672131.

    >>> s = "IV MV IV MV IG MT IV MV IV IG MT IG MV IV MV MT IG IV MV IV".split()
    >>> r = lag_sequential(s).set_index(["given", "target"])
    >>> cell = r.loc[("IV", "MV")]
    >>> float(round(cell["adjusted_residual"], 3)), float(round(cell["yules_q"], 4))
    (3.297, 0.9672)
    """
    seq = [str(s) for s in sequence]
    labels = list(codes) if codes is not None else sorted(set(seq))
    k = len(labels)
    cols: dict[str, list[np.ndarray]] = {c: [] for c in (
        "lag", "count", "given_total", "target_total", "probability", "expected",
        "adjusted_residual", "pearson_residual", "yules_q")}
    diag = np.eye(k, dtype=bool)
    for lag in range(1, max_lag + 1):
        x = _transition_counts(seq, lag, labels).astype(float)
        n = x.sum()
        rows, cols_ = x.sum(1, keepdims=True), x.sum(0, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            if repeats:
                e = rows * cols_ / n
                adj = (x - e) / np.sqrt(e * (1 - rows / n) * (1 - cols_ / n))
            else:
                e = ipf_expected(x, diag)
                adj = np.full_like(x, np.nan)
            pearson = (x - e) / np.sqrt(e)
            prob = x / rows
            b, c = rows - x, cols_ - x
            d = n - rows - cols_ + x
            q = (x * d - b * c) / (x * d + b * c)
        if not repeats:
            e, pearson, q = (np.where(diag, np.nan, v) for v in (e, pearson, q))
        cols["lag"].append(np.full(k * k, lag))
        cols["count"].append(x.ravel().astype(np.int64))
        cols["given_total"].append(np.repeat(rows.ravel(), k).astype(np.int64))
        cols["target_total"].append(np.tile(cols_.ravel(), k).astype(np.int64))
        for name, v in (("probability", prob), ("expected", e), ("adjusted_residual", adj),
                        ("pearson_residual", pearson), ("yules_q", q)):
            cols[name].append(v.ravel())
    lab = np.asarray(labels, dtype=object)
    out = {"lag": np.concatenate(cols["lag"]),
           "given": np.tile(np.repeat(lab, k), max_lag),
           "target": np.tile(np.tile(lab, k), max_lag)}
    for name in ("count", "given_total", "target_total", "probability", "expected",
                 "adjusted_residual", "pearson_residual", "yules_q"):
        out[name] = np.concatenate(cols[name])
    return pd.DataFrame(out)


# ---------------------------------------------------------------------------------------------
# synchrony


def _corr_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    xm = x - x.mean(-1, keepdims=True)
    ym = y - y.mean(-1, keepdims=True)
    num = (xm * ym).sum(-1)
    den = np.sqrt((xm * xm).sum(-1) * (ym * ym).sum(-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def lagged_cross_correlation(x: Sequence[float], y: Sequence[float], max_lag: int) -> pd.DataFrame:
    """Pearson r between x[t] and y[t + lag] for lag = −max_lag…max_lag (overlapping part).

    A positive lag means y (the caregiver) follows x (the infant).

    Parameters
    ----------
    x, y : sequence of float
        Two series of one length (per-second codes or ratings).
    max_lag : int
        The largest lag either way.

    Returns
    -------
    pandas.DataFrame
        ``lag, r``.

    Raises
    ------
    ValueError
        The series differ in length.

    Examples
    --------
    >>> lagged_cross_correlation([1, 2, 3, 4, 5, 4, 3, 2], [0, 1, 2, 3, 4, 5, 4, 3], 1).round(4)
       lag       r
    0   -1  0.2140
    1    0  0.7845
    2    1  1.0000
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) != len(y):
        raise ValueError("the two series must have the same length")
    lags = np.arange(-max_lag, max_lag + 1)
    r = []
    for lag in lags:
        if lag >= 0:
            xs, ys = x[: len(x) - lag], y[lag:]
        else:
            xs, ys = x[-lag:], y[: len(y) + lag]
        r.append(_corr_rows(xs, ys) if len(xs) > 1 else np.nan)
    return pd.DataFrame({"lag": lags, "r": np.asarray(r, float)})


def windowed_cross_correlation(
    x: Sequence[float], y: Sequence[float], *, window: int, step: int, max_lag: int
) -> pd.DataFrame:
    """Windowed lagged cross-correlation (Boker et al. 2002), tidy.

    For window start i (0, step, 2·step, …) and lag τ ≥ 0: r = corr(x[i:i+w], y[i+τ:i+τ+w]); for
    τ < 0 x is shifted instead. Windows whose shifted partner would run past either end are
    left out.

    Parameters
    ----------
    x, y : sequence of float
        Two series of one length.
    window, step : int
        Window length in samples, and the distance between window starts.
    max_lag : int
        The largest lag either way.

    Returns
    -------
    pandas.DataFrame
        ``window_start, lag, r``; series of different lengths raise ``ValueError``.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.sin(np.arange(20) / 2)
    >>> y = np.sin((np.arange(20) - 1) / 2)  # y follows x by one sample
    >>> w = windowed_cross_correlation(x, y, window=6, step=5, max_lag=1)
    >>> w[w["window_start"] == 1].round(3)
       window_start  lag      r
    0             1   -1 -0.249
    1             1    0  0.421
    2             1    1  1.000
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) != len(y):
        raise ValueError("the two series must have the same length")
    n = len(x)
    starts = np.arange(max_lag, n - window - max_lag + 1, step)
    if len(starts) == 0:
        return pd.DataFrame({"window_start": [], "lag": [], "r": []})
    xw = np.lib.stride_tricks.sliding_window_view(x, window)
    yw = np.lib.stride_tricks.sliding_window_view(y, window)
    lags = np.arange(-max_lag, max_lag + 1)
    r = np.empty((len(starts), len(lags)))
    for j, lag in enumerate(lags):
        if lag >= 0:
            r[:, j] = _corr_rows(xw[starts], yw[starts + lag])
        else:
            r[:, j] = _corr_rows(xw[starts - lag], yw[starts])
    return pd.DataFrame({"window_start": np.repeat(starts, len(lags)),
                         "lag": np.tile(lags, len(starts)), "r": r.ravel()})


def wcc_peaks(wcc: pd.DataFrame) -> pd.DataFrame:
    """Per window, the lag with the largest r (ties go to the lag nearest 0).

    Parameters
    ----------
    wcc : pandas.DataFrame
        The output of :func:`windowed_cross_correlation`.

    Returns
    -------
    pandas.DataFrame
        ``window_start, peak_lag, peak_r``.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.sin(np.arange(20) / 2)
    >>> y = np.sin((np.arange(20) - 1) / 2)
    >>> wcc_peaks(windowed_cross_correlation(x, y, window=6, step=5, max_lag=1))["peak_lag"].tolist()
    [1, 1, 1]
    """
    if wcc.empty:
        return pd.DataFrame({"window_start": [], "peak_lag": [], "peak_r": []})
    w = wcc.dropna(subset=["r"]).assign(abs_lag=lambda d: d["lag"].abs())
    w = w.sort_values(["window_start", "r", "abs_lag"], ascending=[True, False, True])
    top = w.groupby("window_start", sort=True).head(1)
    return pd.DataFrame({"window_start": top["window_start"].to_numpy(),
                         "peak_lag": top["lag"].to_numpy(), "peak_r": top["r"].to_numpy()})
