"""attunement meta --permutest/--seed, --profile, --blup, --vif against metafor 3.8-1 values."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from attunement.cli import app

runner = CliRunner()
REF = json.loads((Path(__file__).parents[1] / "reference" / "metafor_more_reference.json")
                 .read_text())


@pytest.fixture
def raud_csv(tmp_path):
    d = pd.DataFrame({k: REF["raudenbush1985"][k] for k in ("yi", "vi", "weeks")})
    path = tmp_path / "raud.csv"
    d.to_csv(path, index=False)
    return path


def _json(args: list[str]) -> dict:
    result = runner.invoke(app, ["meta", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_meta_permutest_exact_matches_r(raud_csv, tmp_path):
    small = tmp_path / "small.csv"
    pd.read_csv(raud_csv).iloc[:9].to_csv(small, index=False)
    out = _json([str(small), "--permutest", "1000"])
    (key,) = [k for k in out if k.startswith("permutation test")]
    assert "512 permutations, exact" in key
    assert out[key][0]["pval"] == pytest.approx(REF["permutest"]["int9"]["pval"], abs=1e-12)
    text = runner.invoke(app, ["meta", str(small), "--permutest", "1000"]).output
    assert "QM (omnibus)" in text and "0.6523" in text


def test_meta_permutest_approximate_is_seeded(raud_csv):
    a = _json([str(raud_csv), "--mods", "weeks", "--permutest", "200", "--seed", "7"])
    b = _json([str(raud_csv), "--mods", "weeks", "--permutest", "200", "--seed", "7"])
    key = "permutation test (200 permutations, approximate, seed 7)"
    assert a[key] == b[key]


def test_meta_profile_blup_vif(raud_csv):
    out = _json([str(raud_csv), "--profile", "--blup"])
    prof = out["profile log-likelihood of tau^2"]
    assert len(prof) == 20 and {"tau2", "ll"} <= set(prof[0])
    blups = out["BLUPs"]
    assert blups[0]["pred"] == pytest.approx(REF["blup"]["int_pred"][0], rel=1e-6)
    assert blups[0]["pi_ub"] == pytest.approx(REF["blup"]["int_pi_ub"][0], rel=1e-6)
    result = runner.invoke(app, ["meta", str(raud_csv), "--vif"])
    assert result.exit_code == 2
    assert "at least two moderators" in result.output


def test_meta_more_options_refused_with_random(raud_csv):
    result = runner.invoke(app, ["meta", str(raud_csv), "--random", "~ 1 | weeks", "--blup"])
    assert result.exit_code == 2
    assert "--random" in result.output


def test_meta_vif_matches_r(tmp_path):
    d = pd.DataFrame({k: REF["baskerville2012"][k] for k in REF["baskerville2012"]})
    path = tmp_path / "bask.csv"
    d.to_csv(path, index=False)
    out = _json([str(path), "--yi", "smd", "--sei", "se", "--mods",
                 "blind,alloconc,itt,duration", "--vif"])
    got = [row["vif"] for row in out["variance inflation factors"]]
    assert got == pytest.approx(REF["vif"]["vif"], rel=1e-6)


@pytest.mark.parametrize("flag", ["--baujat", "--gosh", "--radial"])
def test_meta_writes_the_more_plots(raud_csv, tmp_path, flag):
    small = tmp_path / "small.csv"
    pd.read_csv(raud_csv).iloc[:8].to_csv(small, index=False)
    out = tmp_path / "fig.png"
    result = runner.invoke(app, ["meta", str(small), flag, str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert f"wrote {out}" in result.output


def test_meta_plot_errors_name_the_problem(raud_csv, tmp_path):
    result = runner.invoke(app, ["meta", str(raud_csv), "--radial", str(tmp_path / "r.txt")])
    assert result.exit_code == 2 and "r.txt" in result.output and ".png" in result.output
    result = runner.invoke(app, ["meta", str(raud_csv), "--mods", "weeks", "--radial",
                                 str(tmp_path / "r.png")])
    assert result.exit_code == 2 and "without moderators" in result.output


def test_meta_selmodel_step_matches_r(tmp_path):
    sel = json.loads((Path(__file__).parents[1] / "reference" / "metafor_more_selmodel.json")
                     .read_text())
    path = tmp_path / "hackshaw.csv"
    pd.DataFrame(sel["hackshaw1998"]).to_csv(path, index=False)
    out = _json([str(path), "--method", "ML", "--selmodel", "step", "--steps", "0.025,1"])
    assert out["selmodel"]["LRT"] == pytest.approx(sel["step1"]["LRT"], rel=1e-6)
    assert out["selmodel"]["delta"][1] == pytest.approx(sel["step1"]["delta"][1], rel=1e-4)
    text = runner.invoke(app, ["meta", str(path), "--selmodel", "step", "--steps", "0.025,1"])
    assert text.exit_code == 0 and "p <= 0.025" in text.output
    bad = runner.invoke(app, ["meta", str(path), "--selmodel", "step"])
    assert bad.exit_code == 2 and "--steps" in bad.output
    bad = runner.invoke(app, ["meta", str(path), "--selmodel", "beta", "--steps", "0.5"])
    assert bad.exit_code == 2 and "--steps applies" in bad.output
    bad = runner.invoke(app, ["meta", str(path), "--selmodel", "probit"])
    assert bad.exit_code == 2 and "step (with --steps) or beta" in bad.output


def test_meta_hc_matches_r(tmp_path):
    ref = json.loads((Path(__file__).parents[1] / "reference" / "metafor_more_hc.json")
                     .read_text())["lee2004"]
    path = tmp_path / "lee.csv"
    pd.DataFrame({"yi": ref["yi"], "vi": ref["vi"]}).to_csv(path, index=False)
    out = _json([str(path), "--hc"])
    assert out["hc"]["ci_lb"] == pytest.approx(ref["tight_ci_lb"], rel=1e-7)
    text = runner.invoke(app, ["meta", str(path), "--hc"]).output
    assert "Henmi-Copas" in text
