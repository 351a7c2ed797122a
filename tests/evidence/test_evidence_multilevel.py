"""Three-level model (rma.mv with ~ 1 | district/school) against metafor 3.8-1.

The fixture's rma.mv fits used metafor's default optimiser settings (nlminb, not tightened),
whose optimum agrees with ours to ~1e-7 relative, inside the 1e-6 policy. Its profile CIs used
the default root tolerance (~1.2e-4), so they are checked at 1e-3 relative against the main
fixture and at the 1e-6 policy against a tightened metafor run (data/...tight.json).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from attunement.evidence import rma_mv

TIGHT = json.loads((Path(__file__).parent / "data" / "metafor_rma_mv_profile_ci_tight.json")
                   .read_text())


@pytest.fixture(scope="module")
def kon(metafor):
    return pd.DataFrame(metafor["analyses"]["konstantopoulos2011_three_level"]["data"])


@pytest.fixture(scope="module")
def reml(kon):
    return rma_mv(data=kon, cluster="district", method="REML")


@pytest.mark.parametrize("method", ["REML", "ML"])
def test_three_level_model(metafor, kon, close, method):
    ref = metafor["analyses"]["konstantopoulos2011_three_level"][method]
    res = rma_mv(data=kon, cluster="district", method=method)
    assert res.k == ref["k"] and res.n_clusters == 11
    close(res.sigma2, ref["sigma2"], what="sigma2")
    for key, value in (("beta", res.beta), ("se", res.se), ("stat", res.zval),
                       ("pval", res.pval), ("ci_lb", res.ci_lb), ("ci_ub", res.ci_ub)):
        close(value, ref[key], what=key)
    close([res.QE, res.QEp], [ref["QE"], ref["QEp"]])
    for key in ("logLik", "deviance", "AIC", "BIC"):
        close(res.fit_stats[key], ref[key], what=key)


@pytest.mark.parametrize(("component", "key"), [(0, "district"), (1, "school")])
def test_profile_likelihood_ci(metafor, reml, close, component, key):
    lo, hi = reml.profile_ci(component)
    close([lo, hi], TIGHT[f"sigma2_{key}"][1:], what="tight metafor")
    ref = metafor["analyses"]["konstantopoulos2011_three_level"]["REML"]
    np.testing.assert_allclose([lo, hi], ref[f"profile_ci_sigma2_{key}"][1:], rtol=1e-3)


def test_three_level_errors(kon):
    with pytest.raises(ValueError, match="one label per estimate"):
        rma_mv(kon.yi, kon.vi, cluster=[1, 2, 3])
    with pytest.raises(ValueError, match="REML"):
        rma_mv(data=kon, cluster="district", method="DL")
