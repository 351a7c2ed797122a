"""The ``attunement observe`` commands end to end."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from attunement.cli import app
from attunement.observation import icc, read_events

runner = CliRunner()


def run(*args):
    return runner.invoke(app, ["observe", *map(str, args)])


def test_metrics_plain_csv_with_cues_and_responses(tmp_path, data_dir):
    out = tmp_path / "m.csv"
    r = run("metrics", data_dir / "dyad021_plain.csv", "--cues", "cry,gaze to parent",
            "--responses", "soothe,vocalise", "--seed", 1, "--output", out)
    assert r.exit_code == 0, r.output
    m = pd.read_csv(out)
    for col in ("n_cues", "responsiveness", "median_latency", "yules_q", "odds_ratio",
                "adjusted_residual", "permutation_p"):
        assert col in m.columns
    row = m[(m["cue_type"] == "cry")].iloc[0]
    # cries at 3, 25, 47: responses (soothe/vocalise onsets) at 5 and 28 → 2 of 3
    assert row["n_cues"] == 3 and row["responsiveness"] == pytest.approx(2 / 3)
    assert row["median_latency"] == pytest.approx(2.5)


def test_metrics_with_scheme_on_several_files(tmp_path, data_dir):
    out = tmp_path / "m.json"
    r = run("metrics", data_dir / "boris_aggregated_example.tsv", data_dir / "dyad021.boris",
            "--scheme", data_dir / "dyad_scheme.yaml", "--window", "0,3", "--unit", "0.5",
            "--permutations", "200", "--seed", "4", "--output", out)
    assert r.exit_code == 0, r.output
    m = pd.DataFrame(json.loads(out.read_text()))
    assert set(m["session"]) == {"dyad-017 free play", "dyad-017 still face",
                                 "dyad-021 free play"}
    assert set(m["cue_type"]) == {"all", "distress", "social bid"}
    # 200 sampled shifts, or every shift when a session has fewer: dyad-021 is coded from its
    # first onset to its last offset (no interval in the file), 54.6 s / 0.5 s → 110 units
    length = m["interval_end"] - m["interval_start"]
    assert (length == m["duration"]).all()
    want = np.minimum(200, np.ceil(length / 0.5 - 1e-9).astype(int) - 1)
    assert (m["n_permutations"] == want).all() and (m["n_permutations"] == 109).any()


def test_metrics_reports_the_file_and_line_of_bad_data(tmp_path, data_dir):
    bad = tmp_path / "bad.csv"
    bad.write_text("session,actor,code,onset,offset\ns,Infant,cry,4,2\n")
    r = run("metrics", bad, "--cues", "cry", "--responses", "soothe")
    assert r.exit_code == 2
    assert f"{bad}:2" in r.output and "before its onset" in r.output
    r = run("metrics", bad, "--cues", "cry", "--responses", "soothe", "--lenient")
    assert r.exit_code == 0, r.output
    assert "event removed" in r.output


def test_metrics_bad_window():
    r = runner.invoke(app, ["observe", "metrics", "--help"])
    assert r.exit_code == 0 and "--permutations" in r.output
    r = run("metrics", "tests/observation/data/dyad021_plain.csv", "--cues", "cry",
            "--responses", "soothe", "--window", "5,1")
    assert r.exit_code != 0


def test_agreement_between_two_tools(tmp_path, data_dir):
    out = tmp_path / "a.csv"
    # the same coding exported by BORIS (coder A) and Datavyu-renamed (coder B, 1 s late)
    a = read_events(data_dir / "dyad021_plain.csv")
    b = a.copy()
    b["onset"] += 1.0
    b["offset"] += 1.0
    b.drop(columns=["source"]).to_csv(tmp_path / "b.csv", index=False)
    r = run("agreement", data_dir / "dyad021_plain.csv", tmp_path / "b.csv", "--codes",
            "cry,soothe,gaze to parent,vocalise", "--tolerance", "1", "--output", out)
    assert r.exit_code == 0, r.output
    res = pd.read_csv(out)
    ev = res[res["measure"] == "event"].set_index("actor")
    assert (ev["kappa"] == 1.0).all()          # every event matched within 1 s
    tu = res[(res["measure"] == "time-unit") & (res["codes"] == "cry")]
    assert (tu[tu["tolerance"] == 0]["kappa"] < 1).all()
    assert (tu[tu["tolerance"] == 1]["kappa"] == 1).all()


def test_agreement_of_global_ratings_is_psych_icc(data_dir, tmp_path):
    out = tmp_path / "r.csv"
    r = run("agreement", data_dir / "ratings_coder_a.csv", data_dir / "ratings_coder_b.csv",
            "--ratings", "--levels", "1,9", "--output", out)
    assert r.exit_code == 0, r.output
    res = pd.read_csv(out).set_index("statistic")
    a = pd.read_csv(data_dir / "ratings_coder_a.csv")["score"]
    b = pd.read_csv(data_dir / "ratings_coder_b.csv")["score"]
    want = icc(np.column_stack([a, b])).set_index("type")
    assert res.loc["ICC(2,1)", "value"] == pytest.approx(want.loc["ICC(2,1)", "icc"])
    assert "kappa (quadratic)" in res.index


def test_convert_boris_to_sdis_and_back(tmp_path, data_dir):
    sds = tmp_path / "x.sds"
    r = run("convert", data_dir / "boris_aggregated_example.tsv", sds)
    assert r.exit_code == 0, r.output
    assert "71 events (2 sessions)" in r.output
    back = read_events(sds)
    orig = read_events(data_dir / "boris_aggregated_example.tsv")
    assert back["onset"].to_numpy() == pytest.approx(orig["onset"].to_numpy())
    r = run("convert", sds, tmp_path / "x.eaf")
    assert r.exit_code == 2 and "one session" in r.output


def test_report_html_summary_and_session_pages_and_png_alone(tmp_path, data_dir):
    html = tmp_path / "r.html"
    r = run("report", data_dir / "boris_aggregated_example.tsv", "--scheme",
            data_dir / "dyad_scheme.yaml", "--output", html, "--seed", 1)
    assert r.exit_code == 0, r.output
    text = html.read_text()
    assert "responsiveness" in text and "interval_start" in text
    pages = sorted((tmp_path / "r_sessions").glob("*.html"))
    assert [p.name for p in pages] == ["dyad-017_free_play.html", "dyad-017_still_face.html"]
    for p in pages:
        assert f"href='r_sessions/{p.name}'" in text
        page = p.read_text()
        assert "<svg" in page and "yules_q" in page and "Coded interval" in page
        assert "http" not in page.replace("http://www.w3.org/2000/svg", "")  # no assets
    assert "http" not in text
    png = tmp_path / "r.png"
    r = run("report", data_dir / "boris_aggregated_example.tsv", "--scheme",
            data_dir / "dyad_scheme.yaml", "--session", "dyad-017 free play", "--output", png)
    assert r.exit_code == 0, r.output
    assert png.read_bytes().startswith(b"\x89PNG")
    r = run("report", data_dir / "boris_aggregated_example.tsv", "--scheme",
            data_dir / "dyad_scheme.yaml", "--output", png)
    assert r.exit_code == 2 and "--session" in r.output


def test_responses_in_window_highlight():
    from attunement.observation.report import responses_in_window

    mask = responses_in_window(np.array([3.0, 25.0, 47.0]), np.array([5, 18, 28, 55, 8.0]),
                               (0, 5))
    assert mask.tolist() == [True, False, True, False, True]


def test_same_session_in_two_files_is_an_error(data_dir):
    r = run("metrics", data_dir / "dyad021_plain.csv", data_dir / "boris_tabular.tsv",
            "--cues", "cry", "--responses", "soothe")
    assert r.exit_code == 2 and "'dyad-021 free play' is also in" in r.output


def test_agreement_of_two_elan_files_with_different_names(tmp_path, data_dir):
    text = (data_dir / "dyad021.eaf").read_text()
    (tmp_path / "coderA.eaf").write_text(text)
    (tmp_path / "coderB.eaf").write_text(text.replace('TIME_VALUE="3000"', 'TIME_VALUE="3600"'))
    out = tmp_path / "a.csv"
    r = run("agreement", tmp_path / "coderA.eaf", tmp_path / "coderB.eaf", "--codes",
            "cry,soothe,gaze to parent", "--output", out)
    assert r.exit_code == 0, r.output
    res = pd.read_csv(out)
    assert set(res["session"]) == {"coderA"}
    cry = res[(res["codes"] == "cry") & (res["measure"] == "time-unit")]
    assert (cry["kappa"] < 1).any() and (cry["kappa"] == 1).any()
