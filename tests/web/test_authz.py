"""The authorisation matrix: every route × every role × own site / other site / no session.

A practitioner or site lead of site A gets 404 (never 403) for anything of site B, so they
cannot even learn that it exists; researchers are read-only (403 on every write) and see only
their study's families, pseudonymised. Routes never decide this themselves: the store does.

Accounts (``/account``, ``/admin/users/{id}``, ``/api/me/password``, ``/api/users/{id}/…``): the
"site" is the person's site. Everyone may change their own password; administrators may
disable any account or set anyone's password, and site leads those of the practitioners and
site leads of their own site (the store's rule; another site's people are 404 to them).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient

from attunement.usecases import assessments as uc_assessments
from attunement.usecases import families as uc_families
from attunement.usecases import observations as uc_observations

from .support import PASSWORD, SECRET_DOB, SECRET_NAME, SECRET_NHS, World

ROLES = ("admin", "practitioner", "site_lead", "researcher", None)
_n = itertools.count(1)


@dataclass
class Case:
    method: str
    path: str  # may contain {F}; other placeholders are filled by ``prepare``
    expect: dict[str | None, tuple[int, int]]  # role -> (own site, other site)
    body: Callable[[], Any] | None = None
    prepare: Callable[[World, int], dict[str, Any]] | None = None
    form: bool = False


def _read(ok: int = 200) -> dict[str | None, tuple[int, int]]:
    return {"admin": (ok, ok), "practitioner": (ok, 404), "site_lead": (ok, 404),
            "researcher": (ok, 404), None: (401, 401)}


def _write(ok: int = 201) -> dict[str | None, tuple[int, int]]:
    return {"admin": (ok, ok), "practitioner": (ok, 404), "site_lead": (ok, 404),
            "researcher": (403, 403), None: (401, 401)}


def _same(admin: int, practitioner: int, site_lead: int, researcher: int
          ) -> dict[str | None, tuple[int, int]]:
    return {"admin": (admin, admin), "practitioner": (practitioner, practitioner),
            "site_lead": (site_lead, site_lead), "researcher": (researcher, researcher),
            None: (401, 401)}


def _new_assessment(world: World, family: int) -> dict[str, Any]:
    a = uc_assessments.submit_assessment(world.store, world.store.system_actor(), family, "father", "epds",
                                   "3m" if family == world.family_a else "6w", [0] * 10)
    return {"A": a["id"]}


def _new_alert(world: World, family: int) -> dict[str, Any]:
    uc_assessments.submit_assessment(world.store, world.store.system_actor(), family, "mother", "epds",
                               "3m" if family == world.family_a else "6w", [0] * 9 + [1])
    alerts = world.store.care.list_alerts(world.store.system_actor())
    return {"A": next(a["id"] for a in alerts if a["family"] == family)}


def _new_episode(world: World, family: int) -> dict[str, Any]:
    e = world.store.care.add_episode(world.store.system_actor(), family, "abc", dt.date(2026, 9, 1),
                                caregivers=["mother"])
    return {"A": e["id"]}


def _new_consent(world: World, family: int) -> dict[str, Any]:
    c = world.store.care.add_consent(world.store.system_actor(), family, kind="research",
                                version="v1", given_on="2026-10-01")
    return {"A": c["id"]}


def _new_recording(world: World, family: int) -> dict[str, Any]:
    o = uc_observations.add_observation_session(world.store, world.store.system_actor(), family,
                                            filename="s.csv",
                                            content=b"session,actor,code,onset\n"
                                                    b"s1,Infant,cry,1\ns1,Mother,soothe,2\n",
                                            metadata={"cues": "cry", "responses": "soothe"})
    return {"A": o["id"]}


def _new_referral(world: World, family: int) -> dict[str, Any]:
    from attunement.usecases import referrals as uc_referrals

    r = uc_referrals.add_referral(world.store, world.store.system_actor(), family, kind="route",
                                  target="gp", offered_on="2026-10-01", caregiver="mother")
    return {"A": r["id"]}


def _site_of(world: World, family: int) -> dict[str, Any]:
    name = "Site A" if family == world.family_a else "Site B"
    return {"S": next(s["id"] for s in world.store.accounts.list_sites(world.store.system_actor())
                      if s["name"] == name)}


def _new_caregiver(world: World, family: int) -> dict[str, Any]:
    key = f"aunt{next(_n)}"
    uc_families.add_caregiver(world.store, world.store.system_actor(), family,
                              {"id": key, "role": "kinship_carer"})
    return {"A": key}


def _new_user(world: World, family: int) -> dict[str, Any]:
    """A fresh practitioner at the family's site (so disabling it disturbs no other case)."""
    site = "Site A" if family == world.family_a else "Site B"
    user = world.store.accounts.add_user(world.store.system_actor(), f"staff{next(_n)}@example.org",
                                "practitioner", [site], PASSWORD)
    return {"U": user["id"]}


def _assessment_body(family_is_a: bool = True) -> dict[str, Any]:
    return {"caregiver": "mother", "instrument": "epds", "time_point": "3m",
            "responses": [0] * 10}


API_CASES = [
    Case("GET", "/api/families/{F}", _read()),
    Case("GET", "/api/families/{F}/profile", _read()),
    Case("GET", "/api/families/{F}/matches", _read()),
    Case("GET", "/api/families/{F}/assessments", _read()),
    Case("POST", "/api/families/{F}/assessments", _write(), body=_assessment_body),
    Case("POST", "/api/families/{F}/links", _write(),
         body=lambda: {"caregiver": "father", "instrument": "epds", "time_point": "3m"}),
    Case("POST", "/api/families/{F}/episodes", _write(),
         body=lambda: {"programme": "abc", "start": "2026-09-01", "caregivers": ["mother"]}),
    Case("POST", "/api/families/{F}/caregivers", _write(),
         body=lambda: {"id": f"granny{next(_n)}", "role": "kinship_carer"}),
    Case("POST", "/api/assessments/{A}/corrections", _write(),
         body=lambda: {"responses": [1] * 10, "reason": "re-entered from the paper form"},
         prepare=_new_assessment),
    Case("POST", "/api/alerts/{A}/acknowledge", _write(200),
         body=lambda: {"note": "called back", "outcome": "safety_plan"}, prepare=_new_alert),
    Case("PATCH", "/api/episodes/{A}", _write(200),
         body=lambda: {"sessions_offered": 3}, prepare=_new_episode),
    Case("POST", "/api/families/{F}/consents", _write(),
         body=lambda: {"kind": "research", "version": "v1", "given_on": "2026-10-01"}),
    Case("POST", "/api/consents/{A}/withdraw", _write(200),
         body=lambda: {"withdrawn_on": "2026-10-05", "reason": "asked to stop"},
         prepare=_new_consent),
    Case("GET", "/api/observations/{A}/content",
         {**_read(), "researcher": (403, 403)}, prepare=_new_recording),
    Case("POST", "/api/families/{F}/caregivers/{A}/end", _write(200),
         body=lambda: {"reason": "moved away"}, prepare=_new_caregiver),
    Case("GET", "/api/families/{F}/referrals", _read()),
    Case("POST", "/api/families/{F}/referrals", _write(),
         body=lambda: {"kind": "route", "target": "talking_therapies",
                       "offered_on": "2026-10-01", "caregiver": "mother"}),
    Case("GET", "/api/referrals/{A}", _read(), prepare=_new_referral),
    Case("POST", "/api/referrals/{A}/stages", _write(200),
         body=lambda: {"stage": "accepted", "on": "2026-10-02"}, prepare=_new_referral),
    # the cascade of one site: another site's staff cannot ask for it; a researcher's view is
    # limited to their study's families whatever the site
    Case("GET", "/api/cascade?site={S}", {**_read(), "researcher": (200, 200)},
         prepare=_site_of),
    # not tied to one family
    Case("GET", "/api/cascade", _same(200, 200, 200, 200)),
    Case("GET", "/api/cascade.csv", _same(200, 200, 200, 200)),
    Case("GET", "/api/families", _same(200, 200, 200, 200)),
    Case("GET", "/api/alerts", _same(200, 200, 200, 200)),
    Case("GET", "/api/sites", _same(200, 200, 200, 200)),
    Case("GET", "/api/studies", _same(200, 200, 200, 200)),
    Case("GET", "/api/me", _same(200, 200, 200, 200)),
    Case("GET", "/api/users", _same(200, 403, 200, 403)),
    Case("GET", "/api/audit", _same(200, 403, 200, 403)),
    Case("GET", "/api/exports/assessments?format=csv", _same(200, 200, 200, 200)),
    Case("GET", "/api/exports/assessments?format=json&pseudonymise=false",
         _same(200, 200, 200, 403)),
    Case("GET", "/api/exports/redcap-dictionary", _same(200, 200, 200, 200)),
    Case("POST", "/api/sites", _same(201, 403, 403, 403),
         body=lambda: {"name": f"Site {next(_n)}"}),
    Case("POST", "/api/studies", _same(201, 403, 403, 403),
         body=lambda: {"name": f"Study {next(_n)}", "sites": ["Site A"], "time_points": [
             {"name": "6w", "offset_days": 42, "window_days": 14, "instruments": ["epds"]}]}),
    Case("POST", "/api/users", _same(201, 403, 201, 403),
         body=lambda: {"email": f"u{next(_n)}@example.org", "role": "practitioner",
                       "sites": ["Site A"], "password": "another long passphrase"}),
    Case("POST", "/api/families", _same(201, 201, 201, 403),
         body=lambda: {"site": "Site A", "family_id": f"NEW-{next(_n)}",
                       "infant": {"due_date": (dt.date.today() + dt.timedelta(days=30))
                                  .isoformat()},
                       "caregivers": [{"id": "cg1", "role": "co_parent"}]}),
    # accounts: {U} is a person of the own / the other site
    Case("POST", "/api/users/{U}/active", {**_same(200, 403, 403, 403), "site_lead": (200, 404)},
         body=lambda: {"active": False, "reason": "left the service"}, prepare=_new_user),
    # administrators only (audited); a site lead sends a one-time reset link instead
    Case("POST", "/api/users/{U}/password",
         {**_same(200, 403, 403, 403), "site_lead": (403, 404)},
         body=lambda: {"new_password": "set by an administrator"}, prepare=_new_user),
    Case("POST", "/api/users/{U}/password-reset",
         {**_same(201, 403, 403, 403), "site_lead": (201, 404)}, prepare=_new_user),
    # revokes the caller's tokens; the answer's fresh token replaces it in world.tokens
    Case("POST", "/api/me/password", _same(200, 200, 200, 200),
         body=lambda: {"current_password": PASSWORD, "new_password": PASSWORD + " renewed"}),
]


def _matches_installed() -> bool:
    try:
        import attunement.interventions  # noqa: F401
    except ImportError:
        return False
    return True


def test_api_authorisation_matrix(client: TestClient, world: World) -> None:
    problems = []
    for case in API_CASES:
        if case.path.endswith("/matches") and not _matches_installed():
            continue
        for role in ROLES:
            scopes = (("own", world.family_a), ("other", world.family_b)) if "{F}" in case.path \
                or case.prepare else (("any", world.family_a),)
            for i, (scope, family) in enumerate(scopes):
                fill = {"F": family, **(case.prepare(world, family) if case.prepare else {})}
                path = case.path.format(**fill)
                body = case.body() if case.body else None
                headers = world.headers(role)
                r = client.request(case.method, path, json=body, headers=headers)
                want = case.expect[role][i]
                if r.status_code != want:
                    problems.append(f"{case.method} {path} as {role or 'no session'} ({scope}): "
                                    f"{r.status_code}, expected {want}: {r.text[:120]}")
                if want == 404 and r.status_code == 404:
                    # "cannot even learn of": the same answer as for an id that does not exist
                    assert r.json() == {"detail": "Not found"}
                if role and r.status_code == 200 and case.path == "/api/me/password":
                    world.tokens[role] = r.json()["access_token"]
    assert not problems, "\n".join(problems)


PAGE_CASES = [
    ("GET", "/families/{F}", _read()),
    # a researcher's caregiver ids are pseudonyms, so "mother" is unknown: back to the family
    ("GET", "/families/{F}/assess?caregiver=mother&instrument=epds&time_point=3m",
     {**_read(), "researcher": (303, 404)}),
    ("GET", "/", _same(200, 200, 200, 200)),
    ("GET", "/cascade", _same(200, 200, 200, 200)),
    ("GET", "/cascade.csv", _same(200, 200, 200, 200)),
    ("GET", "/exports", _same(200, 200, 200, 200)),
    ("GET", "/admin", _same(200, 403, 200, 403)),
    ("GET", "/audit", _same(200, 403, 200, 403)),
    ("GET", "/account", _same(200, 200, 200, 200)),
    # {U}: a person of the own / the other site
    ("GET", "/admin/users/{U}", {**_same(200, 403, 200, 403), "site_lead": (200, 404)}),
]

# state-changing account forms, posted with a valid CSRF token (no session: no CSRF token, 403)
# (no session: sent to the sign-in page before the form is read, 303)
ACCOUNT_FORMS: list[tuple[str, Callable[[], dict[str, str]], dict[str | None, tuple[int, int]]]] = [
    ("/admin/users/{U}/active", lambda: {"active": "0", "reason": "left the service"},
     {**_same(303, 403, 403, 403), "site_lead": (303, 404), None: (303, 303)}),
    ("/admin/users/{U}/password",
     lambda: {"new_password": "set by an administrator",
              "confirm_password": "set by an administrator"},
     {**_same(303, 403, 403, 403), "site_lead": (403, 404), None: (303, 303)}),
    # the one-time link is shown on the page that answers (200)
    ("/admin/users/{U}/reset-link", dict,
     {**_same(200, 403, 403, 403), "site_lead": (200, 404), None: (303, 303)}),
    # a wrong current password: every signed-in role reaches the store's check
    ("/account/password",
     lambda: {"current_password": "not the password", "new_password": "a new passphrase",
              "confirm_password": "a new passphrase"},
     {**_same(422, 422, 422, 422), None: (303, 303)}),
]

# reached without an account: the one-time reset link is the credential (unknown: 404)
PUBLIC_PAGES = [("GET", "/reset/{}"), ("POST", "/reset/{}")]


def _sign_in(client: TestClient, world: World, role: str | None) -> str:
    """A valid session cookie for ``role`` (as the login page would set), and its CSRF token."""
    client.cookies.clear()
    if role is None:
        return ""
    sid = world.store.accounts.create_web_session(world.store.actor(world.users[role]),
                                         lifetime=3600, idle=1800)
    data = {"sid": sid, "csrf": f"csrf-{role}"}
    cookie = world.app.state.sessions._serializer.dumps(data)
    client.cookies.set("attunement_session", cookie)
    return data["csrf"]


def test_page_authorisation_matrix(client: TestClient, world: World) -> None:
    problems = []
    for method, template, expect in PAGE_CASES:
        for role in ROLES:
            _sign_in(client, world, role)
            scoped = "{F}" in template or "{U}" in template
            scopes = ((world.family_a, 0), (world.family_b, 1)) if scoped else \
                ((world.family_a, 0),)
            for family, i in scopes:
                fill = _new_user(world, family) if "{U}" in template else {}
                path = template.format(F=family, **fill)
                r = client.request(method, path, follow_redirects=False)
                want = expect[role][i]
                if role is None:
                    ok = r.status_code == 303 and r.headers["location"].startswith("/login")
                else:
                    ok = r.status_code == want
                if not ok:
                    problems.append(f"{method} {path} as {role or 'no session'}: "
                                    f"{r.status_code}, expected {want}")
    # state-changing pages: another site's family is 404 even with a valid CSRF token
    for role, family, want in (("practitioner", "family_b", 404), ("practitioner", "family_a", 200),
                               ("researcher", "family_a", 403)):
        csrf = _sign_in(client, world, role)
        fid = getattr(world, family)
        r = client.post(f"/families/{fid}/links", data={
            "csrf_token": csrf, "caregiver": "father", "instrument": "epds", "time_point": "3m"},
            follow_redirects=False)
        if r.status_code != want:
            problems.append(f"POST /families/{fid}/links as {role}: {r.status_code}, want {want}")
    for template, data, expect in ACCOUNT_FORMS:
        for role in ROLES:
            for family, i in ((world.family_a, 0), (world.family_b, 1)):
                csrf = _sign_in(client, world, role)
                path = template.format(**_new_user(world, family))
                r = client.post(path, data={"csrf_token": csrf, **data()},
                                follow_redirects=False)
                if r.status_code != expect[role][i]:
                    problems.append(f"POST {path} as {role or 'no session'}: {r.status_code}, "
                                    f"want {expect[role][i]}")
    # changing one's own password, last: it revokes the role's token the other checks use
    for role in ROLES:
        csrf = _sign_in(client, world, role)
        r = client.post("/account/password", data={
            "csrf_token": csrf, "current_password": PASSWORD,
            "new_password": "a new passphrase", "confirm_password": "a new passphrase"},
            follow_redirects=False)
        want = 303
        if r.status_code != want:
            problems.append(f"POST /account/password as {role or 'no session'}: "
                            f"{r.status_code}, want {want}")
    assert not problems, "\n".join(problems)


# referral forms on the family page, posted with a valid CSRF token; {A} a referral of the
# own / the other site's family (no session: sent to the sign-in page before the form is read)
REFERRAL_FORMS: list[tuple[str, Callable[[], dict[str, str]], dict[str | None, tuple[int, int]]]] = [
    ("/families/{F}/referrals",
     lambda: {"target": "route:gp", "caregiver": "mother", "offered_on": "2026-10-01"},
     {**_write(303), "researcher": (403, 403), None: (303, 303)}),
    ("/referrals/{A}/stage", lambda: {"stage": "accepted", "on": "2026-10-02"},
     {**_write(303), "researcher": (403, 403), None: (303, 303)}),
]


def test_referral_forms_authorisation(client: TestClient, world: World) -> None:
    problems = []
    for template, data, expect in REFERRAL_FORMS:
        for role in ROLES:
            for family, i in ((world.family_a, 0), (world.family_b, 1)):
                csrf = _sign_in(client, world, role)
                path = template.format(F=family, **_new_referral(world, family))
                r = client.post(path, data={"csrf_token": csrf, **data()},
                                follow_redirects=False)
                if r.status_code != expect[role][i]:
                    problems.append(f"POST {path} as {role or 'no session'}: {r.status_code}, "
                                    f"want {expect[role][i]}")
    assert not problems, "\n".join(problems)


def test_every_cascade_route_is_in_the_matrix() -> None:
    """A new referral or cascade route must get its row in the matrices above."""
    import re

    from attunement.web.api import cascade as cascade_api
    from attunement.web.pages import cascade as cascade_pages

    def shape(path: str) -> str:
        return re.sub(r"\{[^}]+\}", "{}", path.split("?")[0])

    listed = {(c.method, shape(c.path)) for c in API_CASES}
    listed |= {(method, shape(path)) for method, path, _ in PAGE_CASES}
    listed |= {("POST", shape(path)) for path, _, _ in REFERRAL_FORMS}
    routes = {(method, shape(route.path)) for sub in (cascade_api.router, cascade_pages.router)
              for route in sub.routes for method in route.methods}
    assert routes and routes <= listed, sorted(routes - listed)


def test_every_account_route_is_in_the_matrix() -> None:
    """A new account route must get its row in the matrices above."""
    import re

    from attunement.web.api import accounts as accounts_api
    from attunement.web.pages import accounts as accounts_pages

    def shape(path: str) -> str:
        return re.sub(r"\{[^}]+\}", "{}", path.split("?")[0])

    listed = {(c.method, shape(c.path)) for c in API_CASES}
    listed |= {(method, shape(path)) for method, path, _ in PAGE_CASES}
    listed |= {("POST", shape(path)) for path, _, _ in ACCOUNT_FORMS}
    listed |= set(PUBLIC_PAGES)
    routes = {(method, shape(route.path)) for sub in (accounts_pages.router, accounts_api.router)
              for route in sub.routes for method in route.methods}
    assert routes and routes <= listed, sorted(routes - listed)


def test_unknown_reset_links_are_404_for_everyone(client: TestClient, world: World) -> None:
    for role in ROLES:
        csrf = _sign_in(client, world, role)
        for method, path in PUBLIC_PAGES:
            data = {"csrf_token": csrf or "x", "new_password": "a new passphrase",
                    "confirm_password": "a new passphrase"} if method == "POST" else None
            r = client.request(method, path.format("atr_unknown"), data=data,
                               follow_redirects=False)
            assert r.status_code == 404, (role, method, r.status_code)


def test_researcher_never_sees_an_identifier(client: TestClient, world: World) -> None:
    h = world.headers("researcher")
    fam = world.family_a
    payloads = [
        client.get("/api/families", headers=h).text,
        client.get(f"/api/families/{fam}", headers=h).text,
        client.get(f"/api/families/{fam}/assessments", headers=h).text,
        client.get(f"/api/families/{fam}/profile", headers=h).text,
        client.get("/api/exports/redcap-dictionary", headers=h).text,
        client.get(f"/api/families/{fam}/referrals", headers=h).text,
        client.get("/api/cascade", headers=h).text,
    ]
    for fmt in ("csv", "json", "redcap", "fhir", "parquet"):
        for query in ("", "&pseudonymise=true"):
            r = client.get(f"/api/exports/assessments?format={fmt}{query}", headers=h)
            assert r.status_code == 200
            payloads.append(r.content.decode("latin-1"))
    _sign_in(client, world, "researcher")
    payloads += [client.get("/").text, client.get(f"/families/{fam}").text]
    due = (dt.date.today() + dt.timedelta(days=60)).isoformat()
    for text in payloads:
        for secret in (SECRET_NAME, SECRET_NHS, SECRET_DOB, "FAM-A", due):
            assert secret not in text, f"{secret!r} leaked to a researcher"
    # the same data, for the practitioner of site A, does carry the identifiers
    clinical = client.get(f"/api/families/{fam}", headers=world.headers("practitioner")).json()
    mother = next(c for c in clinical["caregivers"] if c["id"] == "mother")
    assert mother["identifiers"]["name"] == SECRET_NAME
    rows = json.loads(client.get("/api/exports/assessments?format=json",
                                 headers=world.headers("researcher")).text)
    assert rows and all("submitted_at" not in r for r in rows)
