"""Security promises of the web tier (docs/security.md, "Web"), on SQLite and PostgreSQL.

Each test names the defect it guards against; every one of them failed before the fix.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import re
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from attunement.store import sessions as store_sessions

from .support import PASSWORD, World

NEW_PASSWORD = "a completely new passphrase"


# --- helpers --------------------------------------------------------------------------------


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has no CSRF token"
    return match.group(1)


def _login(client: TestClient, email: str, password: str = PASSWORD,
           headers: dict[str, str] | None = None) -> Any:
    csrf = _csrf(client.get("/login").text)
    return client.post("/login", data={"email": email, "password": password,
                                       "csrf_token": csrf, "next": "/"},
                       headers=headers or {}, follow_redirects=False)


def asgi(app: Any, method: str, path: str, *, headers: dict[str, str] | None = None,
         chunks: list[bytes] | None = None, length: int | None = None
         ) -> tuple[int, bytes, int]:
    """One request straight through the ASGI app: (status, body, chunks the app read)."""
    pending = list(chunks or [])
    reads = 0

    async def receive() -> dict:
        nonlocal reads
        if not pending:
            await asyncio.sleep(0)
            return {"type": "http.disconnect"}
        reads += 1
        body = pending.pop(0)
        return {"type": "http.request", "body": body, "more_body": bool(pending)}

    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    raw = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    if length is not None:
        raw.append((b"content-length", str(length).encode()))
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": b"", "root_path": "", "headers": raw,
             "client": ("127.0.0.1", 50000), "server": ("testserver", 80)}
    # an event loop of its own, in a thread: the browser tests keep one running in this thread
    worker = threading.Thread(target=lambda: asyncio.run(app(scope, receive, send)))
    worker.start()
    worker.join()
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], body, reads


class Clock:
    """Moves the store's notion of "now" (sessions and login throttle) forward."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from attunement.store import core
        from attunement.store.models import utcnow

        self.offset = dt.timedelta(0)
        real = utcnow

        def now() -> dt.datetime:
            return real() + self.offset

        monkeypatch.setattr(store_sessions, "utcnow", now)
        monkeypatch.setattr(core, "utcnow", now)

    def advance(self, **delta: float) -> None:
        self.offset += dt.timedelta(**delta)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    yield Clock(monkeypatch)


# --- bodies: limits before reading, credentials before bodies --------------------------------


def test_an_oversized_body_is_refused_before_it_is_read(world: World) -> None:
    """Defect: 100 MB of JSON was parsed (before authentication) before any check."""
    path = f"/api/families/{world.family_a}/assessments"
    auth = {**world.headers("practitioner"), "content-type": "application/json"}
    status, body, reads = asgi(world.app, "POST", path, headers=auth,
                               chunks=[b"[" + b"1," * 50_000_000], length=100_000_001)
    assert status == 413 and reads == 0, (status, reads)
    assert b"too large" in body
    # streamed without a length: cut off at the limit, not read to the end
    chunk = b"1," * 32_768
    status, body, reads = asgi(world.app, "POST", path, headers=auth,
                               chunks=[b'{"responses": ['] + [chunk] * 200)
    assert status == 413 and reads < 10, (status, reads)
    # the same on an ordinary route, and on a page form
    status, _, reads = asgi(world.app, "POST", "/api/families", headers=auth,
                            chunks=[b"{}"], length=10_000_000)
    assert status == 413 and reads == 0


def test_limits_are_per_route(world: World) -> None:
    """An upload may be a few megabytes; a submission only kilobytes (both configurable)."""
    client = TestClient(world.app)
    h = world.headers("practitioner")
    content = b"time,code\n" + b"0.0,infant_cue\n" * 70_000  # about 1 MB
    r = client.post(f"/api/families/{world.family_a}/observations", headers=h,
                    files={"file": ("big.csv", content, "text/csv")},
                    data={"metadata": '{"coder": "A"}'})
    assert r.status_code != 413, r.text
    r = client.post(f"/api/families/{world.family_a}/assessments", headers=h,
                    json={"caregiver": "father", "instrument": "epds", "time_point": "3m",
                          "responses": [0] * 10, "pad": "x" * 40_000})
    assert r.status_code == 413
    world.app.state.settings.upload_body_limit = 100_000
    r = client.post(f"/api/families/{world.family_a}/observations", headers=h,
                    files={"file": ("big.csv", content, "text/csv")},
                    data={"metadata": '{"coder": "A"}'})
    assert r.status_code == 413 and "100000 bytes" in r.json()["detail"]


def test_no_credentials_no_body_read(world: World) -> None:
    """Defect: a request without valid credentials had its body read and parsed first."""
    body = [b'{"caregiver": "father", "instrument": "epds", "time_point": "3m", '
            b'"responses": [0,0,0,0,0,0,0,0,0,0]}']
    json_type = {"content-type": "application/json"}
    for path in (f"/api/families/{world.family_a}/assessments", "/api/families", "/api/sites"):
        for headers in (json_type, {**json_type, "authorization": "Bearer att_not-a-token"}):
            status, _, reads = asgi(world.app, "POST", path, headers=headers, chunks=body,
                                    length=len(body[0]))
            assert (status, reads) == (401, 0), (path, headers, status, reads)
    # a page form without a live session goes to the sign-in page, unread
    form = {"content-type": "application/x-www-form-urlencoded"}
    status, _, reads = asgi(world.app, "POST", "/families/new", headers=form,
                            chunks=[b"csrf_token=x&site=Site+A"], length=23)
    assert (status, reads) == (303, 0)
    # a dead caregiver link: 404 before its answers are read
    status, _, reads = asgi(world.app, "POST", "/api/links/not-a-link", headers=json_type,
                            chunks=[b'{"responses": [1]}'], length=18)
    assert (status, reads) == (404, 0)


def test_a_huge_response_array_never_reaches_the_writer(world: World) -> None:
    """Defect: one 40 MB response array held the single writer for seconds."""
    client = TestClient(world.app)
    world.app.state.settings.submission_body_limit = 1_000_000
    before = world.app.state.group_commit.batches
    r = client.post(f"/api/families/{world.family_a}/assessments",
                    headers=world.headers("practitioner"),
                    json={"caregiver": "father", "instrument": "epds", "time_point": "3m",
                          "responses": [0] * 5000})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "responses"
    assert world.app.state.group_commit.batches == before  # the writer never saw it


# --- sessions -------------------------------------------------------------------------------


def _session_data(client: TestClient, world: World) -> dict:
    cookie = client.cookies.get("attunement_session")
    return world.app.state.sessions._serializer.loads(cookie)


def test_the_session_cookie_holds_no_bearer_token(world: World) -> None:
    """Defect: the cookie carried a 30-day API bearer token, valid after the session ended."""
    client = TestClient(world.app)
    assert _login(client, "pa@example.org").status_code == 303
    data = _session_data(client, world)
    secrets_in_cookie = [v for v in data.values() if isinstance(v, str)]
    for value in secrets_in_cookie:
        r = client.get("/api/me", headers={"Authorization": f"Bearer {value}"})
        assert r.status_code == 401, "a value of the session cookie works as a bearer token"


def test_idle_timeout_ends_the_session_on_the_server(world: World, clock: Clock,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Defect: the idle timeout cleared the cookie, but its bearer token stayed valid."""
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + clock.offset.total_seconds())
    client = TestClient(world.app)
    assert _login(client, "pa@example.org").status_code == 303
    cookie = client.cookies.get("attunement_session")
    data = _session_data(client, world)
    assert client.get("/", follow_redirects=False).status_code == 200
    clock.advance(seconds=world.app.state.settings.session_idle + 5)
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    clock.advance(seconds=-(world.app.state.settings.session_idle + 5))  # back in time: no
    client.cookies.clear()
    client.cookies.set("attunement_session", cookie)
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 303, "an idle session came back to life"
    for value in data.values():
        if isinstance(value, str):
            r = client.get("/api/me", headers={"Authorization": f"Bearer {value}"})
            assert r.status_code == 401


def test_absolute_lifetime_is_enforced_despite_activity(world: World, clock: Clock,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Defect: the cookie was re-signed on activity, so the absolute lifetime never came."""
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + clock.offset.total_seconds())
    settings = world.app.state.settings
    client = TestClient(world.app)
    assert _login(client, "pa@example.org").status_code == 303
    step = settings.session_idle / 2
    elapsed = 0.0
    while elapsed + step < settings.session_lifetime:
        clock.advance(seconds=step)
        elapsed += step
        r = client.get("/", follow_redirects=False)
        assert r.status_code == 200, f"signed out after {elapsed} s of activity"
    data = _session_data(client, world)
    clock.advance(seconds=step)
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    # the server ended it, not just the cookie's signature: a freshly signed cookie with the
    # same session is refused too
    client.cookies.clear()
    client.cookies.set("attunement_session", world.app.state.sessions._serializer.dumps(data))
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_logout_and_password_change_end_server_sessions(world: World) -> None:
    client = TestClient(world.app)
    assert _login(client, "pa@example.org").status_code == 303
    sid = _session_data(client, world)["sid"]
    world.store.accounts.actor_for_session(sid)
    client.post("/logout", data={"csrf_token": _csrf(client.get("/").text)})
    with pytest.raises(Exception, match="session"):
        world.store.accounts.actor_for_session(sid)
    assert _login(client, "pa@example.org").status_code == 303
    sid = _session_data(client, world)["sid"]
    admin = world.store.actor(world.users["admin"])
    world.store.accounts.set_password(admin, world.users["practitioner"], NEW_PASSWORD)
    with pytest.raises(Exception, match="session"):
        world.store.accounts.actor_for_session(sid)


# --- login throttling (NIST SP 800-63B §5.2.2) -------------------------------------------


def _api_login(client: TestClient, email: str, password: str,
               headers: dict[str, str] | None = None) -> Any:
    return client.post("/api/token", data={"username": email, "password": password},
                       headers=headers or {})


def test_the_delay_does_not_slide_and_the_right_password_works_after_it(
        world: World, clock: Clock) -> None:
    """Defect: ~5 requests per 15 minutes kept any account locked, right password refused."""
    client = TestClient(world.app)
    for _ in range(store_sessions.FREE_ATTEMPTS):
        assert _api_login(client, "pa@example.org", "wrong").status_code == 401
    r = _api_login(client, "pa@example.org", PASSWORD)
    assert r.status_code == 429
    first = int(r.headers["Retry-After"])
    assert 0 < first <= store_sessions.BASE_DELAY
    # an attacker keeps trying during the delay: refused, and the delay does not grow
    for _ in range(3):
        clock.advance(seconds=5)
        r = _api_login(client, "pa@example.org", "wrong")
        assert r.status_code == 429 and int(r.headers["Retry-After"]) <= first - 4
    clock.advance(seconds=first)
    r = _api_login(client, "pa@example.org", PASSWORD)
    assert r.status_code == 200, r.text


def test_the_delay_grows_exponentially(world: World, clock: Clock) -> None:
    client = TestClient(world.app)
    for _ in range(store_sessions.FREE_ATTEMPTS):
        assert _api_login(client, "pa@example.org", "wrong").status_code == 401
    delays = []
    for _ in range(3):
        r = _api_login(client, "pa@example.org", "wrong")
        assert r.status_code == 429
        delays.append(int(r.headers["Retry-After"]))
        clock.advance(seconds=delays[-1] + 1)
        assert _api_login(client, "pa@example.org", "wrong").status_code == 401  # counted
    expected = [store_sessions.login_delay(n) for n in range(5, 8)]
    assert expected == [30, 60, 120]
    assert all(e - 2 <= d <= e for d, e in zip(delays, expected, strict=True)), delays


def test_an_account_locks_after_100_failures_until_a_reset(world: World) -> None:
    """The cap (NIST: at most 100 consecutive failures), lifted by a password reset."""
    from attunement.store.models import LoginAttempt

    then = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    with world.store.db.write() as s:
        for i in range(store_sessions.MAX_CONSECUTIVE_FAILURES):
            s.add(LoginAttempt(email="pa@example.org", client="", success=False,
                               at=then + dt.timedelta(seconds=i)))
    client = TestClient(world.app)
    r = _login(client, "pa@example.org")
    assert r.status_code == 429 and "locked" in r.text
    lead = world.store.actor(world.users["site_lead"])
    token = world.store.accounts.create_password_reset(lead, world.users["practitioner"])
    world.store.accounts.use_password_reset(token, NEW_PASSWORD)
    assert _api_login(client, "pa@example.org", NEW_PASSWORD).status_code == 200


def test_per_client_limit_uses_the_real_address_behind_a_trusted_proxy(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Defect: the per-client limit blocked every user behind one proxy."""
    monkeypatch.setattr(store_sessions, "CLIENT_LIMIT", 4)
    world.app.state.settings.trusted_proxies = ["10.0.0.0/8"]
    proxy = TestClient(world.app, client=("10.1.2.3", 4000))
    attacker = {"X-Forwarded-For": "203.0.113.5"}
    for i in range(4):  # different accounts: only the per-client limit can stop them
        _api_login(proxy, f"nobody{i}@example.org", "wrong", attacker)
    assert _api_login(proxy, "nobody9@example.org", "wrong", attacker).status_code == 429
    # a colleague behind the same proxy is not blocked
    colleague = {"X-Forwarded-For": "198.51.100.7, 10.9.9.9"}
    assert _api_login(proxy, "pa@example.org", PASSWORD, colleague).status_code == 200
    # X-Forwarded-For from an untrusted peer is ignored: it cannot dodge its own limit
    direct = TestClient(world.app, client=("192.0.2.50", 4000))
    for i in range(4):
        _api_login(direct, f"other{i}@example.org", "wrong", {"X-Forwarded-For": f"1.1.1.{i}"})
    r = _api_login(direct, "lead@example.org", "wrong", {"X-Forwarded-For": "8.8.8.8"})
    assert r.status_code == 429


# --- exports --------------------------------------------------------------------------------


def test_csv_exports_neutralise_formulas(world: World) -> None:
    """Defect: free-text time points and site names reached CSV exports unescaped."""
    client = TestClient(world.app)
    admin = world.headers("admin")
    site = "=HYPERLINK(\"http://evil.example\",\"x\")"
    assert client.post("/api/sites", headers=admin, json={"name": site}).status_code == 201
    payload = {"site": site, "family_id": "FAM-CSV", "placement": "birth_family",
               "infant": {"due_date": (dt.date.today() + dt.timedelta(days=30)).isoformat()},
               "caregivers": [{"id": "mother", "role": "birth_mother", "age": 30}]}
    r = client.post("/api/families", headers=admin, json=payload)
    assert r.status_code == 201, r.text
    fid = r.json()["id"]
    for point in ("=cmd|' /C calc'!A0", "+1-1"):
        r = client.post(f"/api/families/{fid}/assessments", headers=admin, json={
            "caregiver": "mother", "instrument": "epds", "time_point": point,
            "responses": [3, 3, 3, 3, 3, 3, 3, 3, 3, 0]})
        assert r.status_code == 201, r.text
    for fmt in ("csv", "redcap"):
        r = client.get(f"/api/exports/assessments?format={fmt}", headers=admin)
        assert r.status_code == 200
        rows = list(csv.reader(io.StringIO(r.text)))
        cells = [c for row in rows for c in row]
        bad = [c for c in cells if c[:1] in ("=", "+", "@", "\t", "\r")
               or (c.startswith("-") and not re.fullmatch(r"-\d+(\.\d+)?", c))]
        assert not bad, f"{fmt}: cells a spreadsheet would run: {bad}"
        if fmt == "csv":  # the tidy table has the site and the time point as typed
            assert f"'{site}" in cells and "'=cmd|' /C calc'!A0" in cells and "'+1-1" in cells
    frame = __import__("pandas").DataFrame({"score": [-3, 4], "note": ["-3", "-x"]})
    from attunement.csvsafe import safe_frame

    out = safe_frame(frame)
    assert out["score"].tolist() == [-3, 4] and out["note"].tolist() == ["-3", "'-x"]


# --- values no database accepts: 422 on every route ---------------------------------------


def _resolve(spec: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


BAD_VALUES = ("a\x00b", 2**64, -(2**64))


def _bad_for(schema: dict) -> tuple[Any, ...]:
    """NUL for any field; integers beyond 64 bits unless the field is text (where digits are
    just text)."""
    kinds = {s.get("type") for s in [schema, *schema.get("anyOf", [])]} - {None, "null"}
    return BAD_VALUES if not kinds or kinds & {"integer", "number"} else BAD_VALUES[:1]


def test_every_route_answers_422_for_nul_and_huge_integers(world: World) -> None:
    """Defect: integers beyond 64 bits and NUL bytes answered 500 (login, site and study
    references, query fields). A probe over every route of the OpenAPI schema."""
    client = TestClient(world.app, raise_server_exceptions=False)
    spec = world.app.openapi()
    admin = world.headers("admin")
    problems = []
    probes = 0
    link = client.post(f"/api/families/{world.family_a}/links", headers=admin, json={
        "caregiver": "father", "instrument": "epds", "time_point": "3m"}).json()["token"]
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            url = re.sub(r"\{[^}]*\}", lambda m: str(world.family_a)
                         if "id" in m.group(0) else link, path)
            params = [p for p in op.get("parameters", []) if p["in"] == "query"]
            for p in params:
                for bad in _bad_for(p.get("schema", {})):
                    r = client.request(method, url, params={p["name"]: str(bad)}, headers=admin)
                    probes += 1
                    if r.status_code != 422:
                        problems.append(f"{method} {path}?{p['name']}={bad!r}: {r.status_code}")
            content = op.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                schema = _resolve(spec, content["application/json"]["schema"])
                names = list(schema.get("properties", {})) or ["site", "name", "caregiver"]
                for name in names:
                    for bad in BAD_VALUES:
                        r = client.request(method, url, json={name: bad}, headers=admin)
                        probes += 1
                        if r.status_code != 422:
                            problems.append(f"{method} {path} {name}={bad!r}: {r.status_code}")
                # a NUL deep inside a valid-looking nested body
                r = client.request(method, url, headers=admin, json={
                    "site": "Site A", "caregivers": [{"id": "m\x00", "role": "birth_mother"}]})
                if r.status_code != 422:
                    problems.append(f"{method} {path} nested NUL: {r.status_code}")
            for form_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
                if form_type not in content:
                    continue
                schema = _resolve(spec, content[form_type]["schema"])
                for name, prop in schema.get("properties", {}).items():
                    if prop.get("format") == "binary" or prop.get("contentMediaType"):
                        continue
                    for bad in _bad_for(prop):
                        data = {k: "x" for k in schema.get("required", [])}
                        data[name] = str(bad)
                        files = {"file": ("x.csv", b"time,code\n0,a\n", "text/csv")} \
                            if form_type == "multipart/form-data" else None
                        r = client.request(method, url, data=data, files=files, headers=admin)
                        probes += 1
                        if r.status_code != 422:
                            problems.append(f"{method} {path} form {name}={bad!r}: "
                                            f"{r.status_code}")
    # the JSON inside an upload's metadata, and the sign-in page
    r = client.post(f"/api/families/{world.family_a}/observations", headers=admin,
                    files={"file": ("x.csv", b"time,code\n0.0,infant_cue\n", "text/csv")},
                    data={"metadata": '{"coder": "a\\u0000b", "scheme": "demo"}'})
    if r.status_code != 422:
        problems.append(f"upload metadata NUL: {r.status_code}")
    page = TestClient(world.app, raise_server_exceptions=False)
    r = _login(page, "pa\x00@example.org")
    if r.status_code != 422:
        problems.append(f"POST /login NUL e-mail: {r.status_code}")
    assert probes > 50
    assert not problems, "\n".join(problems)


# --- storage full -----------------------------------------------------------------------------


def test_a_full_disk_answers_503_and_stores_nothing(sqlite_world: World) -> None:
    """Defect: "database or disk is full" answered 500. Real SQLITE_FULL: the database may
    not grow beyond its current size (PRAGMA max_page_count)."""
    from sqlalchemy import event, text

    world = sqlite_world
    engine = world.store.db.engine
    with engine.connect() as conn:
        pages = conn.execute(text("PRAGMA page_count")).scalar_one()

    @event.listens_for(engine, "connect")
    def _cap(dbapi_conn: Any, record: Any) -> None:
        dbapi_conn.execute(f"PRAGMA max_page_count = {pages}")

    engine.dispose()
    client = TestClient(world.app)
    admin = world.headers("admin")
    before = len(client.get("/api/families", headers=admin).json()["items"])
    statuses = []
    for i in range(60):
        payload = {"site": "Site A", "family_id": f"FULL-{i}", "placement": "birth_family",
                   "infant": {"due_date": (dt.date.today() + dt.timedelta(days=30)).isoformat()},
                   "caregivers": [{"id": "m", "role": "birth_mother", "age": 30,
                                   "name": "x" * 400}]}
        r = client.post("/api/families", headers=admin, json=payload)
        statuses.append(r.status_code)
        if r.status_code != 201:
            break
    assert statuses[-1] == 503, statuses
    assert "storage is full" in r.json()["detail"] and r.headers.get("Retry-After")
    created = statuses.count(201)
    assert len(client.get("/api/families", headers=admin).json()["items"]) == before + created
    # a submission through the lane too
    r = client.post(f"/api/families/{world.family_a}/assessments", headers=admin,
                    json={"caregiver": "father", "instrument": "epds", "time_point": "3m",
                          "responses": [1] * 10})
    assert r.status_code in (201, 503), r.text
    event.remove(engine, "connect", _cap)
    engine.dispose()


# --- SVG ------------------------------------------------------------------------------------


HOSTILE_ARMS = ['"/><script>alert(1)</script>', '" onload="x',
                "a style=\"fill:red;onload:alert(1)\" b"]


def _no_active_content(svg: str) -> ET.Element:
    root = ET.fromstring(svg.encode())
    for element in root.iter():
        tag = element.tag.rsplit("}", 1)[-1]
        assert tag not in ("script", "foreignObject", "style"), tag
        for name in element.attrib:
            local = name.rsplit("}", 1)[-1]
            assert not local.lower().startswith("on"), (tag, name)
            assert local != "style"
    return root


def test_consort_svg_keeps_arm_names_as_text() -> None:
    """Defect: the SVG post-processing rewrote text, so an arm name could steer it."""
    import pandas as pd

    from attunement.trials import consort_counts, draw_consort
    from attunement.web.charts import inline_svg as _inline_svg
    from attunement.web.charts import presentational_svg

    records = pd.DataFrame({"arm": HOSTILE_ARMS * 2, "received": [True] * 6,
                            "analysed": [True] * 6})
    counts = consort_counts(records, arms=HOSTILE_ARMS)
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        draw_consort(counts, Path(tmp) / "c.svg", title='T "/><script>x</script>')
        svg = (Path(tmp) / "c.svg").read_text()
    for out in (presentational_svg(svg), _inline_svg(svg, HOSTILE_ARMS[0], "t")):
        root = _no_active_content(out)
        values = [v for e in root.iter() for v in e.attrib.values()] + \
            [e.text or "" for e in root.iter()]
        for arm in HOSTILE_ARMS:
            assert any(arm in v for v in values), arm  # present, as a value: text
    inline = _inline_svg(svg, HOSTILE_ARMS[0], "t")
    assert inline.startswith("<svg") and 'class="consort"' in inline
    assert f"<title id=\"t\">{HOSTILE_ARMS[0].replace('<', '&lt;').replace('>', '&gt;')}" \
        in inline


def test_score_chart_keeps_labels_as_text() -> None:
    from attunement.web.charts import Cutoff, score_chart

    svg = score_chart(HOSTILE_ARMS[1], [(HOSTILE_ARMS[0], 3.0), (HOSTILE_ARMS[2], 5.0)],
                      low=0, high=10, cutoffs=[Cutoff(4, '"><script>')])
    root = _no_active_content(svg)
    texts = [e.text for e in root.iter()]
    assert HOSTILE_ARMS[1] in texts


# --- other sites' people: 404 whatever the reason ------------------------------------------


def test_other_sites_people_are_404_like_missing_ones(world: World) -> None:
    """Defect: 403-vs-404 and "already exists" revealed other sites' users to site leads."""
    client = TestClient(world.app)
    lead = world.headers("site_lead")
    missing = 999_999
    hidden = [world.users["practitioner_b"], world.users["admin"], world.users["researcher"]]
    calls = [
        ("POST", "/api/users/{}/active", {"active": False, "reason": "x"}),
        ("POST", "/api/users/{}/password", {"new_password": NEW_PASSWORD}),
        ("POST", "/api/users/{}/password-reset", None),
    ]
    for method, template, body in calls:
        answers = set()
        for uid in [missing, *hidden]:
            r = client.request(method, template.format(uid), headers=lead, json=body)
            answers.add((r.status_code, r.text.replace(str(uid), "N")))
        assert len(answers) == 1 and next(iter(answers))[0] == 404, (template, answers)
    # creating an e-mail that exists at another site says nothing about that person
    r = client.post("/api/users", headers=lead, json={
        "email": "pb@example.org", "role": "practitioner", "sites": ["Site A"],
        "password": "a long enough passphrase"})
    assert r.status_code == 422
    assert "exists" not in r.text and "Site B" not in r.text
    r2 = client.post("/api/users", headers=lead, json={
        "email": "lead@example.org", "role": "practitioner", "sites": ["Site A"],
        "password": "a long enough passphrase"})
    assert r2.text == r.text  # the same words for someone of their own site


# --- site leads send reset links, never passwords -----------------------------------------


def test_site_lead_cannot_set_a_password_but_sends_a_one_time_link(world: World) -> None:
    """Defect: site leads set a practitioner's password and could sign in as them."""
    client = TestClient(world.app)
    lead = world.headers("site_lead")
    pa = world.users["practitioner"]
    r = client.post(f"/api/users/{pa}/password", headers=lead,
                    json={"new_password": NEW_PASSWORD})
    assert r.status_code == 403
    assert client.post("/api/token", data={"username": "pa@example.org",
                                           "password": NEW_PASSWORD}).status_code == 401
    r = client.post(f"/api/users/{pa}/password-reset", headers=lead)
    assert r.status_code == 201, r.text
    url = r.json()["url"]
    path = "/" + url.split("/", 3)[3]
    assert path.startswith("/reset/") and r.json()["expires_in_hours"] == 24
    # the person opens it and chooses a password
    person = TestClient(world.app)
    page = person.get(path)
    assert page.status_code == 200 and "pa@example.org" in page.text
    r = person.post(path, data={"csrf_token": _csrf(page.text), "new_password": NEW_PASSWORD,
                                "confirm_password": NEW_PASSWORD}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert person.post("/api/token", data={"username": "pa@example.org",
                                           "password": NEW_PASSWORD}).status_code == 200
    # single use: the link is dead now
    assert person.get(path).status_code == 404
    r = person.post(path, data={"csrf_token": "x", "new_password": "another passphrase 1",
                                "confirm_password": "another passphrase 1"})
    assert r.status_code == 404
    # the old tokens were revoked
    assert client.get("/api/me", headers=world.headers("practitioner")).status_code == 401


def test_reset_links_expire(world: World, clock: Clock) -> None:
    client = TestClient(world.app)
    lead = world.store.actor(world.users["site_lead"])
    token = world.store.accounts.create_password_reset(lead, world.users["practitioner"], hours=1)
    assert client.get(f"/reset/{token}").status_code == 200
    clock.advance(hours=1, seconds=1)
    assert client.get(f"/reset/{token}").status_code == 404


def test_reset_link_page_for_site_leads(world: World) -> None:
    client = TestClient(world.app)
    assert _login(client, "lead@example.org").status_code == 303
    pa = world.users["practitioner"]
    page = client.get(f"/admin/users/{pa}")
    assert "Create a reset link" in page.text and 'action="/admin/users/' in page.text
    assert f"/admin/users/{pa}/password" not in page.text  # no set-password form for leads
    r = client.post(f"/admin/users/{pa}/reset-link", data={"csrf_token": _csrf(page.text)})
    assert r.status_code == 200 and "/reset/atr_" in r.text
    r = client.post(f"/admin/users/{pa}/password", data={
        "csrf_token": _csrf(page.text), "new_password": NEW_PASSWORD,
        "confirm_password": NEW_PASSWORD})
    assert r.status_code == 403


def test_a_full_disk_answers_503_on_postgresql(world: World) -> None:
    """The same on PostgreSQL, with a real full disk: the database's tables are moved to a
    tablespace on a 4 MB tmpfs (needs root to mount; skipped otherwise)."""
    import os
    import pwd
    import subprocess

    import psycopg
    from sqlalchemy.engine import make_url

    if world.store.dialect != "postgresql":
        pytest.skip("the SQLite case is test_a_full_disk_answers_503_and_stores_nothing")
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    import tempfile
    from pathlib import Path

    disk = Path(tempfile.mkdtemp(prefix="attunement-tiny-"))  # the server's user must reach it
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    url = make_url(world.store.db.url)
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    admin_dsn = url.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False)
    space = f"tiny_{os.getpid()}_{int(time.time() * 1000) % 10**6}"
    try:
        os.chown(disk, pwd.getpwnam("nobody").pw_uid, -1)
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f"CREATE TABLESPACE {space} LOCATION '{disk}'")
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"ALTER TABLE ALL IN TABLESPACE pg_default SET TABLESPACE {space}")
        client = TestClient(world.app)
        admin = world.headers("admin")
        def count_families() -> int:
            n, cursor = 0, None
            while True:
                page = client.get("/api/families", headers=admin,
                                  params={"limit": 500, **({"cursor": cursor} if cursor else {})}
                                  ).json()
                n += len(page["items"])
                cursor = page.get("next")
                if not cursor:
                    return n

        before = count_families()
        statuses = []
        for i in range(400):
            r = client.post("/api/families", headers=admin, json={
                "site": "Site A", "family_id": f"FULL-{i}", "placement": "birth_family",
                "infant": {"due_date": (dt.date.today() + dt.timedelta(days=30)).isoformat()},
                "caregivers": [{"id": f"m{k}", "role": "birth_mother", "age": 30,
                                "name": "x" * 400} for k in range(8)]})
            statuses.append(r.status_code)
            if r.status_code != 201:
                break
        assert statuses[-1] == 503, (statuses[-3:], r.text)
        assert "storage is full" in r.json()["detail"]
        assert count_families() == before + statuses.count(201)
    finally:
        world.store.close()
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')
            conn.execute(f"DROP TABLESPACE IF EXISTS {space}")
        subprocess.run(["umount", str(disk)], capture_output=True)
        disk.rmdir()

