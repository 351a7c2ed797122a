"""Benchmark: location-scale models, ``rma(yi, vi, mods=, scale=)``, against metafor's
``rma(..., scale = ~ z)`` measured in the same run (no target; reported only).

Fits: ``dat.bangertdrowns2004`` with ``mods = ~ length, scale = ~ ni`` (k = 46, REML), timed
over N_FITS fits in Python and in one Rscript loop (start-up excluded); and one simulated fit
with k = 100,000 (log τ²ᵢ = −3 + 1.5 zᵢ, zᵢ uniform on 0–1, vᵢ = 4/nᵢ with nᵢ uniform
20–200). The R comparison is skipped, with a message, when Rscript or metafor is missing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd

N_FITS = 200
K_LARGE = 100_000
DATA = Path(__file__).parents[1] / "tests" / "evidence" / "data" / "location_scale.json"

R_SCRIPT = f"""
suppressPackageStartupMessages(library(metafor))
dat <- dat.bangertdrowns2004[!is.na(dat.bangertdrowns2004$length), ]
fit <- function() rma(yi, vi, mods = ~ length, scale = ~ ni, data = dat)
invisible(fit())
t <- system.time(for (i in seq_len({N_FITS})) a <- fit()$alpha)
cat(t[["elapsed"]], a, "\\n")
"""


def main() -> bool:
    from attunement.evidence import rma

    bd = pd.DataFrame(json.loads(DATA.read_text())["data"]["bangertdrowns2004"])
    bd = bd[bd["length"].notna()]

    def fit():
        return rma("yi", "vi", data=bd, mods="~ length", scale="~ ni")

    fit()
    start = time.perf_counter()
    for _ in range(N_FITS):
        res = fit()
    ours = (time.perf_counter() - start) / N_FITS
    print(f"k = 46, REML: {ours * 1e3:.2f} ms per fit (alpha = {res.alpha.round(6)})")
    rscript = shutil.which("Rscript")
    if rscript is None:
        print("Rscript not found: comparison with metafor skipped")
    else:
        out = subprocess.run([rscript, "-e", R_SCRIPT], capture_output=True, text=True)
        if out.returncode != 0:
            print("metafor not available: comparison skipped")
        else:
            fields = out.stdout.split()
            theirs = float(fields[0]) / N_FITS
            print(f"metafor 3.8-1: {theirs * 1e3:.2f} ms per fit (alpha = {fields[1:]}); "
                  f"ratio {theirs / ours:.1f}x")
    rng = np.random.default_rng(20261204)
    z = rng.uniform(0, 1, K_LARGE)
    vi = 4.0 / rng.integers(20, 201, K_LARGE)
    yi = rng.normal(0.3, np.sqrt(np.exp(-3 + 1.5 * z) + vi))
    start = time.perf_counter()
    big = rma(yi, vi, scale=z)
    print(f"k = {K_LARGE:,}, REML: {time.perf_counter() - start:.2f} s "
          f"(alpha = {big.alpha.round(4)}, {big.iterations} iterations)")
    return True


if __name__ == "__main__":
    main()
