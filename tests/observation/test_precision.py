"""Every writer keeps every time to the millisecond, however long the recording."""

from __future__ import annotations

import numpy as np
import pytest

from attunement.observation import make_event_table, read_events, write_events

TIMES = [0.001, 999.999, 1000.001, 9999.999, 10000.123, 12345.678, 86399.999, 360000.007]


def long_session():
    rows = []
    for i, t in enumerate(TIMES):
        rows.append({"session": "long", "actor": "Infant" if i % 2 else "Mother",
                     "code": f"c{i % 3}", "onset": t, "offset": t + 0.5 + i / 1000,
                     "duration": 400000.0})
    rows.append({"session": "long", "actor": "Infant", "code": "point", "onset": 54321.987})
    return make_event_table(rows)


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".sds", ".eaf"])
def test_round_trip_keeps_milliseconds_at_any_length(tmp_path, suffix):
    ev = long_session()
    path = tmp_path / f"long{suffix}"
    write_events(ev, path)
    back = read_events(path)
    key = ["actor", "code", "onset"]
    a = ev.sort_values(key).reset_index(drop=True)
    b = back.sort_values(key).reset_index(drop=True)
    assert len(a) == len(b)
    assert np.abs(a["onset"].to_numpy() - b["onset"].to_numpy()).max() < 5e-4
    off_a, off_b = a["offset"].to_numpy(), b["offset"].to_numpy()
    states = ~np.isnan(off_a)
    if suffix != ".eaf":  # ELAN has no point events
        assert np.array_equal(np.isnan(off_a), np.isnan(off_b))
    assert np.abs(off_a[states] - off_b[states]).max() < 5e-4


def test_csv_writes_fixed_decimals(tmp_path):
    path = tmp_path / "long.csv"
    write_events(long_session(), path)
    text = path.read_text()
    assert "10000.123000" in text and "360000.007000" in text and "e+" not in text
