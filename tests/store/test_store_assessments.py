"""Assessments: scored by attunement.instruments, never overwritten, corrections are versions,
urgent flags open alerts, caregiver links are single-use, concurrency loses nothing."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, func, select, text

from attunement.instruments import score_responses
from attunement.store import NotFound, StoreValidationError
from attunement.store.models import Alert, Assessment, AuditEntry, CaregiverLink
from attunement.usecases import assessments as uc_assessments
from attunement.usecases import exports as uc_exports
from attunement.usecases import families as uc_families
from attunement.usecases import observations as uc_observations
from attunement.usecases import profiles as uc_profiles

EPDS_ITEM10 = [1, 1, 2, 2, 1, 2, 1, 1, 1, 2]


def test_assessment_stores_responses_scores_flags_and_instrument_version(world):
    st = world.store
    a = uc_assessments.submit_assessment(st, world.north, world.fam_north, "father", "epds", "6w", EPDS_ITEM10)
    expected = score_responses("epds", EPDS_ITEM10)
    assert a["responses"] == EPDS_ITEM10
    assert a["scores"] == expected.scores and a["scores"]["epds_total"] == 14
    assert a["instrument_version"] == expected.version
    assert [f["id"] for f in a["flags"]] == [f.id for f in expected.flags]
    assert a["version"] == 1 and a["corrected_from"] is None
    alerts = [x for x in st.care.list_alerts(world.north) if x["assessment_id"] == a["id"]]
    assert [x["flag_id"] for x in alerts] == ["epds_self_harm"]
    assert alerts[0]["caregiver"] == "father" and alerts[0]["time_point"] == "6w"
    rows = st.families.list_families(world.north)
    assert rows[0]["open_alerts"] == 1
    ack = st.care.acknowledge_alert(world.north, alerts[0]["id"], note="called, safe, GP informed",
                               outcome="safety_plan")
    assert ack["status"] == "acknowledged" and ack["outcome"] == "safety_plan"
    assert all(x["id"] != ack["id"] for x in st.care.list_alerts(world.north))


def test_positions_input_is_kept_as_given_and_scored_identically(world):
    st = world.store
    positions = [x + 1 for x in [0, 1, 0, 0, 1, 0, 0, 0, 0]]
    a = uc_assessments.submit_assessment(st,
        world.north, world.fam_north, "father", "phq9", "6w", positions, input="positions"
    )
    assert a["responses"] == positions and a["input"] == "positions"
    assert a["scores"] == score_responses("phq9", positions, input="positions").scores
    doc = uc_profiles.family_document(st, world.north, world.fam_north)
    father = next(c for c in doc["caregivers"] if c["id"] == "father")
    assert father["responses"]["phq9"][:9] == [0, 1, 0, 0, 1, 0, 0, 0, 0]
    export = uc_exports.export_assessments(st, world.north)
    row = export[(export.caregiver == "father") & (export.instrument == "phq9")].iloc[0]
    assert [row[f"phq9_{i}"] for i in range(1, 10)] == [0, 1, 0, 0, 1, 0, 0, 0, 0]
    assert row["input"] == "positions" and row["phq9_total"] == 2


def test_correction_is_a_new_version_and_history_is_kept(world):
    st = world.store
    first = uc_assessments.submit_assessment(st, world.north, world.fam_north, "father", "epds", "6w", [0] * 10)
    with pytest.raises(StoreValidationError) as err:
        uc_assessments.correct_assessment(st, world.north, first["id"], [1] * 10, reason="  ")
    assert err.value.field == "reason"
    second = uc_assessments.correct_assessment(st,
        world.north, first["id"], [1] * 10, reason="item order transcribed wrongly"
    )
    assert second["version"] == 2 and second["corrected_from"] == first["id"]
    assert second["scores"]["epds_total"] == 10
    with pytest.raises(StoreValidationError):  # only the latest version can be corrected
        uc_assessments.correct_assessment(st, world.north, first["id"], [2] * 10, reason="again")
    history = [
        x
        for x in st.assessments.list_assessments(world.north, world.fam_north)
        if x["instrument"] == "epds" and x["caregiver"] == "father"
    ]
    assert [(x["version"], x["current"], x["responses"]) for x in history] == [
        (1, False, [0] * 10),
        (2, True, [1] * 10),
    ]
    log = [e for e in st.maintenance.audit_log(world.admin, limit=50) if e["action"] == "correct"]
    assert log[0]["reason"] == "item order transcribed wrongly"
    # the audit row names the versions; the immutable records are pinned by record_hash
    assert log[0]["before"] == {"id": first["id"], "version": 1}
    assert log[0]["after"]["version"] == 2 and "responses" not in log[0]["after"]
    doc = uc_profiles.family_document(st, world.north, world.fam_north)
    father = next(c for c in doc["caregivers"] if c["id"] == "father")
    assert father["responses"]["epds"] == [1] * 10
    export = uc_exports.export_assessments(st, world.north)
    assert len(export[(export.caregiver == "father") & (export.instrument == "epds")]) == 1


def test_bad_assessment_input_names_the_field(world):
    st = world.store
    cases = [
        (("mother", "epds", "6w", [0] * 9), "responses"),
        (("mother", "epds", "6w", [0, 0, 4, 0, 0, 0, 0, 0, 0, 0]), "responses.3"),
        (("mother", "nope", "6w", [0]), "instrument"),
        (("uncle", "epds", "6w", [0] * 10), "caregiver"),
        (("mother", "epds", "12y", [0] * 10), "time_point"),
        (("mother", "epds", "6w", [0, 0, "2", 0, 0, 0, 0, 0, 0, 0]), "responses.3"),
    ]
    for args, field in cases:
        with pytest.raises(StoreValidationError) as err:
            uc_assessments.submit_assessment(st, world.north, world.fam_north, *args)
        assert err.value.field == field, (args, err.value)


def test_no_link_is_issued_for_an_unknown_instrument(world):
    """The check the use case hands the store runs before anything is written."""
    st = world.store
    with pytest.raises(StoreValidationError) as err:
        uc_assessments.create_link(st, world.north, world.fam_north, "father", "nope", "6w")
    assert err.value.field == "instrument" and "nope" in err.value.reason
    with st.db.engine.connect() as conn:
        assert conn.execute(select(func.count(CaregiverLink.id))).scalar_one() == 0


def test_caregiver_link_is_single_use_bound_and_expiring(world):
    st = world.store
    token = uc_assessments.create_link(st, world.north, world.fam_north, "father", "epds", "6w",
                                       hours=1)
    info = st.care.open_link(token)
    assert info["instrument"] == "epds" and info["caregiver_role"] == "birth_father"
    assert "Wintergreen" not in str(info)
    a = uc_assessments.submit_link(st, token, EPDS_ITEM10)
    assert a["submitted_via"] == "link" and a["caregiver"] == "father"
    assert any(x["assessment_id"] == a["id"] for x in st.care.list_alerts(world.north))
    for call in (
        lambda: st.care.open_link(token),
        lambda: uc_assessments.submit_link(st, token, [0] * 10),
        lambda: st.care.open_link("not-a-token"),
    ):
        with pytest.raises(NotFound):
            call()
    expired = uc_assessments.create_link(st, world.north, world.fam_north, "mother", "epds", "6w")
    engine = create_engine(st.url)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE caregiver_links SET expires_at = :t WHERE used_at IS NULL"),
            {"t": (a_time() - timedelta(minutes=1)).replace(tzinfo=None)},
        )
    engine.dispose()
    with pytest.raises(NotFound):
        uc_assessments.submit_link(st, expired, [0] * 10)


def a_time():
    from datetime import UTC, datetime

    return datetime.now(UTC)


def test_bad_link_submission_leaves_the_link_usable(world):
    st = world.store
    token = uc_assessments.create_link(st, world.north, world.fam_north, "father", "epds", "6w")
    with pytest.raises(StoreValidationError):
        uc_assessments.submit_link(st, token, [9] * 10)
    assert st.care.open_link(token)["instrument"] == "epds"


def test_concurrent_link_submissions_use_the_link_once(world):
    st = world.store
    token = uc_assessments.create_link(st, world.north, world.fam_north, "father", "epds", "6w")
    results: list[str] = []

    def go() -> None:
        try:
            uc_assessments.submit_link(st, token, [0] * 10)
            results.append("ok")
        except NotFound:
            results.append("gone")

    threads = [threading.Thread(target=go) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["gone"] * 7 + ["ok"]


def _count(st, model) -> int:
    with st.db.read() as s:
        return s.execute(select(func.count()).select_from(model)).scalar_one()


def test_fifty_concurrent_submissions_lose_none_and_duplicate_none(world):
    st = world.store
    before = _count(st, Assessment)
    audit_before = st.maintenance.verify_audit().rows
    errors: list[BaseException] = []
    barrier = threading.Barrier(50)

    def submit(i: int) -> None:
        try:
            barrier.wait()
            responses = [i % 4, 0, 0, 0, 0, 0, 0, 0, 0, 1 if i % 10 == 0 else 0]
            uc_assessments.submit_assessment(st,
                world.north,
                world.fam_north,
                ("mother", "father")[i % 2],
                "epds",
                "6w",
                responses,
                submission_key=f"k{i}",
            )
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with st.db.read() as s:
        rows = s.execute(select(Assessment).where(Assessment.id > 0)).scalars().all()
        keys = [a.submission_key for a in rows if a.submission_key]
        instances = sorted(
            (a.caregiver_id, a.instance) for a in rows if a.submission_key is not None
        )
    assert len(rows) - before == 50
    assert sorted(keys) == sorted(f"k{i}" for i in range(50))  # none lost, none twice
    assert len(set(instances)) == 50  # each repeat got its own instance number
    assert _count(st, Alert) >= 5
    report = st.maintenance.verify_audit()
    assert report.ok and report.rows == audit_before + 50
    # a retried submission with the same key is not stored twice
    again = uc_assessments.submit_assessment(st,
        world.north, world.fam_north, "mother", "epds", "6w", [0] * 10, submission_key="k0"
    )
    assert _count(st, Assessment) - before == 50 and again["id"] in {a.id for a in rows}


def test_failure_half_way_leaves_nothing(world, monkeypatch):
    """Raise inside the transaction after the assessment and alert rows were inserted."""
    from attunement.store import audit

    st = world.store
    counts = {m: _count(st, m) for m in (Assessment, Alert, AuditEntry, CaregiverLink)}
    real_append = audit.append_many

    def failing_append(session, entries):
        if any(e.get("entity") == "assessment" for e in entries):
            session.flush()  # the assessment and its alert are in the transaction now
            raise RuntimeError("disk on fire")
        return real_append(session, entries)

    monkeypatch.setattr(audit, "append_many", failing_append)
    with pytest.raises(RuntimeError):
        uc_assessments.submit_assessment(st, world.north, world.fam_north, "father", "epds", "6w", EPDS_ITEM10)
    monkeypatch.setattr(audit, "append_many", real_append)
    token = uc_assessments.create_link(st, world.north, world.fam_north, "father", "epds", "6w")
    counts[CaregiverLink] += 1
    counts[AuditEntry] += 1
    monkeypatch.setattr(audit, "append_many", failing_append)
    with pytest.raises(RuntimeError):
        uc_assessments.submit_link(st, token, EPDS_ITEM10)
    monkeypatch.setattr(audit, "append_many", real_append)
    assert {m: _count(st, m) for m in counts} == counts
    assert st.care.open_link(token)["instrument"] == "epds"  # the link was not used up
    assert st.maintenance.verify_audit().ok


def test_caregiver_can_leave_and_join_without_losing_history(world):
    st = world.store
    st.families.end_caregiver(world.north, world.fam_north, "father", reason="separated")
    fam = st.families.get_family(world.north, world.fam_north)
    father = next(c for c in fam["caregivers"] if c["id"] == "father")
    assert father["active"] is False and father["left_reason"] == "separated"
    with pytest.raises(StoreValidationError):
        uc_assessments.submit_assessment(st, world.north, world.fam_north, "father", "epds", "6w", [0] * 10)
    uc_families.add_caregiver(st, world.north, world.fam_north, {"id": "partner", "role": "co_parent"})
    doc = uc_profiles.family_document(st, world.north, world.fam_north)
    assert [c["id"] for c in doc["caregivers"]] == ["mother", "partner"]
    assert st.families.list_families(world.north)[0]["n_caregivers"] == 2


def test_episodes_and_observation_sessions(world):
    st = world.store
    ep = st.care.add_episode(
        world.north, world.fam_north, "abc", "2026-10-10", caregivers=["mother", "father"]
    )
    ep = st.care.update_episode(
        world.north,
        ep["id"],
        sessions_offered=10,
        sessions_attended=8,
        fidelity_notes="good",
        end="2026-12-20",
        end_reason="completed",
        reason="programme finished",
    )
    assert (ep["sessions_attended"], ep["end"]) == (8, "2026-12-20")
    with pytest.raises(StoreValidationError) as err:
        st.care.update_episode(world.north, ep["id"], sessions_attended=11)
    assert err.value.field == "sessions_attended"
    coded = b"session,actor,code,onset\ns1,Infant,cry,1\ns1,Mother,soothe,2\n"
    obs = uc_observations.add_observation_session(
        st, world.north,
        world.fam_north,
        filename="free-play.csv",
        content=coded,
        metadata={"coder": "C1", "task": "free play", "cues": "cry", "responses": "soothe"},
    )
    assert obs["size"] == len(coded)
    assert st.observations.observation_content(world.north, obs["id"]) == ("free-play.csv", coded)
    with pytest.raises(StoreValidationError):
        uc_observations.add_observation_session(
            st, world.north, world.fam_north, filename="../x", content=b"1", metadata={}
        )
    fam = st.families.get_family(world.north, world.fam_north)
    assert len(fam["episodes"]) == 1 and len(fam["observation_sessions"]) == 1


def test_schedule_shows_due_and_overdue(world):
    st = world.store
    row = st.families.list_families(world.north)[0]
    # due date 2026-09-20: baseline window closed long ago (mother has it), 6w open or past
    pending = {
        (x["caregiver"], x["instrument"], x["time_point"]) for x in row["due"] + row["overdue"]
    }
    assert ("mother", "epds", "baseline") not in pending
    assert ("father", "epds", "baseline") in pending
    assert ("father", "phq9", "6w") in pending
    uc_assessments.submit_assessment(st, world.north, world.fam_north, "father", "phq9", "6w", [0] * 9)
    row = st.families.list_families(world.north)[0]
    assert ("father", "phq9", "6w") not in {
        (x["caregiver"], x["instrument"], x["time_point"]) for x in row["due"] + row["overdue"]
    }


def test_consent_is_recorded_and_withdrawn_not_deleted(world):
    st = world.store
    c = st.care.add_consent(
        world.north,
        world.fam_north,
        kind="research",
        version="PIS v2.1",
        given_on="2026-09-01",
        caregiver="mother",
    )
    with pytest.raises(StoreValidationError) as err:
        st.care.withdraw_consent(world.north, c["id"], withdrawn_on="2026-08-01", reason="x")
    assert err.value.field == "withdrawn_on"
    w = st.care.withdraw_consent(
        world.north, c["id"], withdrawn_on="2026-10-01", reason="no longer wishes to take part"
    )
    assert w["active"] is False
    fam = st.families.get_family(world.north, world.fam_north)
    assert [(x["kind"], x["caregiver"], x["active"]) for x in fam["consents"]] == [
        ("research", "mother", False)
    ]
    with pytest.raises(NotFound):
        st.care.withdraw_consent(world.south, c["id"], withdrawn_on="2026-10-02", reason="x")
    pseudo = st.families.get_family(world.researcher, world.fam_north)
    # researchers get days from the due date, never the date itself
    assert "given_on" not in pseudo["consents"][0]
    assert isinstance(pseudo["consents"][0]["given_day"], int)
    assert pseudo["consents"][0]["caregiver"] == pseudo["caregivers"][0]["id"]


def test_concurrent_retries_with_one_submission_key_store_one_assessment(world):
    st = world.store
    before = _count(st, Assessment)
    ids: list[int] = []
    barrier = threading.Barrier(10)

    def submit() -> None:
        barrier.wait()
        ids.append(
            uc_assessments.submit_assessment(st,
                world.north,
                world.fam_north,
                "father",
                "epds",
                "6w",
                [0] * 10,
                submission_key="retry-1",
            )["id"]
        )

    threads = [threading.Thread(target=submit) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ids) == 10 and len(set(ids)) == 1
    assert _count(st, Assessment) == before + 1


_WORKER = """
import sys, threading
from attunement.store import Store
from attunement.usecases import assessments as uc_assessments
url, key, family, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
st = Store.open(url, key_path=key)
actor = st.system_actor()
def go(i):
    uc_assessments.submit_assessment(st, actor, family, "mother", "epds", "6w", [i % 4] + [0] * 9)
threads = [threading.Thread(target=go, args=(i,)) for i in range(n)]
[t.start() for t in threads]
[t.join() for t in threads]
st.close()
"""


def test_two_processes_writing_at_once_lose_nothing(world, key_path):
    """Like `attunement serve --workers 2`: writers in separate processes share the chain."""
    import subprocess
    import sys

    st = world.store
    before, rows_before = _count(st, Assessment), st.maintenance.verify_audit().rows
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, st.url, str(key_path), str(world.fam_north), "20"]
        )
        for _ in range(2)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    assert _count(st, Assessment) - before == 40
    report = st.maintenance.verify_audit()
    assert report.ok and report.rows == rows_before + 40


def test_last_assessed_is_the_completion_date_not_the_entry_time(world):
    """The caseload shows when a questionnaire was answered: a paper form entered today
    for a visit last month must not look like a visit today."""
    st = world.store
    before = {r["id"]: r["last_assessed"] for r in st.families.list_families(world.north)}
    assert before[world.fam_north] == "2026-10-01"  # the family file's assessed_on
    uc_assessments.submit_assessment(st,
        world.north, world.fam_north, "father", "epds", "6w", [0] * 10, completed_on="2026-10-20"
    )
    after = {r["id"]: r["last_assessed"] for r in st.families.list_families(world.north)}
    assert after[world.fam_north] == "2026-10-20"
