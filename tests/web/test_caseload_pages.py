"""Paged lists over HTTP: ``GET /api/families`` and ``GET /api/alerts`` return typed pages
with opaque cursors; the caseload page shows counts and next/previous links; search by name."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from attunement.usecases import families as uc_families

from .support import SECRET_NHS, World, family_payload
from .test_pages import _login


def _walk(client: TestClient, url: str, h: dict) -> list[list[int]]:
    pages, cursor = [], None
    while True:
        r = client.get(url, params={"limit": 2, **({"cursor": cursor} if cursor else {})},
                       headers=h)
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) >= {"items", "next", "previous"}
        pages.append([x["id"] for x in body["items"]])
        cursor = body["next"]
        if cursor is None:
            return pages


def test_api_families_and_alerts_are_paged(client: TestClient, world: World) -> None:
    h = world.headers("practitioner")
    for i in range(4):
        payload = family_payload(f"P-{i}", "Site A")
        payload["caregivers"][0]["responses"] = {"epds": [3] * 10}  # urgent: item 10 > 0
        assert client.post("/api/families", json=payload, headers=h).status_code == 201
    first = client.get("/api/families", headers=h).json()
    assert first["counts"]["families"] == len(first["items"]) >= 5 and first["next"] is None
    pages = _walk(client, "/api/families", h)
    assert [i for p in pages for i in p] == [x["id"] for x in first["items"]]
    assert len(pages) >= 3
    alerts = client.get("/api/alerts", headers=h).json()["items"]
    assert len(alerts) >= 4
    assert [i for p in _walk(client, "/api/alerts", h) for i in p] == [a["id"] for a in alerts]
    r = client.get("/api/families", params={"cursor": "not-a-cursor"}, headers=h)
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "cursor"
    r = client.get("/api/families", params={"urgent": "true"}, headers=h).json()
    assert {x["family_id"] for x in r["items"]} >= {f"P-{i}" for i in range(4)}
    assert all(x["open_alerts"] for x in r["items"])


def test_api_search_by_nhs_number_and_name(client: TestClient, world: World) -> None:
    h = world.headers("practitioner")
    before = client.get("/api/families", params={"q": SECRET_NHS}, headers=h).json()["items"]
    payload = family_payload("ID-1", "Site A", with_identifiers=True)
    assert client.post("/api/families", json=payload, headers=h).status_code == 201
    same = {x["family_id"] for x in before}  # the world's families with these identifiers
    for q in (SECRET_NHS, "943 476 5919", "quillfeather", "Zebedee Quillfeather"):
        got = client.get("/api/families", params={"q": q}, headers=h).json()["items"]
        assert {x["family_id"] for x in got} == same | {"ID-1"}, q
    assert client.get("/api/families", params={"q": "quill"}, headers=h).json()["items"] == []
    res = client.get("/api/families", params={"q": "quillfeather"},
                     headers=world.headers("researcher")).json()
    assert res["items"] == []


def test_dashboard_shows_counts_and_pages(page_client: TestClient, sqlite_world: World) -> None:
    store = sqlite_world.store
    system = store.system_actor()
    for i in range(55):
        uc_families.register_family(store, system, family_payload(f"D-{i:02d}", "Site A"))
    _login(page_client)
    html = page_client.get("/").text
    m = re.search(r"(\d+) families: (\d+) with urgent flags, (\d+) with overdue", html)
    assert m and int(m.group(1)) >= 56
    nxt = re.search(r'href="\?([^"]*cursor=[^"]+)" rel="next"', html)
    assert nxt and 'rel="prev"' not in html.split("Caseload pages")[1]
    second = page_client.get("/?" + nxt.group(1).replace("&amp;", "&")).text
    assert 'rel="prev">Previous page' in second
    first_codes = set(re.findall(r">(D-\d\d)</a>", html))
    second_codes = set(re.findall(r">(D-\d\d)</a>", second))
    assert second_codes and first_codes.isdisjoint(second_codes)
    urgent_only = page_client.get("/?urgent=1").text
    assert "D-00" not in urgent_only
