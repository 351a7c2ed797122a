"""Datavyu projects and CSV saves as Datavyu wrote them (tests/observation/data/real/datavyu)."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import numpy as np
import pytest

from attunement.observation import ObservationError, read_events
from attunement.observation.importers import detect_format
from attunement.observation.importers.datavyu import read_datavyu_csv, read_opf

REAL = Path(__file__).parent / "data" / "real" / "datavyu"

# cells per file: lines starting "HH:MM:SS:mmm,HH:MM:SS:mmm," in the db / CSV, counted by
# test_counts_are_the_cell_lines (an empty spreadsheet holds no event)
EXPECTED = {
    "IO__simple1.csv": 1,
    "IO__simple2.opf": 1,
    "IO__simple3.opf": 3,
    "IO__simple4.opf": 1,
    "pyvyu_DatavyuSampleSpreadsheet.opf": 81,
    "pyvyu_DatavyuSampleSpreadsheetTrimmed.opf": 6,
    "src__main__favorites__datavyu-childes-template-combined.opf": 3,
    "src__main__favorites__datavyu-childes-template-separate.opf": 3,
    "ui__demo_data_to_csv.opf": 60,
    "ui__demo_data_to_csv2.csv": 60,
    "ui__demo_data_to_csv2.opf": 60,
    "ui__location1__location1-7b4af9e2df.csv": 41,
    "ui__location1__location1.csv": 50,
    "ui__location1__location1.opf": 50,
    "ui__location1__test.csv": 50,
    "ui__location2__location2-40eab207f8.csv": 0,
    "ui__location2__location2.csv": 50,
    "ui__location2__location2.opf": 0,
    "ui__location2__test.csv": 50,
    "ui__missingVideo.opf": 0,
    "ui__modify-test-out.csv": 60,
    "ui__noWrite__test.opf": 0,
    "ui__odbCSV.csv": 53,
    "ui__oldProjectFormat.opf": 196,
    "ui__savedSHAPA.csv.opf": 60,
    "ui__savedSHAPA.opf": 60,
    "ui__savedSHAPA.shapa.opf": 60,
    "ui__test-v1-in.csv": 50,
    "ui__test-v1-out.csv": 50,
    "ui__test-v2-in.csv": 60,
    "ui__test-v2-out.csv": 60,
    "ui__test-v3-in.csv": 50,
    "ui__test-v3-out.csv": 50,
    "ui__test.csv": 60,
}
_CELL = re.compile(r"^\d+:\d\d:\d\d:\d{3},\d+:\d\d:\d\d:\d{3},")


def _raw(path: Path) -> str:
    if path.suffix != ".opf":
        return path.read_text(encoding="utf-8")
    with zipfile.ZipFile(path) as zf:
        (db,) = [n for n in zf.namelist() if n.split("/")[-1] == "db" and "MACOSX" not in n]
        return zf.read(db).decode("utf-8")


def test_the_corpus_is_all_here():
    assert sorted(p.name for p in REAL.iterdir() if p.suffix in {".csv", ".opf"}) == sorted(
        EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_counts_are_the_cell_lines(name):
    assert sum(1 for ln in _raw(REAL / name).splitlines() if _CELL.match(ln)) == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_real_file_imports_every_cell(name):
    ev = read_events(REAL / name)
    assert len(ev) == EXPECTED[name]
    assert (ev["column"] != "").all()
    assert set(ev["session"]) <= {Path(name).stem}


def test_datavyu_csv_saves_are_detected_as_datavyu():
    for name in ("IO__simple1.csv", "ui__test-v1-in.csv", "ui__test.csv", "ui__odbCSV.csv"):
        assert detect_format(REAL / name) == "datavyu"


def test_every_column_type():
    ev = read_opf(REAL / "ui__savedSHAPA.opf")
    by = {c: g for c, g in ev.groupby("column")}
    assert set(by) == {"float", "int", "text", "nominal", "predicate", "matrix"}
    assert by["float"]["code"].iloc[1] == "0.123400"
    assert list(by["int"]["code"].iloc[:2]) == ["0", "1234"]
    assert by["text"]["code"].iloc[0] == "textdata1"
    assert by["nominal"]["code"].iloc[0] == "nom1"
    # PREDICATE: the name is the code, its arguments (named by the vocabulary line) modifiers
    pred = by["predicate"].iloc[1]
    assert pred["code"] == "test0"
    assert pred["modifiers"] == "float=1.234000|int=1234|nominal=a_nominal|qstring=quote_string"
    # MATRIX: the first argument is the code; an all-empty cell is an event without a code
    mat = by["matrix"]
    assert mat["code"].iloc[0] == "" and mat["onset"].iloc[0] == 0 and mat["offset"].iloc[0] == 20
    assert mat["code"].iloc[1] == "1.200000"
    assert mat["modifiers"].iloc[1] == "int=4|nominal=nm|qstring=qs"


def test_escaped_commas_dashes_backslashes_and_line_breaks():
    ev = read_opf(REAL / "ui__oldProjectFormat.opf")
    notes = list(ev.loc[ev["column"] == "comments", "code"])
    assert "PATH: handcam freezes here, path missing. KK 6/9/10" in notes
    assert any(n.startswith("MOMLOOK: hallway gets really blurry- hard") for n in notes)
    header = read_opf(REAL / "src__main__favorites__datavyu-childes-template-combined.opf")
    mods = header.loc[header["column"] == "CHILDES_HEADER", "modifiers"].iloc[0]
    assert "participants=@Participants: MRX detailsOnMrX, MSY detailsOnMsY" in mods.split("|")
    text = read_opf(REAL / "ui__demo_data_to_csv.opf")
    assert set(text.loc[text["column"] == "text", "code"]) == {"textdata1 with a \\"}
    odb = read_datavyu_csv(REAL / "ui__odbCSV.csv")
    walk = odb[odb["column"] == "comment walk"]
    assert len(walk) == 3
    assert walk["code"].iloc[0] == ("WLK: underestimated # of steps bc can't see them on video "
                                    "AZ 2/22/10\nFine. LKAZ3/9/10")
    assert walk["source"].iloc[0].endswith("ui__odbCSV.csv:42")
    # escaped dashes in argument names
    assert odb.loc[odb["column"] == "walk", "modifiers"].iloc[0] == "steps=14"


def test_old_project_format_with_db_in_a_folder():
    ev = read_events(REAL / "ui__oldProjectFormat.opf")
    assert set(ev["column"]) == {"id", "task", "path", "path.rel", "comments", "looktime",
                                 "momlookside", "babylookside"}
    assert ev["source"].iloc[0].startswith(str(REAL / "ui__oldProjectFormat.opf") +
                                           "!ETBabyMom16/db:")
    task = ev[ev["column"] == "task"]
    assert list(task["code"]) == ["f", "d"]
    assert task["onset"].iloc[0] == 2 * 60 + 13.197 and task["offset"].iloc[1] == 8 * 60 + 2.734


def test_mother_infant_sample_carries_the_column_for_actors_from():
    ev = read_opf(REAL / "pyvyu_DatavyuSampleSpreadsheet.opf")
    counts = ev.groupby("column").size().to_dict()
    assert counts["MomSpeech"] == 20 and counts["InfantSpeech"] == 6
    first = ev[ev["column"] == "MomSpeech"].iloc[0]
    assert first["code"] == "Thanks. What is this? [Russian]"
    assert (first["onset"], first["offset"]) == (9.075, 11.855)
    mapped = read_opf(REAL / "pyvyu_DatavyuSampleSpreadsheet.opf",
                      actors={"MomSpeech": "mother", "InfantSpeech": "infant"})
    assert set(mapped.loc[mapped["column"] == "InfantSpeech", "actor"]) == {"infant"}


def test_times_are_exact_milliseconds_at_any_length(tmp_path):
    (tmp_path / "long.csv").write_text("#4\nlook (NOMINAL,true,)\n"
                                       "27:46:39:999,27:46:40:001,a\n02:46:40:001,02:46:40:001,b\n",
                                       encoding="utf-8")
    ev = read_events(tmp_path / "long.csv")
    assert list(ev["onset"]) == [10000.001, 99999.999]
    assert ev["offset"].iloc[1] == 100000.001 and np.isnan(ev["offset"].iloc[0])


def test_malformed_saves_are_refused_with_file_and_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("#4\nlook (MATRIX,true,)-a|NOMINAL,b|NOMINAL\n00:00:01:000,00:00:02:000,(x)\n",
                   encoding="utf-8")
    with pytest.raises(ObservationError, match=r"bad\.csv, line 3: cell of column 'look' has 1 "
                                               r"values; the column has 2 arguments \(a, b\)"):
        read_events(bad)
    bad.write_text("#4\nlook (NOMINAL,true,)\nhello there\n", encoding="utf-8")
    with pytest.raises(ObservationError, match=r"bad\.csv, line 3: neither a column, a cell nor"):
        read_events(bad)
    bad.write_text("#4\nlook (NOMINAL,true,)\n00:00:01:000,00:00:02:000,x\nlook2 (SHAPE)\n",
                   encoding="utf-8")
    with pytest.raises(ObservationError, match=r"line 4: column 'look2' has type 'SHAPE'"):
        read_events(bad)


def test_an_opf_without_db_names_what_it_holds(tmp_path):
    with zipfile.ZipFile(tmp_path / "x.opf", "w") as zf:
        zf.writestr("project", "!project\n")
    with pytest.raises(ObservationError, match=r"x\.opf: not a Datavyu project: no 'db' member"
                                               r".*members: project"):
        read_events(tmp_path / "x.opf")


def test_exported_long_and_wide_csv_carry_the_column_too():
    data = Path(__file__).parent / "data"
    for name in ("datavyu_long.csv", "datavyu_wide.csv"):
        ev = read_events(data / name)
        assert len(ev) and (ev["column"] != "").all()
        assert all(c.split("_", 1)[0] == a for c, a in zip(ev["column"], ev["actor"], strict=True))


def test_mutated_saves_raise_only_observation_errors():
    import random

    from attunement.observation.importers.datavyu import read_datavyu_save

    rnd = random.Random(7)
    texts = [(REAL / n).read_text(encoding="utf-8")
             for n in ("ui__odbCSV.csv", "ui__test.csv", "ui__test-v1-in.csv")]
    pieces = ['"', "(", ")", ",", "\\", "\n", ":", "-", "|", "#4", "x (MATRIX)-", "00:00:01:000,"]
    for _ in range(400):
        t = rnd.choice(texts)
        for _ in range(rnd.randint(1, 4)):
            i = rnd.randrange(len(t))
            t = (t[:i] + t[i + rnd.randint(1, 20):] if rnd.random() < 0.4
                 else t[:i] + rnd.choice(pieces) + t[i:])
        try:
            read_datavyu_save(t, "m.csv")
        except ObservationError as exc:
            assert str(exc).startswith("m.csv")


def test_actors_from_column_on_the_mother_infant_sample():
    from attunement.observation import session_metrics

    ev = read_events(REAL / "pyvyu_DatavyuSampleSpreadsheet.opf")
    m = session_metrics(ev, cues=["no"], responses=["Stir it.",
                                                    "What am I going to do with this now?"],
                        window=(0, 5), permutations=0, actors_from="column",
                        infant=["InfantSpeech"])
    row = m[(m["caregiver"] == "MomSpeech") & (m["cue_type"] == "all")].iloc[0]
    # infant "no" at 36.795 and 37.554 s; mother "Stir it." at 36.861, "What am I ..." at
    # 40.029: latencies 0.066 and 2.475 s, median 1.2705
    assert row["n_cues"] == 2 and row["responsiveness"] == 1.0
    assert row["median_latency"] == pytest.approx(1.2705)
