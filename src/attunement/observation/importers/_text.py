"""Shared helpers for the text-based importers: reading, delimiters, times."""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path

from attunement.observation.errors import ObservationError

MAX_BYTES = 200 * 1024 * 1024


def read_text(path: str | Path) -> str:
    """The file's text, decoded by :func:`decode_text`; clear errors for missing, binary or huge
    files. Every text importer reads its file through this function."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_BYTES:
            raise ObservationError(f"file is larger than {MAX_BYTES // 2**20} MB", source=str(p))
        data = p.read_bytes()
    except OSError as exc:
        raise ObservationError(f"cannot read file: {exc.strerror or exc}", source=str(p)) from None
    return decode_text(data, str(p))


# longest first: the UTF-32-LE mark starts with the UTF-16-LE one
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le", "UTF-32 LE"),
    (codecs.BOM_UTF32_BE, "utf-32-be", "UTF-32 BE"),
    (codecs.BOM_UTF8, "utf-8", "UTF-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16 LE"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16 BE"),
)


def decode_text(data: bytes, source: str) -> str:
    """Decode a text export: UTF-8 (byte order mark optional), or UTF-8/16/32 with a byte order
    mark (Windows tools such as The Observer XT and Excel's "Unicode text" save UTF-16 LE with
    one). Shared by every text importer (BORIS, SDIS, plain CSV, Datavyu, Observer, ELAN):
    call it on raw bytes (e.g. a member of an archive) instead of ``bytes.decode``.

    Raises :class:`ObservationError` naming ``source`` and the byte offset for text that does not
    decode, and says what a file is when it is not text (a zip archive such as ``.xlsx``/``.opf``,
    or NUL bytes without a byte order mark).
    """
    for bom, codec, name in _BOMS:
        if data.startswith(bom):
            body = data[len(bom):]
            try:
                return body.decode(codec)
            except UnicodeDecodeError as exc:
                raise ObservationError(
                    f"starts with a {name} byte order mark but byte {exc.start + len(bom)} is "
                    f"not valid {name}", source=source) from None
    if data.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        raise ObservationError("an old binary Office file (e.g. an Excel 97-2003 .xls workbook "
                               "from The Observer XT), not a text export; save it as .xlsx or "
                               "CSV", source=source)
    if data.startswith(b"PK\x03\x04"):
        raise ObservationError("a zip archive (e.g. an Excel .xlsx workbook or a Datavyu .opf "
                               "project), not a text export; give it its own extension",
                               source=source)
    nul = data.find(b"\x00", 0, 4096)
    if nul >= 0:
        raise ObservationError(
            f"binary file, not a text export (NUL byte at byte {nul}; UTF-16 text needs a byte "
            "order mark)", source=source)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ObservationError(f"not UTF-8 text (byte {exc.start}) and no byte order mark; "
                               "save it as UTF-8", source=source) from None


def sniff_delimiter(first_line: str, path: str | Path = "") -> str:
    if str(path).lower().endswith(".tsv") or "\t" in first_line:
        return "\t"
    if first_line.count(";") > first_line.count(","):
        return ";"
    return ","


def read_table(text: str, source: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header and (line number, cells) rows of a delimited text; blank lines skipped."""
    first = text.split("\n", 1)[0]
    delim = sniff_delimiter(first, source)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim)
    try:
        header: list[str] | None = None
        rows: list[tuple[int, list[str]]] = []
        start = 1
        for cells in reader:
            line = start
            start = reader.line_num + 1
            if not cells or all(not c.strip() for c in cells):
                continue
            if header is None:
                header = [c.strip() for c in cells]
                continue
            if len(cells) != len(header):
                raise ObservationError(
                    f"{len(cells)} fields where the header has {len(header)}", source=source,
                    line=line)
            rows.append((line, cells))
    except csv.Error as exc:
        raise ObservationError(f"malformed CSV: {exc}", source=source,
                               line=reader.line_num) from None
    if header is None:
        raise ObservationError("empty file (no header line)", source=source)
    return header, rows


_HMS = re.compile(r"^(?:(\d+):)?(\d+):(\d+(?:\.\d+)?)$")
_HMSF = re.compile(r"^(\d+):(\d\d):(\d\d)[:.](\d{1,3})$")


def parse_seconds(text: str, *, source: str, line: int | None, field: str) -> float:
    """Seconds from ``12.5``, ``m:ss(.f)``, ``h:mm:ss(.f)`` or Datavyu's ``HH:MM:SS:mmm``."""
    t = text.strip()
    try:
        v = float(t)
    except ValueError:
        m = _HMSF.match(t)
        if m and t.count(":") == 3:
            h, mi, s, ms = m.groups()
            v = int(h) * 3600 + int(mi) * 60 + int(s) + int(ms.ljust(3, "0")) / 1000
        else:
            m = _HMS.match(t)
            if not m:
                raise ObservationError(f"{text!r} is not a time", source=source, line=line,
                                       field=field) from None
            h, mi, s = m.groups()
            v = (int(h) if h else 0) * 3600 + int(mi) * 60 + float(s)
    if v != v or v in (float("inf"), float("-inf")):
        raise ObservationError(f"{text!r} is not a finite time", source=source, line=line,
                               field=field)
    return v


def iter_table(
    path: str | Path, *, text: str | None = None
) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """Like :func:`read_table`, but the rows are read lazily from the file (bounded memory for
    exports of any size). Files that are not plain UTF-8 (a UTF-16 byte order mark, NUL bytes)
    go through :func:`read_text` as a whole."""
    src = str(path)
    if text is None:
        p = Path(path)
        try:
            with p.open("rb") as fh:
                head = fh.read(4096)
        except OSError as exc:
            raise ObservationError(f"cannot read file: {exc.strerror or exc}",
                                   source=src) from None
        if b"\x00" in head or head.startswith((b"\xff\xfe", b"\xfe\xff")):
            text = read_text(path)
    if text is not None:
        fh = io.StringIO(text, newline="")
    else:
        fh = open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115 - closed by _rows
    try:
        first = fh.readline()
        fh.seek(0)
    except UnicodeDecodeError as exc:
        fh.close()
        raise ObservationError(f"not UTF-8 text (byte {exc.start})", source=src) from None
    reader = csv.reader(fh, delimiter=sniff_delimiter(first, path))
    line = 1
    header: list[str] | None = None
    try:
        for cells in reader:
            line = reader.line_num + 1
            if cells and any(c.strip() for c in cells):
                header = [c.strip() for c in cells]
                break
    except (csv.Error, UnicodeDecodeError) as exc:
        fh.close()
        raise ObservationError(f"malformed text: {exc}", source=src,
                               line=reader.line_num) from None
    if header is None:
        fh.close()
        raise ObservationError("empty file (no header line)", source=src)
    return header, _rows(fh, reader, header, line, src)


def _rows(fh, reader, header: list[str], start: int, src: str) -> Iterator[tuple[int, list[str]]]:
    try:
        while True:
            line = start
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise ObservationError(f"malformed CSV: {exc}", source=src,
                                       line=reader.line_num) from None
            except UnicodeDecodeError as exc:
                raise ObservationError(f"not UTF-8 text (byte {exc.start} of a block)",
                                       source=src, line=reader.line_num) from None
            start = reader.line_num + 1
            if not cells or all(not c.strip() for c in cells):
                continue
            if len(cells) != len(header):
                raise ObservationError(
                    f"{len(cells)} fields where the header has {len(header)}", source=src,
                    line=line)
            yield line, cells
    finally:
        fh.close()
