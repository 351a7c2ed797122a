"""permutest, anova (Wald contrasts, LRT), profile of tau^2, blup and vif against metafor 3.8-1.

Reference values: ``tests/reference/metafor_more_reference.json``, made by
``tests/reference/metafor_more_reference.R`` on dat.raudenbush1985 and dat.baskerville2012.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from attunement.evidence import anova, blup, permutest, profile_tau2, rma, vif
from attunement.evidence.diagnostics_more import profile_plot

REF = json.loads((Path(__file__).parents[1] / "reference" / "metafor_more_reference.json")
                 .read_text())
TIGHT = {"threshold": 1e-12, "tol": 1e-12}
RAUD = pd.DataFrame({k: REF["raudenbush1985"][k] for k in ("yi", "vi", "weeks", "setting",
                                                           "tester")})
BASK = pd.DataFrame({k: REF["baskerville2012"][k] for k in REF["baskerville2012"]})
FULL = "~ weeks + setting + tester"


def _full(method: str = "REML"):
    return rma("yi", "vi", data=RAUD, mods=FULL, method=method, control=TIGHT)


def test_permutest_exact_intercept_matches_r():
    ref = REF["permutest"]["int9"]
    fit = rma("yi", "vi", data=RAUD.iloc[:9], control=TIGHT)
    res = permutest(fit, exact=True)
    assert res.exact and res.iter == ref["iter"] == 512
    np.testing.assert_allclose(res.pval, ref["pval"], rtol=0, atol=1e-12)
    assert res.QMp == pytest.approx(ref["QMp"], abs=1e-12)


def test_permutest_exact_meta_regression_matches_r():
    ref = REF["permutest"]["reg7"]
    fit = rma("yi", "vi", data=RAUD.iloc[:7], mods=["weeks"], control=TIGHT)
    res = fit.permutest(iter=5000)  # 2520 distinct arrangements <= 5000: exact
    assert res.exact and res.iter == ref["iter"]
    np.testing.assert_allclose(res.pval, ref["pval"], rtol=0, atol=1e-12)
    assert res.QMp == pytest.approx(ref["QMp"], abs=1e-12)


def test_permutest_approximate_within_monte_carlo_error():
    ref = REF["permutest"]["full"]
    res = permutest(_full(), iter=2000, seed=1234)
    assert not res.exact and res.iter == 2000
    # two independent estimates of the same p-value (R's 2000 draws and ours): 4 SE of a difference
    for ours, theirs in zip([*res.pval, res.QMp], [*ref["pval"], ref["QMp"]], strict=True):
        se = np.sqrt(2 * max(theirs * (1 - theirs), 0.01 * 0.99) / 2000)
        assert abs(ours - theirs) <= 4 * se, (ours, theirs)
    again = permutest(_full(), iter=2000, seed=1234)
    np.testing.assert_array_equal(res.pval, again.pval)  # the seed makes it reproducible


def test_permutest_refuses_huge_exact_test():
    with pytest.raises(ValueError, match="exact permutation test needs"):
        permutest(_full(), exact=True)


def test_anova_wald_contrasts_match_r():
    ref = REF["anova"]["wald_X"]
    res = anova(_full(), X=ref["L"])
    for key in ("Xb", "se", "zval", "pval"):
        np.testing.assert_allclose(getattr(res, key), ref[key], rtol=1e-6, err_msg=key)
    assert pytest.approx(ref["QM"], rel=1e-6) == res.QM
    assert res.QMp == pytest.approx(ref["QMp"], rel=1e-6)
    assert res.QMdf[0] == ref["QMdf"][0]


def test_anova_wald_btt_matches_r_and_rma_btt():
    ref = REF["anova"]["wald_btt"]
    fit = _full()
    res = fit.anova(btt=[2, 3])   # R's btt = 3:4
    assert pytest.approx(ref["QM"], rel=1e-6) == res.QM
    assert res.QMp == pytest.approx(ref["QMp"], rel=1e-6)
    direct = rma("yi", "vi", data=RAUD, mods=FULL, control=TIGHT, btt=[2, 3])
    assert pytest.approx(direct.QM, rel=1e-10) == res.QM


def test_anova_lrt_matches_r():
    ref = REF["anova"]["lrt"]
    reduced = rma("yi", "vi", data=RAUD, mods=["weeks"], method="ML", control=TIGHT)
    res = anova(_full("ML"), reduced)
    assert pytest.approx(ref["LRT"], rel=1e-6) == res.LRT
    assert res.pval == pytest.approx(ref["pval"], rel=1e-6)
    assert res.df == ref["df"]
    assert res.fit_stats_full["logLik"] == pytest.approx(ref["ll_f"], rel=1e-8)
    assert res.fit_stats_reduced["AIC"] == pytest.approx(ref["AIC_r"], rel=1e-8)
    assert res.tau2_full == pytest.approx(ref["tau2_f"], rel=1e-6, abs=1e-10)
    assert res.tau2_reduced == pytest.approx(ref["tau2_r"], rel=1e-6)
    assert pytest.approx(ref["R2"], rel=1e-5) == res.R2
    # order of the two models does not matter
    assert pytest.approx(res.LRT) == anova(reduced, _full("ML")).LRT


def test_anova_errors_name_the_problem():
    fit = _full()
    with pytest.raises(ValueError, match="4 coefficients"):
        anova(fit, X=[[0, 1, 0]])
    with pytest.raises(ValueError, match="REML"):
        anova(fit, rma("yi", "vi", data=RAUD, mods=["weeks"], control=TIGHT))
    with pytest.raises(ValueError, match="same effect sizes"):
        anova(_full("ML"), rma("yi", "vi", data=RAUD.iloc[:10], method="ML", control=TIGHT))
    with pytest.raises(ValueError, match="not contained"):
        anova(_full("ML"), rma("yi", "vi", data=RAUD.assign(x=np.arange(19.0)), mods=["x"],
                              method="ML", control=TIGHT))


def test_profile_matches_r_and_peaks_at_the_estimate():
    ref = REF["profile"]
    fit = rma("yi", "vi", data=RAUD, control=TIGHT)
    prof = profile_tau2(fit, xlim=(0, 0.2), steps=11)
    np.testing.assert_allclose(prof["tau2"], ref["tau2"], rtol=1e-12)
    np.testing.assert_allclose(prof["ll"], ref["ll"], rtol=1e-8)
    assert prof["ll"].max() <= ref["max_reml"] + 1e-10
    ml = fit_ml = rma("yi", "vi", data=RAUD, method="ML", control=TIGHT)
    np.testing.assert_allclose(ml.profile(tau2=ref["tau2"])["ll"], ref["ll_ml"], rtol=1e-8)
    fig = profile_plot(profile_tau2(fit_ml))
    assert "τ²" in fig.axes[0].get_xlabel()
    with pytest.raises(ValueError, match="not estimated"):
        profile_tau2(rma("yi", "vi", data=RAUD, method="FE"))


def test_blup_matches_r():
    ref = REF["blup"]
    res = blup(_full())
    for key in ("pred", "se", "pi_lb", "pi_ub"):
        np.testing.assert_allclose(res[key], ref[key], rtol=1e-6, err_msg=key)
    res = rma("yi", "vi", data=RAUD, control=TIGHT).blup()
    for key in ("pred", "se", "pi_lb", "pi_ub"):
        np.testing.assert_allclose(res[key], ref["int_" + key], rtol=1e-6, err_msg=key)


def test_vif_and_gvif_match_r():
    ref = REF["vif"]
    fit = rma("smd", sei="se", data=BASK, mods=["blind", "alloconc", "itt", "duration"],
              control=TIGHT)
    res = vif(fit)
    np.testing.assert_allclose(res["vif"], ref["vif"], rtol=1e-6)
    np.testing.assert_allclose(res["sif"], ref["sif"], rtol=1e-6)
    fit2 = rma("smd", sei="se", data=BASK, mods="~ design + blind + duration + fumonths",
               control=TIGHT)
    g = fit2.vif(btt=[1, 2])
    assert g["vif"].iloc[0] == pytest.approx(ref["gvif"], rel=1e-6)
    assert g["sif"].iloc[0] == pytest.approx(ref["gsif"], rel=1e-6)
    assert g["m"].iloc[0] == ref["m"]
    with pytest.raises(ValueError, match="intercept"):
        fit2.vif(btt=[0])
