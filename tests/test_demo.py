"""The synthetic demo families cover every tier, pathway, subgroup and the urgent overlay."""

from __future__ import annotations

import pytest

from attunement import demo
from attunement.instruments import score_responses
from attunement.interventions import match
from attunement.risk import load_definitions, profile, validate_family


@pytest.fixture(scope="module")
def profiles():
    fams = demo.synthetic_families()
    return [(f, profile(f)) for f in fams]


def test_demo_vectors_score_as_labelled() -> None:
    totals = {
        ("epds", "EPDS_LOW"): 3, ("epds", "EPDS_HIGH"): 15, ("epds", "EPDS_SELF_HARM"): 13,
        ("phq9", "PHQ9_LOW"): 3, ("phq9", "PHQ9_MODERATE_ITEM9"): 14, ("gad7", "GAD7_HIGH"): 12,
        ("gad7", "GAD7_LOW"): 2, ("osss3", "OSSS3_POOR"): 6, ("osss3", "OSSS3_STRONG"): 13,
        ("ace", "ACE_HIGH"): 5, ("ace", "ACE_LOW"): 1, ("kpcs", "KPCS_LOW"): 35,
    }
    for (inst, name), total in totals.items():
        assert score_responses(inst, getattr(demo, name)).scores[f"{inst}_total"] == total, name
    pbq = score_responses("pbq", demo.PBQ_IMPAIRED).scores
    assert pbq["pbq_impaired_bonding"] >= 12 and pbq["pbq_incipient_abuse"] == 0


def test_families_are_valid_and_clearly_synthetic(profiles) -> None:
    assert 8 <= len({f["family_id"] for f, _ in profiles}) <= 12
    for fam, _ in profiles:
        validate_family(fam)
        assert fam["family_id"].startswith("Demo Family ")


def test_every_tier_pathway_and_the_urgent_overlay_are_covered(profiles) -> None:
    assert {p.tier for _, p in profiles} == {"universal", "targeted", "specialist"}
    assert {pw for _, p in profiles for pw in p.pathways} == {
        pw.id for pw in load_definitions().pathways}
    assert any(p.urgent for _, p in profiles)
    assert any(not p.urgent for _, p in profiles)


def test_seed_subgroups_and_caregivers_are_covered(profiles) -> None:
    placements = {f["placement"] for f, _ in profiles}
    assert {"foster", "adoptive", "kinship", "birth_family"} <= placements
    assert any(p.has("single_carer") for _, p in profiles)
    assert any(p.has("severe_mental_illness") for _, p in profiles)
    screened_roles = {c["role"] for f, _ in profiles for c in f["caregivers"] if c.get("responses")}
    assert {"birth_father", "co_parent"} <= screened_roles
    # one family seen at two time points
    ids = [f["family_id"] for f, _ in profiles]
    assert any(ids.count(i) == 2 for i in ids)


def test_every_family_gets_at_least_one_match(profiles) -> None:
    # issue 10: a family with an open urgent flag and no safety review is held, with the reason
    for fam, prof in profiles:
        result = match(prof, fam)
        if result.held:
            assert prof.urgent and not result.recommended and result.held_reason
        else:
            assert result.recommended, fam["family_id"]
    assert any(not match(prof, fam).held for fam, prof in profiles)


def test_seed_shifts_dates_but_not_results() -> None:
    a = demo.synthetic_families(seed=7)
    b = demo.synthetic_families(seed=11)
    assert a[0]["assessed_on"] != b[0]["assessed_on"]
    for fa, fb in zip(a, b, strict=True):
        pa, pb = profile(fa), profile(fb)
        assert (pa.tier, pa.urgent, pa.factor_ids, pa.pathways) == \
            (pb.tier, pb.urgent, pb.factor_ids, pb.pathways)


def test_print_screening_demo_shows_scores_profile_and_matches() -> None:
    from rich.console import Console

    console = Console(record=True, width=140)
    demo.print_screening_demo(console)
    out = console.export_text()
    for name in ("Demo Family A", "Demo Family I"):
        assert name in out
    assert "Scores and flags" in out and "epds_total=15" in out
    assert "URGENT" in out and "Matched interventions" in out and "ABC" in out
