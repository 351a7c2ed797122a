"""rma_mh's Cochran, Cochran–Mantel–Haenszel, Breslow–Day and Tarone statistics against metafor.

Reference values: ``tests/reference/rmamh_reference.json``, made by
``Rscript tests/reference/rmamh_reference.R tests/reference/rmamh_reference.json`` (metafor 3.8-1).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from attunement.evidence import rma_mh

REF = json.loads((Path(__file__).parents[1] / "reference" / "rmamh_reference.json")
                 .read_text(encoding="utf-8"))
KEYS = ("CO", "COp", "MH", "MHp", "BD", "BDp", "TA", "TAp")


@pytest.mark.parametrize("case", ["bcg", "bcg_uncorrected", "collins1985b", "zeros"])
def test_rma_mh_tests_match_metafor(case: str) -> None:
    ref = REF[case]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = rma_mh(ai=ref["ai"], bi=ref["bi"], ci=ref["ci"], di=ref["di"],
                     correct=ref["correct"])
    assert res.beta == pytest.approx(ref["beta"], rel=1e-10)
    assert res.k_pos == ref["k_pos"]
    for key in KEYS:
        assert getattr(res, key) == pytest.approx(ref[key], rel=1e-10, abs=1e-300), key
    # the older names are the same statistics
    assert res.CMH == res.MH and res.Tarone == res.TA and res.Tarone_p == res.TAp


def test_rma_mh_tests_are_missing_without_events() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # no events anywhere: the MH odds ratio itself is undefined and refused
        with pytest.raises(ValueError, match="undefined"):
            rma_mh(ai=[0, 0], bi=[10, 12], ci=[0, 0], di=[11, 9])


def test_rma_mh_report_shows_breslow_day() -> None:
    ref = REF["bcg"]
    res = rma_mh(ai=ref["ai"], bi=ref["bi"], ci=ref["ci"], di=ref["di"])
    text = str(res)
    assert "Breslow-Day test for heterogeneity: X^2(12) = 171.7654" in text
    assert "Tarone's test for heterogeneity: X^2(12) = 171.7567" in text


def test_cli_meta_mh_reports_the_tests(tmp_path: Path) -> None:
    import pandas as pd
    from typer.testing import CliRunner

    from attunement.cli import app

    ref = REF["collins1985b"]
    path = tmp_path / "tables.csv"
    pd.DataFrame({k: ref[k] for k in ("ai", "bi", "ci", "di")}).to_csv(path, index=False)
    result = CliRunner().invoke(app, ["meta", str(path), "--mh", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    for key in KEYS:
        assert out[key] == pytest.approx(ref[key], rel=1e-10), key
    text = CliRunner().invoke(app, ["meta", str(path), "--mh"]).stdout
    assert "Breslow-Day test for heterogeneity: X^2(8) = 28.7961" in text
