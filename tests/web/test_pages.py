"""HTML pages: login, sessions, CSRF, forms that keep what was typed, caregiver links."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from fastapi.testclient import TestClient

from .support import PASSWORD, World


def _days(n: int) -> str:
    return (dt.date.today() + dt.timedelta(days=n)).isoformat()


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has no CSRF token"
    return match.group(1)


def _login(client: TestClient, email: str = "pa@example.org") -> str:
    csrf = _csrf(client.get("/login").text)
    r = client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": csrf,
                                    "next": "/"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return _csrf(client.get("/").text)


def test_login_sets_a_hardened_session_cookie(page_client: TestClient) -> None:
    csrf = _csrf(page_client.get("/login").text)
    r = page_client.post("/login", data={"email": "pa@example.org", "password": PASSWORD,
                                         "csrf_token": csrf, "next": "/families/1"},
                         follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/families/1"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain http on loopback; Secure when configured for HTTPS
    assert _csrf(page_client.get("/").text) != csrf  # the CSRF token rotates at sign-in


def test_login_errors_keep_the_email(page_client: TestClient) -> None:
    csrf = _csrf(page_client.get("/login").text)
    r = page_client.post("/login", data={"email": "pa@example.org", "password": "nope-nope",
                                         "csrf_token": csrf})
    assert r.status_code == 401
    assert "The email address or password is not right" in r.text
    assert 'value="pa@example.org"' in r.text
    r = page_client.post("/login", data={"email": "", "password": "", "csrf_token": csrf})
    assert r.status_code == 422
    assert "Enter your email address" in r.text and "Enter your password" in r.text


def test_login_throttling_is_explained(page_client: TestClient) -> None:
    csrf = _csrf(page_client.get("/login").text)
    for _ in range(5):
        page_client.post("/login", data={"email": "lead@example.org", "password": "wrong-one",
                                         "csrf_token": csrf})
    r = page_client.post("/login", data={"email": "lead@example.org", "password": PASSWORD,
                                         "csrf_token": csrf})
    assert r.status_code == 429 and "Too many failed attempts" in r.text
    assert int(r.headers["Retry-After"]) > 0


def test_forms_without_csrf_token_are_refused(page_client: TestClient) -> None:
    r = page_client.post("/login", data={"email": "pa@example.org", "password": PASSWORD})
    assert r.status_code == 403 and "expired" in r.text
    _login(page_client)
    r = page_client.post("/families/new", data={"csrf_token": "forged", "site": "Site A"})
    assert r.status_code == 403


def test_pages_need_a_session(page_client: TestClient) -> None:
    r = page_client.get("/families/1", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/families/1"
    r = page_client.get("/login?next=//evil.example/")
    assert 'name="next" value="/"' in r.text  # no open redirect


def test_logout_revokes_the_session_token(page_client: TestClient, sqlite_world: World) -> None:
    csrf = _login(page_client)
    cookie = page_client.cookies.get("attunement_session")
    r = page_client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    page_client.cookies.clear()
    page_client.cookies.set("attunement_session", cookie)  # replaying the old cookie
    r = page_client.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_security_headers(page_client: TestClient) -> None:
    r = page_client.get("/login")
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["cache-control"] == "no-store"


def test_docs_and_assets_are_served_locally(page_client: TestClient) -> None:
    html = page_client.get("/docs").text
    assert "/docs/assets/swagger-ui-bundle.js" in html
    assert not re.search(r'(src|href)="https?://', html), "the docs page loads from a CDN"
    assert page_client.get("/docs/assets/swagger-ui-bundle.js").status_code == 200
    assert page_client.get("/static/style.css").status_code == 200
    assert page_client.get("/healthz").json() == {"status": "ok"}
    for path in ("/login",):
        assert not re.search(r'(src|href)="https?://', page_client.get(path).text)


def test_register_family_form_keeps_what_was_typed(page_client: TestClient) -> None:
    csrf = _login(page_client)
    form = {
        "csrf_token": csrf, "n_caregivers": "2", "site": "Site A", "family_id": "FAM 7!",
        "placement": "birth_family", "infant.due_date": "2026-13-40",
        "caregivers.0.role": "birth_mother", "caregivers.0.id": "mother",
        "caregivers.0.age": "thirty", "caregivers.0.name": "Alex Example",
        "caregivers.1.role": "", "caregivers.1.id": "dad",
    }
    r = page_client.post("/families/new", data=form)
    assert r.status_code == 422
    text = r.text
    assert "There are 4 problems" in text
    assert "letters, digits" in text  # family_id
    assert "must be a date written YYYY-MM-DD, not &#39;2026-13-40&#39;" in text
    assert "must be a whole number, not &#39;thirty&#39;" in text
    assert "Choose caregiver 2&#39;s role" in text
    for typed in ('value="FAM 7!"', 'value="Alex Example"', 'value="thirty"', 'value="dad"',
                  'value="2026-13-40"'):
        assert typed in text
    assert 'aria-invalid="true"' in text and 'href="#f-family_id"' in text


def test_register_family_store_error_names_the_field(page_client: TestClient) -> None:
    csrf = _login(page_client)
    form = {"csrf_token": csrf, "n_caregivers": "1", "site": "Site A", "family_id": "FAM-A",
            "placement": "birth_family", "infant.due_date": _days(30),
            "caregivers.0.role": "co_parent", "caregivers.0.id": "parent"}
    r = page_client.post("/families/new", data=form)
    assert r.status_code == 422
    assert "already exists at this site" in r.text and 'value="FAM-A"' in r.text


def test_add_caregiver_row_without_javascript(page_client: TestClient) -> None:
    csrf = _login(page_client)
    r = page_client.post("/families/new", data={"csrf_token": csrf, "n_caregivers": "2",
                                               "family_id": "KEEP-1", "add_caregiver": "1"})
    assert r.status_code == 200
    assert "Caregiver 3" in r.text and 'value="KEEP-1"' in r.text


def test_register_family_then_questionnaire(page_client: TestClient, sqlite_world: World) -> None:
    csrf = _login(page_client)
    form = {"csrf_token": csrf, "n_caregivers": "2", "site": "Site A", "family_id": "FAM-W",
            "placement": "kinship", "infant.date_of_birth": _days(-56),
            "caregivers.0.role": "kinship_carer", "caregivers.0.id": "gran",
            "caregivers.1.role": "co_parent", "caregivers.1.id": "partner"}
    r = page_client.post("/families/new", data=form, follow_redirects=False)
    assert r.status_code == 303
    fid = int(r.headers["location"].rsplit("/", 1)[1])
    page = page_client.get(f"/families/{fid}/assess",
                           params={"caregiver": "partner", "instrument": "epds", "time_point": "6w"})
    assert page.status_code == 200
    assert "project label" in page.text and "Short labels" in page.text
    answers = {"csrf_token": csrf, "caregiver": "partner", "instrument": "epds",
               "time_point": "6w", **{f"item.{n}": "1" for n in range(1, 10)}}
    r = page_client.post(f"/families/{fid}/assess", data=answers)
    assert r.status_code == 422
    assert "Question 10 is not answered" in r.text
    assert re.search(r'name="item.3" value="1"\s+checked', r.text)  # kept
    answers["item.10"] = "2"
    r = page_client.post(f"/families/{fid}/assess", data=answers, follow_redirects=False)
    assert r.status_code == 303
    family = page_client.get(f"/families/{fid}").text
    assert "URGENT" in family and "same-day safety review" in family
    assert "<svg" in family and "EPDS" in family


def test_unknown_answer_value_is_refused(page_client: TestClient, sqlite_world: World) -> None:
    csrf = _login(page_client)
    fid = sqlite_world.family_a
    answers = {"csrf_token": csrf, "caregiver": "father", "instrument": "epds", "time_point": "3m",
               **{f"item.{n}": "0" for n in range(1, 11)}, "item.4": "9"}
    r = page_client.post(f"/families/{fid}/assess", data=answers)
    assert r.status_code == 422 and "Question 4: 9 is not one of the answers" in r.text


def test_caregiver_link_page_flow(page_client: TestClient, sqlite_world: World) -> None:
    csrf = _login(page_client)
    fid = sqlite_world.family_a
    r = page_client.post(f"/families/{fid}/links", data={
        "csrf_token": csrf, "caregiver": "father", "instrument": "epds", "time_point": "3m"})
    assert r.status_code == 200
    url = re.search(r'value="(http://testserver/c/[^"]+)"', r.text).group(1)
    path = url.removeprefix("http://testserver")
    page_client.cookies.clear()  # the caregiver has no account and no staff session
    page = page_client.get(path)
    assert page.status_code == 200 and "Your questionnaire" in page.text
    assert "FAM-A" not in page.text and "(score" not in page.text
    ccsrf = _csrf(page.text)
    answers = {"csrf_token": ccsrf, **{f"item.{n}": "0" for n in range(1, 10)}, "item.10": "1"}
    done = page_client.post(path, data=answers)
    assert done.status_code == 200
    assert "You do not have to manage this alone" in done.text
    assert "116 123" in done.text
    again = page_client.get(path)
    assert again.status_code == 404 and "already been used or has expired" in again.text
    alerts = sqlite_world.store.care.list_alerts(sqlite_world.store.system_actor())
    assert any(a["family"] == fid and a["caregiver"] == "father" for a in alerts)


def test_episode_and_acknowledgement_forms(page_client: TestClient, sqlite_world: World) -> None:
    csrf = _login(page_client)
    fid = sqlite_world.family_a
    r = page_client.post(f"/families/{fid}/episodes", data={
        "csrf_token": csrf, "programme": "", "start": "yesterday"}, follow_redirects=True)
    assert "programme: choose a programme" in r.text and "start: &#39;yesterday&#39;" in r.text
    r = page_client.post(f"/families/{fid}/episodes", data={
        "csrf_token": csrf, "programme": "abc", "start": "2026-10-01", "caregivers": "mother"},
        follow_redirects=True)
    assert "Intervention episode started." in r.text


def test_admin_forms_validate(page_client: TestClient) -> None:
    csrf = _login(page_client, "admin@example.org")
    r = page_client.post("/admin/users", data={"csrf_token": csrf, "user.email": "not-an-email",
                                               "user.role": "", "user.password": ""})
    assert r.status_code == 422
    assert "Enter the person&#39;s email address" in r.text and 'value="not-an-email"' in r.text
    r = page_client.post("/admin/studies", data={"csrf_token": csrf, "study.name": "S2",
                                                 "study.sites": "Site A",
                                                 "study.schedule": "6w, soon, 14, epds"})
    assert r.status_code == 422 and "Line 1 should read" in r.text
    assert "6w, soon, 14, epds" in r.text
    r = page_client.post("/admin/studies", data={"csrf_token": csrf, "study.name": "S2",
                                                 "study.sites": "Site A",
                                                 "study.schedule": "6w, 42, 14, epds phq9"},
                         follow_redirects=True)
    assert "Study &#39;S2&#39; added." in r.text


def test_exports_download(page_client: TestClient) -> None:
    csrf = _login(page_client)
    r = page_client.post("/exports", data={"csrf_token": csrf, "format": "redcap"})
    assert r.status_code == 200
    assert r.headers["content-disposition"] == 'attachment; filename="assessments_redcap.csv"'
    assert r.text.splitlines()[0].startswith("record_id,redcap_event_name,")
    r = page_client.post("/exports", data={"csrf_token": csrf, "format": "exe"},
                         follow_redirects=True)
    assert "unknown export format" in r.text


def test_recorded_circumstances_reach_the_profile(page_client: TestClient) -> None:
    csrf = _login(page_client)
    form = {"csrf_token": csrf, "n_caregivers": "1", "site": "Site A", "family_id": "FAM-CTX",
            "placement": "birth_family", "infant.due_date": _days(45),
            "context.domestic_violence": "1",
            "caregivers.0.role": "birth_mother", "caregivers.0.id": "mother",
            "caregivers.0.context.severe_mental_illness": "1"}
    r = page_client.post("/families/new", data=form, follow_redirects=True)
    assert r.status_code == 200 and "Family FAM-CTX" in r.text
    # issue 10 wording: "domestic abuse"
    assert "Severe mental illness" in r.text and "Domestic abuse" in r.text
    assert ">specialist<" in r.text  # severe mental illness sets the specialist tier


def test_caregiver_joins_and_leaves(page_client: TestClient, sqlite_world: World) -> None:
    csrf = _login(page_client)
    fid = sqlite_world.family_a
    r = page_client.post(f"/families/{fid}/caregivers", data={
        "csrf_token": csrf, "id": "gran", "role": "kinship_carer"}, follow_redirects=True)
    assert "Caregiver gran added." in r.text
    r = page_client.post(f"/families/{fid}/caregivers/leave", data={
        "csrf_token": csrf, "caregiver": "father", "reason": ""}, follow_redirects=True)
    assert "reason: say why" in r.text
    r = page_client.post(f"/families/{fid}/caregivers/leave", data={
        "csrf_token": csrf, "caregiver": "father", "reason": "moved abroad"},
        follow_redirects=True)
    assert "Recorded that father left the family." in r.text and "moved abroad" in r.text


def test_cookie_is_secure_over_https(sqlite_world: World) -> None:
    with TestClient(sqlite_world.app, base_url="https://testserver") as client:
        r = client.get("/login")
        assert "Secure" in r.headers["set-cookie"] and "HttpOnly" in r.headers["set-cookie"]


def _epds_pack(language: str, first: str) -> str:
    items = "\n".join(f"      {n}: 'EPDS item {n} ({language})'" for n in range(2, 11))
    return (f"language: {language}\nsource: test licence\ninstruments:\n  epds:\n"
            f"    items:\n      1: '{first}'\n{items}\n")


def test_item_text_pack_wording_replaces_project_labels(tmp_path, sqlite_world: World) -> None:  # type: ignore[no-untyped-def]
    from attunement.web import Settings, create_app

    pack = tmp_path / "pack.yaml"
    pack.write_text(_epds_pack("en", "Licensed wording of question one (service pack)"))
    app = create_app(sqlite_world.store, settings=Settings(secret_key="k" * 40,
                                                           item_text_pack=pack))
    with TestClient(app) as client:
        _login(client)
        page = client.get(f"/families/{sqlite_world.family_a}/assess",
                          params={"caregiver": "mother", "instrument": "epds", "time_point": "3m"})
    assert "Licensed wording of question one (service pack)" in page.text
    assert "Short labels" not in page.text
    assert "(project label)" not in page.text


def test_the_service_loads_one_pack_per_language_with_the_one_loader(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import os

    from attunement.web import Settings
    from attunement.web.content import instrument_form, service_text_packs

    en, es = tmp_path / "epds-en.yaml", tmp_path / "epds-es.yaml"
    en.write_text(_epds_pack("en", "Question one"))
    es.write_text(_epds_pack("es", "Pregunta uno"))
    os.environ["ATTUNEMENT_ITEM_TEXT_PACK"] = f"{en}{os.pathsep}{es}"
    try:
        packs = service_text_packs(Settings.from_env().item_text_pack)
    finally:
        del os.environ["ATTUNEMENT_ITEM_TEXT_PACK"]
    assert [p.language for p in packs] == ["en", "es"]
    assert instrument_form("epds", packs, "es").items[0].label == "Pregunta uno"
    assert instrument_form("epds", packs, "es").language == "es"
    assert instrument_form("epds", packs, "en").items[0].label == "Question one"


@pytest.mark.parametrize(("body", "field", "words"), [
    ("epds:\n  1: 'old layout'\n", "instruments", "older item-only layout"),
    ("language: es\ninstruments:\n  epds:\n    items: {1: uno}\n", "instruments.epds.items",
     "the pack lacks 2"),
    ("language: Spanish\ninstruments: {}\n", "language", "not a language tag"),
])
def test_a_bad_service_pack_stops_the_app_naming_file_and_field(tmp_path, sqlite_world: World,  # type: ignore[no-untyped-def]
                                                                body, field, words) -> None:
    from attunement.content import DefinitionError
    from attunement.web import Settings, create_app

    pack = tmp_path / "licensed.yaml"
    pack.write_text(body)
    with pytest.raises(DefinitionError) as err:
        create_app(sqlite_world.store, settings=Settings(secret_key="k" * 40, item_text_pack=pack))
    assert err.value.field == field and words in str(err.value)
    assert "licensed.yaml" in str(err.value)
