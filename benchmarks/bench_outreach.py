"""Outreach at scale on PostgreSQL: planning one day's messages and the workers' throughput.

Target (issue 14): plan and queue one day's invitations for 100,000 families with a due
questionnaire in at most 60 s. Then the delivery throughput of one worker and of two worker
processes against a local SMTP server (aiosmtpd on 127.0.0.1): each delivery creates the
caregiver's one-time link, decrypts the address, sends the e-mail over SMTP and records the
result (two audited writes), so this is the whole path, not a queue benchmark.

The families are built with bulk SQL (``INSERT … SELECT generate_series``; the caregivers'
encrypted e-mail addresses with the store's own key ring) because registering 100,000 families
one by one through ``Store.families.create_family`` (validation, audit, encryption per family) takes far
longer than the thing measured. Everything after that goes through the product code.

``ATTUNEMENT_BENCH_FAMILIES`` (default 100000) and ``ATTUNEMENT_BENCH_SECONDS`` (default 20,
per worker phase) change the sizes.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

FAMILIES = int(os.environ.get("ATTUNEMENT_BENCH_FAMILIES", "100000"))
SECONDS = float(os.environ.get("ATTUNEMENT_BENCH_SECONDS", "20"))
TARGET_PLAN_SECONDS = 60.0
NOW = datetime(2026, 10, 18, 9, 0, tzinfo=UTC)  # the day the 6w window opens (below)


def _build(url: str, key: Path) -> None:
    from sqlalchemy import text

    from attunement.store import Store
    from attunement.store.models import Identity

    store = Store.open(url, key_path=key)
    store.init("admin@example.org", "a long benchmark passphrase")
    system = store.system_actor()
    site = store.accounts.add_site(system, "North")
    study = store.accounts.add_study(system, "Bench", ["North"], [
        {"name": "6w", "offset_days": 42, "window_days": 14, "instruments": ["epds"]}])
    keys = store.core.keyring()
    with store.db.write() as s:
        s.execute(text(
            "INSERT INTO families (site_id, study_id, code, placement, context, created_at) "
            "SELECT :site, :study, 'B-' || g, 'birth_family', '{}', now() "
            "FROM generate_series(1, :n) g"), {"site": site["id"], "study": study["id"],
                                                "n": FAMILIES})
        s.execute(text("INSERT INTO infants (family_id, due_date) SELECT id, :due FROM families"),
                  {"due": date(2026, 9, 20)})
        s.execute(text(
            "INSERT INTO caregivers (family_id, key, role, context, variants, joined_on) "
            "SELECT id, 'mother', 'birth_mother', '{}', '{}', :d FROM families"),
            {"d": date(2026, 9, 1)})
        rows = s.execute(text("SELECT id, family_id FROM caregivers")).all()
        s.execute(Identity.__table__.insert(), [
            {"family_id": fam, "subject_kind": "caregiver", "subject_id": cg,
             "ciphertext": keys.encrypt({"email": f"c{cg}@example.net"}, f"caregiver:{cg}"),
             "key_id": keys.key_id} for cg, fam in rows])
    with store.db.engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
        conn.commit()
    store.close()


def _deliver(url: str, key: str, smtp_port: int, name: str, seconds: float,
             start: mp.Event, out: mp.Queue) -> None:  # type: ignore[valid-type]
    from attunement.outreach import OutreachConfig, Worker
    from attunement.store import Store

    store = Store.open(url, key_path=key)
    worker = Worker(store, OutreachConfig(smtp_host="127.0.0.1", smtp_port=smtp_port),
                    name=name)
    start.wait()
    deadline = time.perf_counter() + seconds
    sent = 0
    while time.perf_counter() < deadline:
        for m in worker.records.claim(worker.name, NOW, limit=10):
            sent += worker._deliver(m, NOW)["status"] == "sent"
    out.put(sent)
    store.close()


def _phase(url: str, key: Path, smtp_port: int, n_workers: int) -> float:
    ctx = mp.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_deliver, args=(url, str(key), smtp_port, f"w{i}", SECONDS,
                                                 start, out)) for i in range(n_workers)]
    for p in procs:
        p.start()
    time.sleep(3)  # let the processes import and connect before the clock starts
    start.set()
    sent = sum(out.get(timeout=SECONDS + 120) for _ in procs)
    for p in procs:
        p.join()
    return sent / SECONDS


def main() -> bool:
    from aiosmtpd.controller import Controller
    from sqlalchemy import text

    from attunement.outreach import OutreachConfig, Worker
    from attunement.store import Store
    from bench_web import _free_port, _start_postgres

    workdir = Path(tempfile.mkdtemp(prefix="attunement-bench-outreach-"))
    pg = _start_postgres(workdir)
    if pg is None:
        print("PostgreSQL not installed (initdb/pg_ctl): skipped")
        shutil.rmtree(workdir, ignore_errors=True)
        return True
    url, prefix, pg_ctl, data = pg
    key = workdir / "identifier.key"

    class Sink:
        received = 0
        keys: set[str] = set()

        async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
            Sink.received += 1
            for line in envelope.content.splitlines():
                if line.lower().startswith(b"message-id:"):
                    # <time.pid.random.REFERENCE@attunement>: the message's opaque reference
                    Sink.keys.add(line.decode().split("@")[0].rsplit(".", 1)[-1])
            return "250 OK"

    smtp = Controller(Sink(), hostname="127.0.0.1", port=_free_port())
    smtp.start()
    try:
        t0 = time.perf_counter()
        _build(url, key)
        print(f"built {FAMILIES:,} families with a due questionnaire (bulk SQL) in "
              f"{time.perf_counter() - t0:.1f} s; {os.cpu_count()} CPUs")
        store = Store.open(url, key_path=key)
        worker = Worker(store, OutreachConfig(smtp_host="127.0.0.1", smtp_port=smtp.port))
        t0 = time.perf_counter()
        snapshot = worker.records.schedule_snapshot(NOW.date())
        t_snap = time.perf_counter() - t0
        queued = worker.plan(NOW)
        t_plan = time.perf_counter() - t0
        t1 = time.perf_counter()
        again = worker.plan(NOW)
        t_again = time.perf_counter() - t1
        store.close()
        ok = len(queued) == FAMILIES and not again and t_plan <= TARGET_PLAN_SECONDS
        print(f"plan + queue one day: {len(queued):,} invitations in {t_plan:.1f} s "
              f"(schedule snapshot {t_snap:.1f} s of it, {len(snapshot):,} items due); "
              f"target <= {TARGET_PLAN_SECONDS:.0f} s: {'met' if ok else 'MISSED'}")
        print(f"planning again at the same moment: {len(again)} queued in {t_again:.1f} s "
              "(idempotent)")
        one = _phase(url, key, smtp.port, 1)
        print(f"delivery, 1 worker process:  {one:6.1f} messages/s")
        two = _phase(url, key, smtp.port, 2)
        print(f"delivery, 2 worker processes: {two:6.1f} messages/s ({two / one:.2f} x)")
        store = Store.open(url, key_path=key)
        with store.db.read() as s:
            counts = dict(s.execute(text(
                "SELECT status, count(*) FROM outreach_messages GROUP BY status")).all())
        store.close()
        dupes = Sink.received - len(Sink.keys)
        print(f"messages by status: {counts}; SMTP received {Sink.received:,}, "
              f"duplicates {dupes}")
        return ok and dupes == 0 and counts.get("sent", 0) == Sink.received
    finally:
        smtp.stop()
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "fast", "stop"],
                       capture_output=True)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
