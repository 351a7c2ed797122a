"""Straightforward per-event Python loops for the session measures.

This is the readable reference the vectorised code is checked against (tests) and the baseline
it is timed against (``benchmarks/bench_observation.py``). It follows the same definitions as
:func:`attunement.observation.session_metrics` but with explicit loops over cues, responses,
time units and shifts. Not for production use: it is orders of magnitude slower.
"""

from __future__ import annotations

import math

_EPS = 1e-9


def naive_session(
    cues: list[float],
    responses: list[float],
    end: float,
    *,
    window: tuple[float, float] = (0.0, 5.0),
    unit: float = 1.0,
    shifts: list[int] | None = None,
    all_cues: list[float] | None = None,
) -> dict:
    """Responsiveness, latency, 2×2 table, Yule's Q and circular-shift p for one caregiver.

    Parameters
    ----------
    cues, responses : list of float
        Onsets in seconds.
    end : float
        The session end.
    window : tuple of float, default (0.0, 5.0)
        The response window.
    unit : float, default 1.0
        Time unit in seconds.
    shifts : list of int, optional
        The circular shifts; by default all of them.
    all_cues : list of float, optional
        Every cue of the session (censoring).

    Returns
    -------
    dict
        ``n_cues, responsiveness, median_latency, a, b, c, d, yules_q, permutation_p, km``.

    Examples
    --------
    Worked example B of ``docs/statistics/coded-interaction.md``:

    >>> r = naive_session([3, 25, 47], [5, 18, 28, 55], 60)
    >>> r["a"], r["b"], r["c"], r["d"], round(r["yules_q"], 4), r["permutation_p"]
    (2, 13, 2, 43, 0.5357, 0.3)
    """
    lo, hi = window
    all_cues = sorted(cues if all_cues is None else all_cues)
    responded, latencies, km = [], [], []
    for c in cues:
        first = None
        for r in sorted(responses):
            if r >= c + lo - _EPS:
                first = r - c
                break
        ok = first is not None and first <= hi + _EPS
        responded.append(ok)
        if ok:
            latencies.append(first)
        nxt = end
        for c2 in all_cues:
            if c2 > c + _EPS:
                nxt = min(c2, end)
                break
        cens = nxt - c
        if first is not None and first <= cens + _EPS:
            km.append((first, True))
        else:
            km.append((cens, False))
    n = max(math.ceil(end / unit - _EPS), 1)
    given = [False] * n
    lo_u, hi_u = round(lo / unit), round(hi / unit)
    for c in cues:
        s = math.floor(c / unit + _EPS) + lo_u
        for u in range(s, s + hi_u - lo_u):
            if 0 <= u < n:
                given[u] = True
    target = [False] * n
    for r in responses:
        u = min(max(math.floor(r / unit + _EPS), 0), n - 1)
        target[u] = True

    def q_of(shift: int) -> float:
        a = b = c = d = 0
        for u in range(n):
            t = target[(u - shift) % n]
            if given[u] and t:
                a += 1
            elif given[u]:
                b += 1
            elif t:
                c += 1
            else:
                d += 1
        den = a * d + b * c
        return (a * d - b * c) / den if den else float("nan")

    q = q_of(0)
    a = sum(1 for u in range(n) if given[u] and target[u])
    p = float("nan")
    if shifts is None:
        shifts = list(range(1, n))
    if shifts and not math.isnan(q):
        hits = sum(1 for s in shifts if q_of(s) >= q - 1e-12)
        p = (hits + 1) / (len(shifts) + 1)
    latencies.sort()
    med = float("nan")
    if latencies:
        m = len(latencies)
        med = latencies[m // 2] if m % 2 else (latencies[m // 2 - 1] + latencies[m // 2]) / 2
    ng, nt = sum(given), sum(target)
    return {"n_cues": len(cues), "responsiveness": sum(responded) / len(cues) if cues else
            float("nan"), "median_latency": med, "a": a, "b": ng - a, "c": nt - a,
            "d": n - ng - nt + a, "yules_q": q, "permutation_p": p, "km": km}


def naive_lag_counts(sequence: list[str], lag: int = 1) -> dict[tuple[str, str], dict]:
    """Transition counts, adjusted residuals and Yule's Q with dictionaries and loops.

    Parameters
    ----------
    sequence : list of str
        The event codes in order.
    lag : int, default 1
        The lag.

    Returns
    -------
    dict
        ``(given, target)`` -> ``{"count", "adjusted_residual", "yules_q"}``.

    Examples
    --------
    >>> naive_lag_counts(list("ABAB"))[("A", "B")]["count"]
    2
    """
    counts: dict[tuple[str, str], int] = {}
    for i in range(len(sequence) - lag):
        key = (sequence[i], sequence[i + lag])
        counts[key] = counts.get(key, 0) + 1
    codes = sorted(set(sequence))
    n = sum(counts.values())
    rows = {g: sum(counts.get((g, t), 0) for t in codes) for g in codes}
    cols = {t: sum(counts.get((g, t), 0) for g in codes) for t in codes}
    out = {}
    for g in codes:
        for t in codes:
            x = counts.get((g, t), 0)
            e = rows[g] * cols[t] / n if n else float("nan")
            den = math.sqrt(e * (1 - rows[g] / n) * (1 - cols[t] / n)) if n else 0.0
            a, b, c = x, rows[g] - x, cols[t] - x
            d = n - rows[g] - cols[t] + x
            qd = a * d + b * c
            out[(g, t)] = {"count": x, "adjusted_residual": (x - e) / den if den else float("nan"),
                           "yules_q": (a * d - b * c) / qd if qd else float("nan")}
    return out


def naive_windowed_xcorr(x: list[float], y: list[float], window: int, step: int,
                         max_lag: int) -> list[tuple[int, int, float]]:
    """(window start, lag, r) with explicit loops, same windows as the vectorised version.

    Parameters
    ----------
    x, y : list of float
        Two series of one length.
    window, step, max_lag : int
        As for :func:`~attunement.observation.sequential.windowed_cross_correlation`.

    Returns
    -------
    list of tuple
        ``(window start, lag, r)``.

    Examples
    --------
    >>> [(s, lag, round(r, 4)) for s, lag, r in
    ...  naive_windowed_xcorr([1, 2, 3, 4, 5, 4, 3, 2], [0, 1, 2, 3, 4, 5, 4, 3], 4, 4, 1)]
    [(1, -1, 0.6325), (1, 0, 1.0), (1, 1, 1.0)]
    """

    def corr(u: list[float], v: list[float]) -> float:
        mu, mv = sum(u) / len(u), sum(v) / len(v)
        suv = sum((a - mu) * (b - mv) for a, b in zip(u, v, strict=True))
        suu = sum((a - mu) ** 2 for a in u)
        svv = sum((b - mv) ** 2 for b in v)
        return suv / math.sqrt(suu * svv) if suu > 0 and svv > 0 else float("nan")

    out = []
    for start in range(max_lag, len(x) - window - max_lag + 1, step):
        for lag in range(-max_lag, max_lag + 1):
            if lag >= 0:
                r = corr(x[start:start + window], y[start + lag:start + lag + window])
            else:
                r = corr(x[start - lag:start - lag + window], y[start:start + window])
            out.append((start, lag, r))
    return out
