"""A synthetic deployment for the scale benchmarks, built fast and faithfully.

One plan (:class:`Plan`: families, sites, seed) gives the content: each family an infant
(name and date of birth, encrypted) and two caregivers (mother and father, named), and ten
assessments (EPDS at three time points, PHQ-9 at two, for each caregiver). Two builders
write that content:

- :func:`build_through_store`: the store's API (``register_family``, then
  ``submit_assessments`` in group commits): 15-90 families a second, for small N and for
  the reference;
- :func:`build_bulk`: the same rows written a thousand families at a time. Families,
  infants, caregivers, identities and their blind index are inserted with the store's
  tables, its key ring (``KeyRing.encrypt`` bound to ``{kind}:{id}`` as the store binds it,
  ``KeyRing.blind_index`` over :func:`attunement.store.blind.lookup_values`); their audit
  rows are the ones ``create_family`` writes, appended with the store's chain writer
  (``audit.append_many``: keyed hashes, head moved). The assessments are scored by the
  use case's scorer (each distinct answer pattern once) and written by the store's own
  writer for prepared assessments (``Assessments._write_assessments``: rows, urgent
  alerts, audit rows with their ``record_hash``). The caseload's stored schedule is built
  once at the end (``refresh_caseload(full=True)``), as after any bulk load.

``tests/benchmarks/test_bulk_build.py`` builds both ways from one plan and compares them.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

PASSWORD = "benchmark passphrase long enough"
ADMIN = "admin@example.org"
PRACTITIONER = "practitioner@example.org"
STUDY = "Nation"
# the study's schedule: (time point, days from the due date, window in days, instruments)
SCHEDULE_ROWS = (("baseline", -60, 30, ("epds",)), ("6w", 42, 14, ("epds", "phq9")),
                 ("6m", 180, 30, ("epds", "phq9")))
TIME_POINTS = [{"name": name, "offset_days": offset, "window_days": window,
                "instruments": list(instruments)}
               for name, offset, window, instruments in SCHEDULE_ROWS]
# what each caregiver completes, in order: (instrument, time point, days after the due
# date); PHQ-9 two days after the EPDS of the same visit
SCHEDULE = [(inst, name, offset + (2 if inst == "phq9" else 0))
            for inst in ("epds", "phq9")
            for name, offset, _, instruments in SCHEDULE_ROWS if inst in instruments]
# instrument: (items, highest answer)
ITEMS = {"epds": (10, 3), "phq9": (9, 3)}
CARERS = (("mother", "birth_mother"), ("father", "birth_father"))
PATTERNS = 64  # distinct answer patterns per instrument (each scored once in bulk)


@dataclass(frozen=True)
class Plan:
    """What to build: ``families`` spread over ``sites`` sites, content drawn from ``seed``."""

    families: int
    sites: int = 10
    seed: int = 17


@dataclass
class FamilyPlan:
    """One family's content: its registration payload and its submissions."""

    n: int
    payload: dict[str, Any]
    # (caregiver key, instrument, time point, answers, completed on)
    submissions: list[tuple[str, str, str, list[int], date]]


def site_name(i: int) -> str:
    """The name of site ``i`` (site 0 is the practitioner's)."""
    return f"Site {i}"


def family_code(n: int) -> str:
    """Family ``n``'s code (what a search by code types)."""
    return f"F{n:07d}"


def mother_name(n: int) -> str:
    """Family ``n``'s mother's full name (what a search by name types)."""
    return f"Mother {n} Example"


def _patterns(rng: random.Random) -> dict[str, list[list[int]]]:
    """A fixed pool of answer patterns per instrument: mostly low answers with the last
    item (self-harm on both instruments) unanswered-as-0, one pattern in 16 anywhere in the
    range, so scores vary and a few per cent of assessments open an urgent alert."""
    return {inst: [[rng.randint(0, top) for _ in range(items)] if p % 16 == 0
                   else [*(rng.randint(0, 1) for _ in range(items - 1)), 0]
                   for p in range(PATTERNS)]
            for inst, (items, top) in ITEMS.items()}


def families(plan: Plan, today: date | None = None) -> Iterator[FamilyPlan]:
    """Every family of the plan, in order; the same content for the same plan and day."""
    today = today or datetime.now(UTC).date()
    rng = random.Random(plan.seed)
    pool = _patterns(rng)
    for n in range(plan.families):
        due = today - timedelta(days=rng.randrange(20, 420))
        born = min(today, due + timedelta(days=rng.randrange(-21, 10)))
        payload = {
            "family_id": family_code(n), "site": site_name(n % plan.sites), "study": STUDY,
            "assessed_on": born.isoformat(),
            "registered_on": (due - timedelta(days=90)).isoformat(),
            "infant": {"due_date": due.isoformat(), "date_of_birth": born.isoformat(),
                       "name": f"Infant {n}"},
            "placement": "birth_family", "context": {},
            "caregivers": [
                {"id": "mother", "role": "birth_mother", "age": 18 + n % 25,
                 "name": mother_name(n)},
                {"id": "father", "role": "birth_father", "age": 20 + n % 30,
                 "name": f"Father {n} Example"},
            ],
        }
        subs = []
        for carer, _ in CARERS:
            for inst, tp, offset in SCHEDULE:
                done = min(today, due + timedelta(days=offset + rng.randrange(7)))
                subs.append((carer, inst, tp, list(rng.choice(pool[inst])), done))
        yield FamilyPlan(n, payload, subs)


def setup(st: Any, plan: Plan) -> tuple[Any, Any]:
    """A new store's accounts: the administrator, the sites, the study and a practitioner of
    site 0 (with an API token's rights); returns (administrator, practitioner) actors."""
    st.init(ADMIN, PASSWORD)
    system = st.system_actor()
    names = [site_name(i) for i in range(plan.sites)]
    for name in names:
        st.accounts.add_site(system, name)
    st.accounts.add_study(system, STUDY, names, TIME_POINTS)
    user = st.accounts.add_user(system, PRACTITIONER, "practitioner", [names[0]], PASSWORD)
    return st.accounts.authenticate(ADMIN, PASSWORD), st.actor(user["id"])


def build_through_store(st: Any, admin: Any, plan: Plan, *, batch: int = 500,
                        today: date | None = None) -> None:
    """The plan through the store's API: ``register_family`` for each family, then its
    assessments through ``submit_assessments`` (group commits of ``batch``)."""
    from attunement.store import Submission
    from attunement.usecases import families as uc_families

    pending: list[Any] = []
    for fp in families(plan, today):
        fam = uc_families.register_family(st, admin, fp.payload)["id"]
        pending += [Submission(admin, fam, carer, inst, tp, answers, completed_on=done)
                    for carer, inst, tp, answers, done in fp.submissions]
        if len(pending) >= batch:
            _submit(st, pending)
            pending = []
    _submit(st, pending)


def _submit(st: Any, subs: list[Any]) -> None:
    from attunement.usecases import assessments as uc_assessments

    for r in uc_assessments.submit_assessments(st, subs):
        if isinstance(r, Exception):
            raise RuntimeError(f"submission refused while building: {r}") from r


class _Bulk:
    """The state of one bulk build: the store, its key ring, the ids of sites and study."""

    def __init__(self, st: Any, admin: Any) -> None:
        from sqlalchemy import select

        from attunement.store.models import Site, Study

        self.st, self.admin = st, admin
        self.keys = st.core.keyring()
        self.today = st.core.now().date()
        self.scored: dict[tuple[str, tuple[int, ...]], dict[str, Any]] = {}
        with st.db.read() as s:
            self.sites = {name: i for i, name in s.execute(select(Site.id, Site.name))}
            self.study = s.execute(select(Study.id).where(Study.name == STUDY)).scalar_one()

    def _insert(self, s: Any, table: Any, rows: list[dict[str, Any]]) -> list[int]:
        """Insert ``rows`` in one statement; their new ids, in the order given."""
        stmt = table.insert().returning(table.c.id, sort_by_parameter_order=True)
        return list(s.connection().execute(stmt, rows).scalars())

    def _identities(self, s: Any, people: list[tuple[int, str, int, dict[str, str]]]) -> None:
        """Encrypted identifiers and their blind index, as ``Families._store_identity``."""
        from attunement.store import blind
        from attunement.store.models import Identity, IdentityLookup

        conn = s.connection()
        conn.execute(Identity.__table__.insert(), [
            {"family_id": fam, "subject_kind": kind, "subject_id": sid,
             "ciphertext": self.keys.encrypt(data, f"{kind}:{sid}"), "key_id": self.keys.key_id}
            for fam, kind, sid, data in people])
        conn.execute(IdentityLookup.__table__.insert(), [
            {"family_id": fam, "subject_kind": kind, "subject_id": sid, "field": field,
             "digest": self.keys.blind_index(field, value)}
            for fam, kind, sid, data in people for field, value in blind.lookup_values(data)])

    def families(self, s: Any, group: list[FamilyPlan]) -> list[tuple[int, int, dict]]:
        """Write a group of families as ``create_family`` does; (family id, site id,
        caregiver ids by key) for each."""
        from attunement.store import audit
        from attunement.store.models import Caregiver, Family, Infant

        fams, infs = [], []
        for fp in group:
            p, inf = fp.payload, fp.payload["infant"]
            due, born = date.fromisoformat(inf["due_date"]), date.fromisoformat(
                inf["date_of_birth"])
            fams.append({"site_id": self.sites[p["site"]], "study_id": self.study,
                         "code": p["family_id"], "placement": p["placement"],
                         "context": p["context"],
                         "assessed_on": date.fromisoformat(p["assessed_on"]),
                         "created_by": self.admin.user_id,
                         "registered_on": date.fromisoformat(p["registered_on"])})
            infs.append({"due_date": due, "gestation_weeks": None,
                         "birth_offset_days": (born - due).days, "birth_anchor_on": None})
        fam_ids = self._insert(s, Family.__table__, fams)
        for row, fid in zip(infs, fam_ids, strict=True):
            row["family_id"] = fid
        inf_ids = self._insert(s, Infant.__table__, infs)
        carers = [{"family_id": fid, "key": c["id"], "role": c["role"], "age": c["age"],
                   "first_time_parent": None, "context": {}, "variants": {},
                   "joined_on": self.today}
                  for fp, fid in zip(group, fam_ids, strict=True)
                  for c in fp.payload["caregivers"]]
        cg_ids = iter(self._insert(s, Caregiver.__table__, carers))
        people, entries, out = [], [], []
        for fp, fid, iid, row in zip(group, fam_ids, inf_ids, fams, strict=True):
            inf = fp.payload["infant"]
            people.append((fid, "infant", iid, {"name": inf["name"],
                                                "date_of_birth": inf["date_of_birth"]}))
            ids = {}
            for c in fp.payload["caregivers"]:
                cid = ids[c["id"]] = next(cg_ids)
                people.append((fid, "caregiver", cid, {"name": c["name"]}))
                entries.append(dict(
                    actor=self.admin, action="create", entity="caregiver", entity_id=cid,
                    family_id=fid, site_id=row["site_id"], after={
                        "id": c["id"], "role": c["role"], "age": c["age"],
                        "first_time_parent": None, "context": {},
                        "joined_on": self.today.isoformat(), "identifiers": ["name"]}))
            entries.append(dict(
                actor=self.admin, action="create", entity="family", entity_id=fid,
                family_id=fid, site_id=row["site_id"], after={
                    "family_id": row["code"], "placement": row["placement"],
                    "registered_on": row["registered_on"].isoformat(),
                    "study_id": self.study, "context": row["context"],
                    "infant": {"due_date": inf["due_date"]},
                    "identifiers": ["date_of_birth", "name"]}))
            out.append((fid, row["site_id"], ids))
        self._identities(s, people)
        audit.append_many(s, entries)
        return out

    def _score(self, instrument: str, answers: list[int]) -> dict[str, Any]:
        """The use case's scoring of one answer pattern as the store keeps it (each pattern
        scored and converted once; the rows share the converted values)."""
        from attunement.store import assessments as store_assessments
        from attunement.store import shared
        from attunement.usecases import assessments as uc_assessments

        key = (instrument, tuple(answers))
        if key not in self.scored:
            scored = uc_assessments.score(instrument, answers, "scores", None)
            self.scored[key] = {
                "instrument_version": str(scored.version),
                "item_scores": shared.jsonable(list(scored.item_scores or answers)),
                "scores": shared.jsonable(dict(scored.scores)),
                "flags": [store_assessments._flag_dict(f) for f in scored.flags]}
        return self.scored[key]

    def assessments(self, s: Any, group: list[FamilyPlan],
                    written: list[tuple[int, int, dict]]) -> int:
        """The group's assessments through the store's writer of prepared assessments."""
        from types import SimpleNamespace

        from attunement.store import assessments as store_assessments

        items = []
        for fp, (fid, site, cg_ids) in zip(group, written, strict=True):
            fam = SimpleNamespace(id=fid, site_id=site, study_id=self.study)
            for carer, inst, tp, answers, done in fp.submissions:
                cg = SimpleNamespace(id=cg_ids[carer], key=carer)
                values = dict(
                    family_id=fid, caregiver_id=cg.id, instrument=inst, time_point=tp,
                    instance=None, version=None, input_kind="scores", responses=list(answers),
                    **self._score(inst, answers),
                    corrected_from=None, reason=None, submitted_by=self.admin.user_id,
                    submitted_via="staff", submitted_at=None, submission_key=None,
                    completed_on=done)
                items.append(store_assessments._Prepared(self.admin, fam, cg, values))
        self.st.assessments._write_assessments(s, items)
        return len(items)


def build_bulk(st: Any, admin: Any, plan: Plan, *, group: int = 1000,
               today: date | None = None, progress: Any = None) -> dict[str, float]:
    """The plan written in bulk (module docstring), ``group`` families per transaction;
    the seconds the families, the assessments and the caseload summary took."""
    import time

    from attunement.store import audit

    bulk = _Bulk(st, admin)
    took = {"families_s": 0.0, "assessments_s": 0.0}
    it = families(plan, today)
    done = 0
    while True:
        chunk = [fp for _, fp in zip(range(group), it, strict=False)]
        if not chunk:
            break
        with st.db.write() as s:
            t0 = time.perf_counter()
            written = bulk.families(s, chunk)
            t1 = time.perf_counter()
            bulk.assessments(s, chunk, written)
            # the caseload rows are built once at the end (below), not per transaction
            s.info.pop(audit.FAMILIES_WRITTEN, None)
        took["families_s"] += t1 - t0
        took["assessments_s"] += time.perf_counter() - t1
        done += len(chunk)
        if progress:
            progress(done)
    t0 = time.perf_counter()
    st.maintenance.refresh_caseload(full=True)
    took["caseload_summary_s"] = time.perf_counter() - t0
    if st.dialect == "postgresql":
        analyse(st)
    return {k: round(v, 1) for k, v in took.items()}


def analyse(st: Any) -> None:
    """Fresh planner statistics after a bulk load (autovacuum would give them later)."""
    from sqlalchemy import text

    with st.db.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
