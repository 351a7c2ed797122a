"""Authorisation matrix of the trials API: every route × role × own site / other site.

Other sites' families answer 404 (never 403); researchers read but never write; without a
token, 401. Recruiters (practitioners, site leads) get 403 from every route that shows other
families' allocations (allocation concealment).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from attunement.usecases import families as uc_families
from attunement.web.app import create_app
from attunement.web.pages.trials import router as trials_router
from attunement.web.settings import Settings

from .conftest import DESIGN, SECRET, TrialWorld, family_payload

ROLES = ("admin", "practitioner", "site_lead", "researcher", None)


@pytest.fixture
def api(tw: TrialWorld) -> Iterator[tuple[TestClient, dict[str | None, dict[str, str]]]]:
    app = create_app(tw.store, settings=Settings(secret_key="test-secret-" + "x" * 32))
    if not any(getattr(r, "path", "") == "/trials" for r in app.routes):
        app.include_router(trials_router)
    headers: dict[str | None, dict[str, str]] = {
        role: {"Authorization": "Bearer " + tw.store.accounts.create_api_token(tw.store.actor(uid))}
        for role, uid in tw.user_ids().items()}
    headers[None] = {}
    with TestClient(app) as c:
        yield c, headers


def _fresh_family(tw: TrialWorld, site: str, code: str) -> int:
    import datetime as dt

    fid = uc_families.register_family(tw.store, tw.system, family_payload(code, site))["id"]
    tw.store.care.add_consent(tw.system, fid, kind="research", version="v1",
                         given_on=dt.date.today().isoformat())
    return fid


def test_matrix(tw: TrialWorld, api):
    c, h = api
    tw.trials.define_design(tw.admin, tw.study, DESIGN, secret=SECRET)
    done_a, done_b = tw.fam_a[0], tw.fam_b
    tw.trials.randomise(tw.system, done_a, values={"smi": "no"})
    tw.trials.randomise(tw.system, done_b, values={"smi": "no"})
    read = {"admin": (200, 200), "practitioner": (200, 404), "site_lead": (200, 404),
            "researcher": (200, 200), None: (401, 401)}
    write = {"admin": (201, 201), "practitioner": (201, 404), "site_lead": (201, 404),
             "researcher": (403, 403), None: (401, 401)}
    got, want = {}, {}
    for role in ROLES:
        for i, (fam, side) in enumerate(((done_a, 0), (done_b, 1))):
            r = c.get(f"/api/families/{fam}/allocation", headers=h[role])
            got[("allocation", role, i)] = r.status_code
            want[("allocation", role, i)] = read[role][side]
        for side, site in enumerate(("Site A", "Site B")):
            fam = _fresh_family(tw, site, f"M-{role}-{side}")
            r = c.post(f"/api/families/{fam}/randomise", json={"values": {"smi": "yes"}},
                       headers=h[role])
            got[("randomise", role, side)] = r.status_code
            want[("randomise", role, side)] = write[role][side]
        study = f"/api/studies/{tw.study}"
        got[("design", role)] = c.get(study + "/design", headers=h[role]).status_code
        want[("design", role)] = 401 if role is None else 200
        # allocation concealment: recruiters never see other allocations or per-arm counts
        for name, path in (("list", "/allocations"), ("balance", "/balance"),
                           ("consort", "/consort.svg")):
            got[(name, role)] = c.get(study + path, headers=h[role]).status_code
            want[(name, role)] = {"admin": 200, "researcher": 200, None: 401}.get(role, 403)
        got[("verify", role)] = c.get(study + "/verify", headers=h[role]).status_code
        want[("verify", role)] = {"admin": 200, None: 401}.get(role, 403)
        got[("define", role)] = c.post(study + "/design", json=DESIGN,
                                       headers=h[role]).status_code
        # the admin's attempt is refused because allocations exist: the design is locked
        want[("define", role)] = {"admin": 422, None: 401}.get(role, 403)
        got[("reveal", role)] = c.post(study + "/design/secret", json={"reason": "audit"},
                                       headers=h[role]).status_code
        want[("reveal", role)] = {"admin": 200, None: 401}.get(role, 403)
    assert got == want
    # a study the user cannot see does not exist for them
    other = tw.store.accounts.add_study(tw.system, "Other study", ["Site B"], [])["id"]
    assert c.get(f"/api/studies/{other}/allocations",
                 headers=h["practitioner"]).status_code == 404
    # a study running at their own site is visible, its allocations are not (concealment)
    r = c.get(f"/api/studies/{other}/allocations", headers=h["practitioner_b"])
    assert r.status_code == 403
    assert c.get(f"/api/studies/{other}/design", headers=h["practitioner_b"]).status_code == 404


def test_concealment_matrix_pages_and_cli(tw: TrialWorld, api):
    """Pages and ``platform trial --as``: the allocation list, balance and CONSORT are for
    admins and researchers only; recruiters get the concealed design."""
    import re

    from typer.testing import CliRunner

    from attunement.cli import app as cli_app

    c, _ = api
    tw.trials.define_design(tw.admin, tw.study, DESIGN, secret=SECRET)
    tw.trials.randomise(tw.system, tw.fam_a[0], values={"smi": "no"})
    emails = {"admin": "admin@example.org", "practitioner": "pa@example.org",
              "site_lead": "lead@example.org", "researcher": "res@example.org"}
    unblinded = {"admin": True, "practitioner": False, "site_lead": False, "researcher": True}
    got, want = {}, {}
    for role, email in emails.items():
        c.cookies.clear()
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text)
        assert csrf
        r = c.post("/login", data={"email": email, "password": "correct horse battery staple",
                                   "csrf_token": csrf.group(1), "next": "/"},
                   follow_redirects=False)
        assert r.status_code == 303
        page = c.get(f"/studies/{tw.study}/trial")
        got[("page", role)] = (page.status_code, "Block sizes" in page.text,
                               'id="alloc-title"' in page.text, "CONSORT flow" in page.text)
        want[("page", role)] = (200, *(unblinded[role],) * 3)
        for command in ("allocations", "balance", "consort"):
            out = CliRunner().invoke(cli_app, ["platform", "trial", command, "Trial T",
                                               "--as", email, "--db", str(tw.store.url)],
                                     env={"COLUMNS": "240",
                                          "ATTUNEMENT_KEY_FILE": str(tw.store.key_path)})
            got[(command, role)] = out.exit_code
            want[(command, role)] = 0 if unblinded[role] else 2
    assert got == want
