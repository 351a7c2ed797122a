"""Which importer a file needs: from its extension and, for delimited text, its header line
(the table in :mod:`attunement.observation.importers`). Below the package and the workbook
reader, which both ask it."""

from __future__ import annotations

from pathlib import Path

from attunement.observation.errors import ObservationError
from attunement.observation.importers._text import read_table, read_text
from attunement.observation.importers.boris import is_boris_header, is_boris_legacy
from attunement.observation.importers.datavyu import (
    is_datavyu_header,
    is_datavyu_save,
    is_datavyu_save_file,
)
from attunement.observation.importers.observer import is_observer_header

XLSX_SUFFIXES = frozenset({".xlsx", ".xlsm"})


def detect_format(path: str | Path, text: str | None = None) -> str:
    """The format of a file (see the module table)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".boris" or Path(path).name.lower().endswith(".boris.gz"):
        return "boris-project"
    if suffix == ".eaf":
        return "elan"
    if suffix in {".sds", ".sdis", ".sdi"}:
        return "sdis"
    if suffix == ".opf":
        return "datavyu-opf"
    if suffix in XLSX_SUFFIXES:
        return "workbook"
    if is_datavyu_save_file(path) if text is None else is_datavyu_save(text):
        return "datavyu"
    first = _first_line(path) if text is None else text.split("\n", 1)[0]
    if first is None:
        text = read_text(path)
        first = text.split("\n", 1)[0]
    if not first.strip():
        return "csv"
    header, _ = read_table(first + "\n", str(path))
    if is_boris_header(header) or is_boris_legacy(header):
        return "boris"
    if is_datavyu_header(header):
        return "datavyu"
    if is_observer_header(header):
        return "observer"
    return "csv"


def _first_line(path: str | Path) -> str | None:
    """The first line of a plain UTF-8 file without reading all of it (None: let read_text
    decide, e.g. UTF-16 or binary)."""
    try:
        with Path(path).open("rb") as fh:
            head = fh.read(65536)
    except OSError as exc:
        raise ObservationError(f"cannot read file: {exc.strerror or exc}",
                               source=str(path)) from None
    if b"\x00" in head or head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None
    line = head.split(b"\n", 1)[0].rstrip(b"\r")
    try:
        return line.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
