"""ELAN files as real tools and corpora write them (tests/observation/data/real/elan/README.md)."""

from __future__ import annotations

import contextlib
import io
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from attunement.observation import ObservationError, read_events, write_events
from attunement.observation.events import make_event_table
from attunement.observation.importers.elan import read_eaf

REAL = Path(__file__).parent / "data" / "real" / "elan"

# every annotation of every tier that is not a Symbolic_Association (those become modifiers);
# counted with pympi-ling in test_counts_agree_with_pympi
EXPECTED = {
    "sample_2.7.eaf": 6783,
    "sample_2.8.eaf": 6783,
    "sample_3.0.eaf": 6783,
    "childproject_example.eaf": 296,
    "childproject_example_solis.eaf": 292,
    "childproject_eaf_any_tier.eaf": 205,
}


def _pympi_count(path: Path) -> int:
    from pympi.Elan import Eaf

    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        eaf = Eaf(str(path))
    n = 0
    for tier in eaf.get_tier_names():
        lt = eaf.get_parameters_for_tier(tier)["LINGUISTIC_TYPE_REF"]
        if eaf.linguistic_types[lt].get("CONSTRAINTS") == "Symbolic_Association":
            continue
        aligned, refs = eaf.tiers[tier][0], eaf.tiers[tier][1]
        n += len(aligned) + len(refs)
    return n


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_counts_agree_with_pympi(name):
    assert _pympi_count(REAL / name) == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_real_file_imports_every_event(name):
    ev = read_events(REAL / name)
    assert len(ev) == EXPECTED[name]
    assert set(ev["session"]) == {Path(name).stem}
    assert (ev["offset"] >= ev["onset"]).all() and np.isfinite(ev["offset"]).all()
    assert (ev["tier"] != "").all()


def _by_id(ev: pd.DataFrame) -> pd.DataFrame:
    return ev.assign(aid=ev["source"].str.rsplit("/", n=1).str[1]).set_index("aid")


def test_time_subdivision_slots_are_placed_between_aligned_ones():
    # "The quick brown fox 003" (a3, 8000-11000 ms) is divided into 5 words whose inner slots
    # ts39-ts42 have no time: ELAN spreads them evenly, 600 ms each
    ev = _by_id(read_eaf(REAL / "sample_3.0.eaf"))
    words = ev.loc[["a410", "a411", "a412", "a413", "a414"]]
    assert list(words["code"]) == ["The", "quick", "brown", "fox", "003"]
    assert list(words["onset"]) == [8.0, 8.6, 9.2, 9.8, 10.4]
    assert list(words["offset"]) == [8.6, 9.2, 9.8, 10.4, 11.0]
    assert set(words["tier"]) == {"words-timesub"}
    assert ev.loc["a3", "onset"] == 8.0 and ev.loc["a3", "offset"] == 11.0


def test_symbolic_subdivisions_divide_their_parent_evenly():
    ev = read_eaf(REAL / "sample_3.0.eaf")
    sym = ev[ev["tier"] == "words-symsub"]
    text = ev[ev["tier"] == "text"]
    assert len(sym) == 1995 and len(text) == 399
    # the first sentence (2.0-5.0 s) has five symbolic words: 0.6 s each
    first = sym[(sym["onset"] >= 2.0) & (sym["offset"] <= 5.0)]
    assert list(first["code"]) == ["The", "quick", "brown", "fox", "001"]
    assert np.allclose(first["onset"], [2.0, 2.6, 3.2, 3.8, 4.4])


def test_empty_annotations_are_events_without_a_value():
    ev = read_eaf(REAL / "childproject_eaf_any_tier.eaf")
    assert (ev["code"] == "").sum() == 185
    ev = read_eaf(REAL / "childproject_example_solis.eaf")
    empty = ev[ev["code"] == ""]
    assert len(empty) == 30
    assert set(empty["tier"]) <= {"code_periodic", "context_periodic", "code_num_periodic",
                                  "FA2", "MA1", "MC1", "CHI", "FA1", "Remember-me"}


def test_symbolic_association_values_become_modifiers_through_chains():
    ev = read_eaf(REAL / "childproject_example.eaf")
    # mwu@CHI -> lex@CHI -> CHI: 120 mwu values, none dropped
    assert ev["modifiers"].str.count("mwu@CHI=").sum() == 120
    assert ev["modifiers"].str.count("lex@CHI=").sum() == 134
    assert "mwu@CHI" not in set(ev["tier"]) and "lex@CHI" not in set(ev["tier"])
    chi = ev[ev["modifiers"].str.contains("mwu@CHI=")]
    assert set(chi["tier"]) == {"CHI"}


def test_speakers_sharing_a_participant_are_told_apart_by_tier():
    ev = read_eaf(REAL / "childproject_example_solis.eaf")
    # FA2, MA1 and MC1 all say PARTICIPANT="MULTI": three speakers, not one
    assert "MULTI" not in set(ev["actor"])
    for tier in ("FA2", "MA1", "MC1"):
        assert set(ev.loc[ev["tier"] == tier, "actor"]) == {tier}
    assert set(ev.loc[ev["tier"] == "CHI", "actor"]) == {"Child"}
    assert set(ev.loc[ev["tier"] == "FA2", "participant"]) == {"MULTI"}
    forced = read_eaf(REAL / "childproject_example_solis.eaf", speakers="participant")
    assert set(forced.loc[forced["tier"].isin(["FA2", "MA1", "MC1"]), "actor"]) == {"MULTI"}


def test_one_participants_own_lanes_keep_the_participant(tmp_path):
    ev = make_event_table(pd.DataFrame({
        "session": "s", "actor": ["Mother", "Mother", "infant"], "code": ["gaze", "touch", "cry"],
        "onset": [1.0, 2.0, 3.0], "offset": [1.5, 2.5, 3.5]}))
    write_events(ev, tmp_path / "s.eaf")
    back = read_events(tmp_path / "s.eaf")
    assert sorted(back["actor"]) == ["Mother", "Mother", "infant"]


def test_tier_selection():
    ev = read_eaf(REAL / "childproject_example.eaf", tiers=["CHI", "FA1"])
    assert set(ev["tier"]) == {"CHI", "FA1"}
    assert len(ev) == 134 + 91
    # the selected tier's associations still come along
    assert ev["modifiers"].str.count("mwu@CHI=").sum() == 120
    assert len(read_events(REAL / "childproject_example.eaf", tiers=["UC3"])) == 5


def test_tier_selection_errors_name_the_tiers():
    with pytest.raises(ObservationError, match=r"no tier 'Mum'; the file has CHI, FA1"):
        read_eaf(REAL / "childproject_example.eaf", tiers=["Mum"])
    with pytest.raises(ObservationError, match=r"'xds@FA1' is a Symbolic_Association tier.*"
                                               r"'FA1'"):
        read_eaf(REAL / "childproject_example.eaf", tiers=["xds@FA1"])


PFSX = """<?xml version="1.0" encoding="UTF-8"?>
<preferences version="1.1">
    <pref key="SelectionBeginTime"><Long>{lo}</Long></pref>
    <pref key="SelectionEndTime"><Long>{hi}</Long></pref>
</preferences>
"""


def test_elan_time_selection_is_the_coded_interval(tmp_path):
    shutil.copy(REAL / "childproject_example.eaf", tmp_path / "rec.eaf")
    ev = read_eaf(tmp_path / "rec.eaf")
    assert ev["interval_start"].isna().all() and ev["interval_end"].isna().all()
    (tmp_path / "rec.pfsx").write_text(PFSX.format(lo=60000, hi=10860123))
    ev = read_events(tmp_path / "rec.eaf")
    assert (ev["interval_start"] == 60.0).all() and (ev["interval_end"] == 10860.123).all()
    # an empty selection is no interval; an explicit one wins
    (tmp_path / "rec.pfsx").write_text(PFSX.format(lo=0, hi=0))
    assert read_eaf(tmp_path / "rec.eaf")["interval_start"].isna().all()
    ev = read_eaf(tmp_path / "rec.eaf", interval=(5.0, 65.5))
    assert (ev["interval_end"] == 65.5).all()
    (tmp_path / "rec.pfsx").write_text(PFSX.format(lo="soon", hi=1))
    with pytest.raises(ObservationError, match=r"rec\.pfsx: SelectionBeginTime 'soon'"):
        read_eaf(tmp_path / "rec.eaf")


def test_round_trip_keeps_milliseconds_at_any_length(tmp_path):
    on = np.array([0.001, 9999.999, 10000.001, 36000.123, 86399.998, 123456.789])
    ev = make_event_table(pd.DataFrame({"session": "day", "actor": "infant", "code": "cry",
                                        "onset": on, "offset": on + 0.001}))
    write_events(ev, tmp_path / "day.eaf")
    back = read_events(tmp_path / "day.eaf").sort_values("onset")
    assert np.array_equal(np.round(back["onset"].to_numpy() * 1000), np.round(on * 1000))
    assert np.array_equal(back["onset"].to_numpy(), np.round(on * 1000) / 1000)
    assert np.array_equal(back["offset"].to_numpy(), np.round((on + 0.001) * 1000) / 1000)


def test_day_long_times_are_not_rounded(tmp_path):
    text = (REAL / "childproject_example.eaf").read_text(encoding="utf-8")
    slots = text.count("TIME_VALUE=")
    assert slots > 0
    big = text.replace('TIME_VALUE="', 'TIME_VALUE="8640')  # push every slot past 86,400 s
    (tmp_path / "long.eaf").write_text(big, encoding="utf-8")
    ev = read_eaf(tmp_path / "long.eaf")
    ms = ev["onset"].to_numpy() * 1000
    assert np.array_equal(ms, np.round(ms))
    assert ev["onset"].min() >= 86400


def test_unplaceable_unaligned_slot_is_refused_with_the_annotation(tmp_path):
    text = (REAL / "sample_3.0.eaf").read_text(encoding="utf-8")
    # the last word's end slot of "The quick brown fox 003" loses its time: nothing after it
    broken = text.replace('<TIME_SLOT TIME_SLOT_ID="ts55" TIME_VALUE="11000"/>',
                          '<TIME_SLOT TIME_SLOT_ID="ts55"/>')
    assert broken != text
    (tmp_path / "b.eaf").write_text(broken, encoding="utf-8")
    with pytest.raises(ObservationError, match=r"b\.eaf: annotation a\d+ on tier '[\w-]+': time "
                                               r"slot 'ts55' has no time"):
        read_eaf(tmp_path / "b.eaf")


def test_cli_tier_option(tmp_path):
    import json

    from typer.testing import CliRunner

    from attunement.cli import app

    ev = make_event_table(pd.DataFrame({
        "session": "s", "actor": ["infant", "infant", "Mother", "Mother"],
        "code": ["cry", "cry", "soothe", "vocalise"], "onset": [3.0, 25.0, 5.0, 26.0],
        "offset": [4.0, 26.0, 6.0, 27.0]}))
    write_events(ev, tmp_path / "s.eaf")

    def metrics(*extra):
        out = tmp_path / "m.json"
        r = CliRunner().invoke(app, ["observe", "metrics", str(tmp_path / "s.eaf"), "--cues",
                                     "cry", "--responses", "soothe,vocalise", "--permutations",
                                     "0", "--output", str(out), *extra])
        return r, (json.loads(out.read_text()) if r.exit_code == 0 else None)

    r, m = metrics()
    assert r.exit_code == 0, r.output
    assert [row["responsiveness"] for row in m if row["cue_type"] == "all"] == [1.0]
    r, m = metrics("--tier", "infant-cry", "--tier", "Mother-soothe")
    assert r.exit_code == 0, r.output
    assert [row["responsiveness"] for row in m if row["cue_type"] == "all"] == [0.5]
    r, _ = metrics("--tier", "Mum")
    assert r.exit_code != 0 and "no tier 'Mum'; the file has" in r.output
    write_events(ev, tmp_path / "s.csv")
    r = CliRunner().invoke(app, ["observe", "metrics", str(tmp_path / "s.csv"), "--cues", "cry",
                                 "--responses", "soothe", "--tier", "x"])
    assert r.exit_code != 0 and "--tier selects ELAN tiers; this is a csv file" in r.output


def test_a_utf16_eaf_with_its_byte_order_mark(tmp_path):
    import codecs

    text = (REAL / "childproject_example.eaf").read_text(encoding="utf-8")
    text = text.replace('encoding="UTF-8"', 'encoding="UTF-16"', 1)
    (tmp_path / "u16.eaf").write_bytes(codecs.BOM_UTF16_LE + text.encode("utf-16-le"))
    ev = read_events(tmp_path / "u16.eaf")
    assert len(ev) == EXPECTED["childproject_example.eaf"]


def test_mutated_real_eaf_raises_only_observation_errors(tmp_path):
    import random

    rnd = random.Random(11)
    text = (REAL / "childproject_example_solis.eaf").read_text(encoding="utf-8")
    pieces = ['"', "<", ">", "ts1", "a1", "-1", "PARENT_REF=\"CHI\" ", "CONSTRAINTS=\"x\" "]
    p = tmp_path / "m.eaf"
    for _ in range(150):
        t = text
        for _ in range(rnd.randint(1, 3)):
            i = rnd.randrange(len(t))
            t = (t[:i] + t[i + rnd.randint(1, 30):] if rnd.random() < 0.4
                 else t[:i] + rnd.choice(pieces) + t[i:])
        p.write_text(t, encoding="utf-8")
        try:
            read_eaf(p)
        except ObservationError as exc:
            assert str(exc).startswith(str(p))
