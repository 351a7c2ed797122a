"""The cascade as a pure function: hand-counted stages, days, follow-up and equity of the
seeded service (tests/cascade/scenario.py), the reliable-change rules and the CSV export."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import pandas as pd
import pytest

from attunement.cascade import (
    CascadeError,
    age_band,
    cascade_csv,
    compute_cascade,
    load_rules,
    rci_threshold,
)
from attunement.csvsafe import safe_cell

from .scenario import (
    EXPECTED_DAYS,
    EXPECTED_EQUITY,
    EXPECTED_FOLLOW_UP,
    EXPECTED_STAGES,
    STAGE_NAMES,
    tables,
)


@pytest.fixture(scope="module")
def result():
    return compute_cascade(*tables())


def test_stage_counts_match_the_hand_count(result):
    for site, expected in EXPECTED_STAGES.items():
        got = {stage: result.count(stage, site) for stage in STAGE_NAMES}
        assert got == expected, site


def test_median_days_between_stages(result):
    for site, expected in EXPECTED_DAYS.items():
        rows = result.stage_days[result.stage_days["site"] == site]
        assert tuple(rows["median_days"]) == expected, site


def test_thirty_day_follow_up_after_a_positive_screen(result):
    for site, (positive, followed, rate) in EXPECTED_FOLLOW_UP.items():
        row = result.follow_up[result.follow_up["site"] == site].iloc[0]
        assert (row["positive"], row["followed_up"], row["rate"]) == (positive, followed, rate)


def test_coverage_and_equity_groups(result):
    eq = result.equity.set_index(["dimension", "group"])
    for key, expected in EXPECTED_EQUITY.items():
        row = eq.loc[key]
        got = tuple(row[c] for c in ("registered", "screened", "coverage", "positive",
                                     "referred", "engaged"))
        assert got == expected, key


def test_percent_of_previous_stage(result):
    rows = result.stages[result.stages["site"] == "All sites"].set_index("stage")
    assert rows.loc["screened", "percent_of_previous"] == round(100 * 11 / 14, 1)
    assert rows.loc["improved", "percent_of_previous"] == 50.0  # 2 of 4 completed


def test_referral_before_the_positive_screen_is_not_counted():
    cgs = pd.DataFrame([{"caregiver": 1, "site": "S", "role": "birth_mother"}])
    a = pd.DataFrame([{"caregiver": 1, "instrument": "epds", "completed_on": "2026-09-10",
                       "score": 14, "positive": True}])
    r = pd.DataFrame([{"caregiver": 1, "offered_on": "2026-09-01",
                       "first_session_on": "2026-09-05"}])
    res = compute_cascade(cgs, a, r)
    assert res.count("positive") == 1 and res.count("referred") == 0


def test_improvement_needs_a_score_before_and_after_the_offer():
    cgs = pd.DataFrame([{"caregiver": 1, "site": "S", "role": "birth_mother"}])
    r = pd.DataFrame([{"caregiver": 1, "offered_on": "2026-09-02",
                       "first_session_on": "2026-09-03", "completed_on": "2026-10-01"}])
    a = pd.DataFrame([
        {"caregiver": 1, "instrument": "epds", "completed_on": "2026-09-01", "score": 14,
         "positive": True},
        {"caregiver": 1, "instrument": "epds", "completed_on": "2026-10-02", "score": 10,
         "positive": True},
    ])
    assert compute_cascade(cgs, a, r).count("improved") == 1  # 14 -> 10: exactly 4 points
    a.loc[1, "score"] = 11
    assert compute_cascade(cgs, a, r).count("improved") == 0  # 3 points: not reliable


def test_no_families_or_no_dates_give_zero_counts():
    empty = compute_cascade(
        pd.DataFrame(columns=["caregiver", "site", "role"]),
        pd.DataFrame(columns=["caregiver", "instrument", "completed_on", "score", "positive"]),
        pd.DataFrame(columns=["caregiver", "offered_on"]))
    assert [empty.count(s) for s in STAGE_NAMES] == [0] * 6
    assert empty.follow_up["rate"].tolist() == [None]
    unscreened = compute_cascade(
        pd.DataFrame([{"caregiver": 1, "site": "S", "role": "birth_father"}]),
        pd.DataFrame(columns=["caregiver", "instrument", "completed_on", "score", "positive"]),
        pd.DataFrame(columns=["caregiver", "offered_on"]))
    assert unscreened.count("screened", "S") == 0
    assert unscreened.stage_days["median_days"].isna().all()


def test_unknown_caregiver_is_an_error_naming_row_and_column():
    cgs, a, r = tables()
    a = pd.concat([a, pd.DataFrame([{"caregiver": "nobody", "instrument": "epds",
                                     "completed_on": "2026-09-01", "score": 1,
                                     "positive": False}])], ignore_index=True)
    with pytest.raises(CascadeError, match=r"assessments: row 17, column caregiver: 'nobody'"):
        compute_cascade(cgs, a, r)


def test_bad_date_is_an_error_naming_row_and_column():
    cgs, a, r = tables()
    r.loc[2, "declined_on"] = "4th of September"
    with pytest.raises(CascadeError, match=r"referrals: row 2, column declined_on"):
        compute_cascade(cgs, a, r)


def test_missing_required_date_is_named_also_in_a_datetime_column():
    cgs, a, r = tables()
    r["offered_on"] = pd.to_datetime(r["offered_on"])
    r.loc[3, "offered_on"] = pd.NaT
    with pytest.raises(CascadeError, match=r"referrals: row 3, column offered_on: missing"):
        compute_cascade(cgs, a, r)


def test_missing_column_is_named():
    cgs, a, r = tables()
    with pytest.raises(CascadeError, match=r"caregivers: missing column.*site"):
        compute_cascade(cgs.drop(columns="site"), a, r)


# --- reliable change ---------------------------------------------------------------------


def test_rci_threshold_by_hand():
    # SD 5, r 0.80: SE = 5*sqrt(0.2) = 2.2361; S_diff = sqrt(2)*SE = 3.1623; 1.96*S_diff = 6.198
    assert rci_threshold(5.0, 0.80) == pytest.approx(6.1981, abs=1e-4)
    # SD 4, r 0.88: 4*sqrt(0.12) = 1.38564; *sqrt(2) = 1.95959; *1.96 = 3.84080
    assert rci_threshold(4.0, 0.88) == pytest.approx(3.8408, abs=1e-4)


def test_shipped_rules_are_cited_and_as_published():
    rules = load_rules()
    assert {k: r.threshold for k, r in rules.items()} == {"epds": 4, "phq9": 6, "gad7": 4}
    assert "Matthey" in rules["epds"].source
    assert all(r.lower_is_better and r.source for r in rules.values())


def test_rules_with_sd_and_reliability_must_reproduce_the_threshold(tmp_path: Path):
    f = tmp_path / "rc.yaml"
    f.write_text("measures:\n- {instrument: x, score: x_total, lower_is_better: true, "
                 "threshold: 4, source: s, sd: 4, reliability: 0.88, rci_source: t}\n")
    assert load_rules(f)["x"].threshold == 4
    f.write_text("measures:\n- {instrument: x, score: x_total, lower_is_better: true, "
                 "threshold: 4, source: s, sd: 5, reliability: 0.8, rci_source: t}\n")
    with pytest.raises(CascadeError, match=r"measures\[0\]\.threshold: 4 disagrees.*6\.20"):
        load_rules(f)
    f.write_text("measures:\n- {instrument: x, score: x_total, lower_is_better: true, "
                 "threshold: 4}\n")
    with pytest.raises(CascadeError, match=r"measures\[0\]\.source"):
        load_rules(f)


def test_age_bands():
    assert [age_band(a) for a in (17, 20, 24, 25, 39, 40, None, math.nan)] == [
        "under 20", "20-24", "20-24", "25-29", "35-39", "40 and over", "not recorded",
        "not recorded"]


# --- CSV -------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "\tx", "\rx"])
def test_formula_cells_are_neutralised(text):
    assert safe_cell(text) == "'" + text
    assert safe_cell("plain") == "plain" and safe_cell(-2) == -2


def test_csv_has_every_section_and_neutralises_site_names(result):
    cgs, a, r = tables()
    cgs["site"] = cgs["site"].replace({"Site A": "=HYPERLINK(\"x\")"})
    text = cascade_csv(compute_cascade(cgs, a, r))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {row["section"] for row in rows} == {"stages", "stage_days", "equity",
                                                 "follow_up_30d"}
    assert not any(row["site"].startswith("=") for row in rows)
    assert any(row["site"] == "'=HYPERLINK(\"x\")" for row in rows)
    count = next(row for row in rows if row["section"] == "stages" and row["site"] ==
                 "All sites" and row["stage"] == "improved" and row["metric"] == "count")
    assert count["value"] == "2"


def test_vectorised_cascade_agrees_with_a_plain_loop_on_random_services():
    """Random services with every stage reached: the same flags and dates per caregiver as the
    rules written out caregiver by caregiver (tests/cascade/naive.py)."""
    import numpy as np

    from attunement.cascade import REFERRAL_DATES

    from .naive import naive_per_caregiver

    rules = load_rules()
    for seed in range(5):
        rng = np.random.default_rng(seed)
        n = 150
        base = pd.Timestamp("2026-01-01")

        def day(lo: int, hi: int, rng=rng, base=base) -> pd.Timestamp:
            return base + pd.Timedelta(days=int(rng.integers(lo, hi)))

        cgs = pd.DataFrame({"caregiver": [f"c{i}" for i in range(n)],
                            "site": rng.choice(["A", "B"], n),
                            "role": rng.choice(["birth_mother", "birth_father"], n)})
        a = pd.DataFrame([{"caregiver": f"c{i}", "instrument": rng.choice(["epds", "phq9",
                                                                           "pbq"]),
                           "completed_on": day(0, 200), "score": float(rng.integers(0, 27)),
                           "positive": bool(rng.random() < 0.5)}
                          for i in range(n) for _ in range(rng.integers(0, 9))])
        refs = []
        for i in range(n):
            for _ in range(rng.integers(0, 3)):
                offered = day(0, 90)
                row = {"caregiver": f"c{i}", "offered_on": offered}
                if rng.random() < 0.7:
                    row["first_session_on"] = offered + pd.Timedelta(days=int(rng.integers(0, 20)))
                    if rng.random() < 0.6:
                        row["completed_on"] = row["first_session_on"] + pd.Timedelta(
                            days=int(rng.integers(0, 40)))
                refs.append(row)
        r = pd.DataFrame(refs).reindex(columns=["caregiver", *REFERRAL_DATES])
        r = r.apply(lambda col: pd.to_datetime(col) if col.name != "caregiver" else col)
        result = compute_cascade(cgs, a, r, rules)
        naive = naive_per_caregiver(cgs, a, r, rules)
        per = result.per_caregiver.set_index("caregiver")
        assert per["completed"].sum() > 5 and per["improved"].sum() > 0  # every path is used
        for key, want in naive.items():
            got = per.loc[key]
            for col, value in want.items():
                assert (pd.isna(got[col]) and pd.isna(value)) or got[col] == value, (seed, key,
                                                                                      col)
