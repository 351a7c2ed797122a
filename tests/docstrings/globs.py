"""Names a module's examples may use without defining them (a store's examples need a store)."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

PASSWORD = "correct horse battery staple"
STUDY_SCHEDULE = [
    {"name": "baseline", "offset_days": -60, "window_days": 30, "instruments": ["epds"]},
    {"name": "6w", "offset_days": 42, "window_days": 14, "instruments": ["epds", "phq9"]},
]


def family_file(code: str) -> dict[str, Any]:
    """A small family file at North in study Attach-1: a mother (EPDS answered) and a father."""
    return {
        "family_id": code,
        "site": "North",
        "study": "Attach-1",
        "assessed_on": "2026-10-01",
        "registered_on": "2026-06-01",
        "infant": {"due_date": "2026-09-20", "date_of_birth": "2026-09-15", "name": "Ada Example"},
        "placement": "birth_family",
        "context": {},
        "caregivers": [
            {"id": "mother", "role": "birth_mother", "age": 29, "first_time_parent": True,
             "name": "Mina Example", "nhs_number": "943 476 5919", "email": "mina@example.org",
             "responses": {"epds": [1, 1, 2, 2, 1, 2, 1, 1, 1, 0]}},
            {"id": "father", "role": "birth_father", "age": 31, "name": "Olu Example"},
        ],
    }


@cache
def _template() -> Path:
    """Build the examples' store once per process with the store's own API (the copies given
    to each module start from the same state, so examples do not depend on one another)."""
    from attunement.store import Store
    from attunement.usecases import families as uc_families

    folder = Path(tempfile.mkdtemp(prefix="attunement-examples-"))
    atexit.register(shutil.rmtree, folder, True)
    with Store.open(f"sqlite:///{folder / 'store.db'}", key_path=folder / "keys" / "id.key") as st:
        st.init("admin@example.org", PASSWORD)
        system = st.system_actor()
        st.accounts.add_site(system, "North")
        st.accounts.add_site(system, "South")
        st.accounts.add_study(system, "Attach-1", ["North"], STUDY_SCHEDULE)
        st.accounts.add_user(system, "lead@example.org", "site_lead", ["North"], PASSWORD)
        practitioner = st.accounts.add_user(
            system, "practitioner@example.org", "practitioner", ["North"], PASSWORD)
        st.accounts.add_user(system, "researcher@example.org", "researcher", [], PASSWORD,
                             studies=["Attach-1"])
        uc_families.register_family(st, st.actor(practitioner["id"]), family_file("N-001"))
    return folder


@contextmanager
def store_world(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A fresh store in ``tmp_path`` and the names the store's examples use (listed in
    ``attunement.store``'s module docstring)."""
    from attunement.store import Store

    shutil.copytree(_template(), tmp_path, dirs_exist_ok=True)
    store = Store.open(f"sqlite:///{tmp_path / 'store.db'}", key_path=tmp_path / "keys" / "id.key")
    try:
        system = store.system_actor()
        users = {u["email"].split("@")[0]: u["id"] for u in store.accounts.list_users(system)}
        sites = {s["name"]: s["id"] for s in store.accounts.list_sites(system)}
        yield {
            "store": store,
            "system": system,
            "admin": store.actor(users["admin"]),
            "lead": store.actor(users["lead"]),
            "practitioner": store.actor(users["practitioner"]),
            "researcher": store.actor(users["researcher"]),
            "site": sites["North"],
            "study": store.accounts.list_studies(system)[0]["id"],
            "family": store.families.list_families(system)[0]["id"],
            "user_password": PASSWORD,
            "family_file": family_file,
            "tmp_path": tmp_path,
        }
    finally:
        store.close()


@contextmanager
def globs_for(module: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The extra globals for ``module``'s examples.

    The store's and the use cases' modules get a fresh store and its names (listed in
    ``attunement.store``'s module docstring; the use cases' examples also call the family-file
    builder ``example_family``); the observation importers get ``folder``, a fresh temporary
    directory their examples write files in (named in ``attunement.observation.importers``'s
    module docstring); every other module gets none.
    """
    if module.startswith(("attunement.store", "attunement.usecases")):
        with store_world(tmp_path) as names:
            if module.startswith("attunement.usecases"):
                names["example_family"] = family_file
            yield names
        return
    if module.startswith("attunement.observation.importers"):
        yield {"folder": tmp_path}
        return
    yield {}
