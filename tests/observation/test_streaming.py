"""Chunked reading and conversion give the same events as reading the whole file."""

from __future__ import annotations

import pandas as pd
import pytest

from attunement.observation import ObservationError, read_events
from attunement.observation.importers import convert_events, iter_events

REAL = "real"


@pytest.mark.parametrize("name", ["boris9/grouped/observation_#2_tabular.tsv",
                                  "boris9/grouped/ALL_aggregated.tsv", "ecber/6008BECNR.csv"])
def test_chunks_equal_the_whole_file_even_when_a_state_spans_chunks(data_dir, name):
    path = data_dir / REAL / name
    whole = read_events(path)
    chunks = list(iter_events(path, chunk_rows=3))
    assert len(chunks) > 1
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), whole)


@pytest.mark.parametrize("suffix", [".csv", ".tsv"])
def test_streamed_conversion_round_trips(data_dir, tmp_path, suffix):
    src = data_dir / REAL / "boris9/grouped/ALL_aggregated.tsv"
    dest = tmp_path / f"all{suffix}"
    n, sessions = convert_events(src, dest, chunk_rows=7)
    assert (n, sessions) == (83, 9)
    back, orig = read_events(dest), read_events(src)
    cols = ["session", "actor", "code", "onset", "offset", "modifiers", "duration"]
    pd.testing.assert_frame_equal(back[cols], orig[cols])
    again = tmp_path / f"again{suffix}"
    assert convert_events(dest, again, chunk_rows=10) == (83, 9)
    pd.testing.assert_frame_equal(read_events(again)[cols], orig[cols])


def test_a_failed_conversion_leaves_no_output(tmp_path):
    bad = tmp_path / "bad.csv"
    rows = "".join(f"s,infant,cry,{i},{i + 1}\n" for i in range(100))
    bad.write_text("session,actor,code,onset,offset\n" + rows + "s,infant,cry,oops,2\n")
    dest = tmp_path / "out.csv"
    with pytest.raises(ObservationError, match="line 102"):
        convert_events(bad, dest, chunk_rows=10)
    assert not dest.exists() and list(tmp_path.iterdir()) == [bad]
