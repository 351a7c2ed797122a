"""The trials command line: JSON shapes, design files and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from attunement.cli import app

runner = CliRunner()


def test_fit_json_shape(reference_dir: Path) -> None:
    ref = json.loads((reference_dir / "lmm_trial_public.json").read_text())
    res = runner.invoke(app, ["trials", "fit", str(reference_dir / "lmm_trial_public.csv"),
                              "--formula", ref["formula"], "--reml", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert list(out["fixed"]) == ["(Intercept)", "arm", "wave", "arm:wave"]
    assert out["fixed"]["arm:wave"]["estimate"] == pytest.approx(ref["fixef"]["arm:wave"],
                                                                 rel=1e-4)
    assert out["fixed"]["arm:wave"]["se"] == pytest.approx(ref["se"]["arm:wave"], rel=1e-4)
    assert out["variance"]["centre"] == pytest.approx(ref["var_centre"], rel=1e-4)
    assert out["variance"]["residual"] == pytest.approx(ref["var_resid"], rel=1e-4)
    assert out["loglik"] == pytest.approx(ref["logLik_REML"], rel=1e-8)


def test_fit_ml_and_summary(reference_dir: Path) -> None:
    res = runner.invoke(app, ["trials", "fit", str(reference_dir / "lmm_trial_public.csv"),
                              "--formula", "y ~ arm * wave + (1 | family)", "--ml"])
    assert res.exit_code == 0, res.output
    assert "maximum likelihood" in res.stdout and "Random effects" in res.stdout


def test_fit_bad_formula(reference_dir: Path) -> None:
    res = runner.invoke(app, ["trials", "fit", str(reference_dir / "lmm_trial_public.csv"),
                              "--formula", "y ~ dose + (1 | family)"])
    assert res.exit_code == 2
    assert "'dose'" in res.stderr


def _write(tmp_path: Path, design: str, n: int = 40) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    p = tmp_path / "participants.csv"
    pd.DataFrame({"id": [f"P{i}" for i in range(n)], "centre": rng.choice(["c1", "c2"], n),
                  "parity": rng.choice(["primi", "multi"], n)}).to_csv(p, index=False)
    d = tmp_path / "design.yaml"
    d.write_text(design)
    return d, p


def test_allocate_blocks_and_reproducible(tmp_path: Path) -> None:
    d, p = _write(tmp_path, "method: blocks\narms: [ABC, control]\nratio: [1, 1]\n"
                            "block_sizes: [2, 4]\nstrata: [centre, parity]\n")
    out1, out2 = tmp_path / "a1.csv", tmp_path / "a2.csv"
    for out in (out1, out2):
        res = runner.invoke(app, ["trials", "allocate", "--design", str(d), str(p), "--seed",
                                  "42", "--output", str(out), "--id-column", "id", "--log",
                                  str(tmp_path / "log.jsonl")])
        assert res.exit_code == 0, res.output
        assert "Balance" in res.stdout
    a1, a2 = pd.read_csv(out1), pd.read_csv(out2)
    assert a1["arm"].tolist() == a2["arm"].tolist()
    assert set(a1["arm"]) == {"ABC", "control"}
    first = json.loads((tmp_path / "log.jsonl").read_text().splitlines()[0])
    assert first["participant"] == "P0" and first["inputs"].keys() == {"centre", "parity"}


def test_allocate_without_seed_stores_a_secret(tmp_path: Path) -> None:
    d, p = _write(tmp_path, "method: minimisation\narms: [A, B]\nfactors: [centre, parity]\n"
                            "weights: [2, 1]\np: 0.8\n")
    out = tmp_path / "alloc.csv"
    res = runner.invoke(app, ["trials", "allocate", "--design", str(d), str(p), "-o", str(out)])
    assert res.exit_code == 0, res.output
    secret = (tmp_path / "alloc.csv.seed").read_text().strip()
    assert len(secret) == 64 and secret not in res.output
    assert (tmp_path / "alloc.csv.seed").stat().st_mode & 0o077 == 0


@pytest.mark.parametrize(("design", "message"), [
    ("method: blocks\narms: [A, B]\nratio: [1, 1, 2]\nblock_sizes: [4]\n", "ratio"),
    ("method: blocks\narms: [A, B]\nblock_sizes: [-4]\n", "block_sizes"),
    ("method: blocks\narms: [A, B]\nblock_sizes: [4]\nstrata: [region]\n", "region"),
])
def test_allocate_bad_designs(tmp_path: Path, design: str, message: str) -> None:
    d, p = _write(tmp_path, design)
    res = runner.invoke(app, ["trials", "allocate", "--design", str(d), str(p), "--seed", "1"])
    assert res.exit_code == 2
    assert message in res.stderr


def test_power_json_shape() -> None:
    res = runner.invoke(app, ["power", "--n-per-arm", "64", "--effect-size", "0.5", "--sims",
                              "200", "--seed", "3", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert set(out) == {"power", "ci_lb", "ci_ub", "sims"}
    assert out["sims"] == 200 and out["ci_lb"] <= out["power"] <= out["ci_ub"]


def test_power_design_file_and_curve(tmp_path: Path) -> None:
    d = tmp_path / "power.yaml"
    d.write_text("n_per_arm: 30\ncentres: 3\nwaves: 4\ntimes: [0, 6, 12, 24]\neffect_size: 0.4\n"
                 "icc_family: 0.4\nattrition: 0.2\nsims: 100\nseed: 1\n")
    res = runner.invoke(app, ["power", "--design", str(d), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["sims"] == 100
    res = runner.invoke(app, ["power", "--design", str(d), "--curve", "20,40", "--json"])
    assert [r["n_per_arm"] for r in json.loads(res.stdout)] == [20, 40]
    res = runner.invoke(app, ["power", "--design", str(d), "--sims", "50"])
    assert res.exit_code == 0 and "power" in res.stdout


def test_power_bad_design() -> None:
    res = runner.invoke(app, ["power", "--icc-centre", "1.5", "--json"])
    assert res.exit_code == 2 and "ICC" in res.stderr


def test_power_on_a_dask_scheduler() -> None:
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster:
        res = runner.invoke(app, ["power", "--n-per-arm", "30", "--waves", "3",
                                  "--icc-family", "0.3", "--sims", "60", "--seed", "5",
                                  "--scheduler", cluster.scheduler_address, "--json"])
    assert res.exit_code == 0, res.output
    local = runner.invoke(app, ["power", "--n-per-arm", "30", "--waves", "3",
                                "--icc-family", "0.3", "--sims", "60", "--seed", "5", "--json"])
    assert json.loads(res.stdout) == json.loads(local.stdout)


def test_subgroups_command(reference_dir: Path) -> None:
    res = runner.invoke(app, ["trials", "subgroups", str(reference_dir / "lmm_trial_public.csv"),
                              "--outcome", "y", "--subgroup", "smi", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert {"itt", "smi"} <= set(out)
    assert out["smi"]["interaction"]["df1"] == 1
    assert len(out["smi"]["effects"]) == 2
    res = runner.invoke(app, ["trials", "subgroups", str(reference_dir / "lmm_trial_public.csv"),
                              "--outcome", "y", "--subgroup", "single_carer"])
    assert res.exit_code == 2 and "single_carer" in res.stderr


def test_consort_command(tmp_path: Path) -> None:
    p = tmp_path / "records.csv"
    pd.DataFrame({"arm": ["A", "B", "", "A"], "exclusion_reason": ["", "", "declined", ""],
                  "analysed": ["yes", "yes", "", "no"]}).to_csv(p, index=False)
    res = runner.invoke(app, ["trials", "consort", str(p), "-o", str(tmp_path / "flow.svg")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "flow.svg").read_text().count("<svg") == 1


def test_fit_glmm_json(reference_dir: Path) -> None:
    ref = json.loads((reference_dir / "glmm_reference.json").read_text())["models"]
    m = ref["counts_offset_agq9"]
    res = runner.invoke(app, ["trials", "fit", str(reference_dir / m["csv"]), "--formula",
                              m["formula"], "--family", "poisson", "--link", "log", "--nagq", "9",
                              "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert list(out["fixed"]) == list(m["fixef"])
    for term, value in m["fixef"].items():
        assert out["fixed"][term]["estimate"] == pytest.approx(value, rel=1e-4)
        assert out["fixed"][term]["se"] == pytest.approx(m["se"][term], rel=1e-3)
    assert out["variance"]["family"] == pytest.approx(m["variance"]["family"], rel=1e-3)
    assert out["loglik"] == pytest.approx(m["logLik_full"], rel=1e-6)


def test_fit_glmm_summary_and_errors(reference_dir: Path) -> None:
    csv = str(reference_dir / "glmm_counts.csv")
    res = runner.invoke(app, ["trials", "fit", csv, "--formula",
                              "visits ~ treated + (1 | family)", "--family", "binomial"])
    assert res.exit_code == 2
    assert "glmm_counts.csv" in res.output and "must be 0 or 1" in res.output
    res = runner.invoke(app, ["trials", "fit", csv, "--formula", "visits ~ treated + (1 | family)",
                              "--family", "poisson"])
    assert res.exit_code == 0, res.output
    assert "Laplace Approximation" in res.stdout and "treated" in res.stdout
    res = runner.invoke(app, ["trials", "fit", csv, "--formula", "visits ~ treated + (1 | family)",
                              "--nagq", "5"])
    assert res.exit_code == 2 and "--family binomial or poisson" in res.output
