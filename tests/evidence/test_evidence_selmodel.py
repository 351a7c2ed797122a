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
