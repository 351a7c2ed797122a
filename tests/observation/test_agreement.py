"""Agreement against R's psych (irr_reference.json, copied to data/) and hand-worked examples."""

from __future__ import annotations

import json

import numpy as np
import pytest

from attunement.observation import (
    ObservationError,
    cohen_kappa,
    event_agreement,
    fleiss_kappa,
    icc,
    light_kappa,
    make_event_table,
    time_unit_kappa,
)
from attunement.observation.agreement import align_events, pairs_agreement

TOL = 1e-6


@pytest.fixture(scope="module")
def ref(data_dir):
    return json.loads((data_dir / "irr_reference.json").read_text())


@pytest.mark.parametrize("name", ["shrout_fleiss_1979", "sensitivity_made_up"])
def test_six_iccs_match_psych(ref, name):
    d = ref["icc"][name]
    got = icc(d["ratings"]).set_index("type")
    assert list(got.index) == ["ICC(1,1)", "ICC(2,1)", "ICC(3,1)", "ICC(1,k)", "ICC(2,k)",
                               "ICC(3,k)"]
    for form, want in d["icc"].items():
        row = got.loc[form]
        assert row["icc"] == pytest.approx(want["ICC"], abs=TOL)
        assert row["F"] == pytest.approx(want["F"], abs=TOL)
        assert (row["df1"], row["df2"]) == (want["df1"], want["df2"])
        assert row["p"] == pytest.approx(want["p"], abs=TOL)
        assert row["ci_low"] == pytest.approx(want["ci_lb"], abs=TOL)
        assert row["ci_high"] == pytest.approx(want["ci_ub"], abs=TOL)


def test_icc_rounds_to_shrout_fleiss_published(ref):
    d = ref["icc"]["shrout_fleiss_1979"]
    got = icc(d["ratings"]).set_index("type")["icc"].round(2).to_dict()
    assert got == d["published_2dp"]


def test_unweighted_kappa_matches_psych_and_fce(ref):
    d = ref["kappa"]["attachment_nominal_two_coders"]
    r = cohen_kappa(d["coder1"], d["coder2"], d["levels"]).iloc[0]
    assert r["kappa"] == pytest.approx(d["kappa"], abs=TOL)
    assert r["se"] ** 2 == pytest.approx(d["var_kappa"], abs=TOL)
    assert r["se"] ** 2 == pytest.approx(d["var_kappa_FCE_hand"], abs=1e-9)
    assert (r["ci_low"], r["ci_high"]) == pytest.approx(tuple(d["kappa_ci"]), abs=TOL)
    assert r["p_observed"] == pytest.approx(d["hand_check"]["p_observed"], abs=TOL)
    assert r["p_expected"] == pytest.approx(d["hand_check"]["p_expected"], abs=TOL)


@pytest.mark.parametrize("name,weights", [("ordinal_quadratic", "quadratic"),
                                          ("ordinal_linear", "linear")])
def test_weighted_kappa_matches_psych_estimate_and_fce_variance(ref, name, weights):
    d = ref["kappa"][name]
    r = cohen_kappa(d["coder1"], d["coder2"], d["levels"], weights=weights).iloc[0]
    assert r["kappa"] == pytest.approx(d["weighted_kappa"], abs=TOL)
    # psych's weighted variance is not Fleiss-Cohen-Everitt's (docs/statistics/coded-interaction.md,
    # Agreement): test against Fleiss, Cohen & Everitt (1969, Psychol Bull 72:323-327)
    assert r["se"] ** 2 == pytest.approx(d["var_weighted_kappa_FCE_hand"], abs=1e-9)
    assert (r["ci_low"], r["ci_high"]) == pytest.approx(
        tuple(d["weighted_kappa_ci_FCE_hand"]), abs=TOL)
    un = cohen_kappa(d["coder1"], d["coder2"], d["levels"]).iloc[0]
    assert un["kappa"] == pytest.approx(d["kappa"], abs=TOL)
    assert un["se"] ** 2 == pytest.approx(d["var_kappa_FCE_hand"], abs=1e-9)


def test_weight_matrices_match_psych(ref):
    from attunement.observation.agreement import weight_matrix

    assert weight_matrix(5, "quadratic") == pytest.approx(
        np.array(ref["kappa"]["ordinal_quadratic"]["weight_matrix"]))
    assert weight_matrix(5, "linear") == pytest.approx(
        np.array(ref["kappa"]["ordinal_linear"]["weight_matrix"]))


def test_category_set_comes_from_the_caller_not_the_data():
    # ratings on a 1-5 scale that never use 3: the observed set {1,2,4,5} would put 2 and 4
    # next to each other and change the weighted kappa, so the scale is always given
    a = [1, 2, 4, 5, 2, 4, 1, 5, 2, 4]
    b = [1, 4, 4, 5, 2, 2, 2, 5, 4, 4]
    full = cohen_kappa(a, b, [1, 2, 3, 4, 5], weights="linear")["kappa"].iloc[0]
    observed = cohen_kappa(a, b, [1, 2, 4, 5], weights="linear")["kappa"].iloc[0]
    assert abs(full - observed) > 0.01
    with pytest.raises(ObservationError, match="not one of the categories"):
        cohen_kappa([1, 2, 9], [1, 2, 3], [1, 2, 3])


def test_fleiss_and_light_kappa(ref):
    d = ref["kappa"]["attachment_three_coders"]
    ratings = np.array([d["coder1"], d["coder2"], d["coder3"]]).T
    assert fleiss_kappa(ratings, d["levels"]) == pytest.approx(
        d["fleiss_kappa_hand_formula"], abs=TOL)
    assert light_kappa(ratings, d["levels"]) == pytest.approx(
        d["light_kappa_psych_average_pairwise"], abs=TOL)


def test_kappa_worked_example_4_point(data_dir):
    # the 4-point worked example of docs/statistics/coded-interaction.md (Agreement), expanded to pairs
    table = [[5, 2, 0, 0], [1, 6, 2, 0], [0, 2, 7, 1], [0, 0, 1, 3]]
    a, b = [], []
    for i, row in enumerate(table):
        for j, n in enumerate(row):
            a += [i + 1] * n
            b += [j + 1] * n
    lv = [1, 2, 3, 4]
    assert cohen_kappa(a, b, lv)["kappa"].iloc[0] == pytest.approx(0.5859, abs=1e-4)
    assert cohen_kappa(a, b, lv, weights="linear")["kappa"].iloc[0] == pytest.approx(
        0.7193, abs=1e-4)
    assert cohen_kappa(a, b, lv, weights="quadratic")["kappa"].iloc[0] == pytest.approx(
        0.8399, abs=1e-4)


# --- timed-event agreement (docs/statistics/coded-interaction.md, worked example) -----------------

A = list("CCCCFFFRRRRRFFCCCCCC")
B = list("CCCCCFFFRRRRRFFCCCCC")


def test_time_unit_kappa_and_tolerance():
    r0 = time_unit_kappa(A, B, ["C", "F", "R"]).iloc[0]
    assert r0["kappa"] == pytest.approx(0.680, abs=1e-3)
    assert r0["p_observed"] == pytest.approx(0.80)
    assert r0["p_expected"] == pytest.approx(0.375)
    r1 = time_unit_kappa(A, B, ["C", "F", "R"], tolerance=1).iloc[0]
    assert r1["kappa"] == pytest.approx(1.0)
    # tolerance forgives jitter, not a wrong code
    wrong = list(B)
    wrong[1:4] = ["R", "R", "R"]
    assert time_unit_kappa(A, wrong, ["C", "F", "R"], tolerance=1)["kappa"].iloc[0] < 1


def test_event_kappa_with_nil_worked_example():
    r = pairs_agreement(["C", "F", "R", "F", "C", "(nil)", "(nil)"],
                        ["C", "F", "R", "(nil)", "C", "F", "C"], ["C", "F", "R"]).iloc[0]
    assert r["kappa_with_nil"] == pytest.approx(0.417, abs=1e-3)
    assert r["kappa_matched"] == 1.0
    assert (r["n_matched"], r["n_only_1"], r["n_only_2"]) == (4, 1, 2)


def test_event_alignment_within_tolerance():
    pairs = align_events([1.0, 5.0, 9.0], [1.4, 9.8, 20.0], tolerance=1.0)
    assert pairs == [(0, 0), (1, None), (2, 2), (None, 2)] or pairs == [
        (0, 0), (1, None), (2, 1), (None, 2)]
    assert (2, 1) in pairs and (None, 2) in pairs


def test_event_agreement_on_event_tables():
    def table(rows):
        return make_event_table([{"session": "s", "actor": "Infant", "code": c, "onset": t,
                                  "offset": t + 1} for c, t in rows])

    a = table([("cry", 1.0), ("fuss", 5.0), ("cry", 9.0)])
    b = table([("cry", 1.5), ("cry", 5.2), ("cry", 9.1), ("fuss", 30.0)])
    r = event_agreement(a, b, ["cry", "fuss"], tolerance=1.0).iloc[0]
    assert (r["n_matched"], r["n_only_1"], r["n_only_2"]) == (3, 0, 1)
    assert r["percent_agreement"] == pytest.approx(2 / 4)


def test_sequence_alignment_with_nil():
    from attunement.observation.agreement import align_sequences

    a, b = list("CFRFC"), list("CFRC")
    pairs = align_sequences(a, b)
    assert [(a[i] if i is not None else None, b[j] if j is not None else None)
            for i, j in pairs] == [("C", "C"), ("F", "F"), ("R", "R"), ("F", None), ("C", "C")]
    # one substitution (cost 1) beats an omission plus a commission (cost 2)
    assert align_sequences(list("CFC"), list("CRC")) == [(0, 0), (1, 1), (2, 2)]


def test_event_agreement_by_sequence_ignores_times():
    def table(rows):
        return make_event_table([{"session": "s", "actor": "Infant", "code": c, "onset": t,
                                  "offset": t + 1} for c, t in rows])

    a = table([("cry", 1.0), ("fuss", 5.0), ("cry", 9.0)])
    b = table([("cry", 3.0), ("fuss", 12.0), ("cry", 20.0)])
    assert event_agreement(a, b, ["cry", "fuss"], method="sequence")["kappa_with_nil"].iloc[0] == 1
    assert event_agreement(a, b, ["cry", "fuss"], tolerance=1.0)["n_matched"].iloc[0] == 0
