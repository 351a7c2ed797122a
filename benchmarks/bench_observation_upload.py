"""Benchmark for issue 11 (observation uploads): what one coded-session upload and one view of
its measures cost, in time and in Python-allocated memory (tracemalloc peak).

A plain CSV coded session of ``--mb`` megabytes (infant cues alternating with caregiver
responses) is uploaded through the JSON API to a fresh SQLite store, then its measures are
read ``--views`` times through ``GET /api/families/{id}/observations/{sid}/measures``.
Target: a view costs no parsing, i.e. milliseconds and well under 1 MB, whatever the file size.

    python benchmarks/bench_observation_upload.py --mb 2 --views 3
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
import time
import tracemalloc
from pathlib import Path

from attunement.usecases import families as uc_families


def coded_file(megabytes: float) -> bytes:
    rows = ["session,actor,code,onset,offset,duration"]
    size, i = len(rows[0]), 0
    while size < megabytes * 1024 * 1024:
        who, code = ("Infant", "cry") if i % 2 == 0 else ("Mother", "soothe")
        row = f"s1,{who},{code},{i * 0.5:.1f},,3600"
        rows.append(row)
        size += len(row) + 1
        i += 1
    return ("\n".join(rows) + "\n").encode()


def measure(fn):
    tracemalloc.start()
    start = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return out, seconds, peak / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=2.0)
    parser.add_argument("--views", type=int, default=3)
    args = parser.parse_args()

    from fastapi.testclient import TestClient

    from attunement.store import Store
    from attunement.web.app import create_app
    from attunement.web.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(f"sqlite:///{Path(tmp) / 'b.db'}", key_path=Path(tmp) / "k.key")
        store.init("admin@example.org", "correct horse battery staple")
        system = store.system_actor()
        store.accounts.add_site(system, "Site A")
        due = (dt.date.today() + dt.timedelta(days=30)).isoformat()
        fam = uc_families.register_family(store, system, {
            "family_id": "F1", "site": "Site A", "infant": {"due_date": due},
            "placement": "birth_family",
            "caregivers": [{"id": "mother", "role": "birth_mother"}]})["id"]
        admin = next(u["id"] for u in store.accounts.list_users(system))
        headers = {"Authorization": "Bearer " + store.accounts.create_api_token(store.actor(admin))}
        content = coded_file(args.mb)
        app = create_app(store, settings=Settings(secret_key="bench-" + "x" * 40))
        with TestClient(app) as c:
            r, up_s, up_mb = measure(lambda: c.post(
                f"/api/families/{fam}/observations", headers=headers,
                files={"file": ("s.csv", content, "text/csv")},
                data={"metadata": json.dumps({"cues": "cry", "responses": "soothe"})}))
            print(f"upload {len(content) / 1e6:.2f} MB: HTTP {r.status_code}, {up_s:.2f} s, "
                  f"peak {up_mb:.0f} MB")
            if r.status_code != 201:
                print(r.text[:300])
                return
            sid = r.json()["id"]
            for n in range(args.views):
                v, s, mb = measure(lambda: c.get(
                    f"/api/families/{fam}/observations/{sid}/measures", headers=headers))
                print(f"view {n + 1}: HTTP {v.status_code}, {s * 1000:.0f} ms, peak {mb:.1f} MB")
        store.close()


if __name__ == "__main__":
    main()
