"""Reading and writing coded sessions in the formats observational researchers use.

:func:`read_events` picks the importer from the extension and, for delimited text, the header:

============================  =============================================================
format                        recognised by
============================  =============================================================
BORIS project                 ``.boris``, ``.boris.gz`` (or gzip content)
BORIS tabular / aggregated    ``.csv``/``.tsv`` with ``Observation id``, ``Subject``, ``Behavior``
BORIS old tabular export      a metadata block starting ``Observation id,<id>`` above the table
ELAN                          ``.eaf``
GSEQ SDIS timed-event         ``.sds``, ``.sdis``, ``.sdi``
Datavyu project               ``.opf``
Datavyu CSV export            ``column, ordinal, onset, offset`` or ``<column>.onset`` headers
The Observer XT event log     ``Behavior``, ``Event_Type``, ``Time_Relative_sf`` headers
Datavyu's own save (CSV)      ``#<version>`` or ``Name (TYPE…)`` first (as an ``.opf``'s ``db``)
Excel workbook                ``.xlsx``/``.xlsm``: each sheet by its header (Observer XT, BORIS…)
plain CSV                     ``session, actor, code, onset[, offset, …]``
============================  =============================================================

Every importer returns the canonical event table (:mod:`attunement.observation.events`) and
raises :class:`~attunement.observation.errors.ObservationError` naming the file and line for
malformed input. A file in none of these layouts is refused with what it looks like (a BORIS
observations list, behavioural-sequences export or header-less aggregated rows, or the columns
found), never as a plain CSV with a missing column.

The examples of these modules read and write their files in ``folder``, a fresh temporary
directory (``pathlib.Path``) that the example runner provides (``tests/docstrings/globs.py``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd

from attunement.observation.errors import ObservationError
from attunement.observation.importers._detect import XLSX_SUFFIXES, _first_line, detect_format
from attunement.observation.importers._text import read_table, read_text
from attunement.observation.importers._workbook import read_workbook
from attunement.observation.importers.boris import (
    iter_boris_table,
    read_boris_project,
    read_boris_table,
    write_boris_aggregated,
)
from attunement.observation.importers.datavyu import (
    read_datavyu_csv,
    read_opf,
)
from attunement.observation.importers.elan import read_eaf, write_eaf
from attunement.observation.importers.observer import read_observer_csv
from attunement.observation.importers.plain import iter_plain_csv, read_plain_csv, write_csv
from attunement.observation.importers.sdis import read_sdis, to_sdis, write_sdis

FORMATS = ("auto", "boris", "boris-project", "elan", "sdis", "datavyu", "datavyu-opf",
           "observer", "workbook", "csv")
WRITE_FORMATS = ("csv", "sdis", "elan", "boris")

__all__ = [
    "FORMATS", "convert_events", "detect_format", "iter_boris_table", "iter_events", "read_boris_project", "read_boris_table", "read_datavyu_csv",
    "read_eaf", "read_events", "read_observer_csv", "read_opf", "read_plain_csv", "read_sdis", "to_sdis", "write_boris_aggregated",
    "write_csv", "write_eaf", "write_events", "write_sdis",
]


def unknown_layout(path: str | Path) -> ObservationError | None:
    r"""Why a delimited file is not a coded-event export, or None when it may be a plain CSV.

    Only the first 64 KB are read. The reasons name what the file looks like (a BORIS
    observations list, a behavioural-sequences export, header-less aggregated rows) or the
    columns found, so a researcher knows which export to make instead.

    Parameters
    ----------
    path : str or Path
        The CSV/TSV file.

    Returns
    -------
    ObservationError or None
        The refusal to raise, or None.

    Examples
    --------
    >>> listing = folder / "observations.csv"
    >>> _ = listing.write_text("Observation id,Subjects\nvisit1,Infant\n")
    >>> print(unknown_layout(listing).args[0].split(": ", 1)[1])
    a BORIS observations list (one row per observation, no events); export the events (tabular or aggregated) from BORIS instead
    """
    src = str(path)
    first = _first_line(path)
    try:
        if first is None:
            text = read_text(path)
        else:  # the first 64 KB say what a file is; huge files are not read whole
            with Path(path).open("rb") as fh:
                text = fh.read(65536).decode("utf-8-sig", errors="replace")
    except ObservationError as exc:
        return exc
    lines = [ln for ln in text.splitlines() if ln.strip()][:50]
    if not lines:
        return ObservationError("empty file (no header line)", source=src)
    if any(ln.startswith("# observation id:") for ln in lines[:5]):
        return ObservationError(
            "a BORIS behavioural-sequences export (codes in order, no times), not timed events; "
            "export the events (tabular or aggregated) from BORIS instead", source=src, line=1)
    first = lines[0]
    header, _ = read_table(first + "\n", src)
    if "Observation id" in header and "Subjects" in header:
        return ObservationError(
            "a BORIS observations list (one row per observation, no events); export the "
            "events (tabular or aggregated) from BORIS instead", source=src, line=1)
    if any(h in {"STATE", "POINT"} for h in header):
        return ObservationError(
            "rows of a BORIS aggregated-events export without its header line (what BORIS 7-9's "
            "export_aggregated_events returns before the header is added): the columns, whose "
            "number depends on the version and the independent variables, cannot be told apart; "
            "export again from BORIS with the header", source=src, line=1)
    if len(header) == 1 and len(lines) <= 3 and any(
            sep in first for sep in "|£+&") and " " not in first.strip():
        return ObservationError(
            "a BORIS behavioural-sequences export (codes in order, no times), not timed events; "
            "export the events (tabular or aggregated) from BORIS instead", source=src, line=1)
    lower = {h.lower() for h in header}
    # two or more of the plain columns: a plain table with a column missing, said by its reader
    if len({"session", "actor", "code", "onset"} & lower) < 2:
        shown = ", ".join(repr(h) for h in header[:8]) + (" …" if len(header) > 8 else "")
        return ObservationError(
            f"not a coded-event export: no BORIS, Datavyu or Observer XT header and not a plain "
            f"event table (session, actor, code, onset); columns found: {shown}", source=src,
            line=1)
    return None


def read_events(path: str | Path, *, format: str = "auto", **options) -> pd.DataFrame:
    r"""Read one file into the canonical event table, whatever its format.

    ``options`` go to the importer: ELAN ``tiers``, ``speakers``, ``interval``, ``session``
    (:func:`read_eaf`); Datavyu ``actors``, ``code_field``, ``session`` (:func:`read_opf`,
    :func:`read_datavyu_csv`, also for a Datavyu sheet of a workbook).

    Parameters
    ----------
    path : str or Path
        The file.
    format : str, default "auto"
        One of :data:`FORMATS`; ``"auto"`` tells it from the extension and the header.
    **options
        Passed to the importer, as above.

    Returns
    -------
    pandas.DataFrame
        The canonical event table (:mod:`attunement.observation.events`), whatever the format.

    Raises
    ------
    ObservationError
        An unknown format, a file in no known layout, or malformed content (file and line named).

    Examples
    --------
    A GSEQ file, told from its extension:

    >>> sds = folder / "visit.sds"
    >>> _ = sds.write_text("Timed ($Infant = cry);\n<v1>\ncry,3-8 cry,25-31 ,60/\n")
    >>> read_events(sds)[["session", "code", "onset"]].values.tolist()
    [['v1', 'cry', 3.0], ['v1', 'cry', 25.0]]
    """
    if format not in FORMATS:
        raise ObservationError(f"unknown format {format!r}; one of {', '.join(FORMATS)}",
                               source=str(path))
    detected = format == "auto"
    if format == "workbook" or Path(path).suffix.lower() in XLSX_SUFFIXES:
        return read_workbook(path, format="auto" if format == "workbook" else format, **options)
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
    if detected:
        refusal = unknown_layout(path)
        if refusal is not None:
            raise refusal
    return read_plain_csv(path)


def iter_events(path: str | Path, *, format: str = "auto", chunk_rows: int = 50_000,
                **options) -> Iterator[pd.DataFrame]:
    """The events of a file in chunks: BORIS tabular/aggregated exports and plain tables are
    read as a stream (bounded memory whatever their size); other formats come in one piece.

    Parameters
    ----------
    path : str or Path
        The file.
    format : str, default "auto"
        As for :func:`read_events`.
    chunk_rows : int, default 50 000
        About how many events a chunk holds, for the streamed formats.
    **options
        As for :func:`read_events` (formats read in one piece).

    Yields
    ------
    pandas.DataFrame
        Event tables, in file order.

    Examples
    --------
    >>> from attunement.observation.datasets import worked_example_b
    >>> write_csv(worked_example_b(), folder / "s1.csv")
    >>> [len(chunk) for chunk in iter_events(folder / "s1.csv", chunk_rows=4)]
    [4, 3]
    """
    detected = format == "auto"
    fmt = detect_format(path) if detected else format
    if fmt == "boris":
        yield from iter_boris_table(path, chunk_rows=chunk_rows)
    elif fmt == "csv":
        refusal = unknown_layout(path) if detected else None
        if refusal is not None:
            raise refusal
        yield from iter_plain_csv(path, chunk_rows=chunk_rows)
    else:
        yield read_events(path, format=fmt, **options)


def _write_format(path: str | Path, format: str) -> str:
    if format != "auto":
        return format
    suffix = Path(path).suffix.lower()
    return {".sds": "sdis", ".sdis": "sdis", ".eaf": "elan"}.get(suffix, "csv")


def convert_events(
    source: str | Path, dest: str | Path, *, from_format: str = "auto", to: str = "auto",
    chunk_rows: int = 50_000, progress: Callable[[int], None] | None = None,
) -> tuple[int, int]:
    """Convert a coded-event file to another format. CSV/TSV and BORIS outputs are written
    chunk by chunk from a streamed input, so memory stays bounded for exports of any size; SDIS and
    ELAN need every code before the first session and are written from the whole table. The
    output appears only when the conversion succeeded (written to a temporary name first).

    Parameters
    ----------
    source, dest : str or Path
        The file to read and the file to write.
    from_format : str, default "auto"
        The input format (:data:`FORMATS`).
    to : str, default "auto"
        The output format (:data:`WRITE_FORMATS`); ``"auto"`` goes by ``dest``'s extension.
    chunk_rows : int, default 50 000
        Events per streamed chunk.
    progress : callable, optional
        Called with the number of events written so far, after each chunk.

    Returns
    -------
    tuple of int
        The number of events and of sessions written.

    Examples
    --------
    >>> from attunement.observation.datasets import worked_example_b
    >>> write_csv(worked_example_b(), folder / "s1.csv")
    >>> convert_events(folder / "s1.csv", folder / "s1.sds")
    (7, 1)
    >>> (folder / "s1.sds").read_text().splitlines()[5].split()[0]
    'infant_cry,3-8'
    """
    fmt = _write_format(dest, to)
    if fmt not in WRITE_FORMATS:
        raise ObservationError(f"cannot write format {fmt!r}; one of "
                               f"{', '.join(WRITE_FORMATS)}", source=str(dest))
    dest = Path(dest)
    tmp = dest.with_name(f".{dest.name}.part")
    n, sessions = 0, set()
    try:
        if fmt in {"csv", "boris"}:
            for k, chunk in enumerate(iter_events(source, format=from_format,
                                                  chunk_rows=chunk_rows)):
                if fmt == "csv":
                    # the temporary name must keep the suffix that picks the delimiter
                    write_csv(chunk, tmp, append=k > 0, sep="\t" if dest.suffix.lower() ==
                              ".tsv" else ",")
                else:
                    write_boris_aggregated(chunk, tmp, append=k > 0)
                n += len(chunk)
                sessions.update(pd.unique(chunk["session"]))
                if progress is not None:
                    progress(n)
        else:
            events = read_events(source, format=from_format)
            write_events(events, tmp, format=fmt)
            n, sessions = len(events), set(events["session"])
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return n, len(sessions)


def write_events(events: pd.DataFrame, path: str | Path, *, format: str = "auto") -> None:
    r"""Write an event table: ``.csv``/``.tsv`` (canonical), ``.sds`` (SDIS), ``.eaf``, or BORIS
    aggregated TSV (``format="boris"``).

    Parameters
    ----------
    events : pandas.DataFrame
        The event table.
    path : str or Path
        The output file.
    format : str, default "auto"
        One of :data:`WRITE_FORMATS`, or ``"auto"`` to go by the extension (CSV otherwise).

    Raises
    ------
    ObservationError
        A format it cannot write.

    Examples
    --------
    >>> from attunement.observation.datasets import worked_example_b
    >>> write_events(worked_example_b(), folder / "s1.tsv", format="boris")
    >>> (folder / "s1.tsv").read_text().split("\n")[0].split("\t")[:3]
    ['Observation id', 'Observation date', 'Description']
    """
    format = _write_format(path, format)
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
