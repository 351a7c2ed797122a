"""Randomisation inside the platform: scoped, consented, audited, immutable, reproducible."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text

from attunement.store import Forbidden, NotFound, StoreValidationError
from attunement.store.trials import AlreadyRandomised
from attunement.trials import Allocation, RandomisationDesign, verify_allocations

from .conftest import DESIGN, SECRET, TrialWorld


def _records(tw: TrialWorld) -> list[Allocation]:
    """The allocations as the auditor receives them: enrolment order, inputs, draws."""
    rows = tw.trials.list_allocations(tw.admin, tw.study)
    return [Allocation(r["sequence"], str(r["family"]), r["arm"], "blocks", r["inputs"],
                       r["stratum"], r["details"]) for r in rows]


def test_practitioner_randomises_consented_family_audited_and_reproducible(tw: TrialWorld):
    design = tw.trials.define_design(tw.admin, tw.study, DESIGN, secret=SECRET)
    assert "secret" not in design and design["locked"] is False
    smi = ["no", "yes", "no", "no", "yes", "no"]
    out = [tw.trials.randomise(tw.pa, f, values={"smi": s}) for f, s in zip(tw.fam_a, smi,
                                                                           strict=True)]
    out.append(tw.trials.randomise(tw.pb, tw.fam_b, values={"smi": "no"}))
    # the recruiter sees the arm, never the place in the sequence (concealment)
    assert all("sequence" not in a and "details" not in a for a in out)
    assert [r["sequence"] for r in tw.trials.list_allocations(tw.admin, tw.study)] == list(
        range(1, 8))
    assert out[0]["inputs"] == {"site": "Site A", "smi": "no"}
    assert out[-1]["inputs"] == {"site": "Site B", "smi": "no"}
    # an independent replay from the secret and the enrolment order gives the same arms
    lib = RandomisationDesign.from_dict({k: val for k, val in DESIGN.items()
                                         if k not in ("levels", "consent_kind")})
    records = _records(tw)
    assert verify_allocations(lib, SECRET, records) == []
    assert verify_allocations(lib, SECRET + "x", records) != []
    assert tw.trials.verify(tw.admin, tw.study) == []
    # each allocation is in the audit log with who and the inputs
    log = {e["id"]: e for e in tw.store.maintenance.audit_log(tw.admin, limit=100)}
    for a in out[:-1]:
        entry = log[a["audit_id"]]
        assert entry["action"] == "randomise" and entry["actor"] == "pa@example.org"
        assert entry["family_id"] == a["family"] and entry["after"]["arm"] == a["arm"]
        assert entry["after"]["inputs"] == a["inputs"]
        assert entry["after"]["fingerprint"] == design["secret_fingerprint"]
    assert SECRET not in str(log)
    assert tw.store.maintenance.verify_audit().ok
    # the design is locked once anyone is allocated
    with pytest.raises(StoreValidationError) as exc:
        tw.trials.define_design(tw.admin, tw.study, DESIGN, secret=SECRET)
    assert exc.value.field == "design"
    assert tw.trials.get_design(tw.admin, tw.study)["locked"] is True


def test_cannot_randomise_twice_or_change_the_arm(tw: TrialWorld):
    tw.trials.define_design(tw.admin, tw.study, DESIGN, secret=SECRET)
    first = tw.trials.randomise(tw.pa, tw.fam_a[0], values={"smi": "no"})
    with pytest.raises(AlreadyRandomised) as exc:
        tw.trials.randomise(tw.lead, tw.fam_a[0], values={"smi": "no"})
    assert first["arm"] in str(exc.value)
    assert not hasattr(tw.trials, "update_allocation")
    # not even the database lets the row change or disappear
    for sql in ("UPDATE trial_allocations SET arm = 'other'", "DELETE FROM trial_allocations"):
        with pytest.raises(Exception, match="never changed"), tw.store.db.write() as s:
            s.execute(text(sql))
    assert tw.trials.allocation(tw.pa, tw.fam_a[0])["arm"] == first["arm"]


def test_scope_consent_and_roles(tw: TrialWorld):
    tw.trials.define_design(tw.admin, tw.study, DESIGN, secret=SECRET)
    with pytest.raises(NotFound):  # another site's family does not exist for them
        tw.trials.randomise(tw.pa, tw.fam_b, values={"smi": "no"})
    with pytest.raises(NotFound):
        tw.trials.allocation(tw.pa, tw.fam_b)
    with pytest.raises(StoreValidationError) as exc:
        tw.trials.randomise(tw.pa, tw.fam_a_no_consent, values={"smi": "no"})
    assert exc.value.field == "consent"
    with pytest.raises(StoreValidationError) as exc:
        tw.trials.randomise(tw.pa, tw.fam_a[0], values={"smi": "maybe"})
    assert exc.value.field == "values.smi"
    with pytest.raises(StoreValidationError) as exc:
        tw.trials.randomise(tw.pa, tw.fam_a[0])
    assert exc.value.field == "values.smi"
    with pytest.raises(Forbidden):
        tw.trials.randomise(tw.researcher, tw.fam_a[0], values={"smi": "no"})
    with pytest.raises(Forbidden):
        tw.trials.define_design(tw.pa, tw.study, DESIGN)
    with pytest.raises(Forbidden):
        tw.trials.reveal_secret(tw.lead, tw.study, reason="audit")
    # nothing was written by the refused attempts
    assert tw.trials.list_allocations(tw.admin, tw.study) == []
    # a withdrawn consent stops randomisation
    tw.store.care.withdraw_consent(tw.system, tw.consents[tw.fam_a[1]],
                              withdrawn_on=dt.date.today(), reason="moved away")
    with pytest.raises(StoreValidationError) as exc:
        tw.trials.randomise(tw.pa, tw.fam_a[1], values={"smi": "no"})
    assert exc.value.field == "consent"


def test_researcher_reads_pseudonymised_allocations(tw: TrialWorld):
    tw.trials.define_design(tw.admin, tw.study, DESIGN, secret=SECRET)
    tw.trials.randomise(tw.pa, tw.fam_a[0], values={"smi": "yes"})
    tw.trials.randomise(tw.pb, tw.fam_b, values={"smi": "no"})
    rows = tw.trials.list_allocations(tw.researcher, tw.study)
    assert len(rows) == 2
    for r in rows:
        assert "family" not in r and "allocated_by" not in r and "details" not in r
        assert "allocated_at" not in r and r["allocated_on_shifted"] < dt.date.today().isoformat()
        assert not r["family_id"].startswith(("A-", "B-"))
    # practitioners see no list of allocations at all (concealment), only their family's arm
    with pytest.raises(Forbidden):
        tw.trials.list_allocations(tw.pa, tw.study)
    assert tw.trials.allocation(tw.pa, tw.fam_a[0])["family_id"] == "A-0"
    assert tw.trials.get_design(tw.researcher, tw.study)["arms"] == DESIGN["arms"]


def test_design_errors_name_the_field(tw: TrialWorld):
    bad = dict(DESIGN, ratio=[1, 1, 1])
    with pytest.raises(StoreValidationError) as exc:
        tw.trials.define_design(tw.admin, tw.study, bad)
    assert exc.value.field == "design.ratio"
    with pytest.raises(StoreValidationError) as exc:
        tw.trials.define_design(tw.admin, tw.study, dict(DESIGN, levels={}))
    assert exc.value.field == "design.levels.smi"
    with pytest.raises(StoreValidationError) as exc:
        tw.trials.define_design(tw.admin, tw.study, DESIGN, secret="short")
    assert exc.value.field == "secret"
    with pytest.raises(NotFound):
        tw.trials.define_design(tw.admin, 999, DESIGN)


def test_minimisation_design_and_secret_reveal(tw: TrialWorld):
    design = {"method": "minimisation", "arms": ["A", "B"], "ratio": [1, 1],
              "factors": ["centre", "smi"], "p": 0.8, "levels": {"smi": ["yes", "no"]}}
    d = tw.trials.define_design(tw.admin, tw.study, design)  # seed generated by the server
    for f in tw.fam_a:
        tw.trials.randomise(tw.pa, f, values={"smi": "yes"})
    secret = tw.trials.reveal_secret(tw.admin, tw.study, reason="DMC audit")
    lib = RandomisationDesign.from_dict({k: v for k, v in design.items() if k != "levels"})
    rows = tw.trials.list_allocations(tw.admin, tw.study)
    records = [Allocation(r["sequence"], str(r["family"]), r["arm"], "minimisation",
                          r["inputs"], r["stratum"], r["details"]) for r in rows]
    assert verify_allocations(lib, secret, records) == []
    from attunement.trials.randomisation import Randomiser

    assert Randomiser(lib, secret).key_fingerprint == d["secret_fingerprint"]
    reveal = [e for e in tw.store.maintenance.audit_log(tw.admin) if e["entity"] == "trial_secret"]
    assert reveal and reveal[0]["reason"] == "DMC audit" and secret not in str(reveal)


def test_consort_from_the_study_records(tw: TrialWorld, tmp_path):
    tw.trials.define_design(tw.admin, tw.study, DESIGN, secret=SECRET)
    for f in tw.fam_a[:4]:
        tw.trials.randomise(tw.pa, f, values={"smi": "no"})
    counts = tw.trials.consort(tw.admin, tw.study)
    # 8 families in the study: 4 randomised, 2 consented waiting at A, 1 at B, 1 no consent
    assert (counts.assessed, counts.randomised, counts.excluded) == (8, 4, 4)
    assert counts.other == {"awaiting randomisation": 3, "awaiting consent": 1}
    assert [a.arm for a in counts.arms] == DESIGN["arms"]
    assert sum(a.allocated for a in counts.arms) == 4
    assert all(a.analysed is None for a in counts.arms)  # not a platform record: not guessed
    # consent withdrawn after randomisation: lost to follow-up, with the reason
    tw.store.care.withdraw_consent(tw.system, tw.consents[tw.fam_a[0]],
                              withdrawn_on=dt.date.today(), reason="moved away")
    counts = tw.trials.consort(tw.admin, tw.study)
    assert sum(a.lost for a in counts.arms) == 1
    assert [a.lost_reasons for a in counts.arms if a.lost] == [{"withdrew consent": 1}]
    # a site lead's view is scoped to their site but per-arm counts are concealed from them
    with pytest.raises(Forbidden):
        tw.trials.consort(tw.lead, tw.study)
    svg = tw.trials.consort_svg(tw.admin, tw.study)
    assert "<svg" in svg and svg.rstrip().endswith("</svg>")


def test_concurrent_randomisations_get_one_unbroken_sequence(tw: TrialWorld):
    from concurrent.futures import ThreadPoolExecutor

    tw.trials.define_design(tw.admin, tw.study, DESIGN, secret=SECRET)
    with ThreadPoolExecutor(4) as pool:
        out = list(pool.map(lambda f: tw.trials.randomise(tw.pa, f, values={"smi": "no"}),
                            tw.fam_a))
    assert len(out) == len(tw.fam_a)
    assert [r["sequence"] for r in tw.trials.list_allocations(tw.admin, tw.study)] == list(
        range(1, len(tw.fam_a) + 1))
    assert tw.trials.verify(tw.admin, tw.study) == []
    # and the same family twice at once: exactly one allocation
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: _try(tw, tw.fam_b), range(2)))
    assert sorted(results) == ["allocated", "refused"]


def _try(tw: TrialWorld, family: int) -> str:
    try:
        tw.trials.randomise(tw.pb, family, values={"smi": "yes"})
    except AlreadyRandomised:
        return "refused"
    return "allocated"
