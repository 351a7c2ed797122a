"""Step-function selection models against metafor 3.8-1 (tests/reference/metafor_more_selmodel.R)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from attunement.evidence import rma
from attunement.evidence.selection import selmodel

REF = json.loads((Path(__file__).parents[1] / "reference" / "metafor_more_selmodel.json")
                 .read_text())
H = REF["hackshaw1998"]
TIGHT = {"threshold": 1e-12, "tol": 1e-12}


@pytest.mark.parametrize(("name", "steps"), [("step1", [0.025, 1]),
                                             ("step3", [0.025, 0.10, 0.50, 1])])
def test_stepfun_selmodel_matches_r(name, steps):
    ref = REF[name]
    fit = rma(H["yi"], H["vi"], method="ML", control=TIGHT)
    res = selmodel(fit, steps)
    # the likelihood is flat near the optimum: R's optim stops within ~1e-6 of it
    np.testing.assert_allclose(res.beta, ref["beta"], rtol=1e-3, atol=2e-6)
    assert res.tau2 == pytest.approx(ref["tau2"], rel=1e-3)
    np.testing.assert_allclose(res.delta, ref["delta"], rtol=1e-4)
    np.testing.assert_allclose(res.se, ref["se"], rtol=1e-3)
    assert res.se_tau2 == pytest.approx(ref["se_tau2"], rel=1e-3)
    np.testing.assert_allclose(res.se_delta[1:], ref["se_delta"][1:], rtol=1e-3)
    assert res.ll == pytest.approx(ref["ll"], abs=1e-7)
    assert pytest.approx(ref["LRT"], rel=1e-6) == res.LRT
    assert res.LRTdf == ref["LRTdf"]
    assert res.LRTp == pytest.approx(ref["LRTp"], rel=1e-6)
    np.testing.assert_allclose(res.ci_lb, ref["ci_lb"], rtol=1e-3, atol=1e-5)


def test_selmodel_from_a_reml_fit_refits_by_ml():
    reml = rma(H["yi"], H["vi"], control=TIGHT)
    assert pytest.approx(REF["step1"]["LRT"], rel=1e-6) == reml.selmodel(steps=[0.025, 1]).LRT


def test_selmodel_errors_name_the_problem():
    fit = rma(H["yi"], H["vi"], method="ML")
    with pytest.raises(ValueError, match=r"no study .* interval \(0, 1e-05\]"):
        selmodel(fit, [1e-5, 1])
    with pytest.raises(ValueError, match="steps must lie"):
        selmodel(fit, [0, 0.5])
    with pytest.raises(ValueError, match="random"):
        selmodel(rma(H["yi"], H["vi"], method="FE"), [0.025, 1])


@pytest.mark.parametrize("name", ["hackshaw1998", "lee2004"])
def test_henmi_copas_matches_r(name):
    ref = json.loads((Path(__file__).parents[1] / "reference" / "metafor_more_hc.json")
                     .read_text())[name]
    res = rma(ref["yi"], ref["vi"]).hc()
    assert res.beta == pytest.approx(ref["beta"], rel=1e-12)
    assert res.se == pytest.approx(ref["se"], rel=1e-12)
    assert res.tau2 == pytest.approx(ref["tau2"], rel=1e-12)
    # against R with uniroot tol = 1e-12 (R's integrate() limits agreement to ~1e-8)
    assert res.ci_lb == pytest.approx(ref["tight_ci_lb"], rel=1e-7)
    assert res.ci_ub == pytest.approx(ref["tight_ci_ub"], rel=1e-7)
    # and with metafor's default tolerance
    assert res.ci_lb == pytest.approx(ref["ci_lb"], rel=1e-5)


def test_henmi_copas_refuses_meta_regression():
    with pytest.raises(ValueError, match="without moderators"):
        rma(H["yi"], H["vi"], mods=np.arange(len(H["yi"]), dtype=float)).hc()


def test_beta_selmodel_matches_r():
    ref = REF["beta"]
    res = selmodel(rma(H["yi"], H["vi"], method="ML", control=TIGHT), type="beta")
    np.testing.assert_allclose(res.beta, ref["beta"], rtol=1e-4)
    assert res.tau2 == pytest.approx(ref["tau2"], rel=1e-4)
    np.testing.assert_allclose(res.delta, ref["delta"], rtol=1e-4)
    # metafor integrates A_i with integrate()'s default rel.tol (1.2e-4) and differentiates that
    # numerically, so its log-likelihood is off by ~2.5e-4 and its SEs by ~1% (our values agree
    # with adaptive quadrature to ~1e-8 in the log-likelihood)
    assert res.ll == pytest.approx(ref["ll"], abs=5e-4)
    assert pytest.approx(ref["LRT"], rel=2e-4) == res.LRT
    assert res.LRTdf == 2
    np.testing.assert_allclose(res.se, ref["se"], rtol=2e-2)
    np.testing.assert_allclose(res.se_delta, ref["se_delta"], rtol=2e-2)
    with pytest.raises(ValueError, match="'stepfun' or 'beta'"):
        selmodel(rma(H["yi"], H["vi"]), type="halfnorm")
