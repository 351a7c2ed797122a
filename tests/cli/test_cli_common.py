"""What every command shares (`attunement.cli._common`): one error line, one table reader and
writer, one JSON printer; and the commands that now go through them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest
import typer
from typer.testing import CliRunner

from attunement.cli import app
from attunement.cli._common import fail, print_json, read_table, write_table

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
runner = CliRunner()


def test_fail_prints_one_error_line_and_exits_with_the_code(
        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(typer.Exit) as caught:
        fail(ValueError("x.csv: line 3, column epds_1: 'seven' is not a number"))
    assert caught.value.exit_code == 2
    assert capsys.readouterr().err == "error: x.csv: line 3, column epds_1: 'seven' is not a number\n"
    with pytest.raises(typer.Exit) as caught:
        fail("[bold]kept as written[/bold]", code=1)
    assert caught.value.exit_code == 1
    assert capsys.readouterr().err == "error: [bold]kept as written[/bold]\n"


def _error(call, capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(typer.Exit) as caught:
        call()
    assert caught.value.exit_code == 2
    return capsys.readouterr().err


def test_read_table_names_the_file_and_why(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "none.csv"
    assert _error(lambda: read_table(missing), capsys) == f"error: {missing}: no such file\n"
    odd = tmp_path / "t.xlsx"
    odd.write_bytes(b"PK")
    assert "expected a table file (.csv, .tsv, .parquet)" in _error(lambda: read_table(odd), capsys)
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("a,b\n1,2\n3,4,5\n")
    err = _error(lambda: read_table(ragged), capsys)
    assert err.startswith(f"error: {ragged}: cannot read the table (") and "line 3" in err
    err = _error(lambda: read_table(ragged, engine="polars"), capsys)
    assert err.startswith(f"error: {ragged}: cannot read the table (") and err.count("\n") == 1
    bad_parquet = tmp_path / "t.parquet"
    bad_parquet.write_text("not parquet")
    assert f"{bad_parquet}: cannot read the table" in _error(lambda: read_table(bad_parquet),
                                                              capsys)


def test_read_and_write_every_table_format(tmp_path: Path) -> None:
    frame = pd.DataFrame({"study": ["Müller 2001", "Lee 2010"], "yi": [0.25, -0.5]})
    for name in ("t.csv", "t.tsv", "t.txt", "t.parquet", "t.pq"):
        write_table(frame, tmp_path / name)
        pd.testing.assert_frame_equal(read_table(tmp_path / name), frame)
        got = read_table(tmp_path / name, engine="polars")
        assert got.to_dicts() == frame.to_dict("records")
    assert (tmp_path / "t.tsv").read_text().splitlines()[0] == "study\tyi"
    write_table(frame, tmp_path / "t.json")
    assert json.loads((tmp_path / "t.json").read_text()) == frame.to_dict("records")
    write_table(pl.from_pandas(frame), tmp_path / "p.parquet")
    pd.testing.assert_frame_equal(read_table(tmp_path / "p.parquet"), frame)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_polars_reads_unparseable_item_columns_as_text(tmp_path: Path) -> None:
    path = tmp_path / "epds.csv"
    path.write_text("id,epds_1\n" + "".join(f"{i},1\n" for i in range(20000)) + "0,seven\n")
    frame = read_table(path, engine="polars", text_prefix="epds_")
    assert frame["epds_1"].dtype == pl.Utf8 and frame["epds_1"][-1] == "seven"


def test_a_failed_write_leaves_the_old_file(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.parquet"
    out.write_bytes(b"the old table")
    mixed = pd.DataFrame({"x": [1, "a", 2.5, object()]})
    err = _error(lambda: write_table(mixed, out), capsys)
    assert err.startswith(f"error: {out}: cannot write (")
    assert out.read_bytes() == b"the old table"
    assert [p.name for p in tmp_path.iterdir()] == ["out.parquet"]
    nowhere = tmp_path / "no" / "such" / "dir" / "out.csv"
    assert _error(lambda: write_table(mixed, nowhere), capsys).startswith(
        f"error: {nowhere}: cannot write (")


def test_print_json_prints_numpy_numbers_as_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    print_json({"n": np.int64(3), "p": np.float64(0.25), "on": pd.Timestamp("2026-01-02"),
                "name": "Müller"}, indent=None)
    out = capsys.readouterr().out
    assert json.loads(out) == {"n": 3, "p": 0.25, "on": "2026-01-02 00:00:00", "name": "Müller"}
    assert "Müller" in out


def test_effect_sizes_writes_a_tsv_with_tabs(tmp_path: Path) -> None:
    """It used to write commas into a .tsv file."""
    out = tmp_path / "es.tsv"
    r = runner.invoke(app, ["effect-sizes", str(EXAMPLES / "smd_trials.csv"), "--measure", "SMD",
                            "--output", str(out)])
    assert r.exit_code == 0, r.output
    header = out.read_text().splitlines()[0].split("\t")
    assert {"yi", "vi"} <= set(header)
    back = read_table(out)
    assert len(back) == len(pd.read_csv(EXAMPLES / "smd_trials.csv"))


def test_an_unwritable_output_is_one_error_line(tmp_path: Path) -> None:
    """It used to end in a traceback."""
    out = tmp_path / "missing-folder" / "es.csv"
    r = runner.invoke(app, ["effect-sizes", str(EXAMPLES / "smd_trials.csv"), "--measure", "SMD",
                            "--output", str(out)])
    assert r.exit_code == 2, r.output
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    assert r.stderr.startswith(f"error: {out}: cannot write (") and r.stderr.count("\n") == 1


def test_trials_fit_reads_tsv_and_parquet_as_csv(tmp_path: Path) -> None:
    """`trials` read every file as CSV (a TSV became one column); it reads tables as the
    other commands do now."""
    frame = pd.read_csv(EXAMPLES / "trial.csv")
    frame.to_csv(tmp_path / "trial.tsv", sep="\t", index=False)
    frame.to_parquet(tmp_path / "trial.parquet", index=False)
    shutil.copy(EXAMPLES / "trial.csv", tmp_path / "trial.csv")
    results = []
    for name in ("trial.csv", "trial.tsv", "trial.parquet"):
        r = runner.invoke(app, ["trials", "fit", str(tmp_path / name), "--formula",
                                "y ~ arm * wave + (1 | centre) + (1 | family)", "--json"])
        assert r.exit_code == 0, r.output
        results.append(json.loads(r.stdout))
    assert results[0] == results[1] == results[2]


def test_with_store_gives_a_command_the_store_options_and_the_open_store(tmp_path: Path) -> None:
    from attunement.cli._common import with_store

    seen: list[object] = []
    cli = typer.Typer()

    @cli.command()
    @with_store
    def sites(store, name: str = typer.Argument(...)) -> None:  # type: ignore[no-untyped-def]
        seen.append((name, [s["name"] for s in store.accounts.list_sites(store.system_actor())]))

    db, key = f"sqlite:///{tmp_path / 'a.db'}", str(tmp_path / "k.key")
    result = runner.invoke(cli, ["North", "--db", db, "--key-file", key])
    assert result.exit_code == 0, result.output
    assert seen == [("North", [])]
    options = runner.invoke(cli, ["--help"], env={"COLUMNS": "120"}).output
    assert options.index("--db") < options.index("--key-file")
    bad = runner.invoke(cli, ["North", "--db", "nonsense://x"])
    assert bad.exit_code == 1 and "cannot open the database" in bad.output
