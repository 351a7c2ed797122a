"""Each importer on files in the tools' real formats; SDIS round trips; clear errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from attunement.observation import ObservationError, read_events, write_events
from attunement.observation.events import coded_intervals
from attunement.observation.importers import detect_format, to_sdis
from attunement.observation.importers.sdis import read_sdis

SAME_SESSION = ["boris_tabular.tsv", "dyad021.boris", "datavyu_long.csv", "datavyu_wide.csv",
                "boris_sample.sds", "observer_xt.csv", "dyad021.opf"]


def canon(ev: pd.DataFrame) -> pd.DataFrame:
    out = ev[["actor", "code", "onset", "offset"]].copy()
    out["code"] = out["code"].str.replace("_", " ")
    return out.sort_values(["onset", "actor", "code"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def plain(data_dir):
    return read_events(data_dir / "dyad021_plain.csv")


@pytest.mark.parametrize("name", SAME_SESSION)
def test_every_format_gives_the_same_events(data_dir, plain, name):
    ev = read_events(data_dir / name)
    pd.testing.assert_frame_equal(canon(ev), canon(plain))


def test_detect_format(data_dir):
    assert detect_format(data_dir / "boris_tabular.tsv") == "boris"
    assert detect_format(data_dir / "boris_aggregated_example.tsv") == "boris"
    assert detect_format(data_dir / "datavyu_long.csv") == "datavyu"
    assert detect_format(data_dir / "datavyu_wide.csv") == "datavyu"
    assert detect_format(data_dir / "dyad021_plain.csv") == "csv"
    assert detect_format(data_dir / "dyad021.eaf") == "elan"
    assert detect_format(data_dir / "boris_sample.sds") == "sdis"
    assert detect_format(data_dir / "dyad021.boris") == "boris-project"
    assert detect_format(data_dir / "observer_xt.csv") == "observer"
    assert detect_format(data_dir / "dyad021.opf") == "datavyu-opf"


def test_boris_aggregated_sample_with_independent_variables(data_dir):
    ev = read_events(data_dir / "boris_aggregated_example.tsv")
    raw = pd.read_csv(data_dir / "boris_aggregated_example.tsv", sep="\t")
    assert len(ev) == len(raw) == 71
    assert set(ev["session"]) == {"dyad-017 free play", "dyad-017 still face"}
    assert (ev["duration"] == 180.0).all()
    points = raw["Behavior type"] == "POINT"
    assert ev["offset"].isna().to_numpy().tolist() == points.tolist()
    assert ev["onset"].to_numpy() == pytest.approx(raw["Start (s)"].to_numpy())
    assert set(ev["category"]) == {"infant cue", "caregiver response"}
    # the two independent-variable columns are not mistaken for event fields
    assert not ev["actor"].isin(["6", "6 months"]).any()


def test_boris_modifiers_and_durations(data_dir):
    tab = read_events(data_dir / "boris_tabular.tsv").sort_values("onset")
    proj = read_events(data_dir / "dyad021.boris").sort_values("onset")
    assert tab["modifiers"].tolist() == proj["modifiers"].tolist()
    assert "gentle" in tab["modifiers"].tolist() and "firm" in tab["modifiers"].tolist()
    assert (tab["duration"] == 60).all() and (proj["duration"] == 60).all()


def test_elan_sample_and_participants(data_dir):
    ev = read_events(data_dir / "elan_example.eaf")
    assert ev[["actor", "code", "onset", "offset"]].values.tolist() == [
        ["Infant", "cry", 12.4, 17.9], ["Mother", "soothe", 14.1, 21.0],
        ["Infant", "fuss", 40.25, 43.0]]
    ev = read_events(data_dir / "dyad021.eaf")
    assert set(ev["actor"]) == {"Infant", "Mother"}
    assert set(ev["coder"]) == {"coder-B"}
    mods = ev.set_index("onset")["modifiers"]
    assert mods[5.0] == "Mother-quality=gentle" and mods[28.0] == "Mother-quality=firm"


def test_elan_round_trip(tmp_path, plain):
    states = plain[plain["offset"].notna()]
    write_events(states, tmp_path / "x.eaf")
    back = read_events(tmp_path / "x.eaf")
    pd.testing.assert_frame_equal(canon(back), canon(states))


def test_sdis_round_trip_is_exact(tmp_path, data_dir):
    ev = pd.concat([read_events(data_dir / "boris_aggregated_example.tsv"),
                    read_events(data_dir / "dyad021_plain.csv")], ignore_index=True)
    write_events(ev, tmp_path / "all.sds")
    back = read_events(tmp_path / "all.sds")
    cols = ["session", "actor", "code", "onset", "offset"]
    pd.testing.assert_frame_equal(back[cols], ev[cols], check_exact=False, atol=5e-4)
    # SDIS session bounds carry the coded interval (here first onset to last offset), so the
    # converted file is measured over the same time; the media length has no place in SDIS
    want = coded_intervals(ev)
    got = coded_intervals(back)
    pd.testing.assert_frame_equal(got, want, check_exact=False, atol=5e-4)
    # codes with spaces are written as SDIS-safe names and mapped back
    text = (tmp_path / "all.sds").read_text()
    assert "Infant_gaze_to_parent," in text and "($Infant = " in text
    assert "<dyad-017 free play>" in text


def test_sdis_without_declared_sets_or_mapping_comments():
    text = "Timed;\n<s1> Infant_cry,1-3 Mom_soothe,2.5-4 Mom_touch,0:05 ,0:10/\n"
    ev = read_sdis("x.sds", text=text)
    assert ev[["actor", "code", "onset", "offset"]].values.tolist()[:2] == [
        ["Infant", "cry", 1.0, 3.0], ["Mom", "soothe", 2.5, 4.0]]
    assert np.isnan(ev["offset"].iloc[2]) and ev["onset"].iloc[2] == 5.0
    assert (ev["duration"] == 10).all()


def test_sdis_declared_sets_and_shared_times():
    text = ("% comment\nTimed ($Inf = Cry Fuss) ($Mom = Soothe);\n"
            "<D1>\nCry+Fuss,3-8 Soothe,5-12 /\n<D2> Soothe,1-2 /\n")
    ev = read_sdis("x.sds", text=text)
    assert ev[["session", "actor", "code"]].values.tolist() == [
        ["D1", "Inf", "Cry"], ["D1", "Inf", "Fuss"], ["D1", "Mom", "Soothe"],
        ["D2", "Mom", "Soothe"]]


@pytest.mark.parametrize("text,line,match", [
    ("Event ($A = a b);\n<s> a b /\n", 1, "not supported"),
    ("Timed ($A = a);\n<s> a,1-2\n b,3-4 /\n", 3, "not declared"),
    ("Timed;\n<s> cry,abc /\n", 2, "not a time"),
    ("Timed;\n<s> Infant_cry,1-2\n", 2, "not ended"),
    ("Timed;\n<s>\n\n   garbage /\n", 4, "not a timed event"),
    ("no declaration here", 1, "no declaration"),
])
def test_sdis_errors_name_the_line(text, line, match):
    with pytest.raises(ObservationError, match=match) as exc:
        read_sdis("bad.sds", text=text)
    assert exc.value.line == line
    assert "bad.sds" in str(exc.value)


def test_to_sdis_point_events():
    from attunement.observation import make_event_table

    ev = make_event_table([{"session": "s", "actor": "Mother", "code": "vocal", "onset": 2.5},
                           {"session": "s", "actor": "Infant", "code": "cry", "onset": 1,
                            "offset": 3}])
    text = to_sdis(ev)
    assert "Mother_vocal,2.5 " in text or "Mother_vocal,2.5\n" in text
    back = read_sdis("x", text=text)
    assert np.isnan(back.set_index("code").loc["vocal", "offset"])


def test_plain_csv_errors_with_line_numbers(tmp_path):
    f = tmp_path / "bad.csv"
    f.write_text("session,actor,code,onset,offset\ns,infant,cry,1,2\n\ns,infant,cry,x,3\n")
    with pytest.raises(ObservationError) as exc:
        read_events(f)
    assert exc.value.line == 4 and exc.value.field == "onset" and "bad.csv" in str(exc.value)
    f.write_text("session,actor,onset\ns,infant,1\n")
    with pytest.raises(ObservationError, match="missing column 'code'"):
        read_events(f)
    f.write_text("session,actor,code,onset\ns,infant,cry,1,9\n")
    with pytest.raises(ObservationError, match=r"2 fields|5 fields|header") as exc:
        read_events(f)
    assert exc.value.line == 2


def test_boris_unpaired_states_are_reported_by_validation(data_dir, tmp_path):
    from attunement.observation import validate_events

    lines = (data_dir / "boris_tabular.tsv").read_text().splitlines()
    path = tmp_path / "unpaired.tsv"
    path.write_text("\n".join(lines[:-1]) + "\n")  # drop the last STOP
    ev = read_events(path)
    with pytest.raises(ObservationError, match="state 'soothe' has no stop") as exc:
        validate_events(ev)
    assert f"{path}:16" in str(exc.value)
    fixed = validate_events(ev, mode="lenient")
    assert fixed.events.set_index("onset").loc[55.0, "offset"] == 60.0
    assert fixed.repairs["repair"].tolist() == ["closed at the session end (60 s)"]
    # a STOP without a START cannot be repaired
    path.write_text("\n".join(lines[:1] + lines[2:]) + "\n")  # drop the first START (cry)
    with pytest.raises(ObservationError, match=r"STOP of 'cry' \(Infant\) without a START"):
        read_events(path)
    proj = json.loads((data_dir / "dyad021.boris").read_text())
    proj["observations"]["dyad-021 free play"]["events"].pop()
    (tmp_path / "odd.boris").write_text(json.dumps(proj))
    with pytest.raises(ObservationError, match="state 'soothe' has no stop"):
        validate_events(read_events(tmp_path / "odd.boris"))


def test_elan_errors(tmp_path, data_dir):
    text = (data_dir / "dyad021.eaf").read_text()
    (tmp_path / "a.eaf").write_text(text.replace('TIME_SLOT_REF2="ts2"', 'TIME_SLOT_REF2="ts99"'))
    with pytest.raises(ObservationError, match=r"ts99.*not a declared time slot"):
        read_events(tmp_path / "a.eaf")
    (tmp_path / "b.eaf").write_text(text[:500])
    with pytest.raises(ObservationError, match="not well-formed XML"):
        read_events(tmp_path / "b.eaf")


def test_convert_between_formats(tmp_path, data_dir, plain):
    write_events(read_events(data_dir / "dyad021.boris"), tmp_path / "x.csv")
    again = read_events(tmp_path / "x.csv")
    pd.testing.assert_frame_equal(canon(again), canon(plain))
    write_events(plain, tmp_path / "agg.tsv", format="boris")
    pd.testing.assert_frame_equal(canon(read_events(tmp_path / "agg.tsv")), canon(plain))


def test_lince_timed_export_without_session_label(data_dir):
    # LINCE writes one row per change: codes active together joined by '+', times as m:ss
    ev = read_events(data_dir / "lince_timed.sds")
    assert set(ev["session"]) == {"session1"}
    assert ev[["actor", "code", "onset", "offset"]].fillna(-1).values.tolist() == [
        ["Infant", "cry", 3.0, 5.0], ["Infant", "cry", 5.0, 8.0], ["Mother", "soothe", 5.0, 8.0],
        ["Mother", "soothe", 8.0, 12.0], ["Infant", "gaze", 14.0, 16.0],
        ["Mother", "vocalise", 16.0, -1]]
    # a zero-length item 'vocalise,0:16-0:16' is a point event, not a state lasting no time
    assert np.isnan(ev["offset"].iloc[-1])


def test_elan_writer_tier_per_code_and_overlap_error(tmp_path):
    from attunement.observation import make_event_table

    ev = make_event_table([
        {"session": "s", "actor": "Infant", "code": "cry", "onset": 1, "offset": 5, "coder": "A"},
        {"session": "s", "actor": "Infant", "code": "gaze", "onset": 2, "offset": 3, "coder": "A"},
    ])
    write_events(ev, tmp_path / "ok.eaf")  # overlapping codes go to separate tiers
    back = read_events(tmp_path / "ok.eaf")
    assert back[["actor", "code", "coder"]].values.tolist() == [
        ["Infant", "cry", "A"], ["Infant", "gaze", "A"]]
    ev.loc[1, "code"] = "cry"
    with pytest.raises(ObservationError, match="overlap"):
        write_events(ev, tmp_path / "bad.eaf")


def test_datavyu_opf_modifiers_and_errors(data_dir, tmp_path):
    import zipfile

    ev = read_events(data_dir / "dyad021.opf").set_index("onset")
    assert ev.loc[3.0, "modifiers"] == "intensity=high" and ev.loc[14.2, "modifiers"] == ""
    (tmp_path / "junk.opf").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ObservationError, match="not a readable"):
        read_events(tmp_path / "junk.opf")
    with zipfile.ZipFile(tmp_path / "bad.opf", "w") as z:
        z.writestr("db", "#4\nInfant_cues (MATRIX,true,)-code|NOMINAL\n00:00:03:000,oops\n")
    with pytest.raises(ObservationError) as exc:
        read_events(tmp_path / "bad.opf")
    assert exc.value.line == 3 and "bad.opf!db" in str(exc.value)
