"""The caseload's schedule kept as data (``caseload_summary``): after every kind of write and
as the clock moves, each family's stored row equals the reference schedule rule, and the
counts kept as data (``caseload_counts``) equal the aggregate of those rows and the lists
they count, on SQLite and PostgreSQL (hazards M14 and M15 in docs/clinical-safety.md)."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import select
from tests.store.conftest import downgrade

from attunement.store import caseload, schedule_summary
from attunement.store.models import CaseloadCount, CaseloadSummary, CaseloadTimePoint, Family
from attunement.usecases import assessments as uc_assessments
from attunement.usecases import families as uc_families

PASSWORD = "correct horse battery staple"
REAL_TODAY = datetime.now(UTC).date()
START = REAL_TODAY - timedelta(days=260)

TIME_POINTS = [
    {"name": "antenatal", "offset_days": -60, "window_days": 30, "instruments": ["epds"]},
    {"name": "6w", "offset_days": 42, "window_days": 14, "instruments": ["epds", "phq9"]},
    {"name": "3m", "offset_days": 91, "window_days": 0, "instruments": ["gad7"],
     "anchor": "birth_date"},
    {"name": "6m", "offset_days": 182, "window_days": 21, "instruments": ["epds", "gad7"],
     "anchor": "birth_date"},
]
ANSWERS = {"epds": [1] * 9 + [0], "phq9": [0] * 9, "gad7": [0] * 7}
URGENT_EPDS = [3] * 10  # item 10 (self-harm) answered: an urgent alert opens


def _noon(day: date) -> datetime:
    """Noon of ``day``, or now when that noon is still to come today (the store's clock may
    not be set in the future, so a run before noon UTC would fail)."""
    return min(datetime.combine(day, time(12), tzinfo=UTC), datetime.now(UTC))


def _reference(store, actor, day: date) -> dict[int, tuple]:
    """Each family's (site, open alerts, overdue, due, last assessed, time points with an
    item due or overdue) by the reference rule
    (the family page's schedule) on ``day``, read without writing anything (a family page
    view is audited, and an audited write recomputes the family's row)."""
    out = {}
    with store.core.at(_noon(day)), store.db.read() as s:
        for fam in s.execute(select(Family)).scalars():
            doc = store.families.views.family_doc(s, actor, fam)
            done = [a["completed_on"] for a in doc["assessments"]]
            out[fam.id] = (fam.site_id, sum(a["status"] == "open" for a in doc["alerts"]),
                           len(doc["overdue"]), len(doc["due"]), max(done) if done else None,
                           {x["time_point"] for x in doc["due"] + doc["overdue"]})
    return out


def _stored(store) -> dict[int, CaseloadSummary]:
    with store.db.read() as s:
        return {r.family_id: r for r in s.execute(select(CaseloadSummary)).scalars()}


def _time_points(store) -> dict[int, set]:
    tps: dict[int, set] = {}
    with store.db.read() as s:
        for fid, tp in s.execute(select(CaseloadTimePoint.family_id, CaseloadTimePoint.time_point)):
            tps.setdefault(fid, set()).add(tp)
    return tps


def _check_counts(store) -> None:
    """``caseload_counts`` (its rows above 0) equals the summary's families counted per site,
    study, registering user, time point ("" for all) and state, counted here in Python."""
    tps = _time_points(store)
    want: Counter = Counter()
    for fid, r in _stored(store).items():
        for tp in {"", *tps.get(fid, set())}:
            want[(r.site_id, r.study_id or 0, r.created_by or 0, tp, r.open_alerts > 0,
                  r.n_overdue > 0)] += 1
    with store.db.read() as s:
        got = {(c.site_id, c.study_id, c.created_by, c.time_point, c.urgent, c.overdue):
               c.families for c in s.execute(select(CaseloadCount)).scalars()}
    assert min(got.values(), default=0) >= 0
    assert {k: n for k, n in got.items() if n} == dict(want)


def _counts_match_lists(store, actors) -> int:
    """For each actor and filter, the caseload's counts equal its whole list (every page),
    so a count never says more or fewer families than the list shows. Returns the lists."""
    lists = 0
    for actor in actors:
        for filters in ({}, {"overdue": True}, {"urgent": True}, {"mine": True},
                        {"study": 1}, {"time_point": "6w"}, {"time_point": ""},
                        {"time_point": "antenatal", "overdue": True}):
            items, cursor = [], None
            while True:
                page = store.families.caseload_page(actor, cursor=cursor, limit=3, **filters)
                items += page["items"]
                cursor = page["next"]
                if cursor is None:
                    break
            assert page["counts"] == {
                "families": len(items), "urgent": sum(r["open_alerts"] > 0 for r in items),
                "overdue": sum(bool(r["overdue"]) for r in items)}, filters
            lists += 1
    return lists


def _check(store, actor, day: date, *, all_fresh: bool = False) -> int:
    """Every family has a row; every row that claims to hold on ``day`` equals the
    reference (a stale row is refreshed before any caseload read); the counts kept as data
    equal the rows' aggregate. Returns the fresh rows."""
    ref = _reference(store, actor, day)
    rows = _stored(store)
    tps = _time_points(store)
    _check_counts(store)
    assert set(rows) == set(ref)
    t, fresh = day.toordinal(), 0
    for fid, want in ref.items():
        r = rows[fid]
        if r.computed_on <= t and (r.changes_on is None or t < r.changes_on):
            got = (r.site_id, r.open_alerts, r.n_overdue, r.n_due,
                   r.last_assessed.isoformat() if r.last_assessed else None, tps.get(fid, set()))
            assert got == want, (fid, day)
            fresh += 1
        else:
            assert not all_fresh, (fid, day, "stale")
    return fresh


class Clinic:
    """A service with two sites, one study and a clock set back ~260 days."""

    def __init__(self, store, make_family) -> None:
        system = store.system_actor()
        store.accounts.add_site(system, "North")
        store.accounts.add_site(system, "South")
        store.accounts.add_study(system, "Attach-1", ["North", "South"], TIME_POINTS)
        user = store.accounts.add_user(system, "n@example.org", "practitioner", ["North"],
                                       PASSWORD)
        self.store, self.make_family = store, make_family
        self.actor = store.actor(user["id"])
        self.admin = store.accounts.authenticate("admin@example.org", PASSWORD)
        self.n = 0

    def register(self, day: date, due: date | None, born: date | None = None,
                 urgent: bool = False) -> int:
        self.n += 1
        if due is not None and born is None and due < day - timedelta(days=40):
            born = due - timedelta(days=3)  # long born: the file must say when
        payload = self.make_family(f"F-{self.n:03d}", "North", study="Attach-1")
        payload.pop("registered_on")
        payload["assessed_on"] = day.isoformat()
        payload["infant"] = {"name": "Baby Quill"}
        if due is not None:
            payload["infant"]["due_date"] = due.isoformat()
        if born is not None:
            payload["infant"]["date_of_birth"] = born.isoformat()
        if urgent:
            payload["caregivers"][0]["responses"] = {"epds": URGENT_EPDS}
        payload["time_point"] = "antenatal"
        with self.store.core.at(_noon(day)):
            return uc_families.register_family(self.store, self.actor, payload)["id"]


def test_every_kind_of_write_keeps_the_summary_exact(store, make_family):
    c = Clinic(store, make_family)
    st, actor, d = store, c.actor, START
    fams = [c.register(d, d + timedelta(days=k)) for k in (10, 45, 100, 170)]
    born_only = c.register(d, None, born=d - timedelta(days=20))
    urgent = c.register(d, d + timedelta(days=5), urgent=True)
    assert _check(st, actor, d) == 6  # creation (with its first answers and alert)
    steps = [
        ("submit", lambda: uc_assessments.submit_assessment(
            st, actor, fams[1], "father", "epds", "antenatal", ANSWERS["epds"])),
        ("submit urgent", lambda: uc_assessments.submit_assessment(
            st, actor, fams[2], "mother", "epds", "antenatal", URGENT_EPDS)),
        ("correct", lambda: uc_assessments.correct_assessment(
            st, actor, st.assessments.list_assessments(actor, fams[2])[-1]["id"],
            ANSWERS["epds"], reason="typed wrongly")),
        ("acknowledge", lambda: st.care.acknowledge_alert(
            actor, st.care.list_alerts(actor)[0]["id"], note="called",
            outcome="no_immediate_risk")),
        ("add caregiver", lambda: uc_families.add_caregiver(
            st, actor, fams[0], {"id": "grandmother", "role": "kinship_carer"})),
        ("end caregiver", lambda: st.families.end_caregiver(
            actor, fams[3], "father", reason="moved out")),
        ("due date", lambda: st.families.update_infant(
            actor, fams[3], due_date=(d - timedelta(days=30)).isoformat(), reason="scan")),
        ("birth", lambda: st.families.update_infant(
            actor, fams[0], date_of_birth=(d - timedelta(days=2)).isoformat(), reason="born")),
        ("due date of a born-only infant", lambda: st.families.update_infant(
            actor, born_only, due_date=(d - timedelta(days=40)).isoformat(), reason="notes")),
        ("transfer", lambda: st.families.transfer_family(
            c.admin, urgent, "South", reason="moved")),
    ]
    before = _stored(st)
    for i, (what, write) in enumerate(steps):
        d = START + timedelta(days=10 * (i + 1))
        with st.core.at(_noon(d)):
            write()
        after = _stored(st)
        changed = [f for f in after if (after[f].computed_on, after[f].n_due, after[f].n_overdue,
                                        after[f].open_alerts, after[f].site_id)
                   != (before[f].computed_on, before[f].n_due, before[f].n_overdue,
                       before[f].open_alerts, before[f].site_id)]
        assert changed, what  # the write recomputed its family's row ...
        for f in changed:
            assert after[f].computed_on == d.toordinal(), what
        _check(st, c.admin, d)  # ... and every row that claims to hold is exact
        with st.core.at(_noon(d)):
            assert _counts_match_lists(st, [actor, c.admin]) == 16, what
        before = _stored(st)


def test_the_summary_follows_the_clock_day_by_day(store, make_family):
    c = Clinic(store, make_family)
    d = START
    for k in (-200, -90, -45, -14, 0, 13, 14, 15, 42, 60, 120):  # windows on every edge
        c.register(d, d + timedelta(days=k))
    c.register(d, None, born=d - timedelta(days=50))
    seen = set()
    for step in range(0, 200, 3):
        day = START + timedelta(days=step)
        with store.core.at(_noon(day)):
            page = store.families.caseload_page(c.actor, limit=500)
        assert _check(store, c.actor, day, all_fresh=True) == 12
        if step % 30 == 0:
            with store.core.at(_noon(day)):
                _counts_match_lists(store, [c.actor])
        seen |= {(r["id"], len(r["due"]), len(r["overdue"])) for r in page["items"]}
        assert page["counts"]["overdue"] == sum(bool(r["overdue"]) for r in page["items"])
    assert len(seen) > 40  # the counts really moved with the days
    # the clock set back: rows computed for a later day are recomputed too
    with store.core.at(_noon(START)):
        store.families.caseload_page(c.actor)
    assert _check(store, c.actor, START, all_fresh=True) == 12


def test_only_the_rows_that_change_today_are_refreshed(store, make_family, monkeypatch):
    c = Clinic(store, make_family)
    for k in range(-120, 270, 7):
        c.register(START, START + timedelta(days=k))
    rows = _stored(store)
    day = date.fromordinal(min(r.changes_on for r in rows.values() if r.changes_on))
    due_today = {f for f, r in rows.items() if r.changes_on is not None
                 and r.changes_on <= day.toordinal()}
    refreshed: list[int] = []
    real = schedule_summary.refresh

    def counting(s, ids, day=None):
        ids = list(ids)
        refreshed.extend(ids)
        return real(s, ids, day)

    monkeypatch.setattr(schedule_summary, "refresh", counting)
    with store.core.at(_noon(day)):
        store.families.caseload_page(c.actor)
        store.families.caseload_page(c.actor)  # nothing stale the second time
    assert sorted(refreshed) == sorted(due_today)
    assert 0 < len(due_today) < len(rows) / 5


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_write_sequences_keep_the_summary_exact(store, make_family, seed):
    rng = random.Random(seed)
    c = Clinic(store, make_family)
    st = store
    day = START
    fams = []
    for _ in range(25):
        day += timedelta(days=rng.randint(0, 12))
        kind = rng.choice(["register", "register", "submit", "urgent", "ack", "carer",
                           "leave", "due", "birth", "transfer", "correct"])
        with st.core.at(_noon(day)):
            try:
                if kind == "register" or not fams:
                    fams.append(c.register(day, day + timedelta(days=rng.randint(-150, 150)),
                                           urgent=rng.random() < 0.3))
                    continue
                fid = rng.choice(fams)
                doc = st.families.get_family(c.admin, fid)
                items = doc["due"] + doc["overdue"]
                if kind in ("submit", "urgent") and items:
                    x = rng.choice(items)
                    answers = URGENT_EPDS if kind == "urgent" and x["instrument"] == "epds" \
                        else ANSWERS[x["instrument"]]
                    uc_assessments.submit_assessment(st, c.admin, fid, x["caregiver"],
                                                     x["instrument"], x["time_point"], answers)
                elif kind == "correct" and doc["assessments"]:
                    a = doc["assessments"][-1]
                    uc_assessments.correct_assessment(st, c.admin, a["id"], URGENT_EPDS
                                                      if a["instrument"] == "epds" else
                                                      ANSWERS[a["instrument"]], reason="fix")
                elif kind == "ack":
                    open_ = [a for a in doc["alerts"] if a["status"] == "open"]
                    if open_:
                        st.care.acknowledge_alert(c.admin, open_[0]["id"], note="seen",
                                                  outcome="safety_plan")
                elif kind == "carer":
                    uc_families.add_caregiver(st, c.admin, fid, {
                        "id": f"kin{rng.randint(0, 10**6)}", "role": "kinship_carer"})
                elif kind == "leave":
                    active = [g["id"] for g in doc["caregivers"] if g["active"]]
                    if active:
                        st.families.end_caregiver(c.admin, fid, rng.choice(active), reason="left")
                elif kind == "due":
                    st.families.update_infant(c.admin, fid, reason="scan", due_date=(
                        day + timedelta(days=rng.randint(-60, 60))).isoformat())
                elif kind == "birth":
                    st.families.update_infant(c.admin, fid, reason="born", date_of_birth=(
                        day - timedelta(days=rng.randint(0, 30))).isoformat())
                elif kind == "transfer":
                    site = "South" if doc["site_id"] == 1 else "North"
                    st.families.transfer_family(c.admin, fid, site, reason="moved")
            except Exception as exc:  # a refused write (e.g. already done) changes nothing
                assert type(exc).__name__ in {"StoreValidationError"}, exc
        _check(st, c.admin, day)
    for later in (day, day + timedelta(days=17), REAL_TODAY):
        with st.core.at(_noon(later)):
            st.families.caseload_page(c.admin)
            _counts_match_lists(st, [c.actor, c.admin])
        _check(st, c.admin, later, all_fresh=True)


def test_a_failed_write_leaves_the_summary_as_it_was(store, make_family):
    c = Clinic(store, make_family)
    fid = c.register(START, START + timedelta(days=30))
    before = _stored(store)[fid]
    with pytest.raises(RuntimeError), store.db.write() as s:
        s.get(Family, fid).site_id = 2
        schedule_summary.refresh(s, [fid])
        raise RuntimeError("rolled back")
    assert _stored(store)[fid].site_id == before.site_id == 1
    _check_counts(store)  # the counts rolled back with the rows


def test_the_page_and_its_counts_are_read_in_one_snapshot(store, make_family, monkeypatch):
    """A write committed between the page's rows and its counts changes neither: both are
    read in one snapshot (PostgreSQL: REPEATABLE READ; it failed before under READ
    COMMITTED), so the counts never show a family the list does not."""
    c = Clinic(store, make_family)
    for k in (10, 20):
        c.register(START, START + timedelta(days=k))
    real = caseload.counts

    def with_a_write_between(*args, **kwargs):
        monkeypatch.setattr(caseload, "counts", real)  # once
        c.register(START, START + timedelta(days=30), urgent=True)  # commits on its own
        return real(*args, **kwargs)

    monkeypatch.setattr(caseload, "counts", with_a_write_between)
    with store.core.at(_noon(START)):
        page = store.families.caseload_page(c.actor)
        assert len(page["items"]) == 2
        assert page["counts"] == {"families": 2, "urgent": 0, "overdue": 0}
        again = store.families.caseload_page(c.actor)  # the next read sees it in both
    assert len(again["items"]) == 3 and again["counts"]["families"] == 3
    assert again["counts"]["urgent"] == 1 == again["items"][0]["open_alerts"]
    _check_counts(store)


def test_the_counts_are_recounted_by_the_nightly_refresh(store, make_family):
    """Counts that lost their rows outside the store (here: deleted) are whole again after
    ``refresh-caseload`` (the nightly run) and after ``--full``."""
    c = Clinic(store, make_family)
    for k in (-100, 10, 20):
        c.register(START, START + timedelta(days=k), urgent=k == 10)
    with store.db.write() as s:
        s.execute(CaseloadCount.__table__.delete())
    with store.core.at(_noon(START)):
        store.maintenance.refresh_caseload()
    _check_counts(store)
    with store.db.write() as s:
        s.execute(CaseloadCount.__table__.update().values(families=7))
    with store.core.at(_noon(START)):
        store.maintenance.refresh_caseload(full=True)
        _counts_match_lists(store, [c.actor, c.admin])
    _check_counts(store)


def test_migration_fills_the_summary(world):
    from attunement.store import Store

    st = world.store
    url = st.url
    downgrade(st, "0510")
    st.close()
    again = Store.open(url, key_path=st.core.key_path)  # upgrades to head, filling the table
    try:
        assert _check(again, world.admin, REAL_TODAY, all_fresh=True) == 2
    finally:
        again.close()


def test_refresh_caseload_command(world, tmp_path):
    from typer.testing import CliRunner

    from attunement.cli import app

    st = world.store
    with st.db.write() as s:
        s.execute(CaseloadSummary.__table__.delete())
    url = st.url
    st.close()
    runner = CliRunner()
    got = runner.invoke(app, ["platform", "refresh-caseload", "--db", url,
                              "--key-file", str(world.store.core.key_path)])
    assert got.exit_code == 0, got.output
    assert "caseload: 2 families computed" in got.output
    got = runner.invoke(app, ["platform", "refresh-caseload", "--full", "--db", url,
                              "--key-file", str(world.store.core.key_path)])
    assert got.exit_code == 0 and "caseload: 2 families computed" in got.output


def test_researchers_see_their_studies_families_from_the_summary(world, make_family):
    st = world.store
    payload = make_family("N-900", "North")  # no study: not a researcher's
    uc_families.register_family(st, world.north, payload)
    page = st.families.caseload_page(world.researcher)
    assert page["counts"]["families"] == 2
    assert sorted(r["id"] for r in page["items"]) == sorted([world.fam_north, world.fam_south])
    assert all(r["family_id"] not in ("N-001", "S-001") for r in page["items"])  # pseudonyms
    assert st.families.caseload_page(world.north)["counts"]["families"] == 2
    assert st.families.caseload_page(world.south)["counts"]["families"] == 1
