"""Names a module's examples may use without defining them (a store's examples need a store)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

PASSWORD = "correct horse battery staple"
SCHEDULE = [
    {"name": "baseline", "offset_days": -60, "window_days": 30, "instruments": ["epds"]},
    {"name": "6w", "offset_days": 42, "window_days": 14, "instruments": ["epds", "phq9"]},
]


def example_family(code: str) -> dict[str, Any]:
    """A family file at North in study Attach-1 (as tests/store/conftest.py's): a mother who
    answered the EPDS at baseline, and a father."""
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
             "name": "Mina Example", "nhs_number": "943 476 5919",
             "responses": {"epds": [1, 1, 2, 2, 1, 2, 1, 1, 1, 0]}},
            {"id": "father", "role": "birth_father", "age": 31, "name": "Olu Example"},
        ],
    }


@cache
def _usecases_template() -> Path:
    """The use-case examples' store, built once per process through the store's own API:
    sites North and South, study Attach-1 at North, a practitioner and a researcher, and one
    family (N-001). Each module's examples get a copy, so they do not depend on each other."""
    from attunement.store import Store
    from attunement.usecases import families as uc_families

    folder = Path(tempfile.mkdtemp(prefix="attunement-usecase-examples-"))
    with Store.open(f"sqlite:///{folder / 'store.db'}", key_path=folder / "keys" / "id.key") as st:
        st.init("admin@example.org", PASSWORD)
        system = st.system_actor()
        st.accounts.add_site(system, "North")
        st.accounts.add_site(system, "South")
        st.accounts.add_study(system, "Attach-1", ["North"], SCHEDULE)
        nurse = st.accounts.add_user(system, "practitioner@example.org", "practitioner",
                                     ["North"], PASSWORD)
        st.accounts.add_user(system, "researcher@example.org", "researcher", [], PASSWORD,
                             studies=["Attach-1"])
        uc_families.register_family(st, st.actor(nurse["id"]), example_family("N-001"))
    return folder


@contextmanager
def usecases_world(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A copy of the use-case examples' store in ``tmp_path``, and the names the examples use:
    ``store``, ``system``, ``practitioner``, ``researcher`` (actors), ``family`` (N-001's id),
    ``site`` (North's id), ``study`` (Attach-1's id) and ``example_family`` (a family-file
    builder taking a family code)."""
    from attunement.store import Store

    shutil.copytree(_usecases_template(), tmp_path, dirs_exist_ok=True)
    store = Store.open(f"sqlite:///{tmp_path / 'store.db'}", key_path=tmp_path / "keys" / "id.key")
    try:
        system = store.system_actor()
        users = {u["email"].split("@")[0]: u["id"] for u in store.accounts.list_users(system)}
        yield {
            "store": store,
            "system": system,
            "practitioner": store.actor(users["practitioner"]),
            "researcher": store.actor(users["researcher"]),
            "family": store.families.list_families(system)[0]["id"],
            "site": {s["name"]: s["id"] for s in store.accounts.list_sites(system)}["North"],
            "study": store.accounts.list_studies(system)[0]["id"],
            "example_family": example_family,
        }
    finally:
        store.close()


@contextmanager
def globs_for(module: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The extra globals for ``module``'s examples: a store for the use cases; ``folder`` (a
    fresh temporary directory, named in ``attunement.observation.importers``'s module
    docstring) for the observation importers, whose examples write files; else none."""
    if module.startswith("attunement.usecases"):
        with usecases_world(tmp_path) as names:
            yield names
        return
    if module.startswith("attunement.observation.importers"):
        yield {"folder": tmp_path}
        return
    yield {}
