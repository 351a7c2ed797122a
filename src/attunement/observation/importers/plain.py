"""Plain CSV/TSV: ``session, actor, code, onset, offset`` (+ optional coder, category,
modifiers, duration, interval_start, interval_end). Also reads back the canonical table written
by :func:`write_csv`, which writes times with six fixed decimals so that no time is rounded
whatever the length of the recording (``%g`` would round 10,000.123 s to 10,000.1)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from attunement.observation.errors import ObservationError
from attunement.observation.events import EVENT_COLUMNS, make_event_table
from attunement.observation.importers._text import parse_seconds, read_table, read_text

REQUIRED = ("session", "actor", "code", "onset")
TIME_FORMAT = "%.6f"


def read_plain_csv(path: str | Path, *, text: str | None = None) -> pd.DataFrame:
    src = str(path)
    header, rows = read_table(read_text(path) if text is None else text, src)
    lower = [h.lower() for h in header]
    for col in REQUIRED:
        if col not in lower:
            raise ObservationError(
                f"missing column {col!r}; a plain event file needs "
                "session, actor, code, onset (offset, coder, category, modifiers, duration "
                "optional)", source=src, line=1)
    pos = {h: i for i, h in enumerate(lower)}
    recs = []
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
    return make_event_table(recs, source=src)


def write_csv(events: pd.DataFrame, path: str | Path) -> None:
    """Write the canonical table (``duration`` included, ``source`` left out)."""
    cols = [*EVENT_COLUMNS, "duration"]
    cols += [c for c in ("interval_start", "interval_end")
             if c in events.columns and events[c].notna().any()]
    sep = "\t" if str(path).lower().endswith(".tsv") else ","
    events[cols].to_csv(path, index=False, sep=sep, float_format=TIME_FORMAT, na_rep="")
