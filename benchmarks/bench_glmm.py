"""Benchmark (issue 16): GLMM fits against lme4's glmer, and GLMM power for a binary outcome.

Targets: ``fit_glmm`` faster than ``glmer`` per fit (the same data, formula and nAGQ, both timed
in this run: R through Rscript when it and lme4 are installed); 1,000 simulated binary-outcome
trials analysed by a logistic GLMM in ≤ 60 s. The R loop of ``tests/reference/glmm_power.R``
is timed on a few simulated trials and extrapolated per trial. Wall and CPU time are printed:
on a shared machine the wall time also counts other people's work. Both BLAS settings
(``ATTUNEMENT_BLAS_THREADS`` 1, the default, and 0 = the BLAS libraries' own threads) are run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pandas as pd

from attunement.trials.glmm import fit_glmm
from attunement.trials.power import TrialDesign, run_power

REF = Path(__file__).parents[1] / "tests" / "reference"
MODELS = ["cbpp_laplace", "cbpp_agq25", "counts_offset", "counts_offset_agq9",
          "grouseticks_nested", "verbagg_crossed"]
DTYPES = {"period": str, "herd": str, "YEAR": str, "BROOD": str, "LOCATION": str, "id": str}
POWER = json.loads((REF / "glmm_power.json").read_text())
DESIGN = TrialDesign.from_dict({**POWER["design"], "analysis": "glmm"})
SIMS = 1000

_R_FITS = r"""
suppressPackageStartupMessages(library(lme4))
args <- commandArgs(TRUE)
d <- read.csv(args[1])
for (v in intersect(c("period", "herd", "YEAR", "BROOD", "LOCATION", "id"), names(d))) d[[v]] <- as.character(d[[v]])
fam <- get(args[3])(link = args[4]); reps <- as.integer(args[6])
f <- function() glmer(as.formula(args[2]), data = d, family = fam, nAGQ = as.integer(args[5]))
invisible(f())
t <- proc.time()
for (i in seq_len(reps)) invisible(f())
e <- proc.time() - t
cat(e[["elapsed"]] / reps, (e[["user.self"]] + e[["sys.self"]]) / reps, "\n")
"""

_R_POWER = r"""
suppressPackageStartupMessages(library(lme4))
nsim <- as.integer(commandArgs(TRUE)[1]); set.seed(1)
F <- 80; vf <- 0.2 / 0.8 * pi^2 / 3
d <- expand.grid(wave = 1:3, family = 1:F); d$time <- (0:2)[d$wave]
d$arm <- factor(ifelse(d$family <= F / 2, "0", "1")); d$family <- factor(d$family)
t <- proc.time()
for (s in 1:nsim) {
  eta <- qlogis(0.45) + log(2.5) / 2 * (d$arm == "1") * d$time + rnorm(F, 0, sqrt(vf))[as.integer(d$family)]
  d$y <- rbinom(nrow(d), 1, plogis(eta))
  fit <- suppressMessages(suppressWarnings(glmer(y ~ arm * time + (1 | family), d, binomial)))
  p <- summary(fit)$coefficients["arm1:time", "Pr(>|z|)"]
}
e <- proc.time() - t
cat(e[["elapsed"]] / nsim, (e[["user.self"]] + e[["sys.self"]]) / nsim, "\n")
"""


def _r(script: str, args: list[str]) -> tuple[float, float] | None:
    """(wall, CPU) seconds per fit printed by the R script, or None without R."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as fh:
        fh.write(script)
    try:
        out = subprocess.run([rscript, fh.name, *args], capture_output=True, text=True,
                             check=True, timeout=1800)
        wall, *cpu = (float(v) for v in out.stdout.split())
        return wall, (cpu[0] if cpu else wall)
    except (subprocess.SubprocessError, ValueError, IndexError) as e:
        print(f"  R failed: {e}")
        return None
    finally:
        os.unlink(fh.name)


def _fits() -> bool:
    models = json.loads((REF / "glmm_reference.json").read_text())["models"]
    faster = True
    print("per fit, milliseconds (CPU time is the fair comparison on a shared machine)")
    print(f"{'model':<22}{'nobs':>6}{'ours wall':>11}{'ours CPU':>10}{'glmer wall':>12}"
          f"{'glmer CPU':>11}{'CPU ratio':>11}")
    for name in MODELS:
        m = models[name]
        data = pd.read_csv(REF / m["csv"], dtype=DTYPES)
        reps = 5 if len(data) < 1000 else 2
        fit_glmm(m["formula"], data, m["family"], m["link"], m["nAGQ"])
        t, c = time.perf_counter(), time.process_time()
        for _ in range(reps):
            fit_glmm(m["formula"], data, m["family"], m["link"], m["nAGQ"])
        ours = (time.perf_counter() - t) / reps
        cpu = (time.process_time() - c) / reps
        r = _r(_R_FITS, [str(REF / m["csv"]), m["formula"], m["family"], m["link"],
                         str(m["nAGQ"]), str(reps)])
        if r is None:
            print(f"{name:<22}{len(data):>6}{1000 * ours:>11.0f}{1000 * cpu:>10.0f}  (no R)")
            continue
        print(f"{name:<22}{len(data):>6}{1000 * ours:>11.0f}{1000 * cpu:>10.0f}"
              f"{1000 * r[0]:>12.0f}{1000 * r[1]:>11.0f}{r[1] / cpu:>10.1f}×")
        if cpu > r[1]:
            faster = False
    if shutil.which("Rscript") is None:
        print("Rscript not installed: glmer not timed")
    return faster


def _power() -> bool:
    print(f"\nGLMM power: {DESIGN.formula}, {DESIGN.families} families × {DESIGN.waves} waves, "
          f"{SIMS} simulated trials")
    run_power(TrialDesign(n_per_arm=10, waves=2, outcome="binary", analysis="glmm"), 10, seed=0)
    old = os.environ.get("ATTUNEMENT_BLAS_THREADS")
    times = {}
    try:
        for setting, label in (("1", "1 BLAS thread (default)"), ("0", "BLAS default threads")):
            os.environ["ATTUNEMENT_BLAS_THREADS"] = setting
            t, c = time.perf_counter(), time.process_time()
            res = run_power(DESIGN, SIMS, seed=2026)
            times[setting] = time.perf_counter() - t
            print(f"  {label:<24}: {times[setting]:.1f} s wall, {time.process_time() - c:.1f} s "
                  f"CPU; power {res.power:.3f} [{res.ci_lb:.3f}, {res.ci_ub:.3f}], "
                  f"{res.failed} failed fits")
    finally:
        if old is None:
            os.environ.pop("ATTUNEMENT_BLAS_THREADS", None)
        else:
            os.environ["ATTUNEMENT_BLAS_THREADS"] = old
    print(f"  R reference (tests/reference/glmm_power.json): power {POWER['power']:.3f} from "
          f"{POWER['nsim']} glmer fits, {POWER['seconds']:.0f} s when it was made")
    per = _r(_R_POWER, ["20"])
    if per is not None:
        print(f"  R simulate-and-glmer loop now: {1000 * per[0]:.0f} ms per trial wall → "
              f"{per[0] * SIMS:.0f} s for {SIMS} ({per[0] * SIMS / times['1']:.0f}× our wall time)")
    ok = times["1"] <= 60
    print(f"  target: {SIMS} trials in ≤ 60 s: {'met' if ok else 'MISSED'} ({times['1']:.1f} s)")
    return ok


def main() -> bool:
    faster = _fits()
    ok = _power()
    print(f"\nfit_glmm faster than glmer on every model: {faster}")
    return faster and ok


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
