"""The store's settable clock: records written inside ``Core.at`` take its time, the audit log
keeps the real time of each write, and the clock refuses naive or future times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from attunement.store.models import AuditEntry, Family
from attunement.usecases import families as uc_families


def test_records_written_inside_at_take_its_time_and_the_audit_keeps_the_real_one(
    store, make_family
):
    system = store.system_actor()
    store.accounts.add_site(system, "North")
    then = datetime(2026, 3, 1, 10, 30, tzinfo=UTC)
    before = datetime.now(UTC)
    with store.core.at(then):
        assert store.core.now() == then and store.core.today() == then.date()
        payload = make_family("CLK-1", "North")
        payload.pop("registered_on")
        fam = uc_families.register_family(store, system, payload)
    assert store.core.now() >= before  # back to the real time
    [epds] = [a for a in store.assessments.list_assessments(system, fam["id"])]
    assert epds["submitted_at"] == then.isoformat()
    with store.db.read() as s:
        row = s.get(Family, fam["id"])
        assert row.created_at == then and row.registered_on == then.date()
        audit_at = s.execute(select(AuditEntry.at).where(AuditEntry.entity == "family")).scalar()
    assert str(audit_at) >= before.strftime("%Y-%m-%d")  # the real time of the write
    assert store.maintenance.verify_audit().ok


@pytest.mark.parametrize("when", [datetime(2026, 3, 1, 10, 30),
                                  datetime.now(UTC) + timedelta(hours=1)])
def test_the_clock_refuses_naive_and_future_times(store, when):
    with pytest.raises(ValueError), store.core.at(when):
        pass
