"""Per-session sensitivity measures: responsiveness, time-window contingency, permutation p.

:func:`session_metrics` gives one row per session × caregiver × cue type (plus ``cue_type =
"all"``), combining :mod:`~attunement.observation.responsiveness` and
:mod:`~attunement.observation.sequential`. Permutation tests of all sessions that have the same
number of time units are computed together (one FFT over the stacked unit series).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from attunement.observation.actors import ObservationWarning, assign_actors, warn_unmatched
from attunement.observation.events import coded_intervals
from attunement.observation.responsiveness import km_summary, latency_arrays
from attunement.observation.scheme import CodingScheme
from attunement.observation.sequential import (
    _stats_arrays,
    circular_shift_tests,
    n_units,
    occurrence_units,
    onset_units,
    tally_2x2,
    window_units,
)

_EPS = 1e-9

METRIC_COLUMNS = (
    "session", "caregiver", "cue_type", "response_type", "n_cues", "cues_per_minute", "n_responses",
    "responsiveness", "median_latency", "km_median_latency", "km_responsiveness",
    "chance_responsiveness", "a", "b", "c", "d", "yules_q", "odds_ratio", "log_odds_ratio",
    "log_or_ci_low", "log_or_ci_high", "adjusted_residual", "permutation_p", "n_permutations",
    "duration", "interval_start", "interval_end",
)


@dataclass(frozen=True)
class Roles:
    """Which codes are cues and responses, and which actor names mean the infant.

    Parameters
    ----------
    cue_type : dict
        Cue code -> cue type.
    response_type : dict
        Response code -> response type.
    infant : tuple of str
        The actor names that mean the infant.
    caregivers : tuple of str, optional
        The caregiver actor names, when known.
    actors_from : str, optional
        Where the actor is recorded.
    code_actors : dict, optional
        Code -> (``infant``/``caregiver``/``any``, caregiver name), for ``actors_from="code"``.

    Examples
    --------
    >>> Roles({"cry": "distress"}, {"soothe": "soothe"}).is_infant("Infant")
    True
    """

    cue_type: dict[str, str]          # cue code -> cue type
    response_type: dict[str, str]     # response code -> response type
    infant: tuple[str, ...] = ("infant",)
    caregivers: tuple[str, ...] | None = None
    actors_from: str | None = None
    code_actors: dict[str, tuple[str, str]] | None = None

    def is_infant(self, actor: str) -> bool:
        """Whether an actor name means the infant (one of ``infant``, or "infant" in any case).

        Parameters
        ----------
        actor : str
            The actor as coded.

        Returns
        -------
        bool
            True for the infant.
        """
        return actor in self.infant or actor.lower() == "infant"

    def assign(self, events: pd.DataFrame) -> pd.DataFrame:
        """``events`` with the actor taken from where ``actors_from`` says (unchanged if unset).

        Parameters
        ----------
        events : pandas.DataFrame
            A canonical event table.

        Returns
        -------
        pandas.DataFrame
            The table with its ``actor`` column set (see :func:`assign_actors`).
        """
        return assign_actors(events, self.actors_from, code_actors=self.code_actors,
                             infant_name=self.infant[0])


def resolve_roles(
    scheme: CodingScheme | None = None,
    cues: Sequence[str] | None = None,
    responses: Sequence[str] | None = None,
    *,
    actors_from: str | None = None,
    infant: Sequence[str] | None = None,
) -> Roles:
    """Cue and response codes from the scheme, narrowed (or given) by ``cues``/``responses``.

    ``actors_from`` and ``infant`` override the scheme's (without a scheme, ``actors_from="code"``
    makes the cue codes the infant's and the response codes a caregiver's).

    Parameters
    ----------
    scheme : CodingScheme, optional
        The coding scheme.
    cues, responses : sequence of str, optional
        The cue and response codes (required without a scheme).
    actors_from : str, optional
        Where the actor is recorded.
    infant : sequence of str, optional
        The actor names that mean the infant.

    Returns
    -------
    Roles
        The roles.

    Raises
    ------
    ValueError
        No codes without a scheme, codes not in the scheme, or a scheme with no cue or response.

    Examples
    --------
    >>> r = resolve_roles(cues=["cry"], responses=["soothe"])
    >>> r.cue_type, r.response_type, r.infant
    ({'cry': 'cry'}, {'soothe': 'soothe'}, ('infant',))
    """
    inf = tuple(infant) if infant else None
    if scheme is None:
        if not cues or not responses:
            raise ValueError("without a coding scheme, name the cue and response codes")
        code_actors = {c: ("infant", "") for c in cues}
        code_actors.update({r: ("caregiver", "") for r in responses})
        return Roles({c: c for c in cues}, {r: r for r in responses}, inf or ("infant",),
                     actors_from=actors_from, code_actors=code_actors)
    cue_type = {c: scheme.category(c) for c in scheme.cue_codes()}
    resp_type = {r: scheme.category(r) for r in scheme.response_codes()}
    if cues:
        missing = [c for c in cues if c not in scheme.codes]
        if missing:
            raise ValueError(f"cue codes not in scheme {scheme.name!r}: {', '.join(missing)}")
        cue_type = {c: scheme.category(c) for c in cues}
    if responses:
        missing = [r for r in responses if r not in scheme.codes]
        if missing:
            raise ValueError(f"response codes not in scheme {scheme.name!r}: {', '.join(missing)}")
        resp_type = {r: scheme.category(r) for r in responses}
    if not cue_type or not resp_type:
        raise ValueError(f"scheme {scheme.name!r} names no cue or no response codes")
    return Roles(cue_type, resp_type, inf or scheme.infant, scheme.caregivers,
                 actors_from=actors_from or scheme.actors_from, code_actors=scheme.code_actors())


def session_metrics(
    events: pd.DataFrame,
    scheme: CodingScheme | None = None,
    *,
    cues: Sequence[str] | None = None,
    responses: Sequence[str] | None = None,
    window: tuple[float, float] = (0.0, 5.0),
    unit: float = 1.0,
    permutations: int = 1000,
    seed: int | None = None,
    target: str = "onset",
    by_response_type: bool = False,
    progress: Callable[[int], None] | None = None,
    scheduler: str | Any | None = None,
    chunk_sessions: int = 100,
    interval: tuple[float, float] | None = None,
    actors_from: str | None = None,
    infant: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Responsiveness and contingency per session × caregiver × cue type (tidy DataFrame).

    Everything is counted inside each session's coded interval (``interval_start`` ≤ t ≤
    ``interval_end``, reported in those columns; ``duration`` is its length): ``interval``
    (start, end) when given, else the file's, else the first coded onset to the last coded
    offset (:func:`~attunement.observation.events.coded_intervals`). Cues and responses with an
    onset outside it are not counted, time units start at ``interval_start``, and latencies are
    censored at ``interval_end``. ``actors_from``/``infant`` say where the actor is read and
    which one is the infant (:mod:`~attunement.observation.actors`); a cue or response code that
    matches no event on the right actor raises an
    :class:`~attunement.observation.actors.ObservationWarning` naming it.

    ``responsiveness`` is the share of cues with a response onset in ``window`` (closed);
    ``median_latency`` the median latency of those responses; ``km_*`` the Kaplan–Meier median
    latency and share responded within ``window[1]`` (censored at the next cue or the session
    end); ``chance_responsiveness`` = 1 − exp(−λ·(hi − lo)) with λ the caregiver's response
    onsets per second (Poisson); ``a…d``, ``yules_q`` … ``adjusted_residual`` the GSEQ
    time-window 2×2 table over units of ``unit`` s; ``permutation_p`` the circular-shift p-value.
    Rows are per cue type plus ``cue_type="all"``; with ``by_response_type`` also per response
    type (``response_type`` is otherwise ``"all"``).

    Sampled shifts depend only on ``seed`` and the session's number of units, so a session's
    p-value does not depend on which other sessions are analysed with it. ``scheduler`` (a Dask
    distributed address or ``Client``) runs chunks of ``chunk_sessions`` sessions on a cluster
    with the same results as a local run.

    Parameters
    ----------
    events : pandas.DataFrame
        An event table (one coder's record per session).
    scheme : CodingScheme, optional
        Gives the cue and response codes and the infant's name.
    cues, responses : sequence of str, optional
        The codes (narrowing the scheme's, or without a scheme).
    window : tuple of float, default (0.0, 5.0)
        The response window after each cue onset, in seconds.
    unit : float, default 1.0
        Time unit of the 2×2 tables, in seconds.
    permutations, seed : int
        The most circular shifts, and the seed of their sample.
    target : {"onset", "occurrence"}
        What makes a target unit (:func:`~attunement.observation.sequential.time_window_table`).
    by_response_type : bool, default False
        Also one row per response type.
    progress : callable, optional
        Called with the number of sessions done.
    scheduler, chunk_sessions
        A Dask scheduler and the sessions per chunk.
    interval : tuple of float, optional
        One coded interval for every session.
    actors_from, infant : optional
        Where the actor is read and which actor is the infant.

    Returns
    -------
    pandas.DataFrame
        One row per session × caregiver × cue type (× response type), the columns above.

    Raises
    ------
    ValueError
        No codes, codes not in the scheme, or a session holding several coders' events.

    Examples
    --------
    Worked example B of ``docs/statistics/coded-interaction.md`` (R: ``psych::Yule(matrix(c(2, 2,
    13, 43), 2))`` is 0.5357143):

    >>> from attunement.observation.datasets import worked_example_b
    >>> m = session_metrics(worked_example_b(), cues=["cry"], responses=["soothe"])
    >>> row = m[m["cue_type"] == "all"].iloc[0]
    >>> int(row["n_cues"]), round(float(row["responsiveness"]), 4), round(float(row["yules_q"]), 4)
    (3, 0.6667, 0.5357)
    >>> float(row["permutation_p"])
    0.3
    """
    if scheduler is not None:
        return _distributed(events, scheduler, chunk_sessions, progress, dict(
            scheme=scheme, cues=cues, responses=responses, window=window, unit=unit,
            permutations=permutations, seed=seed, target=target,
            by_response_type=by_response_type, interval=interval, actors_from=actors_from,
            infant=infant))
    roles = resolve_roles(scheme, cues, responses, actors_from=actors_from, infant=infant)
    events = roles.assign(events)
    warn_unmatched(events, list(roles.cue_type), list(roles.response_type), roles.is_infant)
    coders = events.groupby("session", sort=False)["coder"].nunique()
    if (coders > 1).any():
        s = coders[coders > 1].index[0]
        raise ValueError(f"session {s!r} holds events from {coders[s]} coders; measure one "
                         "coder's record at a time (agreement compares coders)")
    bounds = coded_intervals(events, interval)
    sess = events["session"].to_numpy(dtype=object)
    actor = events["actor"].to_numpy(dtype=object)
    code = events["code"].to_numpy(dtype=object)
    onset = events["onset"].to_numpy(dtype=float)
    offset = events["offset"].to_numpy(dtype=float)
    uniq_actors = pd.unique(actor)
    infant_actor = {a: roles.is_infant(str(a)) for a in uniq_actors}
    is_inf = np.fromiter((infant_actor[a] for a in actor), bool, len(actor))
    cue_t = np.fromiter((roles.cue_type.get(c, "") for c in code), object, len(code))
    resp_mask = np.fromiter((c in roles.response_type for c in code), bool, len(code))
    cue_mask = is_inf & (cue_t != "")
    resp_mask &= ~is_inf
    types = sorted(set(roles.cue_type.values()))
    rtypes = sorted(set(roles.response_type.values())) if by_response_type else []
    resp_t = np.fromiter((roles.response_type.get(c, "") for c in code), object, len(code))

    rows: list[dict] = []
    outside: list[tuple[str, int, float, float]] = []
    pending: dict[int, list[tuple[int, np.ndarray, np.ndarray]]] = {}
    groups = pd.Series(np.arange(len(sess))).groupby(sess, sort=False).indices
    for k, (s, idx) in enumerate(groups.items()):
        lo, hi = (float(v) for v in bounds.loc[s, ["interval_start", "interval_end"]])
        end = hi - lo
        n = n_units(end, unit)
        inside = idx[(onset[idx] >= lo - _EPS) & (onset[idx] <= hi + _EPS)]
        if len(inside) < len(idx):
            outside.append((str(s), len(idx) - len(inside), lo, hi))
        ci = inside[cue_mask[inside]]
        ri = inside[resp_mask[inside]]
        all_cues = onset[ci] - lo
        if roles.caregivers is not None:
            carers = list(roles.caregivers)
        elif roles.actors_from == "code":
            # only response codes name a caregiver; other codes keep the imported actor
            carers = sorted({str(a) for a in actor[ri]}) or ["(none)"]
        else:
            carers = sorted({str(a) for a in actor[idx] if not infant_actor[a]}) or ["(none)"]
        cue_sets = [("all", all_cues)] + [(t, onset[ci[cue_t[ci] == t]] - lo) for t in types]
        g_units = {t: window_units(c, n, window, unit) for t, c in cue_sets}
        for carer in carers:
            rc = ri[actor[ri] == carer]
            for rt in ["all", *rtypes]:
                rj = rc if rt == "all" else rc[resp_t[rc] == rt]
                r_on = onset[rj] - lo
                if target == "onset":
                    t_units = onset_units(r_on, n, unit)
                else:
                    t_units = occurrence_units(r_on, np.minimum(offset[rj], hi) - lo, n, unit)
                rate = len(r_on) / end if end > 0 else np.nan
                for t, c_on in cue_sets:
                    lat, resp, km_t, km_e = latency_arrays(c_on, r_on, end, window=window,
                                                           all_cue_onsets=all_cues)
                    km_med, km_cum = km_summary(km_t, km_e, window[1])
                    row = {
                        "session": s, "caregiver": carer, "cue_type": t, "response_type": rt,
                        "n_cues": len(c_on),
                        "cues_per_minute": 60 * len(c_on) / end if end > 0 else np.nan,
                        "n_responses": len(r_on),
                        "responsiveness": resp.mean() if len(resp) else np.nan,
                        "median_latency": float(np.median(lat[resp])) if resp.any() else np.nan,
                        "km_median_latency": km_med,
                        "km_responsiveness": km_cum,
                        "chance_responsiveness": 1 - np.exp(-rate * (window[1] - window[0])),
                        "duration": end, "interval_start": lo, "interval_end": hi,
                    }
                    row["a"], row["b"], row["c"], row["d"] = tally_2x2(g_units[t], t_units)
                    rows.append(row)
                    if permutations > 0:
                        pending.setdefault(n, []).append((len(rows) - 1, g_units[t], t_units))
        if progress is not None:
            progress(k + 1)

    if outside:
        s, k, lo, hi = outside[0]
        more = f" (and in {len(outside) - 1} more sessions)" if len(outside) > 1 else ""
        warnings.warn(f"session {s!r}: {k} event(s) start outside the coded interval "
                      f"{lo:g}-{hi:g} s and are not counted{more}", ObservationWarning,
                      stacklevel=2)
    out = pd.DataFrame(rows)
    if out.empty:
        return pd.DataFrame(columns=list(METRIC_COLUMNS))
    st = _stats_arrays(*(out[x].to_numpy(float) for x in "abcd"))
    out["yules_q"] = st["yules_q"]
    out["odds_ratio"] = st["odds_ratio"]
    out["log_odds_ratio"] = st["log_odds_ratio"]
    out["log_or_ci_low"] = np.log(st["or_ci_low"])
    out["log_or_ci_high"] = np.log(st["or_ci_high"])
    out["adjusted_residual"] = st["adjusted_residual"]
    out["permutation_p"] = np.nan
    out["n_permutations"] = 0
    p_col = np.full(len(out), np.nan)
    k_col = np.zeros(len(out), dtype=np.int64)
    for n, items in sorted(pending.items()):
        # the same seeded shift sample for every session of n units, whatever the batch
        unseeded = np.random.default_rng()
        for start in range(0, len(items), 2048):
            chunk = items[start:start + 2048]
            g = np.stack([c[1] for c in chunk])
            t = np.stack([c[2] for c in chunk])
            rng = np.random.default_rng([seed, n]) if seed is not None else unseeded
            _, p, used = circular_shift_tests(g, t, permutations=permutations, seed=rng)
            rows_i = np.array([c[0] for c in chunk])
            p_col[rows_i] = p
            k_col[rows_i] = used
    out["permutation_p"] = p_col
    out["n_permutations"] = k_col
    for x in "abcd":
        out[x] = out[x].astype(np.int64)
    return out[list(METRIC_COLUMNS)]


def _distributed(events: pd.DataFrame, scheduler: Any, chunk_sessions: int,
                 progress: Callable[[int], None] | None, kwargs: dict) -> pd.DataFrame:
    from distributed import Client, as_completed

    sessions = list(pd.unique(events["session"]))
    chunks = [sessions[i:i + chunk_sessions] for i in range(0, len(sessions), chunk_sessions)]
    parts = [events[events["session"].isin(c)] for c in chunks]
    client = scheduler if isinstance(scheduler, Client) else Client(scheduler)
    results: list[pd.DataFrame | None] = [None] * len(parts)
    try:
        futures = client.map(_metrics_chunk, parts, [kwargs] * len(parts), pure=False)
        where = {f.key: i for i, f in enumerate(futures)}
        done = 0
        for fut in as_completed(futures):
            i = where[fut.key]
            results[i] = fut.result()
            done += len(chunks[i])
            if progress is not None:
                progress(done)
    finally:
        if not isinstance(scheduler, Client):
            client.close()
    return pd.concat(results, ignore_index=True)


def _metrics_chunk(events: pd.DataFrame, kwargs: dict) -> pd.DataFrame:
    return session_metrics(events, **kwargs)


def session_sequences(events: pd.DataFrame, codes: Sequence[str] | None = None) -> dict[str, list]:
    """Each session's codes in onset order (ties keep file order), for lag-sequential analysis.

    Parameters
    ----------
    events : pandas.DataFrame
        An event table.
    codes : sequence of str, optional
        Keep only these codes.

    Returns
    -------
    dict
        Session -> list of codes.

    Examples
    --------
    >>> from attunement.observation.events import make_event_table
    >>> ev = make_event_table([
    ...     {"session": "s1", "actor": "infant", "code": "cry", "onset": 3.0},
    ...     {"session": "s1", "actor": "mother", "code": "soothe", "onset": 5.0},
    ...     {"session": "s1", "actor": "infant", "code": "cry", "onset": 4.0}])
    >>> session_sequences(ev)
    {'s1': ['cry', 'cry', 'soothe']}
    """
    ev = events if codes is None else events[events["code"].isin(list(codes))]
    ev = ev.sort_values(["session", "onset"], kind="stable")
    return {s: g.tolist() for s, g in ev.groupby("session", sort=False)["code"]}


def unit_series(events: pd.DataFrame, session: str, *, actor_is_infant: bool,
                codes: Sequence[str], unit: float = 1.0, roles: Roles | None = None) -> np.ndarray:
    """0/1 per time unit: one of ``codes`` occurring for the infant (or any caregiver).

    Parameters
    ----------
    events : pandas.DataFrame
        An event table.
    session : str
        The session.
    actor_is_infant : bool
        The infant's codes (True) or the caregivers' (False).
    codes : sequence of str
        The codes that count.
    unit : float, default 1.0
        Time unit in seconds.
    roles : Roles, optional
        Which actors are the infant (by default the actor named ``infant``).

    Returns
    -------
    numpy.ndarray
        One 0/1 value per unit of the session's coded interval.

    Examples
    --------
    >>> from attunement.observation.events import make_event_table
    >>> ev = make_event_table([
    ...     {"session": "s1", "actor": "infant", "code": "cry", "onset": 0.0, "offset": 3.0},
    ...     {"session": "s1", "actor": "mother", "code": "soothe", "onset": 2.0, "offset": 6.0}])
    >>> unit_series(ev, "s1", actor_is_infant=True, codes=["cry"]).tolist()
    [1.0, 1.0, 1.0, 0.0, 0.0, 0.0]
    """
    ev = events[events["session"] == session]
    lo, hi = coded_intervals(ev).iloc[0]
    n = n_units(hi - lo, unit)
    isinf = ev["actor"].map(roles.is_infant if roles else (lambda a: a.lower() == "infant"))
    sel = ev[(isinf == actor_is_infant) & ev["code"].isin(list(codes))]
    return occurrence_units(sel["onset"].to_numpy() - lo, sel["offset"].to_numpy() - lo, n,
                            unit).astype(float)


def pooled_contingency(metrics: pd.DataFrame, by: Sequence[str] = ("caregiver", "cue_type"),
                       *, alpha: float = 0.05) -> pd.DataFrame:
    """Sum the per-session 2×2 tables within groups (GSEQ's pooling) and recompute the statistics.

    Bakeman & Quera advise analysing per-session indices (Yule's Q, log OR) as ordinary
    variables; pooled tables are offered for description and for sessions too short alone.

    Parameters
    ----------
    metrics : pandas.DataFrame
        The output of :func:`session_metrics`.
    by : sequence of str, default ("caregiver", "cue_type")
        The grouping columns.
    alpha : float, default 0.05
        1 − the confidence level.

    Returns
    -------
    pandas.DataFrame
        The groups with ``a, b, c, d, n_cues, n_sessions, yules_q, odds_ratio, log_odds_ratio,
        se_log_odds_ratio, adjusted_residual, q_ci_low, q_ci_high``.

    Examples
    --------
    Two sessions with the table of worked example B (2 13 / 2 43) pool to 4 26 / 4 86; R:
    ``psych::Yule(matrix(c(4, 4, 26, 86), 2))`` is 0.5357143.

    >>> import pandas as pd
    >>> m = pd.DataFrame({"caregiver": ["mother", "mother"], "cue_type": ["all", "all"],
    ...                   "a": [2, 2], "b": [13, 13], "c": [2, 2], "d": [43, 43], "n_cues": [3, 3]})
    >>> p = pooled_contingency(m).iloc[0]
    >>> int(p["a"]), int(p["d"]), int(p["n_sessions"]), round(float(p["yules_q"]), 4)
    (4, 86, 2, 0.5357)
    """
    keys = list(by)
    sums = metrics.groupby(keys, sort=True)[["a", "b", "c", "d", "n_cues"]].sum().reset_index()
    sums["n_sessions"] = metrics.groupby(keys, sort=True).size().to_numpy()
    st = _stats_arrays(*(sums[x].to_numpy(float) for x in "abcd"), alpha=alpha)
    for name in ("yules_q", "odds_ratio", "log_odds_ratio", "se_log_odds_ratio",
                 "adjusted_residual", "q_ci_low", "q_ci_high"):
        sums[name] = st[name]
    return sums
