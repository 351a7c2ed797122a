"""Defaults and wording of the practitioner's pages (issue 13): each test failed before."""

from __future__ import annotations

import datetime as dt
import html
import re

from fastapi.testclient import TestClient

from attunement.usecases import families as uc_families
from web.support import World, family_payload
from web.test_pages import _login


def test_json_export_downloads(page_client: TestClient, sqlite_world: World) -> None:
    r = page_client.get("/api/exports/assessments?format=json",
                        headers=sqlite_world.headers("admin"))
    assert r.status_code == 200
    assert r.headers["content-disposition"] == 'attachment; filename="assessments.json"'


def test_docs_page_leads_back_and_the_app_has_a_favicon(page_client: TestClient) -> None:
    docs = page_client.get("/docs").text
    assert '<a href="/">← Back to attunement</a>' in docs
    assert 'href="/static/favicon.svg"' in page_client.get("/login").text
    icon = page_client.get("/static/favicon.svg")
    assert icon.status_code == 200 and icon.text.startswith("<svg")


def test_time_point_defaults_to_what_is_due(page_client: TestClient,
                                            sqlite_world: World) -> None:
    _login(page_client)
    html = page_client.get(f"/families/{sqlite_world.family_a}").text
    # FAM-A's father owes the study's antenatal EPDS; a family without a schedule gets no
    # default (it used to be "antenatal" whatever the infant's age)
    assert re.search(r'id="as-tp"[^>]*value="antenatal"', html)
    store, system = sqlite_world.store, sqlite_world.store.system_actor()
    born = family_payload("BORN-1", "Site A")
    born["infant"] = {"date_of_birth": (dt.date.today() - dt.timedelta(days=150)).isoformat()}
    fid = uc_families.register_family(store, system, born)["id"]
    html = page_client.get(f"/families/{fid}").text
    assert re.search(r'id="as-tp"[^>]*value=""', html)
    assert re.search(r'id="ln-tp"[^>]*value=""', html)


def test_episode_programme_is_chosen_from_the_catalogue(page_client: TestClient,
                                                        sqlite_world: World) -> None:
    from attunement.interventions.catalogue import load_catalogue

    _login(page_client)
    html = page_client.get(f"/families/{sqlite_world.family_a}").text
    select = re.search(r'<select id="ep-prog".*?</select>', html, re.S)
    assert select, "the programme is a free-text box"
    offered = set(re.findall(r'<option value="([a-z0-9_]+)"', select.group(0)))
    assert offered == {p.id for p in load_catalogue()}
    assert 'value="vipp_sd" selected' not in html


def test_roles_are_written_as_people_write_them(page_client: TestClient,
                                                sqlite_world: World) -> None:
    store, system = sqlite_world.store, sqlite_world.store.system_actor()
    payload = family_payload("COP-1", "Site A")
    payload["caregivers"][1] = {"id": "cp", "role": "co_parent", "age": 33}
    fid = uc_families.register_family(store, system, payload)["id"]
    _login(page_client)
    html = page_client.get(f"/families/{fid}").text
    assert "co-parent" in html and "co parent" not in html


def test_audit_log_pages_filters_and_names_families(page_client: TestClient,
                                                    sqlite_world: World) -> None:
    store, system = sqlite_world.store, sqlite_world.store.system_actor()
    for n in range(120):  # more than a page (it used to stop silently at 300 rows)
        store.care.add_consent(system, sqlite_world.family_a, kind="recording", version=f"v{n}",
                          given_on=dt.date.today())
    _login(page_client, "admin@example.org")
    html = page_client.get("/audit").text
    assert html.count('<td data-label="#">') == 100
    assert ">FAM-A</a>" in html  # the family's code, not its internal id
    assert "signed in" in html and "web session" not in html and "login user" not in html
    older = re.search(r'<a href="(/audit\?before=\d+)">Older entries</a>', html)
    assert older, "no way to the older entries"
    ids_first = [int(i) for i in re.findall(r'<td data-label="#">(\d+)</td>', html)]
    html2 = page_client.get(older.group(1)).text
    ids_second = [int(i) for i in re.findall(r'<td data-label="#">(\d+)</td>', html2)]
    assert ids_second and max(ids_second) < min(ids_first)
    only_b = page_client.get("/audit?family=FAM-B").text
    assert ">FAM-B</a>" in only_b and ">FAM-A</a>" not in only_b
    signins = page_client.get("/audit?action=signed+in").text
    whats = re.findall(r'<td data-label="What">([^<]*)</td>', signins)
    assert whats and set(whats) == {"signed in"}
    missing = page_client.get("/audit?family=NOPE").text
    assert "no family with the code “NOPE”" in missing


def test_register_form_refuses_future_births_first_and_keeps_what_was_typed(
        page_client: TestClient) -> None:
    csrf = _login(page_client)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"',
                     page_client.get("/families/new").text).group(1)
    r = page_client.post("/families/new", data={
        "csrf_token": csrf, "n_caregivers": "2", "site": "Site A", "family_id": "FUT-1",
        "placement": "birth_family", "infant.date_of_birth": "2030-01-01",
        "caregivers.0.role": "birth_mother", "caregivers.0.id": "mother",
        "caregivers.0.date_of_birth": "2031-05-05", "caregivers.0.age": "abc",
        "caregivers.1.id": "cg2", "save": "1"})
    assert r.status_code == 422
    text = html.unescape(r.text)
    summary = text[text.index('class="error-summary"'):text.index('method="post" action="/families/new"')]
    assert "The infant's date of birth (2030-01-01) is in the future" in summary
    assert "Caregiver 1's date of birth (2031-05-05) is in the future" in summary
    assert "caregiver 2" not in summary.lower()  # the optional row as drawn is not a caregiver
    assert "after assessed_on" not in r.text
    # what was typed stays in the fields
    assert re.search(r'name="infant.date_of_birth" type="text" value="2030-01-01"', r.text)
    assert re.search(r'name="caregivers.0.age" type="text" value="abc"', r.text)
