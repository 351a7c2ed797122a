"""``predict`` of LMM and GLMM fits against lme4 1.1-31's ``predict.merMod``
(tests/trials/data/predict.R and predict.json)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from attunement.trials.formula import FormulaError
from attunement.trials.glmm import fit_glmm
from attunement.trials.lmm import fit_lmm

DATA = Path(__file__).parent / "data"
# relative 1e-8 (≤ 3e-6 ms on reaction times of 200-450 ms): θ agrees with lme4's tightly
# converged fit to ~1e-7, which moves the conditional modes by a few 1e-6 ms
LMM_TOL = {"rtol": 1e-8, "atol": 0}
REF = json.loads((DATA / "predict.json").read_text())
LMM, GLMM = REF["lmm"], REF["glmm"]


@pytest.fixture(scope="module")
def lmm():
    d = pd.read_csv(DATA / "sleepstudy.csv", dtype={"Subject": str})
    return fit_lmm(LMM["formula"], d)


@pytest.fixture(scope="module")
def glmm():
    d = pd.read_csv(Path(__file__).parents[1] / "reference" / "glmm_cbpp.csv",
                    dtype={"period": str, "herd": str})
    return fit_glmm(GLMM["formula"], d, "binomial")


def _new(ref: dict) -> pd.DataFrame:
    return pd.DataFrame(ref["newdata"])


def test_lmm_predict_fitted_rows(lmm):
    np.testing.assert_allclose(lmm.predict(), LMM["full"], **LMM_TOL)
    np.testing.assert_allclose(lmm.predict(re_form="none"), LMM["fixed"], **LMM_TOL)
    # the identity link: the response scale is the link scale
    np.testing.assert_array_equal(lmm.predict(type="response"), lmm.predict())


def test_lmm_predict_newdata_with_a_new_subject(lmm):
    new = _new(LMM)
    assert "999" in set(new["Subject"])  # a subject the fit has not seen: fixed part only
    np.testing.assert_allclose(lmm.predict(new), LMM["new_full"], **LMM_TOL)
    np.testing.assert_allclose(lmm.predict(new, re_form="none"), LMM["new_fixed"],
                               **LMM_TOL)


@pytest.mark.parametrize("re_form,type_", [("full", "link"), ("full", "response"),
                                            ("none", "link"), ("none", "response")])
def test_glmm_predict_fitted_rows(glmm, re_form, type_):
    key = f"{'full' if re_form == 'full' else 'fixed'}_{type_}"
    np.testing.assert_allclose(glmm.predict(re_form=re_form, type=type_), GLMM[key],
                               rtol=0, atol=1e-4)


def test_glmm_predict_newdata_with_a_new_herd(glmm):
    new = _new(GLMM)
    assert "99" in set(new["herd"])
    np.testing.assert_allclose(glmm.predict(new), GLMM["new_full_link"], rtol=0, atol=1e-4)
    np.testing.assert_allclose(glmm.predict(new, type="response"), GLMM["new_full_response"],
                               rtol=0, atol=1e-4)
    np.testing.assert_allclose(glmm.predict(new, re_form="none"), GLMM["new_fixed_link"],
                               rtol=0, atol=1e-4)


def test_glmm_predict_with_an_offset_for_newdata():
    ref = REF["glmm_offset"]
    d = pd.read_csv(Path(__file__).parents[1] / "reference" / "glmm_counts.csv",
                    dtype={"family": str})
    fit = fit_glmm(ref["formula"], d, "poisson")
    new = _new(ref)
    np.testing.assert_allclose(fit.predict(), ref["full_link"], rtol=0, atol=1e-4)
    np.testing.assert_allclose(fit.predict(new), ref["new_full_link"], rtol=0, atol=1e-4)
    np.testing.assert_allclose(fit.predict(new, type="response"), ref["new_full_response"],
                               rtol=1e-4, atol=0)
    with pytest.raises(FormulaError, match=r"newdata: the offset needs column\(s\) \['months'\]"):
        fit.predict(new.drop(columns="months"))
    with pytest.raises(FormulaError, match=r"newdata: offset\(log\(months\)\): months must be "
                                           r"positive: row\(s\) \[2\]"):
        fit.predict(new.assign(months=[1.0, 2.0, 0.0, 1.0]))
    by_array = fit_glmm("visits ~ wave + treated + (1 | family)", d, "poisson",
                        offset=np.log(d["months"].to_numpy()))
    np.testing.assert_allclose(by_array.predict(), ref["full_link"], rtol=0, atol=1e-4)
    with pytest.raises(ValueError, match="offset was given as an array"):
        by_array.predict(new)


def test_predict_new_level_of_a_fixed_factor_is_an_error_naming_it(glmm):
    new = pd.DataFrame({"period": ["1", "7"], "herd": ["1", "2"]})
    with pytest.raises(FormulaError, match=r"column 'period' has level '7' \(row 1\)"):
        glmm.predict(new)


def test_predict_missing_column_or_value_is_an_error_naming_it(lmm):
    with pytest.raises(FormulaError, match="newdata has no column 'Days'"):
        lmm.predict(pd.DataFrame({"Subject": ["308"]}))
    with pytest.raises(FormulaError, match=r"column 'Days' has a missing value in row\(s\) \[1\]"):
        lmm.predict(pd.DataFrame({"Days": [1.0, None], "Subject": ["308", "309"]}))


def test_predict_rejects_unknown_options(lmm):
    with pytest.raises(ValueError, match="re_form must be 'full' or 'none'"):
        lmm.predict(re_form="NA")
    with pytest.raises(ValueError, match="type must be 'link' or 'response'"):
        lmm.predict(type="prob")


def test_lmm_predict_adds_the_offset_back(lmm):
    d = pd.read_csv(DATA / "sleepstudy.csv", dtype={"Subject": str})
    d["base"] = 100.0
    shifted = fit_lmm("Reaction ~ Days + offset(base) + (Days | Subject)", d)
    # a constant offset only moves the intercept: predictions on y's scale are lme4's
    np.testing.assert_allclose(shifted.predict(), LMM["full"], **LMM_TOL)
    np.testing.assert_allclose(shifted.predict(_new(LMM).assign(base=100.0)), LMM["new_full"],
                               **LMM_TOL)


def _implied(lmm, days: np.ndarray) -> np.ndarray:
    """σ²(ZΛΛᵀZᵀ + I) for one subject's rows, from the variance table (not from θ)."""
    vc = lmm.variance_components()
    v0, v1 = vc["Subject.(Intercept)"], vc["Subject.Days"]
    c01 = vc["Subject.(Intercept).Days"]
    V = v0 + (days[:, None] + days[None, :]) * c01 + np.outer(days, days) * v1
    return V + vc["residual"] * np.eye(len(days))


def test_lmm_simulate_has_the_model_implied_moments(lmm):
    nsim = 20000
    sims = lmm.simulate(nsim, seed=2026)
    assert sims.shape == (lmm.nobs, nsim)
    fit = lmm.predict(re_form="none")
    days = np.arange(10.0)
    V = _implied(lmm, days)
    first = sims[:10]  # subject 308, days 0..9
    # means within 4.5 Monte-Carlo SEs for every row
    se_mean = np.sqrt(np.tile(np.diag(V), lmm.nobs // 10) / nsim)
    assert np.all(np.abs(sims.mean(axis=1) - fit) < 4.5 * se_mean)
    # variances and covariances within one subject: SE of a sample covariance under normality
    S = np.cov(first)
    se_cov = np.sqrt((np.outer(np.diag(V), np.diag(V)) + V ** 2) / nsim)
    assert np.all(np.abs(S - V) < 4.5 * se_cov)
    # rows of different subjects are independent
    other = sims[10:20]
    cross = (first - first.mean(1, keepdims=True)) @ (other - other.mean(1, keepdims=True)).T
    cross /= nsim - 1
    se_cross = np.sqrt(np.outer(np.diag(V), np.diag(V)) / nsim)
    assert np.all(np.abs(cross) < 4.5 * se_cross)


def test_lmm_simulate_is_reproducible_with_a_seed_and_checks_nsim(lmm):
    np.testing.assert_array_equal(lmm.simulate(3, seed=7), lmm.simulate(3, seed=7))
    assert not np.array_equal(lmm.simulate(3, seed=7), lmm.simulate(3, seed=8))
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="nsim must be a positive whole number"):
            lmm.simulate(bad)


def test_predict_newdata_with_poly_is_an_error_not_a_refit_basis():
    d = pd.read_csv(DATA / "sleepstudy.csv", dtype={"Subject": str})
    fit = fit_lmm("Reaction ~ poly(Days, 2) + (1 | Subject)", d)
    assert fit.predict().shape == (180,)
    with pytest.raises(FormulaError, match=r"newdata: poly\(Days, 2\) depends on the fitted"):
        fit.predict(d.iloc[:5])
