"""Measures on sessions worked out by hand (responsiveness, latency, 2×2 tables, Kaplan–Meier) and edge cases."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from attunement.observation import (
    kaplan_meier,
    km_median,
    lag_sequential,
    lagged_cross_correlation,
    make_event_table,
    session_metrics,
    table_2x2_stats,
    time_window_table,
    windowed_cross_correlation,
)
from attunement.observation.naive import naive_session
from attunement.observation.responsiveness import cue_latencies
from attunement.observation.sequential import (
    circular_shift_test,
    onset_units,
    wcc_peaks,
    window_units,
)


def session(cues, responses, duration, *, carer="Mother", name="s1"):
    # the worked examples are coded from 0 s to ``duration``: the file states its coded interval
    span = {"duration": duration, "interval_start": 0.0, "interval_end": duration}
    rows = [{"session": name, "actor": "infant", "code": "cry", "onset": on, "offset": off,
             **span} for on, off in cues]
    rows += [{"session": name, "actor": carer, "code": "soothe", "onset": on, "offset": off,
              **span} for on, off in responses]
    return make_event_table(rows)


def metrics_row(ev, **kw):
    m = session_metrics(ev, cues=["cry"], responses=["soothe"], **kw)
    return m[m["cue_type"] == "all"].iloc[0]


# --- worked example A: a 2x2 table ----------------------------------------------------------

def test_worked_example_a_2x2_table():
    s = table_2x2_stats(18, 42, 12, 228)
    assert s["odds_ratio"] == pytest.approx(8.142857, abs=1e-6)
    assert s["log_odds_ratio"] == pytest.approx(2.097141, abs=1e-6)
    assert s["se_log_odds_ratio"] == pytest.approx(0.408760, abs=1e-6)
    assert s["yules_q"] == pytest.approx(0.78125, abs=1e-12)
    assert s["expected_a"] == pytest.approx(6.0)
    assert s["adjusted_residual"] == pytest.approx(5.773503, abs=1e-6)
    assert s["chi2"] == pytest.approx(33.3333, abs=1e-4)
    assert s["adjusted_residual"] ** 2 == pytest.approx(s["chi2"])
    # the note rounds with z = 1.96; we use the exact 97.5 % quantile
    assert s["or_ci_low"] == pytest.approx(3.6545, rel=1e-4)
    assert s["or_ci_high"] == pytest.approx(18.1435, rel=1e-4)
    assert s["q_ci_low"] == pytest.approx(0.5703, abs=1e-4)
    assert s["q_ci_high"] == pytest.approx(0.8955, abs=1e-4)


def test_zero_cell_gives_undefined_ci_not_a_number():
    s = table_2x2_stats(0, 10, 0, 50)
    assert math.isnan(s["yules_q"]) and math.isnan(s["se_log_odds_ratio"])
    s = table_2x2_stats(5, 0, 3, 50)
    assert s["odds_ratio"] == math.inf and s["yules_q"] == 1.0


# --- worked example B: time-window table from timed events ----------------------------------

CRIES = [(3, 8), (25, 31), (47, 50)]
SOOTHES = [(5, 12), (18, 20), (28, 35), (55, 58)]


def test_worked_example_b_onset_and_occurrence():
    on = time_window_table([3, 25, 47], [5, 18, 28, 55], 60)
    assert (on["a"], on["b"], on["c"], on["d"]) == (2, 13, 2, 43)
    assert on["yules_q"] == pytest.approx(0.5357, abs=1e-4)
    assert on["adjusted_residual"] == pytest.approx(1.195, abs=1e-3)
    assert on["p_target_given"] == pytest.approx(2 / 15)
    occ = time_window_table([3, 25, 47], [5, 18, 28, 55], 60,
                            response_offsets=[12, 20, 35, 58], target="occurrence")
    assert (occ["a"], occ["b"], occ["c"], occ["d"]) == (5, 10, 14, 31)
    assert occ["yules_q"] == pytest.approx(0.0508, abs=1e-4)
    assert occ["adjusted_residual"] == pytest.approx(0.160, abs=1e-3)


def test_worked_example_b_session_metrics_and_permutation():
    row = metrics_row(session(CRIES, SOOTHES, 60), seed=3)
    assert row["n_cues"] == 3
    assert row["responsiveness"] == pytest.approx(2 / 3)
    assert row["median_latency"] == pytest.approx(2.5)  # latencies 2 and 3 s
    assert row["chance_responsiveness"] == pytest.approx(0.283, abs=1e-3)
    assert row["yules_q"] == pytest.approx(0.5357, abs=1e-4)
    # 17 of the 59 circular shifts give Q >= observed: p = 18/60
    assert row["n_permutations"] == 59
    assert row["permutation_p"] == pytest.approx(0.30, abs=1e-12)


def test_window_units_are_onset_second_plus_next_four():
    g = window_units(np.array([3.0, 25.0, 47.0]), 60, (0, 5), 1.0)
    assert np.flatnonzero(g).tolist() == [3, 4, 5, 6, 7, 25, 26, 27, 28, 29, 47, 48, 49, 50, 51]


# --- edge cases -------------------------------------------------------------------------------

def test_response_exactly_at_window_end_counts_and_just_after_does_not():
    # 15.2 - 10.2 is 5.000000000000002 in floating point; the closed window must still hold it
    ev = session([(10.2, 11.0)], [(15.2, 16.0)], 60)
    assert metrics_row(ev, permutations=0)["responsiveness"] == 1.0
    ev = session([(10.2, 11.0)], [(15.21, 16.0)], 60)
    assert metrics_row(ev, permutations=0)["responsiveness"] == 0.0
    # a response at the cue onset (latency 0) counts; one before the cue does not
    ev = session([(10.0, 11.0)], [(10.0, 12.0)], 60)
    row = metrics_row(ev, permutations=0)
    assert row["responsiveness"] == 1.0 and row["median_latency"] == 0.0
    ev = session([(10.0, 11.0)], [(9.99, 12.0)], 60)
    assert metrics_row(ev, permutations=0)["responsiveness"] == 0.0


def test_cue_at_last_second_is_censored_at_session_end():
    ev = session([(10, 12), (59.5, 60)], [(11, 13)], 60)
    lat = cue_latencies(np.array([10.0, 59.5]), np.array([11.0]), 60.0)
    assert lat["responded"].tolist() == [True, False]
    assert lat["km_time"].tolist() == pytest.approx([1.0, 0.5])
    assert lat["km_event"].tolist() == [True, False]
    row = metrics_row(ev, permutations=0)
    assert row["responsiveness"] == 0.5
    # window of the last cue is clipped to the session: units 59 only (60 units in all)
    assert row["a"] + row["b"] == 5 + 1
    assert row["a"] + row["b"] + row["c"] + row["d"] == 60
    # the censored cue (0.5 s) leaves the risk set before the response at 1 s: S(1) = 0
    assert row["km_median_latency"] == 1.0


def test_overlapping_cues_share_a_response_and_censor_each_other():
    # cues at 10 and 12 (overlapping states), one response at 14
    ev = session([(10, 20), (12, 15)], [(14, 16)], 60)
    row = metrics_row(ev, permutations=0)
    assert row["responsiveness"] == 1.0
    assert row["median_latency"] == pytest.approx(3.0)  # latencies 4 and 2
    lat = cue_latencies(np.array([10.0, 12.0]), np.array([14.0]), 60.0)
    # the first cue is censored at the second cue's onset (2 s) before its response at 4 s
    assert lat["km_event"].tolist() == [False, True]
    assert lat["km_time"].tolist() == pytest.approx([2.0, 2.0])
    # overlapping windows merge: units 10..16
    assert row["a"] + row["b"] == 7
    # simultaneous cues do not censor each other
    lat = cue_latencies(np.array([10.0, 10.0]), np.array([13.0]), 60.0)
    assert lat["km_event"].tolist() == [True, True]


def test_no_responses_at_all():
    ev = session([(5, 6), (20, 22)], [], 60)
    ev = pd.concat([ev, make_event_table([{"session": "s1", "actor": "Mother",
                                           "code": "look", "onset": 1, "offset": 2,
                                           "duration": 60}])], ignore_index=True)
    row = metrics_row(ev)
    assert row["caregiver"] == "Mother"
    assert row["n_responses"] == 0 and row["responsiveness"] == 0.0
    assert math.isnan(row["median_latency"]) and math.isnan(row["km_median_latency"])
    assert row["a"] == 0 and row["c"] == 0
    assert math.isnan(row["yules_q"]) and math.isnan(row["permutation_p"])
    assert row["chance_responsiveness"] == 0.0


def test_no_cues_at_all():
    ev = session([], [(5, 6)], 60)
    row = metrics_row(ev)
    assert row["n_cues"] == 0 and math.isnan(row["responsiveness"])


def test_each_caregiver_and_cue_type_gets_a_row():
    rows = [{"session": "s", "actor": "Infant", "code": c, "onset": t, "offset": t + 1,
             "duration": 30} for c, t in [("cry", 1), ("babble", 10), ("cry", 20)]]
    rows += [{"session": "s", "actor": a, "code": "respond", "onset": t, "offset": None,
              "duration": 30} for a, t in [("Mother", 2), ("Father", 11), ("Father", 22)]]
    from attunement.observation.scheme import CodingScheme

    sch = CodingScheme.from_codes(["cry", "babble"], ["respond"])
    m = session_metrics(make_event_table(rows), sch, permutations=0)
    got = {(r.caregiver, r.cue_type): r.responsiveness for r in m.itertuples()}
    assert got == {("Father", "all"): 2 / 3, ("Father", "babble"): 1.0, ("Father", "cry"): 0.5,
                   ("Mother", "all"): 1 / 3, ("Mother", "babble"): 0.0, ("Mother", "cry"): 0.5}


# --- Kaplan–Meier (a hand-worked example; Kaplan & Meier 1958, doi:10.1080/01621459.1958.10501452) -

def test_kaplan_meier_worked_example():
    t = np.array([0.5, 1.0, 1.5, 2.5, 3.0, 4.0, 6.0, 8.0])
    e = np.array([1, 1, 1, 1, 0, 0, 1, 0], bool)
    km = kaplan_meier(t, e)
    assert km["survival"].tolist() == pytest.approx(
        [0.875, 0.75, 0.625, 0.5, 0.5, 0.5, 0.25, 0.25])
    assert km["at_risk"].tolist() == [8, 7, 6, 5, 4, 3, 2, 1]
    # within 7 s: naive 5/8 = 0.625 but KM 0.75
    from attunement.observation.responsiveness import km_cumulative_at

    assert km_cumulative_at(t, e, 7.0) == pytest.approx(0.75)
    assert km_cumulative_at(t, e, 2.0) == pytest.approx(0.375)
    # S is exactly 0.5 from 2.5 to the next event at 6: R's survival takes the midpoint
    assert km_median(t, e) == pytest.approx(4.25)


# --- lag-sequential (worked example C) ----------------------------------------------------------

SEQ = ["IV", "MV", "IV", "MV", "IG", "MT", "IV", "MV", "IV", "IG", "MT", "IG", "MV", "IV", "MV", "MT", "IG", "IV", "MV", "IV"]


def test_lag_sequential_worked_example_c():
    r = lag_sequential(SEQ, codes=["IV", "MV", "IG", "MT"])
    table = r.pivot(index="given", columns="target", values="count").loc[
        ["IV", "MV", "IG", "MT"], ["IV", "MV", "IG", "MT"]]
    assert table.to_numpy().tolist() == [[0, 5, 1, 0], [4, 0, 1, 1], [1, 1, 0, 2], [1, 0, 2, 0]]
    cell = r.set_index(["given", "target"]).loc[("IV", "MV")]
    assert cell["probability"] == pytest.approx(5 / 6)
    assert cell["expected"] == pytest.approx(36 / 19)
    assert cell["adjusted_residual"] == pytest.approx(3.297, abs=1e-3)
    assert cell["yules_q"] == pytest.approx(0.9672, abs=1e-4)


def test_lag_sequential_structural_zeros_ipf():
    r = lag_sequential(SEQ, repeats=False).set_index(["given", "target"])
    assert r.loc[("IV", "MV"), "expected"] == pytest.approx(3.135, abs=1e-3)
    assert r.loc[("IV", "MV"), "pearson_residual"] == pytest.approx(1.053, abs=1e-3)
    assert math.isnan(r.loc[("IV", "IV"), "expected"])


def test_lag_two_counts():
    r = lag_sequential(list("ABAB"), max_lag=2, codes=["A", "B"])
    lag2 = r[r["lag"] == 2].set_index(["given", "target"])["count"]
    assert lag2[("A", "A")] == 1 and lag2[("B", "B")] == 1 and lag2[("A", "B")] == 0


# --- vectorised vs loop reference ---------------------------------------------------------------

@pytest.mark.parametrize("seed", range(6))
def test_vectorised_measures_equal_the_loop_reference(seed):
    rng = np.random.default_rng(seed)
    end = float(rng.integers(40, 120))
    cues = np.sort(rng.uniform(0, end, rng.integers(0, 15))).round(2)
    resp = np.sort(rng.uniform(0, end, rng.integers(0, 15))).round(2)
    ev = session([(c, None) for c in cues], [(r, None) for r in resp], end)
    row = metrics_row(ev, permutations=10_000)
    ref = naive_session(cues.tolist(), resp.tolist(), end)
    for key in ("n_cues", "a", "b", "c", "d"):
        assert row[key] == ref[key], key
    for key in ("responsiveness", "median_latency", "yules_q", "permutation_p"):
        assert row[key] == pytest.approx(ref[key], nan_ok=True), key


def test_circular_shift_test_equals_np_roll_loop():
    rng = np.random.default_rng(7)
    g = rng.random(200) < 0.2
    t = rng.random(200) < 0.1
    q, p, k = circular_shift_test(g, t, permutations=10_000)
    qs = []
    for s in range(1, 200):
        tt = np.roll(t, s)
        st = table_2x2_stats(*[float(v) for v in (
            np.sum(g & tt), np.sum(g & ~tt), np.sum(~g & tt), np.sum(~g & ~tt))])
        qs.append(st["yules_q"])
    qs = np.array(qs)
    assert k == 199
    assert p == pytest.approx((np.sum(qs >= q - 1e-12) + 1) / 200)
    # sampled shifts are reproducible with a seed
    _, p1, k1 = circular_shift_test(g, t, permutations=50, seed=1)
    _, p2, _ = circular_shift_test(g, t, permutations=50, seed=1)
    assert k1 == 50 and p1 == p2


def test_onset_units_at_session_end_go_to_last_unit():
    assert np.flatnonzero(onset_units(np.array([60.0]), 60)).tolist() == [59]


# --- synchrony ----------------------------------------------------------------------------------

def test_lagged_cross_correlation_finds_a_one_second_follower():
    rng = np.random.default_rng(1)
    x = rng.normal(size=20).cumsum()
    y = np.r_[x[0], x[:-1]] + rng.normal(scale=0.05, size=20)
    r = lagged_cross_correlation(x, y, 2)
    assert r.loc[r["r"].idxmax(), "lag"] == 1
    assert r.set_index("lag").loc[1, "r"] == pytest.approx(np.corrcoef(x[:-1], y[1:])[0, 1])
    assert r.set_index("lag").loc[-2, "r"] == pytest.approx(np.corrcoef(x[2:], y[:-2])[0, 1])


def test_windowed_cross_correlation_matches_direct_computation():
    rng = np.random.default_rng(2)
    x = rng.normal(size=40)
    y = np.r_[0.0, x[:-1]] + rng.normal(scale=0.1, size=40)
    w = windowed_cross_correlation(x, y, window=8, step=4, max_lag=2)
    row = w[(w["window_start"] == 6) & (w["lag"] == 1)].iloc[0]
    assert row["r"] == pytest.approx(np.corrcoef(x[6:14], y[7:15])[0, 1])
    row = w[(w["window_start"] == 6) & (w["lag"] == -2)].iloc[0]
    assert row["r"] == pytest.approx(np.corrcoef(x[8:16], y[6:14])[0, 1])
    peaks = wcc_peaks(w)
    assert (peaks["peak_lag"] == 1).all()


def test_rows_per_response_type():
    rows = [{"session": "s", "actor": "infant", "code": "cry", "onset": t, "offset": t + 1,
             "duration": 40} for t in (1, 10, 20, 30)]
    rows += [{"session": "s", "actor": "Mum", "code": c, "onset": t, "duration": 40}
             for c, t in [("soothe", 2), ("talk", 11), ("talk", 21)]]
    m = session_metrics(make_event_table(rows), cues=["cry"], responses=["soothe", "talk"],
                        permutations=0, by_response_type=True)
    got = m[m["cue_type"] == "all"].set_index("response_type")["responsiveness"].to_dict()
    assert got == {"all": 0.75, "soothe": 0.25, "talk": 0.5}


def test_unit_series_from_events():
    from attunement.observation.metrics import unit_series

    ev = session([(1.5, 3.2)], [(2.0, None)], 6)
    x = unit_series(ev, "s1", actor_is_infant=True, codes=["cry"])
    y = unit_series(ev, "s1", actor_is_infant=False, codes=["soothe"])
    assert x.tolist() == [0, 1, 1, 1, 0, 0] and y.tolist() == [0, 0, 1, 0, 0, 0]


def test_two_coders_in_one_session_are_not_mixed():
    ev = session(CRIES, SOOTHES, 60)
    ev.loc[0, "coder"] = "B"
    with pytest.raises(ValueError, match="2 coders"):
        session_metrics(ev, cues=["cry"], responses=["soothe"])


def test_occurrence_target_in_session_metrics():
    row = metrics_row(session(CRIES, SOOTHES, 60), permutations=0, target="occurrence")
    assert (row["a"], row["b"], row["c"], row["d"]) == (5, 10, 14, 31)
    assert row["yules_q"] == pytest.approx(0.0508, abs=1e-4)


def test_pooled_tables_sum_sessions():
    from attunement.observation.metrics import pooled_contingency

    ev = pd.concat([session(CRIES, SOOTHES, 60, name="a"), session(CRIES, SOOTHES, 60, name="b")],
                   ignore_index=True)
    m = session_metrics(ev, cues=["cry"], responses=["soothe"], permutations=0)
    pooled = pooled_contingency(m[m["cue_type"] == "all"]).iloc[0]
    assert (pooled["a"], pooled["b"], pooled["c"], pooled["d"]) == (4, 26, 4, 86)
    assert pooled["n_sessions"] == 2
    assert pooled["yules_q"] == pytest.approx(table_2x2_stats(4, 26, 4, 86)["yules_q"])


def _random_sessions(k, seed=0):
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(k):
        end = float(rng.choice([300, 420]))
        cues = [(c, None) for c in np.sort(rng.uniform(0, end, 30)).round(2)]
        resp = [(r, None) for r in np.sort(rng.uniform(0, end, 30)).round(2)]
        frames.append(session(cues, resp, end, name=f"s{i}"))
    return pd.concat(frames, ignore_index=True)


def test_sampled_shifts_do_not_depend_on_the_other_sessions():
    ev = _random_sessions(6)
    kw = dict(cues=["cry"], responses=["soothe"], unit=0.25, permutations=100, seed=9)
    together = session_metrics(ev, **kw).set_index(["session", "cue_type"])["permutation_p"]
    alone = session_metrics(ev[ev["session"] == "s3"], **kw).set_index(
        ["session", "cue_type"])["permutation_p"]
    assert alone.loc["s3"].tolist() == together.loc["s3"].tolist()
    assert (session_metrics(ev, **kw)["n_permutations"] == 100).all()


@pytest.mark.slow
def test_dask_cluster_gives_the_local_numbers():
    from distributed import LocalCluster

    ev = _random_sessions(7, seed=1)
    kw = dict(cues=["cry"], responses=["soothe"], unit=0.5, permutations=200, seed=3)
    local = session_metrics(ev, **kw)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster:
        remote = session_metrics(ev, scheduler=cluster.scheduler_address, chunk_sessions=3, **kw)
    pd.testing.assert_frame_equal(remote, local)
