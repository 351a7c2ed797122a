"""Responsiveness: how often and how fast a caregiver's response follows an infant cue.

For each cue (onset c) the first response *onset* r with ``c + lo ≤ r`` is found; the cue is
*responded to* when ``r − c ≤ hi`` (the window ``[lo, hi]`` is closed at both ends, default
0–5 s; times are compared with a 1-ns tolerance so that 15.2 − 10.2 counts as 5 s). Latency is
``r − c`` for responded cues.

For the Kaplan–Meier latency the clock of a cue runs until the first response onset, and the
cue is *censored* at the next cue's onset (of any cue type; a later onset, so simultaneous cues
do not censor each other) or at the session end, whichever comes first. A response exactly at
the censoring time counts as an event (the usual survival convention for ties).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

_EPS = 1e-9


def first_response_latency(
    cue_onsets: np.ndarray, response_onsets: np.ndarray, lo: float = 0.0
) -> np.ndarray:
    """Latency from each cue onset to the first response onset at or after ``onset + lo``.

    Parameters
    ----------
    cue_onsets, response_onsets : numpy.ndarray
        Onsets in seconds (responses need not be sorted).
    lo : float, default 0.0
        The start of the window after the cue.

    Returns
    -------
    numpy.ndarray
        One latency per cue; NaN when no response follows.

    Examples
    --------
    >>> import numpy as np
    >>> first_response_latency(np.array([3.0, 25.0, 47.0]), np.array([5.0, 18.0, 28.0, 55.0])).tolist()
    [2.0, 3.0, 8.0]
    """
    cues = np.asarray(cue_onsets, float)
    resp = np.sort(np.asarray(response_onsets, float))
    idx = np.searchsorted(resp, cues + lo - _EPS, side="left")
    out = np.full(len(cues), np.nan)
    ok = idx < len(resp)
    out[ok] = resp[idx[ok]] - cues[ok]
    return out


def censoring_times(cue_onsets: np.ndarray, all_cue_onsets: np.ndarray, end: float) -> np.ndarray:
    """Time from each cue onset to the next (later) cue onset or the session end.

    Parameters
    ----------
    cue_onsets : numpy.ndarray
        The cues whose clocks run.
    all_cue_onsets : numpy.ndarray
        Every cue of the session (any type); a later one stops the clock.
    end : float
        The session end in seconds.

    Returns
    -------
    numpy.ndarray
        One censoring time per cue.

    Examples
    --------
    >>> import numpy as np
    >>> cues = np.array([3.0, 25.0, 47.0])
    >>> censoring_times(cues, cues, 60).tolist()
    [22.0, 22.0, 13.0]
    """
    cues = np.asarray(cue_onsets, float)
    allc = np.sort(np.asarray(all_cue_onsets, float))
    idx = np.searchsorted(allc, cues + _EPS, side="right")
    nxt = np.where(idx < len(allc), allc[np.minimum(idx, len(allc) - 1)], end)
    return np.minimum(nxt, end) - cues


def _product_limit(t: np.ndarray, e: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Distinct times, events, all leaving, at risk and S(t) = Π (1 − d_i / n_i)."""
    times, inv = np.unique(t, return_inverse=True)
    d = np.bincount(inv, weights=e, minlength=len(times))
    tot = np.bincount(inv, minlength=len(times))
    at_risk = len(t) - np.concatenate([[0], np.cumsum(tot)[:-1]])
    return times, d, tot, at_risk, np.cumprod(1 - d / at_risk)


def kaplan_meier(durations: np.ndarray, observed: np.ndarray) -> pd.DataFrame:
    """Kaplan–Meier estimate S(t) = Π (1 − d_i / n_i); tidy table at each distinct time.

    Parameters
    ----------
    durations : numpy.ndarray
        Times (latency, or the censoring time).
    observed : numpy.ndarray
        True for a response, False for a censored cue.

    Returns
    -------
    pandas.DataFrame
        ``time, at_risk, events, censored, survival, cumulative`` (1 − S: the share of cues
        responded to by ``time``).

    Examples
    --------
    The worked example of ``docs/statistics/coded-interaction.md``; R:
    ``summary(survfit(Surv(t, e) ~ 1))$surv`` is 0.875 0.750 0.625 0.500 0.250.

    >>> import numpy as np
    >>> t = np.array([0.5, 1, 1.5, 2.5, 3, 4, 6, 8])
    >>> e = np.array([1, 1, 1, 1, 0, 0, 1, 0], bool)
    >>> kaplan_meier(t, e)["survival"].tolist()
    [0.875, 0.75, 0.625, 0.5, 0.5, 0.5, 0.25, 0.25]
    """
    t = np.asarray(durations, float)
    e = np.asarray(observed, bool)
    if len(t) == 0:
        return pd.DataFrame({"time": [], "at_risk": [], "events": [], "censored": [],
                             "survival": [], "cumulative": []})
    times, d, tot, at_risk, s = _product_limit(t, e)
    return pd.DataFrame({"time": times, "at_risk": at_risk.astype(np.int64),
                         "events": d.astype(np.int64), "censored": (tot - d).astype(np.int64),
                         "survival": s, "cumulative": 1 - s})


def km_median(durations: np.ndarray, observed: np.ndarray) -> float:
    """Median of the Kaplan–Meier curve (R ``survival`` convention); NaN if S never reaches 0.5.

    When S(t) is exactly 0.5 on a flat stretch, the median is the midpoint of that stretch up to
    the next event time.

    Parameters
    ----------
    durations, observed : numpy.ndarray
        As for :func:`kaplan_meier`.

    Returns
    -------
    float
        The median time.

    Examples
    --------
    R: ``summary(survfit(Surv(t, e) ~ 1))$table["median"]`` is 4.25.

    >>> import numpy as np
    >>> t = np.array([0.5, 1, 1.5, 2.5, 3, 4, 6, 8])
    >>> e = np.array([1, 1, 1, 1, 0, 0, 1, 0], bool)
    >>> km_median(t, e)
    4.25
    """
    t = np.asarray(durations, float)
    e = np.asarray(observed, bool)
    if not e.any():
        return float("nan")
    times, d, _tot, _at_risk, s = _product_limit(t, e)
    ev = d > 0
    te, se = times[ev], s[ev]
    below = np.flatnonzero(se <= 0.5 + 1e-12)
    if len(below) == 0:
        return float("nan")
    j = below[0]
    if abs(se[j] - 0.5) < 1e-12 and j + 1 < len(te):
        return float((te[j] + te[j + 1]) / 2)
    return float(te[j])


def km_cumulative_at(durations: np.ndarray, observed: np.ndarray, at: float) -> float:
    """1 − S(at): Kaplan–Meier share of cues responded to within ``at`` seconds.

    Parameters
    ----------
    durations, observed : numpy.ndarray
        As for :func:`kaplan_meier`.
    at : float
        The time in seconds.

    Returns
    -------
    float
        The share; NaN with no cues.

    Examples
    --------
    R: ``1 - summary(survfit(Surv(t, e) ~ 1), times = 7)$surv`` is 0.75 (the naive share is 5/8).

    >>> import numpy as np
    >>> t = np.array([0.5, 1, 1.5, 2.5, 3, 4, 6, 8])
    >>> e = np.array([1, 1, 1, 1, 0, 0, 1, 0], bool)
    >>> km_cumulative_at(t, e, 7.0)
    0.75
    """
    t = np.asarray(durations, float)
    e = np.asarray(observed, bool)
    if len(t) == 0:
        return float("nan")
    times, *_, s = _product_limit(t, e)
    k = np.searchsorted(times, at + _EPS, side="right")
    return float(1 - s[k - 1]) if k > 0 else 0.0


def cue_latencies(
    cue_onsets: np.ndarray,
    response_onsets: np.ndarray,
    end: float,
    *,
    window: tuple[float, float] = (0.0, 5.0),
    all_cue_onsets: np.ndarray | None = None,
) -> pd.DataFrame:
    """One row per cue: its latency, whether it was responded to, and its survival time.

    Parameters
    ----------
    cue_onsets, response_onsets : numpy.ndarray
        Onsets in seconds.
    end : float
        The session end.
    window : tuple of float, default (0.0, 5.0)
        The response window after a cue, closed at both ends.
    all_cue_onsets : numpy.ndarray, optional
        Every cue of the session (censoring); by default ``cue_onsets``.

    Returns
    -------
    pandas.DataFrame
        ``onset, latency, responded, km_time, km_event``: ``latency`` is the first response
        latency (NaN if none follows), ``responded`` whether it falls in the window,
        ``km_time``/``km_event`` the survival time and event flag (censored at the next cue in
        ``all_cue_onsets`` or at ``end``).

    Examples
    --------
    >>> import numpy as np
    >>> r = cue_latencies(np.array([3.0, 25.0, 47.0]), np.array([5.0, 18.0, 28.0, 55.0]), 60)
    >>> r["latency"].tolist(), r["responded"].tolist()
    ([2.0, 3.0, 8.0], [True, True, False])
    """
    cues = np.asarray(cue_onsets, float)
    lat, responded, km_time, event = latency_arrays(cues, response_onsets, end, window=window,
                                                     all_cue_onsets=all_cue_onsets)
    return pd.DataFrame({"onset": cues, "latency": lat, "responded": responded,
                         "km_time": km_time, "km_event": event})


def latency_arrays(cue_onsets, response_onsets, end, *, window=(0.0, 5.0), all_cue_onsets=None):
    """Array form of :func:`cue_latencies`: (latency, responded, km_time, km_event).

    Parameters
    ----------
    cue_onsets, response_onsets, end, window, all_cue_onsets
        As for :func:`cue_latencies`.

    Returns
    -------
    tuple of numpy.ndarray
        ``(latency, responded, km_time, km_event)``.

    Examples
    --------
    >>> import numpy as np
    >>> lat, responded, km_time, km_event = latency_arrays(
    ...     np.array([3.0, 25.0, 47.0]), np.array([5.0, 18.0, 28.0, 55.0]), 60)
    >>> responded.tolist(), km_event.tolist()
    ([True, True, False], [True, True, True])
    """
    lo, hi = window
    cues = np.asarray(cue_onsets, float)
    lat = first_response_latency(cues, response_onsets, lo)
    responded = ~np.isnan(lat) & (lat <= hi + _EPS)
    cens = censoring_times(cues, cues if all_cue_onsets is None else all_cue_onsets, end)
    event = ~np.isnan(lat) & (lat <= cens + _EPS)
    km_time = np.where(event, lat, cens)
    return lat, responded, km_time, event


def km_summary(durations: np.ndarray, observed: np.ndarray, at: float) -> tuple[float, float]:
    """(Kaplan–Meier median, 1 − S(at)) in one pass; see :func:`km_median`.

    Parameters
    ----------
    durations, observed : numpy.ndarray
        As for :func:`kaplan_meier`.
    at : float
        The time for the cumulative share.

    Returns
    -------
    tuple of float
        ``(median, 1 − S(at))``.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.array([0.5, 1, 1.5, 2.5, 3, 4, 6, 8])
    >>> e = np.array([1, 1, 1, 1, 0, 0, 1, 0], bool)
    >>> km_summary(t, e, 7.0)
    (4.25, 0.75)
    """
    t = np.asarray(durations, float)
    e = np.asarray(observed, bool)
    if len(t) == 0:
        return float("nan"), float("nan")
    order = np.argsort(t, kind="stable")
    ts, es = t[order], e[order]
    last = np.r_[ts[1:] != ts[:-1], True]
    idx_last = np.flatnonzero(last)
    times = ts[idx_last]
    d = np.add.reduceat(es.astype(float), np.r_[0, idx_last[:-1] + 1])
    at_risk = len(t) - np.r_[0, idx_last[:-1] + 1]
    s = np.cumprod(1 - d / at_risk)
    k = np.searchsorted(times, at + _EPS, side="right")
    cum = float(1 - s[k - 1]) if k > 0 else 0.0
    ev = d > 0
    if not ev.any():
        return float("nan"), cum
    te, se = times[ev], s[ev]
    below = np.flatnonzero(se <= 0.5 + 1e-12)
    if len(below) == 0:
        return float("nan"), cum
    j = below[0]
    if abs(se[j] - 0.5) < 1e-12 and j + 1 < len(te):
        return float((te[j] + te[j + 1]) / 2), cum
    return float(te[j]), cum
