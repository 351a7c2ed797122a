"""The caseload as SQL: equal to the reference schedule, keyset pages, filters, and the blind
index search (exact, indexed, audited, no decrypting scan) — on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from tests.store.conftest import downgrade

from attunement.store import StoreValidationError
from attunement.store import caseload as cl
from attunement.store.crypto import KeyRing
from attunement.store.models import AuditEntry, CaseloadSummary, IdentityLookup, Infant
from attunement.usecases import families as uc_families

PASSWORD = "correct horse battery staple"

TODAY = datetime.now(UTC).date()

TIME_POINTS = [
    {"name": "antenatal", "offset_days": -60, "window_days": 30, "instruments": ["epds"]},
    {"name": "6w", "offset_days": 42, "window_days": 14, "instruments": ["epds", "phq9"]},
    {"name": "3m", "offset_days": 91, "window_days": 0, "instruments": ["gad7"],
     "anchor": "birth_date"},
    {"name": "6m", "offset_days": 182, "window_days": 21, "instruments": ["epds", "gad7"],
     "anchor": "birth_date"},
    {"name": "12m", "offset_days": 365, "window_days": 30, "instruments": ["phq9"]},
]


def _varied(store, world_actor, family_payload, n: int, seed: int = 7) -> list[int]:
    """``n`` families whose windows fall before, on and after today's edges; born early,
    late or not yet; caregivers who left; some assessments done; some urgent flags."""
    rng = random.Random(seed)
    ids = []
    for i in range(n):
        due = TODAY + timedelta(days=rng.choice([-400, -200, -120, -91, -56, -43, -28, -1, 0,
                                                  1, 30, 60, 91]) + rng.randint(-3, 3))
        infant = {"due_date": due.isoformat(), "name": f"Baby{i} Quill"}
        if rng.random() < 0.7 and due <= TODAY + timedelta(days=14):
            born = min(due + timedelta(days=rng.randint(-21, 14)), TODAY)
            infant["date_of_birth"] = born.isoformat()
            if rng.random() < 0.3:  # born, due date never recorded: anchored on the birth
                del infant["due_date"]
        payload = family_payload(f"V-{i:03d}", "North", study="Attach-1")
        payload["infant"] = infant
        # registered long ago, around today's window edges, or today (the default)
        back = rng.choice([800, 800, 800, 400, 200, 120, 60, 30, 14, 1, None])
        if back is not None:
            payload["registered_on"] = (TODAY - timedelta(days=back + rng.randint(-3, 3))).isoformat()
        born_on = infant.get("date_of_birth")
        assessed = max(due, datetime.fromisoformat(born_on).date() if born_on else due)
        payload["assessed_on"] = min(assessed, TODAY).isoformat()
        payload["caregivers"][0]["name"] = f"Carer{i} Wintergreen"
        payload["caregivers"][0].pop("nhs_number")
        if rng.random() < 0.3:
            payload["caregivers"][0]["responses"] = {"epds": [3, 3, 3, 3, 3, 3, 3, 3, 3, 3]}
        elif rng.random() < 0.5:
            payload["caregivers"][0].pop("responses")
        payload["time_point"] = rng.choice(["antenatal", "6w", "3m"])
        fam = uc_families.register_family(store, world_actor, payload)
        if rng.random() < 0.25:
            store.families.end_caregiver(world_actor, fam["id"], "father", left_on=TODAY.isoformat(),
                                reason="moved out")
        ids.append(fam["id"])
    return ids


@pytest.fixture
def varied(store, make_family):
    system = store.system_actor()
    store.accounts.add_site(system, "North")
    store.accounts.add_site(system, "South")
    store.accounts.add_study(system, "Attach-1", ["North", "South"], TIME_POINTS)
    user = store.accounts.add_user(system, "n@example.org", "practitioner", ["North"], PASSWORD)
    north = store.actor(user["id"])
    ids = _varied(store, north, make_family, 36)
    return store, north, ids


def test_sql_caseload_equals_the_reference_schedule(varied):
    store, north, ids = varied
    rows = store.families.list_families(north)
    assert sorted(r["id"] for r in rows) == sorted(ids)
    # the reference: each family's page computes due/overdue with Store._schedule in Python
    ref = {i: store.families.get_family(north, i) for i in ids}
    with store.db.read() as s:  # the schedule kept as data
        sql = {r.family_id: r for r in s.execute(select(CaseloadSummary)).scalars()}
    seen_due = seen_overdue = 0
    for r in rows:
        doc = ref[r["id"]]
        assert r["due"] == doc["due"] and r["overdue"] == doc["overdue"], r["family_id"]
        assert sql[r["id"]].n_overdue == len(doc["overdue"]), r["family_id"]
        assert sql[r["id"]].n_due == len(doc["due"]), r["family_id"]
        seen_due += bool(doc["due"])
        seen_overdue += bool(doc["overdue"])
    assert seen_due >= 5 and seen_overdue >= 5  # the set really exercises both
    # ... and infants anchored on a birth date alone (no due date) count in SQL too
    with store.db.read() as s:
        born_only = set(s.execute(select(Infant.family_id).where(
            Infant.birth_anchor_on.is_not(None))).scalars())
    assert len(born_only) >= 3
    assert sum(bool(sql[i].n_due or sql[i].n_overdue) for i in born_only) >= 2
    expected = sorted(rows, key=lambda r: (-r["open_alerts"], -len(r["overdue"]), r["family_id"]))
    assert [r["id"] for r in rows] == [r["id"] for r in expected]
    assert any(r["open_alerts"] for r in rows)


def test_keyset_pages_walk_forward_and_back(varied):
    store, north, ids = varied
    whole = [r["id"] for r in store.families.list_families(north)]
    pages, cursor = [], None
    while True:
        page = store.families.caseload_page(north, cursor=cursor, limit=5)
        assert page["counts"]["families"] == len(ids)
        pages.append([r["id"] for r in page["items"]])
        cursor = page["next"]
        if cursor is None:
            break
    assert [i for p in pages for i in p] == whole
    assert all(len(p) == 5 for p in pages[:-1])
    back, cursor = [pages[-1]], page["previous"]
    while cursor is not None:
        page = store.families.caseload_page(north, cursor=cursor, limit=5)
        back.insert(0, [r["id"] for r in page["items"]])
        cursor = page["previous"]
    assert back == pages


def test_filters(varied):
    store, north, ids = varied
    rows = store.families.list_families(north)
    urgent = store.families.caseload_page(north, urgent=True, limit=500)
    assert [r["id"] for r in urgent["items"]] == [r["id"] for r in rows if r["open_alerts"]]
    assert urgent["counts"]["urgent"] == urgent["counts"]["families"] > 0
    overdue = store.families.caseload_page(north, overdue=True, limit=500)
    assert [r["id"] for r in overdue["items"]] == [r["id"] for r in rows if r["overdue"]]
    at_6w = store.families.caseload_page(north, time_point="6w", limit=500)
    assert [r["id"] for r in at_6w["items"]] == [
        r["id"] for r in rows if any(x["time_point"] == "6w" for x in r["due"] + r["overdue"])
    ]
    assert len(store.families.caseload_page(north, mine=True, limit=500)["items"]) == len(ids)
    system = store.system_actor()
    assert store.families.caseload_page(system, mine=True)["items"] == []
    assert store.families.caseload_page(north, study=999)["items"] == []


@pytest.mark.parametrize("cursor", ["nonsense", "W10", cl.encode_cursor("alerts", "after", [1])])
def test_a_bad_cursor_is_refused_by_name(varied, cursor):
    store, north, _ = varied
    with pytest.raises(StoreValidationError) as err:
        store.families.caseload_page(north, cursor=cursor)
    assert err.value.field == "cursor"
    with pytest.raises(StoreValidationError) as err:
        store.families.caseload_page(north, limit=0)
    assert err.value.field == "limit"


def test_alert_pages(varied):
    store, north, _ = varied
    whole = [a["id"] for a in store.care.list_alerts(north)]
    assert len(whole) >= 3
    got, cursor = [], None
    while True:
        page = store.care.alerts_page(north, cursor=cursor, limit=2)
        got += [a["id"] for a in page["items"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert got == whole
    first = store.care.alerts_page(north, limit=2)
    again = store.care.alerts_page(north, cursor=store.care.alerts_page(
        north, cursor=first["next"], limit=2)["previous"], limit=2)
    assert [a["id"] for a in again["items"]] == [a["id"] for a in first["items"]]


# --- search through the blind index ------------------------------------------------------


def _searches(store) -> int:
    with store.db.read() as s:
        return len(s.execute(select(AuditEntry.id).where(AuditEntry.action == "search")).all())


def test_search_by_name_nhs_number_and_birth_date_is_exact_and_audited(world):
    st, north = world.store, world.north
    before = _searches(st)
    for q in ("Philippa Wintergreen", "wintergreen", "PHILIPPA", "943 476 5919", "9434765919",
              "1997-03-02", "2026-09-15", "Zebedee", "N-001", "n-0"):
        assert [f["family_id"] for f in st.families.list_families(north, q=q)] == ["N-001"], q
    for q in ("Wintergree", "inter", "943476591", "1997-03-03", "Philippa Osric"):
        assert st.families.list_families(north, q=q) == [], q  # exact words only, never substrings
    assert _searches(st) == before + 15
    assert st.families.list_families(world.south, q="9434765919")[0]["family_id"] == "S-001"
    assert st.families.list_families(world.researcher, q="Wintergreen") == []


def test_search_never_decrypts_every_row(world, make_family, monkeypatch):
    st, north = world.store, world.north
    for i in range(8):
        uc_families.register_family(st, north, make_family(f"N-1{i:02d}", "North"))
    calls = []
    real = KeyRing.decrypt

    def counting(self, blob, aad):
        calls.append(aad)
        return real(self, blob, aad)

    monkeypatch.setattr(KeyRing, "decrypt", counting)
    found = st.families.list_families(north, q="N-105")
    assert [f["family_id"] for f in found] == ["N-105"]
    found = st.families.list_families(north, q="Zebedee")
    assert len(found) == 9
    calls.clear()
    st.families.caseload_page(north, q="Zebedee", limit=2)
    # only the page's infants (their birth dates anchor the shown schedule), not all 9 x 3
    assert len(calls) <= 2


def test_the_blind_index_follows_identifier_changes_and_holds_no_clear_values(world):
    st, north = world.store, world.north
    st.families.update_identifiers(north, world.fam_north, "mother", {"name": "Philippa Ashgrove"},
                          reason="married")
    assert [f["family_id"] for f in st.families.list_families(north, q="ashgrove")] == ["N-001"]
    assert [f["family_id"] for f in st.families.list_families(north, q="Philippa Wintergreen")] == []
    st.families.update_infant(north, world.fam_north, date_of_birth="2026-09-18", reason="corrected")
    assert st.families.list_families(north, q="2026-09-15") == []
    assert [f["family_id"] for f in st.families.list_families(north, q="2026-09-18")] == ["N-001"]
    with st.db.read() as s:
        dump = repr(s.execute(select(IdentityLookup.__table__)).all())
        offset = s.execute(select(Infant.birth_offset_days).where(
            Infant.family_id == world.fam_north)).scalar_one()
    assert offset == -2  # 2026-09-18 minus the due date 2026-09-20
    for clear in ("ashgrove", "Ashgrove", "9434765919", "2026-09-18", "Wintergreen"):
        assert clear not in dump


def test_migration_fills_the_blind_index_and_birth_offsets(world, key_path):
    from attunement.store import Store

    st = world.store
    url = st.url
    downgrade(st, "0160")
    st.close()
    again = Store.open(url, key_path=key_path)  # upgrades to head, filling the index
    try:
        assert [f["family_id"] for f in again.families.list_families(world.north, q="Osric")] == ["N-001"]
        with again.db.read() as s:
            offsets = set(s.execute(select(Infant.birth_offset_days)).scalars())
        assert offsets == {-5}
    finally:
        again.close()


# --- more families in scope than either database's parameter limit ----------------------

N_BULK = 70_000  # > 65,535 (psycopg) and > 32,766 (SQLite "too many SQL variables")


@pytest.mark.slow
def test_lists_work_with_more_families_than_any_parameter_limit(world):
    from attunement.store.models import Caregiver, Family

    st, north = world.store, world.north
    with st.db.write() as s:
        site_id = s.execute(select(Family.site_id).where(Family.id == world.fam_north)).scalar()
        s.execute(Family.__table__.insert(), [
            {"site_id": site_id, "study_id": world.study_id, "code": f"B-{i:07d}",
             "placement": "birth_family", "context": {}} for i in range(N_BULK)
        ])
        first = s.execute(select(Family.id).where(Family.code == "B-0000000")).scalar_one()
        due = TODAY - timedelta(days=80)
        s.execute(Infant.__table__.insert(), [
            {"family_id": first + i, "due_date": due + timedelta(days=i % 200)}
            for i in range(N_BULK)
        ])
        s.execute(Caregiver.__table__.insert(), [
            {"family_id": first + i, "key": "mother", "role": "birth_mother", "context": {},
             "variants": {}} for i in range(N_BULK)
        ])
    # rows written outside the store: the nightly refresh adds their schedule rows
    assert st.maintenance.refresh_caseload() == N_BULK
    page = st.families.caseload_page(north, limit=50)
    assert page["counts"]["families"] == N_BULK + 1
    assert page["items"][0]["family_id"] == "N-001"  # two carers overdue: the most overdue
    second = st.families.caseload_page(north, cursor=page["next"], limit=50)
    assert len(second["items"]) == 50
    assert {r["id"] for r in second["items"]}.isdisjoint(r["id"] for r in page["items"])
    overdue = st.families.caseload_page(north, overdue=True, limit=10)
    assert overdue["counts"]["overdue"] == overdue["counts"]["families"] > 0
    # searches, by code and through the blind index, over every family of the site
    assert [f["family_id"] for f in st.families.list_families(north, q="B-0069999")] == ["B-0069999"]
    assert [f["family_id"] for f in st.families.list_families(north, q="Wintergreen")] == ["N-001"]
    assert st.care.alerts_page(north)["items"] == st.care.list_alerts(north)[:50]
    assert st.families.list_families(world.south, q="B-0000001") == []
