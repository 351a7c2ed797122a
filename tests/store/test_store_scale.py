"""Scale (issue 17): audit rows reference immutable records instead of copying them,
creating a family costs one transaction, verify streams and can start from a checkpoint."""

from __future__ import annotations

import json

from sqlalchemy import create_engine, text
from tests.store.conftest import family_payload

from attunement.usecases import assessments as uc_assessments
from attunement.usecases import families as uc_families

EPDS = [1, 1, 2, 2, 1, 2, 1, 1, 1, 2]


def _rows(store, sql):
    engine = create_engine(store.url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql)))
    finally:
        engine.dispose()


def test_assessment_audit_row_names_the_record_without_copying_it(world):
    st = world.store
    a = uc_assessments.submit_assessment(st, world.north, world.fam_north, "father", "epds", "6w", EPDS)
    b = uc_assessments.correct_assessment(st, world.north, a["id"], [0] * 10, reason="transcribed wrongly")
    rows = _rows(st, "SELECT action, before, after, record_hash FROM audit_log "
                     "WHERE entity = 'assessment' ORDER BY id")
    assert rows
    for action, before, after, record_hash in rows:
        assert record_hash, action
        for blob in (before, after):
            doc = json.loads(blob) if blob else {}
            assert "responses" not in doc and "scores" not in doc, (action, doc)
    created = json.loads(rows[-2].after)
    assert created["instrument"] == "epds" and created["time_point"] == "6w"
    assert created["caregiver"] == "father" and created["version"] == 1
    assert json.loads(rows[-1].before) == {"id": a["id"], "version": 1}
    assert json.loads(rows[-1].after)["version"] == b["version"] == 2
    assert st.maintenance.verify_audit().ok


def test_create_family_writes_one_creation_row_and_no_identifier_view(world):
    st = world.store
    before = _rows(st, "SELECT max(id) FROM audit_log")[0][0]
    doc = uc_families.register_family(st, world.north, family_payload("N-002", "North", study="Attach-1"))
    new = _rows(st, f"SELECT action, entity FROM audit_log WHERE id > {before} ORDER BY id")
    assert ("create", "family") in new
    assert ("view_identifiers", "family") not in new
    # the returned document is the one get_family gives (identifiers included)
    again = st.families.get_family(world.north, doc["id"])
    assert doc == again
    assert doc["infant"]["identifiers"]["name"] == "Zebedee Quillfeather"


def _exec(store, *statements):
    engine = create_engine(store.url)
    try:
        with engine.begin() as conn:
            for stmt in statements:
                conn.execute(text(stmt))
    finally:
        engine.dispose()


def _drop_guards(store):
    if store.dialect == "postgresql":
        _exec(store, "DROP TRIGGER audit_log_no_change ON audit_log")
    else:
        _exec(store, "DROP TRIGGER audit_log_no_update", "DROP TRIGGER audit_log_no_delete")


def test_verify_from_a_checkpoint_reads_only_the_rows_from_it_on(world):
    st = world.store
    cp = st.maintenance.audit_checkpoint()
    total = st.maintenance.verify_audit().rows
    assert total == cp["last_id"]
    uc_assessments.submit_assessment(st, world.north, world.fam_north, "father", "epds", "6w", EPDS)
    st.accounts.add_site(world.system, "Later")
    seen: list[tuple[int, int]] = []
    report = st.maintenance.verify_audit(checkpoint=cp, progress=lambda done, of: seen.append((done, of)))
    # the checkpoint's own row (its hash must still be the signed one) and the rows after it
    after = _rows(st, "SELECT count(*) FROM audit_log")[0][0] - cp["last_id"]
    assert report.ok and report.rows == after + 1, report
    assert seen and seen[-1] == (after + 1, after + 1)
    # history before the checkpoint is pinned by it, not re-read: a full verify re-reads it
    _drop_guards(st)
    _exec(st, "UPDATE audit_log SET actor_email = 'x@y.org' WHERE id = 3")
    assert st.maintenance.verify_audit(checkpoint=cp).ok
    assert st.maintenance.verify_audit().first_broken == 3


def test_verify_from_a_checkpoint_still_catches_what_happened_after_it(world):
    st = world.store
    cp = st.maintenance.audit_checkpoint()
    a = uc_assessments.submit_assessment(st, world.north, world.fam_north, "father", "epds", "6w", EPDS)
    uc_assessments.submit_assessment(st, world.north, world.fam_north, "mother", "epds", "6w", EPDS)
    if st.dialect == "postgresql":
        _exec(st, "ALTER TABLE assessments DISABLE TRIGGER USER")
    else:
        triggers = _rows(st, "SELECT name FROM sqlite_master WHERE type = 'trigger' "
                             "AND tbl_name = 'assessments'")
        _exec(st, *(f"DROP TRIGGER {t[0]}" for t in triggers))
    _exec(st, f"UPDATE assessments SET scores = '{{\"epds_total\": 0}}' WHERE id = {a['id']}")
    report = st.maintenance.verify_audit(checkpoint=cp)
    assert not report.ok
    assert f"assessment {a['id']} does not match its audit row" in report.reason
    # the checkpoint's row rewritten: named as history rewritten
    _drop_guards(st)
    _exec(st, f"UPDATE audit_log SET actor_email = 'x@y.org' WHERE id = {cp['last_id']}")
    report = st.maintenance.verify_audit(checkpoint=cp)
    assert report.first_broken == cp["last_id"]
