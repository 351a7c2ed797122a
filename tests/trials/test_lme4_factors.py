"""Factor coding, contrasts, raw polynomials, prior weights, the GLMM's simulate and profile
confidence intervals, against lme4 1.1-31.

``(0 + f | g)`` codes one indicator per level of a factor (``1 + f``: intercept and treatment
contrasts), ``0 + f`` in the fixed part likewise; sum and Helmert contrasts in the fixed and
the random terms; ``poly(x, d, raw = TRUE)``; lmer's and glmer's ``weights``. Reference values:
``tests/trials/data/lme4_factors.json``, made by ``tests/trials/data/lme4_factors.R`` on the
CSV files beside it (nlme's Machines and Oxboys, lme4's Arabidopsis, R's UCBAdmissions).
Tolerances: LMM fixed effects, logLik and the REML criterion to 1e-6 relative; variances,
correlations, SEs and Satterthwaite df to 1e-5 (the REML surface is flat there: lme4's own
deviance function gives the same value to 1e-14 at lme4's θ and at the θ found here, which
differ by ~1e-6); GLMM fixed effects 1e-4, SEs and variances 1e-3, logLik 1e-6, as
``tests/trials/test_glmm.py``. Profile intervals: ``tests/trials/data/lme4_confint.json``
(``tests/trials/data/lme4_confint.R``), 1e-4 relative.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from attunement.trials.formula import FormulaError, check_contrasts, model_matrix, parse_formula
from attunement.trials.glmm import fit_glmm
from attunement.trials.lmm import fit_lmm
from attunement.trials.profile import bootstrap_estimates, confint

from ._lme4 import check_fixed_effects

DATA = Path(__file__).parent / "data"
REF = json.loads((DATA / "lme4_factors.json").read_text())
MODELS = REF["models"]


def _data(name: str) -> pd.DataFrame:
    return pd.read_csv(DATA / f"{name}.csv")


def _fit(ref: dict):
    data = _data(ref["data"])
    contrasts = ref["contrasts"] or None
    weights = ref["weights"] or None
    if ref["kind"] == "lmm":
        return fit_lmm(ref["formula"], data, contrasts=contrasts, weights=weights)
    return fit_glmm(ref["formula"], data, ref["family"], contrasts=contrasts, weights=weights)


def _ids(m: dict) -> str:
    extra = [f"{k}={v}" for k, v in (m["contrasts"] or {}).items()]
    extra += [f"weights={m['weights']}"] if m["weights"] else []
    return f"{m['kind']}|{m['formula']}|{','.join(extra)}"


@pytest.mark.parametrize("ref", MODELS, ids=[_ids(m) for m in MODELS])
def test_matches_lme4(ref: dict) -> None:
    fit = _fit(ref)
    lmm = ref["kind"] == "lmm"
    tol = ({"fixef": 1e-6, "se": 1e-5, "var": 1e-5} if lmm
           else {"fixef": 1e-4, "se": 1e-3, "var": 1e-3})
    check_fixed_effects(fit, ref, tol)
    # lme4 names a second term of the same factor "Worker.1"; here both keep the factor's name
    want = [(re.sub(r"\.\d+$", "", v["grp"]) if v["grp"] not in fit.ngroups else v["grp"],
             v["var1"], v["var2"], v["vcov"], v["sdcor"]) for v in ref["varcorr"]]
    got = [(r.group, r.term1, r.term2, r.variance, r.sd_or_corr)
           for r in fit.variance.itertuples()]
    assert [g[:3] for g in got] == [(w[0], w[1] or "", w[2] or "") for w in want]
    for g, w in zip(got, want, strict=True):
        if w[2]:  # a correlation: compare on its own scale
            assert g[4] == pytest.approx(w[4], abs=tol["var"] * 10), g[:3]
        else:
            assert g[3] == pytest.approx(w[3], rel=tol["var"], abs=1e-10), g[:3]
    assert fit.loglik == pytest.approx(ref["logLik"], rel=1e-6)
    if lmm:
        assert fit.deviance == pytest.approx(ref["REML"], rel=1e-6)
        # df move with θ: on the weighted cubic the deviance is flat to 1e-12 over θ ± 4e-6
        np.testing.assert_allclose(fit.fixed["df"], list(ref["df"].values()), rtol=2e-5)
    columns = fit.ranef().groupby("group", sort=False)["term"].unique()
    for group, names in ref["ranef_columns"].items():
        names = [names] if isinstance(names, str) else names  # jsonlite unboxes one name
        assert list(columns[group]) == names, group


@pytest.mark.parametrize("ref", REF["model_matrices"],
                         ids=[f"{m['formula']}|{m['contrasts']}" for m in REF["model_matrices"]])
def test_model_matrix_coding_matches_r(ref: dict) -> None:
    """R's rule for coding a factor by contrasts or by one indicator per level (and the
    variables of a term in their order of appearance), on ``model.matrix``'s column names and
    column sums."""
    data = _data("arabidopsis")
    f = parse_formula(f"total.fruits {ref['formula']}")
    X, names = model_matrix(data, f.fixed, f.intercept,
                            contrasts=check_contrasts(ref["contrasts"] or None, f, data))
    assert names == ref["columns"]
    np.testing.assert_allclose(X.sum(axis=0), ref["sums"], rtol=1e-12, atol=1e-9)


def _ref(formula: str, weights: str = "", **contrasts: str) -> dict:
    return next(m for m in MODELS if m["formula"] == formula and m["weights"] == weights
                and (m["contrasts"] or {}) == contrasts)


def test_cli_weights_and_contrasts() -> None:
    """``attunement trials fit --weights COLUMN --contrasts f=sum`` gives lmer's fit."""
    from typer.testing import CliRunner

    from attunement.cli import app

    runner = CliRunner()
    cases = [(_ref("height ~ age + (age | Subject)", "w"), ["--weights", "w"]),
             (_ref("score ~ Machine + (Machine | Worker)", Machine="sum"),
              ["--contrasts", "Machine=sum"]),
             (_ref("p_admitted ~ Gender + (1 | Dept)", "applicants"),
              ["--family", "binomial", "--weights", "applicants"])]
    for ref, extra in cases:
        res = runner.invoke(app, ["trials", "fit", str(DATA / f"{ref['data']}.csv"),
                                  "--formula", ref["formula"], "--json", *extra])
        assert res.exit_code == 0, res.output
        out = json.loads(res.stdout)
        assert list(out["fixed"]) == list(ref["fixef"])
        for term, value in ref["fixef"].items():
            assert out["fixed"][term]["estimate"] == pytest.approx(value, rel=1e-4)
        assert out["loglik"] == pytest.approx(ref["logLik"], rel=1e-6)
    res = runner.invoke(app, ["trials", "fit", str(DATA / "machines.csv"), "--formula",
                              "score ~ Machine + (1 | Worker)", "--contrasts", "Machine"])
    assert res.exit_code == 2 and "COLUMN=sum|helmert|treatment" in res.stderr


@pytest.mark.parametrize("fit", [
    lambda d, w: fit_lmm("height ~ age + (age | Subject)", d, weights=w),
    lambda d, w: fit_glmm("cnt ~ age + (1 | Subject)", d, "poisson", weights=w),
], ids=["lmm", "glmm"])
def test_bad_weights_name_the_row(fit) -> None:
    d = _data("oxboys")
    d["cnt"] = np.arange(len(d)) % 4
    for value, row in ((0.0, 3), (-1.0, 7), (np.nan, 11)):
        bad = d.copy()
        bad.loc[row, "w"] = value
        with pytest.raises(FormulaError, match=rf"weights column 'w'.*positive.*row\(s\) \[{row}\]"):
            fit(bad, "w")
    with pytest.raises(FormulaError, match="weights column 'nope' is not in the data"):
        fit(d, "nope")
    with pytest.raises(ValueError, match="weights has 3 values"):
        fit(d, np.ones(3))


def test_weights_array_equals_column_and_unit_weights_change_nothing() -> None:
    d = _data("oxboys")
    a = fit_lmm("height ~ age + (age | Subject)", d, weights="w")
    b = fit_lmm("height ~ age + (age | Subject)", d, weights=d["w"].to_numpy())
    assert a.loglik == pytest.approx(b.loglik, rel=1e-12)
    c = fit_lmm("height ~ age + (age | Subject)", d, weights=np.ones(len(d)))
    e = fit_lmm("height ~ age + (age | Subject)", d)
    assert c.loglik == pytest.approx(e.loglik, rel=1e-12)
    with pytest.raises(ValueError, match="Kenward-Roger df with prior weights"):
        fit_lmm("height ~ age + (age | Subject)", d, weights="w", df_method="kenward-roger")


def test_weighted_simulate_has_residual_variance_sigma2_over_w() -> None:
    """simulate() draws residuals with variance σ²/wᵢ (lme4's simulate with weights)."""
    d = _data("oxboys")
    fit = fit_lmm("height ~ age + (1 | Subject)", d, weights="w")
    sims = fit.simulate(nsim=4000, seed=3)
    # within a subject the random intercept cancels in differences of two rows
    i, j = 0, 1  # rows 0 and 1: the same subject, weights differ
    assert d.loc[i, "Subject"] == d.loc[j, "Subject"] and d.loc[i, "w"] != d.loc[j, "w"]
    want = fit.sigma ** 2 * (1 / d.loc[i, "w"] + 1 / d.loc[j, "w"])
    got = float(np.var(sims[i] - sims[j]))
    assert got == pytest.approx(want, rel=0.08)  # 4000 draws: SE of a variance ~2.2%


def test_contrast_errors() -> None:
    d = _data("machines")
    with pytest.raises(FormulaError, match="contrasts: 'Machine' has 'poly'"):
        fit_lmm("score ~ Machine + (1 | Worker)", d, contrasts={"Machine": "poly"})
    with pytest.raises(FormulaError, match="contrasts: 'score' is not a factor"):
        fit_lmm("score ~ Machine + (1 | Worker)", d, contrasts={"score": "sum"})
    # R's names are accepted
    a = fit_lmm("score ~ Machine + (1 | Worker)", d, contrasts={"Machine": "contr.helmert"})
    assert list(a.fixed["term"]) == ["(Intercept)", "Machine1", "Machine2"]
    # new data are coded with the fit's contrasts, fixed and random
    b = fit_lmm("score ~ Machine + (Machine | Worker)", d, contrasts={"Machine": "sum"})
    np.testing.assert_allclose(b.predict(d.iloc[::5]), b.predict()[::5], rtol=1e-12)


def test_raw_poly_predicts_new_data() -> None:
    """poly(x, d, raw = TRUE) does not depend on the fitted data, so newdata can be coded."""
    d = _data("oxboys")
    fit = fit_lmm("height ~ poly(age, 2, raw = TRUE) + (age | Subject)", d)
    np.testing.assert_allclose(fit.predict(d.iloc[:20]), fit.predict()[:20], rtol=1e-12)
    with pytest.raises(FormulaError, match="poly"):
        fit_lmm("height ~ poly(age, 2, raw = yes) + (1 | Subject)", d)


def test_glmm_simulate_poisson_has_the_model_implied_moments() -> None:
    """Poisson with a random intercept of variance s²: E y = exp(η + s²/2) and
    Var y = E y + (E y)²(exp(s²) − 1) (lognormal mixing), row by row."""
    counts = pd.read_csv(Path(__file__).parents[1] / "reference" / "glmm_counts.csv")
    fit = fit_glmm("visits ~ wave + treated + offset(log(months)) + (1 | family)", counts,
                   "poisson")
    nsim = 4000
    sims = fit.simulate(nsim, seed=16)
    assert sims.shape == (fit.nobs, nsim) and np.all(sims == np.round(sims))
    s2 = fit.variance_components()["family"]
    mean = np.exp(fit.predict(re_form="none") + s2 / 2)
    var = mean + mean ** 2 * np.expm1(s2)
    z = (sims.mean(axis=1) - mean) / np.sqrt(var / nsim)
    assert np.all(np.abs(z) < 4.5)
    # the sample variances average to the implied ones (each within its Monte-Carlo error)
    assert np.mean(sims.var(axis=1, ddof=1) / var) == pytest.approx(1.0, abs=0.03)


def test_glmm_simulate_binomial_proportions_have_the_model_implied_moments() -> None:
    """Binomial proportions out of n trials with a random intercept: E y = E expit(η + b) and
    Var y = E[μ(1 − μ)]/n + Var μ, integrated by Gauss–Hermite quadrature."""
    ucb = _data("ucb")
    fit = fit_glmm("p_admitted ~ Gender + (1 | Dept)", ucb, weights="applicants")
    nsim = 20000
    sims = fit.simulate(nsim, seed=16)
    n = ucb["applicants"].to_numpy()
    assert np.allclose(sims * n[:, None], np.round(sims * n[:, None]))
    z, w = np.polynomial.hermite_e.hermegauss(60)
    w = w / w.sum()
    s = np.sqrt(fit.variance_components()["Dept"])
    mu = 1 / (1 + np.exp(-(fit.predict(re_form="none")[:, None] + s * z[None, :])))
    mean = mu @ w
    var = (mu * (1 - mu)) @ w / n + (mu ** 2) @ w - mean ** 2
    zs = (sims.mean(axis=1) - mean) / np.sqrt(var / nsim)
    assert np.all(np.abs(zs) < 4.5)
    np.testing.assert_allclose(sims.var(axis=1, ddof=1), var, rtol=0.06)
    with pytest.raises(ValueError, match="nsim must be a positive whole number"):
        fit.simulate(0)


CONFINT = json.loads((DATA / "lme4_confint.json").read_text())["intervals"]


@pytest.mark.parametrize("ref", CONFINT, ids=[m["formula"] for m in CONFINT])
def test_profile_confint_matches_lme4(ref: dict) -> None:
    """``confint(fit, method = "profile")``: every limit to 1e-4 relative (lme4 interpolates
    its profile with splines; the limits here are roots of ζ, ~2e-5 from lme4's)."""
    fit = fit_lmm(ref["formula"], _data(ref["data"]), reml=ref["reml"])
    ci = confint(fit, level=ref["level"])
    assert list(ci["parameter"]) == ref["parameters"]
    np.testing.assert_allclose(ci["lower"], ref["lower"], rtol=1e-4)
    np.testing.assert_allclose(ci["upper"], ref["upper"], rtol=1e-4)


def test_confint_checks_level() -> None:
    fit = fit_lmm("score ~ Machine + (1 | Worker)", _data("machines"))
    with pytest.raises(ValueError, match="level must be between 0 and 1"):
        confint(fit, level=95)


BOOT = json.loads((DATA / "lme4_confint.json").read_text())["bootstrap"]


@pytest.mark.parametrize("ref", BOOT, ids=[m["formula"] for m in BOOT])
def test_bootstrap_confint_within_monte_carlo_error_of_lme4(ref: dict) -> None:
    """``confint(fit, method = "boot")``: percentile limits from 300 parametric bootstrap
    refits against lme4's from 2,000 (different random streams), each within 4 standard
    errors of the difference of two sample quantiles (SE of a p-quantile from n draws:
    √(p(1 − p)/n)/f(q), the density f estimated from the bootstrap sample)."""
    fit = fit_lmm(ref["formula"], _data(ref["data"]))
    nsim = 300
    est = bootstrap_estimates(fit, nsim, seed=2026)
    _within_monte_carlo_error(est, ref, nsim)
    ci = confint(fit, method="boot", nsim=20, seed=7)  # the percentiles of the estimates
    few = bootstrap_estimates(fit, 20, seed=7)
    assert list(ci["parameter"]) == ref["parameters"]
    np.testing.assert_allclose(ci["lower"], few.quantile(0.025), rtol=1e-12)
    np.testing.assert_allclose(ci["upper"], few.quantile(0.975), rtol=1e-12)
    with pytest.raises(ValueError, match="method must be 'profile' or 'boot'"):
        confint(fit, method="wald")


GLMM_CONFINT = json.loads((DATA / "lme4_confint.json").read_text())["glmm"]


@pytest.mark.parametrize("ref", GLMM_CONFINT, ids=[m["formula"] for m in GLMM_CONFINT])
def test_glmm_profile_confint_matches_lme4(ref: dict) -> None:
    """``confint(glmer(...), method = "profile")``: the Laplace deviance profiled over the
    SDs and the fixed effects; every limit to 1e-4 relative."""
    fit = fit_glmm(ref["formula"], _data(ref["data"]), ref["family"], weights=ref["weights"])
    ci = confint(fit, level=ref["level"])
    assert list(ci["parameter"]) == ref["parameters"]
    np.testing.assert_allclose(ci["lower"], ref["lower"], rtol=1e-4)
    np.testing.assert_allclose(ci["upper"], ref["upper"], rtol=1e-4)


def _within_monte_carlo_error(est, ref: dict, nsim: int) -> None:
    # each limit within 4 SEs of the difference of two sample quantiles (SE of a p-quantile
    # from n draws: sqrt(p(1 - p)/n)/f(q), f estimated from the bootstrap sample)
    assert list(est.columns) == ref["parameters"]
    for p, limits in ((0.025, ref["lower"]), (0.975, ref["upper"])):
        q = est.quantile([p - 0.02, p, p + 0.02])
        density = 0.04 / (q.iloc[2] - q.iloc[0]).to_numpy()
        se = np.sqrt(p * (1 - p) * (1 / nsim + 1 / ref["nsim"])) / density
        got = q.iloc[1].to_numpy()
        assert np.all(np.abs(got - np.array(limits)) < 4 * se), (p, got, limits, se)


GLMM_BOOT = json.loads((DATA / "glmm_boot.json").read_text())["bootstrap"]


@pytest.mark.parametrize("ref", GLMM_BOOT, ids=[m["formula"] for m in GLMM_BOOT])
def test_glmm_bootstrap_confint_within_monte_carlo_error_of_lme4(ref: dict) -> None:
    """``confint(glmer(...), method = "boot")``: 400 parametric bootstrap refits (Laplace)
    against lme4's 2,000, each limit within Monte Carlo error; ``confint`` is their
    percentiles. Before, a GLMM's bootstrap was refused."""
    fit = fit_glmm(ref["formula"], _data(ref["data"]), ref["family"], weights=ref["weights"])
    nsim = 400
    est = bootstrap_estimates(fit, nsim, seed=2026)
    _within_monte_carlo_error(est, ref, nsim)
    ci = confint(fit, method="boot", nsim=20, seed=7)
    few = bootstrap_estimates(fit, 20, seed=7)
    assert list(ci["parameter"]) == ref["parameters"]
    np.testing.assert_allclose(ci["lower"], few.quantile(0.025), rtol=1e-12)
    np.testing.assert_allclose(ci["upper"], few.quantile(0.975), rtol=1e-12)
    # the fit is left as it was (its conditional modes at the optimum)
    np.testing.assert_allclose(fit.fixed["estimate"], fit_glmm(
        ref["formula"], _data(ref["data"]), ref["family"], weights=ref["weights"]
    ).fixed["estimate"], rtol=1e-10)
