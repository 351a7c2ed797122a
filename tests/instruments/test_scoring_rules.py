"""Missing data, safety rules, thresholds, bad input and pass-through behaviour."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest

from attunement.instruments import (
    ScoringError,
    ScoringResult,
    UnknownInstrument,
    load_instrument,
    score,
    score_responses,
)

E4 = [1, 1, 2, 2, 1, 2, 1, 1, 1, 0]  # EPDS vector E4 as keyed scores (total 12)


def epds_frame(rows: list[list], **extra) -> pd.DataFrame:
    data = {f"epds_{i}": [r[i - 1] for r in rows] for i in range(1, 11)}
    return pd.DataFrame({**extra, **data})


# -- missing data and safety ---------------------------------------------------------------
def test_missing_safety_item_raises_ask_directly_flag():
    a = score_responses("epds", [*E4[:9], None])
    assert a.scores["epds_total"] is None  # no prorating by default
    assert a.scores["epds_self_harm"] is None
    assert a.scores["epds_self_harm_unanswered"] is True
    flag = a.flag("epds_self_harm_unanswered")
    assert flag is not None and flag.kind == "safety_unanswered"
    assert "ask directly" in flag.label and "item 10" in flag.reason
    assert a.urgent


def test_missing_ordinary_item_blocks_only_its_scales():
    a = score_responses("epds", [None, *E4[1:]])
    assert a.scores["epds_total"] is None
    assert a.scores["epds_anxiety"] == 5  # items 3–5 all answered
    assert a.scores["epds_self_harm"] == 0 and not a.scores["epds_self_harm_unanswered"]
    assert a.scores["epds_possible_depression"] is None


def test_safety_flag_reason_states_rule_value_and_source():
    a = score_responses("epds", [0] * 9 + [2])
    flag = a.flag("epds_self_harm")
    assert flag.kind == "safety"
    assert flag.reason == "EPDS item 10 scored 2 (> 0): same-day assessment"
    assert "Cox" in flag.source


def test_pbq_review_flag_names_items():
    scores = [0] * 25
    scores[23] = 1
    a = score_responses("pbq", scores)
    flag = a.flag("pbq_harm_review")
    assert flag.kind == "review" and "item 24 scored 1" in flag.reason
    scores[17] = None
    a = score_responses("pbq", scores)
    assert a.scores["pbq_harm_review"] == 1  # item 24 alone triggers it
    assert a.flag("pbq_harm_review_unanswered").kind == "safety_unanswered"


def test_cutoff_flag_reason_and_source():
    a = score_responses("epds", E4)
    flag = a.flag("epds_possible_depression")
    assert flag.kind == "cutoff"
    assert flag.reason.startswith("EPDS total 12 (≥ 10)")
    a = score_responses("epds", E4, thresholds={"epds_possible_depression": 13})
    assert a.flag("epds_possible_depression") is None
    assert a.thresholds == {"epds_possible_depression": 13.0}


def test_whooley_yes_with_other_missing_is_positive():
    assert score_responses("whooley", [1, None]).scores["whooley_positive"] == 1
    assert score_responses("whooley", [0, None]).scores["whooley_positive"] is None
    assert score_responses("whooley", [0, 0]).scores["whooley_positive"] == 0


def test_missing_values_in_dataframes():
    df = epds_frame([E4, [*E4[:9], None], [None, *E4[1:]]])
    out = score("epds", df)
    assert out["epds_total"].tolist()[0] == 12
    assert out["epds_total"].isna().tolist() == [False, True, True]
    assert out["epds_self_harm"].isna().tolist() == [False, True, False]
    assert out["epds_self_harm_unanswered"].tolist() == [False, True, False]
    pl_out = score("epds", pl.from_pandas(df))
    assert pl_out["epds_total"].to_list() == [12, None, None]
    assert pl_out["epds_self_harm_unanswered"].to_list() == [False, True, False]


def test_nullable_integer_columns():
    df = epds_frame([E4, [*E4[:9], None]]).astype("Int8")
    out = score("epds", df)
    assert out["epds_total"].tolist()[0] == 12 and pd.isna(out["epds_total"].iloc[1])


# -- thresholds ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["epds_self_harm", "self_harm"])
def test_safety_rules_cannot_be_changed(name):
    with pytest.raises(ScoringError, match="safety rule"):
        score_responses("epds", E4, thresholds={name: 5})
    with pytest.raises(ScoringError, match="safety rule"):
        score("epds", epds_frame([E4]), thresholds={name: 5})


def test_threshold_errors():
    with pytest.raises(ScoringError, match="unknown threshold"):
        score_responses("epds", E4, thresholds={"epds_nonsense": 3})
    with pytest.raises(ScoringError, match="not configurable"):
        score_responses("whooley", [1, 0], thresholds={"whooley_positive_screen": 2})
    with pytest.raises(ScoringError, match="outside"):
        score_responses("epds", E4, thresholds={"epds_possible_depression": 31})


def test_conflicting_cutoffs_are_configurable():
    for inst in [load_instrument(i) for i in ("epds", "pbq")]:
        for c in inst.cutoffs:
            if c.evidence in ("[conflict]", "[unverified]"):
                assert c.configurable, c.id


# -- bad input -----------------------------------------------------------------------------
def test_out_of_range_names_row_and_column():
    df = epds_frame([E4, E4, [*E4[:3], 7, *E4[4:]]])
    with pytest.raises(ScoringError) as err:
        score("epds", df)
    e = err.value
    assert (e.row, e.column, e.value) == (2, "epds_4", 7)
    assert str(e).startswith("row 2, column epds_4: 7 is out of range (scores 0–3)")


def test_positions_out_of_range():
    df = epds_frame([[0] * 10])
    with pytest.raises(ScoringError, match="row 0, column epds_1: 0 is out of range "
                                           r"\(positions 1–4\)"):
        score("epds", df, input="positions")


def test_fractional_and_whole_floats():
    df = epds_frame([[float(x) for x in E4]])
    assert score("epds", df)["epds_total"].tolist() == [12]
    bad = epds_frame([[2.5, *E4[1:]]])
    with pytest.raises(ScoringError, match=r"row 0, column epds_1: 2\.5 is not a whole number"):
        score("epds", bad)


def test_non_numeric_values_named():
    df = epds_frame([E4, ["x", *E4[1:]]])
    with pytest.raises(ScoringError, match="row 1, column epds_1: non-numeric value 'x'"):
        score("epds", df)
    with pytest.raises(ScoringError, match="row 1, column epds_1: non-numeric value 'x'"):
        score("epds", pl.from_pandas(df.astype({"epds_1": str})))


def test_boolean_column_is_not_coerced():
    df = pd.DataFrame({f"ace_{i}": [True] for i in range(1, 11)})
    with pytest.raises(ScoringError, match="row 0, column ace_1: true/false"):
        score("ace", df)


def test_missing_item_column_and_unknown_instrument():
    df = epds_frame([E4]).drop(columns=["epds_7"])
    with pytest.raises(ScoringError) as err:
        score("epds", df)
    assert err.value.column == "epds_7" and "missing item column" in str(err.value)
    with pytest.raises(UnknownInstrument) as unk:
        score("nope", df)
    assert isinstance(unk.value, ScoringError) and isinstance(unk.value, KeyError)
    assert "nope" in str(unk.value) and "epds" in str(unk.value)


def test_mpas_fractional_scores_checked():
    ok = score_responses("mpas", [3, 3, 3, 2.333, 1, 1, 5, 5, 5, 5, 5, 1, 5, 5, 1, 1, 1, 1, 1])
    assert ok.scores["mpas_total"] is not None
    with pytest.raises(ScoringError, match=r"column mpas_4: 2\.5"):
        score_responses("mpas", [3, 3, 3, 2.5, 1, 1, 5, 5, 5, 5, 5, 1, 5, 5, 1, 1, 1, 1, 1])


def test_score_responses_length_and_types():
    with pytest.raises(ScoringError, match="needs 10 responses"):
        score_responses("epds", E4[:9])
    with pytest.raises(ScoringError, match="column epds_2: non-numeric value 'one'"):
        score_responses("epds", [1, "one", *E4[2:]])
    # PHQ-9 takes the optional, unscored functional-difficulty question as item 10
    assert score_responses("phq9", [1] * 9 + [3]).scores["phq9_total"] == 9
    with pytest.raises(ScoringError, match="column phq9_10"):
        score_responses("phq9", [1] * 9 + [4])


def test_report_mode_scores_good_rows_and_lists_bad_ones():
    df = epds_frame([E4, ["x", *E4[1:]], E4, [*E4[:9], 9]], family=["a", "b", "c", "d"])
    df.index = [10, 11, 12, 13]
    result = score("epds", df, on_error="report")
    assert isinstance(result, ScoringResult)
    assert result.scored["family"].tolist() == ["a", "c"]
    assert result.scored.index.tolist() == [10, 12]
    assert result.scored["epds_total"].tolist() == [12, 12]
    assert result.errors[["row", "column"]].values.tolist() == [[1, "epds_1"], [3, "epds_10"]]
    assert result.bad_rows["family"].tolist() == ["b", "d"]
    assert "non-numeric" in result.bad_rows["reason"].iloc[0]
    pl_result = score("epds", pl.from_pandas(df.astype({"epds_1": str})), on_error="report")
    assert pl_result.scored["family"].to_list() == ["a", "c"]
    assert pl_result.errors["row"].to_list() == [1, 3]
    assert pl_result.n_bad == 2


def test_pass_through_unchanged_and_no_overwrite():
    df = epds_frame([E4, E4], family=["a", "b"], when=pd.to_datetime(["2026-01-01", "2026-02-01"]))
    before = df.copy()
    out = score("epds", df)
    pd.testing.assert_frame_equal(out[df.columns.tolist()], before)
    pd.testing.assert_frame_equal(df, before)  # the input is not modified
    with pytest.raises(ScoringError, match="column epds_total: the input already has"):
        score("epds", out)


def test_output_dtypes_do_not_depend_on_data():
    out = score("phq9", pd.DataFrame({f"phq9_{i}": np.ones(3, dtype=np.int8) for i in range(1, 10)}))
    assert str(out["phq9_total"].dtype) == "Int16"
    assert str(out["phq9_severity"].dtype) == "category"
    assert str(out["phq9_possible_depression"].dtype) == "boolean"
    assert str(out["phq9_self_harm"].dtype) == "Int8"
    out = score("prfq", pd.DataFrame({f"prfq_{i}": [4] for i in range(1, 19)}))
    assert str(out["prfq_certainty"].dtype) == "Float64"


def test_not_a_dataframe():
    with pytest.raises(TypeError):
        score("epds", [E4])


def test_dask_dataframe_scored_by_partition():
    dd = pytest.importorskip("dask.dataframe")
    import dask

    df = epds_frame([E4, [0] * 10, [3] * 10, E4], family=["a", "b", "c", "d"])
    ddf = dd.from_pandas(df, npartitions=2)
    with dask.config.set(scheduler="synchronous"):
        out = score("epds", ddf).compute()
    assert out["epds_total"].tolist() == [12, 0, 30, 12]
    assert out["family"].tolist() == ["a", "b", "c", "d"]


def test_item_scores_columns_keep_position_and_keyed_score():
    positions = [2, 2, 2, 3, 3, 2, 3, 3, 3, None]  # EPDS E4 positions, item 10 unanswered
    df = pd.DataFrame({f"epds_{i}": [p] for i, p in enumerate(positions, 1)}, dtype="Int8")
    out = score("epds", df, input="positions", item_scores=True)
    assert out["epds_3"].tolist() == [2] and out["epds_3_score"].tolist() == [2]
    assert out["epds_5_score"].tolist() == [1] and out["epds_10_score"].isna().all()
    a = score_responses("whooley", [0, 1, 1])  # W3: positive, "wants help = yes" recorded
    assert a.scores["whooley_positive"] == 1 and a.item_scores == [0, 1, 1]
