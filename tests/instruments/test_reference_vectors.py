"""Every worked vector of reference_vectors.py, through score() (pandas and polars) and
score_responses(), via option positions and via keyed scores."""

from __future__ import annotations

import math

import pandas as pd
import polars as pl
import pytest

from attunement.instruments import load_instrument, score, score_responses

from .reference_vectors import ORDER_2001, VECTORS, keyed, reference_key

IDS = [f"{v[0]}-{v[1]}" for v in VECTORS]


def _close(got, want) -> bool:
    if isinstance(want, bool | str):
        return got == want
    if got is None:
        return False
    return math.isclose(float(got), float(want), abs_tol=1e-3)


def _check(got: dict, expected: dict, label: str) -> None:
    bad = {k: (got.get(k), v) for k, v in expected.items() if not _close(got.get(k), v)}
    assert not bad, f"{label}: (got, expected) {bad}"


def _item_scores(instrument, positions, listed, options):
    if options.get("variant") == "manual_rounded":  # the manual's printed 2.3 / 3.6 values
        return list(listed)
    if options.get("variant") == "order_2001":  # printed position -> 2006 item number
        derived = [reference_key(instrument, c, p) for c, p in zip(ORDER_2001, positions,
                                                                     strict=True)]
    else:
        derived = keyed(instrument, positions)
    if listed is not None:  # the reference's own item scores must match its keying rule
        assert [round(float(x), 3) for x in listed] == [round(float(x), 3) for x in derived]
        return list(listed)
    return derived


def _frame_row(instrument: str, values: list, variant) -> dict:
    inst = load_instrument(instrument, variant=variant)
    return {inst.column(i): [v] for i, v in enumerate(values, start=1)}


@pytest.mark.parametrize(("instrument", "vid", "positions", "listed", "expected", "options"),
                         VECTORS, ids=IDS)
def test_score_responses(instrument, vid, positions, listed, expected, options):
    scores = _item_scores(instrument, positions, listed, options)
    by_pos = score_responses(instrument, positions, input="positions", **options)
    by_score = score_responses(instrument, scores, **options)
    _check(by_pos.scores, expected, f"{vid} positions")
    _check(by_score.scores, expected, f"{vid} scores")
    assert by_pos.scores == by_score.scores


@pytest.mark.parametrize(("instrument", "vid", "positions", "listed", "expected", "options"),
                         VECTORS, ids=IDS)
@pytest.mark.parametrize("kind", ["pandas", "polars"])
def test_score_dataframe(instrument, vid, positions, listed, expected, options, kind):
    scores = _item_scores(instrument, positions, listed, options)
    variant = options.get("variant")
    thresholds = options.get("thresholds")
    for input, values in (("positions", positions), ("scores", scores)):
        data = {"family_id": [f"fam-{vid}"], **_frame_row(instrument, values, variant)}
        df = pd.DataFrame(data) if kind == "pandas" else pl.DataFrame(data)
        out = score(instrument, df, input=input, thresholds=thresholds, variant=variant)
        assert type(out) is type(df)
        row = out.to_dicts()[0] if kind == "polars" else {
            k: (None if pd.isna(v) else v) for k, v in out.iloc[0].to_dict().items()
        }
        assert row["family_id"] == f"fam-{vid}"
        _check(row, expected, f"{vid} {kind} {input}")
