"""Clinical safety of the screening pathway: each hazard in docs/clinical-safety.md has a test here.

Synthetic families only. Item-score vectors: tests/risk/risk_vignettes.py.
"""

from __future__ import annotations

import json

import pytest
from risk_vignettes import (
    EPDS_E4_TOTAL12,
    EPDS_E5_SELF_HARM_ONLY,
    EPDS_TOTAL13,
    carer,
    family,
    pbq_with,
)

from attunement.risk import DefinitionError, FamilyError, infant_timing, load_definitions, profile

EPDS_TOTAL9 = [1, 1, 1, 1, 1, 1, 1, 1, 1, 0]
EPDS_TOTAL10 = [1, 1, 2, 1, 1, 1, 1, 1, 1, 0]


def _maas(item12: int) -> list[int]:
    from attunement.instruments import load_instrument

    answers = [int(max(it.scores)) for it in load_instrument("maas").items]
    answers[11] = item12
    return answers


def _routes(prof, caregiver="M"):
    return {t.route: t for t in prof.treatment if t.caregiver == caregiver}


def _prompts(prof, caregiver="M"):
    return {p.id: p for p in prof.prompts if p.caregiver == caregiver}


# ------------------------------------------------------------------------------ urgency levels


def test_h01_self_harm_item_is_same_day_urgent_with_gp_route_and_crisis_contacts() -> None:
    prof = profile(family(caregivers=[carer(responses={"epds": EPDS_E5_SELF_HARM_ONLY})]))
    assert prof.urgent and prof.urgency == "same_day"
    assert not prof.safety_review_completed
    gp = _routes(prof)["gp"]
    assert gp.urgency == "same_day" and "today" in gp.reason
    text = prof.explain()
    assert "Samaritans" in text and "116 123" in text
    assert "matching to programmes is held" in text


def test_h02_suspected_psychosis_is_an_emergency_with_crisis_team_first() -> None:
    fam = family(caregivers=[carer(context={"suspected_psychosis": True},
                                   responses={"epds": EPDS_E5_SELF_HARM_ONLY})])
    prof = profile(fam)
    assert prof.urgent and prof.urgency == "emergency"
    assert prof.urgent_details[0]["kind"] == "suspected_psychosis"  # emergencies first
    assert "Suspected psychosis" in prof.urgent_reasons[0]
    assert prof.treatment[0].route == "crisis_team" and prof.treatment[0].urgency == "emergency"
    assert "4 hours" in prof.treatment[0].source
    assert prof.tier == "specialist"
    first = prof.explain().splitlines()[0]
    assert first.startswith("EMERGENCY") and "within 4 hours" in first and "999" in first


def test_h03_harm_intent_in_the_family_context_is_an_emergency() -> None:
    prof = profile(family(context={"harm_intent": True}))
    assert prof.urgency == "emergency" and prof.urgent
    assert prof.urgent_details[0]["caregiver"] is None
    assert any(t.route == "crisis_team" and t.caregiver is None for t in prof.treatment)


def test_h04_safety_review_is_recorded_per_urgent_caregiver_or_for_the_family() -> None:
    urgent_m = carer("M", responses={"epds": EPDS_E5_SELF_HARM_ONLY})
    # the review recorded for the urgent caregiver
    prof = profile(family(caregivers=[{**urgent_m, "context": {"safety_review_completed": True}},
                                      carer("F", role="birth_father")]))
    assert prof.urgent and prof.safety_review_completed
    # recorded only for the other caregiver: not done
    prof = profile(family(caregivers=[urgent_m, carer("F", role="birth_father",
                                                      context={"safety_review_completed": True})]))
    assert prof.urgent and not prof.safety_review_completed
    # recorded for the family: done
    prof = profile(family(context={"safety_review_completed": True}, caregivers=[urgent_m]))
    assert prof.safety_review_completed
    # a family-level concern needs the family's record, not a caregiver's
    prof = profile(family(context={"safeguarding_concern": True},
                          caregivers=[carer(context={"safety_review_completed": True})]))
    assert prof.urgent and not prof.safety_review_completed


def test_h05_the_vocabulary_is_one_list_and_is_validated() -> None:
    from attunement.vocabulary import VocabularyError, load_vocabulary, parse_vocabulary

    v = load_vocabulary()
    assert {"safety", "safety_unanswered", "harm_to_baby", "review", "cutoff",
            "safeguarding_concern", "suspected_psychosis", "harm_intent"} <= set(v.kind_ids)
    for k in v.kinds:
        assert not k.emergency or k.urgent
    # the store's and web's old lists disagreed on an unanswered safety item: the vocabulary says
    assert v.is_urgent([{"id": "epds_self_harm_unanswered", "kind": "safety_unanswered"}])
    assert v.shows_crisis_contacts([{"id": "epds_self_harm", "kind": "safety"}])
    assert not v.is_urgent([{"id": "epds_possible_depression", "kind": "cutoff"}])
    doc = json.loads(json.dumps({
        "urgency": [{"id": lv.id, "label": lv.label, "action": lv.action, "source": lv.source}
                    for lv in v.levels],
        "flag_kinds": [{"id": "x", "label": "X", "urgent": False, "emergency": True, "alert": True,
                        "show_crisis_contacts": False}],
        "crisis_contacts": {"source": "s", "contacts": [{"name": "A", "phone": "1"}]}}))
    bad = {**doc, "urgency": [{"id": "none", "label": "x"}]}
    with pytest.raises(VocabularyError, match=r"v\.yaml: urgency: urgency must list exactly"):
        parse_vocabulary(bad, "v.yaml")
    with pytest.raises(VocabularyError, match=r"v\.yaml: flag_kinds\[0\]: flag kind 'x': an emergency kind must also"):
        parse_vocabulary(doc, "v.yaml")


def test_h06_crisis_contacts_are_data_a_service_replaces(tmp_path) -> None:
    from attunement.vocabulary import VocabularyError, load_vocabulary

    v = load_vocabulary()
    assert v.contacts()[0]["phone"] == "999" and "nhs.uk" in v.crisis_contacts_source
    good = tmp_path / "contacts.yaml"
    good.write_text("- {name: Anytown crisis line, phone: '01234 000000'}\n")
    assert v.with_crisis_contacts(good).contacts() == [
        {"name": "Anytown crisis line", "phone": "01234 000000", "note": ""}]
    bad = tmp_path / "bad.yaml"
    bad.write_text("- {name: Anytown crisis line}\n")
    with pytest.raises(VocabularyError, match=r"bad.yaml: \[0\]\.phone: is required but missing"):
        v.with_crisis_contacts(bad)


def test_h06b_a_service_config_sets_the_crisis_contacts_the_profile_shows(tmp_path) -> None:
    (tmp_path / "contacts.yaml").write_text(
        "source: Anytown NHS Trust\ncontacts:\n  - {name: Anytown crisis line, phone: '01234 000000'}\n")
    cfg = tmp_path / "service.yaml"
    cfg.write_text("crisis_contacts: contacts.yaml\n")
    fam = family(caregivers=[carer(responses={"epds": EPDS_E5_SELF_HARM_ONLY})])
    prof = profile(fam, config=cfg)
    assert prof.to_dict()["crisis_contacts"] == [
        {"name": "Anytown crisis line", "phone": "01234 000000", "note": ""}]
    assert "Anytown crisis line 01234 000000" in prof.explain()
    assert "Samaritans" in profile(fam).explain()
    assert profile(family()).to_dict()["crisis_contacts"] == []
    with pytest.raises(DefinitionError, match=r"svc: crisis_contacts: .*\[0\]\.phone: is required"):
        profile(fam, config={"name": "svc", "crisis_contacts": [{"name": "x"}]})


# ------------------------------------------------------------------------------ harm to the baby


@pytest.mark.parametrize("instrument,answers,flag", [
    ("pbq", pbq_with(i18=1), "pbq_harm_review"),
    ("pbq", pbq_with(i24=2), "pbq_harm_review"),
    ("maas", _maas(1), "maas_harm_urge_review"),
])
def test_h07_any_harm_item_is_urgent_and_specialist_whatever_the_instrument(instrument, answers,
                                                                            flag) -> None:
    fam = family(caregivers=[carer(responses={instrument: answers})])
    if instrument == "maas":
        fam["infant"] = {"due_date": "2025-09-22"}
    prof = profile(fam)
    assert prof.urgent and prof.urgency == "same_day"
    assert [u["kind"] for u in prof.urgent_details] == ["harm_to_baby"]
    assert prof.urgent_details[0]["id"] == flag
    assert prof.tier == "specialist"
    assert any(r.id == "harm_to_baby" and r.target == "specialist" for r in prof.rules_fired)
    assert _routes(prof)["gp"].urgency == "same_day"
    guidance = _prompts(prof)["harm_thoughts_guidance"].text
    assert "intrusive thoughts" in guidance and "obsessive-compulsive" in guidance
    assert "intent" in guidance
    # the profile's own words (the PBQ scale's name in the instrument file is not ours to change)
    ours = " ".join(prof.urgent_reasons + [p.text for p in prof.prompts])
    assert "incipient" not in ours.lower() and "harm towards the baby" in ours


def test_h07b_harm_item_not_asked_is_not_harm() -> None:
    prof = profile(family(caregivers=[carer(responses={"pbq": pbq_with()})]))
    assert not prof.urgent and prof.tier == "universal"
    # unanswered harm item: ask directly (urgent), never taken as "no"
    answers = pbq_with()
    answers[17] = None
    prof = profile(family(caregivers=[carer(responses={"pbq": answers})]))
    assert prof.urgent and prof.urgent_details[0]["kind"] == "safety_unanswered"


# ------------------------------------------------------------------------------ treatment routes


def test_h08_depression_routes_to_gp_and_talking_therapies_not_only_programmes() -> None:
    prof = profile(family(caregivers=[carer(responses={"epds": EPDS_TOTAL13})]))
    routes = _routes(prof)
    assert set(routes) == {"gp", "talking_therapies"}
    assert "NICE CG192" in routes["talking_therapies"].source
    assert routes["talking_therapies"].urgency == "routine"


@pytest.mark.parametrize("where,key,route", [
    ("caregiver", "severe_mental_illness", "perinatal_mental_health_team"),
    ("caregiver", "previous_postpartum_psychosis", "perinatal_mental_health_team"),
    ("caregiver", "psychiatric_mother_baby_unit", "perinatal_mental_health_team"),
    ("caregiver", "substance_misuse", "substance_use_service"),
    ("family", "domestic_violence", "domestic_abuse_service"),
])
def test_h09_each_route_fires_on_its_rule(where, key, route) -> None:
    if where == "family":
        prof = profile(family(context={key: True}))
        hits = [t for t in prof.treatment if t.route == route]
        assert hits and hits[0].caregiver is None
    else:
        prof = profile(family(caregivers=[carer(context={key: True})]))
        assert route in _routes(prof)
    t = next(t for t in prof.treatment if t.route == route)
    assert t.label and t.contact and t.source


def test_h10_psychiatric_mother_baby_unit_is_specialist_tier() -> None:
    prof = profile(family(caregivers=[carer(context={"psychiatric_mother_baby_unit": True})]))
    assert prof.tier == "specialist"
    assert any(r.id == "acute_mental_illness" for r in prof.rules_fired)


def test_h11_domestic_abuse_prompts_seeing_the_caregiver_alone() -> None:
    prof = profile(family(context={"domestic_violence": True}))
    (p,) = [p for p in prof.prompts if p.id == "domestic_abuse_ask_alone"]
    assert "alone" in p.text and "couples" in p.text and "NICE PH50" in p.source
    assert prof.factors[0].label == "Domestic abuse"


def test_h12_a_service_sets_local_route_names_and_contacts_only() -> None:
    cfg = {"name": "anytown.yaml",
           "routes": {"talking_therapies": {"label": "Anytown Talking Therapies",
                                            "contact": "01234 567890"}}}
    prof = profile(family(caregivers=[carer(responses={"epds": EPDS_TOTAL13})]), config=cfg)
    t = _routes(prof)["talking_therapies"]
    assert (t.label, t.contact) == ("Anytown Talking Therapies", "01234 567890")
    assert "NICE CG192" in t.source
    with pytest.raises(DefinitionError, match=r"anytown\.yaml: routes: unknown route 'therapy'"):
        profile(family(), config={"name": "anytown.yaml", "routes": {"therapy": {"label": "x"}}})
    with pytest.raises(DefinitionError, match=r"routes\.gp\.when: a service sets only"):
        profile(family(), config={"routes": {"gp": {"when": []}}})


def test_h13_route_definitions_are_validated(tmp_path) -> None:
    bad = tmp_path / "routes.yaml"
    bad.write_text("routes:\n  - {id: x, label: X, contact: c, source: s,"
                   " when: [{urgency: routine, factors_any: [sadness]}]}\n")
    with pytest.raises(DefinitionError, match=r"routes.yaml: routes\[0\]\.when\[0\]\.factors_any: unknown factor"):
        load_definitions(routes_path=bad)


# ------------------------------------------------------------------------------ prompts


def test_h14_borderline_epds_prompts_a_repeat_in_two_weeks() -> None:
    prof = profile(family(caregivers=[carer(responses={"epds": EPDS_E4_TOTAL12})]))
    p = _prompts(prof)["epds_repeat_borderline"]
    assert "EPDS 12 is borderline (10 to 12)" in p.text and "2 weeks" in p.text
    assert "Cox" in p.source
    assert not prof.has("perinatal_depression")
    for answers in (EPDS_TOTAL9, EPDS_TOTAL13):
        prof = profile(family(caregivers=[carer(responses={"epds": answers})]))
        assert "epds_repeat_borderline" not in _prompts(prof)


def test_h15_a_caregiver_under_18_is_a_child_with_safeguarding_and_consent_needs() -> None:
    prof = profile(family(caregivers=[carer(age=16)]))
    p = _prompts(prof)["caregiver_under_18"]
    assert "16" in p.text and "safeguarding" in p.text and "consent" in p.text
    assert "Working Together" in p.source
    assert "caregiver_under_18" not in _prompts(profile(family(caregivers=[carer(age=18)])))


def test_h16_booking_questions_not_yet_asked_are_prompted() -> None:
    prof = profile(family())
    p = _prompts(prof)["booking_mental_health_questions"]
    assert "previous postpartum psychosis" in p.text and "family history" in p.text
    assert "NICE CG192" in p.source
    answered = {"past_severe_mental_illness": False, "previous_postpartum_psychosis": False,
                "family_history_perinatal_mental_illness": False}
    prof = profile(family(caregivers=[carer(context=answered)]))
    assert "booking_mental_health_questions" not in _prompts(prof)
    prof = profile(family(caregivers=[carer(context={"past_severe_mental_illness": False})]))
    text = _prompts(prof)["booking_mental_health_questions"].text
    assert "past or present" not in text and "previous postpartum psychosis" in text


# ------------------------------------------------------------------------------ cut-offs by caregiver


def test_h17_fathers_and_co_parents_use_the_fathers_epds_cut_off() -> None:
    for role in ("birth_father", "co_parent"):
        prof = profile(family(caregivers=[carer("F", role=role, responses={"epds": EPDS_TOTAL10})]))
        assert prof.has("perinatal_depression"), role
        assert "Edmondson" in prof.factors[0].reason and "≥ 10" in prof.factors[0].reason
    prof = profile(family(caregivers=[carer("F", role="birth_father",
                                            responses={"epds": EPDS_TOTAL9})]))
    assert not prof.has("perinatal_depression")
    # the mothers' cut-off is unchanged
    prof = profile(family(caregivers=[carer(responses={"epds": EPDS_E4_TOTAL12})]))
    assert not prof.has("perinatal_depression")


def test_h18_antenatal_epds_cut_off_is_cited_with_its_conflict() -> None:
    prof = profile(family(infant={"due_date": "2025-09-22"},
                          caregivers=[carer(responses={"epds": EPDS_TOTAL13})]))
    reason = prof.factors[0].reason
    assert "Murray & Cox 1990" in reason and "[conflict]" in reason


def test_h19_a_carer_who_is_not_a_parent_has_depression_not_perinatal_depression() -> None:
    prof = profile(family(placement="foster", caregivers=[
        carer("C", role="foster_carer", age=45, responses={"epds": EPDS_TOTAL13})]))
    assert [f.label for f in prof.factors if f.id == "perinatal_depression"] == ["Depression"]
    prof = profile(family(caregivers=[carer(responses={"epds": EPDS_TOTAL13})]))
    assert prof.factors[0].label == "Perinatal depression"


# ------------------------------------------------------------------------------ birth and infant


def test_h20_prematurity_is_graded() -> None:
    def fam(ga, **ctx):
        return family(infant={"date_of_birth": "2025-02-24", "gestational_age_at_birth_weeks": ga},
                      context=ctx)
    assert profile(fam(30)).has("pregnancy_birth_complications")
    late = profile(fam(35))
    assert not late.has("pregnancy_birth_complications") and late.tier == "universal"
    assert profile(fam(35, neonatal_unit_admission=True)).has("pregnancy_birth_complications")
    # "preterm" recorded without the gestation: not a factor, but a prompt to record it
    prof = profile(family(context={"preterm_birth": True}))
    assert not prof.has("pregnancy_birth_complications")
    assert any(p.id == "preterm_gestation_missing" for p in prof.prompts)


def test_h21_corrected_age_for_preterm_infants_up_to_two_years() -> None:
    from attunement.risk import corrected_age

    # born at 28 weeks: 12 weeks (84 days) early; corrected birth date 2025-03-26
    a = corrected_age("2025-01-01", "2025-07-01", 28)
    assert a.corrected and a.days == 97 and a.months == 3
    assert corrected_age("2025-01-01", "2025-07-01").months == 6
    assert not corrected_age("2025-01-01", "2025-07-01", 38).corrected  # term: no correction
    assert not corrected_age("2023-01-01", "2025-01-02", 28).corrected  # past 2 years
    assert corrected_age("2025-01-01", "2025-02-01", 28).days == 0  # before the corrected date
    t = infant_timing(family(infant={"date_of_birth": "2025-02-24",
                                     "gestational_age_at_birth_weeks": 38}))
    assert t.corrected_age_months is None


def test_h22_twins_and_more_are_one_family() -> None:
    twins = [{"id": "T1", "date_of_birth": "2025-02-24", "gestational_age_at_birth_weeks": 33},
             {"id": "T2", "date_of_birth": "2025-02-24", "gestational_age_at_birth_weeks": 33}]
    fam = family(infants=twins)
    del fam["infant"]
    prof = profile(fam)
    assert len(prof.infants) == 2 and prof.infant.count == 2
    assert "twins" in prof.explain()
    assert prof.has("pregnancy_birth_complications")
    assert len(prof.to_dict()["infants"]) == 2
    with pytest.raises(FamilyError, match="infants: give infant or infants, not both"):
        profile(family(infants=twins))
    fam["infants"][1] = {**twins[1], "date_of_birth": "2025-02-25"}
    with pytest.raises(FamilyError, match=r"infants\[1\].date_of_birth"):
        profile(fam)


# ------------------------------------------------------------------------------ wording


def test_h23_wording_is_plain_and_not_stigmatising() -> None:
    from attunement.vocabulary import load_vocabulary

    defs = load_definitions()
    labels = [f.label for f in defs.factors] + [c.label for c in defs.context_items]
    labels += [k.label for k in load_vocabulary().kinds]
    # what the instruments show a clinician: scale, cut-off and safety-item labels
    from attunement.instruments import load_instrument

    for name in ("pbq", "maas", "mpas", "epds", "phq9"):
        d = load_instrument(name)
        labels += [s.label for s in d.scales] + [c.label for c in d.cutoffs]
        labels += [s.label for s in d.safety]
    text = " ".join(labels).lower()
    for word in ("violence", "incipient", "teenage", "misuse", "abuser"):
        assert word not in text, word
    one = profile(family(infant={"date_of_birth": "2025-05-01"}))
    assert "1 completed month (" in one.explain() and "1 completed months" not in one.explain()
    young = profile(family(caregivers=[carer(age=17)]))
    assert "at the assessment on 2025-06-02" in young.factors[0].reason


def test_h24_every_tier_rule_is_cited_or_marked_local_policy() -> None:
    for tier in load_definitions().tiers:
        for rule in tier.rules:
            assert rule.source, rule.id
    rules = {r.id: r for t in load_definitions().tiers for r in t.rules}
    assert "local policy" in rules["cumulative_risk"].source
    assert "local policy" in rules["bonding_with_other_factors"].source


def test_h25_new_recorded_answers_are_accepted_at_their_level() -> None:
    fam = family(context={"safety_review_completed": True, "suspected_psychosis": False},
                 caregivers=[carer(context={"safety_review_completed": True, "harm_intent": False})])
    assert profile(fam).urgency == "none"
    with pytest.raises(FamilyError, match="is a caregiver-level answer"):
        profile(family(context={"previous_postpartum_psychosis": True}))


def test_h26_json_keeps_its_keys_and_adds_the_safety_ones() -> None:
    prof = profile(family(caregivers=[carer(responses={"epds": EPDS_E5_SELF_HARM_ONLY})]))
    d = json.loads(json.dumps(prof.to_dict()))
    assert list(d)[:6] == ["tier", "urgent", "urgent_reasons", "factors", "cumulative_risk",
                           "pathways"]
    assert d["urgency"] == "same_day" and d["safety_review_completed"] is False
    assert d["treatment"][0] == {**d["treatment"][0], "caregiver": "M", "route": "gp"}
    assert {"id", "caregiver", "text", "source"} <= set(d["prompts"][0])


def test_h07c_every_harm_flag_in_the_vocabulary_is_a_real_instrument_safety_rule() -> None:
    # a misspelt flag id would silently switch the harm rule off for that instrument
    from attunement.instruments import load_instrument
    from attunement.vocabulary import load_vocabulary

    harm = load_vocabulary().kind("harm_to_baby")
    assert set(harm.flags) == {"pbq_harm_review", "maas_harm_urge_review"}
    for flag in harm.flags:
        inst_id, _, rule_id = flag.partition("_")
        assert rule_id in {r.id for r in load_instrument(inst_id).safety}, flag


# ------------------------------------------------------------------------------ properties

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

CG_KEYS = ["suspected_psychosis", "harm_intent", "safety_review_completed",
           "psychiatric_mother_baby_unit"]
FAM_KEYS = ["safeguarding_concern", "safety_review_completed", "domestic_violence"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(epds=st.lists(st.one_of(st.none(), st.integers(0, 3)), min_size=10, max_size=10),
       pbq18=st.one_of(st.none(), st.integers(0, 5)),
       cg_ctx=st.dictionaries(st.sampled_from(CG_KEYS), st.booleans()),
       fam_ctx=st.dictionaries(st.sampled_from(FAM_KEYS), st.booleans()),
       role=st.sampled_from(["birth_mother", "birth_father", "foster_carer"]))
def test_safety_invariants(epds, pbq18, cg_ctx, fam_ctx, role) -> None:
    pbq = pbq_with()
    pbq[17] = pbq18
    prof = profile(family(context=fam_ctx, caregivers=[
        carer("C", role=role, context=cg_ctx, responses={"epds": epds, "pbq": pbq})]))
    emergency = cg_ctx.get("suspected_psychosis") is True or cg_ctx.get("harm_intent") is True
    same_day = (epds[9] is None or epds[9] > 0 or pbq18 is None or pbq18 > 0
                or fam_ctx.get("safeguarding_concern") is True)
    assert prof.urgency == ("emergency" if emergency else "same_day" if same_day else "none")
    assert prof.urgent == (prof.urgency != "none")
    kinds = [u["kind"] for u in prof.urgent_details]
    # emergencies are listed first
    assert [load_kind(k).emergency for k in kinds] == sorted(
        [load_kind(k).emergency for k in kinds], reverse=True)
    if {"safety", "harm_to_baby"} & set(kinds) or emergency:
        # a positive self-harm or harm-to-baby answer routes the caregiver the same day or sooner
        assert prof.treatment and prof.treatment[0].urgency in ("emergency", "same_day")
    if emergency:
        assert prof.tier == "specialist" and prof.treatment[0].route == "crisis_team"
    if pbq18 is not None and pbq18 > 0:
        assert prof.tier == "specialist"
    if fam_ctx.get("safety_review_completed") is not True and \
            cg_ctx.get("safety_review_completed") is not True:
        assert not prof.safety_review_completed
    family_level = fam_ctx.get("safeguarding_concern") is True
    if prof.urgent and family_level and fam_ctx.get("safety_review_completed") is not True:
        assert not prof.safety_review_completed


def load_kind(kind_id: str):
    from attunement.vocabulary import load_vocabulary

    return load_vocabulary().kind(kind_id)


def test_h29_a_change_between_time_points_reports_the_urgency_level() -> None:
    from attunement.risk import profile_change

    before = profile(family(assessed_on="2025-06-02"))
    after = profile(family(assessed_on="2025-06-20",
                           caregivers=[carer(context={"suspected_psychosis": True})]))
    change = profile_change(before, after)
    assert change.urgency == ("none", "emergency")
    assert "urgency none -> emergency" in change.describe()
    assert change.to_dict()["urgency"] == ["none", "emergency"]


def test_h30_a_service_threshold_by_column_leaves_the_fathers_cut_off_alone() -> None:
    cfg = {"name": "svc", "thresholds": {"perinatal_depression": {"epds_total": 11}}}
    dad = family(caregivers=[carer("F", role="birth_father", responses={"epds": EPDS_TOTAL10})])
    assert profile(dad, config=cfg).has("perinatal_depression")
    mum = family(caregivers=[carer(responses={"epds": [1, 1, 2, 1, 1, 2, 1, 1, 1, 0]})])  # 11
    assert profile(mum, config=cfg).has("perinatal_depression")
    both = {"name": "svc", "thresholds": {"perinatal_depression": {"epds_fathers": 12}}}
    prof = profile(dad, config=both)
    assert not prof.has("perinatal_depression")
