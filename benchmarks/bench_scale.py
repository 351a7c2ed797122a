"""Benchmark for issue 17: the platform at the size of a nation (10k to 100k families).

Builds N synthetic families (two caregivers each, ~10 assessments per family: EPDS and PHQ-9
at several time points) through the store — ``create_family`` for families and identifiers,
``add_assessments`` (the store's group commit, the path the web service batches submissions
through) for assessments — so encryption, scoring, alerts and the audit chain are all real.
Then it times every operation of the issue:

- caseload first page, family list page (a search by family code), a name search, alerts;
- one submission (``usecases.assessments.submit_assessment``);
- export CSV and Parquet (streamed; each in a fresh process, reporting its peak RSS);
- ``audit verify`` (rows/s, full and from a checkpoint);
- two processes writing concurrently vs one (submissions/s; the chain verified after).

Usage::

    PYTHONPATH=src python benchmarks/bench_scale.py --families 10000 --db sqlite
    PYTHONPATH=src python benchmarks/bench_scale.py --families 10000 \\
        --db postgresql+psycopg://postgres@127.0.0.1:5432/bench

``--keep DIR`` keeps (and reuses) the built database and key file there.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from attunement.usecases import assessments as uc_assessments
from attunement.usecases import exports as uc_exports
from attunement.usecases import families as uc_families

EPDS_POINTS = ("baseline", "6w", "6m")
TIME_POINTS = [
    {"name": "baseline", "offset_days": -60, "window_days": 30, "instruments": ["epds"]},
    {"name": "6w", "offset_days": 42, "window_days": 14, "instruments": ["epds", "phq9"]},
    {"name": "6m", "offset_days": 180, "window_days": 30, "instruments": ["epds", "phq9"]},
]
PASSWORD = "benchmark passphrase long enough"
SITES = 10


def _store(url: str, key: Path) -> Any:
    from attunement.store import Store

    return Store.open(url, key_path=key)


def build(url: str, key: Path, families: int, *, batch: int = 500) -> dict[str, float]:
    """Build the synthetic deployment; the seconds each part took."""
    from attunement.store import Submission

    st = _store(url, key)
    st.init("admin@example.org", PASSWORD)
    system = st.system_actor()
    sites = [f"Site {i}" for i in range(SITES)]
    for name in sites:
        st.accounts.add_site(system, name)
    st.accounts.add_study(system, "Nation", sites, TIME_POINTS)
    admin = st.accounts.authenticate("admin@example.org", PASSWORD)
    rng = random.Random(17)
    t0 = time.perf_counter()
    ids: list[int] = []
    for n in range(families):
        doc = uc_families.register_family(st, admin, {
            "family_id": f"F{n:07d}", "site": sites[n % SITES], "study": "Nation",
            "assessed_on": "2026-06-20",
            "infant": {"due_date": "2026-06-20", "date_of_birth": "2026-06-15",
                       "name": f"Infant {n}"},
            "placement": "birth_family", "context": {},
            "caregivers": [
                {"id": "mother", "role": "birth_mother", "age": 20 + n % 20,
                 "name": f"Mother {n} Example"},
                {"id": "father", "role": "birth_father", "age": 22 + n % 20,
                 "name": f"Father {n} Example"},
            ],
        })
        ids.append(doc["id"])
    t_families = time.perf_counter() - t0
    t0 = time.perf_counter()
    pending: list[Any] = []
    for fam in ids:
        for carer in ("mother", "father"):
            for tp in EPDS_POINTS:
                pending.append(Submission(admin, fam, carer, "epds", tp,
                                          [rng.randint(0, 2) for _ in range(10)]))
            for tp in EPDS_POINTS[1:]:
                pending.append(Submission(admin, fam, carer, "phq9", tp,
                                          [rng.randint(0, 1) for _ in range(9)]))
        if len(pending) >= batch:
            _submit(st, pending)
            pending = []
    _submit(st, pending)
    t_assessments = time.perf_counter() - t0
    st.close()
    return {"families_s": t_families, "assessments_s": t_assessments}


def _submit(st: Any, subs: list[Any]) -> None:
    for r in uc_assessments.submit_assessments(st, subs):
        if isinstance(r, Exception):
            raise r


def _timed(fn: Any, repeat: int = 20) -> dict[str, float]:
    fn()  # warm
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return {"median_ms": round(statistics.median(times), 1),
            "p95_ms": round(times[int(0.95 * (len(times) - 1))], 1)}


def reads(url: str, key: Path, families: int) -> dict[str, Any]:
    st = _store(url, key)
    admin = st.accounts.authenticate("admin@example.org", PASSWORD)
    out: dict[str, Any] = {}
    out["caseload_first_page"] = _timed(lambda: st.families.caseload_page(admin, limit=50))
    code = f"F{families // 2:07d}"
    out["family_list_search_code"] = _timed(lambda: st.families.caseload_page(admin, q=code, limit=50))
    out["search_name"] = _timed(
        lambda: st.families.caseload_page(admin, q=f"Mother {families // 3} Example", limit=50))
    out["alerts"] = _timed(lambda: st.care.list_alerts(admin), repeat=5)
    fam = st.families.caseload_page(admin, q=code, limit=1)["items"][0]["id"]
    out["one_submission"] = _timed(
        lambda: uc_assessments.submit_assessment(st, admin, fam, "mother", "epds", "6w", [0] * 10))
    st.close()
    return out


def _hwm_mb() -> float:
    """Peak resident memory of this process (VmHWM; ru_maxrss survives exec, so a child
    started by a big parent would report the parent's peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def export_child(url: str, key: str, fmt: str) -> None:
    """Run one streamed export to /dev/null in this process; print seconds, rows, peak RSS."""
    st = _store(url, Path(key))
    admin = st.accounts.authenticate("admin@example.org", PASSWORD)
    before = _hwm_mb()
    t0 = time.perf_counter()
    plan, body = uc_exports.export_stream(st, admin, fmt=fmt, pseudonymise=True)
    size = 0
    for part in body:
        size += len(part)
    took = time.perf_counter() - t0
    peak = _hwm_mb()
    st.close()
    print(json.dumps({"format": fmt, "seconds": round(took, 2), "rows": plan.rows,
                      "bytes": size, "peak_rss_mb": round(peak, 1),
                      "rss_before_mb": round(before, 1)}))


def verify_child(url: str, key: str) -> None:
    st = _store(url, Path(key))
    t0 = time.perf_counter()
    report = st.maintenance.verify_audit()
    took = time.perf_counter() - t0
    cp = st.maintenance.audit_checkpoint()
    st.accounts.add_site(st.system_actor(), f"Bench {time.time()}")
    t1 = time.perf_counter()
    since = st.maintenance.verify_audit(checkpoint=cp)
    took_cp = time.perf_counter() - t1
    st.close()
    print(json.dumps({"ok": report.ok, "rows": report.rows, "seconds": round(took, 2),
                      "rows_per_s": round(report.rows / took),
                      "from_checkpoint_ok": since.ok, "from_checkpoint_rows": since.rows,
                      "from_checkpoint_s": round(took_cp, 3)}))


def writer_child(url: str, key: str, n: int, seed: int) -> None:
    """Submit ``n`` assessments one by one (as the web service does per request)."""
    st = _store(url, Path(key))
    admin = st.accounts.authenticate("admin@example.org", PASSWORD)
    fams = [x["id"] for x in st.families.caseload_page(admin, limit=200)["items"]]
    rng = random.Random(seed)
    t0 = time.perf_counter()
    for _ in range(n):
        uc_assessments.submit_assessment(st, admin, rng.choice(fams), "father", "epds", "6m",
                          [rng.randint(0, 3) for _ in range(10)])
    print(json.dumps({"n": n, "seconds": time.perf_counter() - t0}))
    st.close()


def _child(*args: str) -> dict[str, Any]:
    env = {**os.environ}
    r = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True,
                       env=env, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def writers(url: str, key: Path, n: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    _child("--writer", url, str(key), str(n), "1")
    one = n / (time.perf_counter() - t0)
    st = _store(url, key)
    before = st.maintenance.verify_audit().rows
    st.close()
    t0 = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, __file__, "--writer", url, str(key), str(n),
                               str(seed)], stdout=subprocess.PIPE, text=True)
             for seed in (2, 3)]
    for p in procs:
        p.communicate()
        if p.returncode:
            raise SystemExit("a writer failed")
    two = 2 * n / (time.perf_counter() - t0)
    st = _store(url, key)
    report = st.maintenance.verify_audit()
    st.close()
    return {"one_process_per_s": round(one, 1), "two_processes_per_s": round(two, 1),
            "chain_ok": report.ok, "audit_rows_added": report.rows - before,
            "note": "process start-up included in both"}


def audit_only(url: str, key: Path, rows: int, *, batch: int = 5000) -> dict[str, Any]:
    """Verify speed alone: an audit log of ``rows`` assessment-sized rows appended with the
    store's own chain writer (``audit.append_many``, in batches), then ``audit verify``."""
    from attunement.store import audit

    st = _store(url, key)
    st.init("admin@example.org", PASSWORD)
    actor = st.system_actor()
    t0 = time.perf_counter()
    done = 0
    while done < rows:
        n = min(batch, rows - done)
        with st.db.write() as s:
            audit.append_many(s, [dict(
                actor=actor, action="create", entity="note", entity_id=done + i,
                family_id=1 + (done + i) % 100_000, site_id=1,
                after={"instrument": "epds", "instrument_version": "1987", "time_point": "6w",
                       "caregiver": "mother", "instance": 1, "version": 1, "input": "scores",
                       "flags": [], "via": "api", "completed_on": "2026-06-20"},
                record_hash="0" * 64) for i in range(n)])
        done += n
    built = time.perf_counter() - t0
    st.close()
    out = _child("--verify-child", url, str(key))
    out["append_rows_per_s"] = round(rows / built)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--families", type=int, default=10_000)
    ap.add_argument("--db", default="sqlite", help="sqlite or a PostgreSQL URL (empty db)")
    ap.add_argument("--keep", type=Path, default=None)
    ap.add_argument("--writes", type=int, default=200)
    ap.add_argument("--export-child", nargs=3, metavar=("URL", "KEY", "FMT"))
    ap.add_argument("--verify-child", nargs=2, metavar=("URL", "KEY"))
    ap.add_argument("--writer", nargs=4, metavar=("URL", "KEY", "N", "SEED"))
    ap.add_argument("--audit-only", type=int, default=0, metavar="ROWS",
                    help="only measure audit verify on a log of ROWS synthetic rows")
    args = ap.parse_args()
    if args.export_child:
        return export_child(*args.export_child)
    if args.verify_child:
        return verify_child(*args.verify_child)
    if args.writer:
        u, k, n, seed = args.writer
        return writer_child(u, k, int(n), int(seed))
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    key = work / "identifier.key"
    url = f"sqlite:///{work / 'scale.db'}" if args.db == "sqlite" else args.db
    result: dict[str, Any] = {"families": args.families, "db": url.split("://")[0]}
    if args.audit_only:
        print(json.dumps(audit_only(url, key, args.audit_only)))
        return None
    if not (args.keep and (work / "built.json").exists()):
        result["build"] = build(url, key, args.families)
        (work / "built.json").write_text(json.dumps(result["build"]))
    print(json.dumps(result), flush=True)
    result["reads"] = reads(url, key, args.families)
    print(json.dumps(result["reads"]), flush=True)
    result["export_csv"] = _child("--export-child", url, str(key), "csv")
    result["export_parquet"] = _child("--export-child", url, str(key), "parquet")
    print(json.dumps([result["export_csv"], result["export_parquet"]]), flush=True)
    result["audit_verify"] = _child("--verify-child", url, str(key))
    print(json.dumps(result["audit_verify"]), flush=True)
    result["writers"] = writers(url, key, args.writes)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
