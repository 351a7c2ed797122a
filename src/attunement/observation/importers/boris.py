"""BORIS: tabular and aggregated event exports (CSV/TSV) and ``.boris`` project files.

Layouts as in BORIS's ``export_observation.py``/``export_events.py`` (observation.md §2):
tabular exports have one row per START/STOP/POINT with a ``Time`` column; aggregated exports
pair states into ``Start (s)``/``Stop (s)``. Independent-variable columns (any number, between
the FPS column and ``Subject``) are ignored. In ``.boris`` projects state events are stored as
two identical rows; like BORIS we pair them by counting rows with the same subject, code and
modifier; a state left open (odd count, or a START without STOP in a tabular export) keeps
``kind="state"`` and no offset, so validation reports it with its source and lenient mode closes
it at the session end.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from attunement.observation.errors import ObservationError
from attunement.observation.events import make_event_table
from attunement.observation.importers._text import parse_seconds, read_table, read_text

DURATION_COLUMNS = ("Media duration (s)", "Total length", "Observation duration",
                    "Coding duration", "Media duration")


def is_boris_header(header: list[str]) -> bool:
    return "Observation id" in header and "Behavior" in header and "Subject" in header


def read_boris_table(path: str | Path, *, text: str | None = None) -> pd.DataFrame:
    """Read a BORIS tabular or aggregated events export (detected from the header)."""
    src = str(path)
    header, rows = read_table(read_text(path) if text is None else text, src)
    if not is_boris_header(header):
        raise ObservationError("not a BORIS export (needs 'Observation id', 'Subject', "
                               "'Behavior')", source=src, line=1)
    pos = {h: i for i, h in enumerate(header)}
    mod_cols = [h for h in header if h.startswith("Modifier #")] or (
        ["Modifiers"] if "Modifiers" in pos else [])
    aggregated = "Start (s)" in pos
    if not aggregated and "Time" not in pos:
        raise ObservationError("BORIS export without 'Time' or 'Start (s)' column", source=src,
                               line=1)
    if "Behavior type" not in pos:
        raise ObservationError("BORIS export without 'Behavior type' column", source=src, line=1)
    dur_col = next((c for c in DURATION_COLUMNS if c in pos), None)

    def cell(cells: list[str], col: str) -> str:
        return cells[pos[col]].strip() if col in pos else ""

    recs: list[dict] = []
    open_states: dict[tuple, list[dict]] = {}
    for line, cells in rows:
        obs, subject, behav = cell(cells, "Observation id"), cell(cells, "Subject"), cell(
            cells, "Behavior")
        if not obs or not behav:
            raise ObservationError("empty observation id or behavior", source=src, line=line)
        btype = cell(cells, "Behavior type").upper()
        mods = "|".join(m for m in (cells[pos[c]].strip() for c in mod_cols) if m and m != "NA")
        duration = np.nan
        if dur_col:
            raw = cell(cells, dur_col)
            if raw and raw not in {"NA", "-"}:
                duration = parse_seconds(raw, source=src, line=line, field=dur_col)
        base = {"session": obs, "actor": subject or "(no focal subject)", "code": behav,
                "category": cell(cells, "Behavioral category"), "modifiers": mods,
                "duration": duration, "source": f"{src}:{line}"}
        if aggregated:
            start = parse_seconds(cell(cells, "Start (s)"), source=src, line=line,
                                  field="Start (s)")
            if btype == "POINT":
                recs.append({**base, "onset": start, "offset": np.nan})
            elif btype == "STATE":
                stop_raw = cell(cells, "Stop (s)")
                if stop_raw in {"", "NA"}:
                    raise ObservationError("state without a stop time", source=src, line=line,
                                           field="Stop (s)")
                stop = parse_seconds(stop_raw, source=src, line=line, field="Stop (s)")
                recs.append({**base, "onset": start, "offset": stop})
            else:
                raise ObservationError(f"behavior type {btype!r} (expected STATE or POINT)",
                                       source=src, line=line, field="Behavior type")
        else:
            t = parse_seconds(cell(cells, "Time"), source=src, line=line, field="Time")
            key = (obs, subject, behav, mods)
            if btype == "POINT":
                recs.append({**base, "onset": t, "offset": np.nan})
            elif btype == "START":
                rec = {**base, "onset": t, "offset": np.nan, "kind": "state"}
                recs.append(rec)
                open_states.setdefault(key, []).append(rec)
            elif btype == "STOP":
                stack = open_states.get(key)
                if not stack:
                    raise ObservationError(f"STOP of {behav!r} ({subject}) without a START",
                                           source=src, line=line)
                stack.pop(0)["offset"] = t
            else:
                raise ObservationError(f"behavior type {btype!r} (expected START, STOP or "
                                       "POINT)", source=src, line=line, field="Behavior type")
    # an unpaired START stays open (kind "state", no offset): validation reports it with its
    # line, and lenient mode closes it at the session end
    return make_event_table(recs, source=src)


def read_boris_project(path: str | Path, *, text: str | None = None) -> pd.DataFrame:
    """Read every observation of a ``.boris`` project (JSON)."""
    src = str(path)
    raw = read_text(path) if text is None else text
    try:
        proj = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ObservationError(f"not valid JSON: {exc.msg}", source=src, line=exc.lineno) from None
    if not isinstance(proj, dict) or not isinstance(proj.get("observations"), dict):
        raise ObservationError("not a BORIS project (no 'observations')", source=src)
    ethogram = proj.get("behaviors_conf") or {}
    if not isinstance(ethogram, dict):
        raise ObservationError("'behaviors_conf' must be a mapping", source=src)
    kinds: dict[str, str] = {}
    cats: dict[str, str] = {}
    for key, b in ethogram.items():
        if not isinstance(b, dict) or "code" not in b:
            raise ObservationError("ethogram entry without a code", source=src,
                                   field=f"behaviors_conf.{key}")
        kinds[str(b["code"])] = "state" if "state" in str(b.get("type", "")).lower() else "point"
        cats[str(b["code"])] = str(b.get("category", "") or "")
    recs: list[dict] = []
    for obs_id, obs in proj["observations"].items():
        where = f"observations.{obs_id}"
        if not isinstance(obs, dict):
            raise ObservationError("observation must be a mapping", source=src, field=where)
        events = obs.get("events", [])
        if not isinstance(events, list):
            raise ObservationError("'events' must be a list", source=src, field=where)
        duration = _boris_duration(obs)
        open_states: dict[tuple, dict] = {}
        for k, ev in enumerate(events):
            f = f"{where}.events[{k}]"
            if not isinstance(ev, list) or len(ev) < 3:
                raise ObservationError("event must be [time, subject, code, modifier, ...]",
                                       source=src, field=f)
            try:
                t = float(ev[0])
            except (TypeError, ValueError):
                raise ObservationError(f"time {ev[0]!r} is not a number", source=src,
                                       field=f) from None
            if not np.isfinite(t):
                raise ObservationError("time is not finite", source=src, field=f)
            subject, code = str(ev[1] or ""), str(ev[2])
            mods = str(ev[3]) if len(ev) > 3 and ev[3] is not None else ""
            if code not in kinds:
                raise ObservationError(f"code {code!r} is not in the project's ethogram",
                                       source=src, field=f)
            base = {"session": str(obs_id), "actor": subject or "(no focal subject)",
                    "code": code, "category": cats[code], "modifiers": mods,
                    "duration": duration, "source": f"{src}:{f}"}
            if kinds[code] == "point":
                recs.append({**base, "onset": t, "offset": np.nan, "kind": "point"})
                continue
            key = (subject, code, mods)
            if key in open_states:
                open_states.pop(key)["offset"] = t
            else:
                rec = {**base, "onset": t, "offset": np.nan, "kind": "state"}
                open_states[key] = rec
                recs.append(rec)
        # an odd number of rows leaves a state open: validation reports it (or closes it)
    return make_event_table(recs, source=src)


def _boris_duration(obs: dict) -> float:
    interval = obs.get("observation time interval")
    if isinstance(interval, list) and len(interval) == 2:
        try:
            lo, hi = float(interval[0]), float(interval[1])
            if hi > lo:
                return hi
        except (TypeError, ValueError):
            pass
    info = obs.get("media_info") or {}
    lengths = info.get("length") if isinstance(info, dict) else None
    if isinstance(lengths, dict) and lengths:
        try:
            return float(sum(float(v) for v in lengths.values()))
        except (TypeError, ValueError):
            return float("nan")
    return float("nan")


def write_boris_aggregated(events: pd.DataFrame, path: str | Path) -> None:
    """Write a BORIS-style aggregated events TSV (the columns BORIS's importers need)."""
    point = events["offset"].isna()
    out = pd.DataFrame({
        "Observation id": events["session"], "Observation date": "", "Description": "",
        "Observation type": "MEDIA", "Source": "", "Time offset (s)": 0.0,
        "Coding duration": events["duration"], "Media duration (s)": events["duration"],
        "FPS (frame/s)": "NA", "Subject": events["actor"],
        "Observation duration by subject by observation": events["duration"],
        "Behavior": events["code"], "Behavioral category": events["category"],
        "Modifiers": events["modifiers"], "Behavior type": np.where(point, "POINT", "STATE"),
        "Start (s)": events["onset"], "Stop (s)": events["offset"].fillna(events["onset"]),
        "Duration (s)": (events["offset"] - events["onset"]),
    })
    out.to_csv(path, sep="\t", index=False, na_rep="NA", float_format="%.3f")
