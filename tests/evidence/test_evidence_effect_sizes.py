"""escalc(): effect sizes and sampling variances against metafor 3.8-1."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from attunement.evidence import escalc, hedges_correction

CASES = [
    ("bcg", "RR", {"ai": "tpos", "bi": "tneg", "ci": "cpos", "di": "cneg"}, {}),
    ("bcg", "OR", {"ai": "tpos", "bi": "tneg", "ci": "cpos", "di": "cneg"}, {}),
    ("bcg", "RD", {"ai": "tpos", "bi": "tneg", "ci": "cpos", "di": "cneg"}, {}),
    ("bcg", "PETO", {"ai": "tpos", "bi": "tneg", "ci": "cpos", "di": "cneg"}, {}),
    ("normand1999", "SMD", {}, {}),
    ("normand1999", "SMD_vtype_UB", {}, {"vtype": "UB"}),
    ("normand1999", "MD", {}, {}),
    ("normand1999", "SMDH", {}, {}),
    ("normand1999", "ROM", {}, {}),
    ("molloy2014", "ZCOR", {}, {}),
    ("molloy2014", "COR", {}, {}),
    ("nielweise2007", "OR", {}, {}),
    ("nielweise2007", "RR", {}, {}),
    ("nielweise2007", "RD", {}, {}),
    ("nielweise2007", "OR_add_all", {}, {"to": "all"}),
]


@pytest.mark.parametrize(("dataset", "key", "columns", "options"), CASES,
                         ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_escalc_matches_metafor(metafor, datasets, close, dataset, key, columns, options):
    ref = metafor["datasets"][dataset]["escalc"][key]
    measure = key.split("_")[0]
    out = escalc(measure, datasets[dataset], **columns, **options)
    close(out.yi.to_numpy(), ref["yi"], closed_form=True, what="yi")
    close(out.vi.to_numpy(), ref["vi"], closed_form=True, what="vi")
    # the input columns are kept, yi and vi appended
    assert list(out.columns[-2:]) == ["yi", "vi"]
    assert len(out) == len(datasets[dataset])


def test_exact_hedges_correction(metafor, datasets, close):
    ref = metafor["datasets"]["normand1999"]["escalc"]["SMD"]
    d = datasets["normand1999"]
    close(hedges_correction(d.n1i + d.n2i - 2), ref["J_exact"], closed_form=True)
    out = escalc("SMD", d)
    close(out.yi / hedges_correction(d.n1i + d.n2i - 2), ref["cohen_d_uncorrected"],
          closed_form=True, what="Cohen's d before the correction")
    # the approximation differs in the 4th-5th decimal, so the exact form is what we ship
    assert np.max(np.abs(np.asarray(ref["J_exact"]) - ref["J_approx_1_minus_3_over_4m_minus_1"])) > 1e-6


def test_zero_cells_get_one_half_only_in_their_study(datasets):
    d = datasets["nielweise2007"]
    out = escalc("OR", d)
    zero = (d.ai == 0) | (d.ci == 0)
    plain = (~zero).to_numpy()
    a, c, n1, n2 = (d[col].to_numpy(float)[plain] for col in ("ai", "ci", "n1i", "n2i"))
    expected = np.log(a * (n2 - c) / ((n1 - a) * c))
    np.testing.assert_allclose(out.yi[plain], expected, rtol=1e-13)
    assert np.isfinite(out.yi).all()


def test_drop00_sets_double_zero_studies_to_missing():
    with pytest.warns(UserWarning, match="row 2"):
        out = escalc("OR", ai=[1, 0], n1i=[10, 10], ci=[2, 0], n2i=[10, 10], drop00=True)
    assert np.isfinite(out.yi[0]) and np.isnan(out.yi[1])


def test_change_score_smd_by_hand():
    # SMCC: g = J(n-1) (m1 - m2) / sd_diff, vi = 1/n + g^2/(2n)
    out = escalc("SMCC", m1i=[12.0], m2i=[10.0], sd1i=[4.0], sd2i=[5.0], ri=[0.6], ni=[30])
    sdd = np.sqrt(16 + 25 - 2 * 0.6 * 4 * 5)
    g = hedges_correction(29) * 2 / sdd
    np.testing.assert_allclose(out.yi, g, rtol=1e-14)
    np.testing.assert_allclose(out.vi, 1 / 30 + g**2 / 60, rtol=1e-14)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"measure": "RR", "ai": [-1], "bi": [3], "ci": [1], "di": [3]}, "negative"),
        ({"measure": "ZCOR", "ri": [1.2], "ni": [30]}, "between -1 and 1"),
        ({"measure": "ZCOR", "ri": [0.2], "ni": [3]}, "more than 3"),
        ({"measure": "SMD", "m1i": [1], "sd1i": [-1], "n1i": [5], "m2i": [0], "sd2i": [1],
          "n2i": [5]}, "not be negative"),
        ({"measure": "XYZ"}, "unknown measure"),
        ({"measure": "SMD", "m1i": [1]}, "needs"),
    ],
)
def test_bad_input_gives_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        escalc(**kwargs)


def test_missing_column_is_named():
    with pytest.raises(ValueError, match="'events'"):
        escalc("RR", pd.DataFrame({"a": [1]}), ai="events", bi="a", ci="a", di="a")


def test_polars_frames_are_accepted():
    import polars as pl

    from attunement.evidence import rma

    df = pl.DataFrame({"ai": [4, 6, 3], "bi": [119, 300, 228], "ci": [11, 29, 11],
                       "di": [128, 274, 209]})
    out = escalc("RR", df)
    assert list(out.columns) == ["ai", "bi", "ci", "di", "yi", "vi"]
    assert rma(pl.from_pandas(out)).estimate == pytest.approx(rma(out).estimate, rel=1e-15)
