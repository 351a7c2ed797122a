"""The care cascade through the API and the page, on SQLite and PostgreSQL: the seeded
service of tests/cascade/scenario.py with its hand-counted stages, plus the web world's own two
families (FAM-A at Site A in Study S, FAM-B at Site B: each a mother screened negative at
registration and a father never screened). Another site's practitioner sees none of it."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from fastapi.testclient import TestClient

from cascade.scenario import seed

from .support import PASSWORD, World

# Hand counts: the scenario's (tests/cascade/scenario.py) plus the world's negative mothers
# (screened +1 at each site; nothing else changes).
STAGES_A = {"screened": 7, "positive": 4, "referred": 3, "engaged": 2, "completed": 2,
            "improved": 1}
STAGES_B = {"screened": 6, "positive": 4, "referred": 3, "engaged": 3, "completed": 2,
            "improved": 1}
STAGES_ALL = {"screened": 13, "positive": 8, "referred": 6, "engaged": 5, "completed": 4,
              "improved": 2}


def _stages(body: dict[str, Any], site: str) -> dict[str, int]:
    return {r["stage"]: r["count"] for r in body["stages"] if r["site"] == site}


def _seed(world: World) -> dict[str, int]:
    return seed(world.store, world.store.system_actor())


def _site_id(world: World, name: str) -> int:
    return next(s["id"] for s in world.store.accounts.list_sites(world.store.system_actor())
                if s["name"] == name)


def test_cascade_api_counts_match_the_hand_count(client: TestClient, world: World):
    _seed(world)
    body = client.get("/api/cascade", headers=world.headers("admin")).json()
    assert _stages(body, "Site A") == STAGES_A
    assert _stages(body, "Site B") == STAGES_B
    assert _stages(body, "All sites") == STAGES_ALL
    days = {(r["site"], r["from_stage"]): r["median_days"] for r in body["stage_days"]}
    assert (days["Site A", "positive"], days["Site A", "referred"],
            days["Site A", "engaged"]) == (4.0, 8.5, 40.0)
    assert (days["All sites", "positive"], days["All sites", "referred"],
            days["All sites", "engaged"]) == (18.5, 7.0, 34.5)
    fu = {r["site"]: (r["positive"], r["followed_up"], r["rate"]) for r in body["follow_up_30d"]}
    assert fu == {"Site A": (4, 3, 75.0), "Site B": (4, 2, 50.0), "All sites": (8, 5, 62.5)}
    equity = {(r["dimension"], r["group"]): (r["registered"], r["screened"])
              for r in body["equity"]}
    # 9 scenario mothers + 2 world mothers; 8 + 2 screened
    assert equity["role", "birth_mother"] == (11, 10)
    assert equity["role", "birth_father"] == (6, 2)


def test_site_and_study_filters_and_site_scoping(client: TestClient, world: World):
    _seed(world)
    site_a, site_b = _site_id(world, "Site A"), _site_id(world, "Site B")
    own = client.get("/api/cascade", headers=world.headers("practitioner")).json()
    assert set(r["site"] for r in own["stages"]) == {"Site A", "All sites"}
    assert _stages(own, "All sites") == STAGES_A
    other = client.get("/api/cascade", headers=world.headers("practitioner_b")).json()
    assert _stages(other, "All sites") == STAGES_B
    # another site's practitioner cannot even ask for it
    r = client.get(f"/api/cascade?site={site_a}", headers=world.headers("practitioner_b"))
    assert r.status_code == 404
    r = client.get(f"/api/cascade?site={site_b}", headers=world.headers("admin")).json()
    assert _stages(r, "All sites") == STAGES_B
    # Study S holds only FAM-A: its mother screened negative
    study = next(s["id"] for s in world.store.accounts.list_studies(world.store.system_actor()))
    r = client.get(f"/api/cascade?study={study}", headers=world.headers("admin")).json()
    assert _stages(r, "All sites") == {"screened": 1, "positive": 0, "referred": 0,
                                       "engaged": 0, "completed": 0, "improved": 0}


def test_cascade_csv_through_the_api(client: TestClient, world: World):
    _seed(world)
    r = client.get("/api/cascade.csv", headers=world.headers("admin"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    got = {row["stage"]: int(row["value"]) for row in rows if row["section"] == "stages"
           and row["site"] == "All sites" and row["metric"] == "count"}
    assert got == STAGES_ALL


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def _login(client: TestClient, email: str) -> str:
    csrf = _csrf(client.get("/login").text)
    r = client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": csrf,
                                    "next": "/"}, follow_redirects=False)
    assert r.status_code == 303
    return _csrf(client.get("/").text)


def _page_counts(html: str, site: str) -> dict[str, int]:
    row = re.search(r'<tr><th scope="row">' + re.escape(site) + r"</th>(.*?)</tr>", html, re.S)
    assert row, f"no row for {site}"
    return {m.group(1): int(m.group(2)) for m in
            re.finditer(r'<td data-stage="(\w+)">(\d+)', row.group(1))}


def test_cascade_page_shows_the_hand_counted_stages(client: TestClient, world: World):
    _seed(world)
    _login(client, "pa@example.org")
    page = client.get("/cascade")
    assert page.status_code == 200
    assert _page_counts(page.text, "Site A") == STAGES_A
    assert "Site B" not in page.text  # site scoping: nothing of the other site
    assert "<svg" in page.text and "Care cascade: Site A" in page.text
    assert "cdn" not in page.text.lower()
    csv_text = client.get("/cascade.csv").text
    assert "Site B" not in csv_text and "Site A" in csv_text


def test_family_page_records_and_follows_a_referral(client: TestClient, world: World):
    csrf = _login(client, "pa@example.org")
    fam = world.family_a
    r = client.post(f"/families/{fam}/referrals", data={
        "csrf_token": csrf, "target": "route:talking_therapies", "caregiver": "mother",
        "offered_on": "2026-11-02"}, follow_redirects=False)
    assert r.status_code == 303
    page = client.get(f"/families/{fam}").text
    assert "NHS Talking Therapies" in page and "offered 2026-11-02" in page
    ref = world.store.actor(world.users["practitioner"])
    from attunement.usecases import referrals as uc_referrals

    rid = uc_referrals.list_referrals(world.store, ref, fam)[0]["id"]
    csrf = _csrf(page)
    r = client.post(f"/referrals/{rid}/stage", data={
        "csrf_token": csrf, "stage": "declined", "on": "2026-11-03", "reason": "",
        "back": f"/families/{fam}#referrals"}, follow_redirects=False)
    page = client.get(f"/families/{fam}").text
    assert "reason: is required" in page  # the refused stage is explained
    r = client.post(f"/referrals/{rid}/stage", data={
        "csrf_token": csrf, "stage": "declined", "on": "2026-11-03",
        "reason": "prefers her GP", "back": f"/families/{fam}#referrals"},
        follow_redirects=False)
    page = client.get(f"/families/{fam}").text
    assert "declined 2026-11-03: prefers her GP" in page


def test_researcher_api_view_has_no_reasons_or_dates(client: TestClient, world: World):
    system = world.store.system_actor()
    from attunement.usecases import referrals as uc_referrals

    r = uc_referrals.add_referral(world.store, system, world.family_a, kind="route", target="gp",
                                  offered_on="2026-11-01", caregiver="mother")
    uc_referrals.record_stage(world.store, system, r["id"], "declined", on="2026-11-02",
                              reason="SECRET why")
    body = client.get(f"/api/families/{world.family_a}/referrals",
                      headers=world.headers("researcher"))
    assert body.status_code == 200
    text = body.text
    assert "SECRET" not in text and "2026-11" not in text and '"mother"' not in text
    assert body.json()[0]["declined_day"] == 1


def test_researcher_family_page_shows_referrals_without_reasons(client: TestClient,
                                                                world: World):
    from attunement.usecases import referrals as uc_referrals

    system = world.store.system_actor()
    r = uc_referrals.add_referral(world.store, system, world.family_a, kind="route", target="gp",
                                  offered_on="2026-11-01", caregiver="mother")
    uc_referrals.record_stage(world.store, system, r["id"], "declined", on="2026-11-02",
                              reason="SECRET why")
    _login(client, "res@example.org")
    page = client.get(f"/families/{world.family_a}").text
    assert 'id="referrals"' in page and "declined day 1" in page
    assert "SECRET" not in page
    # the referral's own dates are days from the offer (elsewhere on the page researchers see
    # dates moved by the family's secret shift, which may by chance fall on these days)
    section = page[page.index('id="referrals"'):]
    section = section[:section.index("</section>")]
    assert "2026-11-0" not in section
    assert 'action="/referrals/' not in page  # read-only: no stage form


def test_other_sites_dashboard_page_is_404_and_labels_are_escaped(client: TestClient,
                                                                  world: World):
    site_b = _site_id(world, "Site B")
    _login(client, "pa@example.org")
    assert client.get(f"/cascade?site={site_b}").status_code == 404
    assert client.get(f"/cascade.csv?site={site_b}").status_code == 404
    from attunement.web.pages.cascade import cascade_chart

    svg = cascade_chart("<script>alert(1)</script>", [("screened", 3), ("positive", 1)])
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert "1 (33% of screened)" in svg


def test_openapi_documents_the_referral_and_cascade_models(client: TestClient):
    spec = client.get("/openapi.json").json()
    ok = spec["paths"]["/api/referrals/{referral_id}/stages"]["post"]["responses"]["200"]
    assert ok["content"]["application/json"]["schema"]["$ref"].endswith("/ReferralOut")
    cascade = spec["paths"]["/api/cascade"]["get"]["responses"]["200"]
    assert cascade["content"]["application/json"]["schema"]["$ref"].endswith("/CascadeOut")
    assert "text/csv" in spec["paths"]["/api/cascade.csv"]["get"]["responses"]["200"]["content"]
