"""The pages ask the access policy: a control is shown exactly when
:func:`attunement.policy.allows` says the signed-in role may use it, and the forms offer the
vocabulary's roles and placements (``attunement.vocabulary``), not a list of their own."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from attunement import policy
from attunement.policy import Action, Rule
from attunement.vocabulary import caregiver_roles, load_vocabulary, placements, user_roles

from .support import World
from .test_pages import _csrf
from .test_pages import _login as login_as

EMAILS = {"admin": "admin@example.org", "practitioner": "pa@example.org",
          "site_lead": "lead@example.org", "researcher": "res@example.org"}


def _login(client: TestClient, role: str) -> None:
    login_as(client, EMAILS[role])


def _options(html: str, name: str) -> list[str]:
    """The option values of the select ``name`` (the blank "Choose…" left out)."""
    match = re.search(rf'<select[^>]*name="{re.escape(name)}"[^>]*>(.*?)</select>', html, re.S)
    assert match, f"no select {name!r} on the page"
    return [v for v in re.findall(r'<option value="([^"]*)"', match.group(1)) if v]


def _study_id(world: World) -> int:
    studies = world.store.accounts.list_studies(world.store.system_actor())
    return next(s["id"] for s in studies if s["name"] == "Study S")


def _actor(world: World, role: str) -> policy.Subject:
    return world.store.actor(world.users[role])


@pytest.mark.parametrize("role", ["admin", "practitioner", "site_lead", "researcher"])
def test_the_menu_shows_what_the_policy_allows(page_client: TestClient, sqlite_world: World,
                                               role: str) -> None:
    _login(page_client, role)
    html = page_client.get("/").text
    actor = _actor(sqlite_world, role)
    assert ('href="/families/new"' in html) == policy.allows(actor, Action.EDIT_FAMILY)
    assert ('href="/admin"' in html) == policy.allows(actor, Action.MANAGE_USER)
    assert ('href="/audit"' in html) == policy.allows(actor, Action.READ_AUDIT)
    # the researcher's caseload is pseudonymised: no search by name
    assert ("NHS number" in html) == policy.allows(actor, Action.SEE_IDENTIFIERS)


@pytest.mark.parametrize("role", ["admin", "practitioner", "site_lead", "researcher"])
def test_the_trial_page_shows_the_design_form_as_the_policy_says(
        page_client: TestClient, sqlite_world: World, role: str) -> None:
    _login(page_client, role)
    r = page_client.get(f"/studies/{_study_id(sqlite_world)}/trial")
    assert r.status_code == 200, r.text
    actor = _actor(sqlite_world, role)
    assert ('action="/studies/' in r.text and '/trial/design"' in r.text) == \
        policy.allows(actor, Action.DESIGN_TRIAL)


@pytest.mark.parametrize("role", ["admin", "site_lead"])
def test_the_admin_page_shows_site_and_study_forms_as_the_policy_says(
        page_client: TestClient, sqlite_world: World, role: str) -> None:
    _login(page_client, role)
    html = page_client.get("/admin").text
    actor = _actor(sqlite_world, role)
    assert ('action="/admin/sites"' in html) == policy.allows(actor, Action.MANAGE_SITE)
    assert ('action="/admin/studies"' in html) == policy.allows(actor, Action.ADD_STUDY)


def test_the_pages_follow_a_changed_rule(page_client: TestClient, sqlite_world: World,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Change a rule and the page changes with it: nothing in the web decides by role."""
    monkeypatch.setitem(policy.RULES, Action.DESIGN_TRIAL,
                        Rule(policy.GLOBAL | {policy.RESEARCHER}))
    monkeypatch.setitem(policy.RULES, Action.EDIT_FAMILY, Rule(frozenset({policy.ADMIN})))
    _login(page_client, "researcher")
    html = page_client.get(f"/studies/{_study_id(sqlite_world)}/trial").text
    assert '/trial/design"' in html
    page_client.post("/logout", data={"csrf_token": _csrf(html)})
    _login(page_client, "practitioner")
    assert 'href="/families/new"' not in page_client.get("/").text


def test_a_site_lead_is_offered_to_manage_only_accounts_the_policy_allows(
        page_client: TestClient, sqlite_world: World) -> None:
    _login(page_client, "site_lead")
    lead = _actor(sqlite_world, "site_lead")
    shown = 0
    for who, role in (("practitioner", "practitioner"), ("practitioner_b", "practitioner"),
                      ("admin", "admin")):
        r = page_client.get(f"/admin/users/{sqlite_world.users[who]}")
        if r.status_code == 404:  # no site in common: not theirs to see at all
            continue
        shown += 1
        sites = sqlite_world.store.actor(sqlite_world.users[who]).site_ids
        target = policy.Target(site_ids=frozenset(sites), role=role)
        assert (f'action="/admin/users/{sqlite_world.users[who]}/active"' in r.text) == \
            policy.allows(lead, Action.MANAGE_USER, target), who
    assert shown >= 1


# --------------------------------------------------------------------- the vocabulary's lists


def _service_vocabulary(tmp_path: Path) -> Path:
    """The shipped vocabulary with one more caregiver role, placement and user role."""
    doc = yaml.safe_load((Path(policy.__file__).parent / "vocabulary.yaml").read_text("utf-8"))
    doc["caregiver_roles"].append({"id": "step_parent", "label": "Step-parent",
                                   "birth_parent": False})
    doc["placements"].append({"id": "special_guardianship", "label": "Special guardianship"})
    doc["user_roles"].append({"id": "peer_supporter", "label": "Peer supporter",
                              "purpose": "Supports families between visits."})
    doc["default_schedule"] = [{"id": "booking", "label": "Booking"},
                               {"id": "8w", "label": "8 weeks"}]
    path = tmp_path / "vocabulary.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), "utf-8")
    return path


@pytest.fixture
def service_vocabulary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = _service_vocabulary(tmp_path)
    monkeypatch.setenv("ATTUNEMENT_VOCABULARY", str(path))
    return path


def test_the_forms_offer_the_vocabularys_roles_and_placements(
        page_client: TestClient, service_vocabulary: Path) -> None:
    _login(page_client, "admin")
    family_form = page_client.get("/families/new").text
    assert _options(family_form, "caregivers.0.role") == [t.id for t in caregiver_roles()]
    assert "step_parent" in _options(family_form, "caregivers.0.role")
    assert _options(family_form, "placement") == [t.id for t in placements()]
    admin = page_client.get("/admin").text
    assert _options(admin, "user.role") == [t.id for t in user_roles()]
    assert "peer_supporter" in _options(admin, "user.role")


def test_the_default_time_points_are_the_vocabularys(service_vocabulary: Path) -> None:
    from attunement.web import content

    assert content.time_points({}) == ["booking", "8w"]
    assert [t.id for t in load_vocabulary().default_schedule] == ["booking", "8w"]


def test_a_role_outside_the_vocabulary_is_refused_by_the_admin_form(
        page_client: TestClient) -> None:
    _login(page_client, "admin")
    csrf = _csrf(page_client.get("/admin").text)
    r = page_client.post("/admin/users", data={
        "csrf_token": csrf, "user.email": "new@example.org", "user.role": "system",
        "user.password": "a-long-enough-password-1"})
    assert r.status_code == 422
    assert "Choose a role" in r.text


def test_the_consent_forms_name_each_problem_and_store_nothing(
        page_client: TestClient, sqlite_world: World) -> None:
    _login(page_client, "practitioner")
    fid = sqlite_world.family_a
    csrf = _csrf(page_client.get(f"/families/{fid}").text)
    before = sqlite_world.store.families.get_family(sqlite_world.store.system_actor(), fid)
    r = page_client.post(f"/families/{fid}/consents", data={
        "csrf_token": csrf, "kind": "", "version": "2", "given_on": "2026-02-30"})
    assert r.status_code == 200
    assert ("Consent was not recorded — Consent to (kind): choose what was consented to; "
            "given on: &#39;2026-02-30&#39; is not a date written YYYY-MM-DD") in r.text
    r = page_client.post(f"/families/{fid}/consents/withdraw", data={
        "csrf_token": csrf, "consent": "nope", "withdrawn_on": "soon", "reason": ""})
    assert ("The withdrawal was not recorded — consent: choose one of this family&#39;s "
            "consents; withdrawn on: &#39;soon&#39; is not a date written YYYY-MM-DD; reason: "
            "say why consent was withdrawn") in r.text
    after = sqlite_world.store.families.get_family(sqlite_world.store.system_actor(), fid)
    assert after.get("consents") == before.get("consents")
