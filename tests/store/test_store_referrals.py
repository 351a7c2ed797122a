"""Referrals in the store: stage order, reasons, dates, episode link, audit, scoping and the
researcher's pseudonymised view — on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest

from attunement.store import Forbidden, NotFound, StoreValidationError
from attunement.usecases import assessments as uc_assessments
from attunement.usecases import referrals as uc_referrals


def _refer(world, **kw):
    args = {"kind": "route", "target": "talking_therapies", "offered_on": "2026-10-02",
            "caregiver": "mother", **kw}
    return uc_referrals.add_referral(world.store, world.north, world.fam_north, **args)


def test_stages_in_order_link_the_episode_and_are_audited(world):
    ep = world.store.care.add_episode(world.north, world.fam_north, "abc", "2026-10-10",
                                 caregivers=["mother"])
    r = _refer(world, kind="programme", target="abc")
    assert r["status"] == "offered" and r["next_stages"] == ["accepted", "declined"]
    uc_referrals.record_stage(world.store, world.north, r["id"], "accepted", on="2026-10-03")
    r = uc_referrals.record_stage(world.store, world.north, r["id"], "started", on="2026-10-10")
    assert r["episode"] == ep["id"] and r["first_session_on"] == "2026-10-10"
    r = uc_referrals.record_stage(world.store, world.north, r["id"], "completed", on="2026-11-20")
    assert r["status"] == "completed" and r["next_stages"] == []
    log = [e for e in world.store.maintenance.audit_log(world.admin, family_id=world.fam_north)
           if e["entity"] == "referral"]
    assert sorted(e["action"] for e in log) == ["create", "update", "update", "update"]


@pytest.mark.parametrize(("steps", "stage", "field", "message"), [
    ([], "started", "stage", "'offered' cannot become 'started'"),
    ([], "completed", "stage", "'offered' cannot become 'completed'"),
    ([("declined", "2026-10-03", "no")], "accepted", "stage", "it is closed"),
    ([("accepted", "2026-10-03", None)], "declined", "stage", "'accepted' cannot become"),
    ([("accepted", "2026-10-05", None)], "started", "on", "before the referral's previous"),
])
def test_stage_order_is_enforced_with_clear_errors(world, steps, stage, field, message):
    r = _refer(world)
    for s, on, reason in steps:
        uc_referrals.record_stage(world.store, world.north, r["id"], s, on=on, reason=reason)
    before = uc_referrals.get_referral(world.store, world.north, r["id"])
    n_audit = len(world.store.maintenance.audit_log(world.admin))
    with pytest.raises(StoreValidationError) as exc:
        uc_referrals.record_stage(world.store, world.north, r["id"], stage, on="2026-10-04",
                                  reason="x")
    assert exc.value.field == field and message in exc.value.reason
    # a refused write leaves the record and the audit log as they were
    assert uc_referrals.get_referral(world.store, world.north, r["id"]) == before
    assert len(world.store.maintenance.audit_log(world.admin)) == n_audit


def test_declining_and_ending_need_a_reason(world):
    r = _refer(world)
    with pytest.raises(StoreValidationError) as exc:
        uc_referrals.record_stage(world.store, world.north, r["id"], "declined", on="2026-10-03")
    assert exc.value.field == "reason"


def test_dates_in_the_future_and_bad_targets_are_refused(world):
    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    with pytest.raises(StoreValidationError, match=r"offered_on: .* is in the future"):
        _refer(world, offered_on=tomorrow)
    with pytest.raises(StoreValidationError, match=r"target: 'nope' is not a programme.*abc"):
        _refer(world, kind="programme", target="nope")
    with pytest.raises(StoreValidationError, match="target: 'Crisis Team!' is not a route id"):
        _refer(world, target="Crisis Team!")
    with pytest.raises(StoreValidationError, match="kind"):
        _refer(world, kind="letter")
    with pytest.raises(StoreValidationError, match="stage"):
        uc_referrals.record_stage(world.store, world.north, _refer(world)["id"], "offered",
                                  on="2026-10-03")
    # any well-formed route id is accepted (services add their own)
    assert _refer(world, target="housing_support")["target"] == "housing_support"
    # a family-level referral (no caregiver)
    assert _refer(world, caregiver=None)["caregiver"] is None


def test_outcome_after_a_referral_uses_the_reliable_change_rule(world):
    # the mother's EPDS at registration (2026-10-01) is 12; a repeat after the referral is 6
    r = _refer(world, offered_on="2026-10-02")
    uc_assessments.submit_assessment(world.store, world.north, world.fam_north, "mother", "epds", "6w",
                               [1, 1, 1, 1, 1, 1, 0, 0, 0, 0], completed_on="2026-10-30")
    out = uc_referrals.get_referral(world.store, world.north, r["id"])["outcomes"]
    assert out == [{"instrument": "epds", "before": 12.0, "before_on": "2026-10-01",
                    "after": 6.0, "after_on": "2026-10-30", "n_after": 1, "change": -6.0,
                    "reliable_change": 4.0, "improved": True, "source": out[0]["source"]}]
    assert "Matthey" in out[0]["source"]


def test_another_sites_practitioner_sees_none_of_it(world):
    r = _refer(world)
    with pytest.raises(NotFound):
        uc_referrals.get_referral(world.store, world.south, r["id"])
    with pytest.raises(NotFound):
        uc_referrals.list_referrals(world.store, world.south, world.fam_north)
    with pytest.raises(NotFound):
        uc_referrals.record_stage(world.store, world.south, r["id"], "accepted", on="2026-10-03")
    with pytest.raises(NotFound):
        uc_referrals.add_referral(world.store, world.south, world.fam_north, kind="route",
                                  target="gp", offered_on="2026-10-02")
    north_site = next(s["id"] for s in world.store.accounts.list_sites(world.admin)
                      if s["name"] == "North")
    with pytest.raises(NotFound):
        uc_referrals.cascade_tables(world.store, world.south, site=north_site)
    with pytest.raises(NotFound):
        uc_referrals.cascade_tables(world.store, world.admin, site=999_999)
    with pytest.raises(NotFound):
        uc_referrals.cascade_tables(world.store, world.researcher, study=999_999)
    cgs, _, referrals = uc_referrals.cascade_tables(world.store, world.south)
    assert set(cgs["site"]) == {"South"} and referrals.empty


def test_researchers_read_pseudonymised_without_reasons_and_cannot_write(world):
    r = _refer(world)
    uc_referrals.record_stage(world.store, world.north, r["id"], "declined", on="2026-10-04",
                              reason="SECRET reason in free text")
    seen = uc_referrals.list_referrals(world.store, world.researcher, world.fam_north)
    assert len(seen) == 1
    text = repr(seen)
    assert "SECRET" not in text and "2026-10" not in text and "mother" not in text
    assert seen[0]["declined_day"] == 2 and seen[0]["status"] == "declined"
    with pytest.raises(Forbidden):
        uc_referrals.add_referral(world.store, world.researcher, world.fam_north, kind="route",
                                  target="gp", offered_on="2026-10-02")
    with pytest.raises(Forbidden):
        uc_referrals.record_stage(world.store, world.researcher, r["id"], "accepted",
                                  on="2026-10-03")


def test_a_failed_write_leaves_the_store_as_it_was(world, monkeypatch):
    from attunement.store import referrals as module

    r = _refer(world)
    before = uc_referrals.list_referrals(world.store, world.north, world.fam_north)
    n_audit = len(world.store.maintenance.audit_log(world.admin))

    def broken_audit(*args, **kwargs):
        raise RuntimeError("disk full (test)")

    monkeypatch.setattr(module.audit, "append", broken_audit)
    with pytest.raises(RuntimeError):
        _refer(world, target="gp")
    with pytest.raises(RuntimeError):
        uc_referrals.record_stage(world.store, world.north, r["id"], "accepted", on="2026-10-03")
    monkeypatch.undo()
    assert uc_referrals.list_referrals(world.store, world.north, world.fam_north) == before
    assert len(world.store.maintenance.audit_log(world.admin)) == n_audit


def test_cascade_equity_by_language_uses_the_caregivers_preferred_language(world):
    """Before: the language dimension read only a family-file answer nobody records, so every
    caregiver was 'not recorded' even after they gave their preferred language."""
    from attunement.store.outreach import OutreachRecords

    OutreachRecords(world.store).set_contact_preferences(
        world.north, world.fam_north, "mother", language="pl")
    cgs, _, _ = uc_referrals.cascade_tables(world.store, world.north)
    mine = cgs[cgs["family"] == world.fam_north].set_index("caregiver")
    langs = dict(zip(mine.index, mine["language"], strict=True))
    assert "pl" in langs.values()
    assert sum(v == "pl" for v in langs.values()) == 1


def test_the_store_checks_and_labels_referrals_with_the_content_it_is_given(world):
    """The store holds no catalogue, routes or rules of its own (it imports no domain
    library): a service's own programme is a valid target when the content names it."""
    from dataclasses import replace

    from attunement.store.referrals import ReferralContent

    shipped = uc_referrals.referral_content()
    assert isinstance(shipped, ReferralContent) and "abc" in shipped.programmes
    local = replace(shipped, programmes={"local_group": "Local group"},
                    routes={"gp": "Family doctor (local wording)"})
    with pytest.raises(StoreValidationError, match=r"'abc' is not a programme.*local_group"):
        world.store.referrals.add_referral(world.north, world.fam_north, kind="programme",
                                           target="abc", offered_on="2026-10-02", content=local)
    r = world.store.referrals.add_referral(world.north, world.fam_north, kind="programme",
                                           target="local_group", offered_on="2026-10-02",
                                           content=local)
    assert r["target"] == "local_group"
    r = world.store.referrals.add_referral(world.north, world.fam_north, kind="route",
                                           target="gp", offered_on="2026-10-02", content=local)
    assert r["target_label"] == "Family doctor (local wording)"
