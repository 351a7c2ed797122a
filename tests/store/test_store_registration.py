"""The registration date in the schedule: a window that closed before the family was
registered is never due nor overdue; an infant with a birth date and no due date is scheduled
in the caseload's SQL too; old databases get both on upgrade — SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select
from tests.store.conftest import downgrade

from attunement.store import StoreValidationError, schedule_summary
from attunement.store import caseload as cl
from attunement.store.models import Family, Infant
from attunement.usecases import families as uc_families

PASSWORD = "correct horse battery staple"
TODAY = datetime.now(UTC).date()
TIME_POINTS = [
    {"name": "antenatal", "offset_days": -60, "window_days": 30, "instruments": ["epds"]},
    {"name": "6w", "offset_days": 42, "window_days": 14, "instruments": ["phq9"]},
    {"name": "6m", "offset_days": 182, "window_days": 21, "instruments": ["gad7"],
     "anchor": "birth_date"},
]


@pytest.fixture
def team(store):
    system = store.system_actor()
    store.accounts.add_site(system, "North")
    store.accounts.add_study(system, "Attach-1", ["North"], TIME_POINTS)
    user = store.accounts.add_user(system, "n@example.org", "practitioner", ["North"], PASSWORD)
    return store, store.actor(user["id"])


def _family(store, actor, make_family, code: str, infant: dict, registered_on=None) -> dict:
    payload = make_family(code, "North", study="Attach-1")
    payload["infant"] = infant
    payload["assessed_on"] = TODAY.isoformat()
    payload["caregivers"][0].pop("responses")
    payload.pop("registered_on")
    if registered_on is not None:
        payload["registered_on"] = registered_on
    return uc_families.register_family(store, actor, payload)


def _sql(store, actor) -> dict[int, object]:
    """The caseload's stored schedule rows (brought up to today first, as a page does)."""
    schedule_summary.ensure_fresh(store.db, TODAY)
    with store.db.read() as s:
        return {r.id: r for r in s.execute(cl.page_rows(s, actor, TODAY, cl.Filters())).all()}


def _items(doc: dict, key: str) -> set[tuple[str, str]]:
    return {(x["caregiver"], x["time_point"]) for x in doc[key]}


def test_a_family_registered_after_the_birth_is_never_overdue_for_antenatal_items(
    team, make_family
):
    store, north = team
    born = TODAY - timedelta(days=45)  # antenatal window closed ~75 days ago; 6w open now
    infant = {"due_date": born.isoformat(), "date_of_birth": born.isoformat()}
    late = _family(store, north, make_family, "LATE-1", infant)  # registered today
    early = _family(store, north, make_family, "EARLY-1", infant,
                    registered_on=(TODAY - timedelta(days=200)).isoformat())
    assert late["registered_on"] == TODAY.isoformat()
    for fam, antenatal_overdue in ((late, False), (early, True)):
        doc = store.families.get_family(north, fam["id"])
        assert (("mother", "antenatal") in _items(doc, "overdue")) is antenatal_overdue
        assert ("mother", "6w") in _items(doc, "due")
        row = _sql(store, north)[fam["id"]]
        assert row.n_overdue == len(doc["overdue"]) and row.n_due == len(doc["due"])
    assert _sql(store, north)[late["id"]].n_overdue == 0
    # the caseload's overdue filter agrees
    page = store.families.caseload_page(north, overdue=True)
    assert [r["id"] for r in page["items"]] == [early["id"]]


def test_a_window_closing_on_the_registration_day_still_counts(team, make_family):
    store, north = team
    # antenatal target = due - 60, closes = due - 30; registered exactly that day
    due = TODAY - timedelta(days=40)
    closes = due - timedelta(days=30)
    infant = {"due_date": due.isoformat()}
    on = _family(store, north, make_family, "EDGE-0", infant, registered_on=closes.isoformat())
    after = _family(store, north, make_family, "EDGE-1", infant,
                    registered_on=(closes + timedelta(days=1)).isoformat())
    sql = _sql(store, north)
    assert ("mother", "antenatal") in _items(store.families.get_family(north, on["id"]), "overdue")
    assert sql[on["id"]].n_overdue == 2  # mother and father
    assert sql[after["id"]].n_overdue == 0


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ((TODAY + timedelta(days=1)).isoformat(), "in the future"),
        ("2026-02-30", ""),
        ("last spring", ""),
    ],
)
def test_a_bad_registration_date_is_refused_by_name(team, make_family, value, why):
    store, north = team
    with pytest.raises(StoreValidationError) as err:
        _family(store, north, make_family, "BAD-1", {"due_date": TODAY.isoformat()},
                registered_on=value)
    assert err.value.field == "registered_on"
    assert why in str(err.value)
    assert store.families.list_families(north) == []


def test_a_birth_date_without_a_due_date_is_scheduled_in_the_caseload(team, make_family):
    store, north = team
    born = TODAY - timedelta(days=180)  # 6m (birth-anchored) open; 6w closed
    fam = _family(store, north, make_family, "BORN-1", {"date_of_birth": born.isoformat()},
                  registered_on=(TODAY - timedelta(days=170)).isoformat())
    doc = store.families.get_family(north, fam["id"])
    assert _items(doc, "due") == {("mother", "6m"), ("father", "6m")}
    assert _items(doc, "overdue") == {("mother", "6w"), ("father", "6w")}
    row = _sql(store, north)[fam["id"]]
    assert (row.n_due, row.n_overdue) == (2, 2)
    # recording the due date later moves the anchor back to it (and clears the clear birth date)
    store.families.update_infant(north, fam["id"], reason="from the maternity record",
                                 due_date=(born + timedelta(days=7)).isoformat())
    with store.db.read() as s:
        inf = s.execute(select(Infant).where(Infant.family_id == fam["id"])).scalar_one()
        assert inf.birth_anchor_on is None and inf.birth_offset_days == -7
    doc = store.families.get_family(north, fam["id"])
    row = _sql(store, north)[fam["id"]]
    assert (row.n_due, row.n_overdue) == (len(doc["due"]), len(doc["overdue"]))


def test_the_upgrade_fills_registration_dates_and_birth_anchors(team, make_family, key_path):
    from attunement.store import Store

    store, north = team
    fam = _family(store, north, make_family, "OLD-1",
                  {"date_of_birth": (TODAY - timedelta(days=100)).isoformat()},
                  registered_on="2025-01-01")
    with store.db.engine.begin() as conn:
        created = conn.execute(select(Family.created_at).where(Family.id == fam["id"])).scalar_one()
    downgrade(store, "0400")
    url = store.url
    store.close()
    again = Store.open(url, key_path=key_path)
    try:
        with again.db.read() as s:
            reg = s.execute(select(Family.registered_on).where(Family.id == fam["id"])).scalar_one()
            anchor = s.execute(select(Infant.birth_anchor_on)).scalar_one()
        assert reg == created.date() and isinstance(reg, date)
        assert anchor == TODAY - timedelta(days=100)
    finally:
        again.close()
