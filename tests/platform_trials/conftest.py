"""A small trial world on SQLite and on real PostgreSQL: a study at sites A and B, a
practitioner at each site, a site lead, a researcher of the study and consented families."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from attunement.store import Actor, Store
from attunement.usecases import families as uc_families
from attunement.usecases.trials import Trials

PASSWORD = "correct horse battery staple"
SECRET = "an-independent-statisticians-seed-0123456789"
DESIGN = {"method": "blocks", "arms": ["usual care", "VIPP-SD"], "ratio": [1, 1],
          "block_sizes": [2, 4], "strata": ["site", "smi"],
          "levels": {"smi": ["yes", "no"]}, "consent_kind": "research"}


@pytest.fixture(autouse=True)
def _fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    from argon2 import PasswordHasher

    from attunement.store import accounts

    monkeypatch.setattr(accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024,
                                                           parallelism=1))


def family_payload(code: str, site: str, study: str | None = "Trial T") -> dict:
    due = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    payload = {"family_id": code, "site": site, "infant": {"due_date": due},
               "placement": "birth_family",
               "caregivers": [{"id": "mother", "role": "birth_mother", "age": 30}]}
    if study:
        payload["study"] = study
    return payload


@dataclass
class TrialWorld:
    store: Store
    trials: Trials
    system: Actor
    admin: Actor
    pa: Actor  # practitioner, site A
    pb: Actor  # practitioner, site B
    lead: Actor  # site lead, site A
    researcher: Actor
    study: int
    fam_a: list[int]  # consented families at site A
    fam_b: int  # consented family at site B
    fam_a_no_consent: int
    consents: dict[int, int]  # family -> its research consent

    def user_ids(self) -> dict[str, int]:
        return {"admin": self.admin.user_id, "practitioner": self.pa.user_id,  # type: ignore
                "practitioner_b": self.pb.user_id, "site_lead": self.lead.user_id,
                "researcher": self.researcher.user_id}


def build(url: str, key: Path) -> TrialWorld:
    store = Store.open(url, key_path=key)
    store.init("admin@example.org", PASSWORD)
    system = store.system_actor()
    store.accounts.add_site(system, "Site A")
    store.accounts.add_site(system, "Site B")
    study = store.accounts.add_study(system, "Trial T", ["Site A", "Site B"], [])["id"]
    ids = {
        "pa": store.accounts.add_user(system, "pa@example.org", "practitioner", ["Site A"], PASSWORD),
        "pb": store.accounts.add_user(system, "pb@example.org", "practitioner", ["Site B"], PASSWORD),
        "lead": store.accounts.add_user(system, "lead@example.org", "site_lead", ["Site A"], PASSWORD),
        "res": store.accounts.add_user(system, "res@example.org", "researcher", [], PASSWORD,
                              studies=["Trial T"]),
    }
    admin_id = next(u["id"] for u in store.accounts.list_users(system)
                    if u["email"] == "admin@example.org")
    today = dt.date.today().isoformat()
    fam_a, consents = [], {}
    for i in range(6):
        f = uc_families.register_family(store, system, family_payload(f"A-{i}", "Site A"))["id"]
        consents[f] = store.care.add_consent(system, f, kind="research", version="v1",
                                        given_on=today)["id"]
        fam_a.append(f)
    fam_b = uc_families.register_family(store, system, family_payload("B-0", "Site B"))["id"]
    store.care.add_consent(system, fam_b, kind="research", version="v1", given_on=today)
    no_consent = uc_families.register_family(store, system, family_payload("A-nc", "Site A"))["id"]
    return TrialWorld(store, Trials(store), system, store.actor(admin_id),
                      store.actor(ids["pa"]["id"]), store.actor(ids["pb"]["id"]),
                      store.actor(ids["lead"]["id"]), store.actor(ids["res"]["id"]), study,
                      fam_a, fam_b, no_consent, consents)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def tw(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TrialWorld]:
    url = (f"sqlite:///{tmp_path / 'trial.db'}" if request.param == "sqlite"
           else request.getfixturevalue("postgres_url"))
    w = build(url, tmp_path / "identifier.key")
    try:
        yield w
    finally:
        w.store.close()
