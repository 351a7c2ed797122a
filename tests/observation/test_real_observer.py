"""The Observer XT event logs as Excel workbooks, other workbooks, and text in UTF-16/32 with a
byte order mark (tests/observation/data/real/ccber/README.md)."""

from __future__ import annotations

import codecs
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from openpyxl import Workbook, load_workbook

from attunement.observation import ObservationError, read_events
from attunement.observation.importers import detect_format

HERE = Path(__file__).parent / "data"
REAL = HERE / "real"

# State start + Point rows, counted with openpyxl in test_counts_are_the_start_and_point_rows
EXPECTED = {"ccber/88888HE.xlsx": 116, "ccber/99999LE.xlsx": 72}


def _rows(path: Path) -> list[tuple]:
    ws = load_workbook(path, read_only=True).worksheets[0]
    return list(ws.iter_rows(values_only=True))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_counts_are_the_start_and_point_rows(name):
    rows = _rows(REAL / name)
    kind = rows[0].index("Event_Type")
    assert sum(r[kind] in {"State start", "Point"} for r in rows[1:]) == EXPECTED[name]
    # and every start has its stop
    assert sum(r[kind] == "State start" for r in rows) == sum(r[kind] == "State stop" for r in rows)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_observer_workbooks_import_every_event(name):
    path = REAL / name
    assert detect_format(path) == "workbook"
    ev = read_events(path)
    assert len(ev) == EXPECTED[name]
    assert set(ev["session"]) == {path.stem}
    rows = _rows(path)
    head = rows[0]
    t, beh, kind = (head.index(c) for c in ("Time_Relative_sf", "Behavior", "Event_Type"))
    starts = [r for r in rows[1:] if r[kind] == "State start"]
    states = ev[ev["kind"] == "state"]
    assert len(states) == len(starts) and states["offset"].notna().all()
    # times exactly as stored (no rounding): the first start and its stop
    first = ev.iloc[0]
    assert (first["code"], first["onset"]) == (starts[0][beh], float(starts[0][t]))
    stop = next(r for r in rows[1:] if r[kind] == "State stop" and r[beh] == first["code"])
    assert first["offset"] == float(stop[t])
    assert first["source"] == f"{path}:2"


def test_observer_xt_times_keep_every_stored_digit():
    ev = read_events(REAL / "ccber" / "88888HE.xlsx")
    assert 4.03329 in set(ev["offset"]) and 600.027 in set(ev["offset"])


def test_a_bom_marked_utf16_export_reads_like_utf8(tmp_path):
    text = (HERE / "observer_xt.csv").read_text(encoding="utf-8")
    want = read_events(HERE / "observer_xt.csv")
    for codec, bom in (("utf-16-le", codecs.BOM_UTF16_LE), ("utf-16-be", codecs.BOM_UTF16_BE),
                       ("utf-32-le", codecs.BOM_UTF32_LE)):
        p = tmp_path / "observer_xt.csv"
        p.write_bytes(bom + text.encode(codec))
        got = read_events(p)
        cols = ["session", "actor", "code", "onset", "offset", "modifiers"]
        pd.testing.assert_frame_equal(got[cols], want[cols])


def test_utf16_plain_and_datavyu_text_too(tmp_path):
    p = tmp_path / "plain.csv"
    p.write_bytes(codecs.BOM_UTF16_LE + "session,actor,code,onset,offset\ns,infant,cry,1.5,2\n"
                  .encode("utf-16-le"))
    assert read_events(p)["onset"].tolist() == [1.5]
    p = tmp_path / "save.csv"
    p.write_bytes(codecs.BOM_UTF16_LE + "#4\nlook (NOMINAL,true,)\n00:00:01:000,00:00:02:000,a\n"
                  .encode("utf-16-le"))
    assert read_events(p)["code"].tolist() == ["a"]


def test_text_that_is_not_text_says_why(tmp_path):
    p = tmp_path / "x.csv"
    p.write_bytes("session,actor".encode("utf-16-le"))  # UTF-16 without its byte order mark
    with pytest.raises(ObservationError, match=r"x\.csv: binary file, not a text export \(NUL "
                                               r"byte at byte 1; UTF-16 text needs a byte order"):
        read_events(p)
    p.write_bytes(codecs.BOM_UTF16_LE + b"\x00\xd8")  # a lone surrogate
    with pytest.raises(ObservationError, match=r"UTF-16 LE byte order mark but byte 2 is not"):
        read_events(p)
    p.write_bytes(b"session,actor\ncaf\xe9\n")
    with pytest.raises(ObservationError, match=r"x\.csv: not UTF-8 text \(byte 17\)"):
        read_events(p)
    p.write_bytes((REAL / "ccber" / "99999LE.xlsx").read_bytes())
    with pytest.raises(ObservationError, match=r"x\.csv: a zip archive \(e\.g\. an Excel \.xlsx"):
        read_events(p)
    from attunement.observation.importers._text import decode_text

    assert decode_text(codecs.BOM_UTF8 + b"a,b", "m") == "a,b"


def test_a_workbook_of_another_layout_is_refused_with_its_first_row(tmp_path):
    wb = Workbook()
    ws = wb.active
    ws.title = "Scores"
    ws.append(["child", "score"])
    ws.append(["a", 3])
    wb.save(tmp_path / "scores.xlsx")
    with pytest.raises(ObservationError, match=r"scores\.xlsx, line 1: not a coded-event sheet.*"
                                               r"first row: 'child', 'score'"):
        read_events(tmp_path / "scores.xlsx")
    (tmp_path / "fake.xlsx").write_text("Behavior,Event_Type\n", encoding="utf-8")
    with pytest.raises(ObservationError, match=r"fake\.xlsx: not an Excel \.xlsx workbook"):
        read_events(tmp_path / "fake.xlsx")


def test_several_sheets_are_read_and_named(tmp_path):
    wb = Workbook()
    for i, title in enumerate(["obs 1", "obs 2"]):
        ws = wb.active if i == 0 else wb.create_sheet()
        ws.title = title
        ws.append(["Time_Relative_sf", "Observation", "Subject", "Behavior", "Event_Type"])
        ws.append([10000.001 + i, f"o{i}", "Mother", "touch", "State start"])
        ws.append([10002.5 + i, f"o{i}", "Mother", "touch", "State stop"])
        ws.append([3, f"o{i}", "Infant", "cry", "Point"])
    ws.append([4, "o1", "Infant", "cry", "Finish"])
    wb.save(tmp_path / "two.xlsx")
    with pytest.raises(ObservationError, match=r"two\.xlsx!obs 2, line 5, 'Event_Type': event "
                                               r"type 'Finish'"):
        read_events(tmp_path / "two.xlsx")
    ws.delete_rows(5)
    wb.save(tmp_path / "two.xlsx")
    ev = read_events(tmp_path / "two.xlsx")
    assert len(ev) == 4 and set(ev["session"]) == {"o0", "o1"}
    touch = ev[ev["code"] == "touch"].sort_values("session")
    assert touch["onset"].tolist() == [10000.001, 10001.001]
    assert touch["offset"].tolist() == [10002.5, 10003.5]
    assert np.isnan(ev.loc[ev["code"] == "cry", "offset"]).all()


def test_boris_and_observer_style_workbooks_from_the_corpus():
    # ecber's workbook has The Observer XT's columns; BORIS's own tabular workbook its layout
    ev = read_events(REAL / "ecber" / "6008BECNR.xlsx")
    assert len(ev) == 266
    assert 3.418999999999983 in set(ev["offset"])


def test_observer_subject_is_kept_for_actors_from():
    ev = read_events(HERE / "observer_xt.csv")
    assert set(ev["subject"]) == {"Infant", "Mother"}
    assert (ev["subject"] == ev["actor"]).all()
    assert set(ev.loc[ev["offset"].isna(), "kind"]) == {"point"}
    # the ccber logs have no Subject column: nothing to take the actor from
    assert set(read_events(REAL / "ccber" / "99999LE.xlsx")["subject"]) == {""}


def test_an_old_binary_xls_is_named(tmp_path):
    # the compound-file signature every Excel 97-2003 workbook starts with
    (tmp_path / "log.xls").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504)
    with pytest.raises(ObservationError, match=r"log\.xls: an old binary Office file \(e\.g\. an "
                                               r"Excel 97-2003 \.xls workbook"):
        read_events(tmp_path / "log.xls")
