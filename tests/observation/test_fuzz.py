"""Hypothesis fuzzing: malformed files give ObservationError, never another exception; random
sessions give the same numbers as the loop reference; SDIS round trips are exact."""

from __future__ import annotations

import contextlib
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attunement.observation import ObservationError, make_event_table, parse_scheme, session_metrics
from attunement.observation.importers import (
    read_boris_project,
    read_boris_table,
    read_datavyu_csv,
    read_eaf,
    read_observer_csv,
    read_plain_csv,
    read_sdis,
)
from attunement.observation.importers.sdis import to_sdis
from attunement.observation.naive import naive_session

DATA = Path(__file__).parent / "data"
FUZZ = settings(max_examples=15, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])

TEXT_PARSERS = {
    "dyad021_plain.csv": read_plain_csv,
    "boris_tabular.tsv": read_boris_table,
    "boris_aggregated_example.tsv": read_boris_table,
    "dyad021.boris": read_boris_project,
    "boris_sample.sds": read_sdis,
    "datavyu_long.csv": read_datavyu_csv,
    "datavyu_wide.csv": read_datavyu_csv,
    "observer_xt.csv": read_observer_csv,
    # real BORIS files: an old tabular export with its metadata block, a BORIS 9 export of an
    # observation with two media files, BORIS's own SDIS
    "real/boris/test_export_events_tabular.csv": read_boris_table,
    "real/boris9/grouped/observation_#2_tabular.tsv": read_boris_table,
    "real/boris9/grouped/ALL.sds": read_sdis,
    "dyad_scheme.yaml": lambda path, text: parse_scheme(text, source=str(path)),
}


@st.composite
def mutated(draw, original: str) -> str:
    text = original
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["delete", "insert", "replace", "dup_line", "drop_line",
                                     "truncate"]))
        n = len(text)
        i = draw(st.integers(0, max(n - 1, 0)))
        if kind == "delete":
            text = text[:i] + text[i + draw(st.integers(1, 20)):]
        elif kind == "insert":
            junk = draw(st.text(alphabet=st.sampled_from(list(',\t;"-:/<>%.()$=+ \n0123456789'
                                                            'abcNA{}[]\x00é')), max_size=8))
            text = text[:i] + junk + text[i:]
        elif kind == "replace":
            text = text[:i] + draw(st.sampled_from(["-1", "NaN", "inf", "", "1e999", "x",
                                                    "\t", ",", "99999"])) + text[i + 1:]
        elif kind == "truncate":
            text = text[:i]
        else:
            lines = text.split("\n")
            k = draw(st.integers(0, max(len(lines) - 1, 0)))
            if kind == "dup_line":
                lines.insert(k, lines[k])
            else:
                del lines[k]
            text = "\n".join(lines)
    return text


@pytest.mark.parametrize("name", sorted(TEXT_PARSERS))
def test_mutated_files_raise_only_observation_error(name):
    parser = TEXT_PARSERS[name]
    original = (DATA / name).read_text()

    @FUZZ
    @given(mutated(original))
    def run(text):
        try:
            out = parser(DATA / name, text=text)
        except ObservationError as exc:
            assert str(exc)
            return
        if isinstance(out, pd.DataFrame):
            assert np.isfinite(out["onset"]).all()
            assert not out["offset"].isin([np.inf, -np.inf]).any()

    run()


@pytest.mark.parametrize("name", sorted(TEXT_PARSERS))
@FUZZ
@given(st.text(max_size=300))
def test_random_text_raises_only_observation_error(name, text):
    with contextlib.suppress(ObservationError):
        TEXT_PARSERS[name](DATA / name, text=text)


def test_mutated_eaf_raises_only_observation_error(tmp_path_factory):
    original = (DATA / "dyad021.eaf").read_text()
    path = tmp_path_factory.mktemp("eaf") / "fuzz.eaf"

    @settings(max_examples=60, deadline=None)
    @given(mutated(original))
    def run(text):
        path.write_text(text, encoding="utf-8")
        with contextlib.suppress(ObservationError):
            read_eaf(path)

    run()


# --- structured properties ------------------------------------------------------------------

names = st.text(alphabet=st.characters(whitelist_categories=("L", "N"), whitelist_characters=" -_"),
                min_size=1, max_size=12).map(str.strip).filter(bool)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["s1", "dyad 2"]), names, names,
                          st.integers(0, 600_000), st.one_of(st.none(), st.integers(1, 60_000))),
                min_size=1, max_size=30))
def test_sdis_round_trip_property(rows):
    ev = make_event_table([{"session": s, "actor": a, "code": c, "onset": on / 1000,
                            "offset": None if d is None else (on + d) / 1000}
                           for s, a, c, on, d in rows])
    back = read_sdis("rt.sds", text=to_sdis(ev))
    ev = ev.sort_values("session", kind="stable", key=lambda s: s.map(
        {v: i for i, v in enumerate(pd.unique(ev["session"]))})).reset_index(drop=True)
    cols = ["session", "actor", "code"]
    assert back[cols].values.tolist() == ev[cols].values.tolist()
    assert back["onset"].to_numpy() == pytest.approx(ev["onset"].to_numpy(), abs=1e-9)
    assert np.array_equal(np.isnan(back["offset"]), np.isnan(ev["offset"]))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 900), max_size=12), st.lists(st.integers(0, 900), max_size=12),
       st.integers(5, 90), st.sampled_from([(0.0, 5.0), (0.0, 2.0), (1.0, 3.0)]))
def test_metrics_equal_loop_reference_property(cues, resps, end, window):
    cues = sorted({c / 10 for c in cues if c / 10 <= end})
    resps = sorted({r / 10 for r in resps if r / 10 <= end})
    # the reference counts 0 s to end: the session states that coded interval
    span = {"duration": end, "interval_start": 0.0, "interval_end": float(end)}
    rows = [{"session": "s", "actor": "infant", "code": "cue", "onset": c, **span}
            for c in cues]
    rows += [{"session": "s", "actor": "Mum", "code": "resp", "onset": r, **span}
             for r in resps]
    if not rows:
        return
    ev = make_event_table(rows)
    m = session_metrics(ev, cues=["cue"], responses=["resp"], window=window, permutations=5000)
    row = m[m["cue_type"] == "all"].iloc[0]
    ref = naive_session(cues, resps, float(end), window=window)
    for key in ("a", "b", "c", "d"):
        assert row[key] == ref[key]
    for key in ("responsiveness", "median_latency", "yules_q", "permutation_p"):
        got, want = row[key], ref[key]
        assert (math.isnan(got) and math.isnan(want)) or got == pytest.approx(want), key


def test_mutated_opf_raises_only_observation_error(tmp_path_factory):
    import zipfile

    from attunement.observation.importers import read_opf

    with zipfile.ZipFile(DATA / "dyad021.opf") as z:
        db = z.read("db").decode()
    raw = (DATA / "dyad021.opf").read_bytes()
    folder = tmp_path_factory.mktemp("opf")

    @settings(max_examples=40, deadline=None)
    @given(mutated(db), st.binary(max_size=64), st.integers(0, len(raw)))
    def run(text, junk, cut):
        good = folder / "a.opf"
        with zipfile.ZipFile(good, "w") as z:
            z.writestr("db", text)
        bad = folder / "b.opf"
        bad.write_bytes(raw[:cut] + junk)
        for p in (good, bad):
            with contextlib.suppress(ObservationError):
                read_opf(p)

    run()
