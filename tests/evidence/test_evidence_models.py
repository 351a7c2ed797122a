"""rma(): every estimator, test, interval and fit statistic against metafor 3.8-1."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from attunement.evidence import escalc, rma

PRIMARY = {
    "bcg_RR": ("bcg", "RR"),
    "normand1999_SMD": ("normand1999", "SMD"),
    "molloy2014_ZCOR": ("molloy2014", "ZCOR"),
}  # the same mapping as conftest.PRIMARY, spelled out for parametrisation
METHODS = ["FE", "DL", "HE", "HS", "HSk", "SJ", "ML", "REML", "EB", "PM"]


def effect_data(datasets, name: str, measure: str) -> pd.DataFrame:
    d = datasets[name]
    if name == "bcg":
        return escalc(measure, d, ai="tpos", bi="tneg", ci="cpos", di="cneg")
    return escalc(measure, d)


def total_n(datasets, name: str) -> np.ndarray:
    d = datasets[name]
    if name == "bcg":
        return (d.tpos + d.tneg + d.cpos + d.cneg).to_numpy(float)
    if name == "normand1999":
        return (d.n1i + d.n2i).to_numpy(float)
    return d.ni.to_numpy(float)


def check_fit(res, ref, close, *, closed_form=False) -> None:
    """Compare an RMAResult with a fit_uni() block of the fixture."""
    cf = closed_form
    assert res.k == ref["k"] and res.p == ref["p"]
    assert res.test == ref["test"]
    close(res.beta, ref["beta"], closed_form=cf, what="beta")
    close(res.se, ref["se"], closed_form=cf, what="se")
    close(res.zval, ref["stat"], closed_form=cf, what="stat")
    close(res.pval, ref["pval"], closed_form=cf, what="pval")
    close(res.ci_lb, ref["ci_lb"], closed_form=cf, what="ci_lb")
    close(res.ci_ub, ref["ci_ub"], closed_form=cf, what="ci_ub")
    if "df" in ref:
        assert res.ddf == ref["df"]
    close(res.tau2, ref["tau2"], closed_form=cf, what="tau2")
    close(res.se_tau2, ref["se_tau2"], closed_form=cf, what="se_tau2")
    close(res.tau, ref["tau"], closed_form=cf, what="tau")
    close(res.I2, ref["I2"], closed_form=cf, what="I2")
    close(res.H2, ref["H2"], closed_form=cf, what="H2")
    close(res.QE, ref["QE"], closed_form=True, what="QE")
    close(res.QEp, ref["QEp"], what="QEp")
    assert res.k - res.p == ref["QE_df"]
    if "R2" in ref:
        close(res.R2, ref["R2"], closed_form=cf, what="R2")
    if "QM" in ref:
        close(res.QM, ref["QM"], closed_form=cf, what="QM")
        close(res.QMp, ref["QMp"], closed_form=cf, what="QMp")
        qdf = ref["QM_df"]
        assert res.QM_df[0] == qdf[0]
        assert (res.QM_df[1] is None and qdf[1] is None) or res.QM_df[1] == qdf[1]
    kind = ref["fit_stats"]["likelihood"]
    for key in ("logLik", "deviance", "AIC", "BIC", "AICc"):
        close(res.fit_stats[kind][key], ref["fit_stats"][key], closed_form=cf, what=key)
    if "confint_random" in ref:
        ci = res.confint()
        cr = ref["confint_random"]
        for row in ("tau2", "tau", "I2", "H2"):
            close(ci.loc[row].to_numpy(), cr[row], what=f"confint {row}")
    if "predict" in ref:
        pr = res.predict().iloc[0]
        for key in ("pred", "se", "ci_lb", "ci_ub", "pi_lb", "pi_ub"):
            close(pr[key], ref["predict"][key], closed_form=cf, what=f"predict {key}")
    if "predict_riley" in ref:
        pr = res.predict(pi_type="riley").iloc[0]
        close(pr.pi_lb, ref["predict_riley"]["pi_lb"], closed_form=cf, what="riley pi_lb")
        close(pr.pi_ub, ref["predict_riley"]["pi_ub"], closed_form=cf, what="riley pi_ub")
    if "weights_percent" in ref:
        close(res.weights_percent(), ref["weights_percent"], closed_form=cf, what="weights")


@pytest.mark.parametrize("analysis", list(PRIMARY))
@pytest.mark.parametrize("method", METHODS)
def test_every_estimator_matches_metafor(metafor, datasets, close, analysis, method):
    name, measure = PRIMARY[analysis]
    ref = metafor["analyses"][analysis]["rma_uni"][method]
    res = rma(effect_data(datasets, name, measure), method=method)
    check_fit(res, ref, close, closed_form=method in {"FE", "DL", "HE", "HS", "HSk", "SJ"})


@pytest.mark.parametrize("analysis", list(PRIMARY))
def test_genq_with_user_weights(metafor, datasets, close, analysis):
    name, measure = PRIMARY[analysis]
    dat = effect_data(datasets, name, measure)
    fits = metafor["analyses"][analysis]["rma_uni"]
    res = rma(dat, method="GENQ", weights=1 / dat.vi)
    check_fit(res, fits["GENQ_weights_1_over_vi"], close, closed_form=True)
    # with weights 1/vi the GENQ tau^2 equals DerSimonian-Laird's
    close(res.tau2, fits["DL"]["tau2"], closed_form=True)
    res = rma(dat, method="GENQ", weights=total_n(datasets, name))
    check_fit(res, fits["GENQ_weights_n"], close, closed_form=True)


@pytest.mark.parametrize("analysis", list(PRIMARY))
def test_metafor_default_control_is_close_but_not_the_optimum(metafor, datasets, close, analysis):
    name, measure = PRIMARY[analysis]
    fits = metafor["analyses"][analysis]["rma_uni"]
    res = rma(effect_data(datasets, name, measure), method="REML")
    default = fits["REML_default_control"]["tau2"]
    # we reproduce the tight optimum, which differs from metafor's default stopping point
    assert abs(res.tau2 - fits["REML"]["tau2"]) <= 1e-9 * fits["REML"]["tau2"]
    assert abs(res.tau2 - default) <= 2e-4 * default
    # plain Fisher scoring with metafor's default threshold reproduces that stopping point
    plain = rma(effect_data(datasets, name, measure), method="REML",
                control={"threshold": 1e-5, "newton": 0})
    check_fit(plain, fits["REML_default_control"], close, closed_form=True)


@pytest.mark.parametrize("analysis", list(PRIMARY))
@pytest.mark.parametrize("variant", ["REML", "DL", "PM", "REML_t_unadjusted", "REML_adhoc"])
def test_knapp_hartung_and_t_tests(metafor, datasets, close, analysis, variant):
    name, measure = PRIMARY[analysis]
    ref = metafor["analyses"][analysis]["knapp_hartung"][variant]
    test = {"REML_t_unadjusted": "t", "REML_adhoc": "adhoc"}.get(variant, "knha")
    res = rma(effect_data(datasets, name, measure), method=ref["method"], test=test)
    check_fit(res, ref, close, closed_form=variant == "DL")


@pytest.mark.parametrize(("analysis", "measure"), [("bcg_OR", "OR"), ("normand1999_MD", "MD")])
@pytest.mark.parametrize("method", ["REML", "DL"])
def test_second_measures(metafor, datasets, close, analysis, measure, method):
    name = analysis.split("_")[0]
    ref = metafor["analyses"][analysis][method]
    check_fit(rma(effect_data(datasets, name, measure), method=method), ref, close)


class TestMetaRegression:
    @pytest.fixture
    def bcg(self, datasets):
        return effect_data(datasets, "bcg", "RR")

    def test_latitude_reml(self, metafor, bcg, close):
        ref = metafor["analyses"]["bcg_RR"]["meta_regression"]["REML_ablat"]
        res = rma(bcg, mods=["ablat"], method="REML")
        check_fit(res, ref, close)
        assert res.coef_names == ["intrcpt", "ablat"]
        pr = res.predict([10, 30, 50])
        pa = ref["predict_at_ablat"]
        for key in ("pred", "se", "ci_lb", "ci_ub", "pi_lb", "pi_ub"):
            close(pr[key].to_numpy(), pa[key], what=key)

    def test_latitude_knapp_hartung(self, metafor, bcg, close):
        ref = metafor["analyses"]["bcg_RR"]["meta_regression"]["REML_ablat_knha"]
        check_fit(rma(bcg, mods="~ ablat", method="REML", test="knha"), ref, close)

    def test_latitude_fixed_effect(self, metafor, bcg, close):
        ref = metafor["analyses"]["bcg_RR"]["meta_regression"]["FE_ablat"]
        check_fit(rma(bcg, mods=["ablat"], method="FE"), ref, close, closed_form=True)

    def test_two_moderators(self, metafor, bcg, close):
        ref = metafor["analyses"]["bcg_RR"]["meta_regression"]["REML_ablat_year"]
        check_fit(rma(bcg, mods="~ ablat + year", method="REML"), ref, close)

    def test_molloy_mean_age(self, metafor, datasets, close):
        ref = metafor["analyses"]["molloy2014_ZCOR"]["meta_regression_meanage_REML"]
        dat = effect_data(datasets, "molloy2014", "ZCOR")
        check_fit(rma(dat, mods=["meanage"], method="REML"), ref, close)

    def test_back_transformed_pooled_correlation(self, metafor, datasets, close):
        ref = metafor["analyses"]["molloy2014_ZCOR"]["pooled_r_back_transformed"]
        res = rma(effect_data(datasets, "molloy2014", "ZCOR"))
        pr = res.predict(transf=np.tanh).iloc[0]
        for key in ("pred", "ci_lb", "ci_ub", "pi_lb", "pi_ub"):
            close(pr[key], ref[key], what=key)


class TestSubgroups:
    @pytest.fixture
    def bcg(self, datasets):
        return effect_data(datasets, "bcg", "RR")

    @pytest.mark.parametrize("group", ["random", "alternate", "systematic"])
    def test_separate_fits(self, metafor, bcg, close, group):
        ref = metafor["analyses"]["bcg_RR"]["subgroups_alloc"]["separate_REML_fits"][group]
        check_fit(rma(bcg[bcg.alloc == group].reset_index(drop=True)), ref, close)

    def test_common_tau2_test_of_subgroup_differences(self, metafor, bcg, close):
        ref = metafor["analyses"]["bcg_RR"]["subgroups_alloc"]["mixed_effects_REML_common_tau2"]
        res = rma(bcg, mods=["alloc"], method="REML")
        check_fit(res, ref, close)
        assert res.coef_names == ["intrcpt", "alloc[random]", "alloc[systematic]"]

    def test_cell_means(self, metafor, bcg, close):
        ref = metafor["analyses"]["bcg_RR"]["subgroups_alloc"]["mixed_effects_REML_cell_means"]
        check_fit(rma(bcg, mods="~ factor(alloc) - 1", method="REML"), ref, close)

    def test_fixed_effect_q_between(self, metafor, bcg, close):
        ref = metafor["analyses"]["bcg_RR"]["subgroups_alloc"]["fixed_effect_Q_between"]
        check_fit(rma(bcg, mods=["alloc"], method="FE"), ref, close, closed_form=True)
