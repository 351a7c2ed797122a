"""The mixed-model fitter against lme4 1.1-31 (and lmerTest 3.1-3 for Satterthwaite df)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from attunement.trials.formula import FormulaError, parse_formula
from attunement.trials.lmm import fit_lmm

DATA = Path(__file__).parent / "data"
REL = 1e-4


@pytest.fixture(scope="module")
def trial(reference_dir: Path) -> pd.DataFrame:
    d = pd.read_csv(reference_dir / "lmm_trial_public.csv")
    d["wavef"] = d["wave"].astype(str)
    return d


@pytest.fixture(scope="module")
def public(reference_dir: Path) -> dict:
    return json.loads((reference_dir / "lmm_trial_public.json").read_text())


def _close(a: float, b: float, rel: float = REL) -> bool:
    return abs(a - b) <= rel * abs(b)


def test_public_fixture_main_model(trial: pd.DataFrame, public: dict) -> None:
    fit = fit_lmm(public["formula"], trial, reml=True)
    fe = fit.fixed.set_index("term")
    assert list(fe.index) == list(public["fixef"])
    for term, value in public["fixef"].items():
        assert _close(fe.loc[term, "estimate"], value), term
        assert _close(fe.loc[term, "se"], public["se"][term]), term
    vc = fit.variance_components()
    assert _close(vc["centre"], public["var_centre"])
    assert _close(vc["family"], public["var_family"])
    assert _close(vc["residual"], public["var_resid"])
    assert _close(fit.loglik, public["logLik_REML"], 1e-8)
    assert fit.converged and not fit.singular


def test_public_fixture_moderator_model(trial: pd.DataFrame, public: dict) -> None:
    fit = fit_lmm(public["moderator_formula"], trial, reml=True, df_method="residual")
    fe = fit.fixed.set_index("term")
    assert list(fe.index) == list(public["moderator_fixef"])  # R's term order
    for term, value in public["moderator_fixef"].items():
        assert _close(fe.loc[term, "estimate"], value), term
        assert _close(fe.loc[term, "se"], public["moderator_se"][term]), term


EXTRA = json.loads((DATA / "lme4_extra.json").read_text())["models"]


@pytest.mark.parametrize("ref", EXTRA, ids=[f"{m['formula']}|{'REML' if m['reml'] else 'ML'}"
                                            for m in EXTRA])
def test_lme4_extra_models(trial: pd.DataFrame, ref: dict) -> None:
    """ML, random slopes (a boundary fit), nested ``centre/family``, factors, and lmerTest df."""
    fit = fit_lmm(ref["formula"], trial, reml=ref["reml"])
    assert fit.nobs == ref["nobs"]
    assert _close(fit.loglik, ref["logLik"], 1e-8)
    fe = fit.fixed.set_index("term")
    assert list(fe.index) == list(ref["fixef"])
    for term, value in ref["fixef"].items():
        assert _close(fe.loc[term, "estimate"], value), term
        assert _close(fe.loc[term, "se"], ref["se"][term]), term
        # Satterthwaite df from exact derivatives; lmerTest's numDeriv ones are ~1e-6 off
        assert _close(fe.loc[term, "df"], ref["df"][term], 1e-5), term
    got = fit.variance
    for vc in ref["varcorr"]:
        grp = vc["grp"]
        t1 = vc["var1"] or ""
        row = got[(got.group == grp) & (got.term1 == t1) & (got.term2 == (vc["var2"] or ""))]
        assert len(row) == 1, vc
        value = float(row["variance"].iloc[0])
        # variances near 0 on a boundary fit: compare absolutely
        assert abs(value - vc["vcov"]) <= REL * max(abs(vc["vcov"]), 0.01), vc


def test_random_slope_fit_is_reported_singular(trial: pd.DataFrame) -> None:
    fit = fit_lmm("y ~ arm * wave + (1 | centre) + (1 + wave | family)", trial)
    assert fit.singular
    assert "singular" in str(fit)


def test_summary_and_json_shape(trial: pd.DataFrame) -> None:
    fit = fit_lmm("y ~ arm * wave + (1 | centre) + (1 | family)", trial,
                  df_method="between-within")
    text = str(fit)
    assert "Random effects" in text and "arm:wave" in text and "between-within" in text
    d = fit.to_dict()
    assert set(d["fixed"]["arm:wave"]) >= {"estimate", "se"}
    assert set(d["variance"]) == {"family", "centre", "residual"}
    # between-within df: arm is constant within family (between), arm:wave varies within
    fe = fit.fixed.set_index("term")
    nfam = fit.ngroups["family"]
    assert fe.loc["arm", "df"] == nfam - 2
    assert fe.loc["arm:wave", "df"] == fit.nobs - nfam - 2


def test_missing_values_are_dropped_and_reported(trial: pd.DataFrame) -> None:
    d = trial.copy()
    d.loc[[3, 10], "y"] = np.nan
    fit = fit_lmm("y ~ arm * wave + (1 | family)", d)
    assert fit.nobs == len(d) - 2 and fit.dropped == 2
    assert "2 rows with missing values" in str(fit)


def test_balanced_one_way_matches_anova_closed_form() -> None:
    """Balanced random-intercept model: REML variances are the ANOVA estimators, and the
    Satterthwaite df of the between-cluster arm effect is clusters − 2."""
    rng = np.random.default_rng(7)
    k, m = 12, 5
    g = np.repeat(np.arange(k), m)
    arm = (g % 2).astype(float)
    y = 0.4 * arm + rng.normal(0, 0.8, k)[g] + rng.normal(0, 1, k * m)
    d = pd.DataFrame({"y": y, "arm": arm, "g": g})
    fit = fit_lmm("y ~ arm + (1 | g)", d)
    means = d.groupby("g")["y"].mean().to_numpy()
    msw = ((d["y"] - d.groupby("g")["y"].transform("mean")) ** 2).sum() / (k * (m - 1))
    fitted = np.where(np.arange(k) % 2, means[1::2].mean(), means[0::2].mean())
    msb = m * ((means - fitted) ** 2).sum() / (k - 2)
    vc = fit.variance_components()
    assert vc["residual"] == pytest.approx(msw, rel=1e-6)
    assert vc["g"] == pytest.approx((msb - msw) / m, rel=1e-5)
    fe = fit.fixed.set_index("term")
    assert fe.loc["arm", "df"] == pytest.approx(k - 2, rel=1e-7)
    assert fe.loc["arm", "se"] == pytest.approx(np.sqrt(msb / m * (2 / (k / 2))), rel=1e-6)


@pytest.mark.parametrize(("text", "why"), [
    ("y ~ arm + (1 | centre", "unbalanced"),
    ("y arm", "exactly one"),
    # '||' and log(y) are supported since issue 16 (tests/trials/test_formula_extras.py)
    ("y ~ arm - wave + (1 | family)", "not supported"),
    ("factor(y) ~ arm + (1 | family)", "column name or a numeric expression"),
    ("y ~ poly(wave) + (1 | family)", "poly\\(column, degree\\)"),
])
def test_bad_formulas(text: str, why: str) -> None:
    with pytest.raises(FormulaError, match=why):
        parse_formula(text)


def test_formula_errors_name_the_column(trial: pd.DataFrame) -> None:
    with pytest.raises(FormulaError, match="'dose'"):
        fit_lmm("y ~ dose + (1 | family)", trial)
    with pytest.raises(FormulaError, match="random-effects term"):
        fit_lmm("y ~ arm", trial)
    with pytest.raises(FormulaError, match="rank-deficient"):
        d = trial.assign(arm2=trial["arm"] * 2)
        fit_lmm("y ~ arm + arm2 + (1 | family)", d)


def test_formula_expansion_follows_r() -> None:
    f = parse_formula("y ~ a * b * c - 1 + (1 + x | g/h)")
    assert not f.intercept
    assert f.fixed == (("a",), ("b",), ("c",), ("a", "b"), ("a", "c"), ("b", "c"),
                       ("a", "b", "c"))
    assert [r.group_name for r in f.random] == ["g", "h:g"]
    assert parse_formula("y ~ (a + b):c").fixed == (("a", "c"), ("b", "c"))


def test_likelihood_ratio_test_matches_lme4_logliks(trial: pd.DataFrame) -> None:
    from attunement.trials.lmm import likelihood_ratio_test

    by = {(m["formula"], m["reml"]): m for m in EXTRA}
    small_f, big_f = "y ~ arm * wave + (1 | family)", "y ~ arm * wave + (1 | centre) + (1 | family)"
    small = fit_lmm(small_f, trial, df_method="residual")
    big = fit_lmm(big_f, trial, df_method="residual")
    lrt = likelihood_ratio_test(small, big)
    expected = 2 * (by[(big_f, True)]["logLik"] - by[(small_f, True)]["logLik"])
    assert lrt["chi2"] == pytest.approx(expected, rel=1e-6) and lrt["df"] == 1
    with pytest.raises(ValueError, match="ML fits"):
        likelihood_ratio_test(small, fit_lmm("y ~ arm + wave + (1 | family)", trial,
                                             df_method="residual"))


@pytest.mark.parametrize("key", ["ranef", "ranef_slopes"])
def test_conditional_modes_match_lme4_ranef(trial: pd.DataFrame, key: str) -> None:
    ref = json.loads((DATA / "lme4_extra.json").read_text())[key]
    re = fit_lmm(ref["formula"], trial, df_method="residual").ranef()
    for group, term, values in [("centre", "(Intercept)", ref["centre"]),
                                ("family", "(Intercept)", ref["family_intercept"]),
                                ("family", "wave", ref.get("family_wave", {}))]:
        got = re[(re.group == group) & (re.term == term)].set_index("level")["value"]
        scale = max(abs(v) for v in values.values()) if values else 1.0
        for level, value in values.items():
            assert abs(got[level] - value) <= 1e-4 * scale, (group, term, level)
