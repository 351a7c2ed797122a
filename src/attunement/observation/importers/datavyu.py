"""Datavyu CSV exports (observation.md §3.2).

Two common layouts are read:

* long: one row per cell with ``column, ordinal, onset, offset`` and one or more code fields
  (datavyur's ``datavyu2csv.rb``; an optional ``file`` column names the session);
* wide: headers ``<column>.ordinal, <column>.onset, <column>.offset, <column>.<code>`` per
  Datavyu column, several columns side by side (rows padded with empty cells).

Datavyu ``.opf`` projects are read by :func:`read_opf`. Onsets and offsets are milliseconds (integers) or ``HH:MM:SS:mmm``. A cell with onset equal to
offset is a point event. The actor is taken from the Datavyu column name: ``actors`` maps column
→ actor; otherwise the text before the first ``_`` (``Infant_cues`` → ``Infant``). The code is
the cell's first code field unless ``code_field`` names another.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from attunement.observation.errors import ObservationError
from attunement.observation.events import make_event_table
from attunement.observation.importers._text import parse_seconds, read_table, read_text


def is_datavyu_header(header: list[str]) -> bool:
    low = [h.lower() for h in header]
    long = {"column", "onset", "offset"} <= set(low) and "ordinal" in low
    wide = any(h.endswith(".onset") for h in low) and any(h.endswith(".offset") for h in low)
    return long or wide


def _ms(text: str, *, src: str, line: int, field: str) -> float:
    t = text.strip()
    if t.count(":") == 3:
        return parse_seconds(t, source=src, line=line, field=field)
    try:
        v = float(t)
    except ValueError:
        raise ObservationError(f"{text!r} is not a time in ms", source=src, line=line,
                               field=field) from None
    if not np.isfinite(v):
        raise ObservationError("time is not finite", source=src, line=line, field=field)
    return v / 1000.0


def read_datavyu_csv(
    path: str | Path,
    *,
    text: str | None = None,
    actors: dict[str, str] | None = None,
    code_field: str | None = None,
    session: str | None = None,
) -> pd.DataFrame:
    src = str(path)
    header, rows = read_table(read_text(path) if text is None else text, src)
    if not is_datavyu_header(header):
        raise ObservationError("not a Datavyu export (needs column/ordinal/onset/offset or "
                               "<column>.onset headers)", source=src, line=1)
    sess_default = session or Path(src).stem
    actors = actors or {}

    def actor_of(col: str) -> str:
        return actors.get(col) or (col.split("_", 1)[0] if "_" in col else col)

    low = [h.lower() for h in header]
    recs: list[dict] = []
    if "column" in low and "onset" in low:
        pos = {h: i for i, h in enumerate(low)}
        code_cols = [h for h in header if h.lower() not in
                     {"file", "column", "ordinal", "onset", "offset"}]
        if not code_cols:
            raise ObservationError("no code field", source=src, line=1)
        cf = code_field or code_cols[0]
        if cf not in header:
            raise ObservationError(f"no code field {cf!r}", source=src, line=1)
        ci = header.index(cf)
        for line, cells in rows:
            col = cells[pos["column"]].strip()
            rec = _cell(cells[pos["onset"]], cells[pos["offset"]], cells[ci], src, line, cf)
            if rec is None:
                continue
            sess = cells[pos["file"]].strip() if "file" in pos else ""
            recs.append({**rec, "session": Path(sess).stem if sess else sess_default,
                         "actor": actor_of(col), "source": f"{src}:{line}"})
    else:
        columns = sorted({h.rsplit(".", 1)[0] for h in header if h.lower().endswith(".onset")})
        for col in columns:
            on_i = header.index(f"{col}.onset") if f"{col}.onset" in header else None
            off_i = header.index(f"{col}.offset") if f"{col}.offset" in header else None
            if on_i is None or off_i is None:
                raise ObservationError(f"column {col!r} needs .onset and .offset", source=src,
                                       line=1)
            fields = [h for h in header if h.startswith(col + ".") and h.rsplit(".", 1)[1]
                      not in {"ordinal", "onset", "offset"}]
            name = f"{col}.{code_field}" if code_field else (fields[0] if fields else None)
            if name is None or name not in header:
                raise ObservationError(f"column {col!r} has no code field", source=src, line=1)
            ci = header.index(name)
            for line, cells in rows:
                if not cells[on_i].strip() and not cells[off_i].strip():
                    continue
                rec = _cell(cells[on_i], cells[off_i], cells[ci], src, line, name)
                if rec is None:
                    continue
                recs.append({**rec, "session": sess_default, "actor": actor_of(col),
                             "source": f"{src}:{line}"})
    recs.sort(key=lambda r: r["onset"])
    return make_event_table(recs, source=src)


def _cell(on_s: str, off_s: str, code: str, src: str, line: int, field: str) -> dict | None:
    on = _ms(on_s, src=src, line=line, field="onset")
    off = _ms(off_s, src=src, line=line, field="offset")
    code = code.strip()
    if not code:
        raise ObservationError("empty code in a coded cell", source=src, line=line, field=field)
    return {"code": code, "onset": on, "offset": np.nan if off == on else off}


_OPF_COLUMN = re.compile(r"^(?P<name>[^\s(]+)\s\((?P<info>[^)]*)\)-(?P<codes>.*)$")
_OPF_CELL = re.compile(r"^(?P<on>\d{2}:\d{2}:\d{2}:\d{3}),(?P<off>\d{2}:\d{2}:\d{2}:\d{3}),"
                       r"\((?P<values>.*)\)$")


def read_opf(
    path: str | Path,
    *,
    actors: dict[str, str] | None = None,
    code_field: str | None = None,
    session: str | None = None,
) -> pd.DataFrame:
    """Datavyu ``.opf`` project: a zip archive whose ``db`` member lists columns and cells.

    Column lines ``Name (type info)-code1|NOMINAL,code2|NOMINAL`` open a coding pass; cell lines
    ``HH:MM:SS:mmm,HH:MM:SS:mmm,(v1,v2)`` follow (layout as read by pyvyu; the type-info part
    is not interpreted). The first code (or ``code_field``) is the event's code, the other
    filled codes become modifiers ``name=value``. Lines starting with ``#`` are headers; any
    other line is an error.
    """
    src = str(path)
    try:
        with zipfile.ZipFile(src) as zf:
            if "db" not in zf.namelist():
                raise ObservationError("not a Datavyu project: no 'db' member in the archive",
                                       source=src)
            info = zf.getinfo("db")
            if info.file_size > 200 * 1024 * 1024:
                raise ObservationError("'db' member is too large", source=src)
            raw = zf.read("db")
    except (zipfile.BadZipFile, OSError, RuntimeError, ValueError, NotImplementedError,
            EOFError) as exc:
        if isinstance(exc, ObservationError):
            raise
        raise ObservationError(f"not a readable .opf (zip) file: {exc}", source=src) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ObservationError(f"'db' is not UTF-8 text (byte {exc.start})", source=src) from None
    actors = actors or {}
    sess = session or Path(src).stem
    recs: list[dict] = []
    column: str | None = None
    codes: list[str] = []
    where = f"{src}!db"
    for line_no, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = _OPF_COLUMN.match(line)
        if m:
            column = m.group("name")
            codes = [c.split("|", 1)[0].strip() for c in m.group("codes").split(",")]
            continue
        m = _OPF_CELL.match(line)
        if not m:
            raise ObservationError("neither a column nor a cell line", source=where,
                                   line=line_no)
        if column is None:
            raise ObservationError("cell before any column line", source=where, line=line_no)
        values = [v.strip() for v in m.group("values").split(",")]
        field = code_field or codes[0]
        if field not in codes:
            raise ObservationError(f"column {column!r} has no code {field!r}", source=where,
                                   line=line_no)
        k = codes.index(field)
        value = values[k] if k < len(values) else ""
        if not value or (value.startswith("<") and value.endswith(">")):
            raise ObservationError(f"cell of column {column!r} has no value for {field!r}",
                                   source=where, line=line_no)
        on = parse_seconds(m.group("on"), source=where, line=line_no, field="onset")
        off = parse_seconds(m.group("off"), source=where, line=line_no, field="offset")
        extra = [f"{c}={v}" for c, v in zip(codes, values, strict=False)
                 if c != field and v and not (v.startswith("<") and v.endswith(">"))]
        recs.append({"session": sess, "code": value, "onset": on, "modifiers": "|".join(extra),
                     "offset": np.nan if off == on else off,
                     "actor": actors.get(column) or column.split("_", 1)[0],
                     "source": f"{where}:{line_no}"})
    recs.sort(key=lambda r: r["onset"])
    return make_event_table(recs, source=src)
