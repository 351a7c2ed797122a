"""Assessment submissions through the documented route, and the group commit behind it, on
SQLite and PostgreSQL.

``POST /api/families/{id}/assessments`` is the one way in: every request below goes through the
route (its pydantic model, then the writer's group commit), and its answer is checked against
the route's contract — status, body and headers — and the records it leaves.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from attunement.store import (
    AuthError,
    Forbidden,
    NotFound,
    Store,
    StoreError,
    StoreValidationError,
)
from attunement.store.models import Assessment
from attunement.usecases import assessments as uc_assessments
from attunement.web import Settings, create_app
from attunement.web.submissions import GroupCommit, Request

from .support import LiveServer, Template, World, unique_name


def _run_async(coro: Any) -> Any:
    """``asyncio.run`` in a thread of its own: the browser tests' Playwright keeps an event
    loop running in the main thread for the whole session."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()

SECRET = "test-secret-" + "x" * 32
EPDS = [1, 1, 2, 2, 1, 2, 1, 1, 1, 0]
EPDS_URGENT = [1, 1, 2, 2, 1, 2, 1, 1, 1, 1]
VOLATILE = {"id", "submitted_at"}  # differ between two stores by design


# --- fixtures ----------------------------------------------------------------------------------


def open_clone(template: Template, tmp: Path, name: str) -> World:
    if template.backend == "sqlite":
        target: Path | str = tmp / name
        target.mkdir()
    else:
        target = unique_name(name)
    url, key = template.clone(target)
    store = Store.open(url, key_path=key)
    app = create_app(store, settings=Settings(secret_key=SECRET))
    w = template.world
    return World(store=store, app=app, tokens=dict(w.tokens), family_a=w.family_a,
                 family_b=w.family_b, users=dict(w.users))


@dataclass
class Served:
    """A clone of the populated world served by the app (the route is the only way in)."""

    world: World
    client: TestClient

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return self.client.post(path, **kw)


@pytest.fixture
def served(web_template: Template, tmp_path: Path) -> Iterator[Served]:
    w = open_clone(web_template, tmp_path, "route")
    try:
        with TestClient(w.app) as client:
            yield Served(w, client)
    finally:
        w.store.close()


def _normal(body: Any) -> Any:
    if isinstance(body, dict):
        return {k: v for k, v in body.items() if k not in VOLATILE}
    return body


def _valid(**extra: Any) -> dict[str, Any]:
    return {"caregiver": "mother", "instrument": "epds", "time_point": "3m",
            "responses": list(EPDS), **extra}


# --- the route's contract ------------------------------------------------------------------------


def _cases(w: World) -> list[tuple[str, str, dict[str, Any], int | None, Any]]:
    """(name, path, request kwargs, status, check on the body)."""
    a = f"/api/families/{w.family_a}/assessments"
    b = f"/api/families/{w.family_b}/assessments"
    pract = w.headers("practitioner")
    json_ct = {**pract, "Content-Type": "application/json"}

    def field(name: str) -> Any:
        return lambda body: body["detail"][0]["field"] == name

    def created(body: Any) -> bool:
        return body["family"] == w.family_a and body["scores"]["epds_total"] == sum(
            x or 0 for x in body["responses"])

    return [
        ("valid", a, dict(json=_valid(), headers=pract), 201, created),
        ("valid, urgent, father", a,
         dict(json=_valid(caregiver="father", responses=EPDS_URGENT), headers=pract), 201,
         lambda body: any(f["kind"] == "safety" for f in body["flags"])),
        ("valid, a missing answer", a,
         dict(json=_valid(responses=[1, None, 2, 2, 1, 2, 1, 1, 1, 0]), headers=pract), 201,
         lambda body: body["responses"][1] is None),
        ("positions input", a,
         dict(json=_valid(instrument="phq9", responses=[1] * 9, input="positions"),
              headers=pract), 201, lambda body: body["input"] == "positions"),
        ("explicit scores input", a, dict(json=_valid(input="scores"), headers=pract), 201,
         created),
        ("json with charset", a,
         dict(content=b'{"caregiver":"mother","instrument":"epds","time_point":"3m",'
                      b'"responses":[0,0,0,0,0,0,0,0,0,0]}',
              headers={**pract, "Content-Type": "application/json; charset=utf-8"}),
         201, created),
        ("lower-case bearer", a,
         dict(json=_valid(), headers={"Authorization": f"bearer {w.tokens['practitioner']}"}),
         201, created),
        ("unknown family", "/api/families/987654/assessments", dict(json=_valid(), headers=pract),
         404, lambda body: body == {"detail": "Not found"}),
        ("largest 32-bit family id", "/api/families/2147483647/assessments",
         dict(json=_valid(), headers=pract), 404,
         lambda body: body == {"detail": "Not found"}),
        ("family of another site", b, dict(json=_valid(), headers=pract), 404,
         lambda body: body == {"detail": "Not found"}),
        ("researcher", a, dict(json=_valid(), headers=w.headers("researcher")), 403,
         lambda body: isinstance(body["detail"], str) and body["detail"]),
        # without credentials the request guard answers before the route
        ("no token", a, dict(json=_valid()), 401,
         lambda body: body == {"detail": "Not authenticated"}),
        ("empty bearer", a, dict(json=_valid(), headers={"Authorization": "Bearer "}), 401,
         lambda body: body == {"detail": "Not authenticated"}),
        ("basic auth", a, dict(json=_valid(), headers={"Authorization": "Basic dXNlcjpwdw=="}),
         401, lambda body: body == {"detail": "Not authenticated"}),
        ("invalid token", a,
         dict(json=_valid(), headers={"Authorization": "Bearer att_not-a-token"}), 401,
         lambda body: body == {"detail": "Not authenticated"}),
        ("item out of range", a,
         dict(json=_valid(responses=[0, 0, 7, 0, 0, 0, 0, 0, 0, 0]), headers=pract), 422,
         field("responses.3")),
        ("too few responses", a, dict(json=_valid(responses=[0] * 9), headers=pract), 422,
         field("responses")),
        ("empty responses", a, dict(json=_valid(responses=[]), headers=pract), 422,
         field("responses")),
        ("unknown caregiver", a, dict(json=_valid(caregiver="uncle"), headers=pract), 422,
         field("caregiver")),
        ("unknown instrument", a, dict(json=_valid(instrument="nope"), headers=pract), 422,
         field("instrument")),
        ("off the study schedule", a, dict(json=_valid(time_point="99y"), headers=pract), 422,
         field("time_point")),
        ("missing field", a,
         dict(json={k: v for k, v in _valid().items() if k != "time_point"}, headers=pract),
         422, field("time_point")),
        ("null field", a, dict(json=_valid(caregiver=None), headers=pract), 422,
         field("caregiver")),
        ("number for a string", a, dict(json=_valid(caregiver=7), headers=pract), 422,
         field("caregiver")),
        ("whole floats in responses", a,
         dict(json=_valid(responses=[float(x) for x in EPDS]), headers=pract), 201,
         lambda body: body["responses"] == EPDS),
        ("fractional floats in responses", a,
         dict(json=_valid(responses=[0.5] + [0] * 9), headers=pract), 422,
         lambda body: body["detail"][0]["field"].startswith("responses")),
        ("strings in responses", a, dict(json=_valid(responses=["a"] * 10), headers=pract),
         422, lambda body: body["detail"][0]["field"].startswith("responses")),
        ("booleans in responses", a,
         dict(json=_valid(responses=[True] + [0] * 9), headers=pract), None, None),
        ("extra unknown fields", a, dict(json=_valid(note="hello", extra=[1]), headers=pract),
         201, created),
        ("unknown input kind", a, dict(json=_valid(input="bogus"), headers=pract), 422,
         field("input")),
        ("null input kind", a, dict(json=_valid(input=None), headers=pract), 422,
         field("input")),
        ("responses not a list", a, dict(json=_valid(responses="0000000000"), headers=pract),
         422, field("responses")),
        ("a JSON array", a, dict(json=[_valid()], headers=pract), 422, None),
        ("not JSON", a, dict(content=b"{caregiver: mother", headers=json_ct), 422, None),
        ("empty body", a, dict(content=b"", headers=json_ct), 422, None),
        ("wrong content type", a,
         dict(content=b'{"caregiver":"mother","instrument":"epds","time_point":"3m",'
                      b'"responses":[0,0,0,0,0,0,0,0,0,0]}',
              headers={**pract, "Content-Type": "text/plain"}), 422, None),
        ("form body", a, dict(data={"caregiver": "mother"}, headers=pract), 422, None),
        ("over-long Idempotency-Key", a,
         dict(json=_valid(), headers={**pract, "Idempotency-Key": "k" * 101}), 422,
         lambda body: "Idempotency-Key" in body["detail"][0]["loc"]),
        ("empty Idempotency-Key", a, dict(json=_valid(), headers={**pract, "Idempotency-Key": ""}),
         422, field("submission_key")),
        ("negative response", a, dict(json=_valid(responses=[-1] + [0] * 9), headers=pract),
         422, field("responses.1")),
        ("100000 responses", a, dict(json=_valid(responses=[0] * 100_000), headers=pract), 413,
         lambda body: "too large" in body["detail"]),
        ("201 responses", a, dict(json=_valid(responses=[0] * 201), headers=pract), 422,
         field("responses")),
        ("over-long time point", a, dict(json=_valid(time_point="m" * 5000), headers=pract),
         422, field("time_point")),
        ("integer beyond 64 bits", a,
         dict(content=b'{"caregiver":"mother","instrument":"epds","time_point":"3m",'
                      b'"responses":[0,0,0,0,0,0,0,0,0,18446744073709551617]}', headers=json_ct),
         422, field("responses.9")),
        ("NaN in responses", a,
         dict(content=b'{"caregiver":"mother","instrument":"epds","time_point":"3m",'
                      b'"responses":[0,0,0,0,0,0,0,0,0,NaN]}', headers=json_ct),
         422, field("responses.9")),
        ("UTF-8 byte order mark", a,
         dict(content=b'\xef\xbb\xbf{"caregiver":"mother","instrument":"epds",'
                      b'"time_point":"3m","responses":[0,0,0,0,0,0,0,0,0,0]}', headers=json_ct),
         201, created),
        ("UTF-16 body", a,
         dict(content='{"caregiver":"mother","instrument":"epds","time_point":"3m",'
                      '"responses":[0,0,0,0,0,0,0,0,0,0]}'.encode("utf-16"), headers=json_ct),
         201, created),
        ("Idempotency-Key of 100", a,
         dict(json=_valid(), headers={**pract, "Idempotency-Key": "m" * 100}), 201,
         created),
    ]


CASES = [c[0] for c in _cases(World(store=None, app=None, tokens=dict.fromkeys(
    ("practitioner", "researcher"), "t"), family_a=1, family_b=2))]


@pytest.mark.parametrize("case", CASES)
def test_the_route_answers_by_its_contract(served: Served, case: str) -> None:
    name, path, kw, status, check = next(c for c in _cases(served.world) if c[0] == case)
    a = served.post(path, **kw)
    if status is not None:
        assert a.status_code == status, (name, a.text)
    else:
        assert a.status_code < 500, (name, a.text)
    if check is not None:
        assert check(a.json()), (name, a.text)
    assert a.headers["content-type"].startswith("application/json"), name
    assert served.world.store.maintenance.verify_audit().ok


def _rows(w: World) -> list[dict]:
    system = w.store.system_actor()
    return [_normal(a) for fam in (w.family_a, w.family_b)
            for a in w.store.assessments.list_assessments(system, fam)]


def test_all_cases_in_one_sequence_leave_consistent_records(served: Served) -> None:
    """One after another on the same store: instances, alerts and audit stay in step, and
    exactly the submissions answered 201 are stored."""
    w = served.world
    before = len(_rows(w))
    created, instances = [], []
    for name, path, kw, status, _check in _cases(w):
        a = served.post(path, **kw)
        if status is not None:
            assert a.status_code == status, (name, a.text)
        if a.status_code == 201:
            created.append(a.json()["id"])
            if (a.json()["caregiver"], a.json()["instrument"]) == ("mother", "epds"):
                instances.append(a.json()["instance"])
    rows = _rows(w)
    assert len(rows) - before == len(set(created))
    assert set(created) <= {r["id"] for r in w.store.assessments.list_assessments(
        w.store.system_actor(), w.family_a)}
    # each new mother x EPDS x 3m submission got the next instance
    assert len(instances) >= 8 and instances == list(range(1, len(instances) + 1))
    assert _alerts(w)
    assert w.store.maintenance.verify_audit().ok


def _alerts(w: World) -> list[tuple]:
    return sorted((a["caregiver"], a["flag_id"], a["time_point"])
                  for a in w.store.care.list_alerts(w.store.system_actor()))


@pytest.mark.parametrize("family_id", [2**31, 10**17])
def test_a_family_id_beyond_32_bits_is_not_found(served: Served, family_id: int) -> None:
    path = f"/api/families/{family_id}/assessments"
    h = served.world.headers("practitioner")
    with TestClient(served.world.app, raise_server_exceptions=False) as client:
        a = client.post(path, json=_valid(), headers=h)
    assert a.status_code == 404 and a.json() == {"detail": "Not found"}


def test_idempotency_key_retried_returns_the_same_submission(served: Served) -> None:
    w = served.world
    path = f"/api/families/{w.family_a}/assessments"
    h = {**w.headers("practitioner"), "Idempotency-Key": "retry-42"}
    first = served.post(path, json=_valid(), headers=h)
    again = served.post(path, json=_valid(), headers=h)
    # a retry with a different body still returns the first submission
    other = served.post(path, json=_valid(responses=[0] * 10), headers=h)
    assert first.status_code == again.status_code == other.status_code == 201
    assert again.json() == first.json() and other.json()["id"] == first.json()["id"]
    assert other.json()["responses"] == EPDS
    with w.store.db.read() as s:
        n = s.execute(select(func.count()).select_from(Assessment).where(
            Assessment.submission_key == "retry-42")).scalar_one()
    assert n == 1
    # the same key used for another family is refused
    other_family = f"/api/families/{w.family_b}/assessments"
    hb = {**w.headers("practitioner_b"), "Idempotency-Key": "retry-42"}
    a = served.post(other_family, json=_valid(time_point="6w"), headers=hb)
    assert a.status_code == 422 and a.json()["detail"][0]["field"] == "submission_key"


def test_a_repeated_idempotency_key_header_counts_as_the_route_counts_it(served: Served) -> None:
    w = served.world
    path = f"/api/families/{w.family_a}/assessments"
    token = w.headers("practitioner")
    twice = [*token.items(), ("Idempotency-Key", "first-key"), ("Idempotency-Key", "second-key")]
    b = served.post(path, json=_valid(), headers=twice)
    assert b.status_code == 201
    # the retry carries only the key the route stored it under
    retry = {**token, "Idempotency-Key": "first-key"}
    rb = served.post(path, json=_valid(), headers=retry)
    assert rb.json()["id"] == b.json()["id"]  # the same submission


def test_a_repeated_content_type_header_counts_as_the_route_counts_it(served: Served) -> None:
    w = served.world
    path = f"/api/families/{w.family_a}/assessments"
    body = (b'{"caregiver":"mother","instrument":"epds","time_point":"3m",'
            b'"responses":[0,0,0,0,0,0,0,0,0,0]}')
    headers = [*w.headers("practitioner").items(), ("Content-Type", "text/plain"),
               ("Content-Type", "application/json")]
    b = served.post(path, content=body, headers=headers)
    assert b.status_code == 422  # the documented route reads the first one


def test_a_body_in_several_chunks_is_read_whole(served: Served) -> None:
    w = served.world
    path = f"/api/families/{w.family_a}/assessments"
    headers = {**w.headers("practitioner"), "Content-Type": "application/json"}
    parts = [b'{"caregiver":"father",', b'"instrument":"epds","time_point":"3m",',
             b'"responses":[0,0,0,0,0,0,0,0,0,1]}']
    a = served.post(path, content=iter(parts), headers=headers)
    assert a.status_code == 201 and a.json()["responses"] == [0] * 9 + [1]
    assert a.json()["id"] in {r["id"] for r in w.store.assessments.list_assessments(
        w.store.system_actor(), w.family_a)}


@pytest.mark.parametrize("caregiver", [r"mo\u0000ther", r"mo\ud800ther"], ids=["nul", "surrogate"])
def test_a_caregiver_the_database_cannot_hold_is_422_not_500(served: Served,
                                                              caregiver: str) -> None:
    w = served.world
    path = f"/api/families/{w.family_a}/assessments"
    body = ('{"caregiver":"' + caregiver + '","instrument":"epds","time_point":"3m",'
            '"responses":[0,0,0,0,0,0,0,0,0,0]}').encode()
    headers = {**w.headers("practitioner"), "Content-Type": "application/json"}
    with TestClient(w.app, raise_server_exceptions=False) as client:
        a = client.post(path, content=body, headers=headers)
    assert a.status_code == 422, a.text
    assert a.json()["detail"][0]["field"] == "caregiver"


def test_security_headers_on_submission_answers(served: Served) -> None:
    w = served.world
    a = f"/api/families/{w.family_a}/assessments"
    requests = [
        (a, dict(json=_valid(), headers=w.headers("practitioner")), 201),
        (f"/api/families/{w.family_b}/assessments",
         dict(json=_valid(), headers=w.headers("practitioner")), 404),
        (a, dict(json=_valid(), headers=w.headers("researcher")), 403),
        (a, dict(json=_valid(), headers={"Authorization": "Bearer att_nope"}), 401),
        (a, dict(json=_valid(responses=[9] * 10), headers=w.headers("practitioner")), 422),
    ]
    for path, kw, status in requests:
        r = served.post(path, **kw)
        assert r.status_code == status, r.text
        assert r.headers["x-content-type-options"] == "nosniff"
        assert "default-src" in r.headers["content-security-policy"]
        assert r.headers["cache-control"] == "no-store"
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["content-type"].startswith("application/json")
        assert int(r.headers["content-length"]) == len(r.content)
        if status == 401:
            assert r.headers["www-authenticate"] == "Bearer"


def test_other_requests_to_the_path(served: Served) -> None:
    """A GET of the same path lists; a POST to another path is not a submission."""
    w = served.world
    h = w.headers("practitioner")
    path = f"/api/families/{w.family_a}/assessments"
    got = served.client.get(path, headers=h)
    assert got.status_code == 200 and isinstance(got.json(), list)
    slash = served.client.post(path + "/", json=_valid(), headers=h, follow_redirects=False)
    assert slash.status_code != 201


# --- 50 concurrent submissions through a live server ---------------------------------------------


N = 50


def test_fifty_concurrent_submissions_through_the_route_are_group_committed(
    served: Served,
) -> None:
    w = served.world
    group: GroupCommit = w.app.state.group_commit
    before = (group.batches, group.written)
    headers = w.headers("practitioner")
    with LiveServer(w.app) as server:
        url = f"{server.url}/api/families/{w.family_a}/assessments"

        def submit(i: int) -> httpx.Response:
            body = {"caregiver": ("mother", "father")[i % 2], "instrument": "epds",
                    "time_point": "3m", "responses": [i % 4] * 9 + [1 if i % 10 == 0 else 0]}
            with httpx.Client(timeout=60) as client:
                return client.post(url, json=body,
                                   headers={**headers, "Idempotency-Key": f"live-{i}"})

        with ThreadPoolExecutor(max_workers=N) as pool:
            responses = list(pool.map(submit, range(N)))
            retried = pool.submit(submit, 7).result()
    assert [r.status_code for r in responses] == [201] * N, [
        r.text for r in responses if r.status_code != 201][:3]
    ids = [r.json()["id"] for r in responses]
    assert len(set(ids)) == N
    assert retried.json()["id"] == responses[7].json()["id"]
    system = w.store.system_actor()
    at_3m = [a for a in w.store.assessments.list_assessments(system, w.family_a) if a["time_point"] == "3m"]
    assert sorted(a["id"] for a in at_3m) == sorted(ids)
    for caregiver in ("mother", "father"):
        assert sorted(a["instance"] for a in at_3m if a["caregiver"] == caregiver) == list(
            range(1, N // 2 + 1))
    for r in responses:  # nothing mixed up between requests
        row = next(a for a in at_3m if a["id"] == r.json()["id"])
        assert row["responses"] == r.json()["responses"]
    batches, written = group.batches - before[0], group.written - before[1]
    assert written == N + 1  # the retry is answered by the store too (its first submission)
    assert batches < N + 1, f"{batches} batches for {N + 1} concurrent submissions"
    report = w.store.maintenance.verify_audit()
    assert report.ok


# --- GroupCommit with a real store ---------------------------------------------------------------


def _request(w: World, i: int, *, role: str = "practitioner", **kw: Any) -> Request:
    fields: dict[str, Any] = dict(
        token=w.tokens[role] if role else None, family_id=w.family_a,
        caregiver=("mother", "father")[i % 2], instrument="epds", time_point="3m",
        responses=[i % 4] * 9 + [0])
    fields.update(kw)
    return Request(**fields)


async def _gather(group: GroupCommit, requests: list[Request]) -> list[Any]:
    return await asyncio.gather(*(group.submit(r) for r in requests), return_exceptions=True)


def _stored(w: World) -> list[dict]:
    return [a for a in w.store.assessments.list_assessments(w.store.system_actor(), w.family_a)
            if a["time_point"] == "3m"]


def test_group_commit_writes_concurrent_submissions_in_batches(world: World) -> None:
    group = GroupCommit(world.store)
    try:
        results = _run_async(_gather(group, [_request(world, i) for i in range(20)]))
    finally:
        group.close()
    assert all(isinstance(r, dict) for r in results), results
    assert group.written == 20
    assert 1 <= group.batches < 20
    stored = _stored(world)
    assert sorted(a["id"] for a in stored) == sorted(r["id"] for r in results)
    for i, r in enumerate(results):  # each answer is its own submission
        assert r["responses"] == [i % 4] * 9 + [0]
        assert r["caregiver"] == ("mother", "father")[i % 2]
    # first come, first served: repeats are numbered in the order they were submitted
    assert [r["instance"] for r in results if r["caregiver"] == "mother"] == list(range(1, 11))
    assert [r["instance"] for r in results if r["caregiver"] == "father"] == list(range(1, 11))
    assert world.store.maintenance.verify_audit().ok


def test_group_commit_respects_max_batch(world: World) -> None:
    group = GroupCommit(world.store, max_batch=4)
    try:
        results = _run_async(_gather(group, [_request(world, i) for i in range(20)]))
    finally:
        group.close()
    assert all(isinstance(r, dict) for r in results), results
    assert group.written == 20 and 5 <= group.batches < 20
    assert len(_stored(world)) == 20


def test_group_commit_hands_each_waiter_its_own_error(world: World) -> None:
    group = GroupCommit(world.store)
    requests = [
        _request(world, 0),
        _request(world, 1, token="att_not-a-token"),
        _request(world, 2, role=""),  # no token at all
        _request(world, 3, role="researcher"),
        _request(world, 4, family_id=world.family_b),
        _request(world, 5, caregiver="uncle"),
        _request(world, 6, responses=[7] * 10),
        _request(world, 7),
    ]
    try:
        results = _run_async(_gather(group, requests))
    finally:
        group.close()
    assert [type(r) for r in results] == [
        dict, AuthError, AuthError, Forbidden, NotFound, StoreValidationError,
        StoreValidationError, dict]
    assert results[5].field == "caregiver" and results[6].field == "responses.1"
    assert group.written == 2
    assert sorted(a["id"] for a in _stored(world)) == sorted(
        results[i]["id"] for i in (0, 7))
    assert world.store.maintenance.verify_audit().ok


def test_group_commit_falls_back_to_one_by_one_when_the_batch_fails(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """add_assessments raising a non-store error once: each is written alone, all valid ones
    are stored and the invalid one still gets its own error."""
    store = world.store
    real = store.assessments.add_assessments
    calls: list[int] = []

    def fail_once(submissions: Any, **options: Any) -> list[Any]:
        subs = list(submissions)
        calls.append(len(subs))
        if len(calls) == 1:
            raise RuntimeError("connection reset (test)")
        return real(subs, **options)

    monkeypatch.setattr(store.assessments, "add_assessments", fail_once)
    group = GroupCommit(store)
    requests = [_request(world, i) for i in range(6)]
    requests.insert(3, _request(world, 3, caregiver="uncle"))
    try:
        results = _run_async(_gather(group, requests))
    finally:
        group.close()
    assert calls and calls[0] == 7
    assert [type(r) for r in results] == [dict] * 3 + [StoreValidationError] + [dict] * 3
    assert group.written == 6
    stored = _stored(world)
    assert sorted(a["id"] for a in stored) == sorted(
        r["id"] for r in results if isinstance(r, dict))
    assert len({a["id"] for a in stored}) == 6
    assert store.maintenance.verify_audit().ok


def test_only_the_culprit_fails_when_one_submission_breaks_the_batch(
    world: World, refuse_time_point: Any
) -> None:
    """A database error in one submission (a trigger refuses its row) fails the whole batch;
    written one by one, only that submission fails and every other one is stored."""
    refuse_time_point(world.store, "boom")
    group = GroupCommit(world.store)
    requests = [_request(world, i) for i in range(6)]
    # family B is in no study, so the store itself accepts any time point there
    requests[3] = _request(world, 3, role="practitioner_b", family_id=world.family_b,
                           time_point="boom")
    requests.append(_request(world, 6, role="practitioner_b", family_id=world.family_b,
                             time_point="6w"))
    try:
        results = _run_async(_gather(group, requests))
    finally:
        group.close()
    assert [type(r) is dict for r in results] == [True] * 3 + [False] + [True] * 3, results
    assert not isinstance(results[3], StoreError) and "disk on fire" in str(results[3])
    assert group.written == 6
    stored = _stored(world)
    assert sorted(a["id"] for a in stored) == sorted(r["id"] for r in results[:3] + results[4:6])
    on_b = world.store.assessments.list_assessments(world.store.system_actor(), world.family_b)
    assert [a["time_point"] for a in on_b if a["id"] == results[6]["id"]] == ["6w"]
    assert not [a for a in on_b if a["time_point"] == "boom"]
    assert world.store.maintenance.verify_audit().ok


def test_an_idle_group_commit_writes_the_first_arrival_at_once(world: World) -> None:
    """One submission at a time: each is its own batch, none waits for company."""
    group = GroupCommit(world.store)

    async def one_by_one() -> list[dict]:
        return [await group.submit(_request(world, i)) for i in range(3)]

    try:
        results = _run_async(asyncio.wait_for(one_by_one(), timeout=30))
    finally:
        group.close()
    assert [r["instance"] for r in results] == [1, 1, 2]
    assert group.batches == 3 and group.written == 3


def test_a_waiter_that_goes_away_does_not_stop_the_others(world: World) -> None:
    """A client that disconnects (its waiting task cancelled) while it waits for its batch:
    the others get their answers, the worker keeps serving, and the submission itself is stored
    (a retry with its Idempotency-Key would get it back)."""
    group = GroupCommit(world.store)

    async def scenario() -> tuple[list[Any], dict]:
        tasks = [asyncio.create_task(group.submit(_request(world, i, submission_key=f"w-{i}")))
                 for i in range(10)]
        await asyncio.sleep(0)  # all ten are queued, the writer not yet started
        tasks[4].cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        later = await asyncio.wait_for(group.submit(_request(world, 10)), timeout=30)
        return results, later

    try:
        results, later = _run_async(scenario())
    finally:
        group.close()
    assert isinstance(results[4], asyncio.CancelledError)
    assert all(isinstance(r, dict) for i, r in enumerate(results) if i != 4), results
    assert later["instance"] >= 1
    stored = _stored(world)
    assert len(stored) == 11 and len({a["id"] for a in stored}) == 11
    retry = uc_assessments.submit_assessment(world.store, world.store.actor(world.users["practitioner"]),
                                       world.family_a, "mother", "epds", "3m", [0] * 10,
                                       submission_key="w-4")
    assert retry["id"] in {a["id"] for a in stored}
    assert group.written == 10  # nine answered in the batch, and the later one


def test_settings_choose_the_batch_size(web_template: Template, tmp_path: Path) -> None:
    w = open_clone(web_template, tmp_path, "small")
    try:
        app = create_app(w.store, settings=Settings(secret_key=SECRET, max_batch=3))
        assert app.state.group_commit.max_batch == 3
        assert create_app(w.store, settings=Settings(secret_key=SECRET)).state.group_commit \
            .max_batch == 64
    finally:
        w.store.close()
