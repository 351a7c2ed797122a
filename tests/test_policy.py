"""The access rules, as one hand-written table, checked against ``attunement.policy`` and
(for representative actions) enforced through the store on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from attunement.policy import Action, Target, allows, require
from attunement.store import Forbidden, NotFound, Store, StoreError
from attunement.usecases import families as uc_families

ROLES = ("admin", "site_lead", "practitioner", "researcher", "system", "unknown")
OWN = Target(site_ids=frozenset({1}), study_ids=frozenset({10}), role="practitioner")
OTHER = Target(site_ids=frozenset({2}), study_ids=frozenset({20}), role="practitioner")

A, L, P, R, S, U = ROLES  # short names for the table's columns
_ = (False, False)  # never
ALL = (True, True)  # own and other site
OWN_ONLY = (True, False)

# action -> role -> (allowed on a record of the actor's own site/study, on another site's)
TABLE: dict[Action, dict[str, tuple[bool, bool]]] = {
    Action.READ_FAMILY: {A: ALL, L: OWN_ONLY, P: OWN_ONLY, R: OWN_ONLY, S: ALL, U: _},
    Action.EDIT_FAMILY: {A: ALL, L: OWN_ONLY, P: OWN_ONLY, R: _, S: ALL, U: _},
    Action.SEE_IDENTIFIERS: {A: ALL, L: OWN_ONLY, P: OWN_ONLY, R: _, S: ALL, U: _},
    Action.READ_CLINICAL: {A: ALL, L: OWN_ONLY, P: OWN_ONLY, R: _, S: ALL, U: _},
    Action.OPEN_RECORDING: {A: ALL, L: OWN_ONLY, P: OWN_ONLY, R: _, S: ALL, U: _},
    Action.ACKNOWLEDGE_ALERT: {A: ALL, L: OWN_ONLY, P: OWN_ONLY, R: _, S: ALL, U: _},
    Action.TRANSFER_FAMILY: {A: ALL, L: _, P: _, R: _, S: ALL, U: _},
    Action.ANY_SITE: {A: ALL, L: _, P: _, R: _, S: ALL, U: _},
    Action.MANAGE_SITE: {A: ALL, L: _, P: _, R: _, S: ALL, U: _},
    Action.ADD_STUDY: {A: ALL, L: _, P: _, R: _, S: ALL, U: _},
    Action.MANAGE_USER: {A: ALL, L: OWN_ONLY, P: _, R: _, S: ALL, U: _},
    Action.GRANT_ROLE: {A: ALL, L: ALL, P: _, R: _, S: ALL, U: _},
    Action.SEE_ALL_USERS: {A: ALL, L: _, P: _, R: _, S: ALL, U: _},
    Action.NAME_EXISTING_ACCOUNT: {A: ALL, L: _, P: _, R: _, S: _, U: _},
    Action.SET_OTHERS_PASSWORD: {A: ALL, L: _, P: _, R: _, S: ALL, U: _},
    Action.REVOKE_OTHERS_TOKEN: {A: ALL, L: _, P: _, R: _, S: ALL, U: _},
    Action.DESIGN_TRIAL: {A: ALL, L: _, P: _, R: _, S: ALL, U: _},
    Action.REVEAL_TRIAL_SECRET: {A: ALL, L: _, P: _, R: _, S: ALL, U: _},
    Action.VERIFY_ALLOCATIONS: {A: ALL, L: _, P: _, R: _, S: ALL, U: _},
    Action.RANDOMISE: {A: ALL, L: OWN_ONLY, P: OWN_ONLY, R: _, S: ALL, U: _},
    Action.SEE_ALLOCATION_SEQUENCE: {A: ALL, L: _, P: _, R: ALL, S: ALL, U: _},
    Action.EXPORT_IDENTIFIED: {A: ALL, L: ALL, P: ALL, R: _, S: ALL, U: _},
    Action.READ_AUDIT: {A: ALL, L: OWN_ONLY, P: _, R: _, S: ALL, U: _},
}


def subject(role: str) -> SimpleNamespace:
    """An actor of ``role`` at site 1 (site roles) or in study 10 (researcher)."""
    sites = frozenset({1}) if role in ("site_lead", "practitioner") else frozenset()
    studies = frozenset({10}) if role == "researcher" else frozenset()
    return SimpleNamespace(role=role, site_ids=sites, study_ids=studies)


def test_the_table_covers_every_action_and_role() -> None:
    assert set(TABLE) == set(Action)
    assert all(set(row) == set(ROLES) for row in TABLE.values())


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", list(Action), ids=lambda a: a.name)
def test_allows_as_the_table_says(action: Action, role: str) -> None:
    own, other = TABLE[action][role]
    actor = subject(role)
    assert allows(actor, action, OWN) is own
    assert allows(actor, action, OTHER) is other
    # without a target: may the role do it at all (to records of its own scope)?
    assert allows(actor, action) is own


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", list(Action), ids=lambda a: a.name)
def test_require_refuses_other_sites_as_not_found(action: Action, role: str) -> None:
    own, other = TABLE[action][role]
    actor = subject(role)
    for allowed, target in ((own, OWN), (other, OTHER)):
        if allowed:
            require(actor, action, target)
        else:
            # a role that may do this to its own records learns nothing about other sites'
            expected = NotFound if own else Forbidden
            with pytest.raises(expected):
                require(actor, action, target)


def test_a_site_lead_manages_only_practitioners_and_leads_wholly_of_their_sites() -> None:
    lead = SimpleNamespace(role="site_lead", site_ids=frozenset({1, 3}), study_ids=frozenset())
    mine = Target(site_ids=frozenset({1}), role="site_lead")
    assert allows(lead, Action.MANAGE_USER, mine)
    for target in (Target(site_ids=frozenset({1}), role="admin"),
                   Target(site_ids=frozenset({1}), role="researcher"),
                   Target(site_ids=frozenset({1, 2}), role="practitioner")):
        assert not allows(lead, Action.MANAGE_USER, target)
        with pytest.raises(Forbidden):  # seen (a site in common) but not theirs to manage
            require(lead, Action.MANAGE_USER, target)
    assert not allows(lead, Action.GRANT_ROLE, Target(role="admin"))
    assert not allows(lead, Action.GRANT_ROLE, Target(role="researcher"))


def test_a_researcher_reads_only_families_of_their_studies() -> None:
    res = subject("researcher")
    assert allows(res, Action.READ_FAMILY, Target(site_ids=frozenset({2}),
                                                  study_ids=frozenset({10})))
    assert not allows(res, Action.READ_FAMILY, Target(site_ids=frozenset({1}),
                                                      study_ids=frozenset()))


def test_the_refusal_messages_are_the_stores() -> None:
    with pytest.raises(Forbidden, match="role 'researcher' may not change records"):
        require(subject("researcher"), Action.EDIT_FAMILY)
    with pytest.raises(Forbidden, match="role 'practitioner' may not do this"):
        require(subject("practitioner"), Action.TRANSFER_FAMILY)
    with pytest.raises(Forbidden, match="allocation concealment"):
        require(subject("site_lead"), Action.SEE_ALLOCATION_SEQUENCE)
    with pytest.raises(NotFound, match="family 7 not found"):
        require(subject("practitioner"), Action.EDIT_FAMILY,
                Target(site_ids=frozenset({2}), what="family 7"))


def test_the_policy_imports_no_database_or_web_framework() -> None:
    import ast

    import attunement.policy as module

    tree = ast.parse(Path(module.__file__).read_text())
    imported = {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not {m for m in imported if m.split(".")[0] in ("sqlalchemy", "fastapi", "starlette")}


# ---------------------------------------------------------------------- through the store
PASSWORD = "correct horse battery staple 42"


@dataclass
class World:
    store: Store
    actors: dict[str, Any]  # role -> Actor (site roles at North, researcher in Attach-1)
    users: dict[str, int]  # "north"/"south" practitioner -> user id
    families: dict[str, int]  # "own" (North) / "other" (South) -> family id


@pytest.fixture(autouse=True)
def _fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    from argon2 import PasswordHasher

    from attunement.store import accounts

    monkeypatch.setattr(accounts, "_hasher",
                        PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    store = Store.open(url, key_path=tmp_path / "identifier.key")
    store.init("admin@example.org", PASSWORD)
    system = store.system_actor()
    for site in ("North", "South"):
        store.accounts.add_site(system, site)
    store.accounts.add_study(system, "Attach-1", ["North", "South"], [])
    add = store.accounts.add_user
    ids = {
        "north": add(system, "north@example.org", "practitioner", ["North"], PASSWORD)["id"],
        "south": add(system, "south@example.org", "practitioner", ["South"], PASSWORD)["id"],
        "lead": add(system, "lead@example.org", "site_lead", ["North"], PASSWORD)["id"],
        "res": add(system, "res@example.org", "researcher", [], PASSWORD,
                   studies=["Attach-1"])["id"],
    }
    admin = store.accounts.authenticate("admin@example.org", PASSWORD)
    actors = {"admin": admin, "site_lead": store.actor(ids["lead"]),
              "practitioner": store.actor(ids["north"]), "researcher": store.actor(ids["res"]),
              "system": system}
    due = (dt.date.today() + dt.timedelta(days=30)).isoformat()

    def family(code: str, site: str, study: str | None) -> int:
        payload = {"family_id": code, "site": site, "study": study,
                   "infant": {"due_date": due}, "placement": "birth_family",
                   "caregivers": [{"id": "mother", "role": "birth_mother"}]}
        return uc_families.register_family(store, system, payload)["id"]

    # the researcher's "own" family is in their study, the "other" one in none
    fams = {"own": family("N-1", "North", "Attach-1"), "other": family("S-1", "South", None)}
    try:
        yield World(store, actors, {"own": ids["north"], "other": ids["south"]}, fams)
    finally:
        store.close()


Call = Callable[[World, Any, str], object]
# representative actions, each done through the store to a record of the actor's own site
# ("own": North) or another site ("other": South)
THROUGH_THE_STORE: dict[Action, Call] = {
    Action.MANAGE_USER: lambda w, actor, where: w.store.accounts.set_user_active(
        actor, w.users[where], False, reason="left the service"),
    Action.EDIT_FAMILY: lambda w, actor, where: w.store.care.add_consent(
        actor, w.families[where], kind="research", version="v1",
        given_on=dt.date.today().isoformat()),
    Action.TRANSFER_FAMILY: lambda w, actor, where: w.store.families.transfer_family(
        actor, w.families[where], "South" if where == "own" else "North", reason="moved"),
    Action.READ_AUDIT: lambda w, actor, where: w.store.maintenance.audit_log(
        actor, family_id=w.families[where]),
    Action.READ_FAMILY: lambda w, actor, where: w.store.families.get_family(
        actor, w.families[where]),
}
STORE_ROLES = ("admin", "site_lead", "practitioner", "researcher", "system")


@pytest.mark.parametrize("where", ["own", "other"])
@pytest.mark.parametrize("role", STORE_ROLES)
@pytest.mark.parametrize("action", list(THROUGH_THE_STORE), ids=lambda a: a.name)
def test_the_store_enforces_the_table(world: World, action: Action, role: str,
                                      where: str) -> None:
    own, other = TABLE[action][role]
    allowed = own if where == "own" else other
    call = THROUGH_THE_STORE[action]
    if allowed:
        call(world, world.actors[role], where)
        return
    with pytest.raises(StoreError) as refused:
        call(world, world.actors[role], where)
    # another site's record is "not found" for a role that may do this to its own records
    assert type(refused.value) is (NotFound if own else Forbidden)


def test_the_policy_and_the_vocabulary_name_the_same_user_roles():
    """The policy writes the rules for each role; the vocabulary gives each its label. One list
    of roles: a role in one and not the other would be a role nobody can give, or one with no
    rules (default deny) offered on the forms."""
    from attunement import policy
    from attunement.vocabulary import user_roles

    assert sorted(t.id for t in user_roles()) == sorted(policy.ROLES)
