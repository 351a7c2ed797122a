"""Kenward–Roger df and adjusted SEs against lmerTest 3.1-3 / pbkrtest 0.5.2 (to 1e-6 relative;
the brief asks 1e-4).

Reference values and data: ``tests/trials/data/kenward_roger.json``, made by
``tests/trials/data/kenward_roger.R`` on nlme's Oats (balanced split plot) and Orthodont
(balanced longitudinal, random slopes) and R's ChickWeight (unbalanced longitudinal with
dropout, random slopes).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from attunement.trials.lmm import fit_lmm

REF = json.loads((Path(__file__).parent / "data" / "kenward_roger.json").read_text())
MODELS = REF["models"]


@pytest.mark.parametrize("ref", MODELS, ids=[f"{m['name']}|{m['formula']}" for m in MODELS])
def test_kenward_roger_matches_pbkrtest(ref: dict) -> None:
    data = pd.DataFrame(REF["data"][ref["name"]])
    fit = fit_lmm(ref["formula"], data, df_method="kenward-roger")
    fe = fit.fixed.set_index("term")
    assert fit.loglik == pytest.approx(ref["logLik"], rel=1e-9)
    for term, value in ref["fixef"].items():
        assert fe.loc[term, "estimate"] == pytest.approx(value, rel=1e-6, abs=1e-9), term
    for key, col in (("se", "se"), ("df", "df"), ("t", "t")):
        for term, value in ref[key].items():
            assert fe.loc[term, col] == pytest.approx(value, rel=1e-6), (key, term)
    for term, value in ref["p"].items():
        assert fe.loc[term, "p"] == pytest.approx(value, rel=1e-5), term
    want = np.array(ref["vcov_adjusted"])
    np.testing.assert_allclose(fit.vcov.to_numpy(), want, rtol=1e-6,
                               atol=1e-12 * np.abs(want).max())  # structural zeros
    for con in ref["contrasts"]:
        got = fit.contrast(np.array(con["L"], dtype=float))
        for key in ("estimate", "se", "df", "t"):
            assert got[key] == pytest.approx(con[key], rel=1e-6), key
        assert got["p"] == pytest.approx(con["p"], rel=1e-5)


def test_unadjusted_se_and_lmertest_spelling() -> None:
    """The default stays Satterthwaite with the unadjusted SEs; ``ddf="Kenward-Roger"`` (the
    lmerTest spelling) is the same as ``df_method="kenward-roger"``."""
    ref = MODELS[4]
    data = pd.DataFrame(REF["data"][ref["name"]])
    plain = fit_lmm(ref["formula"], data)
    assert plain.df_method == "satterthwaite"
    for term, value in ref["se_unadjusted"].items():
        assert plain.fixed.set_index("term").loc[term, "se"] == pytest.approx(value, rel=1e-6)
    kr = fit_lmm(ref["formula"], data, ddf="Kenward-Roger")
    assert kr.df_method == "kenward-roger"
    np.testing.assert_allclose(kr.fixed["df"], list(ref["df"].values()), rtol=1e-6)


def test_kenward_roger_needs_reml() -> None:
    data = pd.DataFrame(REF["data"]["Orthodont"])
    with pytest.raises(ValueError, match="REML"):
        fit_lmm("distance ~ age + (1 | Subject)", data, reml=False, df_method="kenward-roger")
    with pytest.raises(ValueError, match="disagree"):
        fit_lmm("distance ~ age + (1 | Subject)", data, df_method="residual", ddf="Kenward-Roger")


def test_cli_fit_with_kenward_roger(tmp_path: Path) -> None:
    """``attunement trials fit ... --df kenward-roger --json`` gives pbkrtest's df and SEs."""
    from typer.testing import CliRunner

    from attunement.cli import app

    ref = MODELS[0]  # Oats: its factors stay text through a CSV
    csv = tmp_path / "oats.csv"
    pd.DataFrame(REF["data"][ref["name"]]).to_csv(csv, index=False)
    res = CliRunner().invoke(app, ["trials", "fit", str(csv), "--formula", ref["formula"],
                                   "--df", "kenward-roger", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["df_method"] == "kenward-roger"
    for term, value in ref["df"].items():
        assert out["fixed"][term]["df"] == pytest.approx(value, rel=1e-6), term
        assert out["fixed"][term]["se"] == pytest.approx(ref["se"][term], rel=1e-6), term


def test_kenward_roger_refuses_more_rows_than_it_can_hold() -> None:
    from attunement.trials import kenward_roger

    rng = np.random.default_rng(3)
    n = kenward_roger.MAX_ROWS + 1
    data = pd.DataFrame({"g": rng.integers(0, 50, n).astype(str), "x": rng.normal(size=n)})
    data["y"] = data["x"] + rng.normal(size=n)
    with pytest.raises(ValueError, match="satterthwaite"):
        fit_lmm("y ~ x + (1 | g)", data, df_method="kenward-roger")
