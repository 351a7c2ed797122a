"""The `attunement score` and `attunement instruments` commands."""

from __future__ import annotations

import json

import polars as pl
from typer.testing import CliRunner

from attunement.cli import app

runner = CliRunner()
E4_POS = [2, 2, 2, 3, 3, 2, 3, 3, 3, 4]  # EPDS vector E4: total 12, EPDS-3A 5, no item-10 flag


def _write_csv(path, rows, extra=None):
    header = ["family", *[f"epds_{i}" for i in range(1, 11)]]
    lines = [",".join(header)]
    for k, r in enumerate(rows):
        lines.append(",".join([f"f{k}", *["" if v is None else str(v) for v in r]]))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_score_csv_to_stdout_positions(tmp_path):
    f = _write_csv(tmp_path / "in.csv", [E4_POS, [1] * 10])
    result = runner.invoke(app, ["score", "epds", str(f), "--input", "positions"])
    assert result.exit_code == 0, result.output
    out = pl.read_csv(result.stdout.encode())
    assert out["family"].to_list() == ["f0", "f1"]
    assert out["epds_total"].to_list() == [12, 21]
    assert out["epds_self_harm"].to_list() == [0, 1]


def test_score_parquet_output_and_threshold(tmp_path):
    f = _write_csv(tmp_path / "in.csv", [[1, 1, 2, 2, 1, 2, 1, 1, 1, 0]])
    out = tmp_path / "out.parquet"
    result = runner.invoke(app, ["score", "epds", str(f), "-o", str(out),
                                 "--threshold", "epds_possible_depression=13"])
    assert result.exit_code == 0, result.output
    df = pl.read_parquet(out)
    assert df["epds_total"].to_list() == [12]
    assert df["epds_possible_depression"].to_list() == [False]
    pq_in = tmp_path / "in.parquet"
    df.select(["family", *[f"epds_{i}" for i in range(1, 11)]]).write_parquet(pq_in)
    result = runner.invoke(app, ["score", "epds", str(pq_in)])
    assert result.exit_code == 0 and "12" in result.stdout


def test_safety_threshold_refused(tmp_path):
    f = _write_csv(tmp_path / "in.csv", [[0] * 10])
    result = runner.invoke(app, ["score", "epds", str(f), "--threshold", "epds_self_harm=2"])
    assert result.exit_code == 2 and "safety rule" in result.output


def test_bad_value_error_names_row_and_column(tmp_path):
    f = _write_csv(tmp_path / "in.csv", [[0] * 10, [0, 0, 0, 9, 0, 0, 0, 0, 0, 0]])
    result = runner.invoke(app, ["score", "epds", str(f)])
    assert result.exit_code == 2
    # one way of pointing at the record, the line a person sees (header = line 1)
    assert "line 3, column epds_4: 9 is out of range" in result.output
    assert "row 1" not in result.output


def test_instruments_list_keeps_every_id_whole_in_80_columns():
    from attunement.instruments import list_instruments

    result = runner.invoke(app, ["instruments", "list"], env={"COLUMNS": "80"})
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= 80
    firsts = {line.split("│")[1].strip() for line in lines if line.startswith("│")}
    assert {i.id for i in list_instruments()} <= firsts  # "ainswo…" no more


def test_on_error_report_writes_bad_rows(tmp_path):
    rows = [[0] * 10, ["x", *[0] * 9], [1] * 10]
    f = _write_csv(tmp_path / "in.csv", rows)
    out, errs = tmp_path / "out.csv", tmp_path / "bad.csv"
    result = runner.invoke(app, ["score", "epds", str(f), "-o", str(out), "--on-error", "report",
                                 "--errors", str(errs)])
    assert result.exit_code == 0, result.output
    assert pl.read_csv(out)["family"].to_list() == ["f0", "f2"]
    bad = pl.read_csv(errs)
    assert bad["line"].to_list() == [3] and bad["family"].to_list() == ["f1"]  # as the message
    assert "row" not in bad.columns
    assert "non-numeric value 'x'" in bad["reason"][0]


def test_missing_column_and_unknown_instrument(tmp_path):
    f = tmp_path / "in.csv"
    f.write_text("epds_1,epds_2\n1,1\n")
    result = runner.invoke(app, ["score", "epds", str(f)])
    assert result.exit_code == 2 and "column epds_3" in result.output
    result = runner.invoke(app, ["score", "nope", str(f)])
    assert result.exit_code == 2 and "unknown instrument 'nope'" in result.output


def test_instruments_list_show_export(tmp_path):
    result = runner.invoke(app, ["instruments", "list"], env={"COLUMNS": "300"})
    assert result.exit_code == 0 and "pbq" in result.stdout and "71354-5" in result.stdout
    result = runner.invoke(app, ["instruments", "show", "epds"], env={"COLUMNS": "300"})
    assert result.exit_code == 0
    for text in ("Cox", "self_harm", "possible_depression", "Royal College"):
        assert text in result.stdout, text
    out = tmp_path / "epds.json"
    result = runner.invoke(app, ["instruments", "export", "epds", "--format", "fhir", "-o",
                                 str(out)])
    assert result.exit_code == 0
    assert json.loads(out.read_text())["resourceType"] == "Questionnaire"
    result = runner.invoke(app, ["instruments", "export", "pbq", "--format", "redcap"])
    assert result.exit_code == 0
    assert result.stdout.startswith("Variable / Field Name,Form Name,Section Header")
