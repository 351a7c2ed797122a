"""Model fits run with a bounded number of BLAS threads (issue 16) and restore the caller's."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

import attunement.evidence.models as models
import attunement.trials.lmm as lmm
from attunement._blas import blas_thread_limit, limited_blas
from attunement.evidence import rma
from attunement.trials.power import TrialDesign, run_power


def _blas_threads() -> set[int]:
    return {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}


@pytest.fixture
def two_threads():
    """Start from 2 BLAS threads (OpenBLAS's default on a 2-core machine) whatever the host."""
    with threadpool_limits(limits=2, user_api="blas"):
        assert _blas_threads() == {2}
        yield


def _trial() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    fam = np.repeat(np.arange(40), 3)
    return pd.DataFrame({"y": rng.normal(size=120) + rng.normal(size=40)[fam],
                         "arm": (fam % 2).astype(str), "family": fam.astype(str),
                         "wave": np.tile([0.0, 1.0, 2.0], 40)})


def test_fit_lmm_runs_with_one_blas_thread_and_restores(two_threads, monkeypatch) -> None:
    seen = []
    original = lmm._optimise

    def spy(*args, **kwargs):
        seen.append(_blas_threads())
        return original(*args, **kwargs)

    monkeypatch.setattr(lmm, "_optimise", spy)
    lmm.fit_lmm("y ~ arm * wave + (1 | family)", _trial())
    assert seen == [{1}]
    assert _blas_threads() == {2}


def test_rma_runs_with_one_blas_thread(two_threads, monkeypatch) -> None:
    seen = []
    original = models._tau2_estimate

    def spy(*args, **kwargs):
        seen.append(_blas_threads())
        return original(*args, **kwargs)

    monkeypatch.setattr(models, "_tau2_estimate", spy)
    rma([0.1, 0.3, -0.2, 0.5], [0.04, 0.05, 0.03, 0.06], mods=[1.0, 2.0, 3.0, 4.0])
    assert seen and all(s == {1} for s in seen)
    assert _blas_threads() == {2}


def test_environment_sets_the_limit(two_threads, monkeypatch) -> None:
    monkeypatch.setenv("ATTUNEMENT_BLAS_THREADS", "0")
    assert blas_thread_limit() is None
    with limited_blas():
        assert _blas_threads() == {2}
    monkeypatch.setenv("ATTUNEMENT_BLAS_THREADS", "2")
    assert blas_thread_limit() == 2
    monkeypatch.setenv("ATTUNEMENT_BLAS_THREADS", "two")
    with pytest.raises(ValueError, match="ATTUNEMENT_BLAS_THREADS"):
        blas_thread_limit()


def test_nested_calls_restore_only_when_the_outermost_leaves(two_threads) -> None:
    with limited_blas(1):
        with limited_blas(1):
            assert _blas_threads() == {1}
        assert _blas_threads() == {1}
    assert _blas_threads() == {2}


@pytest.mark.slow
def test_power_in_worker_processes_equals_sequential() -> None:
    design = TrialDesign(n_per_arm=15, centres=2, waves=3, effect_size=0.5)
    one = run_power(design, sims=40, seed=5, chunk_size=10)
    two = run_power(design, sims=40, seed=5, chunk_size=10, workers=2)
    assert (one.power, one.mean_estimate, one.mean_se) == (two.power, two.mean_estimate,
                                                           two.mean_se)


@pytest.mark.slow
def test_cli_power_workers_gives_the_same_answer() -> None:
    import json

    from typer.testing import CliRunner

    from attunement.cli import app

    args = ["power", "--n-per-arm", "15", "--centres", "2", "--waves", "3",
            "--effect-size", "0.5", "--sims", "600", "--seed", "3", "--json"]
    runner = CliRunner()
    one = runner.invoke(app, args)
    two = runner.invoke(app, [*args, "--workers", "2"])
    assert one.exit_code == 0 and two.exit_code == 0, (one.output, two.output)
    assert json.loads(one.stdout) == json.loads(two.stdout)
    bad = runner.invoke(app, [*args, "--workers", "0"])
    assert bad.exit_code == 2
