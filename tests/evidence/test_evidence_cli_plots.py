"""The effect-sizes and meta commands, and the forest/funnel figures."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from matplotlib.collections import PathCollection
from typer.testing import CliRunner

from attunement.cli import app
from attunement.evidence import escalc, rma, trimfill
from attunement.evidence.plots import forest_plot, funnel_plot

runner = CliRunner()
JSON_KEYS = {"estimate", "se", "pval", "ci_lb", "ci_ub", "tau2", "tau2_ci_lb", "tau2_ci_ub", "I2",
             "H2", "Q", "Q_p", "pi_lb", "pi_ub", "egger_z", "egger_p"}
MAGIC = {".png": b"\x89PNG", ".pdf": b"%PDF", ".svg": b"<?xml"}


@pytest.fixture
def bcg_csv(datasets, tmp_path):
    d = datasets["bcg"].rename(columns={"tpos": "ai", "tneg": "bi", "cpos": "ci", "cneg": "di"})
    path = tmp_path / "bcg.csv"
    d.to_csv(path, index=False)
    return path


def test_effect_sizes_command_adds_yi_and_vi(metafor, bcg_csv, close, tmp_path):
    out = tmp_path / "es.csv"
    result = runner.invoke(app, ["effect-sizes", str(bcg_csv), "--measure", "RR", "-o", str(out)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    ref = metafor["datasets"]["bcg"]["escalc"]["RR"]
    close(table.yi.to_numpy(), ref["yi"], closed_form=True)
    close(table.vi.to_numpy(), ref["vi"], closed_form=True)
    assert {"author", "ablat", "ai"} <= set(table.columns)


def test_effect_sizes_to_stdout(bcg_csv):
    result = runner.invoke(app, ["effect-sizes", str(bcg_csv), "--measure", "OR"])
    assert result.exit_code == 0
    assert len(pd.read_csv(io.StringIO(result.stdout))) == 13


def test_meta_json_has_the_issue_keys_and_metafor_numbers(metafor, bcg_csv, close, tmp_path):
    es = tmp_path / "es.csv"
    runner.invoke(app, ["effect-sizes", str(bcg_csv), "--measure", "RR", "-o", str(es)])
    result = runner.invoke(app, ["meta", str(es), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert set(out) >= JSON_KEYS
    ref = metafor["analyses"]["bcg_RR"]["rma_uni"]["REML"]
    close([out["estimate"], out["se"], out["tau2"], out["I2"], out["Q"]],
          [ref["beta"][0], ref["se"][0], ref["tau2"], ref["I2"], ref["QE"]])
    close([out["tau2_ci_lb"], out["tau2_ci_ub"]], ref["confint_random"]["tau2"][1:])
    close([out["pi_lb"], out["pi_ub"]], [ref["predict"]["pi_lb"], ref["predict"]["pi_ub"]])
    egger = metafor["analyses"]["bcg_RR"]["publication_bias_REML"]["regtest_rma"]
    close([out["egger_z"], out["egger_p"]], [egger["stat"], egger["pval"]])


def test_meta_with_moderators_and_knapp_hartung(metafor, bcg_csv, close):
    result = runner.invoke(app, ["meta", str(bcg_csv), "--measure", "RR", "--mods", "ablat",
                                 "--test", "knha", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    ref = metafor["analyses"]["bcg_RR"]["meta_regression"]["REML_ablat_knha"]
    assert set(out["coefficients"]) == {"intrcpt", "ablat"}
    close([out["coefficients"]["ablat"]["estimate"], out["coefficients"]["ablat"]["se"]],
          [ref["beta"][1], ref["se"][1]])
    close([out["QM"], out["QM_p"], out["R2"]], [ref["QM"], ref["QMp"], ref["R2"]])


def test_meta_readable_output_and_figures(bcg_csv, tmp_path):
    forest, funnel = tmp_path / "f.png", tmp_path / "fun.svg"
    result = runner.invoke(app, ["meta", str(bcg_csv), "--measure", "RR", "--method", "DL",
                                 "--forest", str(forest), "--funnel", str(funnel)])
    assert result.exit_code == 0, result.output
    assert "Random-Effects Model (k = 13; tau^2 estimator: DL)" in result.stdout
    assert "Q(df = 12) = 152.2330" in result.stdout
    assert forest.read_bytes().startswith(MAGIC[".png"])
    assert funnel.read_bytes().startswith(MAGIC[".svg"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["meta", "nope.csv"], "no such file"),
        (["meta", "{bcg}"], "column(s) yi, vi not found"),
        (["effect-sizes", "{bcg}", "--measure", "SMD"], "needs m1i"),
        (["meta", "{bcg}", "--measure", "RR", "--method", "XX"], "unknown method"),
    ],
)
def test_cli_errors_name_the_file_and_the_problem(bcg_csv, args, message):
    args = [a.replace("{bcg}", str(bcg_csv)) for a in args]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert message in result.output


@pytest.mark.parametrize("suffix", [".png", ".svg", ".pdf"])
def test_forest_plot_formats_with_subgroups(datasets, tmp_path, suffix):
    d = datasets["bcg"]
    res = rma(escalc("RR", d, ai="tpos", bi="tneg", ci="cpos", di="cneg"), slab=d.author)
    path = tmp_path / f"forest{suffix}"
    fig = forest_plot(res, path=path, transf="exp", subgroup=d.alloc)
    assert path.stat().st_size > 1000
    assert path.read_bytes()[:5].startswith(MAGIC[suffix])
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "alternate" in texts and any("Random-effects model (REML)" in t for t in texts)


@pytest.mark.parametrize("contour", [False, True])
def test_funnel_plot_with_contours_and_filled_studies(datasets, tmp_path, contour):
    d = datasets["bcg"]
    res = rma(escalc("RR", d, ai="tpos", bi="tneg", ci="cpos", di="cneg"), method="FE")
    path = tmp_path / "funnel.png"
    fig = funnel_plot(res, path=path, contour=contour, filled=trimfill(res))
    assert path.read_bytes().startswith(MAGIC[".png"])
    ax = fig.axes[0]
    assert ax.get_ylim()[0] > ax.get_ylim()[1]  # standard error axis is inverted
    points = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert sum(len(c.get_offsets()) for c in points) == 17  # 13 studies + 4 imputed


def test_plot_rejects_unknown_format(tmp_path):
    res = rma([0.1, 0.3, 0.2], [0.01, 0.02, 0.03])
    with pytest.raises(ValueError, match=r"png, \.svg or \.pdf"):
        forest_plot(res, path=tmp_path / "x.jpg")


def test_meta_subgroups(metafor, bcg_csv, close, tmp_path):
    forest = tmp_path / "sub.pdf"
    result = runner.invoke(app, ["meta", str(bcg_csv), "--measure", "RR", "--subgroup", "alloc",
                                 "--json", "--forest", str(forest)])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    ref = metafor["analyses"]["bcg_RR"]["subgroups_alloc"]
    for group in ("random", "alternate", "systematic"):
        sub = ref["separate_REML_fits"][group]
        got = out["subgroups"][group]
        assert got["k"] == sub["k"]
        close([got["estimate"], got["se"], got["tau2"], got["I2"]],
              [sub["beta"][0], sub["se"][0], sub["tau2"], sub["I2"]])
    test = ref["mixed_effects_REML_common_tau2"]
    close([out["subgroup_test"]["QM"], out["subgroup_test"]["pval"]], [test["QM"], test["QMp"]])
    assert forest.read_bytes().startswith(MAGIC[".pdf"])


def test_meta_readable_output_shows_the_ratio_scale(bcg_csv):
    result = runner.invoke(app, ["meta", str(bcg_csv), "--measure", "RR"])
    assert "Pooled risk ratio (exp of the log estimate): 0.4894 [0.3441, 0.6962]" in result.stdout


def test_funnel_after_meta_regression_shows_residuals(datasets):
    d = datasets["bcg"]
    res = rma(escalc("RR", d, ai="tpos", bi="tneg", ci="cpos", di="cneg"), mods=["ablat"])
    fig = funnel_plot(res)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "Residual value"
    points = next(c for c in ax.collections if isinstance(c, PathCollection))
    assert abs(points.get_offsets()[:, 0].mean()) < 0.3  # residuals centre near zero


def test_meta_missing_values_stop_or_are_left_out_with_a_warning(datasets, tmp_path):
    d = datasets["bcg"].rename(columns={"tpos": "ai", "tneg": "bi", "cpos": "ci", "cneg": "di"})
    d.loc[2, "ai"] = None
    path = tmp_path / "missing.csv"
    d.to_csv(path, index=False)
    result = runner.invoke(app, ["meta", str(path), "--measure", "RR", "--json"])
    assert result.exit_code == 2
    assert "Rosenthal et al" in result.output and "--na-omit" in result.output
    result = runner.invoke(app, ["meta", str(path), "--measure", "RR", "--json", "--na-omit"])
    assert result.exit_code == 0
    assert "left out of the model: Rosenthal et al" in result.stderr
    assert json.loads(result.stdout)["k"] == 12


def test_forest_extra_columns(datasets, tmp_path):
    d = datasets["bcg"]
    res = rma(escalc("RR", d, ai="tpos", bi="tneg", ci="cpos", di="cneg"), slab=d.author)
    cols = {"Vaccinated": [f"{a}/{a + b}" for a, b in zip(d.tpos, d.tneg, strict=True)]}
    fig = forest_plot(res, columns=cols, transf="exp")
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "Vaccinated" in texts and "4/123" in texts
    with pytest.raises(ValueError, match="13 studies"):
        forest_plot(res, columns={"x": ["1"]})
