"""Store fixtures: every store test runs on SQLite (a temp file) and on real PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from attunement.store import Actor, Store
from attunement.usecases import families as uc_families

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2id with small parameters so tests stay fast (production parameters are
    checked in test_store_auth.py)."""
    from argon2 import PasswordHasher

    from attunement.store import accounts

    monkeypatch.setattr(
        accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


_pg_counter = 0


@pytest.fixture(scope="session")
def pg_template(postgres_server: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database migrated once (Alembic upgrade head), cloned for each test."""
    import psycopg

    name = f"store_template_{os.getpid()}"
    dsn = postgres_server.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    Store.open(
        f"{postgres_server}/{name}", key_path=tmp_path_factory.mktemp("tmpl") / "unused.key"
    ).close()
    return name


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database: a SQLite temp file, or a clone of the migrated PostgreSQL template."""
    global _pg_counter
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    import psycopg

    server = request.getfixturevalue("postgres_server")
    template = request.getfixturevalue("pg_template")
    _pg_counter += 1
    name = f"store_{os.getpid()}_{_pg_counter}"
    dsn = server.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return f"{server}/{name}"


@pytest.fixture
def key_path(tmp_path: Path) -> Path:
    return tmp_path / "keys" / "identifier.key"


@pytest.fixture
def store(db_url: str, key_path: Path) -> Iterator[Store]:
    st = Store.open(db_url, key_path=key_path)
    st.init("admin@example.org", PASSWORD)
    yield st
    st.close()


@dataclass
class World:
    store: Store
    admin: Actor
    system: Actor
    north: Actor  # practitioner at North
    south: Actor  # practitioner at South
    researcher: Actor
    study_id: int
    fam_north: int
    fam_south: int


def family_payload(code: str, site: str, **extra: object) -> dict:
    return {
        "family_id": code,
        "site": site,
        "assessed_on": "2026-10-01",
        # registered before the schedule's first window closed (the defaults' families were
        # the service's from pregnancy on)
        "registered_on": "2026-06-01",
        "infant": {
            "due_date": "2026-09-20",
            "date_of_birth": "2026-09-15",
            "name": "Zebedee Quillfeather",
        },
        "placement": "birth_family",
        "context": {},
        "caregivers": [
            {
                "id": "mother",
                "role": "birth_mother",
                "age": 29,
                "first_time_parent": True,
                "name": "Philippa Wintergreen",
                "nhs_number": "943 476 5919",
                "address": "12 Larkspur Row",
                "phone": "07700 900123",
                "date_of_birth": "1997-03-02",
                "responses": {"epds": [1, 1, 2, 2, 1, 2, 1, 1, 1, 0]},
            },
            {"id": "father", "role": "birth_father", "age": 31, "name": "Osric Wintergreen"},
        ],
        **extra,
    }


@pytest.fixture
def make_family():  # type: ignore[no-untyped-def]
    """The family-file payload builder, for tests that register their own families."""
    return family_payload


@pytest.fixture
def world(store: Store) -> World:
    system = store.system_actor()
    store.accounts.add_site(system, "North")
    store.accounts.add_site(system, "South")
    study = store.accounts.add_study(
        system,
        "Attach-1",
        ["North", "South"],
        [
            {"name": "baseline", "offset_days": -60, "window_days": 30, "instruments": ["epds"]},
            {"name": "6w", "offset_days": 42, "window_days": 14, "instruments": ["epds", "phq9"]},
        ],
    )
    admin = store.accounts.authenticate("admin@example.org", PASSWORD)
    n = store.accounts.add_user(system, "north@example.org", "practitioner", ["North"], PASSWORD)
    s = store.accounts.add_user(system, "south@example.org", "practitioner", ["South"], PASSWORD)
    r = store.accounts.add_user(system, "res@example.org", "researcher", [], PASSWORD, studies=["Attach-1"])
    north, south, researcher = (store.actor(x["id"]) for x in (n, s, r))
    fn = uc_families.register_family(store, north, family_payload("N-001", "North", study="Attach-1"))
    fs = uc_families.register_family(store, south, family_payload("S-001", "South", study="Attach-1"))
    return World(store, admin, system, north, south, researcher, study["id"], fn["id"], fs["id"])


def downgrade(store: Store, revision: str) -> None:
    """Take the store's database back to ``revision`` (to test an upgrade from it)."""
    from alembic import command
    from alembic.config import Config

    with store.db.engine.connect() as conn:
        cfg = Config()
        cfg.set_main_option("script_location", "attunement.store:migrations")
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)
        conn.commit()
