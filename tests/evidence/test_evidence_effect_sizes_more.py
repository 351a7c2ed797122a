"""The rest of metafor's effect sizes against R's ``escalc``, values and variances to 1e-10.

Reference values: ``tests/reference/escalc_binary.json`` and ``escalc_continuous.json``, made by
``Rscript tests/reference/escalc_binary.R tests/reference/escalc_binary.json`` and
``Rscript tests/reference/escalc_continuous.R tests/reference/escalc_continuous.json``
(metafor 3.8-1; UCOR needs R's gsl package), and ``escalc_rtet.json`` from ``escalc_rtet.R``
(mvtnorm). Each case carries its inputs and options.
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
from attunement.evidence import MEASURES, escalc

REFERENCE = Path(__file__).parents[1] / "reference"
CASES = [
    case
    for name in ("escalc_binary.json", "escalc_continuous.json")
    for case in json.loads((REFERENCE / name).read_text(encoding="utf-8"))["cases"]
]


def _values(values: list) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


@pytest.mark.parametrize("case", CASES, ids=[c["call"] for c in CASES])
def test_escalc_matches_metafor(case: dict) -> None:
    inputs = {name: _values(v) for name, v in case["inputs"].items()}
    options = case["options"] or {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        es = escalc(case["measure"], **inputs, **options)
    yi, vi = _values(case["yi"]), _values(case["vi"])
    np.testing.assert_allclose(es.yi, yi, rtol=1e-10, atol=1e-13)
    # a row without an effect size gets no variance here either (metafor keeps UCOR's 'AV'
    # variance for ni <= 4, where the estimate itself is undefined)
    vi[np.isnan(yi)] = np.nan
    np.testing.assert_allclose(es.vi, vi, rtol=1e-10, atol=1e-13)


def test_every_new_measure_has_a_reference() -> None:
    assert "RTET" in MEASURES  # its own reference: escalc_rtet.json
    new = {"PHI", "YUQ", "YUY", "OR2DL", "OR2DN", "MPRD", "MPRR", "MPOR", "MPORC", "MPPETO",
           "MN", "MNLN", "CVR", "VR", "SMD1", "RPB", "RBIS", "D2ORL", "D2ORN", "SMCRH", "ROMC",
           "UCOR", "PCOR", "ZPCOR", "ARAW", "AHW", "ABT"}
    assert new <= set(MEASURES)
    assert new <= {c["measure"] for c in CASES}


def test_pcor_from_the_partial_correlation_equals_pcor_from_t() -> None:
    ref = next(c for c in CASES if c["measure"] == "PCOR" and not c["options"])
    ti, ni, mi = (_values(ref["inputs"][k]) for k in ("ti", "ni", "mi"))
    ri = ti / np.sqrt(ti**2 + ni - mi - 1)
    es = escalc("PCOR", ri=ri, ni=ni, mi=mi)
    np.testing.assert_allclose(es.yi, _values(ref["yi"]), rtol=1e-12)
    np.testing.assert_allclose(es.vi, _values(ref["vi"]), rtol=1e-12)
    with pytest.raises(ValueError, match=r"ri does not agree with ti .*\(row 1\)"):
        escalc("PCOR", ri=ri + np.r_[0.1, np.zeros(ri.size - 1)], ti=ti, ni=ni, mi=mi)


def test_ucor_with_four_participants_is_missing_with_a_warning_naming_the_row() -> None:
    with pytest.warns(UserWarning, match="UCOR: set to missing.*row 2"):
        es = escalc("UCOR", ri=[0.2, 0.3], ni=[50, 4])
    assert np.isnan(es.yi[1]) and not np.isnan(es.yi[0])


@pytest.mark.parametrize(
    ("measure", "args", "message"),
    [
        ("ABT", dict(ai=[0.8, 1.2], mi=[10, 10], ni=[50, 50]), r"alpha ai .* \(row 2\)"),
        ("AHW", dict(ai=[0.8, 0.7], mi=[10, 1], ni=[50, 50]), r"items mi .* \(row 2\)"),
        ("PCOR", dict(ti=[2.0, 2.0], ni=[50, 5], mi=[3, 4]), r"ni - mi - 1 .* \(row 2\)"),
        ("MN", dict(mi=[1.0, 2.0], sdi=[-1.0, 1.0], ni=[5, 5]), r"sdi .* \(row 1\)"),
        ("MNLN", dict(mi=[1.0, -2.0], sdi=[1.0, 1.0], ni=[5, 5]), r"means mi \(row 2\)"),
        ("ROMC", dict(m1i=[1.0], sd1i=[1.0], m2i=[1.0], sd2i=[1.0], ni=[5], ri=[1.5]),
         r"correlations ri .* \(row 1\)"),
        ("MPRD", dict(ai=[1, -1], bi=[1, 1], ci=[1, 1], di=[1, 1]), r"ai has negative .*row 2"),
        ("PHI", dict(ai=[1], bi=[1], ci=[1], di=[1], vtype="UB"), "vtype for PHI"),
        ("UCOR", dict(ri=[0.2], ni=[10], vtype="LS2"), "vtype for UCOR"),
        ("SMD1", dict(m1i=[1.0], n1i=[10], m2i=[0.0], n2i=[10]), "needs sd2i"),
        ("ZPCOR", dict(ni=[10], mi=[2]), "needs ti .* or ri"),
    ],
)
def test_bad_input_is_refused_naming_the_row_or_field(measure, args, message) -> None:
    with pytest.raises(ValueError, match=message):
        escalc(measure, **args)


def test_phi_adds_nothing_by_default_as_metafor() -> None:
    # a zero cell: metafor's add defaults to 0 for PHI, so phi is computed from the raw cells
    es = escalc("PHI", ai=[0], bi=[10], ci=[5], di=[5])
    assert float(es.yi[0]) == pytest.approx(-5 * 10 / np.sqrt(10 * 10 * 5 * 15), rel=1e-12)


def test_cli_effect_sizes_take_the_new_measures(tmp_path: Path) -> None:
    ref = next(c for c in CASES if c["measure"] == "ABT")
    path = tmp_path / "alpha.csv"
    pd.DataFrame({k: _values(v) for k, v in ref["inputs"].items()}).to_csv(path, index=False)
    result = CliRunner().invoke(app, ["effect-sizes", str(path), "--measure", "ABT"])
    assert result.exit_code == 0, result.output
    out = pd.read_csv(__import__("io").StringIO(result.stdout))
    np.testing.assert_allclose(out.yi, _values(ref["yi"]), rtol=1e-10)
    mn = tmp_path / "means.csv"
    pd.DataFrame({"mi": [10.0, 12.0], "sdi": [2.0, 3.0], "ni": [20, 30]}).to_csv(mn, index=False)
    result = CliRunner().invoke(app, ["effect-sizes", str(mn), "-m", "MNLN"])
    assert result.exit_code == 0, result.output
    assert "2.302585" in result.stdout
    result = CliRunner().invoke(app, ["effect-sizes", str(mn), "-m", "MNLN",
                                      "--vtype", "XX"])
    assert result.exit_code == 0  # MNLN has a single variance, vtype is not used


RTET = json.loads((REFERENCE / "escalc_rtet.json").read_text(encoding="utf-8"))


def test_rtet_matches_the_exact_ml_solution_and_metafor() -> None:
    inputs = {k: np.array(v, dtype=float) for k, v in RTET["inputs"].items()}
    es = escalc("RTET", **inputs)
    # rho solves the saturated likelihood equation (R: uniroot on mvtnorm's pmvnorm to 1e-14)
    np.testing.assert_allclose(es.yi, RTET["exact_yi"], rtol=0, atol=1e-12)
    # the variance against R's Richardson-extrapolated finite-difference Hessian at that rho
    np.testing.assert_allclose(es.vi, RTET["exact_vi"], rtol=1e-6)
    # metafor's escalc itself stops Nelder-Mead at its optimiser tolerance
    np.testing.assert_allclose(es.yi, RTET["metafor_yi"], rtol=0, atol=1e-4)
    np.testing.assert_allclose(es.vi, RTET["metafor_vi"], rtol=1e-4)


def test_rtet_degenerate_tables_follow_metafor_or_are_flagged() -> None:
    es = escalc("RTET", ai=[10, 0], bi=[0, 7], ci=[0, 6], di=[12, 0])
    assert list(es.yi) == [1.0, -1.0] and list(es.vi) == [0.0, 0.0]
    with pytest.warns(UserWarning, match=r"RTET: set to missing.*row 1, 2"):
        es = escalc("RTET", ai=[10, 0], bi=[0, 7], ci=[3, 0], di=[12, 5])
    assert es.yi.isna().all()
    # with add = 1/2 the single-zero table has an estimate
    es = escalc("RTET", ai=[10], bi=[0], ci=[3], di=[12], add=0.5)
    assert 0 < float(es.yi[0]) < 1 and float(es.vi[0]) > 0
