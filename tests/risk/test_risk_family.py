"""The family file: JSON Schema validation with field-path errors, YAML/JSON loading, infant timing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from risk_vignettes import carer, family

from attunement.risk import FamilyError, family_schema, infant_timing, load_family, profile
from attunement.risk.family import validate_family

ROOT = Path(__file__).resolve().parents[2]


def _problems(fam: dict) -> dict[str, str]:
    with pytest.raises(FamilyError) as info:
        profile(fam)
    return dict(info.value.problems)


def test_schema_is_draft_2020_12_and_valid() -> None:
    import jsonschema

    schema = family_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_example_family_file_loads() -> None:
    fam = load_family(ROOT / "examples" / "family.json")
    assert fam["family_id"] == "DEMO-EXAMPLE"
    assert profile(ROOT / "examples" / "family.json").family_id == "DEMO-EXAMPLE"


def test_bad_role_names_the_caregiver_field() -> None:
    fam = family(caregivers=[carer("M"), carer("P", role="mother")])
    problems = _problems(fam)
    assert "caregivers[1].role" in problems
    assert "'mother' is not one of" in problems["caregivers[1].role"]
    assert "birth_mother" in problems["caregivers[1].role"]


def test_missing_required_fields_are_named() -> None:
    fam = family()
    del fam["placement"]
    del fam["caregivers"][0]["role"]
    problems = _problems(fam)
    assert problems["placement"] == "is required but missing"
    assert problems["caregivers[0].role"] == "is required but missing"


def test_infant_needs_birth_or_due_date() -> None:
    problems = _problems(family(infant={}))
    assert "date_of_birth or due_date" in problems["infant"]


def test_bad_dates_and_unknown_fields() -> None:
    problems = _problems(family(assessed_on="2025-13-01", nickname="x"))
    assert "not a date" in problems["assessed_on"]
    assert "not a field" in problems["nickname"]


def test_response_values_must_be_integers_or_null() -> None:
    fam = family(caregivers=[carer(responses={"epds": [0, 0, "two", 0, 0, 0, 0, 0, 0, 0]})])
    problems = _problems(fam)
    assert "caregivers[0].responses.epds[2]" in problems
    assert "expected integer or null" in problems["caregivers[0].responses.epds[2]"]


def test_out_of_range_item_is_named_by_instrument_field() -> None:
    fam = family(caregivers=[carer(responses={"epds": [0, 0, 4, 0, 0, 0, 0, 0, 0, 0]})])
    problems = _problems(fam)
    assert list(problems) == ["caregivers[0].responses.epds"]
    assert "epds_3" in problems["caregivers[0].responses.epds"]


def test_wrong_number_of_answers_and_unknown_instrument() -> None:
    problems = _problems(family(caregivers=[carer(responses={"epds": [0, 0, 0]})]))
    assert "10" in problems["caregivers[0].responses.epds"]
    problems = _problems(family(caregivers=[carer(responses={"hads": [0, 0, 0]})]))
    assert "unknown instrument" in problems["caregivers[0].responses.hads"]


def test_duplicate_ids_and_impossible_dates() -> None:
    problems = _problems(family(caregivers=[carer("M"), carer("M", role="birth_father")]))
    assert "more than one caregiver" in problems["caregivers[1].id"]
    problems = _problems(family(infant={"date_of_birth": "2025-07-01"}))
    assert "after assessed_on" in problems["infant.date_of_birth"]
    problems = _problems(family(infant={"due_date": "2025-01-01"}))
    assert "date_of_birth instead" in problems["infant.due_date"]


def test_context_keys_are_checked_against_the_factor_definitions() -> None:
    fam = family(context={"poverty": True})
    assert "unknown recorded answer" in _problems(fam)["context.poverty"]
    fam = family(caregivers=[carer(context={"single_carer": True})])
    assert "family-level answer" in _problems(fam)["caregivers[0].context.single_carer"]
    fam = family(context={"severe_mental_illness": True})
    assert "caregiver-level answer" in _problems(fam)["context.severe_mental_illness"]
    assert "expected boolean" in _problems(family(context={"single_carer": "yes"}))[
        "context.single_carer"]


def test_error_message_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "fam.json"
    fam = family(placement="orphanage")
    path.write_text(json.dumps(fam))
    with pytest.raises(FamilyError) as info:
        load_family(path)
    assert str(path) in str(info.value)
    assert "placement" in str(info.value)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(FamilyError, match="not valid JSON"):
        load_family(bad)
    with pytest.raises(FamilyError, match="file not found"):
        load_family(tmp_path / "missing.yaml")


def test_yaml_family_file_with_native_dates(tmp_path: Path) -> None:
    path = tmp_path / "fam.yaml"
    path.write_text(
        "family_id: Y1\nassessed_on: 2025-06-02\ninfant: {date_of_birth: 2025-02-24}\n"
        "placement: kinship\ncaregivers:\n  - {id: K, role: kinship_carer, age: 61}\n"
    )
    fam = load_family(path)
    assert fam["assessed_on"] == "2025-06-02"
    assert profile(path).has("placement")


def test_validation_does_not_mutate_the_input() -> None:
    fam = family()
    before = json.dumps(fam, sort_keys=True)
    validate_family(fam)
    assert json.dumps(fam, sort_keys=True) == before


def test_infant_timing_antenatal_and_postnatal() -> None:
    # due 16 weeks after the assessment -> 24+0 weeks' gestation
    t = infant_timing(family(assessed_on="2025-06-02", infant={"due_date": "2025-09-22"}))
    assert (t.stage, t.gestation_days, t.gestation_weeks) == ("antenatal", 168, 24.0)
    assert t.days_from_birth == -112
    # born 2025-02-24, assessed 2025-06-02: 98 days, 3 completed months
    t = infant_timing(family())
    assert (t.stage, t.age_days, t.age_months) == ("postnatal", 98, 3)
    # born 2025-03-03: on 2025-06-02 the 3rd of the month is not yet reached -> 2 completed months
    t = infant_timing(family(infant={"date_of_birth": "2025-03-03"}))
    assert t.age_months == 2
    # preterm at 32 weeks: 8 weeks' correction
    t = infant_timing(family(infant={"date_of_birth": "2025-02-24",
                                     "gestational_age_at_birth_weeks": 32}))
    assert t.corrected_age_months == 1


def test_form_variants_are_passed_to_the_scorer_and_checked() -> None:
    pbq = [0] * 25
    pbq[17] = 1  # item 18: same number on the 2001 and 2006 forms
    fam = family(caregivers=[carer(variants={"pbq": ["order_2001"]}, responses={"pbq": pbq})])
    prof = profile(fam)
    assert prof.caregivers[0].scores["pbq_incipient_abuse"] == 1 and prof.urgent
    problems = _problems(family(caregivers=[carer(variants={"pbq": ["order_1999"]},
                                                  responses={"pbq": pbq})]))
    assert "unknown variant 'order_1999'" in problems["caregivers[0].responses.pbq"]
    problems = _problems(family(caregivers=[carer(variants={"epds": ["x"]})]))
    assert "no responses" in problems["caregivers[0].variants.epds"]


def test_numpy_values_from_a_notebook_are_accepted() -> None:
    import numpy as np

    fam = family(caregivers=[carer(age=np.int64(30),
                                   responses={"epds": np.array([1, 1, 2, 2, 1, 2, 1, 2, 1, 0])})])
    assert profile(fam).factor_ids == ["perinatal_depression"]
