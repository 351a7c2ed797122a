"""Reading and writing coded sessions in the formats observational researchers use.

:func:`read_events` picks the importer from the extension and, for delimited text, the header:

============================  =============================================================
format                        recognised by
============================  =============================================================
BORIS project                 ``.boris``
BORIS tabular / aggregated    ``.csv``/``.tsv`` with ``Observation id``, ``Subject``, ``Behavior``
ELAN                          ``.eaf``
GSEQ SDIS timed-event         ``.sds``, ``.sdis``, ``.sdi``
Datavyu project               ``.opf``
Datavyu CSV export            ``column, ordinal, onset, offset`` or ``<column>.onset`` headers
The Observer XT event log     ``Behavior``, ``Event_Type``, ``Time_Relative_sf`` headers
plain CSV                     ``session, actor, code, onset[, offset, …]``
============================  =============================================================

Every importer returns the canonical event table (:mod:`attunement.observation.events`) and
raises :class:`~attunement.observation.errors.ObservationError` naming the file and line for
malformed input.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from attunement.observation.errors import ObservationError
from attunement.observation.importers._text import read_table, read_text
from attunement.observation.importers.boris import (
    is_boris_header,
    read_boris_project,
    read_boris_table,
    write_boris_aggregated,
)
from attunement.observation.importers.datavyu import (
    is_datavyu_header,
    read_datavyu_csv,
    read_opf,
)
from attunement.observation.importers.elan import read_eaf, write_eaf
from attunement.observation.importers.observer import is_observer_header, read_observer_csv
from attunement.observation.importers.plain import read_plain_csv, write_csv
from attunement.observation.importers.sdis import read_sdis, to_sdis, write_sdis

FORMATS = ("auto", "boris", "boris-project", "elan", "sdis", "datavyu", "datavyu-opf",
           "observer", "csv")
WRITE_FORMATS = ("csv", "sdis", "elan", "boris")

__all__ = [
    "FORMATS", "detect_format", "read_boris_project", "read_boris_table", "read_datavyu_csv",
    "read_eaf", "read_events", "read_observer_csv", "read_opf", "read_plain_csv", "read_sdis", "to_sdis", "write_boris_aggregated",
    "write_csv", "write_eaf", "write_events", "write_sdis",
]


def detect_format(path: str | Path, text: str | None = None) -> str:
    """The format of a file (see the module table)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".boris":
        return "boris-project"
    if suffix == ".eaf":
        return "elan"
    if suffix in {".sds", ".sdis", ".sdi"}:
        return "sdis"
    if suffix == ".opf":
        return "datavyu-opf"
    text = read_text(path) if text is None else text
    header, _ = read_table(text.split("\n", 1)[0] + "\n", str(path))
    if is_boris_header(header):
        return "boris"
    if is_datavyu_header(header):
        return "datavyu"
    if is_observer_header(header):
        return "observer"
    return "csv"


def read_events(path: str | Path, *, format: str = "auto", **options) -> pd.DataFrame:
    """Read one file into the canonical event table."""
    if format not in FORMATS:
        raise ObservationError(f"unknown format {format!r}; one of {', '.join(FORMATS)}",
                               source=str(path))
    if format == "auto":
        format = detect_format(path)
    if format == "boris-project":
        return read_boris_project(path)
    if format == "elan":
        return read_eaf(path, **options)
    if format == "sdis":
        return read_sdis(path)
    if format == "boris":
        return read_boris_table(path)
    if format == "datavyu":
        return read_datavyu_csv(path, **options)
    if format == "datavyu-opf":
        return read_opf(path, **options)
    if format == "observer":
        return read_observer_csv(path)
    return read_plain_csv(path)


def write_events(events: pd.DataFrame, path: str | Path, *, format: str = "auto") -> None:
    """Write an event table: ``.csv``/``.tsv`` (canonical), ``.sds`` (SDIS), ``.eaf``, or BORIS
    aggregated TSV (``format="boris"``)."""
    if format == "auto":
        suffix = Path(path).suffix.lower()
        format = {".sds": "sdis", ".sdis": "sdis", ".eaf": "elan"}.get(suffix, "csv")
    if format == "sdis":
        write_sdis(events, path)
    elif format == "elan":
        write_eaf(events, path)
    elif format == "boris":
        write_boris_aggregated(events, path)
    elif format == "csv":
        write_csv(events, path)
    else:
        raise ObservationError(f"cannot write format {format!r}; one of "
                               f"{', '.join(WRITE_FORMATS)}", source=str(path))
