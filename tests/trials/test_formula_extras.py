"""lme4 formula extras — ``||``, ``I()``, ``log()`` (and other functions), ``poly()``,
``offset()`` and a transformed response — against lme4 1.1-31 (``lmer`` REML, ``glmer``
Laplace).

Reference values and data: ``tests/trials/data/formula_extras.json``, made by
``tests/trials/data/formula_extras.R`` on nlme's Orthodont, R's ChickWeight and MASS's bacteria.
Tolerances: LMM fixed effects, SEs and logLik to 1e-6 relative, variances 1e-5; GLMM as
``tests/trials/test_glmm.py`` (fixed effects 1e-4, SEs and variances 1e-3, logLik 1e-6).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from attunement.trials.formula import FormulaError, parse_formula
from attunement.trials.glmm import fit_glmm
from attunement.trials.lmm import fit_lmm

from ._lme4 import check_fixed_effects

REF = json.loads((Path(__file__).parent / "data" / "formula_extras.json").read_text())
MODELS = REF["models"]


def _variances(fit) -> list[tuple[str, float]]:
    """(column, variance) of each random-effect variance, in order, and the residual."""
    return [(r.term1 or "Residual", r.variance) for r in fit.variance.itertuples()
            if not r.term2]


@pytest.mark.parametrize("ref", MODELS, ids=[f"{m['kind']}|{m['formula']}" for m in MODELS])
def test_formula_extras_match_lme4(ref: dict) -> None:
    data = pd.DataFrame(REF["data"][ref["name"]])
    if ref["kind"] == "lmm":
        fit = fit_lmm(ref["formula"], data)
        # the two optimisers stop ~1e-6 apart on a variance of this flat REML surface
        tol = {"fixef": 1e-6, "se": 1e-6, "var": 1e-5}
    else:
        fit = fit_glmm(ref["formula"], data, "binomial")
        tol = {"fixef": 1e-4, "se": 1e-3, "var": 1e-3}
    check_fixed_effects(fit, ref, tol)
    want = [(v["var1"] or "Residual", v["vcov"]) for v in ref["varcorr"] if not v["var2"]]
    got = _variances(fit)
    assert [g[0] for g in got] == [w[0] for w in want]
    np.testing.assert_allclose([g[1] for g in got], [w[1] for w in want], rtol=tol["var"])
    assert fit.loglik == pytest.approx(ref["logLik"], rel=1e-6)


def test_double_bar_is_separate_terms() -> None:
    """(1 + x || g) parses to lme4's expansion (1 | g) + (0 + x | g)."""
    f = parse_formula("y ~ x + (1 + x || g)")
    assert [(r.intercept, r.terms, r.group) for r in f.random] == [
        (True, (), ("g",)), (False, (("x",),), ("g",))]


def test_double_bar_with_a_factor_is_refused() -> None:
    data = pd.DataFrame(REF["data"]["Orthodont"])
    with pytest.raises(FormulaError, match=r"'\|\|' with a factor"):
        fit_lmm("distance ~ age + (Sex || Subject)", data)


def test_transform_errors_name_the_rows() -> None:
    data = pd.DataFrame(REF["data"]["ChickWeight"])
    with pytest.raises(FormulaError, match=r"log\(Time\) is not finite .* row\(s\) \[0"):
        fit_lmm("weight ~ log(Time) + (1 | Chick)", data)
    with pytest.raises(FormulaError, match=r"Diet.*not numeric"):
        fit_lmm("weight ~ I(Diet^2) + (1 | Chick)", data)
    with pytest.raises(FormulaError, match="unique points"):
        fit_lmm("weight ~ poly(Time, 40) + (1 | Chick)", data)


def test_minus_one_inside_a_call_is_arithmetic() -> None:
    f = parse_formula("y ~ I(x - 1) + (1 | g)")
    assert f.intercept and f.fixed == (("I(x - 1)",),)


def test_glmm_offset_expression_equals_offset_argument() -> None:
    """offset(expr) in a GLMM formula is the same model as the ``offset`` argument (glmer
    treats the two alike)."""
    counts = pd.read_csv(Path(__file__).parents[1] / "reference" / "glmm_counts.csv")
    a = fit_glmm("visits ~ wave + treated + offset(log(months) + 0.5 * wave) + (1 | family)",
                 counts, "poisson")
    b = fit_glmm("visits ~ wave + treated + (1 | family)", counts, "poisson",
                 offset=np.log(counts["months"].to_numpy()) + 0.5 * counts["wave"].to_numpy())
    np.testing.assert_allclose(a.fixed["estimate"], b.fixed["estimate"], rtol=1e-8)
    assert a.loglik == pytest.approx(b.loglik, rel=1e-10)
