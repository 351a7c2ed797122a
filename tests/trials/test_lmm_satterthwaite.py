"""Satterthwaite df against lmerTest 3.1-3 on lme4's own data sets (to 1e-6 relative).

Reference values and data: ``tests/reference/lmertest_satterthwaite.json``, made by
``tests/reference/lmertest_satterthwaite.R``. lmerTest differentiates numerically, so on the
balanced designs it is itself ~1e-7 away from the exact df (5, 17, 9, 222).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from attunement.trials.lmm import fit_lmm

REF = json.loads((Path(__file__).parents[1] / "reference" / "lmertest_satterthwaite.json")
                 .read_text())
MODELS = REF["models"]


def _as_dict(value: dict | list, names: list[str]) -> dict[str, float]:
    return value if isinstance(value, dict) else dict(zip(names, value, strict=True))


@pytest.mark.parametrize("ref", MODELS, ids=[f"{m['name']}|{m['formula']}|{m['reml']}"
                                             for m in MODELS])
def test_satterthwaite_df_matches_lmertest(ref: dict) -> None:
    data = pd.DataFrame(REF["data"][ref["name"]])
    fit = fit_lmm(ref["formula"], data, reml=ref["reml"])
    names = list(fit.fixed["term"])
    fe = fit.fixed.set_index("term")
    assert fit.loglik == pytest.approx(ref["logLik"], rel=1e-9)
    for key, col in (("fixef", "estimate"), ("se", "se"), ("t", "t")):
        for term, value in _as_dict(ref[key], names).items():
            assert fe.loc[term, col] == pytest.approx(value, rel=1e-6), (key, term)
    for term, value in _as_dict(ref["df"], names).items():
        assert fe.loc[term, "df"] == pytest.approx(value, rel=1e-6), term
    # lmerTest's own df error (~1e-7) moves a p-value of 1e-6 by ~1e-5 relative
    for term, value in _as_dict(ref["p"], names).items():
        assert fe.loc[term, "p"] == pytest.approx(value, rel=1e-4), term
    for con in ref["contrasts"]:
        got = fit.contrast(np.array(con["L"], dtype=float))
        for key in ("estimate", "se", "df", "t"):
            assert got[key] == pytest.approx(con[key], rel=1e-6), key
        assert got["p"] == pytest.approx(con["p"], rel=1e-4)


def test_balanced_designs_give_the_exact_df() -> None:
    """One-way balanced random intercept: the intercept's df is exactly groups − 1 (REML)."""
    data = pd.DataFrame(REF["data"]["Dyestuff"])
    fit = fit_lmm("Yield ~ 1 + (1 | Batch)", data)
    assert fit.fixed["df"].iloc[0] == pytest.approx(5.0, rel=1e-7)
    sleep = pd.DataFrame(REF["data"]["sleepstudy"])
    fit = fit_lmm("Reaction ~ Days + (Days | Subject)", sleep)
    np.testing.assert_allclose(fit.fixed["df"], [17.0, 17.0], rtol=1e-7)
