"""Defects found against R (metafor 3.8-1), each checked on data not used elsewhere.

Reference values: ``tests/reference/metafor_fixes.json``, made by
``tests/reference/metafor_fixes.R``.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from attunement.cli import app
from attunement.evidence import escalc, rma
from attunement.evidence.bias import ranktest
from attunement.evidence.mantel_haenszel import rma_peto

REF = json.loads((Path(__file__).parents[1] / "reference" / "metafor_fixes.json").read_text())
runner = CliRunner()


def _nan(values: list) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


@pytest.mark.parametrize("name", ["ranktest_landenberger2005", "ranktest_curtis1998"])
def test_ranktest_is_exact_without_ties_at_k_50_and_more(name: str) -> None:
    ref = REF[name]
    assert ref["k"] >= 50
    res = ranktest(ref["yi"], ref["vi"])
    assert res.tau == pytest.approx(ref["tau"], rel=1e-12)
    # the normal approximation is 7.8 % off on landenberger2005, 0.12 % on curtis1998
    assert res.pval == pytest.approx(ref["pval"], rel=1e-9)


def test_peto_heterogeneity_leaves_out_tables_without_events() -> None:
    ref = REF["peto_yusuf1985_table9"]
    res = rma_peto(ai=ref["ai"], n1i=ref["n1i"], ci=ref["ci"], n2i=ref["n2i"])
    assert res.k == ref["k_yi"] == 20
    for key in ("beta", "se", "zval", "pval", "ci_lb", "ci_ub", "QE", "QEp", "H2"):
        assert getattr(res, key) == pytest.approx(ref[key], rel=1e-10, abs=1e-14), key
    assert abs(res.I2 - ref["I2"]) <= 1e-12


def _egger2001() -> pd.DataFrame:
    ref = REF["escalc_egger2001"]
    return pd.DataFrame({k: ref[k] for k in ("ai", "n1i", "ci", "n2i")})


def test_escalc_as_adds_nothing_by_default_even_to_all() -> None:
    ref = REF["escalc_egger2001"]
    out = escalc("AS", _egger2001(), to="all")
    np.testing.assert_allclose(out.yi, ref["AS_to_all"]["yi"], rtol=1e-13)
    np.testing.assert_allclose(out.vi, ref["AS_to_all"]["vi"], rtol=1e-13)
    given = escalc("AS", _egger2001(), to="all", add=0.5)
    np.testing.assert_allclose(given.yi, ref["AS_to_all_add_half"]["yi"], rtol=1e-13)
    np.testing.assert_allclose(given.vi, ref["AS_to_all_add_half"]["vi"], rtol=1e-13)


def test_escalc_to_none_gives_missing_not_infinite_and_pools_with_na_omit() -> None:
    ref = REF["escalc_egger2001"]["OR_to_none"]
    with pytest.warns(UserWarning, match=r"row 8\b.*to='none'"):
        out = escalc("OR", _egger2001(), to="none")
    np.testing.assert_allclose(out.yi, _nan(ref["yi"]), rtol=1e-13)
    np.testing.assert_allclose(out.vi, _nan(ref["vi"]), rtol=1e-13)
    assert not np.isinf(out[["yi", "vi"]].to_numpy()).any()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = rma(out, na_action="omit", control={"threshold": 1e-12, "tol": 1e-12})
    assert fit.k == ref["rma_reml"]["k"]
    assert float(fit.beta[0]) == pytest.approx(ref["rma_reml"]["beta"], rel=1e-7)
    assert fit.tau2 == pytest.approx(ref["rma_reml"]["tau2"], rel=1e-6)


def test_meta_cli_na_omit_works_after_to_none(tmp_path: Path) -> None:
    es = tmp_path / "es.csv"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        escalc("OR", _egger2001(), to="none").to_csv(es, index=False)
    result = runner.invoke(app, ["meta", str(es), "--na-omit", "--json"])
    assert result.exit_code == 0, result.output
    ref = REF["escalc_egger2001"]["OR_to_none"]["rma_reml"]
    assert json.loads(result.stdout)["estimate"] == pytest.approx(ref["beta"], rel=1e-5)


def test_escalc_cli_as_to_all_uses_metafor_default_add(tmp_path: Path) -> None:
    src = tmp_path / "egger.csv"
    _egger2001().to_csv(src, index=False)
    out = tmp_path / "as.csv"
    result = runner.invoke(app, ["effect-sizes", str(src), "-m", "AS", "--to", "all",
                                 "-o", str(out)])
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(pd.read_csv(out).yi, REF["escalc_egger2001"]["AS_to_all"]["yi"],
                               rtol=1e-13)


def test_escalc_rom_computes_two_negative_means_and_marks_opposite_signs() -> None:
    ref = REF["rom_negative_means"]
    data = pd.DataFrame(ref["data"])
    with pytest.warns(UserWarning, match=r"row 5\b.*opposite signs"):
        out = escalc("ROM", data)
    np.testing.assert_allclose(out.yi, _nan(ref["yi"]), rtol=1e-13)
    np.testing.assert_allclose(out.vi, _nan(ref["vi"]), rtol=1e-13)
    assert np.isfinite(out.yi[1]) and np.isnan(out.yi[4])


def test_meta_cli_labels_egger_statistic_t_under_knapp_hartung(tmp_path: Path) -> None:
    ref = REF["ranktest_landenberger2005"]
    path = tmp_path / "l.csv"
    pd.DataFrame({"yi": ref["yi"], "vi": ref["vi"]}).to_csv(path, index=False)
    knha = runner.invoke(app, ["meta", str(path), "--test", "knha"])
    assert knha.exit_code == 0, knha.output
    line = next(x for x in knha.stdout.splitlines() if x.startswith("Egger"))
    assert "t(df = 56) = " in line and "z =" not in line
    z = runner.invoke(app, ["meta", str(path)])
    assert "z = " in next(x for x in z.stdout.splitlines() if x.startswith("Egger"))
