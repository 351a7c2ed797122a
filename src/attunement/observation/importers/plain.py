"""Plain CSV/TSV: ``session, actor, code, onset, offset`` (+ optional coder, category,
modifiers, duration, interval_start, interval_end). Also reads back the canonical table written
by :func:`write_csv`, which writes times with six fixed decimals so that no time is rounded
whatever the length of the recording (``%g`` would round 10,000.123 s to 10,000.1)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from attunement.observation.errors import ObservationError
from attunement.observation.events import EVENT_COLUMNS, make_event_table
from attunement.observation.importers._text import iter_table, parse_seconds

REQUIRED = ("session", "actor", "code", "onset")
TIME_FORMAT = "%.6f"


def read_plain_csv(path: str | Path, *, text: str | None = None) -> pd.DataFrame:
    r"""Read a plain event table, or the canonical table :func:`write_csv` wrote.

    Parameters
    ----------
    path : str or Path
        The CSV or TSV file.
    text : str, optional
        Its content, if it is already in memory.

    Returns
    -------
    pandas.DataFrame
        The events, one per row of the table, in its order.

    Raises
    ------
    ObservationError
        A required column (session, actor, code, onset) is missing, or a cell is empty or not a time.

    Examples
    --------
    >>> table = "session,actor,code,onset,offset\nv1,infant,cry,3,8\nv1,mother,soothe,5,12\n"
    >>> read_plain_csv("v1.csv", text=table)[["actor", "onset", "offset"]].values.tolist()
    [['infant', 3.0, 8.0], ['mother', 5.0, 12.0]]
    """
    frames = list(iter_plain_csv(path, text=text))
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def iter_plain_csv(path: str | Path, *, text: str | None = None,
                   chunk_rows: int = 50_000) -> Iterator[pd.DataFrame]:
    r"""The events of a plain table in chunks of ``chunk_rows``, reading the file as a stream.

    Parameters
    ----------
    path : str or Path
        The table; a large one is never held in memory whole.
    text : str, optional
        The table's text in place of the file.
    chunk_rows : int, default 50 000
        Events per chunk.

    Yields
    ------
    pandas.DataFrame
        Canonical event tables of at most ``chunk_rows`` rows.

    Examples
    --------
    >>> rows = "\n".join(f"v1,infant,cry,{t}" for t in range(5))
    >>> [len(c) for c in iter_plain_csv("big.csv", text="session,actor,code,onset\n" + rows,
    ...                                  chunk_rows=3)]
    [3, 2]
    """
    src = str(path)
    header, rows = iter_table(path, text=text)
    lower = [h.lower() for h in header]
    for col in REQUIRED:
        if col not in lower:
            raise ObservationError(
                f"missing column {col!r}; a plain event file needs "
                "session, actor, code, onset (offset, coder, category, modifiers, duration "
                "optional)", source=src, line=1)
    pos = {h: i for i, h in enumerate(lower)}
    recs: list[dict] = []
    n_out = 0
    for line, cells in rows:
        rec: dict = {"source": f"{src}:{line}"}
        for col in ("session", "actor", "code", "coder", "category", "modifiers"):
            if col in pos:
                rec[col] = cells[pos[col]].strip()
        for col in ("session", "actor", "code"):
            if not rec[col]:
                raise ObservationError(f"empty {col}", source=src, line=line, field=col)
        rec["onset"] = parse_seconds(cells[pos["onset"]], source=src, line=line, field="onset")
        for col in ("offset", "duration", "interval_start", "interval_end"):
            val = cells[pos[col]].strip() if col in pos else ""
            rec[col] = (np.nan if val in {"", "NA", "NaN"} else
                        parse_seconds(val, source=src, line=line, field=col))
        recs.append(rec)
        if len(recs) >= chunk_rows:
            n_out += len(recs)
            yield make_event_table(recs, source=src)
            recs = []
    if recs or not n_out:
        yield make_event_table(recs, source=src)


def write_csv(events: pd.DataFrame, path: str | Path, *, append: bool = False,
              sep: str | None = None) -> None:
    """Write the canonical table (``duration`` and the coded interval included, ``source`` left
    out), times with six decimals.

    Parameters
    ----------
    events : pandas.DataFrame
        The event table.
    path : str or Path
        The file; ``.tsv`` is written tab-separated unless ``sep`` says otherwise.
    append : bool, default False
        Add rows without a header (chunked conversion).
    sep : str, optional
        The delimiter.

    Examples
    --------
    Times keep six decimals, so a long recording loses nothing:

    >>> from attunement.observation.datasets import worked_example_b
    >>> write_csv(worked_example_b(), folder / "s1.csv")
    >>> (folder / "s1.csv").read_text().splitlines()[1]
    's1,,infant,cry,,3.000000,8.000000,,60.000000,0.000000,60.000000'
    """
    cols = [*EVENT_COLUMNS, "duration", "interval_start", "interval_end"]
    ev = events if "interval_start" in events.columns else events.assign(
        interval_start=np.nan, interval_end=np.nan)
    if sep is None:
        sep = "\t" if str(path).lower().endswith(".tsv") else ","
    ev[cols].to_csv(path, index=False, sep=sep, float_format=TIME_FORMAT, na_rep="",
                    mode="a" if append else "w", header=not append)
