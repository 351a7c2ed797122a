"""Benchmark: ``audit verify`` of a long audit log (1M or 10M rows), SQLite or PostgreSQL,
reporting rows/s.

Two kinds of log (``--log``):

- ``real`` (the default): a real store's log. A base store of ``--families`` families is
  built by the bulk builder (``benchmarks/_bulk.py``: the store's own rows, scoring,
  encryption and audit chain), then its families' audit rows and assessments are stamped
  out again until the log has ``--rows`` rows: each copy of an assessment gets a new id and
  the next ``instance`` (a repeat at the same time point), its audit row the new id,
  ``instance`` and ``record_hash`` (the SHA-256 of the copy's canonical JSON, as the store
  computes it), and every row a new id and keyed hash continuing the chain. About three
  rows in four write an assessment whose record ``audit verify`` re-hashes, as in a store
  built through the API.
- ``chain``: rows the size of an assessment's audit row but naming no record (the chain
  alone).

Neither is written through the store's writer (that would take hours at 10M rows): the
rows are inserted in bulk (``executemany`` on SQLite, ``COPY`` on PostgreSQL) with keyed
hashes computed by the store's own :func:`attunement.store.audit.keyed_row_hash` under the
store's chain key, and the chain head is moved to the last row.
``tests/benchmarks/test_bench_audit_verify.py`` shows a stamped log verifies and that an
edited copy is found. Verification then runs in a fresh process, as ``audit verify`` does
(``Store.maintenance.verify_audit``: chain and records), and once more with one worker for
comparison.

Usage::

    PYTHONPATH=src python benchmarks/bench_audit_verify.py --rows 1000000
    PYTHONPATH=src python benchmarks/bench_audit_verify.py --rows 10000000 --workers 2 \\
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


def _insert(cur: Any, postgres: bool, table: str, cols: list[str] | tuple[str, ...],
            rows: list[tuple]) -> None:
    """Bulk-insert ``rows`` into ``table``: ``COPY`` on PostgreSQL, ``executemany`` on SQLite."""
    if postgres:
        with cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    else:
        cur.executemany(f"INSERT INTO {table} ({', '.join(cols)}) "
                        f"VALUES ({', '.join('?' * len(cols))})", rows)


def _move_head(cur: Any, postgres: bool, last_id: int, last_hash: str) -> None:
    """Point the chain head at the last row written."""
    mark = "%s" if postgres else "?"
    cur.execute(f"UPDATE audit_head SET last_id = {mark}, last_hash = {mark} WHERE id = 1",
                (last_id, last_hash))


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
            _insert(cur, postgres, "audit_log", cols, batch)
            last_id, last_hash = batch[-1][0], batch[-1][-1]
        _move_head(cur, postgres, last_id, last_hash)
    st.close()
    return {"rows_added": n, "build_s": round(time.perf_counter() - t0, 1)}


def _stamped(key: bytes, head: tuple[int, str], templates: list[tuple],
             assessments: dict[int, tuple], first_assessment: int, n: int) -> Any:
    """``n`` audit rows continuing the chain from ``head``, stamped from ``templates`` (rows
    of ``KEYED_FIELDS``) over and over; in batches of (assessment rows, audit rows)."""
    import hashlib

    from attunement.store import audit
    from attunement.store.audit_hash import ASSESSMENT_FIELDS
    from attunement.store.audit_records import stored_text

    at = {k: i for i, k in enumerate(audit.KEYED_FIELDS)}
    instance, skey = ASSESSMENT_FIELDS.index("instance"), ASSESSMENT_FIELDS.index(
        "submission_key")
    last_id, last_hash = head
    next_a, copy, done = first_assessment, 0, 0
    rows: list[tuple] = []
    records: list[tuple] = []
    while done < n:
        copy += 1
        for t in templates:
            if done == n:
                break
            fields = dict(zip(audit.KEYED_FIELDS, t, strict=True))
            fields["id"] = last_id + 1
            if t[at["entity"]] == "assessment" and t[at["action"]] == "create":
                a = list(assessments[int(t[at["entity_id"]])])
                a[0], a[instance] = next_a, a[instance] + copy
                if a[skey] is not None:
                    a[skey] = f"{a[skey]}.{copy}"
                after = json.loads(t[at["after"]])
                after["instance"] = a[instance]
                fields.update(entity_id=str(next_a), after=audit.canonical(after),
                              record_hash=hashlib.sha256(
                                  stored_text(tuple(a)).encode()).hexdigest())
                records.append(tuple(a))
                next_a += 1
            digest = audit.keyed_row_hash(key, last_hash, fields)
            rows.append((*fields.values(), last_hash, digest))
            last_id, last_hash = fields["id"], digest
            done += 1
            if len(rows) == BATCH:
                yield records, rows
                records, rows = [], []
    if rows:
        yield records, rows


def build_real(url: str, key_path: Path, n: int, families: int) -> dict[str, Any]:
    """A store of ``families`` families built in bulk, its log stamped out to ``n`` rows
    (module docstring); seconds taken."""
    import hashlib

    import _bulk
    from attunement.store import Store, audit
    from attunement.store.audit_hash import ASSESSMENT_FIELDS
    from attunement.store.audit_records import _select_sql, stored_text

    st = Store.open(url, key_path=key_path)
    t0 = time.perf_counter()
    plan = _bulk.Plan(families=families)
    admin, _ = _bulk.setup(st, plan)
    _bulk.build_bulk(st, admin, plan)
    base_s = time.perf_counter() - t0
    key = st.core.keys_for_rows().audit_chain
    postgres = st.dialect == "postgresql"
    t1 = time.perf_counter()
    with st.core.db.write() as s:
        raw = s.connection().connection.driver_connection
        cur = raw.cursor()
        head = tuple(cur.execute("SELECT last_id, last_hash FROM audit_head WHERE id = 1"
                                 ).fetchone())
        # the records as the verifier reads them (JSON columns as their stored text)
        assessments = {r[0]: tuple(r[:len(ASSESSMENT_FIELDS)]) for r in cur.execute(
            _select_sql(st.dialect), (0, 2**62)).fetchall()}
        templates = [tuple(r) for r in cur.execute(
            f"SELECT {', '.join(audit.KEYED_FIELDS)} FROM audit_log WHERE family_id IS NOT "
            "NULL AND entity NOT IN ('consent', 'trial_allocation') ORDER BY id").fetchall()]
        rec = audit.KEYED_FIELDS.index("record_hash")
        for t in templates:  # the base store's records hash as its audit rows say
            if t[audit.KEYED_FIELDS.index("entity")] == "assessment":
                text = stored_text(assessments[int(t[audit.KEYED_FIELDS.index("entity_id")])])
                assert hashlib.sha256(text.encode()).hexdigest() == t[rec]
        cols = [*audit.KEYED_FIELDS, "prev_hash", "hash"]
        for records, rows in _stamped(key, head, templates, assessments,
                                      max(assessments) + 1, max(0, n - head[0])):
            _insert(cur, postgres, "assessments", ASSESSMENT_FIELDS, records)
            _insert(cur, postgres, "audit_log", cols, rows)
            head = (rows[-1][0], rows[-1][-1])
            print(f"  {head[0]:,} rows", file=sys.stderr, flush=True)
        _move_head(cur, postgres, *head)
    if postgres:
        _bulk.analyse(st)
    st.close()
    return {"log": "real", "families": families, "rows": head[0],
            "base_s": round(base_s, 1), "stamp_s": round(time.perf_counter() - t1, 1)}


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
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows in the log")
    ap.add_argument("--log", choices=("real", "chain"), default="real",
                    help="a real store's log (stamped) or chain rows only")
    ap.add_argument("--families", type=int, default=1000,
                    help="families of the base store a real log is stamped from")
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
        if args.log == "real":
            out.update(build_real(url, key, args.rows, args.families))
        else:
            out.update(build(url, key, args.rows))
        (work / "built.json").write_text(json.dumps(out))
    print(json.dumps(out), flush=True)
    for w in args.workers.split(","):
        print(json.dumps(_child("--verify-child", url, str(key), w)), flush=True)
    return None


if __name__ == "__main__":
    main()
