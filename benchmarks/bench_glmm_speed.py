"""Benchmark (issue 16, brief T item 3): fit_glmm against lme4's glmer in the same run, and the
1,000-trial GLMM power from the command line.

For each model of ``tests/reference/glmm_reference.json`` (binomial and Poisson, Laplace and
adaptive quadrature, nested and crossed random effects) the fit is timed here and ``glmer`` with
its defaults is timed through ``Rscript`` on the same data, formula and nAGQ in this run (the
baseline); the ratio glmer / ours is printed for wall and CPU time. The estimates are compared
with the tight-tolerance glmer reference stored with the tests: fixed effects to 1e-4, SEs and
variances to 1e-3 (relative), logLik to 1e-6 (the tolerances of ``tests/trials/test_glmm.py``).
Then ``attunement power --analysis glmm`` runs 1,000 simulated binary-outcome trials (the
design of ``tests/reference/glmm_power.json``); the target is ≤ 60 s wall on a 2-core machine.

Run on demand: ``python benchmarks/run.py glmm_speed``. On a shared machine wall time counts
other people's work too; CPU time is the fairer per-fit comparison.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from attunement.trials.glmm import fit_glmm

REF = Path(__file__).parents[1] / "tests" / "reference"
DTYPES = {"period": str, "herd": str, "YEAR": str, "BROOD": str, "LOCATION": str, "id": str}
TOL = {"fixef": 1e-4, "se": 1e-3, "variance": 1e-3, "logLik": 1e-6}

def _load_bench_glmm():
    """bench_glmm.py (its glmer timing script and Rscript runner), loaded by path as run.py
    loads the benchmarks."""
    spec = importlib.util.spec_from_file_location("bench_glmm", Path(__file__).with_name(
        "bench_glmm.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _glmer(m: dict, reps: int) -> tuple[float, float] | None:
    """glmer's (wall, CPU) seconds per fit with its defaults, or None without R and lme4."""
    bench = _load_bench_glmm()
    return bench._r(bench._R_FITS, [str(REF / m["csv"]), m["formula"], m["family"], m["link"],
                                    str(m["nAGQ"]), str(reps)])


def _worst(fit, m: dict) -> dict[str, float]:
    """Largest relative difference from the stored glmer reference, per quantity."""
    fe = fit.fixed.set_index("term")
    # R's names: a slope term's intercept variance is the group's name
    var = {r.group if r.term1 == "(Intercept)" else f"{r.group}.{r.term1}": r.variance
           for r in fit.variance.itertuples() if not r.term2}
    rel = lambda a, b: abs(a - b) / max(abs(b), 1e-12)  # noqa: E731
    out = {
        "fixef": max(abs(fe.loc[k, "estimate"] - v) for k, v in m["fixef"].items()),
        "se": max(rel(fe.loc[k, "se"], v) for k, v in m["se"].items()),
        "variance": max(rel(var[k], v) for k, v in m["variance"].items()),
    }
    out["logLik"] = rel(fit.loglik, m["logLik_full"])
    return out


def _fits() -> bool:
    models = json.loads((REF / "glmm_reference.json").read_text())["models"]
    ok_all = True
    print("per fit, ms; ratio = glmer / ours (> 1: ours faster); worst difference from the "
          "stored glmer reference")
    print(f"{'model':<22}{'nobs':>6}{'ours wall':>10}{'CPU':>6}{'glmer wall':>11}{'CPU':>6}"
          f"{'ratio wall':>11}{'CPU':>6}  {'fixef':>8}{'se':>8}{'var':>8}{'logLik':>8}")
    for name, m in models.items():
        data = pd.read_csv(REF / m["csv"], dtype=DTYPES)
        reps = 5 if len(data) < 1000 else 3
        fit = fit_glmm(m["formula"], data, m["family"], m["link"], m["nAGQ"])
        walls, cpus = [], []
        for _ in range(reps):
            t, c = time.perf_counter(), time.process_time()
            fit = fit_glmm(m["formula"], data, m["family"], m["link"], m["nAGQ"])
            walls.append(time.perf_counter() - t)
            cpus.append(time.process_time() - c)
        wall, cpu = float(np.median(walls)), float(np.median(cpus))
        worst = _worst(fit, m)
        agree = all(worst[k] <= TOL[k] for k in TOL)
        r = _glmer(m, reps)
        rw = f"{1000 * r[0]:>11.0f}{1000 * r[1]:>6.0f}{r[0] / wall:>10.1f}×{r[1] / cpu:>5.1f}×" \
            if r else f"{'(no R)':>34}"
        print(f"{name:<22}{len(data):>6}{1000 * wall:>10.0f}{1000 * cpu:>6.0f}{rw}  "
              f"{worst['fixef']:>8.1e}{worst['se']:>8.1e}{worst['variance']:>8.1e}"
              f"{worst['logLik']:>8.1e}{'' if agree else '  OUT OF TOLERANCE'}")
        ok_all &= agree and (r is None or r[1] >= cpu)
    return ok_all


def _power() -> bool:
    design = json.loads((REF / "glmm_power.json").read_text())["design"]
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as fh:
        fh.write(json.dumps({k: v for k, v in design.items() if k != "outcome"}))
    cmd = [sys.executable, "-m", "attunement", "power", "--design", fh.name,
           "--outcome", "binary", "--analysis", "glmm", "--sims", "1000", "--seed", "2026",
           "--json"]
    try:
        t = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
        wall = time.perf_counter() - t
    finally:
        os.unlink(fh.name)
    shown = " ".join(cmd[1:]).replace(fh.name, "DESIGN.yaml")
    if out.returncode != 0:
        print(f"\n{shown} failed: {out.stderr.strip()[-400:]}")
        return False
    res = json.loads(out.stdout)
    ok = wall <= 60
    print(f"\n{shown}\n  (DESIGN.yaml: {design})\n  1000 trials: {wall:.1f} s wall (target ≤ 60 s: "
          f"{'met' if ok else 'MISSED'}); power {res['power']:.3f} "
          f"[{res['ci_lb']:.3f}, {res['ci_ub']:.3f}]")
    return ok


def main() -> bool:
    fits = _fits()
    power = _power()
    print(f"\nfaster than glmer (CPU) on every model and within tolerance: {fits}")
    return fits and power


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
