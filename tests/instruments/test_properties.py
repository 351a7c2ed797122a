"""Property tests: every scale stays in range; positions and scores inputs agree."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attunement.instruments import list_instruments, load_instrument, score

INSTRUMENTS = [i.id for i in list_instruments() if i.kind == "questionnaire"]


@st.composite
def answers(draw):
    inst = load_instrument(draw(st.sampled_from(INSTRUMENTS)))
    n = draw(st.integers(1, 12))
    positions = {}
    for it in inst.items:
        col = st.one_of(st.none(), st.integers(1, it.n_options)) if draw(st.booleans()) else \
            st.integers(1, it.n_options)
        positions[inst.column(it.number)] = draw(st.lists(col, min_size=n, max_size=n))
    return inst, positions


def _to_scores(inst, positions):
    out = {}
    for it in inst.items:
        col = inst.column(it.number)
        out[col] = [None if p is None else it.scores[p - 1] for p in positions[col]]
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answers())
def test_scales_in_range_and_inputs_agree(case):
    inst, positions = case
    by_pos = score(inst.id, pd.DataFrame(positions, dtype="Float64"), input="positions")
    by_score = score(inst.id, pd.DataFrame(_to_scores(inst, positions), dtype="Float64"))
    cols = inst.output_columns
    pd.testing.assert_frame_equal(by_pos[cols], by_score[cols])
    for sc in inst.scales:
        values = by_pos[f"{inst.id}_{sc.id}"].dropna().to_numpy(dtype=float)
        assert np.all(values >= sc.range[0] - 1e-9) and np.all(values <= sc.range[1] + 1e-9)
        # the complete-case rule: a scale is missing exactly when one of its items is
        any_missing = np.zeros(len(by_pos), dtype=bool)
        for n in sc.items:
            any_missing |= by_pos[inst.column(n)].isna().to_numpy()
        if sc.method != "any":
            assert (by_pos[f"{inst.id}_{sc.id}"].isna().to_numpy() == any_missing).all()
    polars_out = score(inst.id, pl.DataFrame(positions, schema={k: pl.Int64 for k in positions}),
                       input="positions")
    for sc in inst.scales:
        col = f"{inst.id}_{sc.id}"
        a = polars_out[col].to_list()
        b = [None if pd.isna(v) else v for v in by_pos[col].tolist()]
        assert all((x is None and y is None) or abs(x - y) < 1e-9 for x, y in zip(a, b,
                                                                                  strict=True))


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(1, 4), min_size=10, max_size=10))
def test_epds_safety_flag_tracks_item_10(positions):
    out = score("epds", pd.DataFrame({f"epds_{i}": [p] for i, p in enumerate(positions, 1)}),
                input="positions")
    assert int(out["epds_self_harm"].iloc[0]) == int(positions[9] < 4)
