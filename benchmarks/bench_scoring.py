"""Issue 2 §5 scoring targets.

(a) EPDS with all scales and flags for 10,000,000 rows through the Python API
    (``attunement.instruments.score`` on a pandas DataFrame) vs a bare NumPy ``sum(axis=1)`` over
    the same int8 matrix, same run. Target: ratio ≤ 3.
    Timed for the API: validation of every item column, keying, both scales, the three cut-off
    flags, the item-10 safety flag and its unanswered companion, and assembling the output
    DataFrame (input columns passed through plus 7 new columns). NOT timed: building the int8
    matrix and wrapping it in a DataFrame (``pd.DataFrame(matrix)``), done once up front.
    Each figure is the median of 3 runs after one warm-up (definition loading, imports).
(b) ``attunement score epds FILE.csv --output OUT.csv`` on a 1,000,000-row CSV, end to end in a
    subprocess (interpreter start, read, validate, score, write). Target: < 10 s wall time.
    For context, the same run also times polars reading and writing the same CSV with no scoring.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROWS_API = 10_000_000
ROWS_CLI = 1_000_000
RATIO_TARGET = 3.0
CLI_TARGET_S = 10.0


def _median_time(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_api() -> bool:
    import pandas as pd

    from attunement.instruments import score

    rng = np.random.default_rng(2026)
    matrix = rng.integers(0, 4, size=(ROWS_API, 10), dtype=np.int8)
    df = pd.DataFrame(matrix, columns=[f"epds_{i}" for i in range(1, 11)])
    score("epds", df.head(1000))  # warm-up: imports and definition loading
    base = _median_time(lambda: matrix.sum(axis=1))
    api = _median_time(lambda: score("epds", df))
    out = score("epds", df)
    assert int(out["epds_total"].iloc[0]) == int(matrix[0].sum())  # same numbers
    ratio = api / base
    print(f"(a) {ROWS_API:,} rows EPDS via score(): {api:.3f} s; numpy int8 sum(axis=1): "
          f"{base:.3f} s; ratio {ratio:.2f}x (target ≤ {RATIO_TARGET:.0f}x) "
          f"{'OK' if ratio <= RATIO_TARGET else 'MISSED'}")
    try:
        import polars as pl

        pdf = pl.from_numpy(matrix, schema=[f"epds_{i}" for i in range(1, 11)])
        score("epds", pdf.head(1000))
        t = _median_time(lambda: score("epds", pdf))
        print(f"    (info) same through polars: {t:.3f} s; ratio {t / base:.2f}x")
    except ImportError:  # pragma: no cover
        pass
    return ratio <= RATIO_TARGET


def bench_cli() -> bool:
    import polars as pl

    rng = np.random.default_rng(7)
    matrix = rng.integers(0, 4, size=(ROWS_CLI, 10), dtype=np.int8)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "epds.csv"
        out = Path(tmp) / "scored.csv"
        frame = pl.from_numpy(matrix, schema=[f"epds_{i}" for i in range(1, 11)])
        frame = frame.with_columns(pl.Series("family_id", np.arange(ROWS_CLI)).cast(pl.Utf8))
        frame.write_csv(src)
        exe = [sys.executable, "-m", "attunement", "score", "epds", str(src), "--output", str(out)]
        start = time.perf_counter()
        proc = subprocess.run(exe, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            print(proc.stderr)
            return False
        scored = pl.read_csv(out, n_rows=5)
        assert "epds_total" in scored.columns
        start = time.perf_counter()
        pl.read_csv(src).write_csv(Path(tmp) / "copy.csv")
        io_only = time.perf_counter() - start
    ok = wall < CLI_TARGET_S
    print(f"(b) CLI scoring a {ROWS_CLI:,}-row CSV end to end: {wall:.2f} s "
          f"(target < {CLI_TARGET_S:.0f} s, {wall / CLI_TARGET_S:.0%} of budget) "
          f"{'OK' if ok else 'MISSED'}; polars read+write alone in-process: {io_only:.2f} s")
    return ok


def main() -> bool:
    a = bench_api()
    b = bench_cli()
    return a and b


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
