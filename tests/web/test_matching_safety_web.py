"""Issue 10 on the platform: the store and web read one vocabulary, an alert is acknowledged
with the safety review's outcome, and the API and family page show the hold, the urgency (an
emergency distinct, with crisis contacts), off-evidence options, treatment routes and prompts.

API tests run on SQLite and PostgreSQL; page tests on SQLite.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from attunement.usecases import assessments as uc_assessments
from attunement.usecases import families as uc_families
from attunement.usecases import profiles as uc_profiles

from .support import PASSWORD, World

EPDS_ITEM10 = [0, 0, 0, 0, 0, 0, 0, 0, 0, 2]
EPDS_CLEAR = [0] * 10
_codes = itertools.count(1)


def _days_ago(n: int) -> str:
    return (dt.date.today() - dt.timedelta(days=n)).isoformat()


def _due_in(days: int) -> str:
    return (dt.date.today() + dt.timedelta(days=days)).isoformat()


def _carer(cid: str, role: str, age: int = 30, **kw: Any) -> dict[str, Any]:
    return {"id": cid, "role": role, "age": age, "first_time_parent": True, **kw}


def _family(client: TestClient, world: World, caregivers: list[dict[str, Any]], *,
            infant: dict[str, Any] | None = None, placement: str = "birth_family",
            context: dict[str, bool] | None = None) -> int:
    body = {"site": "Site A", "family_id": f"SAFE-{next(_codes)}",
            "infant": infant or {"date_of_birth": _days_ago(280)}, "placement": placement,
            "context": context or {}, "caregivers": caregivers}
    r = client.post("/api/families", json=body, headers=world.headers("practitioner"))
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _matches(client: TestClient, world: World, fid: int) -> dict[str, Any]:
    r = client.get(f"/api/families/{fid}/matches", headers=world.headers("practitioner"))
    assert r.status_code == 200, r.text
    return r.json()


def _excluded(d: dict[str, Any], pid: str) -> list[str]:
    return next(e for e in d["excluded"] if e["id"] == pid)["reasons"]


def _assess(client: TestClient, world: World, fid: int, caregiver: str, responses: list,
            time_point: str = "6w") -> dict[str, Any]:
    r = client.post(f"/api/families/{fid}/assessments", headers=world.headers("practitioner"),
                    json={"caregiver": caregiver, "instrument": "epds", "time_point": time_point,
                          "responses": responses})
    assert r.status_code == 201, r.text
    return r.json()


def _open_alerts(client: TestClient, world: World, fid: int) -> list[dict[str, Any]]:
    return [a for a in client.get("/api/alerts", headers=world.headers("practitioner")).json()["items"]
            if a["family"] == fid]


# ------------------------------------------------------------------------------------ the API


def test_api_holds_matching_until_the_alert_is_acknowledged_with_an_outcome(
        client: TestClient, world: World) -> None:
    h = world.headers("practitioner")
    fid = _family(client, world, [_carer("carer", "foster_carer", 50)], placement="foster")
    assert _matches(client, world, fid)["held"] is False
    _assess(client, world, fid, "carer", EPDS_ITEM10)

    d = _matches(client, world, fid)
    assert d["held"] is True and d["recommended"] == []
    assert d["held_reason"].startswith("Matching is held: URGENT: same-day safety review")
    assert d["urgency"] == "same_day" and d["crisis_contacts"]
    prof = client.get(f"/api/families/{fid}/profile", headers=h).json()
    assert prof["urgency"] == "same_day" and prof["safety_review_completed"] is False
    assert prof["urgency_action"].startswith("A same-day safety review")
    assert {"treatment", "prompts"} <= set(prof) and prof["crisis_contacts"]

    alert = _open_alerts(client, world, fid)[0]
    url = f"/api/alerts/{alert['id']}/acknowledge"
    r = client.post(url, headers=h, json={"note": "called back"})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "outcome"
    r = client.post(url, headers=h, json={"note": "called back", "outcome": "all fine"})
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "outcome"
    assert _matches(client, world, fid)["held"] is True  # a refused write changed nothing
    r = client.post(url, headers=h, json={"note": "Called the same day; safe; GP informed.",
                                          "outcome": "safety_plan"})
    assert r.status_code == 200, r.text
    assert r.json()["outcome"] == "safety_plan" and r.json()["status"] == "acknowledged"

    d = _matches(client, world, fid)
    assert d["held"] is False and d["held_reason"] is None and d["safety_review_completed"]
    assert d["recommended"][0]["id"] == "abc"
    assert d["recommended"][0]["evidence_fit"] == "in_evidence"

    # a new urgent answer opens a new alert: held again until that one is reviewed
    _assess(client, world, fid, "carer", EPDS_ITEM10, time_point="3m")
    assert _matches(client, world, fid)["held"] is True


def test_api_a_recorded_review_cannot_release_an_open_alert(client: TestClient,
                                                           world: World) -> None:
    fid = _family(client, world, [_carer("carer", "foster_carer", 50,
                                         context={"safety_review_completed": True})],
                  placement="foster", context={"safety_review_completed": True})
    _assess(client, world, fid, "carer", EPDS_ITEM10)
    d = _matches(client, world, fid)
    assert d["held"] is True and d["safety_review_completed"] is False


def test_api_emergency_is_distinct_with_crisis_contacts(client: TestClient,
                                                       world: World) -> None:
    fid = _family(client, world, [_carer("mother", "birth_mother",
                                         context={"suspected_psychosis": True})])
    prof = client.get(f"/api/families/{fid}/profile",
                      headers=world.headers("practitioner")).json()
    assert prof["urgency"] == "emergency"
    assert "within 4 hours" in prof["urgency_action"]
    assert any(c["phone"] == "999" for c in prof["crisis_contacts"])
    d = _matches(client, world, fid)
    assert d["held"] and d["held_reason"].startswith("Matching is held: EMERGENCY")


def test_api_unanswered_safety_item_shows_the_caregiver_crisis_contacts(
        client: TestClient, world: World) -> None:
    h = world.headers("practitioner")
    r = client.post(f"/api/families/{world.family_a}/links", headers=h,
                    json={"caregiver": "father", "instrument": "epds", "time_point": "3m"})
    token = r.json()["token"]
    r = client.post(f"/api/links/{token}", json={"responses": [0] * 9 + [None]})
    assert r.status_code == 201, r.text
    assert r.json()["urgent"] is True and r.json()["crisis_contacts"]
    assert any(a["kind"] == "safety_unanswered" for a in _open_alerts(client, world,
                                                                       world.family_a))


def test_api_protective_exclusions(client: TestClient, world: World) -> None:
    couple = [_carer("mother", "birth_mother", 28), _carer("father", "birth_father", 30)]
    fid = _family(client, world, couple, infant={"due_date": _due_in(100)},
                  context={"domestic_violence": True})
    d = _matches(client, world, fid)
    assert "family_foundations" not in [r["id"] for r in d["recommended"]]
    assert any(r.startswith("protective exclusion: a couples' or co-parenting programme")
               for r in _excluded(d, "family_foundations"))
    fid = _family(client, world, [_carer("mother", "birth_mother", context={
        "severe_mental_illness": True, "psychiatric_mother_baby_unit": True})],
        infant={"date_of_birth": _days_ago(60)})
    d = _matches(client, world, fid)
    assert d["recommended"][0]["id"] == "mbu_video_feedback"
    assert any(r.startswith("protective exclusion: an outpatient group programme is not for an "
                            "inpatient") for r in _excluded(d, "baby_triple_p"))


ROLE_VIGNETTES = {
    "mother": ([_carer("mother", "birth_mother", context={"bonding_difficulty": True})],
               {"context": {"clinical_referral": True}}, "pip"),
    "father": ([_carer("father", "birth_father", context={"perinatal_depression": True})],
               {"infant": {"date_of_birth": _days_ago(150)}}, "mellow_babies"),
    "co_parent": ([_carer("mother", "birth_mother", 31), _carer("partner", "co_parent", 33)],
                  {"infant": {"due_date": _due_in(112)}}, "family_foundations"),
    "foster": ([_carer("carer", "foster_carer", 50)], {"placement": "foster"}, "abc"),
    "adoptive": ([_carer("parent", "adoptive_parent", 41)],
                 {"placement": "adoptive", "infant": {"date_of_birth": _days_ago(460)}},
                 "vipp_sd"),
    "kinship": ([_carer("gran", "kinship_carer", 58)],
                {"placement": "kinship", "context": {"trauma_exposure": True}}, "abc"),
    "under_18": ([_carer("mother", "birth_mother", 16)],
                 {"infant": {"due_date": _due_in(112)},
                  "context": {"socioeconomic_disadvantage": True}}, "fnp"),
}


@pytest.mark.parametrize("role", list(ROLE_VIGNETTES))
def test_api_role_vignettes(client: TestClient, world: World, role: str) -> None:
    caregivers, extra, expected = ROLE_VIGNETTES[role]
    fid = _family(client, world, caregivers, **extra)
    d = _matches(client, world, fid)
    assert d["held"] is False
    rec = next(r for r in d["recommended"] if r["id"] == expected)
    assert rec["evidence_fit"] == "in_evidence"
    fits = [r["evidence_fit"] for r in d["recommended"]]
    assert fits == sorted(fits, key=lambda f: f == "off_evidence")


# ---------------------------------------------------------------------------------- the pages


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has no CSRF token"
    return match.group(1)


def _login(client: TestClient) -> str:
    csrf = _csrf(client.get("/login").text)
    r = client.post("/login", data={"email": "pa@example.org", "password": PASSWORD,
                                    "csrf_token": csrf, "next": "/"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return _csrf(client.get("/").text)


def test_caregiver_who_skips_a_safety_item_sees_the_support_box(
        page_client: TestClient, sqlite_world: World) -> None:
    csrf = _login(page_client)
    r = page_client.post(f"/families/{sqlite_world.family_a}/links", data={
        "csrf_token": csrf, "caregiver": "father", "instrument": "epds", "time_point": "3m"})
    path = re.search(r'value="http://testserver(/c/[^"]+)"', r.text).group(1)
    page_client.cookies.clear()
    page = page_client.get(path)
    answers = {"csrf_token": _csrf(page.text), **{f"item.{n}": "0" for n in range(1, 10)},
               "skip.10": "1"}
    done = page_client.post(path, data=answers)
    assert done.status_code == 200
    assert "You do not have to manage this alone" in done.text
    assert "You chose not to answer a question about your safety" in done.text
    assert "116 123" in done.text and "999" in done.text


def _family_store(world: World, caregivers: list[dict[str, Any]], **extra: Any) -> int:
    body = {"site": "Site A", "family_id": f"SAFE-P{next(_codes)}",
            "infant": {"date_of_birth": _days_ago(280)}, "placement": "birth_family",
            "caregivers": caregivers, **extra}
    return uc_families.register_family(world.store, world.store.system_actor(), body)["id"]


def test_family_page_holds_then_shows_matches_after_a_review_with_outcome(
        page_client: TestClient, sqlite_world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from attunement.usecases import profiles

    real = profiles.profile

    def with_routes(document: dict[str, Any]) -> dict[str, Any]:
        out = real(document)  # the risk profile fills these; the page must show them
        out["treatment"] = out["treatment"] or [{
            "caregiver": "carer", "route": "talking_therapies", "label": "NHS Talking Therapies",
            "reason": "EPDS 13 or more", "contact": "self-referral", "urgency": "routine",
            "source": "NICE CG192"}]
        out["prompts"] = out["prompts"] or [{"id": "repeat_epds", "caregiver": "carer",
                                             "text": "Repeat the EPDS in 2 weeks"}]
        return out

    monkeypatch.setattr(profiles, "profile", with_routes)
    csrf = _login(page_client)
    fid = _family_store(sqlite_world, [_carer("carer", "foster_carer", 50)],
                        placement="foster")
    r = page_client.post(f"/families/{fid}/assess", data={
        "csrf_token": csrf, "caregiver": "carer", "instrument": "epds", "time_point": "6w",
        **{f"item.{n}": str(v) for n, v in enumerate(EPDS_ITEM10, start=1)}},
        follow_redirects=True)
    assert r.status_code == 200 and "URGENT: a safety answer needs a same-day review" in r.text
    page = page_client.get(f"/families/{fid}").text
    assert 'data-urgency="same_day"' in page and "URGENT: same-day safety review" in page
    assert 'id="matches-held"' in page and "Recommendations are held." in page
    assert "Matching is held" in page
    shown = with_routes(uc_profiles.family_document(
        sqlite_world.store, sqlite_world.store.system_actor(), fid))
    assert 'id="treatment"' in page and 'id="prompts"' in page
    for route in shown["treatment"]:
        assert str(route["label"]) in page and str(route["reason"]) in page.replace("&#39;", "'")
    for prompt in shown["prompts"]:
        assert str(prompt["text"]) in page.replace("&#39;", "'")
    assert 'name="outcome"' in page and "Outcome of the safety review" in page

    alert = sqlite_world.store.care.list_alerts(sqlite_world.store.system_actor())[0]
    assert alert["family"] == fid
    back = f"/families/{fid}"
    r = page_client.post(f"/alerts/{alert['id']}/acknowledge", data={
        "csrf_token": csrf, "note": "called back", "back": back}, follow_redirects=True)
    assert "its outcome" in r.text and 'id="matches-held"' in r.text  # not released
    r = page_client.post(f"/alerts/{alert['id']}/acknowledge", data={
        "csrf_token": csrf, "note": "called back", "outcome": "no_immediate_risk",
        "back": back}, follow_redirects=True)
    assert "Alert acknowledged." in r.text
    assert 'id="matches-held"' not in r.text
    assert "A safety review is recorded" in r.text
    assert "Attachment and Biobehavioral Catch-up" in r.text


def test_family_page_emergency_is_distinct_with_crisis_contacts(
        page_client: TestClient, sqlite_world: World) -> None:
    _login(page_client)
    fid = _family_store(sqlite_world, [_carer("mother", "birth_mother",
                                              context={"harm_intent": True})])
    page = page_client.get(f"/families/{fid}").text
    assert 'class="urgent-box emergency-box"' in page and 'data-urgency="emergency"' in page
    assert "EMERGENCY: crisis team or emergency services within hours" in page
    box = page[page.index('id="urgency"'):page.index("</section>", page.index('id="urgency"'))]
    assert "Crisis contacts" in box and "116 123" in box and 'href="tel:999"' in box


def test_off_evidence_option_is_marked_on_the_page(page_client: TestClient,
                                                   sqlite_world: World) -> None:
    _login(page_client)
    fid = _family_store(sqlite_world, [_carer("father", "birth_father",
                                              context={"perinatal_depression": True})],
                        infant={"date_of_birth": _days_ago(400)},
                        context={"child_protection_involvement": True})
    page = page_client.get(f"/families/{fid}").text
    gabi = page.index("Group Attachment-Based Intervention")
    assert "Off-evidence" in page[gabi:gabi + 300]
    assert "tested with birth mother only" in page


def test_a_review_item_alert_is_not_shown_as_urgent(page_client: TestClient,
                                                    sqlite_world: World) -> None:
    _login(page_client)
    store = sqlite_world.store
    fid = _family_store(sqlite_world, [_carer("mother", "birth_mother")],
                        infant={"due_date": _due_in(100)})
    a = uc_assessments.submit_assessment(store, store.system_actor(), fid, "mother", "maas", "antenatal",
                             [5] * 18 + [1])  # item 19 (feelings about a loss): review only
    assert [f["kind"] for f in a["flags"] if f["kind"] == "review"]
    page = page_client.get(f"/families/{fid}").text
    assert 'data-urgency="none"' in page and "For clinician review" in page
    assert "URGENT" not in page[page.index('id="urgency"'):page.index("</section>",
                                                                       page.index('id="urgency"'))]
    assert 'id="matches-held"' not in page


def test_no_release_button_for_a_result_whose_urgent_flag_awaits_its_review(
        page_client: TestClient, sqlite_world: World) -> None:
    # the store refuses such a release; the page offered a button that could only fail
    csrf = _login(page_client)
    fid = _family_store(sqlite_world, [_carer("mother", "birth_mother")])
    for items in (EPDS_ITEM10, EPDS_CLEAR):
        r = page_client.post(f"/families/{fid}/assess", data={
            "csrf_token": csrf, "caregiver": "mother", "instrument": "epds",
            "time_point": "6w" if items is EPDS_ITEM10 else "3m",
            **{f"item.{n}": str(v) for n, v in enumerate(items, start=1)}},
            follow_redirects=True)
        assert r.status_code == 200, r.text
    alert = next(a for a in sqlite_world.store.care.list_alerts(sqlite_world.store.system_actor())
                 if a["family"] == fid)

    def buttons() -> list[str]:
        page = page_client.get(f"/families/{fid}").text
        return re.findall(r'/families/\d+/assessments/(\d+)/release', page)

    assert buttons() == [str(a) for a in sorted(
        {a["id"] for a in sqlite_world.store.families.get_family(
            sqlite_world.store.system_actor(), fid)["assessments"]} - {alert["assessment_id"]})]
    page = page_client.get(f"/families/{fid}").text
    assert "not releasable until the urgent flag" in page
    page_client.post(f"/alerts/{alert['id']}/acknowledge", data={
        "csrf_token": csrf, "note": "seen", "outcome": "no_immediate_risk",
        "back": f"/families/{fid}"}, follow_redirects=True)
    assert str(alert["assessment_id"]) in buttons()


def test_the_page_offers_release_exactly_for_the_results_the_store_releases(
        page_client: TestClient, sqlite_world: World) -> None:
    # one rule (store.care.awaits_review): an alert still open, or closed without an outcome
    # (a row from before outcomes were recorded), holds its result back; the page asks the
    # store which results those are instead of deciding again
    from sqlalchemy import update

    from attunement.store import StoreValidationError
    from attunement.store.models import Alert

    st = sqlite_world.store
    system = st.system_actor()
    _login(page_client)
    fid = _family_store(sqlite_world, [_carer("mother", "birth_mother"),
                                       _carer("father", "birth_father")])
    ids = {name: uc_assessments.submit_assessment(st, system, fid, who, "epds", tp, items)["id"]
           for name, who, tp, items in (("open", "mother", "6w", EPDS_ITEM10),
                                        ("reviewed", "father", "6w", EPDS_ITEM10),
                                        ("no_outcome", "mother", "3m", EPDS_ITEM10),
                                        ("clear", "father", "3m", EPDS_CLEAR))}
    alerts = {a["assessment_id"]: a["id"] for a in st.care.list_alerts(system)
              if a["family"] == fid}
    assert set(alerts) == {ids["open"], ids["reviewed"], ids["no_outcome"]}
    st.care.acknowledge_alert(system, alerts[ids["reviewed"]], note="seen",
                              outcome="no_immediate_risk")
    with st.db.write() as s:
        s.execute(update(Alert).where(Alert.id == alerts[ids["no_outcome"]])
                  .values(status="acknowledged", outcome=None))
    page = page_client.get(f"/families/{fid}").text
    offered = {int(x) for x in re.findall(r'/families/\d+/assessments/(\d+)/release', page)}
    practitioner = st.actor(sqlite_world.users["practitioner"])
    released = set()
    for aid in ids.values():
        try:
            st.care.release_assessment(practitioner, aid)
            released.add(aid)
        except StoreValidationError:  # the store's refusal: the page must not offer it
            pass
    assert offered == released == {ids["reviewed"], ids["clear"]}
    assert st.care.awaiting_review(practitioner, fid) == {ids["open"], ids["no_outcome"]}
