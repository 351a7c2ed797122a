"""Quick check of the caseload, family list, search and alerts pages at scale (store level).

Builds N families (default 100,000; each an infant, two caregivers and ten assessments, so
1M assessments; 1% with an open urgent flag) by bulk SQL in a SQLite file, then times the
first caseload page, a later page, search by code, by name (blind index) and the alerts page.
The full HTTP benchmark is ``bench_scale.py``; this one isolates the store's queries.

    PYTHONPATH=src python benchmarks/bench_caseload_quick.py --families 100000
    PYTHONPATH=src python benchmarks/bench_caseload_quick.py --families 100000 \
        --db postgresql+psycopg://user@host:port/empty_database --keep /tmp/cl100k
    PYTHONPATH=src python benchmarks/bench_caseload_quick.py --reuse --keep /tmp/cl100k \
        --db postgresql+psycopg://user@host:port/empty_database

A new build is measured twice: straight after the bulk load (and the summary's full
rebuild, which refreshes PostgreSQL's statistics), then after ``VACUUM ANALYZE`` (the
visibility map too, as autovacuum gives a running service).
``--reuse`` measures a kept store again without rebuilding it. On PostgreSQL each page's
statements are also run under ``EXPLAIN ANALYZE`` (``--explain RUNS``): the server's own
time per statement, which a loaded machine moves much less than the wall-clock time.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from attunement.store import Store
from attunement.store.models import Alert, Assessment, Caregiver, Family, IdentityLookup, Infant

TPS = [
    {"name": "antenatal", "offset_days": -60, "window_days": 30, "instruments": ["epds"]},
    {"name": "6w", "offset_days": 42, "window_days": 14, "instruments": ["epds", "phq9"]},
    {"name": "3m", "offset_days": 91, "window_days": 14, "instruments": ["gad7"],
     "anchor": "birth_date"},
    {"name": "6m", "offset_days": 182, "window_days": 21, "instruments": ["epds", "gad7"]},
    {"name": "12m", "offset_days": 365, "window_days": 30, "instruments": ["phq9"]},
]


def build(store: Store, n: int) -> tuple:
    system = store.system_actor()
    store.accounts.add_site(system, "North")
    store.accounts.add_study(system, "S", ["North"], TPS)
    user = store.accounts.add_user(system, "p@example.org", "practitioner", ["North"], "x" * 20)
    actor = store.actor(user["id"])
    keys = store.core.keyring()
    today = datetime.now(UTC).date()
    now = datetime.now(UTC)
    with store.db.write() as s:
        s.execute(Family.__table__.insert(), [
            {"site_id": 1, "study_id": 1, "code": f"F-{i:07d}", "placement": "birth_family",
             # registered before every window of the schedule (the workload stays the
             # same as before registration dates existed)
             "context": {}, "registered_on": today - timedelta(days=900)} for i in range(n)])
        s.execute(Infant.__table__.insert(), [
            {"family_id": i + 1, "due_date": today - timedelta(days=i % 500),
             "birth_offset_days": (i % 21) - 10} for i in range(n)])
        s.execute(Caregiver.__table__.insert(), [
            {"family_id": i // 2 + 1, "key": f"cg{i % 2}", "role": "birth_mother", "context": {},
             "variants": {}} for i in range(2 * n)])
        s.execute(IdentityLookup.__table__.insert(), [
            {"family_id": i + 1, "subject_kind": "caregiver", "subject_id": 2 * i + 1,
             "field": "name", "digest": keys.blind_index("name", f"surname{i}")}
            for i in range(n)])
        pairs = [("epds", "antenatal"), ("epds", "6w"), ("phq9", "6w"), ("gad7", "3m"),
                 ("epds", "6m")]
        for start in range(0, 2 * n, 20_000):
            s.execute(Assessment.__table__.insert(), [
                {"family_id": c // 2 + 1, "caregiver_id": c + 1, "instrument": ins,
                 "instrument_version": "1", "time_point": tp, "instance": 1, "version": 1,
                 "input_kind": "scores", "responses": [], "item_scores": [], "scores": {},
                 "flags": [], "submitted_at": now, "completed_on": today - timedelta(days=c % 90)}
                for c in range(start, min(start + 20_000, 2 * n)) for ins, tp in pairs])
        s.execute(Alert.__table__.insert(), [
            {"family_id": i + 1, "caregiver_id": 2 * i + 1, "assessment_id": 10 * i // 2 * 2 + 1,
             "flag_id": "self_harm", "kind": "safety", "label": "x", "reason": "x",
             "status": "open", "created_at": now} for i in range(0, n, 100)])
    with store.db.read() as s:
        assert s.execute(select(Assessment.id).order_by(Assessment.id.desc())).first()[0] == 10 * n
    # rows written in bulk SQL, outside the store: compute the stored schedule once, as
    # `attunement platform refresh-caseload --full` does after such a load
    if hasattr(store.maintenance, "refresh_caseload"):
        t = time.perf_counter()
        store.maintenance.refresh_caseload(full=True)
        print(f"caseload summary rebuilt in {time.perf_counter() - t:.1f} s")
    return actor


def timed(label: str, fn, runs: int = 20) -> None:
    """Wall-clock median and p95, and the median CPU time of this process (on SQLite the
    database's work too: a figure the other jobs of a shared machine move less)."""
    fn()  # warm
    times, cpu = [], []
    for _ in range(runs):
        t, c = time.perf_counter(), time.process_time()
        fn()
        times.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)
    times.sort()
    p95 = times[max(0, round(0.95 * len(times)) - 1)]
    print(f"{label:38s} median {statistics.median(times):8.1f} ms   p95 {p95:8.1f} ms   "
          f"cpu median {statistics.median(cpu):7.1f} ms", flush=True)


def statements(store: Store, fn) -> list[tuple[str, Any]]:
    """The SELECT statements (text, parameters) one call of ``fn`` sends to the database."""
    seen: list[tuple[str, Any]] = []

    def note(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            seen.append((statement, parameters))

    event.listen(store.db.engine, "before_cursor_execute", note)
    try:
        fn()
    finally:
        event.remove(store.db.engine, "before_cursor_execute", note)
    return seen


def server_times(store: Store, label: str, fn, runs: int) -> None:
    """PostgreSQL: each statement of one call of ``fn`` run ``runs`` times under
    ``EXPLAIN (ANALYZE, BUFFERS)``; prints the server's execution time (median and max,
    planning included) and the buffers read from outside PostgreSQL's cache on the last run.
    These times are the server's own, so they move little with the load of the machine."""
    print(f"  {label}", flush=True)
    for sql, params in statements(store, fn):
        took, read = [], 0
        with store.db.engine.connect() as conn:
            for _ in range(runs):
                plan = conn.exec_driver_sql(
                    "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, params).scalar_one()
                top = plan[0]
                took.append(top["Planning Time"] + top["Execution Time"])
                read = top["Plan"].get("Shared Read Blocks", 0)
        first = " ".join(sql.split())[:70]
        print(f"    {statistics.median(took):7.2f} ms (max {max(took):7.2f})  read {read:5d}  "
              f"{first}", flush=True)


def vacuum_analyze(store: Store) -> None:
    """What autovacuum gives a running service after a bulk load: the planner's statistics
    and (PostgreSQL) the visibility map; SQLite: ``ANALYZE``."""
    t = time.perf_counter()
    with store.db.engine.connect() as conn:
        if store.db.dialect == "postgresql":
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
        else:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
    print(f"VACUUM ANALYZE in {time.perf_counter() - t:.1f} s", flush=True)


def measure(store: Store, actor, runs: int, explain: int) -> None:
    first = store.families.caseload_page(actor)
    later = store.families.caseload_page(actor, cursor=first["next"])["next"]
    pages = [
        ("caseload first page (+counts)", lambda: store.families.caseload_page(actor)),
        ("caseload first page (no counts)",
         lambda: store.families.caseload_page(actor, counts=False)),
        ("caseload third page", lambda: store.families.caseload_page(actor, cursor=later)),
        ("search by family code", lambda: store.families.caseload_page(actor, q="F-0054321")),
        ("search by name (blind index)",
         lambda: store.families.caseload_page(actor, q="surname777")),
        ("alerts first page", lambda: store.care.alerts_page(actor)),
        ("filter: overdue", lambda: store.families.caseload_page(actor, overdue=True)),
        ("filter: urgent", lambda: store.families.caseload_page(actor, urgent=True)),
        ("filter: mine", lambda: store.families.caseload_page(actor, mine=True)),
        ("filter: time point 6w", lambda: store.families.caseload_page(actor, time_point="6w")),
    ]
    for label, fn in pages:
        timed(label, fn, runs)
    if explain and store.db.dialect == "postgresql":
        print(f"server time of each statement (EXPLAIN ANALYZE, {explain} runs):")
        for label, fn in pages:
            server_times(store, label, fn, explain)


def next_day_refresh(store: Store) -> None:
    """What the first read of a new day recomputes (the rows whose counts change then),
    timed and rolled back, so a kept store stays as built."""
    from attunement.store import schedule_summary

    tomorrow = schedule_summary.today() + timedelta(days=1)
    t = time.perf_counter()
    with store.db.engine.connect() as conn, Session(conn) as s:
        n = schedule_summary.refresh_stale(s, tomorrow, add_missing=False)
        s.flush()
        took = time.perf_counter() - t
        conn.rollback()
    print(f"next day's refresh: {n} families in {took * 1000:.0f} ms (rolled back)")


def submissions(store: Store, actor, families: int, n: int) -> None:
    """One submission's cost with the caseload's upkeep (its commit hook recomputes the
    family's summary row and changes the counts): ``n`` questionnaires, each for another
    family, then the hook alone (``schedule_summary.refresh`` of one family, rolled back)."""
    from attunement.store import schedule_summary
    from attunement.usecases import assessments as uc_assessments

    rng = random.Random()
    picked = rng.sample(range(1, families + 1), n)
    wall, cpu = [], []
    for fid in picked:
        t, c = time.perf_counter(), time.process_time()
        uc_assessments.submit_assessment(store, actor, fid, "cg0", "gad7", "6m", [0] * 7)
        wall.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)
    hook, hook_cpu = [], []
    for fid in picked:
        with store.db.engine.connect() as conn, Session(conn) as s:
            t, c = time.perf_counter(), time.process_time()
            schedule_summary.refresh(s, [fid])
            hook.append((time.perf_counter() - t) * 1000)
            hook_cpu.append((time.process_time() - c) * 1000)
            conn.rollback()
    print(f"one submission ({n})                     median {statistics.median(wall):8.1f} ms   "
          f"cpu median {statistics.median(cpu):7.1f} ms")
    print(f"  its commit hook (one family's refresh) median {statistics.median(hook):6.1f} ms   "
          f"cpu median {statistics.median(hook_cpu):7.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--families", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--db", default=None, help="an empty database's URL (default: SQLite file)")
    ap.add_argument("--keep", type=Path, default=None,
                    help="keep the key file (and the SQLite file) here, to --reuse the store")
    ap.add_argument("--reuse", action="store_true",
                    help="measure the store built earlier with the same --keep and --db")
    ap.add_argument("--vacuum", action="store_true",
                    help="with --reuse: run VACUUM ANALYZE before measuring")
    ap.add_argument("--writes", type=int, default=0, metavar="N",
                    help="then time N submissions (each adds an assessment to the store)")
    ap.add_argument("--explain", type=int, default=5, metavar="RUNS",
                    help="PostgreSQL: server time of each statement over RUNS runs (0: none)")
    args = ap.parse_args()
    if args.reuse and args.keep is None:
        ap.error("--reuse needs --keep DIR (where the store's key file was kept)")
    work = args.keep or Path(tempfile.mkdtemp(prefix="caseload-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    marker = work / "built.json"
    url = args.db or f"sqlite:///{work / 'db.sqlite'}"
    store = Store.open(url, key_path=work / "k.key")
    if args.reuse:
        if not marker.exists():
            ap.error(f"{marker} does not exist: build the store first (without --reuse)")
        built = json.loads(marker.read_text())
        if built["db"] != store.db.url.split("@")[-1]:
            ap.error(f"{work} holds the store of {built['db']}, not of this --db")
        actor = store.actor(built["user_id"])
        print(f"reusing {built['families']} families built on {built['built_on']}")
        if args.vacuum:
            vacuum_analyze(store)
        measure(store, actor, args.runs, args.explain)
    else:
        store.init("admin@example.org", "correct horse battery staple")
        t = time.perf_counter()
        actor = build(store, args.families)
        print(f"built {args.families} families / {10 * args.families} assessments "
              f"in {time.perf_counter() - t:.0f} s", flush=True)
        marker.write_text(json.dumps({
            "db": store.db.url.split("@")[-1], "user_id": actor.user_id,
            "families": args.families, "built_on": datetime.now(UTC).isoformat()}))
        print("-- straight after the bulk build and refresh_caseload(full=True) (which runs "
              "ANALYZE on PostgreSQL), before any VACUUM")
        measure(store, actor, args.runs, args.explain)
        print("-- steady state: after VACUUM ANALYZE (what autovacuum gives a running service)")
        vacuum_analyze(store)
        measure(store, actor, args.runs, args.explain)
    next_day_refresh(store)
    if args.writes:
        built = json.loads(marker.read_text())
        submissions(store, actor, built["families"], args.writes)
    store.close()


if __name__ == "__main__":
    main()
