"""The audit-verify benchmark's real log (``benchmarks/bench_audit_verify.py --log real``):
a bulk-built store's rows stamped out again make a log that ``audit verify`` passes, whose
stamped records hash as their audit rows say, and in which an edited stamped record is
named, on SQLite and on PostgreSQL, in one process and in the pool."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from attunement.store import Store
from attunement.store.maintenance import verify_audit

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
from tests.benchmarks.test_bulk_build import _new_pg

import bench_audit_verify


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'log.db'}"
    return _new_pg(request.getfixturevalue("postgres_server"), "log")


def test_a_stamped_real_log_verifies_and_an_edit_in_it_is_named(url: str, tmp_path: Path):
    key = tmp_path / "identifier.key"
    built = bench_audit_verify.build_real(url, key, 3_000, families=6)
    assert built["rows"] == 3_000
    engine = create_engine(url)
    with engine.begin() as conn:
        kinds = dict(conn.execute(text(
            "SELECT entity, count(*) FROM audit_log GROUP BY entity")).all())
        stamped = conn.execute(text("SELECT max(instance) FROM assessments")).scalar()
    # about three rows in four write an assessment, each copy a repeat at its time point
    assert 0.6 < kinds["assessment"] / 3_000 < 0.85 and stamped > 10
    st = Store.open(url, key_path=key)
    try:
        assert verify_audit(st.core, workers=1).ok
        assert verify_audit(st.core, workers=2, parallel_after=0, chunk=100).ok
        with engine.begin() as conn:
            victim = conn.execute(text(
                "SELECT max(id) - 7 FROM assessments")).scalar()
            if st.dialect == "postgresql":
                conn.execute(text("ALTER TABLE assessments DISABLE TRIGGER USER"))
            else:
                conn.execute(text("DROP TRIGGER IF EXISTS assessments_no_update"))
            conn.execute(text(f"UPDATE assessments SET responses = '[0,0,0,0,0,0,0,0,0,0]' "
                              f"WHERE id = {victim}"))
        one = verify_audit(st.core, workers=1)
        pooled = verify_audit(st.core, workers=2, parallel_after=0, chunk=100)
        assert len(one.problems) == 1 and one.problems[0].startswith(
            f"assessment {victim} does not match its audit row")
        assert pooled.problems == one.problems
    finally:
        st.close()
        engine.dispose()
