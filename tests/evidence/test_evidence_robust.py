"""Cluster-robust inference for rma against metafor 3.8-1 ``robust()`` and clubSandwich 0.5.8.

Reference values: ``tests/reference/metafor_robust.json``, made by
``tests/reference/metafor_robust.R``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from attunement.evidence import rma

REF = json.loads((Path(__file__).parents[1] / "reference" / "metafor_robust.json").read_text())
TIGHT = {"threshold": 1e-12, "tol": 1e-12}


def _fit(name: str):
    if name in {"year", "intercept", "year_knha", "dl"}:
        d = pd.DataFrame({k: REF["konstantopoulos2011"][k] for k in ("yi", "vi", "year")})
        cluster = REF["konstantopoulos2011"]["district"]
        kw = {"mods": ["year"]} if name != "intercept" else {}
        if name == "year_knha":
            kw["test"] = "knha"
        method = "DL" if name == "dl" else "REML"
        return rma("yi", "vi", data=d, method=method, control=TIGHT, **kw), cluster
    d = pd.DataFrame({k: REF["assink2016"][k] for k in ("yi", "vi", "deltype", "year")})
    return rma("yi", "vi", data=d, mods="~ deltype + year", control=TIGHT), \
        REF["assink2016"]["study"]


def _compare(res, ref: dict, rel: float) -> None:
    for key in ("beta", "se", "tval", "df", "pval", "ci_lb", "ci_ub"):
        np.testing.assert_allclose(getattr(res, key), ref[key], rtol=rel, err_msg=key)
    np.testing.assert_allclose(res.vb, np.array(ref["vb"]), rtol=rel, atol=1e-15)
    assert abs(res.QM - ref["QM"]) <= rel * abs(ref["QM"])
    np.testing.assert_allclose(res.QM_df, ref["QMdf"], rtol=rel)
    assert res.QMp == pytest.approx(ref["QMp"], rel=rel)
    assert res.n_clusters == ref["n"] and res.vbest == ref["vbest"]


@pytest.mark.parametrize("name", ["year", "intercept", "deltype", "dl"])
@pytest.mark.parametrize("kind", ["CR1", "CR0", "CR2"])
def test_robust_matches_metafor_and_clubsandwich(name: str, kind: str) -> None:
    fit, cluster = _fit(name)
    ref = REF["models"][name]
    assert fit.tau2 == pytest.approx(ref["tau2"], rel=1e-7)
    res = fit.robust(cluster=cluster, adjust=kind != "CR0", clubSandwich=kind == "CR2")
    # tau^2 agrees to ~1e-9 (iterative REML); everything downstream to ~1e-7
    _compare(res, ref[kind], 1e-6)


def test_robust_after_knapp_hartung_uses_the_models_vb_as_metafor() -> None:
    fit, cluster = _fit("year_knha")
    _compare(fit.robust(cluster=cluster), REF["models"]["year_knha"]["CR1"], 1e-6)


def test_robust_refuses_bad_clusters() -> None:
    fit, cluster = _fit("year")
    with pytest.raises(ValueError, match="56 studies"):
        fit.robust(cluster=cluster[:-1])
    bad = list(cluster)
    bad[4] = None
    with pytest.raises(ValueError, match=r"missing labels.*study 5"):
        fit.robust(cluster=bad)
    with pytest.raises(ValueError, match=r"clusters \(2\) must be larger"):
        fit.robust(cluster=[i % 2 for i in range(56)])


def test_robust_summary_and_dict() -> None:
    fit, cluster = _fit("deltype")
    res = fit.robust(cluster=cluster, clubSandwich=True)
    text = str(res)
    assert "CR2" in text and "Number of clusters:    17" in text
    d = res.to_dict()
    assert d["clusters"] == 17 and set(d["coefficients"]) == set(fit.coef_names)


def test_meta_cli_cluster_option(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from attunement.cli import app

    src = tmp_path / "k.csv"
    pd.DataFrame(REF["konstantopoulos2011"]).to_csv(src, index=False)
    runner = CliRunner()
    result = runner.invoke(app, ["meta", str(src), "--mods", "year", "--cluster", "district",
                                 "--clubsandwich", "--json"])
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)["robust"]
    ref = REF["models"]["year"]["CR2"]
    assert got["vcov"] == "CR2" and got["clusters"] == 11
    assert got["coefficients"]["year"]["se"] == pytest.approx(ref["se"][1], rel=1e-5)
    assert got["coefficients"]["year"]["df"] == pytest.approx(ref["df"][1], rel=1e-5)
    text = runner.invoke(app, ["meta", str(src), "--mods", "year", "--cluster", "district"])
    assert text.exit_code == 0 and "Cluster-robust inference (CR1" in text.stdout
    bad = runner.invoke(app, ["meta", str(src), "--cluster", "nope"])
    assert bad.exit_code == 2 and "cluster column 'nope' not found" in bad.output
