"""Quick check of the caseload, family list, search and alerts pages at scale (store level).

Builds N families (default 100,000; each an infant, two caregivers and ten assessments, so
1M assessments; 1% with an open urgent flag) by bulk SQL in a SQLite file, then times the
first caseload page, a later page, search by code, by name (blind index) and the alerts page.
The full HTTP benchmark is ``bench_scale.py``; this one isolates the store's queries.

    PYTHONPATH=src python benchmarks/bench_caseload_quick.py --families 100000
    PYTHONPATH=src python benchmarks/bench_caseload_quick.py --families 10000 \
        --db postgresql+psycopg://user@host:port/empty_database
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

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
          f"cpu median {statistics.median(cpu):7.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--families", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--db", default=None, help="an empty database's URL (default: SQLite file)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="caseload-bench-"))
    store = Store.open(args.db or f"sqlite:///{tmp / 'db.sqlite'}", key_path=tmp / "k.key")
    store.init("admin@example.org", "correct horse battery staple")
    t = time.perf_counter()
    actor = build(store, args.families)
    print(f"built {args.families} families / {10 * args.families} assessments "
          f"in {time.perf_counter() - t:.0f} s")
    first = store.families.caseload_page(actor)
    later = store.families.caseload_page(actor, cursor=first["next"])["next"]
    r = args.runs
    timed("caseload first page (+counts)", lambda: store.families.caseload_page(actor), r)
    timed("caseload first page (no counts)", lambda: store.families.caseload_page(actor, counts=False), r)
    timed("caseload third page", lambda: store.families.caseload_page(actor, cursor=later), r)
    timed("search by family code", lambda: store.families.caseload_page(actor, q="F-0054321"), r)
    timed("search by name (blind index)", lambda: store.families.caseload_page(actor, q="surname777"), r)
    timed("alerts first page", lambda: store.care.alerts_page(actor), r)
    timed("filter: overdue", lambda: store.families.caseload_page(actor, overdue=True), r)
    timed("filter: urgent", lambda: store.families.caseload_page(actor, urgent=True), r)
    timed("filter: mine", lambda: store.families.caseload_page(actor, mine=True), r)
    timed("filter: time point 6w", lambda: store.families.caseload_page(actor, time_point="6w"), r)
    if hasattr(store.maintenance, "refresh_caseload"):
        # what the first read of a new day recomputes: the rows whose counts change then
        from attunement.store import schedule_summary

        tomorrow = schedule_summary.today() + timedelta(days=1)
        t = time.perf_counter()
        with store.db.write() as s:
            n = schedule_summary.refresh_stale(s, tomorrow, add_missing=False)
        print(f"next day's refresh: {n} families in {(time.perf_counter() - t) * 1000:.0f} ms")
    store.close()


if __name__ == "__main__":
    main()
