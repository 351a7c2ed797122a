"""FHIR R4 and REDCap exports, and item text packs."""

from __future__ import annotations

import csv
import io

import pytest

from attunement.instruments import (
    DefinitionError,
    list_instruments,
    load_instrument,
    load_item_text_pack,
    to_fhir_questionnaire,
    to_fhir_questionnaire_response,
    to_redcap_dictionary,
)
from attunement.instruments.export import ORDINAL_VALUE, REDCAP_COLUMNS, redcap_csv

# the 18 headers of a REDCap data-dictionary CSV, exactly as REDCap writes them
EXPECTED_HEADERS = [
    "Variable / Field Name", "Form Name", "Section Header", "Field Type", "Field Label",
    "Choices, Calculations, OR Slider Labels", "Field Note",
    "Text Validation Type OR Show Slider Number", "Text Validation Min", "Text Validation Max",
    "Identifier?", "Branching Logic (Show field only if...)", "Required Field?",
    "Custom Alignment", "Question Number (surveys only)", "Matrix Group Name", "Matrix Ranking?",
    "Field Annotation",
]


@pytest.mark.parametrize("instrument", [i.id for i in list_instruments()])
def test_fhir_questionnaire_shape(instrument):
    inst = load_instrument(instrument)
    q = to_fhir_questionnaire(instrument)
    assert q["resourceType"] == "Questionnaire" and q["status"] == "active"
    assert q["version"] == inst.version
    assert len(q["item"]) == inst.n_items
    for it, entry in zip(inst.items, q["item"], strict=True):
        assert entry["linkId"] == f"{inst.id}_{it.number}" and entry["type"] == "choice"
        assert len(entry["answerOption"]) == it.n_options
        codes = [o["valueCoding"]["code"] for o in entry["answerOption"]]
        assert codes == [str(p) for p in range(1, it.n_options + 1)]
        ordinals = [o["extension"][0] for o in entry["answerOption"]]
        assert all(e["url"] == ORDINAL_VALUE for e in ordinals)
        assert [round(e["valueDecimal"], 3) for e in ordinals] == [round(s, 3) for s in it.scores]
    if inst.loinc:
        assert q["code"] == [{"system": "http://loinc.org", "code": inst.loinc,
                              "display": inst.name}]
    else:
        assert "code" not in q


def test_fhir_epds_reverse_keyed_item():
    q = to_fhir_questionnaire("epds")
    item3 = q["item"][2]["answerOption"]
    assert [o["extension"][0]["valueDecimal"] for o in item3] == [3, 2, 1, 0]


def test_fhir_questionnaire_response():
    qr = to_fhir_questionnaire_response("epds", [1, 1, 2, 2, 1, 2, 1, 1, 1, None],
                                        subject="Patient/p1", authored="2026-03-01")
    assert qr["resourceType"] == "QuestionnaireResponse"
    assert qr["questionnaire"] == "urn:attunement:questionnaire:epds|1987"
    assert qr["subject"] == {"reference": "Patient/p1"} and qr["authored"] == "2026-03-01"
    assert [i["linkId"] for i in qr["item"]] == [f"epds_{n}" for n in range(1, 10)]
    item3 = qr["item"][2]["answer"][0]["valueCoding"]
    assert item3["code"] == "2"  # score 2 on a reverse-keyed item is printed option 2
    assert item3["extension"][0]["valueDecimal"] == 2
    by_pos = to_fhir_questionnaire_response("epds", [2, 2, 2, 3, 3, 2, 3, 3, 3, 4],
                                            input="positions")
    assert by_pos["item"][3]["answer"][0]["valueCoding"]["extension"][0]["valueDecimal"] == 2


def test_redcap_dictionary_headers_and_rows():
    rows = to_redcap_dictionary("epds")
    text = redcap_csv(rows)
    reader = csv.reader(io.StringIO(text))
    header = next(reader)
    assert header == EXPECTED_HEADERS == REDCAP_COLUMNS
    body = list(csv.DictReader(io.StringIO(text)))
    assert body[0]["Variable / Field Name"] == "record_id" and body[0]["Field Type"] == "text"
    items = [r for r in body if r["Field Type"] == "radio"]
    assert [r["Variable / Field Name"] for r in items] == [f"epds_{n}" for n in range(1, 11)]
    assert items[2]["Choices, Calculations, OR Slider Labels"].startswith("3, ")
    assert {r["Form Name"] for r in body} == {"epds"}
    calc = {r["Variable / Field Name"]: r for r in body if r["Field Type"] == "calc"}
    assert calc["epds_total"]["Choices, Calculations, OR Slider Labels"] == "+".join(
        f"[epds_{n}]" for n in range(1, 11))
    assert calc["epds_anxiety"]["Choices, Calculations, OR Slider Labels"] == \
        "[epds_3]+[epds_4]+[epds_5]"
    assert calc["epds_self_harm"]["Choices, Calculations, OR Slider Labels"] == \
        "if([epds_10]>0,1,0)"


def test_redcap_duplicate_scores_get_distinct_codes():
    rows = {r["Variable / Field Name"]: r for r in to_redcap_dictionary("kpcs")}
    choices = rows["kpcs_1"]["Choices, Calculations, OR Slider Labels"].split(" | ")
    codes = [c.split(",")[0] for c in choices]
    assert len(set(codes)) == len(codes) == 5 and codes[-1] == "p5"
    assert "if([kpcs_1]='p5',2,[kpcs_1])" in rows["kpcs_total"][
        "Choices, Calculations, OR Slider Labels"]


def test_item_text_pack(tmp_path):
    good = tmp_path / "pack.yaml"
    lines = "\n".join(f"      {n}: 'Licensed wording {n}'" for n in range(1, 8))
    good.write_text(f"instruments:\n  gad7:\n    licence: test\n    items:\n{lines}\n")
    pack = load_item_text_pack(good)
    assert pack == {"gad7": {n: f"Licensed wording {n}" for n in range(1, 8)}}
    q = to_fhir_questionnaire("gad7", text_pack=pack["gad7"])
    assert q["item"][0]["text"] == "Licensed wording 1"
    short = tmp_path / "short.yaml"
    short.write_text("instruments:\n  gad7:\n    items: {1: a, 2: b}\n")
    with pytest.raises(DefinitionError) as err:
        load_item_text_pack(short)
    assert err.value.item == 3 and "short.yaml" in str(err.value)
    extra = tmp_path / "extra.yaml"
    extra.write_text("instruments:\n  whooley:\n    items: {1: a, 2: b, 4: c}\n")
    with pytest.raises(DefinitionError, match="has no item 4"):
        load_item_text_pack(extra)
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("instruments:\n  nope:\n    items: {1: a}\n")
    with pytest.raises(DefinitionError, match="unknown instrument 'nope'"):
        load_item_text_pack(unknown)


def test_redcap_fractional_keys_use_position_codes():
    rows = {r["Variable / Field Name"]: r for r in to_redcap_dictionary("mpas")}
    assert rows["mpas_4"]["Choices, Calculations, OR Slider Labels"].startswith("p1, ")
    calc = rows["mpas_quality"]["Choices, Calculations, OR Slider Labels"]
    assert "if([mpas_4]='p2',2.333333," in calc and "[mpas_3]+" in calc
