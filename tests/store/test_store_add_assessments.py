"""Store.assessments.add_assessments: many submissions in one transaction (group commit), each under its
own savepoint. A failing submission leaves nothing of itself and does not touch the others;
the successful ones are exactly what add_assessment would have stored and returned."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from attunement.instruments import score_responses
from attunement.store import (
    Forbidden,
    NotFound,
    StoreError,
    StoreValidationError,
    Submission,
)
from attunement.store.models import Alert, Assessment, AuditEntry
from attunement.usecases import assessments as uc_assessments
from attunement.usecases import families as uc_families

EPDS_ITEM10 = [1, 1, 2, 2, 1, 2, 1, 1, 1, 2]  # item 10 > 0: the self-harm safety flag
EPDS_CALM = [1, 1, 1, 1, 1, 1, 1, 1, 1, 0]
URGENT = {"safety", "safety_unanswered", "review"}

# what differs between two otherwise identical submissions stored in two families
_PER_ROW = {"id", "family", "caregiver_pk", "submitted_at"}


def _count(st, model, *where) -> int:
    with st.db.read() as s:
        stmt = select(func.count()).select_from(model)
        for cond in where:
            stmt = stmt.where(cond)
        return s.execute(stmt).scalar_one()


def _counts(st) -> dict:
    return {m: _count(st, m) for m in (Assessment, Alert, AuditEntry)}


def _audit_rows_for(st, assessment_id: int) -> list[AuditEntry]:
    with st.db.read() as s:
        return list(
            s.execute(
                select(AuditEntry).where(
                    AuditEntry.entity == "assessment",
                    AuditEntry.entity_id == str(assessment_id),
                )
            ).scalars()
        )


def _alerts_for(st, assessment_ids) -> dict[int, list[str]]:
    with st.db.read() as s:
        rows = s.execute(
            select(Alert.assessment_id, Alert.flag_id).where(
                Alert.assessment_id.in_(list(assessment_ids))
            )
        ).all()
    out: dict[int, list[str]] = {}
    for aid, flag in rows:
        out.setdefault(aid, []).append(flag)
    return out


def _strip(d: dict) -> dict:
    return {k: v for k, v in d.items() if k not in _PER_ROW}


# --- a batch of valid submissions ------------------------------------------------------------


def test_batch_returns_what_add_assessment_returns_and_numbers_instances(world, make_family):
    st = world.store
    # a second family at North, registered exactly like the world's: the same submissions go
    # one by one through add_assessment there, and as one batch here
    twin = uc_families.register_family(st, world.north, make_family("N-002", "North", study="Attach-1"))["id"]
    plan = [
        ("mother", "epds", "6w", EPDS_CALM, "scores"),
        ("mother", "epds", "6w", EPDS_ITEM10, "scores"),
        ("father", "epds", "6w", [0] * 10, "scores"),
        ("mother", "epds", "6w", [3] * 9 + [0], "scores"),
        ("father", "phq9", "6w", [1, 2, 1, 1, 2, 1, 1, 1, 1], "positions"),
        ("mother", "epds", "baseline", [2] * 9 + [0], "scores"),
        ("father", "epds", "6w", [1] * 10, "scores"),
    ]
    existing = st.assessments.list_assessments(world.north, world.fam_north)
    before = _counts(st)
    audit_rows_before = st.maintenance.verify_audit().rows
    # a generator, as the web service hands them over
    batch = uc_assessments.submit_assessments(st, (
        Submission(world.north, world.fam_north, cg, ins, tp, list(r), input=kind)
        for cg, ins, tp, r, kind in plan
    ))
    one_by_one = [
        uc_assessments.submit_assessment(st, world.north, twin, cg, ins, tp, list(r), input=kind)
        for cg, ins, tp, r, kind in plan
    ]
    assert len(batch) == len(plan)
    assert all(isinstance(b, dict) for b in batch), batch
    for b, o, (cg, ins, tp, r, kind) in zip(batch, one_by_one, plan, strict=True):
        assert b["family"] == world.fam_north and o["family"] == twin
        assert set(b) == set(o)
        assert _strip(b) == _strip(o)
        assert b["caregiver"] == cg and b["instrument"] == ins and b["time_point"] == tp
        assert b["responses"] == r and b["input"] == kind
        expected = score_responses(ins, r, input=kind)
        assert b["scores"] == expected.scores
        assert [f["id"] for f in b["flags"]] == [f.id for f in expected.flags]
        assert b["submitted_by"] == world.north.user_id and b["version"] == 1
    # a repeated caregiver x instrument x time point gets the next instance, in batch order
    # (the family file's own EPDS answers are the mother's baseline instance 1)
    assert [b["instance"] for b in batch] == [1, 2, 1, 3, 1, 2, 2]
    assert [(a["caregiver"], a["instrument"], a["time_point"], a["instance"])
            for a in existing] == [("mother", "epds", "baseline", 1)]
    assert len({b["id"] for b in batch}) == len(plan)
    # every one stored as returned
    stored = {
        a["id"]: a for a in st.assessments.list_assessments(world.north, world.fam_north) if a["id"] in
        {b["id"] for b in batch}
    }
    assert set(stored) == {b["id"] for b in batch}
    for b in batch:
        row = stored[b["id"]]
        assert {k: row[k] for k in b} == b
    # one audit row each, plus one each for the twin's submissions
    for b in batch:
        rows = _audit_rows_for(st, b["id"])
        assert [(r.action, r.family_id, r.actor_id) for r in rows] == [
            ("create", world.fam_north, world.north.user_id)
        ]
    after = _counts(st)
    assert after[Assessment] - before[Assessment] == 2 * len(plan)
    assert after[AuditEntry] - before[AuditEntry] == 2 * len(plan)
    report = st.maintenance.verify_audit()
    assert report.ok, report
    assert report.rows == audit_rows_before + 2 * len(plan)


def test_batch_continues_instance_numbers_already_stored(world):
    st = world.store
    first = uc_assessments.submit_assessment(st, world.north, world.fam_north, "father", "epds", "6w", [0] * 10)
    assert first["instance"] == 1
    batch = uc_assessments.submit_assessments(st,
        [Submission(world.north, world.fam_north, "father", "epds", "6w", [i] * 9 + [0])
         for i in range(3)]
    )
    assert [b["instance"] for b in batch] == [2, 3, 4]
    later = uc_assessments.submit_assessment(st, world.north, world.fam_north, "father", "epds", "6w", [0] * 10)
    assert later["instance"] == 5


# --- a batch mixing valid and invalid submissions ----------------------------------------------


def test_failures_leave_nothing_and_do_not_touch_the_others(world):
    st = world.store
    before = _counts(st)
    audit_rows_before = st.maintenance.verify_audit().rows
    subs = [
        # 0 valid, urgent
        Submission(world.north, world.fam_north, "mother", "epds", "6w", EPDS_ITEM10),
        # 1 another site's family through a North practitioner: as if it did not exist
        Submission(world.north, world.fam_south, "mother", "epds", "6w", EPDS_ITEM10),
        # 2 valid
        Submission(world.north, world.fam_north, "father", "epds", "6w", EPDS_CALM),
        # 3 no such caregiver
        Submission(world.north, world.fam_north, "uncle", "epds", "6w", EPDS_ITEM10),
        # 4 bad responses: an item out of range
        Submission(world.north, world.fam_north, "mother", "epds", "6w",
                   [0, 0, 4, 0, 0, 0, 0, 0, 0, 1]),
        # 5 a time point outside the study's schedule
        Submission(world.north, world.fam_north, "mother", "epds", "12y", EPDS_ITEM10),
        # 6 a researcher may not write
        Submission(world.researcher, world.fam_north, "mother", "epds", "6w", EPDS_ITEM10),
        # 7 valid, urgent, the same caregiver x instrument x time point as 0
        Submission(world.north, world.fam_north, "mother", "epds", "6w", EPDS_ITEM10),
        # 8 too few responses
        Submission(world.north, world.fam_north, "mother", "epds", "6w", [0] * 9),
        # 9 unknown instrument
        Submission(world.north, world.fam_north, "mother", "nope", "6w", [0]),
        # 10 the South practitioner on its own family: valid
        Submission(world.south, world.fam_south, "father", "epds", "6w", EPDS_CALM),
    ]
    results = uc_assessments.submit_assessments(st, subs)
    assert len(results) == len(subs)
    valid = {0, 2, 7, 10}
    assert {i for i, r in enumerate(results) if isinstance(r, dict)} == valid, results
    expected_errors = {
        1: (NotFound, None),
        3: (StoreValidationError, "caregiver"),
        4: (StoreValidationError, "responses.3"),
        5: (StoreValidationError, "time_point"),
        6: (Forbidden, None),
        8: (StoreValidationError, "responses"),
        9: (StoreValidationError, "instrument"),
    }
    for i, (cls, field) in expected_errors.items():
        assert type(results[i]) is cls, (i, results[i])
        if field is not None:
            assert results[i].field == field, (i, results[i])
    # the failed ones left nothing; the valid ones are all there, instances in order
    after = _counts(st)
    assert after[Assessment] - before[Assessment] == len(valid)
    assert after[AuditEntry] - before[AuditEntry] == len(valid)
    assert [results[0]["instance"], results[7]["instance"]] == [1, 2]
    assert results[2]["caregiver"] == "father" and results[10]["family"] == world.fam_south
    ids = {results[i]["id"] for i in valid}
    with st.db.read() as s:
        new = s.execute(select(Assessment).where(Assessment.id.in_(ids))).scalars().all()
        assert {a.id for a in new} == ids
    south_rows = st.assessments.list_assessments(world.south, world.fam_south)
    assert [a["id"] for a in south_rows if a["time_point"] == "6w"] == [results[10]["id"]]
    # alerts: exactly the two urgent valid submissions (the failed urgent ones opened none)
    assert after[Alert] - before[Alert] == 2
    assert _alerts_for(st, ids) == {results[0]["id"]: ["epds_self_harm"],
                                    results[7]["id"]: ["epds_self_harm"]}
    report = st.maintenance.verify_audit()
    assert report.ok, report
    assert report.rows == audit_rows_before + len(valid)


def test_every_submission_failing_writes_nothing(world):
    st = world.store
    before = _counts(st)
    results = uc_assessments.submit_assessments(st, [
        Submission(world.researcher, world.fam_north, "mother", "epds", "6w", EPDS_ITEM10),
        Submission(world.north, world.fam_south, "mother", "epds", "6w", EPDS_ITEM10),
        Submission(world.north, world.fam_north, "mother", "epds", "6w", [9] * 10),
    ])
    assert [type(r) for r in results] == [Forbidden, NotFound, StoreValidationError]
    assert _counts(st) == before
    assert st.maintenance.verify_audit().ok


def test_a_database_error_rolls_back_the_whole_batch(world, make_family, refuse_time_point):
    """A database error is not a bad submission: it propagates and nothing of the batch is
    stored (no assessment, alert or audit row), and the store goes on writing afterwards."""
    st = world.store
    # a family outside any study: every time point is accepted by the store itself
    free = uc_families.register_family(st, world.north, make_family("N-FREE", "North"))["id"]
    refuse_time_point(st, "boom")
    before = _counts(st)
    audit_rows_before = st.maintenance.verify_audit().rows
    with pytest.raises(Exception, match="disk on fire") as err:
        uc_assessments.submit_assessments(st, [
            Submission(world.north, world.fam_north, "mother", "epds", "6w", EPDS_ITEM10),
            Submission(world.north, free, "father", "epds", "boom", EPDS_ITEM10),
            Submission(world.north, free, "father", "epds", "6w", EPDS_ITEM10),
        ])
    assert not isinstance(err.value, StoreError)
    assert _counts(st) == before
    report = st.maintenance.verify_audit()
    assert report.ok and report.rows == audit_rows_before
    again = uc_assessments.submit_assessments(st, [
        Submission(world.north, world.fam_north, "mother", "epds", "6w", EPDS_ITEM10),
        Submission(world.north, free, "father", "epds", "6w", EPDS_ITEM10),
    ])
    assert [r["instance"] for r in again] == [1, 1]
    after = _counts(st)
    assert (after[Assessment] - before[Assessment], after[Alert] - before[Alert],
            after[AuditEntry] - before[AuditEntry]) == (2, 2, 2)
    assert st.maintenance.verify_audit().ok


# --- urgent flags ------------------------------------------------------------------------------


def test_urgent_flags_open_alerts_for_exactly_those_submissions(world):
    st = world.store
    alerts_before = {a["id"] for a in st.care.list_alerts(world.north)}
    answers = [
        EPDS_CALM,
        [0] * 9 + [1],  # item 10 > 0
        [3] * 9 + [0],  # high total: a cut-off flag, not urgent
        [0] * 9 + [3],  # item 10 > 0
        [0] * 10,
        [2] * 9 + [2],  # item 10 > 0
    ]
    results = uc_assessments.submit_assessments(st,
        [Submission(world.north, world.fam_north, ("mother", "father")[i % 2], "epds", "6w", r)
         for i, r in enumerate(answers)]
    )
    assert all(isinstance(r, dict) for r in results), results
    urgent = {results[i]["id"] for i, r in enumerate(answers) if r[9] > 0}
    assert len(urgent) == 3
    # what the instrument says is urgent, independently of the store
    for r, res in zip(answers, results, strict=True):
        kinds = {f.kind for f in score_responses("epds", r).flags}
        assert bool(kinds & URGENT) == (res["id"] in urgent)
    opened = [a for a in st.care.list_alerts(world.north) if a["id"] not in alerts_before]
    assert sorted(a["assessment_id"] for a in opened) == sorted(urgent)
    assert {a["flag_id"] for a in opened} == {"epds_self_harm"}
    by_assessment = {a["assessment_id"]: a for a in opened}
    for res in results:
        if res["id"] in urgent:
            assert by_assessment[res["id"]]["caregiver"] == res["caregiver"]
            assert by_assessment[res["id"]]["time_point"] == "6w"
    assert st.maintenance.verify_audit().ok


# --- idempotency -------------------------------------------------------------------------------


def test_the_same_submission_key_twice_in_one_batch_returns_the_first(world):
    st = world.store
    before = _counts(st)
    results = uc_assessments.submit_assessments(st, [
        Submission(world.north, world.fam_north, "mother", "epds", "6w", EPDS_ITEM10,
                   submission_key="retry-7"),
        Submission(world.north, world.fam_north, "father", "epds", "6w", EPDS_CALM,
                   submission_key="other"),
        # the client retried: the same key (the body is ignored, the first one stands)
        Submission(world.north, world.fam_north, "mother", "epds", "6w", EPDS_ITEM10,
                   submission_key="retry-7"),
        Submission(world.north, world.fam_north, "mother", "epds", "6w", [0] * 10,
                   submission_key="retry-7"),
    ])
    assert all(isinstance(r, dict) for r in results), results
    first = results[0]
    assert results[2]["id"] == first["id"] and results[3]["id"] == first["id"]
    assert _strip(results[2]) == _strip(first) and _strip(results[3]) == _strip(first)
    assert results[3]["responses"] == EPDS_ITEM10  # the stored one, not the retry's body
    assert results[1]["id"] != first["id"]
    after = _counts(st)
    assert after[Assessment] - before[Assessment] == 2
    assert after[AuditEntry] - before[AuditEntry] == 2
    assert after[Alert] - before[Alert] == 1  # the retries opened no second alert
    assert _count(st, Assessment, Assessment.submission_key == "retry-7") == 1
    # and after the batch, add_assessment with the key still returns the first
    again = uc_assessments.submit_assessment(st, world.north, world.fam_north, "mother", "epds", "6w",
                              EPDS_ITEM10, submission_key="retry-7")
    assert again["id"] == first["id"]
    assert st.maintenance.verify_audit().ok


def test_a_key_of_another_family_in_the_same_batch_is_refused(world):
    st = world.store
    results = uc_assessments.submit_assessments(st, [
        Submission(world.south, world.fam_south, "mother", "epds", "6w", EPDS_CALM,
                   submission_key="shared"),
        Submission(world.north, world.fam_north, "mother", "epds", "6w", EPDS_CALM,
                   submission_key="shared"),
    ])
    assert isinstance(results[0], dict)
    assert isinstance(results[1], StoreValidationError)
    assert results[1].field == "submission_key"
    assert _count(st, Assessment, Assessment.submission_key == "shared") == 1
    assert st.maintenance.verify_audit().ok


def test_a_failed_submission_does_not_use_up_its_key(world):
    st = world.store
    results = uc_assessments.submit_assessments(st, [
        Submission(world.north, world.fam_north, "uncle", "epds", "6w", EPDS_CALM,
                   submission_key="k-1"),
        Submission(world.north, world.fam_north, "mother", "epds", "6w", EPDS_CALM,
                   submission_key="k-1"),
    ])
    assert isinstance(results[0], StoreError)
    assert isinstance(results[1], dict) and results[1]["caregiver"] == "mother"
    assert _count(st, Assessment, Assessment.submission_key == "k-1") == 1


# --- an empty batch ----------------------------------------------------------------------------


def test_an_empty_batch_returns_nothing_and_writes_nothing(world):
    st = world.store
    before = _counts(st)
    head = st.maintenance.verify_audit()
    assert uc_assessments.submit_assessments(st, []) == []
    assert uc_assessments.submit_assessments(st, iter(())) == []
    assert _counts(st) == before
    assert st.maintenance.verify_audit() == head
