"""Power by simulation against closed forms (stats.md §3), and the fast REML against fit_lmm."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from attunement.trials.lmm import fit_lmm
from attunement.trials.power import (
    TrialDesign,
    TrialDesignError,
    closed_form_power,
    power_curve,
    run_power,
    simulate_trial,
)
from attunement.trials.power_design import _add_clda_columns, _draw, _layout
from attunement.trials.power_fit import _analyse_continuous


def _within_mc(result, expected: float, k: float = 4.0) -> None:
    se = math.sqrt(expected * (1 - expected) / result.sims)
    assert abs(result.power - expected) < k * se, (result.power, expected, se)


def test_t_test_limit_d05_64_per_arm() -> None:
    """One wave, no clustering: the two-sample t test (d = 0.5, 64 per arm → 0.80)."""
    from statsmodels.stats.power import TTestIndPower

    design = TrialDesign(n_per_arm=64, effect_size=0.5)
    exact = TTestIndPower().power(0.5, 64, 0.05)
    assert closed_form_power(design) == pytest.approx(exact, rel=1e-6)
    assert exact == pytest.approx(0.80, abs=0.005)
    result = run_power(design, sims=2000, seed=11)
    _within_mc(result, exact)
    assert result.ci_lb < result.power < result.ci_ub


def test_worked_number_d033_146_per_arm() -> None:
    """stats.md §3.4: sensitivity d = 0.33, single post-test, 146 per arm → 80 %."""
    design = TrialDesign(n_per_arm=146, effect_size=0.33)
    assert closed_form_power(design) == pytest.approx(0.80, abs=0.01)
    _within_mc(run_power(design, sims=1500, seed=3), closed_form_power(design))


@pytest.mark.parametrize(("n", "waves", "effect"), [(109, 2, "final"), (61, 4, "constant")])
def test_worked_numbers_ancova_baseline_adjustment(n: int, waves: int, effect: str) -> None:
    """stats.md §3.4: d = 0.33 with ρ = 0.5 needs 109 per arm (ANCOVA on baseline) and 61
    per arm (baseline + 3 follow-ups, factor 0.417); the constrained-baseline LMM matches."""
    design = TrialDesign(n_per_arm=n, waves=waves, effect=effect, icc_family=0.5,
                         effect_size=0.33)
    assert closed_form_power(design) == pytest.approx(0.80, abs=0.01)
    _within_mc(run_power(design, sims=1500, seed=19), closed_form_power(design))


def test_centre_clustering_design_effect() -> None:
    """Individual randomisation balanced within centre, centre in the model: the variance is
    multiplied by 1 − ICC (Vierron & Giraudeau 2009)."""
    design = TrialDesign(n_per_arm=40, centres=8, icc_centre=0.3, effect_size=0.45)
    expected = closed_form_power(design)
    no_centre = closed_form_power(TrialDesign(n_per_arm=40, effect_size=0.45))
    assert expected > no_centre + 0.1
    _within_mc(run_power(design, sims=1500, seed=5), expected)


def test_whole_centres_randomised_design_effect() -> None:
    """Cluster randomisation: Var × (1 + (m − 1)·ICC), t test on K − 2 df (stats.md §3.2)."""
    design = TrialDesign(n_per_arm=150, centres=20, icc_centre=0.05, effect_size=0.4,
                         allocation="by_centre")
    expected = closed_form_power(design)
    individual = closed_form_power(TrialDesign(n_per_arm=150, effect_size=0.4))
    assert expected < individual - 0.15
    _within_mc(run_power(design, sims=1500, seed=8), expected)


def test_repeated_measures_slope_closed_form() -> None:
    """Random-intercept model, effect on the slope: Var = 2σ²(1 − ρ)/(n Σ(t − t̄)²)."""
    design = TrialDesign(n_per_arm=30, waves=5, times=(0, 6, 12, 18, 24), icc_family=0.5,
                         effect_size=0.5)
    expected = closed_form_power(design)
    _within_mc(run_power(design, sims=1500, seed=7), expected)


def test_type_one_error_with_clustering_and_attrition() -> None:
    design = TrialDesign(n_per_arm=60, centres=6, waves=4, icc_centre=0.05, icc_family=0.4,
                         attrition=0.3, effect_size=0.0)
    result = run_power(design, sims=1500, seed=13)
    _within_mc(result, 0.05)
    assert result.failed == 0


def test_attrition_lowers_power() -> None:
    base = TrialDesign(n_per_arm=50, waves=4, icc_family=0.4, effect_size=0.4)
    full = run_power(base, sims=800, seed=2).power
    lost = run_power(TrialDesign(**(base.to_dict() | {"attrition": 0.5,
                                                      "attrition_mechanism": "baseline"})),
                     sims=800, seed=2).power
    assert lost < full


@pytest.mark.parametrize(("effect", "term"), [("slope", "arm1:time:subgroup"),
                                              ("final", "arm1_w3:subgroup")])
def test_fast_reml_matches_the_general_fitter(effect: str, term: str) -> None:
    """The vectorised REML equals fit_lmm (the lme4 formulation) on simulated trials."""
    design = TrialDesign(n_per_arm=30, centres=5, waves=4, effect_size=0.4, icc_centre=0.05,
                         icc_family=0.4, attrition=0.3, subgroup_prevalence=0.3,
                         subgroup_effect=0.3, test="moderator", effect=effect)
    layout = _layout(design)
    sim = _draw(layout, 3, np.random.default_rng(1))
    fast = _analyse_continuous(layout, sim)
    assert design.tested_terms[0] == term
    for s in range(3):
        rows = [{"centre": layout.centre[f], "family": f, "arm": str(layout.arm[f]),
                 "subgroup": float(sim["type"][s, f] % 2), "time": float(j), "wavef": str(j),
                 "wave": j, "y": sim["y"][s, f, j]}
                for f in range(design.families) for j in range(int(sim["m"][s, f]))]
        frame = _add_clda_columns(pd.DataFrame(rows), design)
        fit = fit_lmm(design.formula, frame, df_method="between-within")
        fe = fit.fixed.set_index("term")
        assert fast["estimate"][s, 0] == pytest.approx(fe.loc[term, "estimate"], rel=1e-6)
        assert fast["se"][s, 0] == pytest.approx(fe.loc[term, "se"], rel=1e-6)
        assert fast["df"][s, 0] == fe.loc[term, "df"]


def test_binary_worked_number_45_to_62_percent() -> None:
    """stats.md §3.4: secure 45 % → 62 % needs 134 per arm for 80 % (logistic Wald test)."""
    odds = (0.62 / 0.38) / (0.45 / 0.55)
    design = TrialDesign(n_per_arm=134, outcome="binary", p_control=0.45, odds_ratio=odds)
    result = run_power(design, sims=300, seed=17)
    _within_mc(result, 0.80)


def test_binary_longitudinal_gee_runs() -> None:
    design = TrialDesign(n_per_arm=40, centres=4, waves=3, outcome="binary", effect_size=0.5,
                         icc_family=0.3, attrition=0.2)
    result = run_power(design, sims=12, seed=1)
    assert result.sims == 12 and 0 <= result.power <= 1 and "GEE" in result.method


def test_three_arms_and_moderator_terms() -> None:
    design = TrialDesign(n_per_arm=30, arms=3, waves=3, effect="final", icc_family=0.3,
                         subgroup_prevalence=0.25, subgroup_effect=0.5, test="moderator")
    assert design.tested_terms == ["arm1_w2:subgroup", "arm2_w2:subgroup"]
    result = run_power(design, sims=200, seed=4)
    assert len(result.power_by_arm) == 2 and len(result.summary()) == 2


def test_power_curve_increases_with_n() -> None:
    curve = power_curve(TrialDesign(effect_size=0.4), [20, 60, 120], sims=400, seed=9)
    assert list(curve["n_per_arm"]) == [20, 60, 120]
    assert curve["power"].is_monotonic_increasing


def test_simulate_trial_table() -> None:
    d = simulate_trial(TrialDesign(n_per_arm=10, centres=2, waves=3, attrition=0.3), seed=1)
    assert set(d.columns) >= {"centre", "family", "arm", "wave", "y"}
    assert d.groupby("family")["wave"].max().le(2).all()


@pytest.mark.parametrize(("kw", "message"), [
    ({"icc_centre": 1.2}, "ICC must be in"),
    ({"icc_family": -0.1}, "ICC must be in"),
    ({"icc_centre": 0.5, "icc_family": 0.5}, "no residual variance"),
    ({"n_per_arm": -5}, "at least 2"),
    ({"attrition": 1.0}, "attrition"),
    ({"waves": 3, "times": (0, 6)}, "3 waves"),
    ({"test": "moderator"}, "needs a subgroup"),
    ({"outcome": "ordinal"}, "continuous"),
    ({"allocation": "by_centre", "centres": 3}, "multiple of 2"),
    ({"allocation": "by_cluster"}, "within_centre"),
])
def test_bad_designs(kw: dict, message: str) -> None:
    with pytest.raises(TrialDesignError, match=message):
        TrialDesign(**kw)


def test_unknown_design_key() -> None:
    with pytest.raises(TrialDesignError, match="unknown key"):
        TrialDesign.from_dict({"n_per_arm": 10, "icc": 0.1}, source="d.yaml")


def test_dask_local_cluster_gives_the_same_answer() -> None:
    from distributed import Client, LocalCluster

    design = TrialDesign(n_per_arm=30, centres=3, waves=3, icc_family=0.3, effect_size=0.4)
    local = run_power(design, sims=120, seed=21, chunk_size=40)
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        seen = []
        remote = run_power(design, sims=120, seed=21, chunk_size=40, scheduler=client,
                           progress=seen.append)
        by_address = run_power(design, sims=120, seed=21, chunk_size=40,
                               scheduler=cluster.scheduler_address)
    assert remote.power == local.power == by_address.power
    assert remote.mean_estimate == pytest.approx(local.mean_estimate)
    assert seen[-1] == 120
