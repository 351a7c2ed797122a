"""The submission lane and the group commit behind it, on SQLite and PostgreSQL.

Two identical clones of the populated world are served by two apps, one with the lane (the
default) and one with ``Settings(submission_lane=False)``; every request goes to both, and the
answers must be the same apart from ids and timestamps. A recorder behind the lane tells which
requests the lane answered itself and which it handed on to the documented route, so the
comparison is not vacuous.
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
from attunement.web import Settings, create_app
from attunement.web.submissions import GroupCommit, Request, SubmissionLane

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


class Recorder:
    """Put behind the lane: counts the requests it handed on to the app (the route)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.calls: list[tuple[str, str]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.calls.append((scope["method"], scope["path"]))
        await self.app(scope, receive, send)


def find_lane(app: Any) -> SubmissionLane | None:
    node = app.middleware_stack
    while node is not None:
        if isinstance(node, SubmissionLane):
            return node
        node = getattr(node, "app", None)
    return None


def open_clone(template: Template, tmp: Path, name: str, *, lane: bool) -> World:
    if template.backend == "sqlite":
        target: Path | str = tmp / name
        target.mkdir()
    else:
        target = unique_name(name)
    url, key = template.clone(target)
    store = Store.open(url, key_path=key)
    app = create_app(store, settings=Settings(secret_key=SECRET, submission_lane=lane))
    w = template.world
    return World(store=store, app=app, tokens=dict(w.tokens), family_a=w.family_a,
                 family_b=w.family_b, users=dict(w.users))


@dataclass
class Pair:
    """The same world twice: ``lane`` (default settings) and ``route`` (lane off)."""

    lane: World
    route: World
    lane_client: TestClient
    route_client: TestClient
    recorder: Recorder

    def post(self, path: str, **kw: Any) -> tuple[httpx.Response, httpx.Response, bool]:
        """The same request to both apps; True when the lane answered it itself."""
        handed_on = len(self.recorder.calls)
        a = self.lane_client.post(path, **kw)
        took_lane = len(self.recorder.calls) == handed_on
        b = self.route_client.post(path, **kw)
        return a, b, took_lane


@pytest.fixture
def pair(web_template: Template, tmp_path: Path) -> Iterator[Pair]:
    lane = open_clone(web_template, tmp_path, "lane", lane=True)
    route = open_clone(web_template, tmp_path, "route", lane=False)
    try:
        with TestClient(lane.app) as lc, TestClient(route.app) as rc:
            found = find_lane(lane.app)
            assert found is not None, "the default app has no submission lane"
            assert find_lane(route.app) is None, "submission_lane=False still has the lane"
            recorder = Recorder(found.app)
            found.app = recorder
            yield Pair(lane, route, lc, rc, recorder)
    finally:
        lane.store.close()
        route.store.close()


def _normal(body: Any) -> Any:
    if isinstance(body, dict):
        return {k: v for k, v in body.items() if k not in VOLATILE}
    return body


def _json(r: httpx.Response) -> Any:
    try:
        return r.json()
    except ValueError:
        return r.text


def _headers(r: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in r.headers.items() if k not in {"content-length", "date", "server"}}


def _assert_same(a: httpx.Response, b: httpx.Response) -> None:
    assert a.status_code == b.status_code, (a.status_code, a.text, b.status_code, b.text)
    assert _normal(_json(a)) == _normal(_json(b))
    assert _headers(a) == _headers(b)


def _valid(**extra: Any) -> dict[str, Any]:
    return {"caregiver": "mother", "instrument": "epds", "time_point": "3m",
            "responses": list(EPDS), **extra}


# --- the same answers with and without the lane --------------------------------------------------


LANE, ROUTE = True, False
GUARD = LANE  # answered before the route (by the request guard in front of the lane)


def _cases(w: World) -> list[tuple[str, str, dict[str, Any], int, bool, Any]]:
    """(name, path, request kwargs, status, taken by the lane, check on the body)."""
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
        ("valid", a, dict(json=_valid(), headers=pract), 201, LANE, created),
        ("valid, urgent, father", a,
         dict(json=_valid(caregiver="father", responses=EPDS_URGENT), headers=pract), 201, LANE,
         lambda body: any(f["kind"] == "safety" for f in body["flags"])),
        ("valid, a missing answer", a,
         dict(json=_valid(responses=[1, None, 2, 2, 1, 2, 1, 1, 1, 0]), headers=pract), 201,
         LANE, lambda body: body["responses"][1] is None),
        ("positions input", a,
         dict(json=_valid(instrument="phq9", responses=[1] * 9, input="positions"),
              headers=pract), 201, LANE, lambda body: body["input"] == "positions"),
        ("explicit scores input", a, dict(json=_valid(input="scores"), headers=pract), 201,
         LANE, created),
        ("json with charset", a,
         dict(content=b'{"caregiver":"mother","instrument":"epds","time_point":"3m",'
                      b'"responses":[0,0,0,0,0,0,0,0,0,0]}',
              headers={**pract, "Content-Type": "application/json; charset=utf-8"}),
         201, LANE, created),
        ("lower-case bearer", a,
         dict(json=_valid(), headers={"Authorization": f"bearer {w.tokens['practitioner']}"}),
         201, LANE, created),
        ("unknown family", "/api/families/987654/assessments", dict(json=_valid(), headers=pract),
         404, LANE, lambda body: body == {"detail": "Not found"}),
        ("largest 32-bit family id", "/api/families/2147483647/assessments",
         dict(json=_valid(), headers=pract), 404, LANE,
         lambda body: body == {"detail": "Not found"}),
        ("family of another site", b, dict(json=_valid(), headers=pract), 404, LANE,
         lambda body: body == {"detail": "Not found"}),
        ("researcher", a, dict(json=_valid(), headers=w.headers("researcher")), 403, LANE,
         lambda body: isinstance(body["detail"], str) and body["detail"]),
        # without credentials the request guard answers before the lane or the route
        ("no token", a, dict(json=_valid()), 401, GUARD,
         lambda body: body == {"detail": "Not authenticated"}),
        ("empty bearer", a, dict(json=_valid(), headers={"Authorization": "Bearer "}), 401,
         GUARD, lambda body: body == {"detail": "Not authenticated"}),
        ("basic auth", a, dict(json=_valid(), headers={"Authorization": "Basic dXNlcjpwdw=="}),
         401, GUARD, lambda body: body == {"detail": "Not authenticated"}),
        ("invalid token", a,
         dict(json=_valid(), headers={"Authorization": "Bearer att_not-a-token"}), 401, LANE,
         lambda body: body == {"detail": "Not authenticated"}),
        ("item out of range", a,
         dict(json=_valid(responses=[0, 0, 7, 0, 0, 0, 0, 0, 0, 0]), headers=pract), 422, LANE,
         field("responses.3")),
        ("too few responses", a, dict(json=_valid(responses=[0] * 9), headers=pract), 422, LANE,
         field("responses")),
        ("empty responses", a, dict(json=_valid(responses=[]), headers=pract), 422, LANE,
         field("responses")),
        ("unknown caregiver", a, dict(json=_valid(caregiver="uncle"), headers=pract), 422, LANE,
         field("caregiver")),
        ("unknown instrument", a, dict(json=_valid(instrument="nope"), headers=pract), 422, LANE,
         field("instrument")),
        ("off the study schedule", a, dict(json=_valid(time_point="99y"), headers=pract), 422,
         LANE, field("time_point")),
        ("missing field", a,
         dict(json={k: v for k, v in _valid().items() if k != "time_point"}, headers=pract),
         422, ROUTE, field("time_point")),
        ("null field", a, dict(json=_valid(caregiver=None), headers=pract), 422, ROUTE,
         field("caregiver")),
        ("number for a string", a, dict(json=_valid(caregiver=7), headers=pract), 422, ROUTE,
         field("caregiver")),
        ("whole floats in responses", a,
         dict(json=_valid(responses=[float(x) for x in EPDS]), headers=pract), 201, ROUTE,
         lambda body: body["responses"] == EPDS),
        ("fractional floats in responses", a,
         dict(json=_valid(responses=[0.5] + [0] * 9), headers=pract), 422, ROUTE,
         lambda body: body["detail"][0]["field"].startswith("responses")),
        ("strings in responses", a, dict(json=_valid(responses=["a"] * 10), headers=pract),
         422, ROUTE, lambda body: body["detail"][0]["field"].startswith("responses")),
        ("booleans in responses", a,
         dict(json=_valid(responses=[True] + [0] * 9), headers=pract), None, ROUTE, None),
        ("extra unknown fields", a, dict(json=_valid(note="hello", extra=[1]), headers=pract),
         201, ROUTE, created),
        ("unknown input kind", a, dict(json=_valid(input="bogus"), headers=pract), 422, ROUTE,
         field("input")),
        ("null input kind", a, dict(json=_valid(input=None), headers=pract), 422, ROUTE,
         field("input")),
        ("responses not a list", a, dict(json=_valid(responses="0000000000"), headers=pract),
         422, ROUTE, field("responses")),
        ("a JSON array", a, dict(json=[_valid()], headers=pract), 422, ROUTE, None),
        ("not JSON", a, dict(content=b"{caregiver: mother", headers=json_ct), 422, ROUTE, None),
        ("empty body", a, dict(content=b"", headers=json_ct), 422, ROUTE, None),
        ("wrong content type", a,
         dict(content=b'{"caregiver":"mother","instrument":"epds","time_point":"3m",'
                      b'"responses":[0,0,0,0,0,0,0,0,0,0]}',
              headers={**pract, "Content-Type": "text/plain"}), 422, ROUTE, None),
        ("form body", a, dict(data={"caregiver": "mother"}, headers=pract), 422, ROUTE, None),
        ("over-long Idempotency-Key", a,
         dict(json=_valid(), headers={**pract, "Idempotency-Key": "k" * 101}), 422, ROUTE,
         lambda body: "Idempotency-Key" in body["detail"][0]["loc"]),
        ("empty Idempotency-Key", a, dict(json=_valid(), headers={**pract, "Idempotency-Key": ""}),
         422, LANE, field("submission_key")),
        ("negative response", a, dict(json=_valid(responses=[-1] + [0] * 9), headers=pract),
         422, LANE, field("responses.1")),
        ("100000 responses", a, dict(json=_valid(responses=[0] * 100_000), headers=pract), 413,
         GUARD, lambda body: "too large" in body["detail"]),
        ("201 responses", a, dict(json=_valid(responses=[0] * 201), headers=pract), 422,
         ROUTE, field("responses")),
        ("over-long time point", a, dict(json=_valid(time_point="m" * 5000), headers=pract),
         422, LANE, field("time_point")),
        ("integer beyond 64 bits", a,
         dict(content=b'{"caregiver":"mother","instrument":"epds","time_point":"3m",'
                      b'"responses":[0,0,0,0,0,0,0,0,0,18446744073709551617]}', headers=json_ct),
         422, GUARD, field("responses.9")),
        ("NaN in responses", a,
         dict(content=b'{"caregiver":"mother","instrument":"epds","time_point":"3m",'
                      b'"responses":[0,0,0,0,0,0,0,0,0,NaN]}', headers=json_ct),
         422, ROUTE, field("responses.9")),
        ("UTF-8 byte order mark", a,
         dict(content=b'\xef\xbb\xbf{"caregiver":"mother","instrument":"epds",'
                      b'"time_point":"3m","responses":[0,0,0,0,0,0,0,0,0,0]}', headers=json_ct),
         201, ROUTE, created),
        ("UTF-16 body", a,
         dict(content='{"caregiver":"mother","instrument":"epds","time_point":"3m",'
                      '"responses":[0,0,0,0,0,0,0,0,0,0]}'.encode("utf-16"), headers=json_ct),
         201, ROUTE, created),
        ("Idempotency-Key of 100", a,
         dict(json=_valid(), headers={**pract, "Idempotency-Key": "m" * 100}), 201, LANE,
         created),
    ]


CASES = [c[0] for c in _cases(World(store=None, app=None, tokens=dict.fromkeys(
    ("practitioner", "researcher"), "t"), family_a=1, family_b=2))]


@pytest.mark.parametrize("case", CASES)
def test_the_lane_answers_as_the_route_does(pair: Pair, case: str) -> None:
    name, path, kw, status, lane, check = next(c for c in _cases(pair.lane) if c[0] == case)
    a, b, took_lane = pair.post(path, **kw)
    _assert_same(a, b)
    if status is not None:
        assert a.status_code == status, (name, a.text)
    if check is not None:
        assert check(a.json()), (name, a.text)
    assert took_lane is lane, f"{name}: expected the {'lane' if lane else 'route'}"
    # and the two stores hold the same assessments afterwards
    _assert_same_rows(pair)


def _rows(w: World) -> list[dict]:
    system = w.store.system_actor()
    return [_normal(a) for fam in (w.family_a, w.family_b)
            for a in w.store.assessments.list_assessments(system, fam)]


def _assert_same_rows(pair: Pair) -> None:
    assert _rows(pair.lane) == _rows(pair.route)
    assert pair.lane.store.maintenance.verify_audit().ok and pair.route.store.maintenance.verify_audit().ok


def test_all_cases_in_one_sequence_leave_the_same_records(pair: Pair) -> None:
    """One after another on the same stores: instances, alerts and audit stay in step."""
    taken, instances = 0, []
    for name, path, kw, status, _lane, _check in _cases(pair.lane):
        a, b, took_lane = pair.post(path, **kw)
        _assert_same(a, b)
        if status is not None:
            assert a.status_code == status, (name, a.text)
        taken += took_lane
        if a.status_code == 201 and (a.json()["caregiver"], a.json()["instrument"]) == (
                "mother", "epds"):
            instances.append(a.json()["instance"])
    assert taken >= 15
    _assert_same_rows(pair)
    # each new mother x EPDS x 3m submission got the next instance, whichever way it came
    assert len(instances) >= 8 and instances == list(range(1, len(instances) + 1))
    assert _alerts(pair.lane) == _alerts(pair.route) and _alerts(pair.lane)


def _alerts(w: World) -> list[tuple]:
    return sorted((a["caregiver"], a["flag_id"], a["time_point"])
                  for a in w.store.care.list_alerts(w.store.system_actor()))


@pytest.mark.parametrize("family_id", [2**31, 10**17])
def test_a_family_id_beyond_32_bits_is_not_found(pair: Pair, family_id: int) -> None:
    path = f"/api/families/{family_id}/assessments"
    h = pair.lane.headers("practitioner")
    with TestClient(pair.lane.app, raise_server_exceptions=False) as lc, \
            TestClient(pair.route.app, raise_server_exceptions=False) as rc:
        a, b = lc.post(path, json=_valid(), headers=h), rc.post(path, json=_valid(), headers=h)
    assert (a.status_code, b.status_code) == (404, 404)
    _assert_same(a, b)


def test_idempotency_key_retried_returns_the_same_submission(pair: Pair) -> None:
    path = f"/api/families/{pair.lane.family_a}/assessments"
    h = {**pair.lane.headers("practitioner"), "Idempotency-Key": "retry-42"}
    first_a, first_b, lane1 = pair.post(path, json=_valid(), headers=h)
    again_a, again_b, lane2 = pair.post(path, json=_valid(), headers=h)
    # a retry with a different body still returns the first submission
    other_a, other_b, lane3 = pair.post(path, json=_valid(responses=[0] * 10), headers=h)
    assert lane1 and lane2 and lane3
    for first, again, other in ((first_a, again_a, other_a), (first_b, again_b, other_b)):
        assert first.status_code == again.status_code == other.status_code == 201
        assert again.json() == first.json() and other.json()["id"] == first.json()["id"]
        assert other.json()["responses"] == EPDS
    _assert_same(first_a, first_b)
    _assert_same(again_a, again_b)
    for w in (pair.lane, pair.route):
        with w.store.db.read() as s:
            n = s.execute(select(func.count()).select_from(Assessment).where(
                Assessment.submission_key == "retry-42")).scalar_one()
        assert n == 1
    # the same key used for another family is refused the same way by both
    other_family = f"/api/families/{pair.lane.family_b}/assessments"
    hb = {**pair.lane.headers("practitioner_b"), "Idempotency-Key": "retry-42"}
    a, b, lane = pair.post(other_family, json=_valid(time_point="6w"), headers=hb)
    assert lane
    _assert_same(a, b)
    assert a.status_code == 422 and a.json()["detail"][0]["field"] == "submission_key"


def test_a_repeated_idempotency_key_header_counts_as_the_route_counts_it(pair: Pair) -> None:
    path = f"/api/families/{pair.lane.family_a}/assessments"
    token = pair.lane.headers("practitioner")
    twice = [*token.items(), ("Idempotency-Key", "first-key"), ("Idempotency-Key", "second-key")]
    a, b, _ = pair.post(path, json=_valid(), headers=twice)
    _assert_same(a, b)
    # the retry carries only the key the route stored it under
    retry = {**token, "Idempotency-Key": "first-key"}
    ra, rb, _ = pair.post(path, json=_valid(), headers=retry)
    assert rb.json()["id"] == b.json()["id"]  # the documented route: the same submission
    assert ra.json()["id"] == a.json()["id"]  # the lane must answer the same


def test_a_repeated_content_type_header_counts_as_the_route_counts_it(pair: Pair) -> None:
    path = f"/api/families/{pair.lane.family_a}/assessments"
    body = (b'{"caregiver":"mother","instrument":"epds","time_point":"3m",'
            b'"responses":[0,0,0,0,0,0,0,0,0,0]}')
    headers = [*pair.lane.headers("practitioner").items(), ("Content-Type", "text/plain"),
               ("Content-Type", "application/json")]
    a, b, _ = pair.post(path, content=body, headers=headers)
    assert b.status_code == 422  # the documented route reads the first one
    _assert_same(a, b)


def test_a_body_in_several_chunks_takes_the_lane(pair: Pair) -> None:
    path = f"/api/families/{pair.lane.family_a}/assessments"
    headers = {**pair.lane.headers("practitioner"), "Content-Type": "application/json"}
    parts = [b'{"caregiver":"father",', b'"instrument":"epds","time_point":"3m",',
             b'"responses":[0,0,0,0,0,0,0,0,0,1]}']
    before = len(pair.recorder.calls)
    a = pair.lane_client.post(path, content=iter(parts), headers=headers)
    assert len(pair.recorder.calls) == before
    b = pair.route_client.post(path, content=iter(parts), headers=headers)
    _assert_same(a, b)
    assert a.status_code == 201 and a.json()["responses"] == [0] * 9 + [1]
    _assert_same_rows(pair)


@pytest.mark.parametrize("caregiver", [r"mo\u0000ther", r"mo\ud800ther"], ids=["nul", "surrogate"])
def test_a_caregiver_the_database_cannot_hold_is_422_not_500(pair: Pair, caregiver: str) -> None:
    """Found while comparing the lane with the route: both answer the same, but with a 500."""
    path = f"/api/families/{pair.lane.family_a}/assessments"
    body = ('{"caregiver":"' + caregiver + '","instrument":"epds","time_point":"3m",'
            '"responses":[0,0,0,0,0,0,0,0,0,0]}').encode()
    headers = {**pair.lane.headers("practitioner"), "Content-Type": "application/json"}
    with TestClient(pair.lane.app, raise_server_exceptions=False) as lc, \
            TestClient(pair.route.app, raise_server_exceptions=False) as rc:
        a, b = lc.post(path, content=body, headers=headers), rc.post(path, content=body,
                                                                      headers=headers)
    assert (a.status_code, b.status_code) == (422, 422), (a.text, b.text)
    assert a.json()["detail"][0]["field"] == "caregiver"
    _assert_same(a, b)


def test_security_headers_on_lane_answers(pair: Pair) -> None:
    w = pair.lane
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
        before = len(pair.recorder.calls)
        r = pair.lane_client.post(path, **kw)
        assert len(pair.recorder.calls) == before, "expected the lane to answer"
        assert r.status_code == status, r.text
        assert r.headers["x-content-type-options"] == "nosniff"
        assert "default-src" in r.headers["content-security-policy"]
        assert r.headers["cache-control"] == "no-store"
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["content-type"].startswith("application/json")
        assert int(r.headers["content-length"]) == len(r.content)
        if status == 401:
            assert r.headers["www-authenticate"] == "Bearer"


def test_other_requests_pass_the_lane_untouched(pair: Pair) -> None:
    """GETs of the same path and other POSTs are not the lane's business."""
    w = pair.lane
    h = w.headers("practitioner")
    path = f"/api/families/{w.family_a}/assessments"
    before = len(pair.recorder.calls)
    got = pair.lane_client.get(path, headers=h)
    assert got.status_code == 200 and isinstance(got.json(), list)
    slash = pair.lane_client.post(path + "/", json=_valid(), headers=h, follow_redirects=False)
    assert slash.status_code == pair.route_client.post(
        path + "/", json=_valid(), headers=h, follow_redirects=False).status_code
    assert len(pair.recorder.calls) == before + 2


# --- 50 concurrent submissions through a live server ---------------------------------------------


N = 50


def test_fifty_concurrent_submissions_through_the_lane_are_group_committed(
    pair: Pair,
) -> None:
    w = pair.lane
    group: GroupCommit = w.app.state.group_commit
    before = (group.batches, group.written)
    handed_on = len(pair.recorder.calls)
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
    assert len(pair.recorder.calls) == handed_on, "every submission should take the lane"
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

    def fail_once(submissions: Any) -> list[Any]:
        subs = list(submissions)
        calls.append(len(subs))
        if len(calls) == 1:
            raise RuntimeError("connection reset (test)")
        return real(subs)

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
    retry = world.store.assessments.add_assessment(world.store.actor(world.users["practitioner"]),
                                       world.family_a, "mother", "epds", "3m", [0] * 10,
                                       submission_key="w-4")
    assert retry["id"] in {a["id"] for a in stored}
    assert group.written == 10  # nine answered in the batch, and the later one


def test_settings_choose_the_batch_size(web_template: Template, tmp_path: Path) -> None:
    w = open_clone(web_template, tmp_path, "small", lane=True)
    try:
        app = create_app(w.store, settings=Settings(secret_key=SECRET, max_batch=3))
        assert app.state.group_commit.max_batch == 3
        assert create_app(w.store, settings=Settings(secret_key=SECRET)).state.group_commit \
            .max_batch == 64
    finally:
        w.store.close()
