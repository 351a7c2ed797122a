"""The vulnerability profile on vignettes: every tier, the urgent overlay from each safety item,
each pathway, the seed subgroups, a father or co-parent as the screened caregiver, configuration."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from risk_vignettes import (
    EPDS_E2_ZERO,
    EPDS_E4_TOTAL12,
    EPDS_E5_SELF_HARM_ONLY,
    EPDS_TOTAL13,
    PBQ_B1_ZERO,
    PBQ_IMPAIRED_11,
    PBQ_IMPAIRED_12,
    PHQ9_P1_ZERO,
    PHQ9_P3_ITEM9,
    PHQ9_P4_TOTAL10,
    carer,
    family,
    pbq_with,
)

from attunement.risk import DefinitionError, ProfileConfig, load_definitions, profile

ISSUE_KEYS = ["tier", "urgent", "urgent_reasons", "factors", "cumulative_risk", "pathways"]


def _reasons(prof, factor_id):
    return [f.reason for f in prof.factors if f.id == factor_id]


# ------------------------------------------------------------------------------------------ tiers


def test_universal_when_nothing_is_present() -> None:
    prof = profile(family(caregivers=[carer(responses={"epds": EPDS_E2_ZERO, "pbq": PBQ_B1_ZERO})]))
    assert (prof.tier, prof.urgent, prof.cumulative_risk, prof.pathways) == ("universal", False, 0, [])
    assert prof.factors == [] and prof.screens_positive == []
    assert not [r for r in prof.rules_fired if r.kind == "tier"]


def test_targeted_by_a_screen_alone_with_no_factor() -> None:
    # EPDS E4 total 12: above the >=10 "possible depression" cut-off, below the >=13 factor threshold
    prof = profile(family(caregivers=[carer(responses={"epds": EPDS_E4_TOTAL12})]))
    assert not prof.has("perinatal_depression")
    assert prof.tier == "targeted" and prof.cumulative_risk == 0
    assert [r.id for r in prof.rules_fired if r.kind == "tier"] == ["screen_positive"]
    assert prof.screens_positive[0]["id"] == "epds_possible_depression"


def test_depression_factor_at_the_threshold_with_rule_and_source() -> None:
    prof = profile(family(caregivers=[carer(responses={"epds": EPDS_TOTAL13})]))
    (reason,) = _reasons(prof, "perinatal_depression")
    assert "EPDS total 13 ≥ 13" in reason and "Cox" in reason
    assert prof.tier == "targeted"


def test_phq9_route_to_depression_at_10_not_9() -> None:
    assert profile(family(caregivers=[carer(responses={"phq9": PHQ9_P4_TOTAL10})])).has(
        "perinatal_depression")
    prof = profile(family(caregivers=[carer(responses={"phq9": [2, 2, 1, 1, 1, 1, 1, 0, 0]})]))
    assert not prof.has("perinatal_depression")


def test_specialist_severe_mental_illness() -> None:
    prof = profile(family(caregivers=[carer(context={"severe_mental_illness": True})]))
    assert prof.tier == "specialist"
    assert "parental_illness_addiction_custody" in prof.pathways
    assert any(r.id == "severe_mental_illness" and r.target == "specialist" for r in prof.rules_fired)


def test_specialist_bonding_signal_needs_two_other_factors() -> None:
    two_others = {"domestic_violence": True, "socioeconomic_disadvantage": True}
    prof = profile(family(context=two_others,
                          caregivers=[carer(responses={"pbq": PBQ_IMPAIRED_12})]))
    assert prof.has("bonding_difficulty") and prof.tier == "specialist"
    assert "PBQ impaired bonding 12 ≥ 12" in _reasons(prof, "bonding_difficulty")[0]
    assert "relationship_disorder" in prof.pathways
    one_other = profile(family(context={"domestic_violence": True},
                               caregivers=[carer(responses={"pbq": PBQ_IMPAIRED_12})]))
    assert one_other.tier == "targeted"
    below = profile(family(context=two_others, caregivers=[carer(responses={"pbq": PBQ_IMPAIRED_11})]))
    assert not below.has("bonding_difficulty") and below.tier == "targeted"


def test_rejection_anger_scale_at_13() -> None:
    # scale 2 items 3, 4, 5, 11, 14, 21, 23: 5+5+3 = 13
    prof = profile(family(caregivers=[carer(responses={"pbq": pbq_with(i3=5, i4=5, i5=3)})]))
    assert "PBQ rejection anger 13 ≥ 13" in _reasons(prof, "bonding_difficulty")[0]
    prof = profile(family(caregivers=[carer(responses={"pbq": pbq_with(i3=5, i4=5, i5=2)})]))
    assert not prof.has("bonding_difficulty")


def test_specialist_by_cumulative_count_of_five_not_four() -> None:
    four = {"domestic_violence": True, "socioeconomic_disadvantage": True,
            "stressful_life_events": True, "single_carer": True}
    assert profile(family(context=four)).tier == "targeted"
    prof = profile(family(context=four, caregivers=[carer(context={"substance_misuse": True})]))
    assert prof.cumulative_risk == 5 and prof.tier == "specialist"
    assert any(r.id == "cumulative_risk" for r in prof.rules_fired)


def test_specialist_child_protection_and_prior_removal() -> None:
    assert profile(family(context={"child_protection_involvement": True})).tier == "specialist"
    prof = profile(family(context={"prior_child_removal": True}))
    assert prof.has("child_protection_involvement") and prof.tier == "specialist"
    assert "child_welfare_adversity" in prof.pathways


# --------------------------------------------------------------------------------- urgent overlay


def test_urgent_epds_item_10_even_with_total_1() -> None:
    prof = profile(family(caregivers=[carer(responses={"epds": EPDS_E5_SELF_HARM_ONLY})]))
    assert prof.urgent and prof.tier == "universal"  # independent of tier
    assert "EPDS item 10" in prof.urgent_reasons[0] and "scored 1" in prof.urgent_reasons[0]


def test_urgent_phq9_item_9() -> None:
    prof = profile(family(caregivers=[carer(responses={"phq9": PHQ9_P3_ITEM9})]))
    assert prof.urgent and "PHQ-9 item 9" in prof.urgent_reasons[0]
    assert not profile(family(caregivers=[carer(responses={"phq9": PHQ9_P1_ZERO})])).urgent


@pytest.mark.parametrize("item", [18, 24])
def test_urgent_pbq_items_18_and_24(item: int) -> None:
    prof = profile(family(caregivers=[carer(responses={"pbq": pbq_with(**{f"i{item}": 1})})]))
    assert prof.urgent
    assert len(prof.urgent_reasons) == 1 and f"PBQ item {item}" in prof.urgent_reasons[0]


def test_urgent_recorded_safeguarding_concern() -> None:
    prof = profile(family(context={"safeguarding_concern": True}))
    assert prof.urgent and "safeguarding" in prof.urgent_reasons[0].lower()
    assert prof.tier == "universal"
    assert not profile(family(context={"safeguarding_concern": False})).urgent


def test_unanswered_safety_item_is_urgent_never_taken_as_no() -> None:
    answers = [0] * 9 + [None]
    prof = profile(family(caregivers=[carer(responses={"epds": answers})]))
    assert prof.urgent and "not answered - ask directly" in prof.urgent_reasons[0]
    pbq = pbq_with()
    pbq[17] = None
    assert profile(family(caregivers=[carer(responses={"pbq": pbq})])).urgent


def test_urgent_overlay_cannot_be_configured() -> None:
    with pytest.raises(DefinitionError, match="cannot be configured"):
        profile(family(), config={"urgent": {"rules": []}})


# ------------------------------------------------------------------------------------- pathways


def test_antenatal_risk_pathway() -> None:
    prof = profile(family(infant={"due_date": "2025-09-22"},
                          caregivers=[carer(responses={"epds": EPDS_TOTAL13})]))
    assert prof.infant.stage == "antenatal"
    assert prof.pathways == ["antenatal_risk"]
    assert "early_interaction_concern" not in prof.pathways


def test_early_interaction_concern_pathway() -> None:
    prof = profile(family(caregivers=[carer(responses={"pbq": PBQ_IMPAIRED_12})]))
    assert prof.pathways == ["early_interaction_concern"] and prof.tier == "targeted"


def test_relationship_disorder_pathway_from_clinical_referral() -> None:
    prof = profile(family(context={"clinical_referral": True}))
    assert "relationship_disorder" in prof.pathways


# ---------------------------------------------------------------------- subgroups and caregivers


@pytest.mark.parametrize(("placement", "role"), [("foster", "foster_carer"),
                                                 ("adoptive", "adoptive_parent"),
                                                 ("kinship", "kinship_carer")])
def test_placement_dyads(placement: str, role: str) -> None:
    prof = profile(family(placement=placement, caregivers=[carer("C", role=role, age=45)]))
    assert prof.factor_ids == ["placement"]
    assert f"placement recorded as {placement}" in prof.factors[0].reason
    assert prof.tier == "targeted" and prof.pathways == ["child_welfare_adversity"]


def test_single_carer_family() -> None:
    prof = profile(family(context={"single_carer": True}))
    assert prof.factor_ids == ["single_carer"] and prof.factors[0].caregiver is None
    assert prof.tier == "targeted"


def test_father_is_the_screened_caregiver() -> None:
    fam = family(caregivers=[carer("M", responses={"epds": EPDS_E2_ZERO}),
                             carer("F", role="birth_father", age=32,
                                   responses={"phq9": PHQ9_P4_TOTAL10, "gad7": [2, 2, 2, 2, 1, 1, 0]})])
    prof = profile(fam)
    assert {(f.id, f.caregiver) for f in prof.factors} == {("perinatal_depression", "F"),
                                                          ("perinatal_anxiety", "F")}
    assert prof.tier == "targeted"
    assert "F (birth father)" in prof.explain()


def test_co_parent_self_harm_item_is_urgent() -> None:
    fam = family(caregivers=[carer("M"),
                             carer("P", role="co_parent", responses={"epds": EPDS_E5_SELF_HARM_ONLY})])
    prof = profile(fam)
    assert prof.urgent and prof.urgent_reasons[0].startswith("P (co-parent)")


def test_factor_in_two_caregivers_counts_once_but_both_are_listed() -> None:
    fam = family(caregivers=[carer("M", responses={"epds": EPDS_TOTAL13}),
                             carer("F", role="birth_father", responses={"phq9": PHQ9_P4_TOTAL10})])
    prof = profile(fam)
    assert [(f.id, f.caregiver) for f in prof.factors] == [("perinatal_depression", "M"),
                                                          ("perinatal_depression", "F")]
    assert prof.cumulative_risk == 1


def test_derived_factors_teenage_parent_and_preterm_birth() -> None:
    prof = profile(family(infant={"date_of_birth": "2025-02-24", "gestational_age_at_birth_weeks": 33},
                          caregivers=[carer("M", age=17)]))
    assert set(prof.factor_ids) == {"teenage_parent", "pregnancy_birth_complications"}
    assert "age 17 < 20" in _reasons(prof, "teenage_parent")[0]
    assert "born at 33 weeks" in _reasons(prof, "pregnancy_birth_complications")[0]
    # a 19-year-old foster carer is not a teenage parent
    assert not profile(family(placement="foster", caregivers=[carer("C", role="foster_carer",
                                                                    age=19)])).has("teenage_parent")


def test_ace_and_social_support_thresholds() -> None:
    c4 = [0, 1, 1, 1, 0, 0, 0, 0, 1, 0]  # ACE C4: 4 -> high
    c3 = [1, 0, 0, 0, 0, 1, 0, 1, 0, 0]  # ACE C3: 3
    assert profile(family(caregivers=[carer(responses={"ace": c4})])).has("own_childhood_adversity")
    prof = profile(family(caregivers=[carer(responses={"ace": c3})]))
    assert not prof.has("own_childhood_adversity")
    assert prof.tier == "universal"  # ACE >= 1 is a research grouping, not a screen
    assert profile(family(caregivers=[carer(responses={"osss3": [2, 3, 3]})])).has("low_social_support")
    assert not profile(family(caregivers=[carer(responses={"osss3": [2, 4, 3]})])).has(
        "low_social_support")


# ---------------------------------------------------------------------------------- configuration


def test_service_threshold_changes_the_factor_and_is_traced() -> None:
    fam = family(caregivers=[carer(responses={"epds": EPDS_E4_TOTAL12})])
    assert not profile(fam).has("perinatal_depression")
    prof = profile(fam, config={"name": "Service X", "thresholds": {"perinatal_depression":
                                                                    {"epds_total": 11}}})
    (reason,) = _reasons(prof, "perinatal_depression")
    assert "EPDS total 12 ≥ 11" in reason and "threshold set by Service X" in reason


def test_service_tier_rule_and_yaml_config(tmp_path) -> None:
    path = tmp_path / "service.yaml"
    path.write_text("name: North\ntiers:\n  cumulative_risk: {cumulative_risk_at_least: 2}\n")
    fam = family(context={"single_carer": True, "socioeconomic_disadvantage": True})
    assert profile(fam).tier == "targeted"
    assert profile(fam, config=path).tier == "specialist"
    assert profile(fam, config=ProfileConfig.load(path)).tier == "specialist"


@pytest.mark.parametrize(("config", "message"), [
    ({"thresholds": {"sadness": {"epds_total": 9}}}, "unknown factor 'sadness'"),
    ({"thresholds": {"perinatal_depression": {"gad7_total": 9}}}, "not a threshold of this factor"),
    ({"thresholds": {"perinatal_depression": {"epds_total": "ten"}}}, "expected a number"),
    ({"tiers": {"nope": {"cumulative_risk_at_least": 3}}}, "unknown tier rule"),
    ({"colour": "red"}, "unknown keys"),
])
def test_bad_service_config_is_named(config, message) -> None:
    with pytest.raises(DefinitionError, match=message):
        profile(family(), config=config)


def test_definition_files_are_validated(tmp_path) -> None:
    bad = tmp_path / "factors.yaml"
    bad.write_text("factors:\n  - id: x\n    label: X\n    level: household\n"
                   "    evidence: e\n    determined_by: {recorded: [x]}\n")
    with pytest.raises(DefinitionError, match=r"factors.yaml: factors\[0\]\.level: 'household' is "
                       "not one of: caregiver, family"):
        load_definitions(factors_path=bad)
    tiers = tmp_path / "tiers.yaml"
    tiers.write_text("urgent: {rules: []}\ntiers:\n  - id: specialist\n    label: S\n    rules:\n"
                     "      - {id: r, label: r, source: s, any_factor: [sadness]}\npathways: []\n")
    with pytest.raises(DefinitionError, match=r"tiers.yaml: tiers\[0\]\.rules\[0\]\.any_factor: "
                       r"unknown factor\(s\) \['sadness'\]"):
        load_definitions(tiers_path=tiers)


def test_every_factor_of_the_issue_is_defined_with_evidence() -> None:
    defs = load_definitions()
    wanted = {"perinatal_depression", "perinatal_anxiety", "severe_mental_illness",
              "bonding_difficulty", "own_childhood_adversity", "partner_relationship_difficulty",
              "domestic_violence", "low_social_support", "socioeconomic_disadvantage",
              "substance_misuse", "stressful_life_events", "pregnancy_birth_complications",
              "single_carer", "teenage_parent", "child_protection_involvement", "placement"}
    assert set(defs.factor_ids) == wanted
    assert all(f.evidence and f.level in ("caregiver", "family") for f in defs.factors)
    for f in defs.factors:
        assert f.scores or f.recorded or f.derived
        assert all(s.source for s in f.scores)
    assert {p.id for p in defs.pathways} == {"antenatal_risk", "early_interaction_concern",
                                             "child_welfare_adversity", "relationship_disorder",
                                             "parental_illness_addiction_custody"}


# ------------------------------------------------------------------------------------ outputs


def test_to_dict_has_the_issue_keys_and_is_json() -> None:
    prof = profile(family(context={"single_carer": True},
                          caregivers=[carer(responses={"epds": EPDS_E5_SELF_HARM_ONLY})]))
    d = json.loads(json.dumps(prof.to_dict()))
    assert list(d)[:6] == ISSUE_KEYS
    assert d["factors"][0].keys() >= {"id", "caregiver", "reason"}
    assert d["urgent"] is True and isinstance(d["urgent_reasons"][0], str)
    assert d["caregivers"][0]["scores"]["epds_total"] == 1


def test_explain_and_rich_rendering_name_tier_reasons_and_note() -> None:
    from rich.console import Console

    prof = profile(family(placement="foster", caregivers=[carer("C", role="foster_carer", age=50)]))
    text = prof.explain()
    assert "Tier: TARGETED" in text and "placement recorded as foster" in text
    assert "supports a clinician's decision" in text
    console = Console(record=True, width=120)
    console.print(prof)
    out = console.export_text()
    assert "Tier: Targeted" in out and "Placement away from the birth family" in out


# ------------------------------------------------------------------------------------ properties

CONTEXT = ["domestic_violence", "socioeconomic_disadvantage", "stressful_life_events",
           "single_carer", "child_protection_involvement"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(epds=st.lists(st.one_of(st.none(), st.integers(0, 3)), min_size=10, max_size=10),
       ctx=st.dictionaries(st.sampled_from(CONTEXT), st.booleans()),
       smi=st.booleans())
def test_profile_invariants(epds, ctx, smi) -> None:
    fam = family(context=ctx, caregivers=[carer(context={"severe_mental_illness": smi},
                                                responses={"epds": epds})])
    prof = profile(fam)
    assert prof.cumulative_risk == len(set(prof.factor_ids))
    assert prof.urgent == (epds[9] is None or epds[9] > 0)
    specialist = smi or ctx.get("child_protection_involvement") is True or prof.cumulative_risk >= 5
    assert (prof.tier == "specialist") == specialist
    if prof.tier == "universal":
        assert prof.cumulative_risk == 0 and not prof.screens_positive


def test_service_screen_cutoffs_pass_to_the_scorer_but_safety_rules_do_not() -> None:
    fam = family(caregivers=[carer(responses={"epds": [0, 0, 1, 1, 1, 1, 1, 1, 1, 0]})])  # total 7
    assert profile(fam).tier == "universal"
    prof = profile(fam, config={"screens": {"epds": {"possible_depression": 7}}})
    assert prof.tier == "targeted"
    assert "service threshold" in prof.screens_positive[0]["reason"]
    with pytest.raises(DefinitionError, match="safety rule"):
        profile(fam, config={"screens": {"epds": {"self_harm": 2}}})
    with pytest.raises(DefinitionError, match="unknown threshold"):
        profile(fam, config={"screens": {"epds": {"sadness": 2}}})


def test_profile_change_between_two_time_points() -> None:
    from attunement.risk import profile_change

    before = profile(family(assessed_on="2025-03-03",
                            caregivers=[carer(responses={"epds": EPDS_E2_ZERO})]))
    after = profile(family(caregivers=[carer(responses={"epds": EPDS_TOTAL13})],
                           context={"single_carer": True}))
    change = profile_change(before, after)
    assert change.tier == ("universal", "targeted") and change.cumulative_risk == (0, 2)
    assert [f["id"] for f in change.new_factors] == ["perinatal_depression", "single_carer"]
    assert change.score_changes == [{"caregiver": "M", "column": "epds_total", "from": 0, "to": 13}]
    assert "universal -> targeted" in change.describe()
    back = profile_change(after, profile(family(assessed_on="2025-09-01")))
    assert [f["id"] for f in back.resolved_factors] == ["perinatal_depression", "single_carer"]
    with pytest.raises(ValueError, match="earlier one first"):
        profile_change(after, before)
    with pytest.raises(ValueError, match="different families"):
        profile_change(before, profile(family(family_id="OTHER")))


def test_item_review_flags_are_listed_for_the_clinician_not_counted_as_screens() -> None:
    from attunement.instruments import load_instrument

    maas = load_instrument("maas")
    answers = [int(max(it.scores)) for it in maas.items]
    # Item 19 (feelings if the pregnancy were lost) stays a clinician review; item 12 (urge to hurt
    # the baby) is a harm-to-baby item now, urgent (tests/risk/test_safety.py).
    answers[18] = 1  # item 19 scored 1 (<= 2: review, local policy)
    prof = profile(family(infant={"due_date": "2025-09-22"},
                          caregivers=[carer(responses={"maas": answers})]))
    assert [r["id"] for r in prof.reviews] == ["maas_loss_feelings_review"]
    assert prof.tier == "universal" and not prof.urgent
    assert "For clinician review" in prof.explain()
