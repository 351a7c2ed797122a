"""The demo database behind ``attunement demo`` shows a realistic caseload.

Built once for the module into a temporary SQLite file; checks go through the store and the
dashboard page a first-time user sees.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from rich.console import Console

from attunement.store import Store
from attunement.usecases import profiles as uc_profiles
from attunement.web import Settings, create_app
from attunement.web import demo as web_demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Store, list[dict]]]:
    folder = tmp_path_factory.mktemp("demo")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(web_demo, "_demo_dir", lambda: folder)
        info = web_demo.build_demo(f"sqlite:///{folder / 'demo.db'}",
                                   console=Console(file=io.StringIO()))
    plan = web_demo.synthetic_visits()  # the same day, so the same plan build_demo used
    store = Store.open(info.url, key_path=info.key_file)
    try:
        yield info, store, plan
    finally:
        store.close()


def _caseload(store: Store) -> list[dict]:
    return store.families.list_families(store.system_actor())


def test_the_caseload_spans_two_sites_two_studies_with_due_and_overdue_work(demo) -> None:
    info, store, plan = demo
    rows = _caseload(store)
    assert len(rows) == info.families == len(plan) >= 6
    assert {r["site"] for r in rows} == set(web_demo.SITES)
    assert {r["study"] for r in rows} == set(web_demo.STUDIES)
    assert sum(len(r["due"]) for r in rows) > 0
    assert sum(len(r["overdue"]) for r in rows) > 0
    assert sum(1 for r in rows if r["due"]) >= 3
    assert sum(1 for r in rows if r["overdue"]) >= 3
    # open urgent flags first, as the dashboard lists them
    flagged = [r["open_alerts"] > 0 for r in rows]
    assert any(flagged)
    assert flagged == sorted(flagged, reverse=True)


def test_each_family_stands_where_the_plan_puts_it(demo) -> None:
    _, store, plan = demo
    rows = {r["family_id"]: r for r in _caseload(store)}
    for fam in plan:
        row = rows[fam["family_id"]]
        schedule = [tp["name"] for tp in web_demo.SCHEDULES[fam["study"]]]
        last = schedule.index(fam["visits"][-1]["time_point"])
        nxt = schedule[last + 1] if last + 1 < len(schedule) else None
        due_next = {d["time_point"] for d in row["due"]} & {nxt}
        overdue_next = {d["time_point"] for d in row["overdue"]} & {nxt}
        if fam["standing"] == "due":
            assert due_next and not overdue_next, fam["family_id"]
        elif fam["standing"] == "overdue":
            assert overdue_next and not due_next, fam["family_id"]
        else:
            assert not due_next and not overdue_next, fam["family_id"]
    assert {f["standing"] for f in plan} == set(web_demo.STANDINGS)


def test_the_vignette_stays_each_familys_latest_answers(demo) -> None:
    """Synthetic visits come before the vignette, so profiles and matches are the vignette's."""
    _, store, plan = demo
    system = store.system_actor()
    ids = {r["family_id"]: r["id"] for r in _caseload(store)}
    today = dt.datetime.now(dt.UTC).date().isoformat()
    for fam in plan:
        real = [v for v in fam["visits"] if not v["synthetic"]]
        made_up = [v for v in fam["visits"] if v["synthetic"]]
        assert real, fam["family_id"]
        assert all(v["assessed_on"] < real[0]["assessed_on"] for v in made_up)
        assert all(v["assessed_on"] <= today for v in fam["visits"])
        doc = uc_profiles.family_document(store, system, ids[fam["family_id"]])
        latest = {c["id"]: c["responses"] for c in doc["caregivers"]}
        for cg in real[-1]["caregivers"]:
            for instrument, answers in (cg.get("responses") or {}).items():
                stored = latest[cg["id"]][instrument]  # in full item order: optional items too
                assert stored[:len(answers)] == answers, (fam["family_id"], instrument)
                assert all(x is None for x in stored[len(answers):])


def test_urgent_flags_come_from_the_vignettes_never_from_made_up_visits(demo) -> None:
    _, store, plan = demo
    real = {(f["family_id"], cg["id"], v["time_point"]) for f in plan for v in f["visits"]
            if not v["synthetic"] for cg in v["caregivers"]}
    alerts = store.care.list_alerts(store.system_actor())
    assert alerts
    for alert in alerts:
        assert (alert["family_id"], alert["caregiver"], alert["time_point"]) in real, alert


def test_families_seen_more_than_once_get_a_chart_with_two_time_points(demo) -> None:
    _, store, plan = demo
    system = store.system_actor()
    ids = {r["family_id"]: r["id"] for r in _caseload(store)}
    charted = 0
    for fam in plan:
        points: dict[tuple[str, str], set[str]] = {}
        for a in store.assessments.list_assessments(system, ids[fam["family_id"]]):
            points.setdefault((a["caregiver"], a["instrument"]), set()).add(a["time_point"])
        repeated = any(len(tps) >= 2 for tps in points.values())
        assert repeated == (len(fam["visits"]) >= 2), fam["family_id"]
        charted += repeated
    assert charted >= len(plan) // 2


def test_a_practitioner_sees_due_and_overdue_work_on_their_site_only(demo) -> None:
    info, store, _ = demo
    email, password = next((u[0], u[1]) for u in info.users if u[0].startswith("practitioner.n"))
    app = create_app(store, settings=Settings(secret_key=info.secret))
    with TestClient(app) as client:
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
        assert csrf
        r = client.post("/login", data={"email": email, "password": password,
                                        "csrf_token": csrf.group(1)})
        assert r.status_code == 200, r.text[:500]
        html = client.get("/").text
    assert "Caseload" in html
    assert re.search(r"\d+ overdue", html)
    assert re.search(r"\d+ due", html)
    assert web_demo.SITES[0] in html
    assert web_demo.SITES[1] not in html


def test_synthetic_earlier_answers_are_milder_and_stay_in_range() -> None:
    # EPDS is flagged high: earlier answers are lower, never below 0
    assert web_demo._earlier("epds", [1, 0, 2, 2, 1, 2, 1, 1, 1, 1], 1) == [
        0, 0, 1, 1, 0, 1, 0, 0, 0, 0]
    # OSSS-3 is flagged low (poor support): earlier answers are higher, within each item's scores
    assert web_demo._earlier("osss3", [1, 3, 2], 1) == [2, 4, 3]
    assert web_demo._earlier("osss3", [4, 5, 4], 2) == [4, 5, 5]
    assert web_demo._earlier("epds", [None, 3], 5) == [None, 0]


def test_demo_family_codes_read_as_codes(demo) -> None:
    """Pages say "Family <code>": a code "Demo Family E" read "Family Demo Family E"."""
    _, store, _plan = demo
    codes = [r["family_id"] for r in _caseload(store)]
    assert codes and all(re.fullmatch(r"DEMO-[A-Z]", c) for c in codes), codes


def test_demo_records_carry_their_visit_times_not_the_build_time(demo) -> None:
    """Registration at the first visit, each assessment (and any alert it raised) on its visit's
    day, so their times differ and follow the time points; the audit chain still verifies."""
    from sqlalchemy import select

    from attunement.store.models import Alert, Assessment, Family

    _, store, plan = demo
    visit_day = {(f["family_id"], v["time_point"]): v["assessed_on"] for f in plan
                 for v in f["visits"]}
    first_day = {f["family_id"]: min(v["assessed_on"] for v in f["visits"]) for f in plan}
    with store.db.read() as s:
        fams = {f.id: f for f in s.execute(select(Family)).scalars()}
        rows = s.execute(select(Assessment)).scalars().all()
        alerts = s.execute(select(Alert)).scalars().all()
        by_id = {a.id: a for a in rows}
        for fam in fams.values():
            assert fam.created_at.date().isoformat() == first_day[fam.code], fam.code
            assert fam.registered_on.isoformat() == first_day[fam.code], fam.code
        times = set()
        for a in rows:
            day = visit_day[(fams[a.family_id].code, a.time_point)]
            assert a.submitted_at.date().isoformat() == day == a.completed_on.isoformat()
            times.add(a.submitted_at)
        assert len({t.date() for t in times}) >= len(plan)  # not one build time
        for family_id in fams:  # time points in schedule order are submitted in time order
            mine = sorted((a for a in rows if a.family_id == family_id), key=lambda a: a.id)
            assert [a.submitted_at for a in mine] == sorted(a.submitted_at for a in mine)
        assert alerts
        for alert in alerts:
            assert alert.created_at == by_id[alert.assessment_id].submitted_at
    report = store.maintenance.verify_audit()
    assert report.ok, report
