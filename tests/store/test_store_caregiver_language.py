"""A caregiver's page language and "interpreter needed" flag (issue 13): validated, audited,
scoped, and what the one-time link tells the caregiver pages."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from attunement.store import NotFound, StoreValidationError
from attunement.store.models import AuditEntry
from attunement.usecases import assessments as uc_assessments


def test_language_and_interpreter_are_recorded_and_reach_the_link(world):
    st = world.store
    cg = st.families.set_caregiver_language(world.north, world.fam_north, "father", page_language="ar",
                                   interpreter_needed=True)
    assert cg["page_language"] == "ar" and cg["interpreter_needed"] is True
    family = st.families.get_family(world.north, world.fam_north)
    father = next(c for c in family["caregivers"] if c["id"] == "father")
    assert father["page_language"] == "ar" and father["interpreter_needed"] is True
    token = uc_assessments.create_link(st, world.north, world.fam_north, "father", "phq9", "6w")
    assert st.care.open_link(token)["language"] == "ar"
    mother_token = uc_assessments.create_link(st, world.north, world.fam_north, "mother", "phq9",
                                              "6w")
    assert st.care.open_link(mother_token)["language"] is None  # the service default
    with st.db.read() as s:  # the audit row is the promise
        rows = s.execute(select(AuditEntry).where(AuditEntry.entity == "caregiver")
                         .order_by(AuditEntry.id.desc())).scalars().first()
        assert rows is not None and "interpreter_needed" in str(rows.after)


@pytest.mark.parametrize("tag", ["Arabic", "e", "en_GB", "x" * 40])
def test_a_bad_language_tag_is_refused_and_nothing_changes(world, tag):
    st = world.store
    with pytest.raises(StoreValidationError) as err:
        st.families.set_caregiver_language(world.north, world.fam_north, "father", page_language=tag,
                                  interpreter_needed=True)
    assert err.value.field == "page_language"
    family = st.families.get_family(world.north, world.fam_north)
    father = next(c for c in family["caregivers"] if c["id"] == "father")
    assert father["page_language"] is None and father["interpreter_needed"] is False


def test_another_site_cannot_set_the_language(world):
    with pytest.raises((NotFound, StoreValidationError)):
        world.store.families.set_caregiver_language(world.south, world.fam_north, "father",
                                           page_language="es", interpreter_needed=False)


PHQ9_MILD = [1, 1, 1, 1, 1, 1, 0, 0, 0, None]  # total 6, item 9 = 0
PHQ9_ITEM9 = [1, 1, 1, 1, 1, 1, 0, 0, 1, None]  # item 9 > 0: an urgent flag


def test_a_released_result_reaches_the_caregivers_space_and_nothing_else(world):
    st = world.store
    kept = uc_assessments.submit_assessment(st, world.north, world.fam_north, "father", "phq9", "6w", PHQ9_MILD)
    other = uc_assessments.submit_assessment(st, world.north, world.fam_north, "father", "epds", "6w", [0] * 10)
    token = st.care.create_space_link(world.north, world.fam_north, "father")
    assert st.care.open_space(token)["results"] == []  # nothing before release
    released = st.care.release_assessment(world.north, kept["id"])
    assert st.care.released_results(world.north, world.fam_north) == {kept["id"]: released["released_at"]}
    assert released["released_at"] is not None
    space = st.care.open_space(token)
    assert [r["instrument"] for r in space["results"]] == ["phq9"]
    assert space["results"][0]["scores"]["phq9_total"] == 6
    assert other["instrument"] not in str(space["results"]) and "N-001" not in str(space)
    with pytest.raises(NotFound):
        st.care.open_link(token)  # a space link never opens a questionnaire
    q = uc_assessments.create_link(st, world.north, world.fam_north, "father", "phq9", "6w")
    with pytest.raises(NotFound):
        st.care.open_space(q)  # nor the other way round
    with pytest.raises(StoreValidationError):
        st.care.release_assessment(world.north, kept["id"])  # once


def test_an_urgent_result_is_not_released_before_its_safety_review(world):
    st = world.store
    a = uc_assessments.submit_assessment(st, world.north, world.fam_north, "father", "phq9", "6w", PHQ9_ITEM9)
    with pytest.raises(StoreValidationError) as err:
        st.care.release_assessment(world.north, a["id"])
    assert "safety review" in err.value.reason
    token = st.care.create_space_link(world.north, world.fam_north, "father")
    assert st.care.open_space(token)["results"] == []
    for alert in [x for x in st.care.list_alerts(world.north) if x["assessment_id"] == a["id"]]:
        st.care.acknowledge_alert(world.north, alert["id"], note="phoned; safe", outcome="safety_plan")
    st.care.release_assessment(world.north, a["id"])
    assert len(st.care.open_space(token)["results"]) == 1


def test_another_site_cannot_release_or_open_a_space(world):
    st = world.store
    a = uc_assessments.submit_assessment(st, world.north, world.fam_north, "father", "phq9", "6w", PHQ9_MILD)
    with pytest.raises((NotFound, StoreValidationError)):
        st.care.release_assessment(world.south, a["id"])
    with pytest.raises((NotFound, StoreValidationError)):
        st.care.create_space_link(world.south, world.fam_north, "father")


def test_an_empty_language_means_the_service_default(world):
    cg = world.store.families.set_caregiver_language(world.north, world.fam_north, "father",
                                            page_language=None, interpreter_needed=False)
    assert cg["page_language"] is None


def test_wishes_and_session_feedback_flow_to_the_family(world):
    st = world.store
    ep = st.care.add_episode(world.north, world.fam_north, "abc", "2026-10-01",
                        caregivers=["father"])
    token = st.care.create_space_link(world.north, world.fam_north, "father")
    assert st.care.open_space(token)["episodes"] == [{"id": ep["id"], "programme": "abc"}]
    st.care.contribute(token, "wishes", {"goals": "Sleep more; enjoy bath time",
                                    "preferred_contact": "text messages",
                                    "other_carers": "my mum on Tuesdays"})
    ratings = {"heard": 9, "goals": "8", "approach": 7, "overall": 10}
    st.care.contribute(token, "session_feedback", {"episode": ep["id"], "ratings": ratings,
                                              "comment": "good"})
    rows = st.care.list_contributions(world.north, world.fam_north)
    assert [r["kind"] for r in rows] == ["session_feedback", "wishes"]
    assert rows[0]["programme"] == "abc" and rows[0]["data"]["ratings"]["goals"] == 8
    assert rows[1]["data"]["other_carers"] == "my mum on Tuesdays"
    with pytest.raises((NotFound, StoreValidationError)):
        st.care.list_contributions(world.south, world.fam_north)


@pytest.mark.parametrize(("kind", "data", "field"), [
    ("wishes", {}, "goals"),
    ("wishes", {"goals": "x" * 2001}, "goals"),
    ("session_feedback", {"episode": 1, "ratings": {"heard": 11, "goals": 1, "approach": 1,
                                                    "overall": 1}}, "ratings.heard"),
    ("session_feedback", {"episode": 1, "ratings": {"heard": 1, "goals": 1, "approach": 1}},
     "ratings.overall"),
    ("session_feedback", {"episode": 999999, "ratings": {"heard": 1, "goals": 1,
                                                         "approach": 1, "overall": 1}},
     "episode"),
    ("complaint", {}, "kind"),
])
def test_a_bad_contribution_is_refused_naming_the_field_and_nothing_is_kept(world, kind, data,
                                                                             field):
    st = world.store
    token = st.care.create_space_link(world.north, world.fam_north, "father")
    with pytest.raises(StoreValidationError) as err:
        st.care.contribute(token, kind, data)
    assert err.value.field == field
    assert st.care.list_contributions(world.north, world.fam_north) == []


def test_another_familys_episode_cannot_get_feedback(world):
    st = world.store
    ep = st.care.add_episode(world.south, world.fam_south, "abc", "2026-10-01",
                        caregivers=["father"])
    token = st.care.create_space_link(world.north, world.fam_north, "father")
    with pytest.raises(StoreValidationError) as err:
        st.care.contribute(token, "session_feedback", {"episode": ep["id"], "ratings": {
            "heard": 1, "goals": 1, "approach": 1, "overall": 1}})
    assert err.value.field == "episode"


def test_the_caseload_knows_who_needs_an_interpreter_in_scope_only(world):
    st = world.store
    assert st.families.interpreter_needs(world.north) == {}
    st.families.set_caregiver_language(world.north, world.fam_north, "father", page_language="ar",
                              interpreter_needed=True)
    assert st.families.interpreter_needs(world.north) == {world.fam_north: ["father (ar)"]}
    assert st.families.interpreter_needs(world.south) == {}
    assert st.families.interpreter_needs(world.researcher) == {}


def test_the_space_lists_what_is_due_and_starts_only_that(world):
    st = world.store
    token = st.care.create_space_link(world.north, world.fam_north, "father")
    due = st.care.open_space(token)["due"]
    family = st.families.get_family(world.north, world.fam_north)
    expected = [{"instrument": d["instrument"], "time_point": d["time_point"]}
                for d in (family["overdue"] + family["due"]) if d["caregiver"] == "father"]
    assert due == expected and due, due
    first = due[0]
    q = st.care.start_due_questionnaire(token, first["instrument"], first["time_point"])
    assert st.care.open_link(q)["instrument"] == first["instrument"]
    with pytest.raises(StoreValidationError) as err:
        st.care.start_due_questionnaire(token, "gad7", "nonsense")
    assert err.value.field == "instrument"
    with pytest.raises(NotFound):
        st.care.start_due_questionnaire(q, first["instrument"], first["time_point"])


def test_interpreter_needs_of_a_page_reads_only_that_pages_families(world):
    # the dashboard asks for its page's families only, so the read does not grow with the site
    st = world.store
    st.families.set_caregiver_language(world.north, world.fam_north, "father", page_language="ar",
                                       interpreter_needed=True)
    assert st.families.interpreter_needs(world.north, [world.fam_north]) == {
        world.fam_north: ["father (ar)"]}
    assert st.families.interpreter_needs(world.north, []) == {}
    # a family outside the actor's scope stays invisible even when named
    assert st.families.interpreter_needs(world.south, [world.fam_north]) == {}
