"""Benchmark: ``audit verify`` of a long synthetic audit log (1M or 10M rows), SQLite or
PostgreSQL, reporting rows/s.

The log is NOT built through the store's writer (that would take hours at 10M rows): the
rows are inserted directly in bulk (``executemany`` on SQLite, ``COPY`` on PostgreSQL) with
correct keyed hashes computed by the store's own :func:`attunement.store.audit.keyed_row_hash`
under the store's chain key, continuing the chain that ``Store.init`` began, and the chain
head is moved to the last row. Each row is the size of an assessment's audit row (a record
hash, a short ``after``). Verification then runs in a fresh process, as ``audit verify``
does (``Store.maintenance.verify_audit``: chain and records), and once more with one worker
for comparison.

Usage::

    PYTHONPATH=src python benchmarks/bench_audit_verify.py --rows 1000000
    PYTHONPATH=src python benchmarks/bench_audit_verify.py --rows 1000000 \\
        --db postgresql+psycopg://postgres@127.0.0.1:PORT/bench
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

PASSWORD = "benchmark passphrase long enough"
BATCH = 50_000


def _rows(key: bytes, first_id: int, prev_hash: str, n: int) -> Any:
    """Chain rows ``first_id ..`` as tuples of the insert's columns, in batches."""
    from attunement.store import audit

    at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    batch = []
    for i in range(first_id, first_id + n):
        fields = {
            "id": i, "at": at, "actor_id": 1 + i % 50, "actor_email": f"p{i % 50}@example.org",
            "actor_role": "practitioner", "action": "create", "entity": "note",
            "entity_id": str(i), "family_id": 1 + i % 100_000, "site_id": 1 + i % 10,
            "before": None,
            "after": audit.canonical({
                "instrument": "epds", "instrument_version": "1987", "time_point": "6w",
                "caregiver": i % 200_000, "instance": 1, "version": 1, "input": "scores",
                "flags": [], "via": "api", "completed_on": "2026-06-20"}),
            "reason": None, "client": "web", "record_hash": f"{i:064x}",
        }
        digest = audit.keyed_row_hash(key, prev_hash, fields)
        batch.append((*(fields[k] for k in audit.KEYED_FIELDS), prev_hash, digest))
        prev_hash = digest
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def build(url: str, key_path: Path, n: int) -> dict[str, Any]:
    """A new store with ``n`` synthetic chain rows after its own; seconds taken."""
    from attunement.store import Store, audit

    st = Store.open(url, key_path=key_path)
    st.init("admin@example.org", PASSWORD)
    key = st.core.keys_for_rows().audit_chain
    t0 = time.perf_counter()
    cols = [*audit.KEYED_FIELDS, "prev_hash", "hash"]
    with st.core.db.write() as s:
        last_id, last_hash = s.connection().exec_driver_sql(
            "SELECT last_id, last_hash FROM audit_head WHERE id = 1").one()
        raw = s.connection().connection.driver_connection
        postgres = st.dialect == "postgresql"
        cur = raw.cursor()
        for batch in _rows(key, last_id + 1, last_hash, n):
            if postgres:
                with cur.copy(f"COPY audit_log ({', '.join(cols)}) FROM STDIN") as copy:
                    for row in batch:
                        copy.write_row(row)
            else:
                cur.executemany(
                    f"INSERT INTO audit_log ({', '.join(cols)}) "
                    f"VALUES ({', '.join('?' * len(cols))})", batch)
            last_id, last_hash = batch[-1][0], batch[-1][-1]
        mark = "%s" if postgres else "?"
        cur.execute(f"UPDATE audit_head SET last_id = {mark}, last_hash = {mark} WHERE id = 1",
                    (last_id, last_hash))
    st.close()
    return {"rows_added": n, "build_s": round(time.perf_counter() - t0, 1)}


def verify_child(url: str, key: str, workers: str) -> None:
    """One full ``audit verify`` in this process; print rows, seconds, rows/s, CPU."""
    from attunement.store import Store
    from attunement.store.maintenance import verify_audit

    st = Store.open(url, key_path=Path(key))
    t0, c0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    report = verify_audit(st.core, workers=int(workers))
    took = time.perf_counter() - t0
    c1, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(
        resource.RUSAGE_CHILDREN)
    st.close()
    print(json.dumps({
        "workers": int(workers), "ok": report.ok, "rows": report.rows,
        "seconds": round(took, 2), "rows_per_s": round(report.rows / took),
        "cpu_main_s": round(c1.ru_utime + c1.ru_stime - c0.ru_utime - c0.ru_stime, 2),
        "cpu_workers_s": round(kids.ru_utime + kids.ru_stime, 2)}))


def _child(*args: str) -> dict[str, Any]:
    r = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True,
                       check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--db", default="sqlite", help="sqlite or a PostgreSQL URL (empty db)")
    ap.add_argument("--keep", type=Path, default=None, help="reuse the log built there")
    ap.add_argument("--workers", default="2,1", help="worker counts to time, in order")
    ap.add_argument("--verify-child", nargs=3, metavar=("URL", "KEY", "WORKERS"))
    args = ap.parse_args()
    if args.verify_child:
        return verify_child(*args.verify_child)
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-audit-"))
    work.mkdir(parents=True, exist_ok=True)
    key = work / "identifier.key"
    url = f"sqlite:///{work / 'audit.db'}" if args.db == "sqlite" else args.db
    out: dict[str, Any] = {"db": url.split("://")[0], "work": str(work)}
    if not (args.keep and (work / "built.json").exists()):
        out.update(build(url, key, args.rows))
        (work / "built.json").write_text(json.dumps(out))
    print(json.dumps(out), flush=True)
    for w in args.workers.split(","):
        print(json.dumps(_child("--verify-child", url, str(key), w)), flush=True)
    return None


if __name__ == "__main__":
    main()
