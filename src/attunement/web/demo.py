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
TIME_POINTS = [
    {"name": "antenatal", "offset_days": -60, "window_days": 30,
     "instruments": ["epds", "gad7", "phq9"]},
    {"name": "3m", "offset_days": 90, "window_days": 21, "instruments": ["epds", "pbq"]},
]


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


def synthetic_families(today: dt.date | None = None) -> list[dict[str, Any]]:
    """The screening area's synthetic families when available, else a small fallback set."""
    today = today or dt.date.today()
    try:
        from attunement.demo import synthetic_families as screening_families
    except ImportError:
        return _fallback_families(today)
    return [dict(f) for f in screening_families()]


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
        store.add_study(system, STUDY, list(SITES), TIME_POINTS)
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
        families = synthetic_families()
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("Creating synthetic families", total=len(families))
            for i, fam in enumerate(families):
                payload = {**fam, "site": SITES[i % 2], "study": STUDY,
                           "time_point": "antenatal"}
                created = store.create_family(system, payload)
                if i % 3 != 2:  # most families also have their 3-month follow-up
                    for cg in fam.get("caregivers", []):
                        for instrument, responses in (cg.get("responses") or {}).items():
                            if instrument == "epds":
                                store.add_assessment(system, created["id"], cg["id"], "epds",
                                                     "3m", _followup(responses))
                progress.advance(task)
        info.families = len(families)
    finally:
        store.close()
    _print(console, info)
    try:
        from attunement.demo import print_screening_demo
    except ImportError:
        pass
    else:
        console.rule("Screening walk-through")
        print_screening_demo()
    return info


def _password() -> str:
    return "demo-" + secrets.token_urlsafe(9)


def _print(console: Any, info: DemoInfo) -> None:
    console.rule("attunement demo — synthetic data only")
    console.print(f"Database: {info.url}")
    console.print(f"{info.families} synthetic families on two sites, two time points "
                  "(antenatal and 3 months).")
    console.print("\n[bold]Demo users[/] (passwords are new on every run):")
    width = max(len(u[0]) for u in info.users)
    for email, password, role, scope in info.users:
        console.print(f"  {email.ljust(width)}  {password}  {role} ({scope})",
                      highlight=False, soft_wrap=True)
