"""Helpers for the web tests: a populated store on SQLite and on PostgreSQL, an app, tokens.

A "world" has two sites (A and B), a study running at site A, one user per role, and one
family at each site (A's family in the study). Tokens are minted through the store directly so
the tests do not pay for an argon2 login per role; login itself is tested separately.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import shutil
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from attunement.store import Store
from attunement.usecases import families as uc_families
from attunement.web import Settings, create_app

PASSWORD = "a long test passphrase"
SECRET_NAME = "Zebedee Quillfeather"  # an identifier that must never reach a researcher
SECRET_NHS = "9434765919"
SECRET_DOB = "1990-04-17"

ROLES = ("admin", "practitioner", "site_lead", "researcher")


@dataclass
class World:
    store: Store
    app: Any
    tokens: dict[str, str]
    family_a: int
    family_b: int
    users: dict[str, int] = field(default_factory=dict)

    def headers(self, role: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}


def family_payload(code: str, site: str, *, study: str | None = None,
                   with_identifiers: bool = False) -> dict[str, Any]:
    mother: dict[str, Any] = {"id": "mother", "role": "birth_mother", "age": 30,
                              "responses": {"epds": [1, 1, 1, 1, 1, 1, 1, 1, 1, 0]}}
    if with_identifiers:
        mother.update(name=SECRET_NAME, nhs_number=SECRET_NHS, date_of_birth=SECRET_DOB)
    payload: dict[str, Any] = {
        "site": site, "family_id": code,
        "infant": {"due_date": (dt.date.today() + dt.timedelta(days=60)).isoformat()},
        "placement": "birth_family",
        "caregivers": [mother, {"id": "father", "role": "birth_father", "age": 32}],
    }
    if study:
        payload["study"] = study
        payload["time_point"] = "antenatal"
    return payload


def build_world(url: str, key_path: Path) -> World:
    """Create and populate a store at ``url``; returns the world (store left open)."""
    store = Store.open(url, key_path=key_path)
    store.init("admin@example.org", PASSWORD)
    system = store.system_actor()
    store.accounts.add_site(system, "Site A")
    store.accounts.add_site(system, "Site B")
    store.accounts.add_study(system, "Study S", ["Site A"], [
        {"name": "antenatal", "offset_days": -60, "window_days": 30, "instruments": ["epds"]},
        {"name": "3m", "offset_days": 90, "window_days": 21, "instruments": ["epds", "phq9"]},
    ])
    users = {
        "practitioner": store.accounts.add_user(system, "pa@example.org", "practitioner", ["Site A"],
                                       PASSWORD)["id"],
        "practitioner_b": store.accounts.add_user(system, "pb@example.org", "practitioner", ["Site B"],
                                         PASSWORD)["id"],
        "site_lead": store.accounts.add_user(system, "lead@example.org", "site_lead", ["Site A"],
                                    PASSWORD)["id"],
        "researcher": store.accounts.add_user(system, "res@example.org", "researcher", [], PASSWORD,
                                     studies=["Study S"])["id"],
    }
    admin_id = next(u["id"] for u in store.accounts.list_users(system) if u["email"] == "admin@example.org")
    users["admin"] = admin_id
    tokens = {role: store.accounts.create_api_token(store.actor(uid)) for role, uid in users.items()}
    fam_a = uc_families.register_family(store, system, family_payload("FAM-A", "Site A", study="Study S",
                                                       with_identifiers=True))["id"]
    fam_b = uc_families.register_family(store, system, family_payload("FAM-B", "Site B",
                                                       with_identifiers=True))["id"]
    return World(store=store, app=None, tokens=tokens, family_a=fam_a, family_b=fam_b,
                 users=users)


@dataclass
class Template:
    """A populated database built once per test session and cloned for each test (argon2
    hashing of five users makes building from scratch slow)."""

    backend: str
    url: str
    key_path: Path
    world: World

    def clone(self, target: Path | str) -> tuple[str, Path]:
        if self.backend == "sqlite":
            folder = Path(target)
            db = folder / "web.db"
            shutil.copyfile(make_url(self.url).database or "", db)
            key = folder / "identifier.key"
            shutil.copyfile(self.key_path, key)
            os.chmod(key, 0o600)
            return f"sqlite:///{db}", key
        import psycopg

        name = str(target)
        base = make_url(self.url)
        admin_dsn = base.set(drivername="postgresql", database="postgres").render_as_string(
            hide_password=False)
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{base.database}"')
        return base.set(database=name).render_as_string(hide_password=False), self.key_path


def make_template(backend: str, url: str, key_path: Path) -> Template:
    world = build_world(url, key_path)
    world.store.close()
    return Template(backend, url, key_path, world)


def open_world(template: Template, url: str, key_path: Path) -> World:
    store = Store.open(url, key_path=key_path)
    w = template.world
    app = create_app(store, settings=Settings(secret_key="test-secret-" + "x" * 32))
    return World(store=store, app=app, tokens=dict(w.tokens), family_a=w.family_a,
                 family_b=w.family_b, users=dict(w.users))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """uvicorn serving an app on a free loopback port, in a background thread."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                access_log=False, timeout_graceful_shutdown=1)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.time() + 20
        while not self.server.started:
            if time.time() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)




_counter = itertools.count()


def sign_in(page: Any, url: str, email: str = "pa@example.org") -> Any:
    """Sign in through the login form as a browser user does, and wait for the caseload."""
    page.goto(f"{url}/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{url}/")
    return page


def unique_name(prefix: str) -> str:
    return f"{prefix}{os.getpid()}_{next(_counter)}"
