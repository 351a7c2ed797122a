"""Proportions and incidence rates (escalc measures, pooling, back-transformations) against
metafor 3.8-1.

Reference values: ``tests/reference/metafor_proportions_rates.json``, made by
``tests/reference/metafor_proportions_rates.R`` (dat.pritz1997, dat.hart1999).
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
from attunement.evidence import transf as tf

REF = json.loads((Path(__file__).parents[1] / "reference" / "metafor_proportions_rates.json")
                 .read_text())
TIGHT = {"threshold": 1e-12, "tol": 1e-12}
runner = CliRunner()


def _nan(values: list) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def _check_pooled(es: pd.DataFrame, ref: dict, back) -> None:
    fit = rma(es, control=TIGHT)
    r = ref["rma_reml"]
    assert float(fit.beta[0]) == pytest.approx(r["beta"], rel=1e-8)
    assert fit.tau2 == pytest.approx(r["tau2"], rel=1e-6, abs=1e-12)
    pred = fit.predict(transf=back).iloc[0]
    for key in ("pred", "ci_lb", "ci_ub", "pi_lb", "pi_ub"):
        assert pred[key] == pytest.approx(r[key], rel=1e-7, abs=1e-12), key


@pytest.mark.parametrize("measure", ["PR", "PLN", "PLO", "PAS", "PFT"])
def test_proportions_match_metafor(measure: str) -> None:
    ref = REF["proportions"][measure]
    data = pd.DataFrame(REF["pritz1997"])
    es = escalc(measure, data)
    np.testing.assert_allclose(es.yi, _nan(ref["yi"]), rtol=1e-13)
    np.testing.assert_allclose(es.vi, _nan(ref["vi"]), rtol=1e-13)
    _check_pooled(es, ref, tf.back_transform(measure, ni=data["ni"]))


@pytest.mark.parametrize("measure", ["IR", "IRLN", "IRS", "IRFT"])
def test_single_group_rates_match_metafor(measure: str) -> None:
    ref = REF["rates"][measure]
    h = REF["hart1999"]
    es = escalc(measure, xi=h["x1i"], ti=h["t1i"])
    np.testing.assert_allclose(es.yi, _nan(ref["yi"]), rtol=1e-13)
    np.testing.assert_allclose(es.vi, _nan(ref["vi"]), rtol=1e-13)
    _check_pooled(es, ref, tf.back_transform(measure, ti=h["t1i"]))


@pytest.mark.parametrize("measure", ["IRR", "IRD"])
def test_rate_comparisons_match_metafor(measure: str) -> None:
    ref = REF["rates"][measure]
    es = escalc(measure, pd.DataFrame(REF["hart1999"]))
    np.testing.assert_allclose(es.yi, _nan(ref["yi"]), rtol=1e-13)
    np.testing.assert_allclose(es.vi, _nan(ref["vi"]), rtol=1e-13)
    _check_pooled(es, ref, tf.back_transform(measure))


def test_zero_counts_follow_metafors_add_rules() -> None:
    data = pd.DataFrame(REF["pritz1997_zero"])
    z = REF["proportions_zero"]
    for key, kw in (("PR_UB", {"measure": "PR", "vtype": "UB"}), ("PLO", {"measure": "PLO"}),
                    ("PLN", {"measure": "PLN"}), ("PFT", {"measure": "PFT"}),
                    ("PAS_add", {"measure": "PAS", "add": 0.5, "to": "all"})):
        es = escalc(data=data, **kw)
        np.testing.assert_allclose(es.yi, _nan(z[key]["yi"]), rtol=1e-13, err_msg=key)
        np.testing.assert_allclose(es.vi, _nan(z[key]["vi"]), rtol=1e-13, err_msg=key)
    with pytest.warns(UserWarning, match=r"row 3\b"):
        es = escalc("PLO", data, to="none")
    np.testing.assert_allclose(es.yi, _nan(z["PLO_to_none"]["yi"]), rtol=1e-13)
    h0 = REF["hart1999_zero"]
    rates = pd.DataFrame({k: h0[k] for k in ("x1i", "t1i", "x2i", "t2i")})
    for measure in ("IRR", "IRD"):
        es = escalc(measure, rates)
        np.testing.assert_allclose(es.yi, _nan(h0[measure]["yi"]), rtol=1e-13)
        np.testing.assert_allclose(es.vi, _nan(h0[measure]["vi"]), rtol=1e-13)
    for measure in ("IRLN", "IRFT"):
        es = escalc(measure, xi=h0["x1i"], ti=h0["t1i"])
        np.testing.assert_allclose(es.yi, _nan(h0[measure]["yi"]), rtol=1e-13)
        np.testing.assert_allclose(es.vi, _nan(h0[measure]["vi"]), rtol=1e-13)


def test_back_transformations_match_metafor_on_a_grid() -> None:
    g = REF["transf_grid"]
    x = np.array(g["x"])
    np.testing.assert_allclose(tf.transf_ilogit(x), g["ilogit"], rtol=1e-14)
    np.testing.assert_allclose(tf.transf_iarcsin(x), g["iarcsin"], rtol=1e-14)
    np.testing.assert_allclose(tf.transf_isqrt(x), g["isqrt"], rtol=1e-14)
    np.testing.assert_allclose(tf.transf_ipft(x, 20), g["ipft_n20"], rtol=1e-12)
    np.testing.assert_allclose(tf.transf_ipft_hm(x, [10, 20, 40]), g["ipft_hm"], rtol=1e-12)
    np.testing.assert_allclose(tf.transf_iirft(x, 50), g["iirft_t50"], rtol=1e-12)


@pytest.mark.parametrize(("data", "measure", "message"), [
    ({"xi": [3, 12], "ni": [10, 11]}, "PR", r"larger than the group sizes.*row 2"),
    ({"xi": [3, -1], "ni": [10, 11]}, "PLO", r"negative.*row 2"),
    ({"xi": [3, 1], "ti": [10.0, 0.0]}, "IR", r"person-times.*row 2"),
    ({"x1i": [3, 1], "t1i": [10, 5], "x2i": [2, 2], "t2i": [-4, 5]}, "IRR",
     r"person-times.*row 1"),
])
def test_bad_counts_are_refused_with_the_row(data: dict, measure: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        escalc(measure, pd.DataFrame(data))


def test_cli_effect_sizes_and_meta_take_the_new_measures(tmp_path: Path) -> None:
    src = tmp_path / "pritz.csv"
    pd.DataFrame(REF["pritz1997"]).to_csv(src, index=False)
    out = tmp_path / "plo.csv"
    result = runner.invoke(app, ["effect-sizes", str(src), "--measure", "PLO", "-o", str(out)])
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(pd.read_csv(out).yi, REF["proportions"]["PLO"]["yi"], rtol=1e-13)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = runner.invoke(app, ["meta", str(src), "--measure", "PFT"])
    assert result.exit_code == 0, result.output
    ref = REF["proportions"]["PFT"]["rma_reml"]
    line = next(x for x in result.stdout.splitlines() if x.startswith("Pooled proportion"))
    assert f"{ref['pred']:.4f}" in line and f"{ref['ci_lb']:.4f}" in line


def test_cli_forest_plot_of_proportions_is_on_the_proportion_scale(tmp_path: Path) -> None:
    src = tmp_path / "pritz.csv"
    pd.DataFrame(REF["pritz1997"]).to_csv(src, index=False)
    png = tmp_path / "forest.png"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = runner.invoke(app, ["meta", str(src), "--measure", "PLO", "--forest",
                                     str(png)])
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:4] == b"\x89PNG"
