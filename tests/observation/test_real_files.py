"""Real files from BORIS and a mother–infant study (tests/observation/data/real/README.md): each
imports with the number of events counted independently of the importers, or is refused with
the file, the place and the real reason; the coded interval, the unnamed subject and the actor
behave as a researcher expects on them."""

from __future__ import annotations

import gzip
import json
import math
import warnings

import pandas as pd
import pytest

from attunement.observation import ObservationError, read_events, session_metrics
from attunement.observation.events import UNNAMED_SUBJECT

REAL = "real"
SEQ = "BORIS behavioural-sequences export"
HEADERLESS = "BORIS aggregated-events export without its header line"
EMPTY = "empty file"
NOT_EVENTS = "not a coded-event export"

# events per file, counted with pandas/json (rows of aggregated exports, START + POINT rows of
# tabular exports, point events + paired state rows of .boris projects, items of SDIS files),
# or the reason for refusing it
EXPECTED: dict[str, int | str] = {
    "boris/Test_events_to_behavioral_sequences_test_1": SEQ,
    "boris/Test_events_to_behavioral_sequences_test_2_separator": SEQ,
    "boris/Test_events_to_behavioral_sequences_test_4_behaviors_with_modifiers": SEQ,
    "boris/Test_events_to_behavioral_sequences_test_5_observation_not_paired": SEQ,
    "boris/Test_events_to_behavioral_sequences_test_6_multi_rows_description.txt": SEQ,
    "boris/Test_events_to_behavioral_sequences_test_7.txt": SEQ,
    "boris/boris_style_export.sds": 18,
    "boris/export_observations_list_test1.tsv": "BORIS observations list",
    "boris/otx_import_test.boris": 0,
    "boris/test.boris": 92,
    "boris/test2.boris": 51,
    "boris/test_check_txt_file_test_csv.csv": NOT_EVENTS,
    "boris/test_check_txt_file_test_tsv.tsv": NOT_EVENTS,
    "boris/test_export_aggregated_events_test_full_1.tsv": 18,
    "boris/test_export_aggregated_events_test_full_2.tsv": HEADERLESS,
    "boris/test_export_aggregated_events_test_full_3.tsv": HEADERLESS,
    "boris/test_export_aggregated_events_test_full_4.tsv": HEADERLESS,
    "boris/test_export_aggregated_events_test_full_5.tsv": HEADERLESS,
    "boris/test_export_aggregated_events_test_full_6.tsv": EMPTY,
    "boris/test_export_aggregated_events_test_full_with_trailing_spaces_in_modifiers.tsv":
        HEADERLESS,
    "boris/test_export_events_tabular.csv": 4,
    "boris/test_export_events_tabular.tsv": 4,
    "boris/test_export_events_tabular.xlsx": 4,
    "boris/test_export_events_tabular_fromxlsx.csv": 4,
    "boris/test_with_leading_trailing_spaces_in_modifiers.boris": 4,
    "boris/test_without_media_files_paths.boris": 51,
    "boris9/grouped/2_video_aggregated.tsv": HEADERLESS,
    "boris9/grouped/2_video_avi_aggregated.tsv": EMPTY,
    "boris9/grouped/2_video_avi_tabular.csv": 0,
    "boris9/grouped/2_video_avi_tabular.tsv": 0,
    "boris9/grouped/2_video_tabular.csv": 1,
    "boris9/grouped/2_video_tabular.tsv": 1,
    "boris9/grouped/ALL.sds": 83,
    "boris9/grouped/ALL_aggregated.csv": 83,
    "boris9/grouped/ALL_aggregated.tsv": 83,
    "boris9/grouped/live_aggregated.tsv": HEADERLESS,
    "boris9/grouped/live_export_behavioral_sequences_aggregated.tsv": HEADERLESS,
    "boris9/grouped/live_export_behavioral_sequences_tabular.csv": 22,
    "boris9/grouped/live_export_behavioral_sequences_tabular.tsv": 22,
    "boris9/grouped/live_not_paired_aggregated.tsv": EMPTY,
    "boris9/grouped/live_not_paired_tabular.csv": 9,
    "boris9/grouped/live_not_paired_tabular.tsv": 9,
    "boris9/grouped/live_tabular.csv": 9,
    "boris9/grouped/live_tabular.tsv": 9,
    "boris9/grouped/modifiers_aggregated.tsv": HEADERLESS,
    "boris9/grouped/modifiers_tabular.csv": 5,
    "boris9/grouped/modifiers_tabular.tsv": 5,
    "boris9/grouped/observation_#1_aggregated.tsv": HEADERLESS,
    "boris9/grouped/observation_#1_tabular.csv": 4,
    "boris9/grouped/observation_#1_tabular.tsv": 4,
    "boris9/grouped/observation_#2_(copy)_aggregated.tsv": HEADERLESS,
    "boris9/grouped/observation_#2_(copy)_tabular.csv": 18,
    "boris9/grouped/observation_#2_(copy)_tabular.tsv": 18,
    "boris9/grouped/observation_#2_aggregated.tsv": HEADERLESS,
    "boris9/grouped/observation_#2_tabular.csv": 18,
    "boris9/grouped/observation_#2_tabular.tsv": 18,
    "boris9/grouped/observation_without_events_aggregated.tsv": EMPTY,
    "boris9/grouped/observation_without_events_tabular.csv": 0,
    "boris9/grouped/observation_without_events_tabular.tsv": 0,
    "boris9/grouped/offset_neg_aggregated.tsv": HEADERLESS,
    "boris9/grouped/offset_neg_tabular.csv": 4,
    "boris9/grouped/offset_neg_tabular.tsv": 4,
    "boris9/grouped/offset_positif_aggregated.tsv": HEADERLESS,
    "boris9/grouped/offset_positif_tabular.csv": 2,
    "boris9/grouped/offset_positif_tabular.tsv": 2,
    "boris9/single-media/ALL.sds": 40,
    "boris9/single-media/ALL_aggregated.csv": 40,
    "boris9/single-media/ALL_aggregated.tsv": 40,
    "boris9/single-media/live_aggregated.tsv": HEADERLESS,
    "boris9/single-media/live_export_behavioral_sequences_aggregated.tsv": HEADERLESS,
    "boris9/single-media/live_export_behavioral_sequences_tabular.csv": 22,
    "boris9/single-media/live_export_behavioral_sequences_tabular.tsv": 22,
    "boris9/single-media/live_tabular.csv": 9,
    "boris9/single-media/live_tabular.tsv": 9,
    "boris9/single-media/modifiers_aggregated.tsv": HEADERLESS,
    "boris9/single-media/modifiers_tabular.csv": 5,
    "boris9/single-media/modifiers_tabular.tsv": 5,
    "boris9/single-media/observation_#1_aggregated.tsv": HEADERLESS,
    "boris9/single-media/observation_#1_tabular.csv": 4,
    "boris9/single-media/observation_#1_tabular.tsv": 4,
    "ecber/6008BECNR.csv": 266,
    "ecber/6008BECNR.xlsx": 266,   # an Observer-style sheet of the same session
}


def test_every_real_file_is_listed(data_dir):
    # the BORIS and mother-infant folders; ELAN, Datavyu and Observer XT files have their tests
    on_disk = {str(p.relative_to(data_dir / REAL)) for folder in ("boris", "boris9", "ecber")
               for p in (data_dir / REAL / folder).rglob("*") if p.is_file()}
    assert on_disk == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_file_imports_or_is_refused_for_its_real_reason(data_dir, name):
    path = data_dir / REAL / name
    want = EXPECTED[name]
    if isinstance(want, int):
        ev = read_events(path)
        assert len(ev) == want
        assert not ev["modifiers"].str.contains("None").any()
        return
    with pytest.raises(ObservationError) as exc:
        read_events(path)
    assert want in str(exc.value)
    assert exc.value.source == str(path)          # names the file
    if want != EMPTY:
        assert exc.value.line == 1                # and the place
    assert "missing column 'session'" not in str(exc.value)


# --- BORIS 9: several media files, grouped exports ------------------------------------------

def test_two_media_files_add_up_and_two_players_run_side_by_side(data_dir):
    ev = read_events(data_dir / REAL / "boris9/grouped/ALL_aggregated.tsv")
    dur = ev.groupby("session")["duration"].first()
    assert dur["observation #2"] == pytest.approx(179.96 + 359.96)   # '179.960;359.960'
    assert dur["2 video"] == pytest.approx(179.96)                  # '179.960|179.960'
    assert dur["offset neg"] == pytest.approx(359.96)               # '359.960|179.960'
    # one such observation no longer sinks the whole grouped export
    assert ev["session"].nunique() == 9


def test_old_tabular_export_with_metadata_block(data_dir):
    ev = read_events(data_dir / REAL / "boris/test_export_events_tabular.tsv")
    assert set(ev["session"]) == {"observation #1"}
    assert ev[["actor", "code", "onset", "offset"]].values.tolist() == [
        ["subject1", "s", 3.3, 7.75], ["subject1", "s", 9.9, 16.2],
        ["subject1", "s", 18.35, 24.475], ["subject2", "s", 38.425, 46.1]]
    assert (ev["duration"] == 359.96).all()


def test_none_modifier_placeholder_is_not_a_value(data_dir):
    ev = read_events(data_dir / REAL / "boris/test_with_leading_trailing_spaces_in_modifiers.boris")
    assert sorted(ev["modifiers"]) == ["111", "a", "a|c", "c"]


def test_the_unnamed_subject_has_one_name_in_every_format(data_dir):
    reads = {
        "boris": read_events(data_dir / REAL / "boris/test.boris"),
        "tabular": read_events(data_dir / REAL / "boris9/grouped/observation_#2_tabular.tsv"),
        "aggregated": read_events(data_dir / REAL / "boris9/grouped/ALL_aggregated.tsv"),
        "sdis": read_events(data_dir / REAL / "boris9/grouped/ALL.sds"),
    }
    for name, ev in reads.items():
        obs2 = ev[ev["session"] == "observation #2"]
        assert set(obs2["actor"]) == {UNNAMED_SUBJECT, "subject1", "subject2"}, name
        assert "No" not in set(ev["actor"]), name
    # the same observation read two ways gives the same events
    def canon(ev):
        e = ev[ev["session"] == "observation #2"]
        return sorted(zip(e["actor"], e["code"], e["onset"].round(3),
                          e["offset"].fillna(-1).round(3), strict=True))
    assert canon(reads["boris"]) == canon(reads["tabular"]) == canon(reads["sdis"])


def test_sdis_from_boris_point_events_and_unnamed_subject(data_dir):
    ev = read_events(data_dir / REAL / "boris/boris_style_export.sds")
    p = ev[ev["code"] == "p"]
    assert len(p) == 8 and p["offset"].isna().all()          # '32.825-32.825' is a point
    assert set(p["actor"]) == {UNNAMED_SUBJECT, "subject2"}
    assert (ev.loc[ev["code"] == "s", "offset"] > ev.loc[ev["code"] == "s", "onset"]).all()


def test_gzip_compressed_boris_project(data_dir, tmp_path):
    src = data_dir / REAL / "boris/test.boris"
    gz = tmp_path / "test.boris.gz"
    gz.write_bytes(gzip.compress(src.read_bytes()))
    plain = read_events(src)
    packed = read_events(gz)
    pd.testing.assert_frame_equal(plain.drop(columns="source"), packed.drop(columns="source"))
    damaged = bytearray(gz.read_bytes())
    damaged[len(damaged) // 2:len(damaged) // 2 + 8] = b"\xff" * 8
    gz.write_bytes(bytes(damaged))
    with pytest.raises(ObservationError, match="damaged gzip file") as exc:
        read_events(gz)
    assert exc.value.source == str(gz)


# --- the coded interval ---------------------------------------------------------------------

ECBER = "ecber/6008BECNR.csv"


def _q_by_hand(cues, responses, lo, hi, window=5):
    """GSEQ time-window table with 1-s units from lo, counted with plain loops."""
    n = math.ceil(hi - lo - 1e-9)
    a = b = c = d = 0
    for u in range(n):
        given = any(math.floor(t - lo) <= u < math.floor(t - lo) + window
                    for t in cues if lo <= t <= hi)
        target = any(math.floor(r - lo) == u for r in responses if lo <= r <= hi)
        a += given and target
        b += given and not target
        c += target and not given
        d += not given and not target
    q = (a * d - b * c) / (a * d + b * c)
    n_ = a + b + c + d
    e = (a + b) * (a + c) / n_
    z = (a - e) / math.sqrt(e * (1 - (a + b) / n_) * (1 - (a + c) / n_))
    return q, z


def test_mother_infant_file_is_measured_over_its_coded_interval(data_dir):
    raw = pd.read_csv(data_dir / REAL / ECBER)
    cues = raw.loc[raw["Behavior"] == "LookAtMomActivity", "Start (s)"].tolist()
    resp = raw.loc[raw["Behavior"] == "Vocal", "Start (s)"].tolist()
    lo, hi = raw["Start (s)"].min(), raw["Stop (s)"].max()        # 689 - 989.126 s
    q_coded, _ = _q_by_hand(cues, resp, lo, hi)
    q_all, z_all = _q_by_hand(cues, resp, 0.0, 1381.01)
    assert round(q_coded, 2) == 0.37 and round(q_all, 2) == 0.88 and round(z_all, 1) == 12.8

    ev = read_events(data_dir / REAL / ECBER)
    kw = dict(cues=["LookAtMomActivity"], responses=["Vocal"], actors_from="code",
              permutations=0)
    m = session_metrics(ev, **kw).set_index("cue_type").loc["all"]
    assert (m["interval_start"], m["interval_end"]) == (689.0, pytest.approx(989.126))
    assert m["yules_q"] == pytest.approx(q_coded, abs=1e-12)
    assert m["n_cues"] == 13
    assert m["cues_per_minute"] == pytest.approx(13 / (989.126 - 689) * 60)
    whole = session_metrics(ev, interval=(0, 1381.01), **kw).set_index("cue_type").loc["all"]
    assert whole["yules_q"] == pytest.approx(q_all, abs=1e-12)
    assert whole["adjusted_residual"] == pytest.approx(z_all, abs=1e-9)
    assert (whole["interval_start"], whole["interval_end"]) == (0.0, 1381.01)


def test_cli_interval_flag_and_reported_interval(data_dir, tmp_path):
    from typer.testing import CliRunner

    from attunement.cli import app

    out = tmp_path / "m.csv"
    args = ["observe", "metrics", str(data_dir / REAL / ECBER), "--cues", "LookAtMomActivity",
            "--responses", "Vocal", "--actors-from", "code", "--permutations", "0", "-o",
            str(out)]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    m = pd.read_csv(out)
    assert m["yules_q"].round(2).tolist() == [0.37, 0.37]
    assert m["interval_start"].tolist() == [689.0, 689.0]
    r = CliRunner().invoke(app, [*args, "--interval", "0,1381.01"])
    assert r.exit_code == 0, r.output
    m = pd.read_csv(out)
    assert m["yules_q"].round(2).tolist() == [0.88, 0.88]
    assert m["interval_end"].tolist() == [1381.01, 1381.01]
    r = CliRunner().invoke(app, [*args, "--interval", "900,10"])
    assert r.exit_code != 0 and "start < end" in r.output


def test_boris_project_time_interval_is_the_coded_interval(data_dir, tmp_path):
    proj = json.loads((data_dir / REAL / "boris/test.boris").read_text())
    proj["observations"]["observation #2"]["observation time interval"] = [20.0, 300.0]
    f = tmp_path / "limited.boris"
    f.write_text(json.dumps(proj))
    ev = read_events(f)
    o2 = ev[ev["session"] == "observation #2"]
    assert (o2["interval_start"] == 20.0).all() and (o2["interval_end"] == 300.0).all()
    # [0, 0] is BORIS's "no limit": not an interval
    assert ev.loc[ev["session"] == "observation #2 (copy)", "interval_start"].isna().all()
    m = session_metrics(ev[ev["session"] == "observation #2"], cues=["s"], responses=["p"],
                        actors_from="code", permutations=0)
    assert (m["interval_start"] == 20.0).all() and (m["duration"] == 280.0).all()
    # events before 20 s are not counted: s starts at 1.8, 10.25 and 227.765 ... in the file
    s_on = o2.loc[o2["code"] == "s", "onset"]
    assert m.loc[m["cue_type"] == "all", "n_cues"].iloc[0] == int(((s_on >= 20) &
                                                                  (s_on <= 300)).sum())


# --- actors ---------------------------------------------------------------------------------

def test_actor_from_the_code_in_a_scheme(data_dir, tmp_path):
    from attunement.observation import load_scheme, validate_events

    f = tmp_path / "ecber.yaml"
    f.write_text(
        "scheme: ecber\nactors_from: code\ninfant: [baby]\ncodes:\n"
        "  LookAtMomActivity: {actor: infant, role: cue, kind: state}\n"
        "  Vocal: {actor: caregiver, name: Mom, role: response, kind: point}\n")
    sch = load_scheme(f)
    ev = read_events(data_dir / REAL / ECBER)
    ev = ev[ev["code"].isin(["LookAtMomActivity", "Vocal"])]
    checked = validate_events(ev, sch).events
    assert set(checked["actor"]) == {"baby", "Mom"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = session_metrics(checked, sch, permutations=0)
    assert set(m["caregiver"]) == {"Mom"} and (m["n_cues"] == 13).all()


def test_a_missed_infant_warns_by_name_instead_of_a_silent_zero(data_dir):
    from attunement.observation.actors import ObservationWarning

    ev = read_events(data_dir / REAL / ECBER)
    with pytest.warns(ObservationWarning) as rec:
        m = session_metrics(ev, cues=["LookAtMomActivity", "Smile"], responses=["Vocal"],
                            permutations=0)
    text = " ".join(str(w.message) for w in rec)
    assert "no event is on the infant" in text and "'(no focal subject)'" in text
    assert "cue code 'Smile' matches no event" in text
    assert "cue code 'LookAtMomActivity' occurs only on" in text
    assert (m["n_cues"] == 0).all()


def test_actor_from_the_subject_with_the_infant_named(data_dir):
    ev = read_events(data_dir / REAL / "boris/test.boris")
    ev = ev[ev["session"] == "observation #1"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = session_metrics(ev, cues=["s"], responses=["s"], actors_from="subject",
                            infant=["subject1"], permutations=0)
    row = m[m["cue_type"] == "all"].iloc[0]
    assert row["caregiver"] == "subject2" and row["n_cues"] == 3


def test_actors_from_a_column_the_format_does_not_record_is_an_error(data_dir):
    ev = read_events(data_dir / REAL / "boris/test.boris")
    with pytest.raises(ObservationError, match="no tier"):
        session_metrics(ev, cues=["s"], responses=["p"], actors_from="tier", permutations=0)


@pytest.mark.parametrize("yaml_text, message", [
    ("actors_from: speaker\n", "'actors_from' must be one of subject, code, tier"),
    ("actors_from: code\n", "with actors_from: code, a cue code must say actor: infant"),
])
def test_scheme_actors_from_is_validated(yaml_text, message):
    from attunement.observation import parse_scheme

    text = ("scheme: x\n" + yaml_text + "codes:\n  cry: {role: cue}\n"
            "  soothe: {actor: caregiver, role: response}\n")
    with pytest.raises(ObservationError, match=message):
        parse_scheme(text)


def test_scheme_caregiver_name_needs_a_caregiver_code():
    from attunement.observation import parse_scheme

    with pytest.raises(ObservationError, match="'name'"):
        parse_scheme("scheme: x\ncodes:\n  cry: {actor: infant, role: cue, name: Mom}\n"
                     "  soothe: {actor: caregiver, role: response}\n")


def test_agreement_counts_time_units_of_the_coded_interval_only(data_dir):
    from attunement.observation.timed_agreement import coder_agreement

    a = read_events(data_dir / REAL / ECBER)
    b = a.assign(onset=a["onset"] + 0.4)  # coder B starts every event 0.4 s later
    out = coder_agreement(a, b, codes=["LookAtMomActivity"], tolerance=0)
    tu = out[out["measure"] == "time-unit"].iloc[0]
    # 689 - 989.126 s coded: 301 one-second units, not the 1,381 s video
    assert tu["n"] == 301
    assert (tu["interval_start"], tu["interval_end"]) == (689.0, pytest.approx(989.126))
    # the 1,080 uncoded seconds, where both coders have nothing, would inflate agreement
    whole = coder_agreement(a, b, codes=["LookAtMomActivity"], tolerance=0,
                            interval=(0, 1381.01))
    assert whole[whole["measure"] == "time-unit"].iloc[0]["n"] == 1382
    assert whole[whole["measure"] == "time-unit"].iloc[0]["p_observed"] > tu["p_observed"]


@pytest.mark.parametrize("suffix", [".csv", ".sds"])
def test_the_coded_interval_survives_conversion(data_dir, tmp_path, suffix):
    from attunement.observation import write_events

    proj = json.loads((data_dir / REAL / "boris/test.boris").read_text())
    proj["observations"]["observation #1"]["observation time interval"] = [2.5, 50.25]
    src = tmp_path / "limited.boris"
    src.write_text(json.dumps(proj))
    ev = read_events(src)
    ev = ev[ev["session"] == "observation #1"]
    out = tmp_path / f"o1{suffix}"
    write_events(ev, out)
    back = read_events(out)
    assert (back["interval_start"] == 2.5).all() and (back["interval_end"] == 50.25).all()


@pytest.mark.parametrize("suffix", [".sds", ".csv", ".tsv"])
def test_a_converted_file_is_measured_over_the_same_interval(data_dir, tmp_path, suffix):
    from attunement.observation import write_events

    ev = read_events(data_dir / REAL / ECBER)
    out = tmp_path / f"6008{suffix}"
    write_events(ev, out)
    kw = dict(cues=["LookAtMomActivity"], responses=["Vocal"], actors_from="code",
              permutations=0)
    before = session_metrics(ev, **kw).set_index("cue_type").loc["all"]
    after = session_metrics(read_events(out), **kw).set_index("cue_type").loc["all"]
    assert after["yules_q"] == pytest.approx(before["yules_q"])
    assert after["interval_start"] == pytest.approx(689.0)


def test_events_outside_an_explicit_interval_are_reported_not_silently_dropped(data_dir):
    from attunement.observation.actors import ObservationWarning

    ev = read_events(data_dir / REAL / ECBER)
    with pytest.warns(ObservationWarning, match=r"'6008BECNR': 266 event\(s\) start outside "
                      r"the coded interval 0-600 s"):
        session_metrics(ev, cues=["LookAtMomActivity"], responses=["Vocal"],
                        actors_from="code", permutations=0, interval=(0, 600))


def test_the_same_observation_read_two_ways_agrees_perfectly(data_dir):
    from attunement.observation.timed_agreement import coder_agreement

    a = read_events(data_dir / REAL / "boris/test.boris")
    b = read_events(data_dir / REAL / "boris9/grouped/observation_#2_tabular.tsv")
    a = a[a["session"] == "observation #2"]
    out = coder_agreement(a, b, codes=["s", "p"], tolerance=0)
    unnamed = out[out["actor"] == UNNAMED_SUBJECT]
    assert len(unnamed) and (unnamed["kappa"] == 1.0).all()
    assert set(out["actor"]) == {UNNAMED_SUBJECT, "subject1", "subject2"}
