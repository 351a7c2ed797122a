"""Edge cases (documented metafor behaviour or clear errors) and properties of the estimators."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize_scalar

from attunement.evidence import METHODS, rma, trimfill

RANDOM_METHODS = [m for m in METHODS if m not in {"EE", "FE", "CE", "GENQ"}]


@pytest.mark.parametrize("method", [*RANDOM_METHODS, "FE"])
def test_identical_effects_give_zero_heterogeneity_not_nan(method):
    # checked with metafor 3.8-1: tau2 = 0, I2 = 0, H2 = 1 (0 for FE, as QE/df), QE = 0
    res = rma([0.3] * 5, [0.01, 0.02, 0.03, 0.04, 0.05], method=method)
    assert res.tau2 == 0 and res.I2 == 0 and res.QE == 0
    assert (0.0 if method == "FE" else 1.0) == res.H2
    assert math.isfinite(res.beta[0]) and math.isfinite(res.se[0])
    assert all(v is None or math.isfinite(v) for v in res.to_dict().values()
               if isinstance(v, float) or v is None)


def test_identical_effects_q_profile_interval_is_null():
    ci = rma([0.3] * 5, [0.01, 0.02, 0.03, 0.04, 0.05]).confint()
    assert ci.attrs["ci_null"]
    assert ci.loc["tau2", "ci_lb"] == 0 and ci.loc["tau2", "ci_ub"] == 0


def test_single_study_returns_its_own_effect_with_a_warning():
    with pytest.warns(UserWarning, match="k = 1"):
        res = rma([0.3], [0.01])
    assert res.beta[0] == 0.3 and res.se[0] == pytest.approx(0.1)
    assert (res.tau2, res.I2, res.H2, res.QE, res.QEp) == (0, 0, 1, 0, 1)
    with pytest.raises(ValueError, match="k = 1"):
        res.confint()


def test_missing_values_are_an_error_naming_the_studies():
    with pytest.raises(ValueError, match="Study 2"):
        rma([0.1, np.nan, 0.3], [0.01, 0.02, 0.03])


def test_missing_values_can_be_omitted_with_a_warning():
    with pytest.warns(UserWarning, match="Study 2"):
        res = rma([0.1, np.nan, 0.3, 0.2], [0.01, 0.02, 0.03, 0.02], na_action="omit")
    assert res.k == 3


@pytest.mark.parametrize("vi", [[0.01, 0.0, 0.03], [0.01, -0.02, 0.03], [0.01, np.inf, 0.03]])
def test_non_positive_variances_are_an_error(vi):
    with pytest.raises(ValueError, match="positive"):
        rma([0.1, 0.2, 0.3], vi)


def test_too_few_studies_for_the_model():
    with pytest.raises(ValueError, match="too few studies"):
        rma([0.1, 0.2], [0.01, 0.02], mods=[1.0, 2.0])


def test_collinear_moderators():
    with pytest.raises(ValueError, match="collinear"):
        rma([0.1, 0.2, 0.3, 0.5], [0.01] * 4, mods=np.column_stack([[1, 2, 3, 4], [2, 4, 6, 8]]))


def test_unknown_method_and_test():
    with pytest.raises(ValueError, match="unknown method"):
        rma([0.1, 0.2, 0.3], [0.01] * 3, method="BAYES")
    with pytest.raises(ValueError, match="unknown test"):
        rma([0.1, 0.2, 0.3], [0.01] * 3, test="f")


def test_sei_instead_of_vi():
    a = rma([0.1, 0.4, 0.3], [0.01, 0.04, 0.09])
    b = rma([0.1, 0.4, 0.3], sei=[0.1, 0.2, 0.3])
    assert a.beta[0] == pytest.approx(b.beta[0], rel=1e-14)


studies = st.integers(min_value=4, max_value=30).flatmap(
    lambda k: st.tuples(
        st.lists(st.floats(-2, 2, allow_nan=False), min_size=k, max_size=k),
        st.lists(st.floats(0.005, 1.0, allow_nan=False), min_size=k, max_size=k),
    )
)


def restricted_loglik(t, y, v):
    w = 1 / (v + t)
    mu = np.dot(w, y) / w.sum()
    return -0.5 * (np.sum(np.log(v + t)) + np.log(w.sum()) + np.dot(w, (y - mu) ** 2))


@settings(max_examples=40, deadline=None)
@given(studies)
def test_reml_is_a_maximum_of_the_restricted_likelihood(data):
    # The restricted likelihood can have a boundary maximum at 0 and an interior one; like
    # metafor (Fisher scoring from the HE start) we return a local maximum: the score is zero
    # at an interior estimate and non-positive at tau^2 = 0.
    y, v = map(np.asarray, data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = rma(y, v, method="REML")
    t, h = res.tau2, 1e-6
    slope = (restricted_loglik(t + h, y, v) - restricted_loglik(max(t - h, 0), y, v)) / (
        h + min(h, t))
    if t > 1e-4:
        assert abs(slope) < 1e-4
        opt = minimize_scalar(lambda s: -restricted_loglik(s, y, v), bounds=(t / 2, 2 * t),
                              method="bounded", options={"xatol": 1e-12})
        assert restricted_loglik(t, y, v) >= restricted_loglik(opt.x, y, v) - 1e-9
    else:
        assert slope <= 1e-4


@settings(max_examples=40, deadline=None)
@given(studies)
def test_eb_equals_pm_and_dl_is_the_textbook_formula(data):
    y, v = map(np.asarray, data)
    eb, pm, dl = (rma(y, v, method=m) for m in ("EB", "PM", "DL"))
    assert eb.tau2 == pytest.approx(pm.tau2, rel=1e-8, abs=1e-12)
    w = 1 / v
    q = np.dot(w, (y - np.dot(w, y) / w.sum()) ** 2)
    tau2 = max(0.0, (q - (len(y) - 1)) / (w.sum() - np.dot(w, w) / w.sum()))
    assert dl.tau2 == pytest.approx(tau2, rel=1e-10, abs=1e-14)
    assert pytest.approx(q, rel=1e-10, abs=1e-12) == dl.QE


@settings(max_examples=30, deadline=None)
@given(studies, st.randoms(use_true_random=False))
def test_study_order_does_not_matter(data, rnd):
    y, v = map(np.asarray, data)
    idx = list(range(len(y)))
    rnd.shuffle(idx)
    a, b = rma(y, v), rma(y[idx], v[idx])
    assert a.beta[0] == pytest.approx(b.beta[0], rel=1e-9, abs=1e-12)
    assert a.tau2 == pytest.approx(b.tau2, rel=1e-8, abs=1e-12)


@pytest.mark.parametrize(("method", "expected"), [("ML", 0.033467396854336),
                                                  ("REML", 0.054203866082771)])
def test_fisher_scoring_cycle_still_reaches_the_optimum(method, expected):
    # metafor's Fisher scoring cycles on these data and stops with "did not converge"; with
    # control=list(stepadj=0.5, threshold=1e-12) it converges to the values above.
    y = np.r_[np.zeros(14), 1.0]
    v = np.r_[np.ones(14), 0.125]
    assert rma(y, v, method=method).tau2 == pytest.approx(expected, rel=1e-9)


def test_genq_confint_needs_an_explicit_type():
    y, v = [0.1, 0.4, 0.3, 0.8, 0.2], [0.01, 0.04, 0.02, 0.05, 0.03]
    res = rma(y, v, method="GENQ", weights=[10, 20, 30, 40, 50])
    with pytest.raises(NotImplementedError, match="type='QP'"):
        res.confint()
    qp = res.confint(type="QP")
    assert qp.loc["tau2", "ci_lb"] <= qp.loc["tau2", "ci_ub"]
    assert res.to_dict()["tau2_ci_lb"] is None


def test_knapp_hartung_with_identical_effects_warns_and_influence_says_why():
    with pytest.warns(UserWarning, match="scaling factor"):
        res = rma([0.3] * 4, [0.01, 0.02, 0.03, 0.04], test="knha")
    assert res.se[0] == 0  # as metafor: s2w = 0
    with pytest.raises(ValueError, match="variance of the estimates is zero"):
        res.influence()


@pytest.mark.parametrize("method", ["FE", "DL", "REML"])
def test_trimfill_with_identical_effects_imputes_nothing(method):
    # rounding noise around the pooled value must not decide which side studies are missing
    # on (metafor can impute copies of the common value here; the estimate is the same)
    v = np.random.default_rng(1).uniform(1e-4, 1.0, 26)
    tf = trimfill(rma(np.full(26, 0.0373653801698204), v, method=method))
    assert tf.k0 == 0
    assert tf.model.beta[0] == pytest.approx(0.0373653801698204, rel=1e-12)
