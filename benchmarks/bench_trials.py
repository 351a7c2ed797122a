"""Benchmark (issue 5): 1,000 simulated trials of 12 centres × 35 families × 5 waves with LMM fits.

Target: ≤ 20 s, and ≥ 50× faster per fit than statsmodels MixedLM refits of the same data, in the
same run. statsmodels is timed on a few of the simulated data sets and extrapolated per fit
(a full 1,000 refits would take many minutes). lme4 is timed too when Rscript and lme4 exist.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import warnings

import numpy as np
import pandas as pd

from attunement.trials.lmm import fit_lmm
from attunement.trials.power import TrialDesign, run_power, simulate_trial
from attunement.trials.power_design import _draw, _layout
from attunement.trials.power_fit import _analyse_continuous

DESIGN = TrialDesign(n_per_arm=210, arms=2, centres=12, waves=5, times=(0, 3, 6, 12, 24),
                     effect_size=0.3, icc_centre=0.03, icc_family=0.4, attrition=0.2)
SIMS = 1000
BASELINE_FITS = 3


def _frames(n: int, seed: int) -> tuple[list[pd.DataFrame], dict]:
    layout = _layout(DESIGN)
    sim = _draw(layout, n, np.random.default_rng(seed))
    fast = _analyse_continuous(layout, sim)
    frames = []
    t = DESIGN.time_points
    for s in range(n):
        rows = [{"centre": f"c{layout.centre[f]:02d}", "family": f"f{f:04d}",
                 "arm": int(layout.arm[f]), "time": t[j], "y": sim["y"][s, f, j]}
                for f in range(DESIGN.families) for j in range(int(sim["m"][s, f]))]
        frames.append(pd.DataFrame(rows))
    return frames, fast


def _lme4_ms(frames: list[pd.DataFrame]) -> float | None:
    rscript = shutil.which("Rscript")
    if rscript is None:
        print("lme4: Rscript not installed; skipped")
        return None
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, f in enumerate(frames):
            p = os.path.join(tmp, f"d{i}.csv")
            f.assign(arm=f["arm"]).to_csv(p, index=False)
            paths.append(p)
        script = (
            "suppressMessages(library(lme4)); files <- commandArgs(TRUE); "
            "ds <- lapply(files, read.csv); reps <- 5; "
            "t <- system.time(for (r in 1:reps) for (d in ds) "
            "lmer(y ~ arm * time + (1 | centre) + (1 | family), data = d, REML = TRUE))[['elapsed']]; "
            "cat(1000 * t / (reps * length(ds)))"
        )
        try:
            out = subprocess.run([rscript, "-e", script, *paths], capture_output=True, text=True,
                                 timeout=300)
        except subprocess.TimeoutExpired:
            print("lme4: timed out; skipped")
            return None
        if out.returncode != 0:
            print("lme4: not available (", out.stderr.strip().splitlines()[-1:], "); skipped")
            return None
        return float(out.stdout.strip().split()[-1])


def _blas_report(frames: list[pd.DataFrame]) -> None:
    """fit_lmm and run_power with one BLAS thread (the default) and with the BLAS libraries'
    own default threads (ATTUNEMENT_BLAS_THREADS=0), plus power chunks in 2 processes."""
    from threadpoolctl import threadpool_info

    blas = sorted({(i["internal_api"], i["num_threads"]) for i in threadpool_info()
                   if i["user_api"] == "blas"})
    print(f"BLAS libraries and their default threads: {blas}; {os.cpu_count()} cores")
    data = [d.assign(arm=d["arm"].astype(str)) for d in frames]
    small = TrialDesign(n_per_arm=60, arms=2, centres=6, waves=5, times=(0, 3, 6, 12, 24),
                        effect_size=0.3, icc_centre=0.03, icc_family=0.4)
    old = os.environ.get("ATTUNEMENT_BLAS_THREADS")
    try:
        for setting, label in (("1", "1 BLAS thread (default)"),
                               ("0", "BLAS default threads")):
            os.environ["ATTUNEMENT_BLAS_THREADS"] = setting
            fit_lmm(DESIGN.formula, data[0], df_method="residual")
            reps = 5
            t = time.perf_counter()
            for _ in range(reps):
                for d in data:
                    fit_lmm(DESIGN.formula, d, df_method="residual")
            big = (time.perf_counter() - t) / (reps * len(data))
            sim = simulate_trial(small, seed=1)
            fit_lmm(small.formula, sim, df_method="residual")
            t = time.perf_counter()
            for _ in range(reps * 3):
                fit_lmm(small.formula, sim, df_method="residual")
            per600 = (time.perf_counter() - t) / (reps * 3)
            t = time.perf_counter()
            run_power(DESIGN, sims=250, seed=11)
            pw = time.perf_counter() - t
            print(f"  {label:<26}: fit_lmm {1000 * per600:.1f} ms per fit on {len(sim)} rows, "
                  f"{1000 * big:.1f} ms on {len(data[0])} rows; run_power 250 sims {pw:.2f} s")
        os.environ["ATTUNEMENT_BLAS_THREADS"] = "1"
        for label in ("incl. starting the processes", "processes already running"):
            t = time.perf_counter()
            run_power(DESIGN, sims=1000, seed=11, workers=2)
            print(f"  run_power 1000 sims in 2 worker processes (1 BLAS thread each, {label}): "
                  f"{time.perf_counter() - t:.2f} s")
        t = time.perf_counter()
        run_power(DESIGN, sims=1000, seed=11)
        print(f"  run_power 1000 sims in this process (1 BLAS thread): "
              f"{time.perf_counter() - t:.2f} s")
    finally:
        if old is None:
            os.environ.pop("ATTUNEMENT_BLAS_THREADS", None)
        else:
            os.environ["ATTUNEMENT_BLAS_THREADS"] = old


def main() -> bool:
    import statsmodels.formula.api as smf

    print(f"design: {DESIGN.centres} centres × {DESIGN.families // DESIGN.centres} families × "
          f"{DESIGN.waves} waves, attrition {DESIGN.attrition:.0%}; model {DESIGN.formula}")
    run_power(TrialDesign(n_per_arm=20, centres=2, waves=2), sims=10, seed=0)  # warm-up imports
    t0 = time.perf_counter()
    res = run_power(DESIGN, sims=SIMS, seed=2026)
    ours = time.perf_counter() - t0
    per_fit_ours = ours / SIMS
    print(f"attunement: {SIMS} simulated trials (simulate + REML fit + test) in {ours:.2f} s "
          f"= {1000 * per_fit_ours:.2f} ms per trial; power {res.power:.3f} "
          f"[{res.ci_lb:.3f}, {res.ci_ub:.3f}], {res.failed} failed fits")

    frames, fast = _frames(BASELINE_FITS, seed=7)
    sm_times, agree = [], []
    term = DESIGN.tested_terms[0]
    for i, d in enumerate(frames):
        d = d.assign(arm1=d["arm"])
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = smf.mixedlm("y ~ arm1 * time", d, groups="centre", re_formula="1",
                            vc_formula={"family": "0 + C(family)"}).fit(reml=True)
        sm_times.append(time.perf_counter() - t)
        agree.append(abs(m.params["arm1:time"] - fast["estimate"][i, 0]))
    per_fit_sm = float(np.mean(sm_times))
    t = time.perf_counter()
    general = [fit_lmm(DESIGN.formula, d.assign(arm=d["arm"].astype(str)), df_method="residual")
               for d in frames]
    per_fit_general = (time.perf_counter() - t) / len(frames)
    dev = max(abs(g.fixed.set_index("term").loc[term, "estimate"] - fast["estimate"][i, 0])
              for i, g in enumerate(general))
    print(f"statsmodels MixedLM (REML, vc_formula for family): {1000 * per_fit_sm:.0f} ms per fit "
          f"(mean of {len(frames)} fits on the same simulated data; extrapolated to {SIMS} fits: "
          f"{per_fit_sm * SIMS:.0f} s); |Δ arm:time| vs ours ≤ {max(agree):.1e}")
    print(f"attunement fit_lmm (general lme4-style fit, residual df, no Satterthwaite): "
          f"{1000 * per_fit_general:.0f} ms per fit; |Δ| vs vectorised path ≤ {dev:.1e}")
    _blas_report(frames)
    lme4 = _lme4_ms(frames)
    if lme4 is not None:
        print(f"lme4 lmer (R): {lme4:.1f} ms per fit → vectorised path is "
              f"{lme4 / (1000 * per_fit_ours):.0f}× faster")
    ratio = per_fit_sm / per_fit_ours
    print(f"speed-up vs statsmodels per fit: {ratio:.0f}× (target ≥ 50×); "
          f"total {ours:.2f} s (target ≤ 20 s)")
    return ours <= 20 and ratio >= 50


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
