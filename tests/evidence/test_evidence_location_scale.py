"""Location-scale models, ``rma(yi, vi, mods=, scale=)``, against metafor 3.8-1.

Reference: ``tests/evidence/data/location_scale.json``, made by ``location_scale.R`` beside it.
metafor's default optimiser stops 1e-7 to 5e-5 (relative) short of the optimum, so the R
script polishes each fit to the optimum of metafor's own likelihood; the location part, α, τ²ᵢ
and the fit statistics are held to the project's 1e-6. The standard errors of α (and their z,
p, CI, ``va``, ``QS``) come from metafor's numerical Hessian (numDeriv), good to ~2e-6, so
they are held to 1e-5; our Hessian is exact (checked below against finite differences of the
exact gradient). metafor's default fits are held to 1e-4.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from attunement.evidence import escalc, rma
from attunement.evidence.datasets import dat_bcg
from attunement.evidence.location_scale import RMALSResult, _profile

REF = json.loads((Path(__file__).parent / "data" / "location_scale.json").read_text())
BD = pd.DataFrame(REF["data"]["bangertdrowns2004"])
PAG = pd.DataFrame(REF["data"]["pagliaro1992_PLO"])
BD_LEN = BD[BD["length"].notna()].reset_index(drop=True)

#: reference block -> (data, rma keyword arguments)
CASES = {
    "bd_scale_ni": (BD, {"scale": "~ ni"}),
    "bd_length_ni_REML": (BD_LEN, {"mods": "~ length", "scale": "~ ni"}),
    "bd_length_ni_ML": (BD_LEN, {"mods": "~ length", "scale": "~ ni", "method": "ML"}),
    "bd_length_ni_knha": (BD_LEN, {"mods": "~ length", "scale": "~ ni", "test": "knha"}),
    "bd_grade_t": (BD, {"scale": "~ factor(grade)", "test": "t"}),
    "pag_trt": (PAG, {"mods": "~ trt", "scale": "~ trt"}),
    "bcg_ablat": (None, {"scale": "~ ablat"}),
}


def _fit(case: str) -> RMALSResult:
    data, kw = CASES[case]
    if data is None:
        data = escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=dat_bcg())
    res = rma("yi", "vi", data=data, **kw)
    assert isinstance(res, RMALSResult)
    return res


@pytest.fixture(scope="module", params=list(CASES))
def case(request: pytest.FixtureRequest) -> tuple[dict, RMALSResult]:
    return REF[request.param], _fit(request.param)


def test_location_part_matches_metafor(case, close):
    ref, res = case
    assert res.k == ref["k"]
    for ours, theirs in [("beta", "beta"), ("se", "se"), ("zval", "zval"), ("pval", "pval"),
                         ("ci_lb", "ci_lb"), ("ci_ub", "ci_ub"), ("QM", "QM"), ("QMp", "QMp"),
                         ("s2w", "s2w")]:
        close(getattr(res, ours), ref[theirs], what=ours)
    close(res.vb, ref["vb"], what="vb")
    assert (res.ddf is None) == (ref["test"] == "z")


def test_scale_part_matches_metafor(case, close):
    ref, res = case
    for name in ("alpha", "tau2", "I2", "H2"):
        close(getattr(res, name), ref[name], what=name)
    # from metafor's numerical Hessian: 1e-5 (module docstring)
    for name in ("se_alpha", "zval_alpha", "pval_alpha", "ci_lb_alpha", "ci_ub_alpha", "QS",
                 "QSp", "va"):
        np.testing.assert_allclose(getattr(res, name), np.asarray(ref[name], dtype=float),
                                   rtol=1e-5, atol=1e-8, err_msg=name)
    assert res.QS_df[0] == ref["QSdf"][0]
    assert res.QS_df[1] == (None if ref["test"] == "z" else ref["QSdf"][1])
    assert len(res.alpha_names) == len(ref["alpha_names"])


def test_heterogeneity_and_fit_statistics_match_metafor(case, close):
    ref, res = case
    close([res.QE, res.QEp], [ref["QE"], ref["QEp"]], closed_form=True, what="QE")
    keys = {"ll": "logLik", "dev": "deviance", "AIC": "AIC", "BIC": "BIC", "AICc": "AICc"}
    for kind in ("ML", "REML"):
        for theirs, ours in keys.items():
            close(res.fit_stats[kind][ours], ref["fit_stats"][kind][theirs],
                           what=f"{kind} {ours}")
    assert res.logLik() == res.fit_stats[ref["method"]]["logLik"]


def test_metafor_default_optimiser_is_within_its_tolerance(case):
    """metafor's default (nlminb) fit lies ~1e-7 to 5e-5 (relative) from the optimum; ours
    reaches a log-likelihood at least as high."""
    ref, res = case
    d = ref["default"]
    for name in ("beta", "se", "alpha", "se_alpha"):
        np.testing.assert_allclose(getattr(res, name), d[name], rtol=1e-4, atol=1e-7,
                                   err_msg=name)
    assert res.logLik() >= d["logLik"] - 1e-10


@pytest.mark.parametrize("method", ["REML", "ML"])
def test_gradient_and_hessian_are_the_derivatives_of_the_likelihood(method):
    """The exact derivatives against central differences of the profile log-likelihood and
    of the exact gradient, away from the optimum (so the gradient is not ~0)."""
    res = rma("yi", "vi", data=BD_LEN, mods="~ length", scale="~ factor(grade)",
              method=method)
    reml = method == "REML"
    a = res.alpha + np.array([0.3, -0.2, 0.1, 0.25])
    _, g, H = _profile(a, res.Z, res.yi, res.vi, res.X, reml, 2)
    h = 1e-5
    eye = np.eye(a.size)
    g_num = [(_profile(a + h * e, res.Z, res.yi, res.vi, res.X, reml, 0)[0]
              - _profile(a - h * e, res.Z, res.yi, res.vi, res.X, reml, 0)[0]) / (2 * h)
             for e in eye]
    H_num = np.column_stack([(_profile(a + h * e, res.Z, res.yi, res.vi, res.X, reml, 1)[1]
                              - _profile(a - h * e, res.Z, res.yi, res.vi, res.X, reml, 1)[1])
                             / (2 * h) for e in eye])
    np.testing.assert_allclose(g, g_num, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(H, H_num, rtol=1e-6, atol=1e-8)
    assert abs(_profile(res.alpha, res.Z, res.yi, res.vi, res.X, reml, 1)[1]).max() < 1e-8


def test_scale_given_as_columns_equals_the_formula():
    by_formula = rma("yi", "vi", data=BD, scale="~ ni")
    by_columns = rma("yi", "vi", data=BD, scale=["ni"])
    by_array = rma(BD.yi, BD.vi, scale=BD.ni.to_numpy())
    for other in (by_columns, by_array):
        np.testing.assert_allclose(other.alpha, by_formula.alpha, rtol=1e-12)
        np.testing.assert_allclose(other.se_alpha, by_formula.se_alpha, rtol=1e-10)


def test_att_selects_the_scale_coefficients_tested():
    res = rma("yi", "vi", data=BD, scale="~ factor(grade)", att=[1, 2])
    sub = res.va[np.ix_([1, 2], [1, 2])]
    expected = float(res.alpha[1:3] @ np.linalg.solve(sub, res.alpha[1:3]))
    assert res.QS_df == (2, None)
    assert pytest.approx(expected, rel=1e-12) == res.QS


def test_intercept_only_scale_is_the_reml_random_effects_model():
    ls = rma("yi", "vi", data=BD, scale="~ 1")
    re = rma("yi", "vi", data=BD)
    np.testing.assert_allclose(np.exp(ls.alpha[0]), re.tau2, rtol=1e-8)
    np.testing.assert_allclose(ls.beta, re.beta, rtol=1e-8)
    assert ls.logLik() == pytest.approx(re.logLik(), rel=1e-10)


def test_print_has_both_parts_as_metafor():
    text = str(_fit("bd_length_ni_REML"))
    assert text.startswith("Location-Scale Model (k = 46; tau^2 estimator: REML)")
    assert "Test of Location Coefficients (coefficient 2):" in text
    assert "QM(df = 1) = 3.5433, p-val = 0.0598" in text
    assert "Test of Scale Coefficients (coefficient 2):" in text
    assert "QS(df = 1) = 0.1691, p-val = 0.6809" in text
    assert "Model Results (Scale):" in text
    assert ("ni          -0.0015    0.0035   -0.4112    0.6809   -0.0084    0.0055"
            in text.splitlines())
    knha = str(_fit("bd_length_ni_knha"))
    assert "F(df1 = 1, df2 = 44)" in knha and "tval" in knha


def test_to_dict_is_plain_json():
    out = _fit("pag_trt").to_dict()
    json.dumps(out)
    assert out["model"] == "Location-Scale Model"
    assert list(out["scale"]) == ["intrcpt", "trt[control]", "trt[sclerotherapy]"]
    assert out["QS_df"] == 2 and len(out["tau2"]) == len(PAG)


# -- bad input ---------------------------------------------------------------------------
def test_scale_column_with_missing_value_is_named():
    data = BD.copy()
    data.loc[4, "ni"] = np.nan
    with pytest.raises(ValueError, match=r"scale column\(s\) ni missing for 1 studies \(Study 5\)"):
        rma("yi", "vi", data=data, scale="~ ni")
    with pytest.warns(UserWarning, match="Study 5"):
        res = rma("yi", "vi", data=data, scale="~ ni", na_action="omit")
    assert res.k == len(BD) - 1


def test_singular_scale_design_names_the_column():
    data = BD.assign(ni2=2 * BD.ni, one=1.0)
    with pytest.raises(ValueError, match=r"column 'ni2' is constant or a linear combination "
                                         r"of intrcpt, ni"):
        rma("yi", "vi", data=data, scale="~ ni + ni2")
    with pytest.raises(ValueError, match=r"column 'one' is constant"):
        rma("yi", "vi", data=data, scale=["one"])


def test_non_positive_sampling_variance_is_an_error():
    data = BD.copy()
    data.loc[2, "vi"] = 0.0
    with pytest.raises(ValueError, match=r"sampling variances must be positive.*Study 3"):
        rma("yi", "vi", data=data, scale="~ ni")


@pytest.mark.parametrize(("kw", "message"), [
    ({"method": "DL"}, "fitted by ML or REML, not 'DL'"),
    ({"tau2": 0.1}, "do not apply to a location-scale model"),
    ({"weights": "ni"}, "do not apply to a location-scale model"),
])
def test_options_that_do_not_apply_are_errors(kw, message):
    with pytest.raises(ValueError, match=message):
        rma("yi", "vi", data=BD, scale="~ ni", **kw)


def test_att_out_of_range_is_an_error():
    with pytest.raises(ValueError, match=r"att must list scale coefficients 0 to 1"):
        rma("yi", "vi", data=BD, scale="~ ni", att=[2])


def test_att_without_scale_is_an_error():
    with pytest.raises(ValueError, match=r"att= .* applies with scale="):
        rma("yi", "vi", data=BD, att=[1])


def test_too_few_studies_for_the_coefficients():
    with pytest.raises(ValueError, match="3 studies cannot estimate 2 location and 2 scale"):
        rma("yi", "vi", data=BD.head(3), mods="~ ni", scale="~ ni")


def test_a_tau2_tending_to_zero_is_reported():
    """No between-study variance in one group: log tau^2 runs to -infinity there."""
    rng = np.random.default_rng(1)
    group = np.repeat([0, 1], 10)
    y = np.where(group == 1, rng.normal(0, 0.6, 20), np.linspace(-0.01, 0.01, 20))
    with pytest.warns(UserWarning, match=r"practically 0 for 10 studies \(Study 1, Study 2"):
        rma(y, np.full(20, 0.05), scale=group)


# -- command line ------------------------------------------------------------------------
def _cli(tmp_path, *args: str):
    from typer.testing import CliRunner

    from attunement.cli import app

    path = tmp_path / "bd.csv"
    BD.to_csv(path, index=False)
    return path, CliRunner().invoke(app, ["meta", str(path), *args])


def test_cli_scale_formula_gives_the_library_fit_as_json(tmp_path, close):
    _, result = _cli(tmp_path, "--scale", "~ ni", "--mods", "length", "--na-omit", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    ref = REF["bd_length_ni_REML"]
    close([row["estimate"] for row in out["location"].values()], ref["beta"])
    close([row["estimate"] for row in out["scale"].values()], ref["alpha"])
    close(out["fit_stats"]["REML"]["logLik"], ref["fit_stats"]["REML"]["ll"])
    assert out["QS_df"] == 1 and out["k"] == 46


def test_cli_scale_columns_print_and_ml(tmp_path):
    _, result = _cli(tmp_path, "--scale", "ni", "--method", "ML", "--test", "knha")
    assert result.exit_code == 0, result.output
    assert "Location-Scale Model (k = 48; tau^2 estimator: ML)" in result.stdout
    assert "Model Results (Scale):" in result.stdout and "F(df1 = 1, df2 = 46)" in result.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["--scale", "~ nope"], "scale: moderator column 'nope' not found"),
    (["--scale", "~ length"], "scale column(s) length missing for 2 studies"),
    (["--scale", "~ ni", "--method", "DL"], "fitted by ML or REML, not 'DL'"),
    (["--scale", "~ ni", "--cluster", "grade"], "with --scale (a location-scale model) use"),
    (["--scale", "~ ni", "--leave1out"], "with --scale (a location-scale model) use"),
])
def test_cli_scale_errors_name_the_file_and_the_problem(tmp_path, args, message):
    path, result = _cli(tmp_path, *args)
    assert result.exit_code != 0
    text = result.output
    assert message in text
    if "with --scale" not in message:
        assert str(path) in text
