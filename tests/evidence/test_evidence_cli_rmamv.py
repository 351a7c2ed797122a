"""``attunement meta``: rma.mv (--random, --struct, --V, --vcalc), rma.mh (--mh) and the
per-study diagnostics and options that were Python-only (--leave1out, --influence, --cumul,
--trimfill, --fsn, --tau2, --weights, --btt, --add, --to)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from attunement.cli import app
from attunement.evidence import escalc, fsn, rma, rma_mh

runner = CliRunner()
REF = json.loads((Path(__file__).parents[1] / "reference" / "rmamv_reference.json").read_text())


def _csv(tmp_path: Path, name: str, frame: pd.DataFrame) -> str:
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return str(path)


def _run(*args: str) -> dict:
    result = runner.invoke(app, ["meta", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _close(a, b, rtol=1e-5):
    np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float),
                               rtol=rtol, atol=1e-10)


@pytest.fixture
def bcg(datasets, tmp_path):
    d = datasets["bcg"].rename(columns={"tpos": "ai", "tneg": "bi", "cpos": "ci", "cneg": "di"})
    return d, _csv(tmp_path, "bcg.csv", d)


def test_meta_random_vcalc_and_clubsandwich_match_metafor(tmp_path):
    path = _csv(tmp_path, "a.csv", pd.DataFrame(REF["assink2016"]["data"]))
    out = _run(path, "--random", "~ 1 | study/esid", "--mods", "~ deltype",
               "--vcalc", "cluster=study,obs=esid,rho=0.6", "--cluster", "study",
               "--clubsandwich")
    ref = REF["assink2016"]["fits"]["vcalc_deltype"]
    _close([c["estimate"] for c in out["coefficients"].values()], ref["beta"])
    _close(list(out["sigma2"].values()), ref["sigma2"])
    rob = out["robust"]["coefficients"]
    _close([c["se"] for c in rob.values()], ref["CR2"]["se"], 1e-4)
    _close([c["df"] for c in rob.values()], ref["CR2"]["df"])


def test_meta_random_multivariate_with_a_V_file(tmp_path):
    path = _csv(tmp_path, "b.csv", pd.DataFrame(REF["berkey1998"]["data"]))
    vfile = tmp_path / "V.csv"
    np.savetxt(vfile, np.array(REF["berkey1998"]["V"]), delimiter=",")
    out = _run(path, "--random", "~ outcome | trial", "--struct", "UN",
               "--mods", "~ outcome - 1", "--V", str(vfile))
    ref = REF["berkey1998"]["fits"]["UN_REML"]
    _close(out["tau2"], ref["tau2"])
    _close(out["rho"], ref["rho"])
    assert list(out["coefficients"]) == ["outcomeAL", "outcomePD"]


def test_meta_random_list_of_terms_t_test_and_readable_output(tmp_path):
    path = _csv(tmp_path, "k.csv", pd.DataFrame(REF["konstantopoulos2011"]["data"]))
    result = runner.invoke(app, ["meta", path, "--random", "~ 1 | district/school",
                                 "--mods", "year", "--test", "t", "--V", "vi"])
    assert result.exit_code == 0, result.output
    assert "F(df1 = 1, df2 = 54) = 0.3169" in result.stdout
    out = _run(path, "--random", "~ 1 | district", "--random", "~ 1 | study")
    _close(list(out["sigma2"].values()), REF["konstantopoulos2011"]["fits"]["list_terms"]["sigma2"])


@pytest.mark.parametrize(("args", "message"), [
    (["--struct", "UN"], "apply with --random"),
    (["--random", "~ 1 | district", "--leave1out"], "with --random"),
    (["--random", "~ 1 | district", "--vcalc", "cluster=district,colour=1"], "--vcalc takes"),
    (["--random", "~ 1 | district", "--V", "nofile.csv"], "neither a column"),
    (["--btt", "0"], "start at 1"),
    (["--random", "~ 1 | town"], "'town'"),
])
def test_meta_option_errors(tmp_path, args, message):
    path = _csv(tmp_path, "k.csv", pd.DataFrame(REF["konstantopoulos2011"]["data"]))
    result = runner.invoke(app, ["meta", path, *args])
    assert result.exit_code == 2
    assert message in result.output


def test_meta_diagnostics_match_the_python_api(bcg):
    d, path = bcg
    out = _run(path, "--measure", "RR", "--leave1out", "--influence", "--cumul", "--trimfill",
               "--fsn", "Rosenthal")
    fit = rma(escalc("RR", d))
    _close([r["estimate"] for r in out["leave1out"]], fit.leave1out()["estimate"], 1e-10)
    _close([r["estimate"] for r in out["cumul"]], fit.cumul()["estimate"], 1e-10)
    assert len(out["influence"]) == 13
    assert out["trimfill"] == json.loads(json.dumps(fit.trimfill().to_dict()))
    assert out["fsn"] == json.loads(json.dumps(fsn(fit.yi, fit.vi).to_dict()))


def test_meta_tau2_weights_btt_add_to_pass_through(bcg, tmp_path):
    d, path = bcg
    d = d.assign(w=np.arange(1, 14, dtype=float))
    path = _csv(tmp_path, "bcgw.csv", d)
    es = escalc("OR", d, add=0.25, to="all")
    out = _run(path, "--measure", "OR", "--add", "0.25", "--to", "all", "--tau2", "0.2",
               "--mods", "ablat,year", "--btt", "3", "--weights", "w")
    fit = rma(es, mods=["ablat", "year"], tau2=0.2, btt=[2], weights=d["w"].to_numpy())
    _close(out["coefficients"]["year"]["estimate"], fit.beta[2], 1e-10)
    _close(out["QM"], fit.QM, 1e-10)
    assert out["tau2"] == pytest.approx(0.2)


def test_meta_mh_matches_rma_mh(bcg):
    d, path = bcg
    out = _run(path, "--measure", "RR", "--mh")
    assert out == json.loads(json.dumps(rma_mh(d, ai="ai", bi="bi", ci="ci", di="di",
                                               measure="RR").to_dict()))
