"""The scale benchmark's bulk builder (``benchmarks/_bulk.py``) writes what the store's API
writes: one plan built both ways (same seed, same day, same key file) gives the same rows in
the same tables, a valid audit chain with every record hash, and the same caseload, search
and alerts answers, on SQLite and on PostgreSQL."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from attunement.store import Store
from attunement.store.models import Base

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
import _bulk

PLAN = _bulk.Plan(families=14, sites=3, seed=5)
# values that differ between two builds by design: clocks, random nonces and salts, hashes
# over them; their presence (null or not) is still compared
VOLATILE = {"created_at", "submitted_at", "at", "hash", "prev_hash", "ciphertext",
            "record_hash", "last_hash", "password_hash", "value", "computed_at",
            "last_login_at", "updated_at"}
CONTENT = ("families", "infants", "caregivers", "identity_lookups", "assessments", "alerts",
           "caseload_summary", "caseload_time_points", "audit_log")


def _urls(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> list[str]:
    if kind == "sqlite":
        return [f"sqlite:///{tmp_path / name}.db" for name in ("api", "bulk")]
    server = request.getfixturevalue("postgres_server")
    return [_new_pg(server, name) for name in ("api", "bulk")]


def _new_pg(server: str, name: str) -> str:
    import os
    import time

    import psycopg

    db = f"bulk_{name}_{os.getpid()}_{time.monotonic_ns()}"
    dsn = server.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db}"')
    return f"{server}/{db}"


def _rows(st: Store, table: Any) -> list[tuple]:
    """The table's rows without the volatile columns; the audit log's without its ids (the
    two builders interleave families and assessments differently) and without the store's
    own first row (which names the database)."""
    audit = table.name == "audit_log"
    cols = [c for c in table.c if c.name not in VOLATILE and not (audit and c.name == "id")]
    query = select(*cols).where(table.c.entity != "store") if audit else select(*cols)
    with st.db.read() as s:
        return sorted(tuple(repr(v) for v in r) for r in s.execute(query))


def _shape(st: Store) -> dict[str, tuple[int, tuple[int, ...]]]:
    """Per table: rows, and per column how many are not null."""
    out = {}
    with st.db.read() as s:
        for table in Base.metadata.sorted_tables:
            where = []
            if table.name == "caseload_counts":
                # the upkeep of a write keeps a key whose count fell to 0, a recount drops it:
                # the same counts either way, so only the keys that count a family are compared
                where = [table.c.families > 0]
            n = s.execute(select(func.count()).select_from(table).where(*where)).scalar_one()
            filled = tuple(s.execute(select(*(func.count(c) for c in table.c)).where(*where)).one())
            out[table.name] = (n, filled)
    return out


def _stable(value: Any) -> Any:
    """A document without its clock values (``created_at``, ``submitted_at`` ...)."""
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def _answers(st: Store, practitioner: Any) -> dict[str, Any]:
    """What a practitioner of site 0 sees: every caseload page, searches, alerts."""
    pages, cursor = [], None
    while True:
        page = st.families.caseload_page(practitioner, cursor=cursor, limit=2)
        pages.append(page["items"])
        cursor = page["next"]
        if not cursor:
            break
    alerts = st.care.alerts_page(practitioner, limit=500)["items"]
    return {
        "caseload": pages,
        "code": st.families.caseload_page(practitioner, q=_bulk.family_code(3))["items"],
        "name": st.families.caseload_page(practitioner, q=_bulk.mother_name(6))["items"],
        "word": st.families.caseload_page(practitioner, q="example", limit=100)["items"],
        "alerts": sorted(map(repr, _stable(alerts))),
        "family": _stable(st.families.get_family(practitioner, 1 + 3 * 2)),
    }


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_bulk_build_writes_what_the_store_writes(kind, tmp_path, request):
    key = tmp_path / "identifier.key"  # one key file: the blind index digests compare
    today = datetime.now(UTC).date()
    stores, actors = [], []
    for url, bulk in zip(_urls(kind, tmp_path, request), (False, True), strict=True):
        st = Store.open(url, key_path=key)
        admin, practitioner = _bulk.setup(st, PLAN)
        if bulk:
            _bulk.build_bulk(st, admin, PLAN, group=5, today=today)
        else:
            _bulk.build_through_store(st, admin, PLAN, batch=30, today=today)
        stores.append(st)
        actors.append(practitioner)
    try:
        api, bulk = stores
        for st in stores:
            report = st.maintenance.verify_audit()
            assert report.ok, report.problems
        with bulk.db.read() as s:
            hashed = s.execute(select(func.count()).select_from(Base.metadata.tables[
                "audit_log"]).where(Base.metadata.tables["audit_log"].c.entity == "assessment",
                                    Base.metadata.tables["audit_log"].c.record_hash.is_not(None))
            ).scalar_one()
        assert hashed == 10 * PLAN.families
        assert _shape(bulk) == _shape(api)
        for name in CONTENT:
            table = Base.metadata.tables[name]
            assert _rows(bulk, table) == _rows(api, table), name
        seen = _answers(bulk, actors[1])
        assert seen == _answers(api, actors[0])
        assert [f["family_id"] for f in seen["code"]] == [_bulk.family_code(3)]
        assert [f["family_id"] for f in seen["name"]] == [_bulk.family_code(6)]
        assert seen["alerts"] and len(seen["word"]) == len(range(0, PLAN.families, PLAN.sites))
        assert sum(len(p) for p in seen["caseload"]) == len(range(0, PLAN.families, PLAN.sites))
    finally:
        for st in stores:
            st.close()
