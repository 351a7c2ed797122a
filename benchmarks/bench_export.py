"""Benchmark: the streamed assessment export (issue 17: 1M assessments in <= 60 s and
<= 300 MB), SQLite or PostgreSQL, CSV or Parquet; wall time, CPU and memory of the exporting
process.

The store is NOT built through ``add_assessments`` for every row (that runs at a few hundred
assessments a second: more than an hour for 1M). ``Store.init``, the sites, the study and
a few dozen families with their assessments go through the store's API (identifiers
encrypted, responses scored, flags raised, audited); those scored assessments are the
templates. The rest is inserted in bulk (SQLAlchemy Core ``executemany``) with the store's
own tables: ten assessments per family (EPDS at three time points and PHQ-9 at two, for two
caregivers) copied from a random template of their instrument, dates varied per family,
and each infant's date of birth encrypted with the store's key ring (``KeyRing.encrypt``,
bound to ``infant:{id}`` as the store binds it), so the export decrypts real ciphertext and
computes real keyed pseudonyms. The bulk rows have no audit rows and no blind index (the
export reads neither).

The export runs in a fresh process (``--child``) as the store's administrator, pseudonymised
(a researcher's export) unless ``--identified``, to ``/dev/null`` through
``attunement.usecases.exports.export_stream``. The child reports its resident memory (VmRSS) at each
stage before the first row, so the base is accounted for: the interpreter, the store's
imports (SQLAlchemy, cryptography, the domain libraries), the open store, pandas and
pyarrow, then the peak (VmHWM) over the export.

Usage::

    PYTHONPATH=src python benchmarks/bench_export.py --assessments 1000000 --format csv
    PYTHONPATH=src python benchmarks/bench_export.py --assessments 1000000 --format parquet \\
        --db postgresql+psycopg://postgres@127.0.0.1:PORT/bench --keep /tmp/exp-pg
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

PASSWORD = "benchmark passphrase long enough"
SITES = 10
TEMPLATE_FAMILIES = 100
BATCH = 20_000
TIME_POINTS = [
    {"name": "baseline", "offset_days": -60, "window_days": 30, "instruments": ["epds"]},
    {"name": "6w", "offset_days": 42, "window_days": 14, "instruments": ["epds", "phq9"]},
    {"name": "6m", "offset_days": 180, "window_days": 30, "instruments": ["epds", "phq9"]},
]
# per caregiver: (instrument, time point, days after the due date)
PLAN = [("epds", "baseline", -60), ("epds", "6w", 42), ("epds", "6m", 180),
        ("phq9", "6w", 44), ("phq9", "6m", 182)]
ITEMS = {"epds": (10, 3), "phq9": (9, 3)}


def _rss_mb(field: str = "VmRSS") -> float:
    """This process's resident memory (``VmRSS``) or its peak (``VmHWM``), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _templates(st: Any, admin: Any, rng: random.Random) -> dict[str, list[dict[str, Any]]]:
    """Scored assessments made through the store's API, by instrument."""
    from sqlalchemy import select

    from attunement.store import Submission
    from attunement.store.models import Assessment
    from attunement.usecases import assessments as uc_assessments
    from attunement.usecases import families as uc_families

    subs = []
    for n in range(TEMPLATE_FAMILIES):
        doc = uc_families.register_family(st, admin, {
            "family_id": f"T{n:04d}", "site": f"Site {n % SITES}", "study": "Nation",
            "assessed_on": "2026-06-20",
            "infant": {"due_date": "2026-06-20", "date_of_birth": "2026-06-15",
                       "name": f"Infant {n}"},
            "placement": "birth_family", "context": {},
            "caregivers": [
                {"id": "mother", "role": "birth_mother", "age": 20 + n % 20, "name": f"M {n}"},
                {"id": "father", "role": "birth_father", "age": 22 + n % 20, "name": f"F {n}"},
            ],
        })
        for carer in ("mother", "father"):
            for inst, tp, _ in PLAN:
                items, top = ITEMS[inst]
                subs.append(Submission(admin, doc["id"], carer, inst, tp,
                                       [rng.randint(0, top) for _ in range(items)]))
    for r in uc_assessments.submit_assessments(st, subs):
        if isinstance(r, Exception):
            raise r
    cols = ("instrument", "instrument_version", "input_kind", "responses", "item_scores",
            "scores", "flags", "submitted_via")
    out: dict[str, list[dict[str, Any]]] = {}
    with st.db.read() as s:
        for row in s.execute(select(*(getattr(Assessment, c) for c in cols))):
            out.setdefault(row.instrument, []).append(dict(zip(cols, row, strict=True)))
    return out


def _next_id(s: Any, table: Any) -> int:
    from sqlalchemy import func, select

    return int(s.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one()) + 1


def build(url: str, key_path: Path, assessments: int, seed: int = 17) -> dict[str, Any]:
    """A store with about ``assessments`` assessments (ten per family); seconds taken."""
    from attunement.store import Store
    from attunement.store.models import (
        Assessment,
        Caregiver,
        Family,
        Identity,
        Infant,
        Site,
        Study,
    )

    rng = random.Random(seed)
    t0 = time.perf_counter()
    st = Store.open(url, key_path=key_path)
    st.init("admin@example.org", PASSWORD)
    system = st.system_actor()
    for i in range(SITES):
        st.accounts.add_site(system, f"Site {i}")
    st.accounts.add_study(system, "Nation", [f"Site {i}" for i in range(SITES)], TIME_POINTS)
    admin = st.accounts.authenticate("admin@example.org", PASSWORD)
    templates = _templates(st, admin, rng)
    keys = st.core.keyring()
    fam_t, inf_t, cg_t = Family.__table__, Infant.__table__, Caregiver.__table__
    id_t, a_t = Identity.__table__, Assessment.__table__
    families = max(0, -(-assessments // 10) - TEMPLATE_FAMILIES)
    with st.db.write() as s:
        from sqlalchemy import select

        sites = list(s.execute(select(Site.id)).scalars())
        study = s.execute(select(Study.id)).scalar_one()
        fid, iid, cid, aid = (_next_id(s, t) for t in (fam_t, inf_t, cg_t, a_t))
    start = date(2025, 1, 1)
    done = 0
    while done < families:
        n = min(BATCH // 10, families - done)
        fams, infs, cgs, idents, rows = [], [], [], [], []
        for k in range(n):
            f, i = fid + k, iid + k
            due = start + timedelta(days=rng.randrange(600))
            born = due + timedelta(days=rng.randrange(-21, 14))
            fams.append({"id": f, "site_id": sites[f % len(sites)], "study_id": study,
                         "code": f"F{f:08d}", "placement": "birth_family", "context": {},
                         "assessed_on": due, "registered_on": due - timedelta(days=90)})
            infs.append({"id": i, "family_id": f, "due_date": due,
                         "gestation_weeks": None if f % 7 == 0 else 37.0 + f % 5})
            idents.append({"family_id": f, "subject_kind": "infant", "subject_id": i,
                           "ciphertext": keys.encrypt({"date_of_birth": born.isoformat(),
                                                       "name": f"Infant {f}"}, f"infant:{i}"),
                           "key_id": keys.key_id})
            for carer, role in (("mother", "birth_mother"), ("father", "birth_father")):
                c = cid
                cid += 1
                cgs.append({"id": c, "family_id": f, "key": carer, "role": role,
                            "age": None if f % 11 == 0 else 18 + f % 25, "context": {},
                            "variants": {}})
                for inst, tp, offset in PLAN:
                    t = rng.choice(templates[inst])
                    rows.append({**t, "id": aid, "family_id": f, "caregiver_id": c,
                                 "time_point": tp, "instance": 1, "version": 1,
                                 "completed_on": due + timedelta(days=offset + rng.randrange(7)),
                                 "submitted_by": admin.user_id})
                    aid += 1
        with st.db.write() as s:
            for table, batch in ((fam_t, fams), (inf_t, infs), (id_t, idents), (cg_t, cgs),
                                 (a_t, rows)):
                s.execute(table.insert(), batch)
        fid, iid, done = fid + n, iid + n, done + n
    with st.db.read() as s:
        from sqlalchemy import func, select

        total = int(s.execute(select(func.count()).select_from(a_t)).scalar_one())
    st.close()
    if url.startswith("postgresql"):
        _analyse(url)
    return {"assessments": total, "families": families + TEMPLATE_FAMILIES,
            "build_s": round(time.perf_counter() - t0, 1)}


def _analyse(url: str) -> None:
    """Fresh planner statistics after the bulk load (as autovacuum would give later)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as c:
        c.execute(text("ANALYZE"))
    engine.dispose()


def child(url: str, key: str, fmt: str, pseudonymise: bool, chunk: int) -> None:
    """One streamed export to /dev/null in this process; print its figures as JSON."""
    stages = {"interpreter_mb": round(_rss_mb(), 1)}
    from attunement.store import Store
    from attunement.usecases import exports as uc_exports

    stages["store_imported_mb"] = round(_rss_mb(), 1)
    st = Store.open(url, key_path=Path(key))
    admin = st.accounts.authenticate("admin@example.org", PASSWORD)
    stages["store_open_mb"] = round(_rss_mb(), 1)
    c0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    plan, body = uc_exports.export_stream(st, admin, fmt=fmt, pseudonymise=pseudonymise,
                                          chunk=chunk)
    size, first = 0, None
    for part in body:
        if first is None:
            first = time.perf_counter() - t0
            stages["first_part_mb"] = round(_rss_mb(), 1)
        size += len(part)
    took = time.perf_counter() - t0
    c1 = resource.getrusage(resource.RUSAGE_SELF)
    st.close()
    modules = sorted({m.split(".")[0] for m in sys.modules} & {
        "pandas", "pyarrow", "numpy", "scipy", "statsmodels", "sklearn", "matplotlib"})
    print(json.dumps({
        "format": fmt, "pseudonymised": pseudonymise, "chunk": chunk, "rows": plan.rows,
        "bytes": size, "seconds": round(took, 2), "first_part_s": round(first or 0, 2),
        "cpu_s": round(c1.ru_utime + c1.ru_stime - c0.ru_utime - c0.ru_stime, 2),
        "rows_per_s": round(plan.rows / took), **stages,
        "peak_rss_mb": round(_rss_mb("VmHWM"), 1), "heavy_modules_loaded": modules}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--assessments", type=int, default=1_000_000)
    ap.add_argument("--db", default="sqlite", help="sqlite or a PostgreSQL URL (empty db)")
    ap.add_argument("--format", default="csv,parquet", help="csv, parquet or both (csv,parquet)")
    ap.add_argument("--identified", action="store_true", help="a clinical (identified) export")
    ap.add_argument("--chunk", type=int, default=5_000)
    ap.add_argument("--keep", type=Path, default=None, help="reuse the store built there")
    ap.add_argument("--child", nargs=3, metavar=("URL", "KEY", "FMT"))
    args = ap.parse_args()
    if args.child:
        return child(*args.child, pseudonymise=not args.identified, chunk=args.chunk)
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-export-"))
    work.mkdir(parents=True, exist_ok=True)
    key = work / "identifier.key"
    url = f"sqlite:///{work / 'export.db'}" if args.db == "sqlite" else args.db
    out: dict[str, Any] = {"db": url.split("://")[0], "work": str(work)}
    if not (args.keep and (work / "built.json").exists()):
        out.update(build(url, key, args.assessments))
        (work / "built.json").write_text(json.dumps(out))
    print(json.dumps(out), flush=True)
    for fmt in args.format.split(","):
        cmd = [sys.executable, __file__, "--child", url, str(key), fmt, "--chunk",
               str(args.chunk), *(["--identified"] if args.identified else [])]
        r = subprocess.run(cmd, capture_output=True, text=True, check=True)
        print(r.stdout.strip().splitlines()[-1], flush=True)
    return None


if __name__ == "__main__":
    main()
