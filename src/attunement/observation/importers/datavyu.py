"""Datavyu projects, Datavyu's own CSV save and CSV exports made from Datavyu files.

Two layouts of CSV exported from Datavyu files by scripts are read:

* long: one row per cell with ``column, ordinal, onset, offset`` and one or more code fields
  (datavyur's ``datavyu2csv.rb``; an optional ``file`` column names the session);
* wide: headers ``<column>.ordinal, <column>.onset, <column>.offset, <column>.<code>`` per
  Datavyu column, several columns side by side (rows padded with empty cells).

Datavyu's own format — the ``db`` of an ``.opf`` project (:func:`read_opf`) and the CSV that
Datavyu itself saves — is read by :func:`read_datavyu_save`; :func:`read_datavyu_csv` hands such
a file to it. Onsets and offsets are milliseconds (integers) or ``HH:MM:SS:mmm``, kept exact. A
cell with onset equal to offset is a point event. The Datavyu column name is kept in the event
table's ``column`` (for ``actors_from: column``); the actor is ``actors[column]``, otherwise the
text before the first ``_`` (``Infant_cues`` → ``Infant``). The code is the cell's first code
field unless ``code_field`` names another.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from attunement.observation.errors import ObservationError
from attunement.observation.events import make_event_table
from attunement.observation.importers._text import (
    decode_text,
    parse_seconds,
    read_table,
    read_text,
)


def is_datavyu_header(header: list[str]) -> bool:
    """Whether a CSV header is one of the two Datavyu export layouts (long or wide).

    Parameters
    ----------
    header : list of str
        The first line's column names.

    Returns
    -------
    bool
        True for ``column, ordinal, onset, offset`` or ``<column>.onset``/``<column>.offset``.

    Examples
    --------
    >>> is_datavyu_header(["column", "ordinal", "onset", "offset", "code"])
    True
    >>> is_datavyu_header(["Infant_cues.ordinal", "Infant_cues.onset", "Infant_cues.offset"])
    True
    """
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
    r"""Read a CSV made from a Datavyu file (long or wide export, or Datavyu's own save).

    Parameters
    ----------
    path : str or Path
        The CSV file.
    text : str, optional
        Its content, when already in memory.
    actors : dict, optional
        Datavyu column -> actor; a column not named gets the text before its first ``_``.
    code_field : str, optional
        The code field to take as the code (the first one by default).
    session : str, optional
        The session for a file without a ``file`` column (default: the file name).

    Returns
    -------
    pandas.DataFrame
        The canonical event table, with the Datavyu column kept in ``column``.

    Raises
    ------
    ObservationError
        Neither layout, or a time that is not milliseconds or ``HH:MM:SS:mmm``.

    Examples
    --------
    Onsets and offsets in milliseconds, one row per cell:

    >>> lines = ["column,ordinal,onset,offset,code", "Infant_cues,1,3000,8000,cry",
    ...          "Mother_resp,1,5000,12000,soothe"]
    >>> ev = read_datavyu_csv("visit1.csv", text="\n".join(lines))
    >>> ev[["actor", "code", "onset", "offset"]].values.tolist()
    [['Infant', 'cry', 3.0, 8.0], ['Mother', 'soothe', 5.0, 12.0]]
    """
    src = str(path)
    text = read_text(path) if text is None else text
    if is_datavyu_save(text):
        return read_datavyu_save(text, src, actors=actors, code_field=code_field,
                                 session=session)
    header, rows = read_table(text, src)
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
                         "actor": actor_of(col), "column": col, "source": f"{src}:{line}"})
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
                             "column": col, "source": f"{src}:{line}"})
    recs.sort(key=lambda r: r["onset"])
    return make_event_table(recs, source=src)


def _cell(on_s: str, off_s: str, code: str, src: str, line: int, field: str) -> dict | None:
    on = _ms(on_s, src=src, line=line, field="onset")
    off = _ms(off_s, src=src, line=line, field="offset")
    code = code.strip()
    if not code:
        raise ObservationError("empty code in a coded cell", source=src, line=line, field=field)
    return {"code": code, "onset": on, "offset": np.nan if off == on else off}


_SAVE_TIME = r"(\d+:\d\d:\d\d:\d{3})"
_SAVE_CELL = re.compile(rf"^{_SAVE_TIME},{_SAVE_TIME},(?P<value>.*)$", re.S)
_SAVE_COLUMN = re.compile(r"^(?P<name>.+?) \((?P<type>[A-Z_]+)(?P<flags>,[^)]*)?\)"
                          r"(?:-(?P<args>.*))?$", re.S)
_SAVE_VOCAB = re.compile(r"^\d+:(?P<name>.*?)-(?P<args>.*)$", re.S)
_SAVE_VERSION = re.compile(r"^#\d+$")
COLUMN_TYPES = ("TEXT", "NOMINAL", "FLOAT", "INTEGER", "MATRIX", "PREDICATE")


def is_datavyu_save(text: str) -> bool:
    r"""Whether ``text`` is Datavyu's own save (the ``db`` of an ``.opf``, or "Save as CSV"):
    a ``#<version>`` line or a ``Name (TYPE…)`` column line first.

    Parameters
    ----------
    text : str
        The start of the file (blank lines before the first line are skipped).

    Returns
    -------
    bool
        True for Datavyu's own format, False for an export table or anything else.

    Examples
    --------
    >>> is_datavyu_save("#4\nInfant_cues (NOMINAL,true,)\n")
    True
    >>> is_datavyu_save("column,ordinal,onset,offset,code\n")
    False
    """
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if _SAVE_VERSION.match(line):
            return True
        m = _SAVE_COLUMN.match(line)
        return bool(m and m.group("type") in COLUMN_TYPES)
    return False


def is_datavyu_save_file(path: str | Path) -> bool:
    r""":func:`is_datavyu_save` on the first 64 KB of a file (the rest is not read).

    Parameters
    ----------
    path : str or Path
        The file; one that cannot be read or decoded gives False (its importer reports why).

    Returns
    -------
    bool
        Whether the file is Datavyu's own save.

    Examples
    --------
    >>> saved = folder / "visit1.csv"
    >>> _ = saved.write_text("#4\nInfant_cues (NOMINAL,true,)\n00:00:03:000,00:00:08:000,cry\n")
    >>> is_datavyu_save_file(saved), is_datavyu_save_file(folder / "no such file.csv")
    (True, False)
    """
    try:
        with Path(path).open("rb") as fh:
            head = fh.read(65536)
    except OSError:
        return False  # the importer reports the file
    try:
        text = decode_text(head, str(path))
    except ObservationError:
        try:  # a multi-byte character cut at the end of the block
            text = decode_text(head[:-4], str(path))
        except ObservationError:
            return False
    return is_datavyu_save(text)


def _logical_lines(text: str):
    """(first line number, text) with backslash-escaped line breaks joined (a TEXT cell may hold
    several lines: Datavyu ends all but the last with ``\\``)."""
    buf: list[str] = []
    start = 0
    for n, raw in enumerate(text.splitlines(), 1):
        if not buf:
            start = n
        buf.append(raw)
        trailing = len(raw) - len(raw.rstrip("\\"))
        if trailing % 2 == 1:
            continue
        yield start, "\n".join(buf)
        buf = []
    if buf:
        yield start, "\n".join(buf)


def _split(text: str, sep: str = ",") -> list[str]:
    """Split on unescaped ``sep`` and resolve Datavyu's backslash escapes (``\\,`` → ``,``,
    ``\\-`` → ``-``, ``\\\\`` → ``\\``, backslash-newline → newline)."""
    out: list[str] = []
    cur: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            cur.append(text[i + 1])
            i += 2
            continue
        if c == sep:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    out.append("".join(cur))
    return out


def _arg_value(v: str) -> str:
    v = v.strip()
    if v.startswith("<") and v.endswith(">"):
        return ""  # an unfilled argument shows its name in angle brackets
    if len(v) >= 2 and v[0] == v[-1] == '"':
        return v[1:-1]  # QUOTE_STRING
    return v


def _args(spec: str) -> list[str]:
    return [a.rsplit("|", 1)[0].strip() for a in _split(spec)] if spec else []


def read_datavyu_save(
    text: str,
    source: str,
    *,
    actors: dict[str, str] | None = None,
    code_field: str | None = None,
    session: str | None = None,
) -> pd.DataFrame:
    r"""Datavyu's own format: the ``db`` member of an ``.opf`` project and Datavyu's "Save as
    CSV" file (the same text; also OpenSHAPA/MacSHAPA versions 1, 2 and 4).

    ``#<version>`` first, then vocabulary lines ``n:predicate-arg|TYPE,…`` (version 2 and
    later), column lines ``Name (TYPE[,visible,])[-arg|TYPE,…]`` and cell lines
    ``HH:MM:SS:mmm,HH:MM:SS:mmm,value``. Every column type is read: TEXT, NOMINAL, FLOAT and
    INTEGER cells are their value; a MATRIX cell ``(v1,v2,…)`` has its first argument (or
    ``code_field``) as the code and the other filled arguments as modifiers ``arg=value``; a
    PREDICATE cell ``name(v1,…)`` has the predicate name as the code and its arguments (named by
    the vocabulary) as modifiers. ``\,`` is a literal comma, a line ending in ``\`` goes on
    (text cells with line breaks). Empty cells are events without a code; a cell whose onset
    equals its offset is a point event.

    Parameters
    ----------
    text : str
        The saved text.
    source : str
        Where it came from, for messages (``project.opf!db``); its stem is the default session.
    actors : dict, optional
        Datavyu column -> actor; otherwise the column name before its first ``_``.
    code_field : str, optional
        The MATRIX argument that is the code.
    session : str, optional
        The session name.

    Returns
    -------
    pandas.DataFrame
        The canonical event table; the Datavyu column is kept in ``column``.

    Examples
    --------
    A NOMINAL column with a cry (3 to 8 s) and a point-like fuss at 25 s:

    >>> saved = "\n".join(["#4", "Infant_cues (NOMINAL,true,)",
    ...                    "00:00:03:000,00:00:08:000,cry", "00:00:25:000,00:00:25:000,fuss"])
    >>> ev = read_datavyu_save(saved, "visit1.csv")
    >>> ev[["session", "actor", "code", "onset", "offset"]].values.tolist()
    [['visit1', 'Infant', 'cry', 3.0, 8.0], ['visit1', 'Infant', 'fuss', 25.0, nan]]
    """
    actors = actors or {}
    sess = session or Path(source.split("!", 1)[0]).stem
    vocab: dict[str, list[str]] = {}
    recs: list[dict] = []
    column: str | None = None
    ctype = ""
    args: list[str] = []
    for line_no, line in _logical_lines(text):
        if not line.strip():
            continue
        if column is None and _SAVE_VERSION.match(line.strip()):
            continue
        m = _SAVE_CELL.match(line)
        if m:
            if column is None:
                raise ObservationError("cell before any column line", source=source,
                                       line=line_no)
            on = parse_seconds(m.group(1), source=source, line=line_no, field="onset")
            off = parse_seconds(m.group(2), source=source, line=line_no, field="offset")
            code, mods = _save_value(m.group("value"), ctype, args, vocab, code_field, column,
                                     source, line_no)
            recs.append({"session": sess, "code": code, "onset": on, "modifiers": "|".join(mods),
                         "offset": np.nan if off == on else off, "column": column,
                         "actor": actors.get(column) or column.split("_", 1)[0],
                         "source": f"{source}:{line_no}"})
            continue
        m = _SAVE_COLUMN.match(line)
        if m and m.group("type") in COLUMN_TYPES:
            column, ctype = m.group("name").strip(), m.group("type")
            args = _args(m.group("args") or "")
            if ctype == "MATRIX" and not args:
                raise ObservationError(f"MATRIX column {column!r} declares no arguments",
                                       source=source, line=line_no)
            if ctype == "MATRIX" and code_field is not None and code_field not in args:
                raise ObservationError(f"column {column!r} has no argument {code_field!r} "
                                       f"(it has {', '.join(args)})", source=source,
                                       line=line_no)
            continue
        if m:
            raise ObservationError(f"column {m.group('name')!r} has type {m.group('type')!r}; "
                                   f"Datavyu's types are {', '.join(COLUMN_TYPES)}",
                                   source=source, line=line_no)
        m = _SAVE_VOCAB.match(line)
        if m:
            vocab[_split(m.group("name"))[0]] = _args(m.group("args"))
            continue
        raise ObservationError("neither a column, a cell nor a vocabulary line of a Datavyu "
                               f"save: {line[:60]!r}", source=source, line=line_no)
    recs.sort(key=lambda r: r["onset"])
    return make_event_table(recs, source=source)


def _save_value(raw: str, ctype: str, args: list[str], vocab: dict[str, list[str]],
                code_field: str | None, column: str, source: str,
                line: int) -> tuple[str, list[str]]:
    """The code and ``arg=value`` modifiers of one cell."""
    if ctype == "MATRIX":
        body = raw.strip()
        if not (body.startswith("(") and body.endswith(")")):
            raise ObservationError(f"MATRIX cell of column {column!r} is not '(v1,v2,...)'",
                                   source=source, line=line)
        values = [_arg_value(v) for v in _split(body[1:-1])]
        if len(values) != len(args):
            raise ObservationError(f"cell of column {column!r} has {len(values)} values; the "
                                   f"column has {len(args)} arguments ({', '.join(args)})",
                                   source=source, line=line)
        k = args.index(code_field) if code_field is not None else 0
        mods = [f"{a}={v}" for i, (a, v) in enumerate(zip(args, values, strict=True))
                if i != k and v]
        return values[k], mods
    if ctype == "PREDICATE":
        body = raw.strip()
        if not body:
            return "", []
        m = re.match(r"^(?P<name>[^(]*)\((?P<args>.*)\)$", body, re.S)
        if not m:
            return _arg_value("".join(_split(body, "\0"))), []
        name = m.group("name").strip()
        values = [_arg_value(v) for v in _split(m.group("args"))]
        names = vocab.get(name) or [f"arg{i + 1}" for i in range(len(values))]
        if len(names) != len(values):
            raise ObservationError(f"predicate {name!r} has {len(values)} values; its "
                                   f"vocabulary line has {len(names)}", source=source,
                                   line=line)
        return name, [f"{a}={v}" for a, v in zip(names, values, strict=True) if v]
    return "".join(_split(raw, "\0")).strip(), []


def read_opf(
    path: str | Path,
    *,
    actors: dict[str, str] | None = None,
    code_field: str | None = None,
    session: str | None = None,
) -> pd.DataFrame:
    r"""Datavyu ``.opf`` project: a zip archive holding a ``db`` member (Datavyu's own save, see
    :func:`read_datavyu_save`) at its top or, in the old project format, inside one folder
    (``ETBabyMom16/db``; macOS ``__MACOSX`` copies are ignored).

    Parameters
    ----------
    path : str or Path
        The ``.opf`` file.
    actors, code_field
        As for :func:`read_datavyu_save`.
    session : str, optional
        The session name (default: the project's file name).

    Returns
    -------
    pandas.DataFrame
        One event per cell of the project's ``db``, the Datavyu column kept in ``column``.

    Raises
    ------
    ObservationError
        Not a zip archive, or no (or several) ``db`` members.

    Examples
    --------
    An ``.opf`` is a zip archive; this one holds a single coded column:

    >>> import zipfile
    >>> with zipfile.ZipFile(folder / "family07.opf", "w") as zf:
    ...     zf.writestr("db", "#4\nMother_resp (NOMINAL,true,)\n00:00:05:000,00:00:12:000,soothe\n")
    >>> ev = read_opf(folder / "family07.opf", actors={"Mother_resp": "mother"})
    >>> ev[["session", "actor", "code", "onset"]].values.tolist()
    [['family07', 'mother', 'soothe', 5.0]]
    """
    src = str(path)
    try:
        with zipfile.ZipFile(src) as zf:
            dbs = [i for i in zf.infolist() if not i.is_dir() and i.filename.split("/")[-1] == "db"
                   and not i.filename.startswith("__MACOSX/")]
            if not dbs:
                raise ObservationError("not a Datavyu project: no 'db' member in the archive "
                                       f"(members: {', '.join(zf.namelist()[:8])})", source=src)
            if len(dbs) > 1:
                raise ObservationError("several 'db' members in the archive ("
                                       f"{', '.join(i.filename for i in dbs)}); one project per "
                                       ".opf", source=src)
            info = dbs[0]
            if info.file_size > 200 * 1024 * 1024:
                raise ObservationError(f"'{info.filename}' member is too large", source=src)
            raw = zf.read(info)
    except (zipfile.BadZipFile, OSError, RuntimeError, ValueError, NotImplementedError,
            EOFError) as exc:
        if isinstance(exc, ObservationError):
            raise
        raise ObservationError(f"not a readable .opf (zip) file: {exc}", source=src) from None
    where = f"{src}!{info.filename}"
    text = decode_text(raw, where)
    return read_datavyu_save(text, where, actors=actors, code_field=code_field,
                             session=session or Path(src).stem)
