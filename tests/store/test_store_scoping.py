"""Site scoping and roles: other sites' families do not exist for a practitioner (NotFound);
researchers read pseudonymised data only and never an identifier."""

from __future__ import annotations

import json

import pytest

from attunement.store import Forbidden, NotFound, StoreValidationError
from attunement.usecases import assessments as uc_assessments
from attunement.usecases import exports as uc_exports
from attunement.usecases import families as uc_families
from attunement.usecases import observations as uc_observations
from attunement.usecases import profiles as uc_profiles

IDENTIFIERS = (
    "Philippa",
    "Wintergreen",
    "Zebedee",
    "9434765919",
    "Larkspur",
    "07700",
    "1997-03-02",
)


def test_practitioner_cannot_see_or_touch_another_sites_family(world):
    st, north, fs = world.store, world.north, world.fam_south
    assert [f["id"] for f in st.families.list_families(north)] == [world.fam_north]
    assert st.families.list_families(north, q="S-001") == []
    calls = [
        lambda: st.families.get_family(north, fs),
        lambda: uc_profiles.family_document(st, north, fs),
        lambda: st.assessments.list_assessments(north, fs),
        lambda: uc_assessments.submit_assessment(st, north, fs, "mother", "epds", "6w", [0] * 10),
        lambda: uc_families.add_caregiver(st, north, fs, {"id": "x", "role": "other"}),
        lambda: st.families.end_caregiver(north, fs, "father", reason="moved"),
        lambda: uc_assessments.create_link(st, north, fs, "mother", "epds", "6w"),
        lambda: st.care.add_episode(north, fs, "abc", "2026-10-01", caregivers=["mother"]),
        lambda: uc_observations.add_observation_session(st, north, fs, filename="a.csv", content=b"x", metadata={}),
        lambda: st.families.update_infant(north, fs, due_date="2026-09-21", reason="scan"),
        lambda: st.families.update_identifiers(north, fs, "mother", {"phone": "1"}, reason="x"),
        lambda: st.care.add_consent(north, fs, kind="research", version="1", given_on="2026-09-01"),
    ]
    for call in calls:
        with pytest.raises(NotFound):
            call()
    south_assessment = st.assessments.list_assessments(world.south, fs)[0]["id"]
    with pytest.raises(NotFound):
        uc_assessments.correct_assessment(st, north, south_assessment, [0] * 10, reason="typo")
    ep = st.care.add_episode(world.south, fs, "abc", "2026-10-01", caregivers=["mother"])
    with pytest.raises(NotFound):
        st.care.update_episode(north, ep["id"], sessions_offered=10)
    uc_assessments.submit_assessment(st, world.south, fs, "mother", "epds", "6w", [0, 0, 0, 0, 0, 0, 0, 0, 0, 2])
    south_alerts = st.care.list_alerts(world.south)
    assert south_alerts and all(a["family"] == fs for a in south_alerts)
    assert all(a["family"] == world.fam_north for a in st.care.list_alerts(north))
    with pytest.raises(NotFound):
        st.care.acknowledge_alert(north, south_alerts[0]["id"], note="seen", outcome="safety_plan")
    obs = uc_observations.add_observation_session(
        st, world.south, fs, filename="a.csv",
        content=b"session,actor,code,onset\ns1,Infant,cry,1\ns1,Mother,soothe,2\n",
        metadata={"cues": "cry", "responses": "soothe"})
    with pytest.raises(NotFound):
        st.observations.observation_content(north, obs["id"])
    lead = st.actor(
        st.accounts.add_user(world.system, "lead@example.org", "site_lead", ["North"], "long enough pw")[
            "id"
        ]
    )
    with pytest.raises(NotFound):
        st.maintenance.audit_log(lead, family_id=fs)
    assert all(e["site_id"] in lead.site_ids for e in st.maintenance.audit_log(lead, limit=1000))
    # the same message whether the family is elsewhere or does not exist at all
    with pytest.raises(NotFound) as other:
        st.families.get_family(north, fs)
    with pytest.raises(NotFound) as missing:
        st.families.get_family(north, 999999)
    assert str(other.value).replace(str(fs), "N") == str(missing.value).replace("999999", "N")


def test_practitioner_cannot_register_a_family_at_another_site(world, make_family):
    with pytest.raises(StoreValidationError) as err:
        uc_families.register_family(world.store, world.north, make_family("X-1", "South"))
    assert err.value.field == "site"


def test_researcher_sees_pseudonymised_data_only(world):
    st, r = world.store, world.researcher
    rows = st.families.list_families(r)
    assert {row["id"] for row in rows} == {world.fam_north, world.fam_south}
    assert all(row["family_id"] not in ("N-001", "S-001") for row in rows)
    fam = st.families.get_family(r, world.fam_north)
    doc = uc_profiles.family_document(st, r, world.fam_north)
    assessments = st.assessments.list_assessments(r, world.fam_north)
    export = uc_exports.export_assessments(st, r)
    blob = json.dumps([rows, fam, doc, assessments]) + export.to_csv()
    for ident in (*IDENTIFIERS, "N-001", "2026-09-15", "2026-09-20", '"mother"'):
        assert ident not in blob, ident
    assert all("identifiers" not in c for c in fam["caregivers"])
    assert "identifiers" not in fam["infant"]
    assert len(export) == 2 and export["family"].str.match(r"^F[0-9a-f]{16}$").all()
    assert {"day_from_due_date", "infant_age_days"} <= set(export.columns)
    assert "submitted_at" not in export.columns
    assert st.care.list_alerts(r) == []


def test_researcher_is_read_only_and_cannot_get_identifiable_exports(world, make_family):
    st, r = world.store, world.researcher
    for call in (
        lambda: uc_families.register_family(st, r, make_family("R-1", "North")),
        lambda: uc_assessments.submit_assessment(st, r, world.fam_north, "mother", "epds", "6w", [0] * 10),
        lambda: uc_assessments.create_link(st, r, world.fam_north, "mother", "epds", "6w"),
        lambda: uc_exports.export_assessments(st, r, pseudonymise=False),
        lambda: st.accounts.add_site(r, "East"),
        lambda: st.maintenance.audit_log(r),
    ):
        with pytest.raises(Forbidden):
            call()


def test_researcher_outside_the_study_sees_nothing(world):
    st = world.store
    other = st.accounts.add_study(world.system, "Other", ["North"], [])
    u = st.accounts.add_user(
        world.system, "r2@example.org", "researcher", [], "another long pw", studies=["Other"]
    )
    r2 = st.actor(u["id"])
    assert other["id"] in r2.study_ids and world.study_id not in r2.study_ids
    assert st.families.list_families(r2) == []
    with pytest.raises(NotFound):
        st.families.get_family(r2, world.fam_north)


def test_clinician_sees_identifiers_and_the_view_is_audited(world):
    st = world.store
    fam = st.families.get_family(world.north, world.fam_north)
    mother = fam["caregivers"][0]
    assert mother["identifiers"]["name"] == "Philippa Wintergreen"
    assert mother["identifiers"]["nhs_number"] == "9434765919"
    assert fam["infant"]["identifiers"] == {"name": "Zebedee Quillfeather"}
    log = st.maintenance.audit_log(world.admin, limit=5)
    assert log[0]["action"] == "view_identifiers" and log[0]["actor"] == "north@example.org"
    assert "Philippa" not in json.dumps(st.maintenance.audit_log(world.admin, limit=1000))


def test_only_admins_manage_sites_users_and_studies(world):
    st = world.store
    with pytest.raises(Forbidden):
        st.accounts.add_site(world.north, "East")
    with pytest.raises(Forbidden):
        st.accounts.add_user(world.north, "x@example.org", "practitioner", ["North"], "long enough pw")
    with pytest.raises(Forbidden):
        st.accounts.add_study(world.north, "S", ["North"], [])
    with pytest.raises(Forbidden):
        st.accounts.list_users(world.north)
    assert [s["name"] for s in st.accounts.list_sites(world.north)] == ["North"]
    assert [s["name"] for s in st.accounts.list_sites(world.admin)] == ["North", "South"]


def test_bad_family_input_names_the_field(world, make_family):
    st = world.store
    cases = {
        "caregivers.0.role": lambda p: p["caregivers"][0].update(role="aunt"),
        "caregivers.0.nhs_number": lambda p: p["caregivers"][0].update(nhs_number="9434765910"),
        "infant.due_date": lambda p: p["infant"].update(due_date="next week"),
        "placement": lambda p: p.update(placement="orphanage"),
        "assessed_on": lambda p: p.update(assessed_on="2099-01-01"),
        "caregivers.1.responses.epds.3": lambda p: p["caregivers"][1].update(
            responses={"epds": [0, 0, "x", 0, 0, 0, 0, 0, 0, 0]}
        ),
        "responses.3": lambda p: p["caregivers"][1].update(
            responses={"epds": [0, 0, 9, 0, 0, 0, 0, 0, 0, 0]}
        ),
        "instrument": lambda p: p["caregivers"][1].update(responses={"nope": [1]}),
    }
    before = len(st.families.list_families(world.admin))
    for field, mutate in cases.items():
        payload = make_family("BAD", "North")
        mutate(payload)
        with pytest.raises(StoreValidationError) as err:
            uc_families.register_family(st, world.north, payload)
        assert err.value.field == field, (field, err.value)
    assert len(st.families.list_families(world.admin)) == before  # nothing half-written


def test_name_search_stays_inside_the_actors_sites(world):
    """Both fixture families have caregivers called Wintergreen: each practitioner finds only
    their own, and the search is audited without the search text."""
    st = world.store
    assert [f["family_id"] for f in st.families.list_families(world.north, q="wintergreen")] == ["N-001"]
    assert [f["family_id"] for f in st.families.list_families(world.south, q="Wintergreen")] == ["S-001"]
    assert st.families.list_families(world.north, q="Nobody") == []
    assert st.families.list_families(world.researcher, q="Wintergreen") == []  # no identifiers for them
    log = st.maintenance.audit_log(world.admin, limit=3)
    assert log[0]["action"] == "search" and "intergreen" not in json.dumps(log)


def test_transfer_moves_the_family_out_of_the_old_sites_scope(world):
    from attunement.store import Forbidden

    st = world.store
    with pytest.raises(Forbidden):
        st.families.transfer_family(world.north, world.fam_north, "South", reason="moved")
    with pytest.raises(StoreValidationError):
        st.families.transfer_family(world.admin, world.fam_north, "North", reason="same site")
    north_site = st.families.get_family(world.admin, world.fam_north)["site_id"]
    south_site = st.families.get_family(world.admin, world.fam_south)["site_id"]
    moved = st.families.transfer_family(world.admin, world.fam_north, "South", reason="family moved")
    assert moved["site"] == "South"
    with pytest.raises(NotFound):
        st.families.get_family(world.north, world.fam_north)
    assert st.families.get_family(world.south, world.fam_north)["site"] == "South"
    entry = next(e for e in st.maintenance.audit_log(world.admin, limit=5) if e["action"] == "transfer")
    assert (entry["reason"], entry["before"], entry["after"]) == (
        "family moved",
        {"site_id": north_site},
        {"site_id": south_site},
    )


def test_a_family_enrols_only_in_a_study_that_runs_at_its_site(world):
    from tests.store.conftest import family_payload

    st = world.store
    st.accounts.add_site(world.system, "East")
    st.accounts.add_study(world.system, "North-only", ["North"], [])
    with pytest.raises(StoreValidationError) as err:
        uc_families.register_family(
            st, world.admin, family_payload("E-001", "East", study="North-only")
        )
    assert err.value.field == "study" and "does not run at site 'East'" in str(err.value)
    # a family moves only to a site where its study runs
    with pytest.raises(StoreValidationError) as err:
        st.families.transfer_family(world.admin, world.fam_north, "East", reason="moved")
    assert err.value.field == "site" and "does not run at 'East'" in str(err.value)
