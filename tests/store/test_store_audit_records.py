"""The record check of audit verify: assessments proven unchanged by hashing their stored text
(JSON columns written as canonical JSON), the decode-and-re-encode path for any other text,
and the same findings in the same order from the process pool."""

from __future__ import annotations

import json

from sqlalchemy import create_engine, text

from attunement.store import audit_records
from attunement.store.audit_hash import canonical
from attunement.store.maintenance import verify_audit
from attunement.usecases import assessments as uc_assessments

JSON_COLUMNS = ("responses", "item_scores", "scores", "flags")
# item 10 (thoughts of self-harm) answered 3: the record carries a flag
FLAGGED = [1, 2, 1, 2, 1, 2, 1, 2, 1, 3]


def _sql(url: str, *statements: str, params: dict | None = None) -> list:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            out = [conn.execute(text(stmt), params or {}) for stmt in statements]
            return [list(r) if r.returns_rows else None for r in out]
    finally:
        engine.dispose()


def _unguard(st) -> None:
    """Drop the triggers that keep assessments immutable (what the database's owner can do)."""
    if st.dialect == "postgresql":
        _sql(st.url, "DROP TRIGGER IF EXISTS assessments_no_change ON assessments")
    else:
        _sql(st.url, "DROP TRIGGER IF EXISTS assessments_no_update",
             "DROP TRIGGER IF EXISTS assessments_no_delete")


def _stored(st, assessment_id: int) -> dict[str, str]:
    cols = ", ".join(f"CAST({c} AS TEXT)" for c in JSON_COLUMNS)
    row = _sql(st.url, f"SELECT {cols} FROM assessments WHERE id = {assessment_id}")[0][0]
    return dict(zip(JSON_COLUMNS, row, strict=True))


def _submit(world, answers=FLAGGED, time_point="6w") -> dict:
    return uc_assessments.submit_assessment(
        world.store, world.north, world.fam_north, "father", "epds", time_point, answers)


def _count_slow(monkeypatch) -> list[int]:
    """Record the ids the slow path (decode and re-encode) hashes."""
    seen: list[int] = []
    real = audit_records.row_digest

    def counting(names, row):
        seen.append(row.id)
        return real(names, row)

    monkeypatch.setattr(audit_records, "row_digest", counting)
    return seen


def test_json_columns_are_stored_as_canonical_text(world):
    """Both databases keep the serializer's text verbatim (PostgreSQL's ``json``, not
    ``jsonb``), so the stored text is the canonical JSON the record's hash was taken over."""
    a = _submit(world)
    stored = _stored(world.store, a["id"])
    assert json.loads(stored["flags"]), "the record should carry a flag"
    for column, raw in stored.items():
        assert raw == canonical(json.loads(raw)), column


def test_an_intact_record_is_proven_without_decoding(world, monkeypatch):
    _submit(world)
    slow = _count_slow(monkeypatch)
    assert verify_audit(world.store.core, workers=1).ok
    assert slow == []


def test_a_record_stored_by_the_old_serializer_verifies_and_its_edit_is_caught(world, monkeypatch):
    """Records written before the JSON columns were canonical (spaces, keys unsorted) take the
    slow path: still verified, and an edit of one still named."""
    st = world.store
    a = _submit(world)
    stored = {k: json.loads(v) for k, v in _stored(st, a["id"]).items()}
    old = {k: json.dumps(v) for k, v in stored.items()}  # the default ", " and ": "
    old["scores"] = json.dumps(dict(reversed(list(stored["scores"].items()))))
    assert old["responses"] != canonical(stored["responses"])
    _unguard(st)
    _sql(st.url, "UPDATE assessments SET responses = :responses, item_scores = :item_scores, "
         f"scores = :scores, flags = :flags WHERE id = {a['id']}", params=old)
    slow = _count_slow(monkeypatch)
    report = verify_audit(st.core, workers=1)
    assert report.ok, report.problems
    assert a["id"] in slow
    edited = json.dumps([3, *stored["responses"][1:]])
    _sql(st.url, f"UPDATE assessments SET responses = :r WHERE id = {a['id']}",
         params={"r": edited})
    report = verify_audit(st.core, workers=1)
    assert not report.ok and report.first_broken is None
    assert report.problems == (
        f"assessment {a['id']} does not match its audit row "
        f"{_audit_row(st, a['id'])} (edited)",)


def test_an_edit_that_keeps_the_text_canonical_is_caught(world, monkeypatch):
    st = world.store
    a = _submit(world)
    b = _submit(world, time_point="baseline")
    stored = _stored(st, a["id"])
    flags = json.loads(stored["flags"])
    _unguard(st)
    _sql(st.url, f"UPDATE assessments SET flags = :f WHERE id = {a['id']}",
         params={"f": canonical(flags[1:])})
    slow = _count_slow(monkeypatch)
    report = verify_audit(st.core, workers=1)
    assert report.problems == (
        f"assessment {a['id']} does not match its audit row "
        f"{_audit_row(st, a['id'])} (edited)",)
    # only the edited record was decoded; the intact one was proven by its stored text
    assert a["id"] in slow and b["id"] not in slow


def _audit_row(st, assessment_id: int) -> int:
    return _sql(st.url, "SELECT id FROM audit_log WHERE entity = 'assessment' "
                f"AND entity_id = '{assessment_id}'")[0][0][0]


def test_the_pool_reports_the_same_problems_in_the_same_order(world):
    st = world.store
    made = [_submit(world, time_point=tp)["id"]
            for tp in ("baseline", "6w") for _ in range(4)]
    _unguard(st)
    first, edited, deleted, old_format = made[0], made[2], made[5], made[6]
    responses = json.loads(_stored(st, edited)["responses"])
    _sql(st.url,
         f"UPDATE assessments SET responses = :r WHERE id = {edited}",
         f"UPDATE assessments SET scores = :s WHERE id = {first}",
         f"UPDATE assessments SET responses = :old WHERE id = {old_format}",
         f"DELETE FROM alerts WHERE assessment_id = {deleted}",
         f"DELETE FROM assessments WHERE id = {deleted}",
         params={"r": canonical([0, *responses[1:]]), "s": '{"total": 99}',
                 "old": json.dumps(json.loads(_stored(st, old_format)["responses"]))})
    # one more added behind the log's back: a copy of the last record with a new id
    cols = ("family_id, caregiver_id, instrument, instrument_version, time_point, instance, "
            "version, input_kind, responses, item_scores, scores, flags, submitted_via, "
            "submitted_at, completed_on")
    _sql(st.url, f"INSERT INTO assessments ({cols}) SELECT {cols.replace('version, input', '7, input')} "
         f"FROM assessments WHERE id = {made[-1]}")
    one = verify_audit(st.core, workers=1)
    pooled = verify_audit(st.core, workers=2, parallel_after=0, chunk=2)
    assert len(one.problems) == 4, one.problems
    assert pooled.problems == one.problems
    assert [p.split(" ")[1] for p in one.problems[:2]] == [str(first), str(edited)]
    assert "has no audit row" in one.problems[2]
    assert one.problems[3].startswith(f"assessment {deleted} of audit row")
