"""The audit log is append-only and hash-chained; verify names the first broken row."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from attunement.store import AuthError
from attunement.usecases import exports as uc_exports
from attunement.usecases import families as uc_families


def _sql(store, *statements):
    engine = create_engine(store.url)
    try:
        with engine.begin() as conn:
            for stmt in statements:
                conn.execute(text(stmt))
    finally:
        engine.dispose()


def _drop_guard(store):
    if store.dialect == "postgresql":
        _sql(store, "DROP TRIGGER audit_log_no_change ON audit_log")
    else:
        _sql(store, "DROP TRIGGER audit_log_no_update", "DROP TRIGGER audit_log_no_delete")


def test_chain_verifies_and_logs_every_kind_of_event(world):
    st = world.store
    with pytest.raises(AuthError):
        st.accounts.authenticate("north@example.org", "wrong password!")
    st.families.get_family(world.north, world.fam_north)
    uc_exports.export_assessments(st, world.north)
    report = st.maintenance.verify_audit()
    assert report.ok and report.first_broken is None
    actions = {(e["action"], e["entity"]) for e in st.maintenance.audit_log(world.admin, limit=1000)}
    for expected in [
        ("init", "store"),
        ("create", "site"),
        ("create", "user"),
        ("create", "study"),
        ("create", "family"),
        ("create", "caregiver"),
        ("create", "assessment"),
        ("login", "user"),
        ("login_failed", "user"),
        ("view_identifiers", "family"),
        ("export", "assessments"),
    ]:
        assert expected in actions, expected
    assert report.rows == len(st.maintenance.audit_log(world.admin, limit=1000))


def test_database_rejects_update_and_delete_of_audit_rows(world):
    st = world.store
    for stmt in (
        "UPDATE audit_log SET actor_email = 'x' WHERE id = 2",
        "DELETE FROM audit_log WHERE id = 2",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            _sql(st, stmt)
    assert st.maintenance.verify_audit().ok


def test_edited_row_is_detected(world):
    st = world.store
    _drop_guard(st)
    _sql(st, "UPDATE audit_log SET actor_email = 'someone@else.org' WHERE id = 5")
    report = st.maintenance.verify_audit()
    assert not report.ok and report.first_broken == 5
    assert "hash" in report.reason


def test_deleted_row_is_detected(world):
    st = world.store
    _drop_guard(st)
    _sql(st, "DELETE FROM audit_log WHERE id = 7")
    report = st.maintenance.verify_audit()
    assert not report.ok and report.first_broken == 8
    assert "row 7 is missing" in report.reason


def test_rewritten_row_is_detected_even_with_its_unkeyed_hash_recomputed(world):
    """An attacker who edits a row and recomputes its hash by the old (unkeyed) rule is
    caught at that row: the chain is keyed, and the key is not in the database."""
    from attunement.store import audit

    st = world.store
    _drop_guard(st)
    engine = create_engine(st.url)
    with engine.begin() as conn:
        row = dict(conn.execute(text("SELECT * FROM audit_log WHERE id = 4")).mappings().one())
        row["actor_email"] = "forged@example.org"
        forged = audit.row_hash(row["prev_hash"], row)
        conn.execute(
            text("UPDATE audit_log SET actor_email = :e, hash = :h WHERE id = 4"),
            {"e": row["actor_email"], "h": forged},
        )
    engine.dispose()
    report = st.maintenance.verify_audit()
    assert not report.ok and report.first_broken == 4 and "keyed hash" in report.reason


def test_deleting_the_newest_rows_is_detected(world):
    st = world.store
    last = st.maintenance.verify_audit().rows
    _drop_guard(st)
    _sql(st, f"DELETE FROM audit_log WHERE id >= {last - 1}")
    report = st.maintenance.verify_audit()
    assert not report.ok and report.first_broken == last - 1
    assert "deleted from the end" in report.reason


def test_audit_never_holds_identifiers(world):
    import json

    st = world.store
    st.families.get_family(world.north, world.fam_north)
    uc_families.add_caregiver(st,
        world.north,
        world.fam_north,
        {
            "id": "gran",
            "role": "kinship_carer",
            "name": "Euphemia Brackenbury",
            "phone": "07700 900999",
        },
    )
    blob = json.dumps(st.maintenance.audit_log(world.admin, limit=10000))
    for secret in ("Euphemia", "Brackenbury", "900999", "Philippa", "9434765919"):
        assert secret not in blob
    assert '"identifiers": ["name", "phone"]' in blob or '"identifiers":["name","phone"]' in blob
