"""GLMMs against lme4 1.1-31's glmer (tests/reference/glmm_reference.R and .json)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from attunement.trials.formula import FormulaError
from attunement.trials.glmm import fit_glmm

REF = Path(__file__).parents[1] / "reference"
MODELS = json.loads((REF / "glmm_reference.json").read_text())["models"]
# factors stored as numbers in the CSVs
DTYPES = {"period": str, "herd": str, "YEAR": str, "BROOD": str, "LOCATION": str, "id": str}


def _data(csv: str) -> pd.DataFrame:
    return pd.read_csv(REF / csv, dtype=DTYPES)


def _fit(name: str):
    m = MODELS[name]
    weights = "size" if name == "cbpp_prop_weights" else None
    return fit_glmm(m["formula"], _data(m["csv"]), m["family"], m["link"], m["nAGQ"],
                    weights=weights)


def _variances(fit) -> dict[str, float]:
    """Our names for R's: a slope term's intercept variance is 'group' in the JSON."""
    out = {}
    for row in fit.variance.itertuples():
        if row.term2:
            continue
        out[row.group if row.term1 == "(Intercept)" else f"{row.group}.{row.term1}"] = row.variance
    return out


@pytest.mark.parametrize("name", list(MODELS))
def test_glmer_reference(name: str) -> None:
    m = MODELS[name]
    fit = _fit(name)
    fe = fit.fixed.set_index("term")
    assert list(fe.index) == list(m["fixef"])
    for term, value in m["fixef"].items():
        assert fe.loc[term, "estimate"] == pytest.approx(value, rel=1e-4, abs=1e-4), term
        assert fe.loc[term, "se"] == pytest.approx(m["se"][term], rel=1e-3), term
    var = _variances(fit)
    for group, value in m["variance"].items():
        assert var[group] == pytest.approx(value, rel=1e-3, abs=1e-6), group
    # lme4 reports nAGQ > 1 log-likelihoods without the saturated model's part (lme4 issue
    # #161); logLik_full, computed in R, adds it back
    assert fit.loglik == pytest.approx(m["logLik_full"], rel=1e-6)
    assert fit.converged
    # lme4 with its default PIRLS tolerance (1e-7) lands within ~1e-3 of the same optimum
    for term, value in m["default"]["fixef"].items():
        assert fe.loc[term, "estimate"] == pytest.approx(value, abs=2e-3), term


def test_cbind_proportion_and_bernoulli_rows_agree() -> None:
    """cbind(s, n - s), s/n with weights n, and the same data expanded to 0/1 rows."""
    d = _data("glmm_cbpp.csv")
    a = fit_glmm("cbind(incidence, size - incidence) ~ period + (1 | herd)", d)
    d["failures"] = d["size"] - d["incidence"]
    b = fit_glmm("cbind(incidence, failures) ~ period + (1 | herd)", d)
    rows = []
    for r in d.itertuples():
        rows += [{"herd": r.herd, "period": r.period, "y": 1}] * r.incidence
        rows += [{"herd": r.herd, "period": r.period, "y": 0}] * (r.size - r.incidence)
    c = fit_glmm("y ~ period + (1 | herd)", pd.DataFrame(rows))
    for other in (b, c):
        np.testing.assert_allclose(other.fixed["estimate"], a.fixed["estimate"], rtol=1e-5)
        np.testing.assert_allclose(other.fixed["se"], a.fixed["se"], rtol=1e-4)
    # the Bernoulli likelihood differs from the grouped one by the binomial coefficients only
    assert c.variance_components()["herd"] == pytest.approx(a.variance_components()["herd"],
                                                            rel=1e-5)


def test_offset_argument_equals_offset_term() -> None:
    d = _data("glmm_counts.csv")
    a = fit_glmm("visits ~ wave + treated + offset(log(months)) + (1 | family)", d, "poisson")
    b = fit_glmm("visits ~ wave + treated + (1 | family)", d, "poisson",
                 offset=np.log(d["months"].to_numpy()))
    np.testing.assert_allclose(a.fixed["estimate"], b.fixed["estimate"], rtol=1e-7)
    assert a.loglik == pytest.approx(b.loglik, rel=1e-10)


def test_result_shapes_and_print() -> None:
    fit = _fit("cbpp_agq25")
    out = fit.to_dict()
    assert set(out["fixed"]["period2"]) == {"estimate", "se", "z", "p"}
    assert out["variance"] == {"herd": pytest.approx(MODELS["cbpp_agq25"]["variance"]["herd"],
                                                     rel=1e-3)}
    assert "Adaptive Gauss-Hermite Quadrature (nAGQ = 25)" in str(fit)
    re = fit.ranef()
    assert len(re) == 15 and set(re["group"]) == {"herd"}


def test_missing_rows_are_counted() -> None:
    d = _data("glmm_counts.csv")
    d.loc[[3, 10], "visits"] = np.nan
    fit = fit_glmm("visits ~ wave + (1 | family)", d, "poisson")
    assert fit.dropped == 2 and fit.nobs == len(d) - 2
    assert fit.to_dict()["rows_with_missing_values_left_out"] == 2


@pytest.mark.parametrize(("formula", "family", "change", "message"), [
    ("y ~ x + (1 | g)", "binomial", {"y": [0, 2]}, r"must be 0 or 1 .*row\(s\) \[1\]"),
    ("y ~ x + (1 | g)", "poisson", {"y": [-1, 0]}, r"whole counts .*row\(s\) \[0\]"),
    ("y ~ x + (1 | g)", "poisson", {"y": [0.5, 1]}, r"whole counts .*row\(s\) \[0\]"),
    ("cbind(y, n - y) ~ x + (1 | g)", "binomial", {"y": [3, 0], "n": [2, 2]},
     r"failures must be whole numbers .*row\(s\) \[0\]"),
    ("y ~ x + offset(log(n)) + (1 | g)", "poisson", {"n": [0, 1]},
     r"offset\(log\(n\)\): n must be positive: row\(s\) \[0\]"),
    ("y ~ x + (1 | nope)", "poisson", {}, r"no column\(s\) \['nope'\]"),
])
def test_bad_input_is_refused_with_the_row(formula: str, family: str, change: dict,
                                           message: str) -> None:
    rng = np.random.default_rng(1)
    d = pd.DataFrame({"y": rng.integers(0, 2, 40).astype(float), "x": rng.normal(size=40),
                      "g": np.repeat(np.arange(8), 5), "n": 2})
    for col, values in change.items():
        d.loc[: len(values) - 1, col] = values
    with pytest.raises(FormulaError, match=message):
        fit_glmm(formula, d, family)


def test_bad_options() -> None:
    d = _data("glmm_verbagg.csv")
    with pytest.raises(ValueError, match="single scalar random-effects term"):
        fit_glmm("y ~ Anger + (1 | id) + (1 | item)", d, nagq=5)
    with pytest.raises(ValueError, match="link logit or probit"):
        fit_glmm("y ~ Anger + (1 | id)", d, link="log")
    with pytest.raises(ValueError, match="family must be"):
        fit_glmm("y ~ Anger + (1 | id)", d, family="gamma")
    with pytest.raises(ValueError, match="nagq must be"):
        fit_glmm("y ~ Anger + (1 | id)", d, nagq=0)
