"""Record ids beyond the databases' 32-bit integers cannot exist: 404, never a driver error."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from .support import World

TOO_BIG = [2**31, 2**63, 10**40]


@pytest.mark.parametrize("number", TOO_BIG)
def test_api_ids_beyond_the_integer_range_are_not_found(
    client: TestClient, world: World, number: int
) -> None:
    h = world.headers("admin")
    nonexistent = client.get("/api/families/987654", headers=h)
    assert nonexistent.status_code == 404
    for method, path in (("GET", f"/api/families/{number}"),
                         ("GET", f"/api/families/{number}/profile"),
                         ("POST", f"/api/assessments/{number}/corrections"),
                         ("POST", f"/api/users/{number}/active")):
        r = client.request(method, path, headers=h, json={})
        assert r.status_code == 404, (path, r.text)
        assert r.json() == nonexistent.json()  # the same answer as any missing record
        assert r.headers["x-content-type-options"] == "nosniff"


def test_pages_with_such_ids_are_not_found(client: TestClient, world: World) -> None:
    from .test_accounts import _login

    assert _login(client, "pa@example.org") == 303
    r = client.get(f"/families/{2**40}")
    assert r.status_code == 404 and "text/html" in r.headers["content-type"]


def test_ids_within_range_still_reach_the_routes(client: TestClient, world: World) -> None:
    h = world.headers("admin")
    assert client.get(f"/api/families/{world.family_a}", headers=h).status_code == 200
    assert client.get(f"/api/families/{2**31 - 1}", headers=h).status_code == 404
