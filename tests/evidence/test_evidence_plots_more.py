"""Baujat, radial and GOSH data against metafor 3.8-1 (tests/reference/metafor_more_plots.R)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from attunement.evidence import rma
from attunement.evidence.plots_more import (
    baujat_data,
    baujat_plot,
    gosh,
    gosh_plot,
    radial_data,
    radial_plot,
)

REF = json.loads((Path(__file__).parents[1] / "reference" / "metafor_more_plots.json").read_text())
TIGHT = {"threshold": 1e-12, "tol": 1e-12}
Y, V = np.array(REF["raudenbush1985"]["yi"]), np.array(REF["raudenbush1985"]["vi"])


def test_baujat_matches_r():
    d = baujat_data(rma(Y, V, control=TIGHT))
    np.testing.assert_allclose(d["x"], REF["baujat"]["x"], rtol=1e-6)
    np.testing.assert_allclose(d["y"], REF["baujat"]["y"], rtol=1e-5)
    fig = baujat_plot(rma(Y, V, control=TIGHT))
    assert fig.axes[0].get_xlabel() == "Squared Pearson residual"


def test_radial_matches_r():
    d = radial_data(rma(Y, V, method="FE"))
    np.testing.assert_allclose(d["x"], REF["radial"]["x"], rtol=1e-10)
    np.testing.assert_allclose(d["y"], REF["radial"]["y"], rtol=1e-10)
    d = radial_data(rma(Y, V, control=TIGHT))
    np.testing.assert_allclose(d["x"], REF["radial_re"]["x"], rtol=1e-6)
    np.testing.assert_allclose(d["y"], REF["radial_re"]["y"], rtol=1e-6)
    assert "precision" in radial_plot(rma(Y, V)).axes[0].get_xlabel()
    with pytest.raises(ValueError, match="without moderators"):
        radial_data(rma(Y, V, mods=np.arange(19.0)))


def test_gosh_enumerates_all_subsets_as_r():
    ref = REF["gosh"]
    g = gosh(rma(Y[:8], V[:8], control=TIGHT))
    assert g.attrs["exact"] and len(g) == len(ref["incl"]) == 255
    key = {tuple(map(bool, row)): i for i, row in enumerate(ref["incl"])}
    order = [key[tuple(row)] for row in g.iloc[:, :8].to_numpy()]
    for col in ("QE", "tau2", "estimate", "I2"):
        want = np.array(ref[col], dtype=float)[order]
        ok = ~np.isnan(want)
        np.testing.assert_allclose(g[col].to_numpy()[ok], want[ok], rtol=1e-5, atol=1e-8,
                                   err_msg=col)
    assert len(gosh_plot(g).axes[0].collections[0].get_offsets()) == 255


def test_gosh_cap_and_seed():
    fit = rma(Y, V)
    a = gosh(fit, subsets=50, seed=3)
    b = gosh(fit, subsets=50, seed=3)
    assert len(a) == 50 and not a.attrs["exact"]
    np.testing.assert_array_equal(a["estimate"], b["estimate"])
    with pytest.raises(ValueError, match="no column"):
        gosh_plot(a, x="nope")
