"""Noldus The Observer XT event-log exports, as text (CSV/TSV, UTF-8 or UTF-16 with a byte order
mark) or as the Excel workbook The Observer XT saves (read through
:mod:`attunement.observation.importers._workbook`): one row per event with ``Observation``,
``Subject``, ``Behavior``, ``Event_Type`` (``State start``, ``State stop``, ``State point`` /
``Point``), ``Time_Relative_sf`` (seconds, kept exactly as stored) and ``Modifier_1`` …
``Modifier_n`` — the layout of the infant–caregiver event logs shipped with the ccber package
(tests/observation/data/real/ccber). Starts and stops of the same observation, subject, behaviour
and modifiers are paired in order; a stop without a start is an error, a start without a stop is
left open for validation to report (or, leniently, close). The subject is kept in ``subject``
(for ``actors_from: subject``; "" when the export has no ``Subject`` column).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from attunement.observation.errors import ObservationError
from attunement.observation.events import UNNAMED_SUBJECT, make_event_table
from attunement.observation.importers._text import parse_seconds, read_table, read_text


def is_observer_header(header: list[str]) -> bool:
    """Whether a header is that of a Noldus The Observer XT event log.

    Parameters
    ----------
    header : list of str
        The column names.

    Returns
    -------
    bool
        True with ``Behavior``, ``Event_Type`` and a relative time column.

    Examples
    --------
    >>> is_observer_header(["Observation", "Subject", "Behavior", "Event_Type", "Time_Relative_sf"])
    True
    """
    return {"Behavior", "Event_Type"} <= set(header) and (
        "Time_Relative_sf" in header or "Time_Relative_hms" in header)


def read_observer_csv(path: str | Path, *, text: str | None = None) -> pd.DataFrame:
    r"""Read an Observer XT event log (text) into the event table, pairing state starts and stops.

    Parameters
    ----------
    path : str or Path
        The exported CSV/TSV; its name is the session when the log has no ``Observation``.
    text : str, optional
        The content instead of reading ``path``.

    Returns
    -------
    pandas.DataFrame
        The canonical event table (a start without a stop stays open for validation).

    Raises
    ------
    ObservationError
        Not an Observer XT header, an unknown event type or a stop without its start.

    Examples
    --------
    >>> log = "\n".join(["Observation,Subject,Behavior,Event_Type,Time_Relative_sf",
    ...                  "v1,Infant,cry,State start,3.0", "v1,Infant,smile,State point,4.5",
    ...                  "v1,Infant,cry,State stop,8.0"])
    >>> read_observer_csv("log.csv", text=log)[["code", "onset", "offset"]].values.tolist()
    [['cry', 3.0, 8.0], ['smile', 4.5, nan]]
    """
    src = str(path)
    header, rows = read_table(read_text(path) if text is None else text, src)
    if not is_observer_header(header):
        raise ObservationError("not an Observer XT export (needs 'Behavior', 'Event_Type' and "
                               "'Time_Relative_sf')", source=src, line=1)
    pos = {h: i for i, h in enumerate(header)}
    tcol = "Time_Relative_sf" if "Time_Relative_sf" in pos else "Time_Relative_hms"
    mods = [h for h in header if h.startswith("Modifier_")]
    default_session = Path(src).stem
    recs: list[dict] = []
    open_states: dict[tuple, list[dict]] = {}
    for line, cells in rows:
        def cell(col: str, cells=cells) -> str:
            return cells[pos[col]].strip() if col in pos else ""

        behav = cell("Behavior")
        if not behav:
            raise ObservationError("empty behavior", source=src, line=line, field="Behavior")
        kind = cell("Event_Type").lower()
        t = parse_seconds(cell(tcol), source=src, line=line, field=tcol)
        session = cell("Observation") or default_session
        subject = cell("Subject") or UNNAMED_SUBJECT
        mod = "|".join(m for m in (cells[pos[c]].strip() for c in mods) if m)
        base = {"session": session, "actor": subject, "subject": cell("Subject"),
                "code": behav, "modifiers": mod,
                "category": cell("Behavioral_Class") or cell("Behavior_Group"),
                "source": f"{src}:{line}"}
        key = (session, subject, behav, mod)
        if "point" in kind:
            recs.append({**base, "onset": t, "offset": np.nan, "kind": "point"})
        elif "start" in kind:
            rec = {**base, "onset": t, "offset": np.nan, "kind": "state"}
            recs.append(rec)
            open_states.setdefault(key, []).append(rec)
        elif "stop" in kind:
            stack = open_states.get(key)
            if not stack:
                raise ObservationError(f"stop of {behav!r} ({subject}) without a start",
                                       source=src, line=line)
            stack.pop(0)["offset"] = t
        else:
            raise ObservationError(f"event type {cell('Event_Type')!r} (expected State start, "
                                   "State stop or State point)", source=src, line=line,
                                   field="Event_Type")
    # a start without a stop stays open (kind "state"): validation reports or repairs it
    return make_event_table(recs, source=src)
