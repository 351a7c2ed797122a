"""Export formats (REDCap flat + dictionary, FHIR bundle) and the server-side SVG chart."""

from __future__ import annotations

import io
import json

import pandas as pd

from attunement.instruments import score_responses
from attunement.usecases.instrument_exports import (
    DICTIONARY_COLUMNS,
    event_name,
    fhir_bundle,
    redcap_dictionary,
    redcap_flat,
)
from attunement.web.charts import Cutoff, score_chart
from attunement.web.downloads import response


def _frame() -> pd.DataFrame:
    rows = []
    for n, (caregiver, tp, instrument, answers) in enumerate([
        ("mother", "antenatal", "epds", [1, 1, 2, 2, 1, 2, 1, 1, 1, 1]),
        ("mother", "antenatal", "phq9", [0, 1, 0, 1, 0, 0, 0, 0, 0]),
        ("mother", "3 months", "epds", [0] * 10),
        ("father", "antenatal", "epds", [0, 0, 1, 1, 0, 0, 0, 0, 0, 0]),
    ], start=1):
        scored = score_responses(instrument, answers)
        rec = {"family": "FAM-1", "caregiver": caregiver, "instrument": instrument,
               "instrument_version": scored.version, "time_point": tp, "assessment_id": n,
               **{f"{instrument}_{i}": v for i, v in enumerate(answers, start=1)},
               **scored.scores}
        rows.append(rec)
    return pd.DataFrame(rows)


def test_redcap_dictionary_has_the_18_exact_headers() -> None:
    d = redcap_dictionary(_frame())
    assert list(d.columns) == DICTIONARY_COLUMNS and len(DICTIONARY_COLUMNS) == 18
    assert d.iloc[0]["Variable / Field Name"] == "record_id"
    assert d.iloc[0]["Field Type"] == "text"
    item = d[d["Variable / Field Name"] == "epds_10"].iloc[0]
    assert item["Form Name"] == "epds" and item["Field Type"] == "radio"
    codes = [c.split(",")[0].strip() for c in
             item["Choices, Calculations, OR Slider Labels"].split("|")]
    assert sorted(codes) == ["0", "1", "2", "3"]
    # the safety item is read by the instrument's safety rule, a calc field of the dictionary
    rule = d[d["Variable / Field Name"] == "epds_self_harm"].iloc[0]
    assert rule["Field Type"] == "calc"
    assert "[epds_10]" in rule["Choices, Calculations, OR Slider Labels"]
    forms = list(dict.fromkeys(d["Form Name"]))
    assert forms == ["record", "epds", "phq9"]  # each form's rows contiguous, in order
    total = d[d["Variable / Field Name"] == "epds_total"].iloc[0]
    assert "range 0–30" in total["Field Note"]


def test_redcap_flat_layout() -> None:
    flat = redcap_flat(_frame())
    assert list(flat.columns[:2]) == ["record_id", "redcap_event_name"]
    assert flat.columns[2] == "epds_1"
    epds_cols = [c for c in flat.columns if c.startswith("epds_")]
    assert epds_cols[-1] == "epds_complete" and list(flat.columns).index("phq9_1") > \
        list(flat.columns).index("epds_complete")
    assert len(flat) == 3  # mother antenatal, mother 3 months, father antenatal
    mother = flat[(flat.record_id == "FAM-1-mother")
                  & (flat.redcap_event_name == "antenatal_arm_1")].iloc[0]
    assert mother["epds_total"] == 13 and mother["phq9_total"] == 2
    assert mother["epds_complete"] == 2 and mother["phq9_complete"] == 2
    later = flat[flat.redcap_event_name == "3_months_arm_1"].iloc[0]
    assert pd.isna(later["phq9_1"]) and pd.isna(later["phq9_complete"])
    # every column of the flat export is described by the dictionary
    names = set(redcap_dictionary(_frame())["Variable / Field Name"])
    assert {c for c in flat.columns if not c.endswith("_complete")} - names == {
        "redcap_event_name"}


def test_event_names() -> None:
    assert event_name("3 months") == "3_months_arm_1"
    assert event_name("Antenatal (24 weeks)") == "antenatal_24_weeks_arm_1"


def test_fhir_bundle() -> None:
    bundle = fhir_bundle(_frame())
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "collection"
    assert bundle["total"] == 4
    first = bundle["entry"][0]["resource"]
    assert first["resourceType"] == "QuestionnaireResponse" and first["status"] == "completed"
    assert first["questionnaire"].startswith("urn:attunement:questionnaire:epds|")
    # answers as the library codes them: the option's code, its keyed score as ordinalValue
    answers = {i["linkId"]: i["answer"][0]["valueCoding"]["extension"][0]["valueDecimal"]
               for i in first["item"]}
    assert answers["epds_10"] == 1 and len(answers) == 10
    assert first["subject"]["identifier"]["value"] == "mother"
    json.dumps(bundle)  # serialisable as is


def test_csv_and_parquet_round_trip() -> None:
    frame = _frame()
    csv = response(frame, "csv")
    assert pd.read_csv(io.BytesIO(csv.body)).shape == frame.shape
    pq = response(frame, "parquet")
    back = pd.read_parquet(io.BytesIO(pq.body))
    pd.testing.assert_series_equal(back["epds_total"], frame["epds_total"])


def test_score_chart_geometry() -> None:
    svg = score_chart("mother EPDS", [("antenatal", 13.0), ("3m", 4.0)], low=0, high=30,
                      cutoffs=[Cutoff(13, "probable depression")])
    # plot area: top 14, height 200 - 14 - 34 = 152; y(13) = 14 + 152 - 13/30 * 152
    y13 = 14 + 152 - 13 / 30 * 152
    assert f'y1="{y13:.1f}"' in svg and "≥ 13" in svg
    assert svg.count('class="point above"') == 1  # 13 is at the cut-off, 4 is below
    assert svg.count('class="point"') == 1
    assert "<title>mother EPDS</title>" in svg and "antenatal: 13" in svg
    lone = score_chart("one", [("6w", 40.0)], low=0, high=30)
    assert 'cy="14.0"' in lone  # clamped to the top of the axis, never outside the frame


def test_low_is_worse_cutoffs_flag_low_scores() -> None:
    svg = score_chart("OSSS-3", [("a", 13.0), ("b", 6.0)], low=3, high=14,
                      cutoffs=[Cutoff(8, "poor social support", "<=")])
    assert "≤ 8" in svg
    assert svg.count('class="point above"') == 1 and svg.count('class="point"') == 1
