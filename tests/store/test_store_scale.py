"""Scale (issue 17): audit rows reference immutable records instead of copying them,
creating a family costs one transaction, verify streams and can start from a checkpoint."""

from __future__ import annotations

import json

from sqlalchemy import create_engine, text
from tests.store.conftest import family_payload

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
    a = st.add_assessment(world.north, world.fam_north, "father", "epds", "6w", EPDS)
    b = st.correct_assessment(world.north, a["id"], [0] * 10, reason="transcribed wrongly")
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
    assert st.verify_audit().ok


def test_create_family_writes_one_creation_row_and_no_identifier_view(world):
    st = world.store
    before = _rows(st, "SELECT max(id) FROM audit_log")[0][0]
    doc = st.create_family(world.north, family_payload("N-002", "North", study="Attach-1"))
    new = _rows(st, f"SELECT action, entity FROM audit_log WHERE id > {before} ORDER BY id")
    assert ("create", "family") in new
    assert ("view_identifiers", "family") not in new
    # the returned document is the one get_family gives (identifiers included)
    again = st.get_family(world.north, doc["id"])
    assert doc == again
    assert doc["infant"]["identifiers"]["name"] == "Zebedee Quillfeather"
