"""Accounts: changing one's own password, and administrators disabling, re-enabling and
resetting other people's accounts — pages and API, on SQLite and PostgreSQL.

Who may do what is the store's rule (tested in tests/store/test_store_auth.py); here: the web
layer follows it, every token of the account stops working, a disabled account cannot sign in,
errors are specific and forms keep what was typed (never a password).
"""

from __future__ import annotations

import re

import httpx
from fastapi.testclient import TestClient

from .support import PASSWORD, World

NEW_PASSWORD = "a completely new passphrase"


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has no CSRF token"
    return match.group(1)


def _login(client: TestClient, email: str, password: str = PASSWORD) -> int:
    """Sign in through the login form; returns the status (303 when signed in)."""
    csrf = _csrf(client.get("/login").text)
    r = client.post("/login", data={"email": email, "password": password, "csrf_token": csrf,
                                    "next": "/"}, follow_redirects=False)
    return r.status_code


def _api_login(client: TestClient, email: str, password: str) -> int:
    return client.post("/api/token", data={"username": email, "password": password}).status_code


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _audit(client: TestClient, world: World) -> list[dict]:
    r = client.get("/api/audit?limit=50", headers=world.headers("admin"))
    assert r.status_code == 200, r.text
    return r.json()


def _field_errors(r: httpx.Response) -> dict[str, str]:
    return {e["field"]: e["msg"] for e in r.json()["detail"]}


# --- API ------------------------------------------------------------------------------------


def test_own_password_change_revokes_every_other_token(client: TestClient, world: World) -> None:
    uid = world.users["practitioner"]
    old = world.tokens["practitioner"]
    program = world.store.accounts.create_api_token(world.store.actor(uid))  # a second program's token

    r = client.post("/api/me/password", headers=_bearer(old),
                    json={"current_password": "not my password", "new_password": NEW_PASSWORD})
    assert r.status_code == 422
    assert _field_errors(r) == {"current_password": "is not correct"}
    for bad, reason in (("short", "at least 8"), ("pa@example.org", "email")):
        r = client.post("/api/me/password", headers=_bearer(old),
                        json={"current_password": PASSWORD, "new_password": bad})
        assert r.status_code == 422 and reason in _field_errors(r)["new_password"]
    assert client.get("/api/me", headers=_bearer(old)).status_code == 200  # nothing changed

    r = client.post("/api/me/password", headers=_bearer(old),
                    json={"current_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert r.status_code == 200, r.text
    fresh = r.json()["access_token"]
    assert fresh not in (old, program) and r.json()["token_type"] == "bearer"
    assert client.get("/api/me", headers=_bearer(old)).status_code == 401
    assert client.get("/api/me", headers=_bearer(program)).status_code == 401
    me = client.get("/api/me", headers=_bearer(fresh))
    assert me.status_code == 200 and me.json()["email"] == "pa@example.org"
    assert _api_login(client, "pa@example.org", PASSWORD) == 401
    assert _api_login(client, "pa@example.org", NEW_PASSWORD) == 200
    changes = [e for e in _audit(client, world) if e["action"] == "set_password"]
    assert [(e["entity_id"], e["actor"]) for e in changes] == [(str(uid), "pa@example.org")]
    assert client.post("/api/me/password", json={"current_password": NEW_PASSWORD,
                                                 "new_password": PASSWORD}).status_code == 401


def test_admin_disables_and_enables_an_account(client: TestClient, world: World) -> None:
    uid = world.users["practitioner_b"]
    token = world.tokens["practitioner_b"]
    admin = world.headers("admin")
    path = f"/api/users/{uid}/active"
    assert client.get("/api/families", headers=_bearer(token)).status_code == 200

    r = client.post(path, headers=admin, json={"active": False})
    assert r.status_code == 422 and "reason" in _field_errors(r)
    r = client.post(path, headers=admin, json={"active": False, "reason": "   "})
    assert r.status_code == 422 and _field_errors(r) == {"reason": "is required"}
    # a site lead of site A cannot even learn of site B's people
    for role, status in (("site_lead", 404), ("practitioner", 403), ("researcher", 403)):
        r = client.post(path, headers=world.headers(role),
                        json={"active": False, "reason": "not theirs to do"})
        assert r.status_code == status, (role, r.text)
    assert client.post(path, json={"active": False, "reason": "x"}).status_code == 401
    assert client.get("/api/families", headers=_bearer(token)).status_code == 200

    r = client.post(path, headers=admin, json={"active": False, "reason": "left the service"})
    assert r.status_code == 200, r.text
    assert r.json() == {"id": uid, "email": "pb@example.org", "active": False}
    assert client.get("/api/families", headers=_bearer(token)).status_code == 401
    assert client.get("/api/me", headers=_bearer(token)).status_code == 401
    assert _api_login(client, "pb@example.org", PASSWORD) == 401
    listed = {u["id"]: u for u in client.get("/api/users", headers=admin).json()}
    assert listed[uid]["active"] is False
    entry = next(e for e in _audit(client, world)
                 if e["entity"] == "user" and e["entity_id"] == str(uid) and e["action"] == "update")
    assert entry["reason"] == "left the service" and entry["actor"] == "admin@example.org"
    assert entry["before"] == {"active": True} and entry["after"] == {"active": False}

    r = client.post(path, headers=admin, json={"active": True, "reason": "came back"})
    assert r.status_code == 200 and r.json()["active"] is True
    assert _api_login(client, "pb@example.org", PASSWORD) == 200
    assert client.get("/api/me", headers=_bearer(token)).status_code == 401  # stays revoked
    r = client.post("/api/users/987654/active", headers=admin,
                    json={"active": False, "reason": "no such person"})
    assert r.status_code == 404


def test_admin_sets_a_password(client: TestClient, world: World) -> None:
    uid = world.users["practitioner_b"]
    token = world.tokens["practitioner_b"]
    path = f"/api/users/{uid}/password"
    r = client.post(path, headers=world.headers("admin"), json={"new_password": "short"})
    assert r.status_code == 422 and "at least 8" in _field_errors(r)["new_password"]
    for role, status in (("site_lead", 404), ("practitioner", 403), ("researcher", 403)):
        r = client.post(path, headers=world.headers(role), json={"new_password": NEW_PASSWORD})
        assert r.status_code == status, role
    assert client.get("/api/me", headers=_bearer(token)).status_code == 200

    r = client.post(path, headers=world.headers("admin"), json={"new_password": NEW_PASSWORD})
    assert r.status_code == 200 and r.json() == {"id": uid, "password_set": True}
    assert client.get("/api/me", headers=_bearer(token)).status_code == 401
    assert _api_login(client, "pb@example.org", PASSWORD) == 401
    assert _api_login(client, "pb@example.org", NEW_PASSWORD) == 200
    # an administrator's own password needs the current one (the store's rule)
    r = client.post(f"/api/users/{world.users['admin']}/password", headers=world.headers("admin"),
                    json={"new_password": NEW_PASSWORD})
    assert r.status_code == 422 and "current_password" in _field_errors(r)


# --- pages ----------------------------------------------------------------------------------


def test_my_account_changes_the_password(client: TestClient, world: World) -> None:
    assert _login(client, "pa@example.org") == 303
    with TestClient(world.app) as other:  # the same person signed in elsewhere
        assert _login(other, "pa@example.org") == 303
        page = client.get("/account")
        assert page.status_code == 200
        assert 'href="/account" aria-current="page">My account' in page.text
        assert "pa@example.org" in page.text and "Site A" in page.text
        csrf = _csrf(page.text)
        form = {"csrf_token": csrf, "current_password": "not my password",
                "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}

        r = client.post("/account/password", data={**form, "csrf_token": "forged"})
        assert r.status_code == 403 and "This form has expired" in r.text
        r = client.post("/account/password", data=form)
        assert r.status_code == 422
        assert "Your current password is not right" in r.text
        assert 'id="f-current_password"' in r.text and 'aria-invalid="true"' in r.text
        assert "not my password" not in r.text and NEW_PASSWORD not in r.text  # never echoed
        r = client.post("/account/password", data={**form, "current_password": PASSWORD,
                                                    "confirm_password": "something else!"})
        assert r.status_code == 422 and "The two new passwords are not the same" in r.text
        r = client.post("/account/password", data={**form, "current_password": PASSWORD,
                                                    "new_password": "short",
                                                    "confirm_password": "short"})
        assert r.status_code == 422
        assert "The new password must be at least 8 characters" in r.text
        r = client.post("/account/password", data={**form, "current_password": ""})
        assert r.status_code == 422 and "Enter your current password" in r.text
        assert other.get("/", follow_redirects=False).status_code == 200  # nothing changed yet

        r = client.post("/account/password", data={**form, "current_password": PASSWORD},
                        follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/account"
        done = client.get("/account")
        assert done.status_code == 200 and "Your password has been changed" in done.text
        assert _csrf(done.text) != csrf  # a fresh session: the CSRF token rotated
        assert client.get("/", follow_redirects=False).status_code == 200  # still signed in
        gone = other.get("/", follow_redirects=False)
        assert gone.status_code == 303 and gone.headers["location"].startswith("/login")
        assert client.get("/api/me", headers=world.headers("practitioner")).status_code == 401
    with TestClient(world.app) as fresh:
        assert _login(fresh, "pa@example.org", PASSWORD) == 401
        assert _login(fresh, "pa@example.org", NEW_PASSWORD) == 303


def test_admin_manages_an_account_on_pages(client: TestClient, world: World) -> None:
    uid = world.users["practitioner_b"]
    assert _login(client, "admin@example.org") == 303
    assert f'href="/admin/users/{uid}"' in client.get("/admin").text
    page = client.get(f"/admin/users/{uid}")
    assert page.status_code == 200
    assert "Account of pb@example.org" in page.text and "Disable account" in page.text
    csrf = _csrf(page.text)
    active = f"/admin/users/{uid}/active"

    r = client.post(active, data={"csrf_token": csrf, "active": "0", "reason": ""})
    assert r.status_code == 422 and "Say why: the reason is kept in the audit log" in r.text
    typed = "moved to another trust " * 50  # longer than the store allows: shown again
    r = client.post(active, data={"csrf_token": csrf, "active": "0", "reason": typed})
    assert r.status_code == 422 and "longer than 1000 characters" in r.text
    assert f'value="{typed}"' in r.text
    r = client.post(active, data={"active": "0", "reason": "left"})
    assert r.status_code == 403  # no CSRF token
    with TestClient(world.app) as person:
        assert _login(person, "pb@example.org") == 303
        r = client.post(active, data={"csrf_token": csrf, "active": "0",
                                      "reason": "left the service"}, follow_redirects=False)
        assert r.status_code == 303
        shown = client.get(f"/admin/users/{uid}").text
        assert "The account of pb@example.org is disabled" in shown
        assert "<strong>Disabled</strong>" in shown and "Enable account" in shown
        ended = person.get("/", follow_redirects=False)
        assert ended.status_code == 303 and ended.headers["location"].startswith("/login")
        r = person.post("/login", data={"email": "pb@example.org", "password": PASSWORD,
                                        "csrf_token": _csrf(person.get("/login").text)})
        assert r.status_code == 401 and "The email address or password is not right" in r.text
        assert "(disabled)" in client.get("/admin").text

        r = client.post(active, data={"csrf_token": csrf, "active": "1", "reason": "came back"})
        assert r.status_code == 200 and "is enabled again" in r.text
        assert _login(person, "pb@example.org") == 303

        reset = f"/admin/users/{uid}/password"
        r = client.post(reset, data={"csrf_token": csrf, "new_password": NEW_PASSWORD,
                                     "confirm_password": NEW_PASSWORD + "x"})
        assert r.status_code == 422 and "The two new passwords are not the same" in r.text
        r = client.post(reset, data={"csrf_token": csrf, "new_password": "pb@example.org",
                                     "confirm_password": "pb@example.org"})
        assert r.status_code == 422 and "The new password must not be the email address" in r.text
        r = client.post(reset, data={"csrf_token": csrf, "new_password": NEW_PASSWORD,
                                     "confirm_password": NEW_PASSWORD})
        assert r.status_code == 200 and "New password set" in r.text
        assert NEW_PASSWORD not in r.text
        assert person.get("/", follow_redirects=False).status_code == 303  # signed out
    with TestClient(world.app) as fresh:
        assert _login(fresh, "pb@example.org", PASSWORD) == 401
        assert _login(fresh, "pb@example.org", NEW_PASSWORD) == 303
    actions = [(e["action"], e["reason"]) for e in _audit(client, world)
               if e["entity"] == "user" and e["entity_id"] == str(uid)
               and e["action"] in ("update", "set_password")]
    assert actions[:3] == [("set_password", None), ("update", "came back"),
                           ("update", "left the service")]
    own = client.get(f"/admin/users/{world.users['admin']}")
    assert own.status_code == 200 and "This is your own account" in own.text
    assert "Disable account" not in own.text and "Set password" not in own.text


def test_site_lead_manages_the_people_of_their_site_only(
    client: TestClient, world: World
) -> None:
    """Issue 3: a site lead is a practitioner who also manages their site."""
    assert _login(client, "lead@example.org") == 303
    own = client.get(f"/admin/users/{world.users['practitioner']}")
    assert own.status_code == 200 and "Disable account" in own.text
    assert client.get(f"/admin/users/{world.users['practitioner_b']}").status_code == 404
    r = client.post(f"/admin/users/{world.users['practitioner']}/active",
                    data={"csrf_token": _csrf(own.text), "active": "0",
                          "reason": "on long leave"}, follow_redirects=False)
    assert r.status_code == 303
    users = {u["id"]: u for u in client.get("/api/users", headers=world.headers("admin")).json()}
    assert users[world.users["practitioner"]]["active"] is False
    assert users[world.users["practitioner_b"]]["active"] is True
    entry = next(e for e in _audit(client, world) if e["entity"] == "user"
                 and e["entity_id"] == str(world.users["practitioner"]))
    assert entry["actor"] == "lead@example.org" and entry["reason"] == "on long leave"
    # recorded against the person's site, so the site lead's own audit view shows it
    mine = client.get("/api/audit?limit=50", headers=world.headers("site_lead")).json()
    assert entry["id"] in {e["id"] for e in mine}
    # a password reset link for someone of their site, never a password they would know
    r = client.post(f"/api/users/{world.users['practitioner']}/password",
                    headers=world.headers("site_lead"), json={"new_password": NEW_PASSWORD})
    assert r.status_code == 403, r.text
    r = client.post(f"/api/users/{world.users['practitioner']}/password-reset",
                    headers=world.headers("site_lead"))
    assert r.status_code == 201 and "/reset/" in r.json()["url"], r.text


def test_site_lead_may_not_manage_people_who_also_work_elsewhere(
    client: TestClient, world: World
) -> None:
    both = world.store.accounts.add_user(world.store.system_actor(), "both@example.org", "practitioner",
                                ["Site A", "Site B"], PASSWORD)["id"]
    assert _login(client, "lead@example.org") == 303
    page = client.get(f"/admin/users/{both}")
    assert page.status_code == 200 and "An administrator manages this account" in page.text
    assert "Disable account" not in page.text
    r = client.post(f"/api/users/{both}/active", headers=world.headers("site_lead"),
                    json={"active": False, "reason": "not theirs alone"})
    assert r.status_code == 403
    assert "administrator" in r.json()["detail"]


def test_nobody_disables_their_own_account(client: TestClient, world: World) -> None:
    for role in ("admin", "site_lead"):
        r = client.post(f"/api/users/{world.users[role]}/active", headers=world.headers(role),
                        json={"active": False, "reason": "oops"})
        assert r.status_code == 422 and "own account" in _field_errors(r)["active"], role
    assert client.get("/api/me", headers=world.headers("admin")).status_code == 200


def test_guessing_the_current_password_is_throttled_like_logins(
    client: TestClient, world: World
) -> None:
    headers = world.headers("practitioner")
    for _ in range(5):
        r = client.post("/api/me/password", headers=headers,
                        json={"current_password": "a wrong guess", "new_password": NEW_PASSWORD})
        assert r.status_code == 422
    r = client.post("/api/me/password", headers=headers,
                    json={"current_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    failed = [e for e in _audit(client, world) if e["action"] == "login_failed"
              and e["entity_id"] == str(world.users["practitioner"])]
    assert len(failed) >= 6
    assert _api_login(client, "pa@example.org", PASSWORD) == 429  # the account is throttled
