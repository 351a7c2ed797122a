"""Excel workbooks (``.xlsx``/``.xlsm``) of coded events, read with openpyxl.

The Observer XT saves its event logs as workbooks, and BORIS exports tabular and aggregated events
to ``.xlsx`` too. Each sheet is turned into the same rows a text export would have (one line per
spreadsheet row, so a message's line is the row number in Excel) and handed to the importer whose
header it has: The Observer XT, BORIS, a Datavyu CSV export or a plain event table. Cell values are
not rounded: a number is written with Python's shortest exact representation, so
``3.418999999999983`` stays that number and a time keeps every digit the tool stored.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from pathlib import Path

import pandas as pd

from attunement.observation.errors import ObservationError
from attunement.observation.importers._detect import detect_format
from attunement.observation.importers._text import MAX_BYTES, read_table

_MAX_UNPACKED = 1024 * 1024 * 1024  # a workbook that unpacks past this is refused, not loaded


def _cell_text(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, float):
        return repr(v) if v == v else ""
    if isinstance(v, dt.timedelta):
        return repr(v.total_seconds())
    if isinstance(v, dt.datetime | dt.date | dt.time):
        return v.isoformat()
    return str(v)


def workbook_sheets(path: str | Path) -> list[tuple[str, str]]:
    """``(sheet name, tab-separated text)`` of every sheet that holds a value, in order."""
    src = str(path)
    p = Path(path)
    try:
        if p.stat().st_size > MAX_BYTES:
            raise ObservationError(f"file is larger than {MAX_BYTES // 2**20} MB", source=src)
        with zipfile.ZipFile(p) as zf:
            if sum(i.file_size for i in zf.infolist()) > _MAX_UNPACKED:
                raise ObservationError("workbook unpacks to more than 1 GB", source=src)
    except zipfile.BadZipFile:
        raise ObservationError("not an Excel .xlsx workbook (not a zip archive); an old binary "
                               ".xls must be saved as .xlsx or CSV first", source=src) from None
    except OSError as exc:
        raise ObservationError(f"cannot read file: {exc.strerror or exc}", source=src) from None
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        wb = load_workbook(p, read_only=True, data_only=True)
    except (InvalidFileException, KeyError, ValueError, OSError, zipfile.BadZipFile) as exc:
        raise ObservationError(f"not a readable Excel workbook: {exc}", source=src) from None
    out: list[tuple[str, str]] = []
    try:
        for ws in wb.worksheets:
            if not hasattr(ws, "iter_rows"):
                continue  # a chart sheet
            ws.reset_dimensions()  # the stored dimension can be wrong; read what is there
            rows = [[_cell_text(v) for v in row] for row in ws.iter_rows(values_only=True)]
            width = max((max((i + 1 for i, c in enumerate(r) if c.strip()), default=0)
                         for r in rows), default=0)
            if width == 0:
                continue
            buf = io.StringIO()
            writer = csv.writer(buf, delimiter="\t", lineterminator="\n")
            for r in rows:
                writer.writerow((r + [""] * width)[:width])
            out.append((ws.title, buf.getvalue()))
    finally:
        wb.close()
    return out


def read_workbook(path: str | Path, *, format: str = "auto", **options) -> pd.DataFrame:
    """Every sheet of a workbook through the importer its header names (``format`` forces one).

    A workbook with one sheet reports problems as ``file, line <row>``; with several, as
    ``file!sheet, line <row>``. A sheet in no known layout is refused with the columns found.
    """
    from attunement.observation.importers.boris import read_boris_table
    from attunement.observation.importers.datavyu import read_datavyu_csv
    from attunement.observation.importers.observer import read_observer_csv
    from attunement.observation.importers.plain import read_plain_csv

    readers = {"boris": read_boris_table, "observer": read_observer_csv,
               "datavyu": read_datavyu_csv, "csv": read_plain_csv}
    if format not in ("auto", *readers):
        raise ObservationError(f"a workbook holds a BORIS, Observer XT, Datavyu or plain event "
                               f"table, not format {format!r}", source=str(path))
    sheets = workbook_sheets(path)
    if not sheets:
        raise ObservationError("the workbook has no sheet with any value", source=str(path))
    tables = []
    for name, text in sheets:
        src = str(path) if len(sheets) == 1 else f"{path}!{name}"
        fmt = format
        if fmt == "auto":
            # the sheet's text is a tab-separated table: detect it as one
            fmt = detect_format(f"{src}.tsv", text)
            if fmt == "csv":
                _check_plain(text, src)
        kw = dict(options) if fmt == "datavyu" else {}
        if fmt == "datavyu":
            kw.setdefault("session", Path(str(path)).stem)
        tables.append(readers[fmt](src, text=text, **kw))
    return pd.concat(tables, ignore_index=True) if len(tables) > 1 else tables[0]


def _check_plain(text: str, src: str) -> None:
    header, _ = read_table(text.split("\n", 1)[0] + "\n", src)
    if len({"session", "actor", "code", "onset"} & {h.lower() for h in header}) < 2:
        shown = ", ".join(repr(h) for h in header[:8] if h) + (" …" if len(header) > 8 else "")
        raise ObservationError(
            "not a coded-event sheet: no The Observer XT (Behavior, Event_Type, "
            "Time_Relative_sf), BORIS or Datavyu header and not a plain event table (session, "
            f"actor, code, onset); first row: {shown}", source=src, line=1)
