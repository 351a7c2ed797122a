"""The trials API and pages: roles, scope (404 for another site), 409 on a second
randomisation, CONSORT SVG, CSRF-protected forms."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from attunement.web.app import create_app
from attunement.web.pages.trials import router as trials_router
from attunement.web.settings import Settings

from .conftest import DESIGN, PASSWORD, SECRET, TrialWorld

API_DESIGN = {**DESIGN, "secret": SECRET}


@pytest.fixture
def client(tw: TrialWorld) -> Iterator[tuple[TestClient, dict[str, dict[str, str]]]]:
    app = create_app(tw.store, settings=Settings(secret_key="test-secret-" + "x" * 32))
    if not any(getattr(r, "path", "") == "/trials" for r in app.routes):
        app.include_router(trials_router)
    headers = {role: {"Authorization": "Bearer " + tw.store.accounts.create_api_token(
        tw.store.actor(uid))} for role, uid in tw.user_ids().items()}
    with TestClient(app) as c:
        yield c, headers


def test_api_design_randomise_and_read(tw: TrialWorld, client):
    c, h = client
    url = f"/api/studies/{tw.study}/design"
    assert c.post(url, json=API_DESIGN, headers=h["practitioner"]).status_code == 403
    assert c.post(url, json={**API_DESIGN, "ratio": [1]},
                  headers=h["admin"]).json()["detail"][0]["field"] == "design.ratio"
    r = c.post(url, json=API_DESIGN, headers=h["admin"])
    assert r.status_code == 201, r.text
    assert SECRET not in r.text and r.json()["secret_fingerprint"]
    assert SECRET not in c.get(url, headers=h["researcher"]).text

    fam = tw.fam_a[0]
    r = c.post(f"/api/families/{fam}/randomise", json={"values": {"smi": "yes"}},
               headers=h["practitioner"])
    assert r.status_code == 201, r.text
    arm = r.json()["arm"]
    assert arm in DESIGN["arms"]
    # a second attempt, by anyone, conflicts and the arm stays
    again = c.post(f"/api/families/{fam}/randomise", json={"values": {"smi": "no"}},
                   headers=h["site_lead"])
    assert again.status_code == 409 and "never be changed" in again.text
    assert c.get(f"/api/families/{fam}/allocation", headers=h["practitioner"]).json()["arm"] \
        == arm
    # another site's family is not found; a researcher may not randomise; consent is needed
    assert c.post(f"/api/families/{tw.fam_b}/randomise", json={"values": {"smi": "no"}},
                  headers=h["practitioner"]).status_code == 404
    assert c.post(f"/api/families/{tw.fam_a[1]}/randomise", json={"values": {"smi": "no"}},
                  headers=h["researcher"]).status_code == 403
    r = c.post(f"/api/families/{tw.fam_a_no_consent}/randomise",
               json={"values": {"smi": "no"}}, headers=h["practitioner"])
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "consent"
    # the list: researchers read it pseudonymised
    rows = c.get(f"/api/studies/{tw.study}/allocations", headers=h["researcher"]).json()
    assert [r["arm"] for r in rows] == [arm] and not rows[0]["family_id"].startswith("A-")
    assert "pa@example.org" not in str(rows)
    assert c.get(f"/api/studies/{tw.study}/allocations",
                 headers=h["practitioner_b"]).status_code == 403  # allocation concealment
    svg = c.get(f"/api/studies/{tw.study}/consort.svg", headers=h["researcher"])
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert "<svg" in svg.text
    assert "style=" not in svg.text and "<style" not in svg.text  # CSP: style-src 'self'
    assert c.get("/api/studies/999/allocations", headers=h["admin"]).status_code == 404
    balance = c.get(f"/api/studies/{tw.study}/balance", headers=h["admin"]).json()
    overall = next(b for b in balance if b["group"] == "overall")
    assert overall["n"] == 1 and overall[arm] == 1 and overall["max_imbalance"] == 0.5
    assert {b["level"] for b in balance if b["group"] == "smi"} == {"yes"}
    assert c.get(f"/api/studies/{tw.study}/verify", headers=h["admin"]).json() == {
        "ok": True, "mismatched_sequences": []}
    assert c.get(f"/api/studies/{tw.study}/verify",
                 headers=h["site_lead"]).status_code == 403


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has no CSRF token"
    return match.group(1)


def _login(c: TestClient, email: str) -> str:
    c.cookies.clear()
    csrf = _csrf(c.get("/login").text)
    r = c.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": csrf,
                               "next": "/"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return _csrf(c.get("/").text)


@pytest.mark.parametrize("tw", ["sqlite"], indirect=True)
def test_pages_define_design_randomise_and_show(tw: TrialWorld, client):
    c, _ = client
    csrf = _login(c, "admin@example.org")
    page = c.get(f"/studies/{tw.study}/trial")
    assert page.status_code == 200 and "No randomisation design" in page.text
    form = {"method": "blocks", "arms": "usual care, VIPP-SD", "ratio": "1, 1",
            "block_sizes": "2, 4", "columns": "site, smi", "levels": "smi: yes, no",
            "consent_kind": "research", "secret": SECRET}
    assert c.post(f"/studies/{tw.study}/trial/design", data=form).status_code == 403  # no CSRF
    bad = c.post(f"/studies/{tw.study}/trial/design",
                 data={**form, "levels": "", "csrf_token": csrf})
    assert bad.status_code == 422 and "smi" in bad.text
    r = c.post(f"/studies/{tw.study}/trial/design", data={**form, "csrf_token": csrf},
               follow_redirects=False)
    assert r.status_code == 303, r.text

    csrf = _login(c, "pa@example.org")
    fam = tw.fam_a[0]
    page = c.get(f"/families/{fam}/randomise")
    assert page.status_code == 200 and 'name="values.smi"' in page.text
    assert c.get(f"/families/{tw.fam_b}/randomise").status_code == 404
    unconfirmed = c.post(f"/families/{fam}/randomise",
                         data={"values.smi": "no", "csrf_token": csrf})
    assert unconfirmed.status_code == 422
    r = c.post(f"/families/{fam}/randomise",
               data={"values.smi": "no", "confirm": "yes", "csrf_token": csrf})
    assert r.status_code == 200 and "Allocated to" in r.text and "cannot be changed" in r.text
    arm = tw.trials.allocation(tw.pa, fam)["arm"]
    assert f"<strong>{arm}</strong>" in r.text
    assert 'name="values.smi"' not in r.text  # no form once allocated
    r = c.post(f"/families/{fam}/randomise",
               data={"values.smi": "yes", "confirm": "yes", "csrf_token": csrf})
    assert r.status_code == 409 and tw.trials.allocation(tw.pa, fam)["arm"] == arm

    csrf = _login(c, "res@example.org")
    page = c.get(f"/studies/{tw.study}/trial")
    assert page.status_code == 200
    assert "CONSORT flow diagram" in page.text and "<svg" in page.text
    assert "Largest imbalance" in page.text
    assert "<title id=\"consort-title\">" in page.text
    assert "A-0" not in page.text and "pa@example.org" not in page.text
    assert "Replace the design" not in page.text and "Define the design" not in page.text
    assert c.get("/trials").status_code == 200
