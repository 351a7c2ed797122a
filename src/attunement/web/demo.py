"""The demo database behind ``attunement demo``: clearly synthetic families on two sites.

Everything here is invented: family codes start with ``DEMO-``, names are obviously fictional,
passwords are generated afresh on every run and printed once.
"""

from __future__ import annotations

import datetime as dt
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SITES = ("North Clinic (demo)", "South Clinic (demo)")
STUDY = "Demo perinatal cohort"
@dataclass
class DemoInfo:
    url: str
    key_file: Path
    secret: str
    users: list[tuple[str, str, str, str]] = field(default_factory=list)  # email, password, role, sites
    families: int = 0


def _fallback_families(today: dt.date) -> list[dict[str, Any]]:
    """A small synthetic set used only when ``attunement.demo`` is not installed."""
    def due(days_ago: int) -> str:
        return (today - dt.timedelta(days=days_ago)).isoformat()

    return [
        {"family_id": "DEMO-001", "infant": {"due_date": due(100), "date_of_birth": due(97)},
         "placement": "birth_family", "context": {},
         "caregivers": [
             {"id": "mother", "role": "birth_mother", "age": 29, "first_time_parent": True,
              "responses": {"epds": [2, 2, 2, 2, 1, 2, 2, 1, 1, 1]}},
             {"id": "father", "role": "birth_father", "age": 31, "first_time_parent": True,
              "responses": {"phq9": [1, 1, 1, 1, 0, 1, 1, 0, 0]}}]},
        {"family_id": "DEMO-002", "infant": {"due_date": due(95)}, "placement": "birth_family",
         "context": {},
         "caregivers": [
             {"id": "mum_a", "role": "birth_mother", "age": 34,
              "responses": {"epds": [1, 0, 1, 1, 0, 1, 0, 1, 0, 0]}},
             {"id": "mum_b", "role": "co_parent", "age": 36,
              "responses": {"epds": [0, 0, 1, 1, 0, 0, 0, 0, 0, 0]}}]},
        {"family_id": "DEMO-003", "infant": {"due_date": due(120), "date_of_birth": due(130),
                                             "gestation_weeks": 32},
         "placement": "foster", "context": {},
         "caregivers": [
             {"id": "carer", "role": "foster_carer", "age": 52,
              "responses": {"epds": [1, 1, 1, 1, 1, 1, 1, 1, 0, 0]}}]},
        {"family_id": "DEMO-004", "infant": {"due_date": due(90)}, "placement": "birth_family",
         "context": {},
         "caregivers": [
             {"id": "mother", "role": "birth_mother", "age": 17, "first_time_parent": True,
              "context": {"low_social_support": True},
              "responses": {"epds": [2, 1, 2, 2, 1, 1, 1, 1, 0, 0],
                            "gad7": [2, 2, 1, 2, 1, 1, 1]}}]},
        {"family_id": "DEMO-005", "infant": {"due_date": due(110), "date_of_birth": due(108)},
         "placement": "adoptive", "context": {},
         "caregivers": [
             {"id": "parent1", "role": "adoptive_parent", "age": 41,
              "responses": {"epds": [0, 0, 1, 0, 0, 1, 0, 0, 0, 0]}},
             {"id": "parent2", "role": "adoptive_parent", "age": 43,
              "responses": {"phq9": [0, 1, 0, 1, 0, 0, 0, 0, 0]}}]},
        {"family_id": "DEMO-006", "infant": {"due_date": due(85)}, "placement": "birth_family",
         "context": {},
         "caregivers": [
             {"id": "mother", "role": "birth_mother", "age": 27,
              "context": {"severe_mental_illness": True},
              "responses": {"epds": [1, 1, 2, 1, 1, 1, 1, 1, 1, 0]}},
             {"id": "father", "role": "birth_father", "age": 30,
              "responses": {"gad7": [1, 1, 1, 0, 1, 0, 1]}}]},
    ]


def _shift_dates(entry: dict[str, Any], days: int) -> dict[str, Any]:
    """Move every date of a family-file entry by ``days`` (so the demo is always current)."""
    out = {**entry, "infant": dict(entry.get("infant") or {})}
    for key in ("due_date", "date_of_birth"):
        if out["infant"].get(key):
            out["infant"][key] = (dt.date.fromisoformat(out["infant"][key])
                                  + dt.timedelta(days=days)).isoformat()
    if out.get("assessed_on"):
        out["assessed_on"] = (dt.date.fromisoformat(out["assessed_on"])
                              + dt.timedelta(days=days)).isoformat()
    return out


def synthetic_visits(today: dt.date | None = None) -> list[list[dict[str, Any]]]:
    """Synthetic families as lists of visits (family-file entries with a ``time_point``).

    Uses ``attunement.demo.synthetic_families()`` (the screening area's vignettes) when it is
    installed, else a small fallback set. Dates are shifted so the newest visit is yesterday.
    A family seen once gets a clearly synthetic follow-up (every answer one point lower), so
    every family has two time points.
    """
    today = today or dt.date.today()
    try:
        from attunement.demo import synthetic_families as screening_families
    except ImportError:
        entries = [{**f, "time_point": "antenatal", "assessed_on": today.isoformat()}
                   for f in _fallback_families(today)]
    else:
        entries = [dict(f) for f in screening_families()]
        newest = max(dt.date.fromisoformat(e["assessed_on"]) for e in entries)
        shift = (today - dt.timedelta(days=1) - newest).days
        entries = [_shift_dates(e, shift) for e in entries]
    grouped: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        grouped.setdefault(str(entry["family_id"]), []).append(entry)
    families = []
    for visits in grouped.values():
        if len(visits) == 1:
            first = visits[0]
            follow = {**first, "time_point": FOLLOW_UP, "caregivers": [
                {**cg, "responses": {k: _followup(v) for k, v in
                                     (cg.get("responses") or {}).items()
                                     if k in REPEATED}}
                for cg in first.get("caregivers", [])]}
            visits = [first, follow]
        families.append(visits)
    return families


FOLLOW_UP = "follow-up (synthetic)"
REPEATED = ("epds", "phq9", "gad7")  # mood screens repeated at the synthetic follow-up


def _followup(responses: list[int | None]) -> list[int | None]:
    """A later, synthetic answer set: every item one point lower (floored at 0)."""
    return [None if r is None else max(0, int(r) - 1) for r in responses]


def _demo_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("attunement")) / "demo"


def build_demo(url: str | None = None, *, console: Any = None) -> DemoInfo:
    """Create (afresh) the demo database, its users and synthetic families; print the logins."""
    from rich.console import Console
    from rich.progress import Progress

    from attunement.store import Store

    console = console or Console()
    folder = _demo_dir()
    if url is None:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{folder / 'demo.db'}"
    else:
        folder.mkdir(parents=True, exist_ok=True)
    key_file = folder / "identifier.key"
    if key_file.exists() and url.startswith("sqlite") and not (folder / "demo.db").exists():
        key_file.unlink()
    store = Store.open(url, key_path=key_file)
    info = DemoInfo(url=url, key_file=key_file, secret=secrets.token_urlsafe(32))
    try:
        admin_pw = _password()
        store.init("admin@demo.example", admin_pw)
        system = store.system_actor()
        for site in SITES:
            store.add_site(system, site)
        store.add_study(system, STUDY, list(SITES), [])
        info.users.append(("admin@demo.example", admin_pw, "admin", "all"))
        people = [
            ("practitioner.north@demo.example", "practitioner", [SITES[0]], None),
            ("practitioner.south@demo.example", "practitioner", [SITES[1]], None),
            ("lead.north@demo.example", "site_lead", [SITES[0]], None),
            ("researcher@demo.example", "researcher", [], [STUDY]),
        ]
        for email, role, sites, studies in people:
            pw = _password()
            store.add_user(system, email, role, sites, pw, studies=studies)
            info.users.append((email, pw, role, ", ".join(sites) or STUDY))
        families = synthetic_visits()
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("Creating synthetic families", total=len(families))
            for i, visits in enumerate(families):
                first, infant, context = visits[0], {}, {}
                for visit in visits:  # the record holds the latest known facts
                    infant.update(visit.get("infant") or {})
                    context.update(visit.get("context") or {})
                payload = {**first, "infant": infant, "context": context,
                           "placement": visits[-1].get("placement", "birth_family"),
                           "assessed_on": visits[-1].get("assessed_on"),
                           "site": SITES[i % 2], "study": STUDY}
                created = store.create_family(system, payload)
                known = {str(c["id"]) for c in first.get("caregivers", [])}
                for visit in visits[1:]:
                    for cg in visit.get("caregivers", []):
                        if str(cg["id"]) not in known:
                            store.add_caregiver(system, created["id"], {
                                k: val for k, val in cg.items() if k != "responses"})
                            known.add(str(cg["id"]))
                        for instrument, responses in (cg.get("responses") or {}).items():
                            store.add_assessment(system, created["id"], str(cg["id"]),
                                                 instrument, str(visit["time_point"]), responses)
                progress.advance(task)
        info.families = len(families)
    finally:
        store.close()
    try:
        from attunement.demo import print_screening_demo
    except ImportError:
        pass
    else:  # the walk-through first, so the logins stay on screen next to the address
        console.rule("Screening walk-through")
        print_screening_demo(console)
    _print(console, info)
    return info


def _password() -> str:
    return "demo-" + secrets.token_urlsafe(9)


def _print(console: Any, info: DemoInfo) -> None:
    console.rule("attunement demo — synthetic data only")
    console.print(f"Database: {info.url}")
    console.print(f"{info.families} synthetic families on two sites, each seen at two time "
                  "points.")
    console.print("\n[bold]Demo users[/] (passwords are new on every run):")
    width = max(len(u[0]) for u in info.users)
    for email, password, role, scope in info.users:
        console.print(f"  {email.ljust(width)}  {password}  {role} ({scope})",
                      highlight=False, soft_wrap=True)
