"""The JSON API on SQLite and PostgreSQL: paths, bodies, errors naming the field."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from .support import PASSWORD, World, family_payload

EPDS_URGENT = [1, 1, 2, 2, 1, 2, 1, 1, 1, 1]  # total 13, item 10 = 1


def test_token_password_flow(client: TestClient) -> None:
    r = client.post("/api/token", data={"username": "pa@example.org", "password": PASSWORD})
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "bearer" and body["access_token"]
    me = client.get("/api/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.json()["role"] == "practitioner"


def test_bad_login_then_throttled_with_retry_after(client: TestClient) -> None:
    for _ in range(5):
        r = client.post("/api/token", data={"username": "pa@example.org", "password": "wrong!!!"})
        assert r.status_code == 401
    r = client.post("/api/token", data={"username": "pa@example.org", "password": PASSWORD})
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) > 0


def test_invalid_token_is_401(client: TestClient) -> None:
    r = client.get("/api/families", headers={"Authorization": "Bearer att_not-a-token"})
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == "Bearer"


def test_family_lifecycle(client: TestClient, world: World) -> None:
    h = world.headers("practitioner")
    r = client.post("/api/families", json=family_payload("FAM-NEW", "Site A"), headers=h)
    assert r.status_code == 201, r.text
    fid = r.json()["id"]
    got = client.get(f"/api/families/{fid}", headers=h).json()
    assert got["family_id"] == "FAM-NEW"
    assert {c["role"] for c in got["caregivers"]} == {"birth_mother", "birth_father"}
    body = {"caregiver": "mother", "instrument": "epds", "time_point": "6w",
            "responses": EPDS_URGENT}
    r = client.post(f"/api/families/{fid}/assessments", json=body, headers=h)
    assert r.status_code == 201, r.text
    a = r.json()
    assert a["scores"]["epds_total"] == 13
    assert any(f["kind"] == "safety" for f in a["flags"])
    profile = client.get(f"/api/families/{fid}/profile", headers=h)
    assert profile.status_code == 200
    assert profile.json()["urgent"] is True
    alerts = client.get("/api/alerts", headers=h).json()["items"]
    assert any(x["family"] == fid and x["kind"] == "safety" for x in alerts)
    matches = client.get(f"/api/families/{fid}/matches", headers=h)
    if matches.status_code == 503:
        pytest.skip("intervention catalogue not installed yet")
    assert matches.status_code == 200
    assert "recommended" in matches.json() and "excluded" in matches.json()


def test_assessment_errors_name_the_field(client: TestClient, world: World) -> None:
    h = world.headers("practitioner")
    url = f"/api/families/{world.family_a}/assessments"
    bad_item = {"caregiver": "mother", "instrument": "epds", "time_point": "3m",
                "responses": [0, 0, 7, 0, 0, 0, 0, 0, 0, 0]}
    r = client.post(url, json=bad_item, headers=h)
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"] == "responses.3"
    unknown = {**bad_item, "instrument": "nope", "responses": [0] * 10}
    r = client.post(url, json=unknown, headers=h)
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "instrument"
    off_schedule = {**bad_item, "time_point": "99y", "responses": [0] * 10}
    r = client.post(url, json=off_schedule, headers=h)
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "time_point"
    missing = {"caregiver": "mother", "instrument": "epds", "responses": [0] * 10}
    r = client.post(url, json=missing, headers=h)
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"] == "time_point"
    wrong_type = {**bad_item, "responses": ["a"] * 10}
    r = client.post(url, json=wrong_type, headers=h)
    assert r.status_code == 422 and r.json()["detail"][0]["field"].startswith("responses")
    assert len(client.get(url.replace("/assessments", "/assessments"), headers=h).json()) == 1


def test_family_errors_name_the_field_and_leave_nothing(client: TestClient, world: World) -> None:
    h = world.headers("practitioner")
    before = len(client.get("/api/families", headers=h).json()["items"])
    bad_role = family_payload("FAM-BAD", "Site A")
    bad_role["caregivers"][1]["role"] = "uncle-ish"
    r = client.post("/api/families", json=bad_role, headers=h)
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"] == "caregivers.1.role"
    # a failing response half-way through the file: the family must not be half-written
    bad_answers = family_payload("FAM-HALF", "Site A")
    bad_answers["caregivers"][1]["responses"] = {"phq9": [0, 0, 0, 9, 0, 0, 0, 0, 0]}
    r = client.post("/api/families", json=bad_answers, headers=h)
    assert r.status_code == 422
    assert "responses" in r.json()["detail"][0]["field"]
    no_caregivers = {"site": "Site A", "family_id": "FAM-X"}
    r = client.post("/api/families", json=no_caregivers, headers=h)
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "caregivers"
    after = client.get("/api/families", headers=h).json()["items"]
    assert len(after) == before
    assert not [f for f in after if f["family_id"] in {"FAM-BAD", "FAM-HALF"}]


def test_other_site_is_not_found_for_writes(client: TestClient, world: World) -> None:
    h = world.headers("practitioner")
    r = client.post("/api/families", json=family_payload("FAM-Z", "Site B"), headers=h)
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "site"
    body = {"caregiver": "mother", "instrument": "epds", "time_point": "x", "responses": [0] * 10}
    r = client.post(f"/api/families/{world.family_b}/assessments", json=body, headers=h)
    assert r.status_code == 404
    assert r.json() == {"detail": "Not found"}
    assert len(world.store.assessments.list_assessments(world.store.system_actor(), world.family_b)) == 1


def test_caregiver_link_single_use(client: TestClient, world: World) -> None:
    h = world.headers("practitioner")
    r = client.post(f"/api/families/{world.family_a}/links", headers=h,
                    json={"caregiver": "father", "instrument": "epds", "time_point": "3m"})
    assert r.status_code == 201, r.text
    link = r.json()
    assert link["url"].endswith("/c/" + link["token"])
    opened = client.get(f"/api/links/{link['token']}")
    assert opened.status_code == 200
    assert opened.json()["instrument"] == "epds" and len(opened.json()["questions"]) == 10
    assert "family_id" not in opened.json()
    r = client.post(f"/api/links/{link['token']}", json={"responses": [0] * 9 + [2]})
    assert r.status_code == 201
    assert r.json()["urgent"] is True and r.json()["crisis_contacts"]
    again = client.post(f"/api/links/{link['token']}", json={"responses": [0] * 10})
    assert again.status_code == 404
    assert client.get(f"/api/links/{link['token']}").status_code == 404
    assert client.get("/api/links/made-up-token").status_code == 404


def test_episode_and_alert_acknowledgement(client: TestClient, world: World) -> None:
    h = world.headers("practitioner")
    r = client.post(f"/api/families/{world.family_a}/episodes", headers=h,
                    json={"programme": "abc", "start": "2026-09-01", "caregivers": ["mother"]})
    assert r.status_code == 201, r.text
    eid = r.json()["id"]
    r = client.patch(f"/api/episodes/{eid}", headers=h,
                     json={"sessions_offered": 10, "sessions_attended": 8})
    assert r.status_code == 200 and r.json()["sessions_attended"] == 8
    r = client.patch(f"/api/episodes/{eid}", headers=h, json={"sessions_attended": -1})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "sessions_attended"
    r = client.patch(f"/api/episodes/{eid}", headers=h, json={"colour": "blue"})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "colour"
    body = {"caregiver": "mother", "instrument": "epds", "time_point": "3m",
            "responses": EPDS_URGENT}
    client.post(f"/api/families/{world.family_a}/assessments", json=body, headers=h)
    alert = next(a for a in client.get("/api/alerts", headers=h).json()["items"]
                 if a["family"] == world.family_a)
    r = client.post(f"/api/alerts/{alert['id']}/acknowledge", headers=h,
                    json={"note": "", "outcome": "safety_plan"})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "note"
    # issue 10: the safety review's outcome is required
    r = client.post(f"/api/alerts/{alert['id']}/acknowledge", headers=h,
                    json={"note": "Phoned the same day; safety plan agreed."})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "outcome"
    r = client.post(f"/api/alerts/{alert['id']}/acknowledge", headers=h,
                    json={"note": "Phoned the same day; safety plan agreed.",
                          "outcome": "safety_plan"})
    assert r.status_code == 200 and r.json()["status"] == "acknowledged"


def test_correction_is_a_new_version(client: TestClient, world: World) -> None:
    h = world.headers("practitioner")
    original = world.store.assessments.list_assessments(world.store.system_actor(), world.family_a)[0]
    r = client.post(f"/api/assessments/{original['id']}/corrections", headers=h,
                    json={"responses": [0] * 10, "reason": "typed from the wrong form"})
    assert r.status_code == 201, r.text
    assert r.json()["version"] == 2 and r.json()["corrected_from"] == original["id"]
    r = client.post(f"/api/assessments/{original['id']}/corrections", headers=h,
                    json={"responses": [0] * 10, "reason": ""})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "reason"
    rows = client.get(f"/api/families/{world.family_a}/assessments", headers=h).json()
    assert [a["version"] for a in rows] == [1, 2]
    assert rows[0]["responses"] == original["responses"]


def test_admin_creates_site_user_study(client: TestClient, world: World) -> None:
    h = world.headers("admin")
    assert client.post("/api/sites", json={"name": "Site C"}, headers=h).status_code == 201
    r = client.post("/api/sites", json={"name": "site c"}, headers=h)
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "name"
    r = client.post("/api/users", headers=h, json={"email": "new@example.org", "role":
                                                   "practitioner", "sites": ["Site C"],
                                                   "password": PASSWORD})
    assert r.status_code == 201, r.text
    r = client.post("/api/users", headers=h, json={"email": "x@example.org", "role": "wizard",
                                                   "sites": [], "password": PASSWORD})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "role"
    r = client.post("/api/studies", headers=h, json={
        "name": "Study T", "sites": ["Site C"],
        "time_points": [{"name": "6w", "offset_days": 42, "window_days": 14,
                         "instruments": ["epds"]}]})
    assert r.status_code == 201, r.text
    assert client.get("/api/studies", headers=h).status_code == 200


def test_openapi_documents_the_contract_paths(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for path in ("/api/token", "/api/families", "/api/families/{family_id}",
                 "/api/families/{family_id}/assessments", "/api/families/{family_id}/profile",
                 "/api/families/{family_id}/matches"):
        assert path in spec["paths"], path
    assert "AssessmentIn" in spec["components"]["schemas"]


def test_consent_and_observation_recordings(client: TestClient, world: World) -> None:
    h = world.headers("practitioner")
    fid = world.family_a
    r = client.post(f"/api/families/{fid}/consents", headers=h, json={
        "kind": "research", "version": "v2.1", "given_on": "2026-10-01", "caregiver": "mother"})
    assert r.status_code == 201, r.text
    r2 = client.post(f"/api/consents/{r.json()['id']}/withdraw", headers=h,
                     json={"withdrawn_on": "2026-09-01", "reason": "changed mind"})
    assert r2.status_code == 422 and r2.json()["detail"][0]["field"] == "withdrawn_on"
    content = b"session,actor,code,onset\ns1,Infant,infant_cue,0.0\ns1,Mother,response,1.2\n"
    r = client.post(f"/api/families/{fid}/observations", headers=h,
                    files={"file": ("session1.csv", content, "text/csv")},
                    data={"metadata": '{"coder": "A", "scheme": "demo", "cues": "infant_cue", '
                                      '"responses": "response"}'})
    assert r.status_code == 201, r.text
    r = client.post(f"/api/families/{fid}/observations", headers=h,
                    files={"file": ("x.csv", content, "text/csv")}, data={"metadata": "{bad"})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "metadata"
    sid = client.get(f"/api/families/{fid}", headers=h).json()["observation_sessions"][0]["id"]
    got = client.get(f"/api/observations/{sid}/content", headers=h)
    assert got.status_code == 200 and got.content == content
    other = client.get(f"/api/observations/{sid}/content", headers=world.headers("practitioner_b"))
    assert other.status_code == 404
    res = client.get(f"/api/observations/{sid}/content", headers=world.headers("researcher"))
    assert res.status_code == 403
