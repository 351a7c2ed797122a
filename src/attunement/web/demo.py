"""The demo database behind ``attunement demo``: clearly synthetic families on two sites.

Everything here is invented: families are the screening area's vignettes ("Demo Family A" ...)
plus clearly synthetic earlier visits, on two studies with time-point schedules so the caseload
shows assessments due and overdue; passwords are generated afresh on every run and printed once.
"""

from __future__ import annotations

import datetime as dt
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from attunement.usecases import assessments as uc_assessments
from attunement.usecases import families as uc_families

SITES = ("North Clinic (demo)", "South Clinic (demo)")
@dataclass
class DemoInfo:
    """What ``attunement demo`` built: where, the logins, and how much synthetic data.

    :func:`build_demo` returns it and prints it; nothing here is real data.

    Attributes
    ----------
    url : str
        The demo database's address.
    key_file : pathlib.Path
        The identifier key file of the demo database.
    secret : str
        The session-signing secret for the demo server.
    users : list of (str, str, str, str)
        Email, password, role and sites of each demo login.
    families, visits, synthetic_visits : int
        How many families and visits were created, and how many visits were made up.
    """
    url: str
    key_file: Path
    secret: str
    users: list[tuple[str, str, str, str]] = field(default_factory=list)  # email, password, role, sites
    families: int = 0
    visits: int = 0
    synthetic_visits: int = 0


# Two demo studies, as a service would run them (REDCap-style events with windows; "antenatal" is
# 24 weeks' gestation, 20-28; names stay short for the chart axes). A family joins the study its
# first visit belongs to, so nothing is expected before it was referred.
PERINATAL = "Demo perinatal cohort"
FOLLOW_UP_STUDY = "Demo infant follow-up (9-24 months)"
SCHEDULES: dict[str, list[dict[str, Any]]] = {
    PERINATAL: [
        {"name": "antenatal", "offset_days": -112, "window_days": 28,
         "anchor": "due_date", "instruments": ["epds"]},
        {"name": "6-8 weeks", "offset_days": 49, "window_days": 14, "anchor": "birth_date",
         "instruments": ["epds"]},
        {"name": "4 months", "offset_days": 122, "window_days": 21, "anchor": "birth_date",
         "instruments": ["epds", "pbq"]},
        {"name": "12 months", "offset_days": 365, "window_days": 30, "anchor": "birth_date",
         "instruments": ["epds", "kpcs"]},
    ],
    FOLLOW_UP_STUDY: [
        {"name": "9 months", "offset_days": 274, "window_days": 30, "anchor": "birth_date",
         "instruments": ["phq9", "osss3"]},
        {"name": "12 months", "offset_days": 365, "window_days": 45, "anchor": "birth_date",
         "instruments": ["phq9", "osss3"]},
        {"name": "18 months", "offset_days": 548, "window_days": 60, "anchor": "birth_date",
         "instruments": ["phq9", "osss3"]},
        {"name": "24 months", "offset_days": 730, "window_days": 60, "anchor": "birth_date",
         "instruments": ["phq9", "osss3"]},
    ],
}
STUDIES = tuple(SCHEDULES)
REPEATED = ("epds", "phq9", "gad7")  # mood screens: the synthetic earlier visits repeat these
# Where each family stands today, in turn: its next time point open now, that window closed,
# or not open yet. Gives the caseload a realistic mix of due and overdue work.
STANDINGS = ("due", "overdue", "up to date")


def _date(value: Any) -> dt.date | None:
    return dt.date.fromisoformat(str(value)) if value else None


def _target(tp: dict[str, Any], infant: dict[str, Any]) -> dt.date | None:
    """The time point's target date for this infant (the store's rule, see ``Store._schedule``)."""
    due, born = _date(infant.get("due_date")), _date(infant.get("date_of_birth"))
    anchor = born if tp.get("anchor") == "birth_date" else due
    anchor = anchor or due or born
    return None if anchor is None else anchor + dt.timedelta(days=tp["offset_days"])


def _study_for(first_visit: dt.date, infant: dict[str, Any]) -> str:
    """Families first seen before about six months of age join the perinatal cohort."""
    due, born = _date(infant.get("due_date")), _date(infant.get("date_of_birth"))
    anchor = born or due
    if anchor is None or (first_visit - anchor).days < 183:
        return PERINATAL
    return FOLLOW_UP_STUDY


def _nearest(schedule: list[dict[str, Any]], infant: dict[str, Any], on: dt.date,
             taken: set[str]) -> int:
    """Index of the free scheduled time point whose target is closest to a visit on ``on``."""
    best, best_gap = 0, None
    for i, tp in enumerate(schedule):
        target = _target(tp, infant)
        if target is None or tp["name"] in taken:
            continue
        gap = abs((on - target).days)
        if best_gap is None or gap < best_gap:
            best, best_gap = i, gap
    return best


def _earlier(instrument: str, responses: list[int | None], steps: int) -> list[int | None]:
    """A synthetic earlier, milder answer set: every item ``steps`` points towards the healthy end
    (lower, or higher for scales flagged at the low end such as OSSS-3 or KPCS), kept within the
    item's scores. The vignette's concern then shows as something that developed."""
    from attunement.instruments import load_instrument

    definition = load_instrument(instrument)
    higher_is_better = bool(definition.cutoffs) and all(
        c.op in ("<=", "<") for c in definition.cutoffs)
    out: list[int | None] = []
    for i, r in enumerate(responses):
        scores = definition.items[i].scores if i < len(definition.items) else ()
        lo, hi = (int(min(scores)), int(max(scores))) if scores else (0, int(r or 0))
        if r is None:
            out.append(None)
        elif higher_is_better:
            out.append(min(hi, int(r) + steps))
        else:
            out.append(max(lo, int(r) - steps))
    return out


def _moved(value: str | None, days: int) -> str | None:
    return None if not value else (dt.date.fromisoformat(value)
                                   + dt.timedelta(days=days)).isoformat()


def _standing_day(standing: str, schedule: list[dict[str, Any]], infant: dict[str, Any],
                  last_index: int, last_visit: dt.date) -> dt.date:
    """The day, on this family's own calendar, on which it stands as ``standing``."""
    quiet = last_visit + dt.timedelta(days=10)
    later = [tp for tp in schedule[last_index + 1:] if _target(tp, infant) is not None]
    if not later:
        return quiet
    target = _target(later[0], infant)
    assert target is not None
    window = dt.timedelta(days=later[0]["window_days"])
    if standing == "overdue":
        return max(target + window + dt.timedelta(days=12), last_visit + dt.timedelta(days=1))
    if standing == "up to date" and quiet < target - window:
        return quiet
    return max(target - dt.timedelta(days=3), last_visit + dt.timedelta(days=1))


def synthetic_visits(today: dt.date | None = None) -> list[dict[str, Any]]:
    """The demo caseload: each family's study, record facts and visits on its schedule.

    Built from ``attunement.demo.synthetic_families()`` (the screening area's vignettes). Each
    vignette visit is recorded at the study time point nearest its date, and the vignettes stay
    each family's latest answers, so profiles and matches are the vignettes'. Scheduled time
    points before a family's first visit get a clearly synthetic visit repeating its mood
    screens and that time point's scheduled questionnaires (every answer one point milder per
    step back, see ``_earlier``), so the charts show a course. Each family's dates then move
    together (ages and intervals unchanged) so that today its next time point is due, overdue
    or not yet open, in turn (``STANDINGS``).

    Parameters
    ----------
    today : datetime.date, optional
        The day the caseload is built for (today in UTC when omitted).

    Returns
    -------
    list of dict
        One per family: ``family_id``, ``study``, ``infant``, ``placement``, ``context``,
        ``caregivers`` (no responses), ``visits`` (``time_point``, ``assessed_on``,
        ``synthetic``, ``caregivers`` with ``responses``) and ``standing``.
    """
    from attunement.demo import synthetic_families as screening_families

    today = today or dt.datetime.now(dt.UTC).date()  # the store's schedule runs on UTC days
    entries = [dict(f) for f in screening_families()]
    grouped: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        grouped.setdefault(str(entry["family_id"]), []).append(entry)
    families = []
    for n, (code, entries_of_family) in enumerate(sorted(grouped.items())):
        visits = sorted(entries_of_family, key=lambda e: str(e["assessed_on"]))
        infant: dict[str, Any] = {}
        context: dict[str, Any] = {}
        caregivers: dict[str, dict[str, Any]] = {}
        for visit in visits:  # the record holds the latest known facts
            infant.update(visit.get("infant") or {})
            context.update(visit.get("context") or {})
            for cg in visit.get("caregivers", []):
                caregivers[str(cg["id"])] = {k: v for k, v in cg.items() if k != "responses"}
        if "birth_date" in infant:
            infant.setdefault("date_of_birth", infant.pop("birth_date"))
        first_on = dt.date.fromisoformat(str(visits[0]["assessed_on"]))
        study = _study_for(first_on, infant)
        schedule = SCHEDULES[study]
        taken: set[str] = set()
        recorded: list[dict[str, Any]] = []
        for visit in visits:
            on = dt.date.fromisoformat(str(visit["assessed_on"]))
            i = _nearest(schedule, infant, on, taken)
            taken.add(schedule[i]["name"])
            recorded.append({"time_point": schedule[i]["name"], "index": i,
                             "assessed_on": on.isoformat(), "synthetic": False,
                             "caregivers": [dict(c) for c in visit.get("caregivers", [])]})
        first = recorded[0]
        for steps, i in enumerate(range(first["index"] - 1, -1, -1), start=1):
            on = _target(schedule[i], infant)
            if on is None or on >= first_on:
                continue
            recorded.insert(0, {
                "time_point": schedule[i]["name"], "index": i, "assessed_on": on.isoformat(),
                "synthetic": True, "caregivers": [
                    {**cg, "responses": {k: _earlier(k, v, steps) for k, v in
                                         (cg.get("responses") or {}).items()
                                         if k in REPEATED or k in schedule[i]["instruments"]}}
                    for cg in first["caregivers"]]})
        standing = STANDINGS[n % len(STANDINGS)]
        if not infant.get("date_of_birth") and standing == "overdue":
            standing = "up to date"  # a birth not yet recorded: keep the pregnancy current
        last = recorded[-1]
        day = _standing_day(standing, schedule, infant, last["index"],
                            dt.date.fromisoformat(last["assessed_on"]))
        shift = (today - day).days
        for visit in recorded:
            visit["assessed_on"] = _moved(visit["assessed_on"], shift)
        for key in ("due_date", "date_of_birth"):
            if infant.get(key):
                infant[key] = _moved(str(infant[key]), shift)
        families.append({"family_id": demo_code(code), "study": study, "infant": infant,
                         "placement": visits[-1].get("placement", "birth_family"),
                         "context": context, "caregivers": list(caregivers.values()),
                         "visits": recorded, "standing": standing})
    return families


def demo_code(name: str) -> str:
    """A study-style family code for a demo family's name.

    Pages then say "Family DEMO-E", never "Family Demo Family E".

    Parameters
    ----------
    name : str
        The vignette's name (``"Demo Family E"``).

    Returns
    -------
    str
        ``"DEMO-"`` and the name's last word.

    Examples
    --------
    >>> demo_code("Demo Family E")
    'DEMO-E'
    """
    return "DEMO-" + name.split()[-1]


def _demo_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("attunement")) / "demo"


def build_demo(url: str | None = None, *, console: Any = None) -> DemoInfo:
    """Create the demo database afresh: its users and synthetic families; print the logins.

    Parameters
    ----------
    url : str, optional
        A database address; a new SQLite file in the user's data folder when omitted.
    console : rich.console.Console, optional
        Where to print progress, the screening walk-through and the logins.

    Returns
    -------
    DemoInfo
        The database, the logins and the counts.
    """
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
            store.accounts.add_site(system, site)
        for study, schedule in SCHEDULES.items():
            store.accounts.add_study(system, study, list(SITES), schedule)
        info.users.append(("admin@demo.example", admin_pw, "admin", "all"))
        people = [
            ("practitioner.north@demo.example", "practitioner", [SITES[0]], None),
            ("practitioner.south@demo.example", "practitioner", [SITES[1]], None),
            ("lead.north@demo.example", "site_lead", [SITES[0]], None),
            ("researcher@demo.example", "researcher", [], list(STUDIES)),
        ]
        for email, role, sites, studies in people:
            pw = _password()
            store.accounts.add_user(system, email, role, sites, pw, studies=studies)
            info.users.append((email, pw, role, ", ".join(sites or studies or [])))
        families = synthetic_visits()
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("Creating synthetic families", total=len(families))
            for i, fam in enumerate(families):
                visits = fam["visits"]
                # each record at a plausible past time: registered at the first visit, each
                # visit's answers (and any alert they raise) on its own day
                with store.core.at(_visit_time(visits[0]["assessed_on"], 0)):
                    created = uc_families.register_family(store, system, {
                        "family_id": fam["family_id"], "infant": fam["infant"],
                        "placement": fam["placement"], "context": fam["context"],
                        "caregivers": [cg for cg in fam["caregivers"] if any(
                            cg["id"] == c["id"] for c in visits[0]["caregivers"])],
                        "assessed_on": visits[-1]["assessed_on"],
                        # taken on at its first visit: earlier windows were never the service's
                        "registered_on": min(v["assessed_on"] for v in visits),
                        "site": SITES[i % 2], "study": fam["study"]})
                known = {str(c["id"]) for c in visits[0]["caregivers"]}
                for visit in visits:
                    for n, cg in enumerate(visit["caregivers"], start=1):
                        with store.core.at(_visit_time(visit["assessed_on"], n)):
                            if str(cg["id"]) not in known:  # joined at a later visit
                                uc_families.add_caregiver(store, system, created["id"], {
                                    k: val for k, val in cg.items() if k != "responses"})
                                known.add(str(cg["id"]))
                            for instrument, responses in (cg.get("responses") or {}).items():
                                uc_assessments.submit_assessment(
                                    store, system, created["id"], str(cg["id"]), instrument,
                                    visit["time_point"], responses,
                                    completed_on=visit["assessed_on"])
                info.visits += len(visits)
                info.synthetic_visits += sum(v["synthetic"] for v in visits)
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


def _visit_time(day: str, n: int) -> dt.datetime:
    """A visit's time: mid-morning (UTC) of its day, ``n`` quarter-hours on; never ahead of now."""
    at = dt.datetime.combine(dt.date.fromisoformat(day), dt.time(10, 0), dt.UTC)
    return min(at + dt.timedelta(minutes=15 * n), dt.datetime.now(dt.UTC))


def _password() -> str:
    return "demo-" + secrets.token_urlsafe(9)


def _print(console: Any, info: DemoInfo) -> None:
    console.rule("attunement demo — synthetic data only")
    console.print(f"Database: {info.url}")
    console.print(f"{info.families} synthetic families on two sites in two studies with "
                  f"time-point schedules: {info.visits} visits, {info.synthetic_visits} of them "
                  "made-up earlier visits; assessments due and overdue on the caseload.")
    console.print("\n[bold]Demo users[/] (passwords are new on every run):")
    width = max(len(u[0]) for u in info.users)
    for email, password, role, scope in info.users:
        console.print(f"  {email.ljust(width)}  {password}  {role} ({scope})",
                      highlight=False, soft_wrap=True)
