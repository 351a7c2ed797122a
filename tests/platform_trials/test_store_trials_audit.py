"""`audit verify` proves every trial allocation matches its audit row (issue 11): an edited
arm, a deleted allocation or one added behind the log's back is named."""

from __future__ import annotations

from sqlalchemy import create_engine, text

from .conftest import DESIGN, SECRET, TrialWorld


def _sql(url: str, *statements: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            for stmt in statements:
                conn.execute(text(stmt))
    finally:
        engine.dispose()


def _drop_guard(tw: TrialWorld) -> None:
    if tw.store.dialect == "postgresql":
        _sql(tw.store.url, "DROP TRIGGER trial_allocations_no_change ON trial_allocations")
    else:
        _sql(tw.store.url, "DROP TRIGGER trial_allocations_no_update",
             "DROP TRIGGER trial_allocations_no_delete")


def test_an_edited_allocation_is_named(tw: TrialWorld):
    tw.trials.define_design(tw.admin, tw.study, DESIGN, secret=SECRET)
    a = tw.trials.randomise(tw.pa, tw.fam_a[0], values={"smi": "no"})
    assert tw.store.maintenance.verify_audit().ok
    other = next(arm for arm in DESIGN["arms"] if arm != a["arm"])
    _drop_guard(tw)
    _sql(tw.store.url,
         f"UPDATE trial_allocations SET arm = '{other}' WHERE audit_id = {a['audit_id']}")
    report = tw.store.maintenance.verify_audit()
    assert not report.ok and report.first_broken is None
    assert f"does not match its audit row {a['audit_id']}" in report.reason
    assert "arm" in report.reason


def test_a_deleted_allocation_is_named(tw: TrialWorld):
    tw.trials.define_design(tw.admin, tw.study, DESIGN, secret=SECRET)
    a = tw.trials.randomise(tw.pa, tw.fam_a[0], values={"smi": "no"})
    _drop_guard(tw)
    _sql(tw.store.url, f"DELETE FROM trial_allocations WHERE audit_id = {a['audit_id']}")
    report = tw.store.maintenance.verify_audit()
    assert not report.ok
    assert f"trial allocation of family {tw.fam_a[0]} (sequence 1" in report.reason
