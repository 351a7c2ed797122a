"""The record check of audit verify: assessments proven unchanged by hashing their stored text
(JSON columns written as canonical JSON), the decode-and-re-encode path for any other text,
and the same findings in the same order from the process pool."""

from __future__ import annotations

import json

import pytest
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


# what a copy of a stored assessment takes from it (the other columns default or stay null)
COPIED = ("family_id", "caregiver_id", "instrument", "instrument_version", "time_point",
          "instance", "version", "input_kind", "responses", "item_scores", "scores", "flags",
          "submitted_via", "submitted_at", "completed_on")


def _copy(st, source: int, version: int, *, instead: dict[str, str] | None = None,
          params: dict | None = None) -> None:
    """Insert a copy of assessment ``source`` at another ``version``, behind the log's back;
    ``instead`` gives columns an SQL expression of their own."""
    values = {c: c for c in COPIED} | {"version": str(version)} | (instead or {})
    _sql(st.url, f"INSERT INTO assessments ({', '.join(values)}) SELECT "
         f"{', '.join(values.values())} FROM assessments WHERE id = {source}", params=params)


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
    python_text = _count(monkeypatch, audit_records, "_python_text_differs")
    assert verify_audit(world.store.core, workers=1).ok
    assert slow == []
    if world.store.dialect == "postgresql":  # the server's hash of its text proved it
        assert python_text == []


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
    _copy(st, made[-1], 7)
    one = verify_audit(st.core, workers=1)
    pooled = verify_audit(st.core, workers=2, parallel_after=0, chunk=2)
    assert len(one.problems) == 4, one.problems
    assert pooled.problems == one.problems
    assert [p.split(" ")[1] for p in one.problems[:2]] == [str(first), str(edited)]
    assert "has no audit row" in one.problems[2]
    assert one.problems[3].startswith(f"assessment {deleted} of audit row")


def _count(monkeypatch, module, name: str) -> list:
    """Record the calls of ``module.name`` (patched before the pool forks its workers)."""
    calls: list = []
    real = getattr(module, name)

    def counting(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, counting)
    return calls


def test_each_part_of_the_log_checks_the_records_it_names(world, monkeypatch):
    """In the pool, each part of the walk checks the assessments its rows name, in their id
    span, and sends back only what is wrong: one walk, the edit named as in one process."""
    from attunement.store import audit

    st = world.store
    made = [_submit(world, time_point=tp)["id"] for tp in ("baseline", "6w") for _ in range(3)]
    _unguard(st)
    _sql(st.url, f"UPDATE assessments SET flags = '[]' WHERE id = {made[3]}")
    one = verify_audit(st.core, workers=1)
    walks = _count(monkeypatch, audit, "_walk_in_pool")
    records_read_by_parent = _count(monkeypatch, audit_records, "_assessments")
    pooled = verify_audit(st.core, workers=2, parallel_after=0, chunk=2)
    assert one.problems == (
        f"assessment {made[3]} does not match its audit row {_audit_row(st, made[3])} (edited)",)
    assert pooled.problems == one.problems
    assert len(walks) == 1 and records_read_by_parent == []


def test_records_out_of_the_log_s_order_are_checked_the_long_way(world, monkeypatch):
    """A record no part of the log names (added behind the log's back) makes the parts'
    spans irregular: the log is walked again and every record checked as in one process."""
    from attunement.store import audit

    st = world.store
    made = [_submit(world, time_point=tp)["id"] for tp in ("baseline", "6w") for _ in range(3)]
    _copy(st, made[0], 9)
    one = verify_audit(st.core, workers=1)
    walks = _count(monkeypatch, audit, "_walk_in_pool")
    pooled = verify_audit(st.core, workers=2, parallel_after=0, chunk=2)
    assert len(one.problems) == 1 and "has no audit row" in one.problems[0]
    assert pooled.problems == one.problems
    assert len(walks) == 2


def test_a_correction_reason_in_any_script_is_proven_without_decoding(world, monkeypatch):
    """Non-ASCII text (a correction's reason) is escaped by canonical() and not by the
    database, so PostgreSQL's server text differs: the record is proven by the text built
    here, never decoded, and an edit of it is still named."""
    st = world.store
    a = _submit(world)
    fixed = uc_assessments.correct_assessment(
        st, world.north, a["id"], [0, *FLAGGED[1:]], reason="révisé — « erreur » 入力")
    python_text = _count(monkeypatch, audit_records, "_python_text_differs")
    slow = _count_slow(monkeypatch)
    assert verify_audit(st.core, workers=1).ok
    assert slow == []
    if st.dialect == "postgresql":
        assert [fixed["id"]] == [i for call in python_text for i in call[3]]
    _unguard(st)
    _sql(st.url, f"UPDATE assessments SET reason = 'révisé' WHERE id = {fixed['id']}")
    report = verify_audit(st.core, workers=1)
    assert report.problems == (
        f"assessment {fixed['id']} does not match its audit row "
        f"{_audit_row(st, fixed['id'])} (edited)",)


# values canonical() escapes, or that a database might write its own way
ODD_TEXTS = ['quote " inside', "back \\ slash", "tab\tand\nnewline", "bell \x07 del \x7f",
             "café", "𝄞 clef", "", "null", '\\"', "a\\u0041"]


def test_the_server_text_never_vouches_for_a_record_it_does_not_render_exactly(world):
    """Records with every kind of awkward value, checked against the hashes canonical() gives
    their decoded columns: none is called edited, and any hash altered is caught, whichever
    check (server text, Python text, decoded) proves the others."""
    from sqlalchemy import select

    from attunement.store.audit_hash import ASSESSMENT_FIELDS, record_digest
    from attunement.store.models import Assessment

    st = world.store
    base = _submit(world)["id"]
    _unguard(st)
    for n, odd in enumerate(ODD_TEXTS):
        _copy(st, base, 100 + n, instead={"reason": ":odd", "submission_key": ":key"},
              params={"odd": odd, "key": f"k{n}{odd}"})
    # the first year, and a time on the second (no fraction), each as the driver writes it
    day, at = (("CAST('0001-01-02' AS DATE)", "CAST('2026-01-02 03:04:05' AS TIMESTAMP)")
               if st.dialect == "postgresql" else ("'0001-01-02'", "'2026-01-02 03:04:05.000000'"))
    _copy(st, base, 200, instead={"completed_on": day, "submitted_at": at})
    with st.db.read() as s:
        rows = s.execute(select(*[Assessment.__table__.c[k] for k in ASSESSMENT_FIELDS])
                         .order_by(Assessment.id)).all()
        logged = {r.id: (1000 + r.id, record_digest("assessment", r._mapping)) for r in rows}
        raw = s.connection().connection.driver_connection
        assert audit_records.assessment_problems(
            raw.cursor(), st.dialect, s.execute, dict(logged), 0, max(logged) + 1, 5) == ([], [])
        wrong = {i: (audit_id, "0" * 64) if i % 3 == 0 else (audit_id, digest)
                 for i, (audit_id, digest) in logged.items()}
        edited, unlogged = audit_records.assessment_problems(
            raw.cursor(), st.dialect, s.execute, wrong, 0, max(logged) + 1, 5)
    assert edited == [(i, 1000 + i) for i in sorted(logged) if i % 3 == 0] and unlogged == []


def test_on_sqlite_orjson_s_bytes_prove_a_record_and_an_infinite_number_is_not_a_null(
        world, monkeypatch):
    """SQLite's records are proven by orjson's bytes first (canonical()'s own text is not
    built for them); a float in a column that may hold a null is left to canonical(), since
    orjson writes an infinite one as null: one put in place of a null is named."""
    st = world.store
    if st.dialect != "sqlite":
        pytest.skip("PostgreSQL's integer columns hold no float; its server hashes the text")
    a = _submit(world)
    texts = _count(monkeypatch, audit_records, "_TEXT")
    assert verify_audit(st.core, workers=1).ok
    assert texts == []
    _unguard(st)
    _sql(st.url, f"UPDATE assessments SET corrected_from = 9e999 WHERE id = {a['id']}")
    report = verify_audit(st.core, workers=1)
    assert report.problems == (
        f"assessment {a['id']} does not match its audit row {_audit_row(st, a['id'])} "
        "(edited)",)


def test_from_a_checkpoint_the_parts_check_only_the_records_written_after_it(world):
    """Verifying from a signed checkpoint, the pool's parts check the records written after
    it, an edit among them named as in one process and nothing before it read as missing."""
    st = world.store
    before = [_submit(world, time_point="baseline")["id"] for _ in range(3)]
    cp = st.maintenance.audit_checkpoint()
    after = [_submit(world, time_point="6w")["id"] for _ in range(4)]
    _unguard(st)
    _sql(st.url, f"UPDATE assessments SET flags = '[]' WHERE id = {after[1]}")
    one = verify_audit(st.core, checkpoint=cp, workers=1)
    pooled = verify_audit(st.core, checkpoint=cp, workers=2, parallel_after=0, chunk=2)
    assert one.problems == (
        f"assessment {after[1]} does not match its audit row {_audit_row(st, after[1])} "
        "(edited)",)
    assert pooled.problems == one.problems and before[0] < after[0]
