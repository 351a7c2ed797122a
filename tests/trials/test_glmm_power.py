"""Power for binary outcomes by a vectorised logistic GLMM: each simulated fit against
fit_glmm, and the power against a simulate-and-glmer loop in R (tests/reference/glmm_power.R)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from attunement.cli import app
from attunement.trials.glmm import fit_glmm
from attunement.trials.glmm_power import analyse_glmm
from attunement.trials.power import TrialDesign, TrialDesignError, run_power
from attunement.trials.power_design import _draw, _layout

REF = Path(__file__).parents[1] / "reference"


def _frame(design: TrialDesign, layout, sim: dict, s: int) -> pd.DataFrame:
    rows = [{"centre": f"c{layout.centre[f]}", "family": f"f{f}", "arm": str(layout.arm[f]),
             "time": design.time_points[j], "y": sim["y"][s, f, j]}
            for f in range(design.families) for j in range(int(sim["m"][s, f]))]
    return pd.DataFrame(rows)


OUTCOMES = {"binary": {"outcome": "binary", "p_control": 0.45, "odds_ratio": 2.5,
                       "analysis": "glmm"},
            "count": {"outcome": "count", "rate_control": 1.5, "rate_ratio": 0.7}}


@pytest.mark.parametrize("outcome", list(OUTCOMES))
@pytest.mark.parametrize("kw", [
    {"centres": 1, "waves": 3, "icc_family": 0.2},
    {"centres": 4, "waves": 3, "icc_family": 0.2, "icc_centre": 0.05},
    {"centres": 6, "waves": 1, "icc_centre": 0.1},
])
def test_each_simulated_fit_is_fit_glmm(kw: dict, outcome: str) -> None:
    design = TrialDesign(n_per_arm=40, effect="slope", attrition=0.2, **OUTCOMES[outcome], **kw)
    layout = _layout(design)
    sim = _draw(layout, 3, np.random.default_rng(5))
    out = analyse_glmm(layout, sim)
    term = design.tested_terms[0]
    for s in range(3):
        fit = fit_glmm(design.formula, _frame(design, layout, sim, s),
                       "poisson" if outcome == "count" else "binomial")
        fe = fit.fixed.set_index("term")
        # a centre variance at its boundary (0) is approached slowly by both searches
        tol = 1e-3 if fit.singular else 1e-5
        assert out["estimate"][s, 0] == pytest.approx(fe.loc[term, "estimate"], rel=tol, abs=tol)
        assert out["se"][s, 0] == pytest.approx(fe.loc[term, "se"], rel=max(tol, 2e-4))
        assert out["converged"][s] or fit.singular


def test_power_agrees_with_the_glmer_loop() -> None:
    """R: 1,000 simulated trials, glmer Laplace fits, Wald z (simr is not installable, so a
    plain loop; see the script). Agreement within Monte Carlo error: 3.5 SE of the difference
    of two independent binomial proportions."""
    ref = json.loads((REF / "glmm_power.json").read_text())
    design = TrialDesign.from_dict({**ref["design"], "analysis": "glmm"})
    assert design.tested_terms == [ref["term"]]
    sims = 600
    res = run_power(design, sims, seed=20261204)
    p = (res.power * sims + ref["significant"]) / (sims + ref["nsim"])
    se = math.sqrt(p * (1 - p) * (1 / sims + 1 / ref["nsim"]))
    assert abs(res.power - ref["power"]) <= 3.5 * se, (res.power, ref["power"], se)
    assert res.failed == 0
    assert res.mean_estimate[0] == pytest.approx(ref["mean_estimate"], abs=0.05)
    assert res.mean_se[0] == pytest.approx(ref["mean_se"], rel=0.03)
    assert "GLMM" in res.method


def test_glmm_power_is_reproducible_and_chunk_independent() -> None:
    design = TrialDesign(n_per_arm=20, waves=3, outcome="binary", icc_family=0.2,
                         odds_ratio=2.0, analysis="glmm")
    a = run_power(design, 40, seed=3, chunk_size=40)
    b = run_power(design, 40, seed=3, chunk_size=40)
    assert a.power == b.power and a.mean_estimate == b.mean_estimate


def test_glmm_analysis_needs_a_random_effect_and_a_binary_outcome() -> None:
    with pytest.raises(TrialDesignError, match="'analysis': a GLMM needs a random effect"):
        TrialDesign(outcome="binary", analysis="glmm")
    with pytest.raises(TrialDesignError, match="'analysis': for a continuous outcome must be lmm"):
        TrialDesign(waves=3, analysis="glmm")
    with pytest.raises(TrialDesignError, match="for a binary outcome must be gee or glmm"):
        TrialDesign(outcome="binary", waves=3, analysis="lmm")
    with pytest.raises(TrialDesignError, match="'rate_ratio': a count outcome needs the rate"):
        TrialDesign(outcome="count", waves=3)
    with pytest.raises(TrialDesignError, match="'outcome': a count outcome is analysed by a "
                                               "Poisson GLMM"):
        TrialDesign(outcome="count", rate_ratio=0.7)
    with pytest.raises(TrialDesignError, match="'rate_control': must be positive"):
        TrialDesign(outcome="count", waves=3, rate_ratio=0.7, rate_control=0)


def test_cli_power_glmm_json() -> None:
    res = CliRunner().invoke(app, ["power", "--n-per-arm", "20", "--waves", "3", "--outcome",
                                   "binary", "--icc-family", "0.2", "--analysis", "glmm",
                                   "--sims", "20", "--seed", "1", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["sims"] == 20 and 0 <= out["power"] <= 1


def test_count_power_agrees_with_the_glmer_loop() -> None:
    """R: 500 simulated count trials, glmer Poisson Laplace fits, Wald z
    (tests/reference/glmm_power_count.R); agreement within Monte Carlo error as above."""
    ref = json.loads((REF / "glmm_power_count.json").read_text())
    design = TrialDesign.from_dict(ref["design"])
    sims = 500
    res = run_power(design, sims, seed=20261205)
    p = (res.power * sims + ref["significant"]) / (sims + ref["nsim"])
    se = math.sqrt(p * (1 - p) * (1 / sims + 1 / ref["nsim"]))
    assert abs(res.power - ref["power"]) <= 3.5 * se, (res.power, ref["power"], se)
    assert res.failed == 0
    assert res.mean_estimate[0] == pytest.approx(ref["mean_estimate"], abs=0.03)
    # R's SEs here are lme4's RX-based ones (its Hessian-based SE collapses in some fits, see
    # the script); ours are Hessian-based, which differ from RX-based by a few per cent
    assert res.mean_se[0] == pytest.approx(ref["mean_se"], rel=0.05)
    assert "Poisson GLMM" in res.method


def test_cli_power_count_design(tmp_path: Path) -> None:
    spec = tmp_path / "design.yaml"
    spec.write_text("n_per_arm: 20\nwaves: 3\noutcome: count\nrate_control: 1.5\n"
                    "rate_ratio: 0.7\nicc_family: 0.2\n")
    res = CliRunner().invoke(app, ["power", "--design", str(spec), "--sims", "20", "--seed", "1",
                                   "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["sims"] == 20
