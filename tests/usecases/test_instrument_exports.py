"""The REDCap and FHIR exports of stored assessments are the instrument library's own."""

from __future__ import annotations

import pandas as pd
import pytest

from attunement.instruments import load_instrument, score_responses, to_redcap_dictionary
from attunement.usecases.instrument_exports import fhir_bundle, redcap_dictionary, redcap_flat

CHOICES = "Choices, Calculations, OR Slider Labels"


def _frame(instrument: str, answers: list[float]) -> pd.DataFrame:
    scored = score_responses(instrument, answers)
    return pd.DataFrame([{
        "family": "FAM-1", "caregiver": "mother", "instrument": instrument,
        "instrument_version": scored.version, "time_point": "6w", "assessment_id": 1,
        **{f"{instrument}_{i}": v for i, v in enumerate(answers, start=1)}, **scored.scores}])


def _codes(choices: str) -> list[str]:
    return [c.split(",", 1)[0].strip() for c in choices.split(" | ")]


def test_kpcs_item_1_has_no_repeated_choice_code() -> None:
    """Defect: the web's own dictionary wrote the keyed score as the code, so KPCS item 1's
    "not applicable" (scored like the third option) repeated code 2 and REDCap refuses it."""
    inst = load_instrument("kpcs")
    answers = [it.scores[0] for it in inst.items]
    d = redcap_dictionary(_frame("kpcs", answers))
    item = d[d["Variable / Field Name"] == "kpcs_1"].iloc[0]
    codes = _codes(item[CHOICES])
    assert len(codes) == 5 and len(set(codes)) == 5, codes
    assert codes[-1] == "p5"


@pytest.mark.parametrize("instrument", ["kpcs", "mpas", "epds", "pbq"])
def test_dictionary_rows_are_the_libraries(instrument: str) -> None:
    inst = load_instrument(instrument)
    answers = [it.scores[-1] for it in inst.items]
    d = redcap_dictionary(_frame(instrument, answers))
    mine = d[d["Form Name"] == instrument].to_dict("records")
    library = to_redcap_dictionary(instrument, record_id=False)
    assert mine[:len(library)] == library
    # every item's codes are unique, and every flat value is one of them
    flat = redcap_flat(_frame(instrument, answers)).iloc[0]
    for it in inst.items:
        col = inst.column(it.number)
        codes = _codes(d[d["Variable / Field Name"] == col].iloc[0][CHOICES])
        assert len(set(codes)) == len(codes), (col, codes)
        value = flat[col]
        text = value if isinstance(value, str) else f"{float(value):g}"
        assert text in codes, (col, value, codes)
    # the flat export's columns are all described
    names = set(d["Variable / Field Name"])
    assert {c for c in flat.index if not c.endswith("_complete")} - names == {
        "redcap_event_name"}


def test_fhir_answers_are_the_library_questionnaire_response() -> None:
    from attunement.instruments import to_fhir_questionnaire_response

    answers = [1, 1, 2, 2, 1, 2, 1, 1, 1, 1]
    resource = fhir_bundle(_frame("epds", answers))["entry"][0]["resource"]
    assert resource["item"] == to_fhir_questionnaire_response("epds", answers)["item"]
    assert resource["subject"] == {"identifier": {"system": "urn:attunement:person",
                                                  "value": "mother"}}
