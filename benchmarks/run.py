"""Run the performance benchmarks on demand: ``python benchmarks/run.py [NAME ...]``.

Each ``bench_*.py`` file here measures one target from an issue, with its baseline measured in
the same run, and prints the figures, the ratios and whether the target was met.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent


def main(argv: list[str]) -> int:
    wanted = set(argv)
    scripts = sorted(HERE.glob("bench_*.py"))
    if wanted:
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in wanted or s.stem in wanted]
    if not scripts:
        print("no benchmark matched; available:", ", ".join(s.stem for s in HERE.glob("bench_*.py")))
        return 2
    failed = 0
    for script in scripts:
        print(f"\n=== {script.stem} ===", flush=True)
        spec = importlib.util.spec_from_file_location(script.stem, script)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        start = time.perf_counter()
        ok = module.main()
        print(f"--- {script.stem}: {'target met' if ok is not False else 'TARGET MISSED'}"
              f" ({time.perf_counter() - start:.1f} s)")
        failed += ok is False
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
