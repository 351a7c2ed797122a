"""BORIS: tabular and aggregated event exports (CSV/TSV), old tabular exports with a metadata
block, and ``.boris`` project files (plain or gzip-compressed).

Layouts as in BORIS's ``export_observation.py``/``export_events.py``:
tabular exports have one row per START/STOP/POINT with a ``Time`` column; aggregated exports
pair states into ``Start (s)``/``Stop (s)``. Independent-variable columns (any number, between
the FPS column and ``Subject``) are ignored. Old tabular exports (BORIS 7 and earlier) start with
a metadata block (``Observation id``, media, date, description, independent variables) above a
``Time, Media file path, Total length, FPS, Subject, Behavior, …, Status`` table. In ``.boris``
projects state events are stored as two identical rows; like BORIS we pair them by counting rows
with the same subject, code and modifier; a state left open (odd count, or a START without STOP
in a tabular export) keeps ``kind="state"`` and no offset, so validation reports it with its
source and lenient mode closes it at the session end.

An observation with several media files gives ``Media duration (s)`` as ``179.960;359.960``
(files played one after the other: the lengths add up) and ``|`` between players (played side
by side: the longest counts). BORIS's ``None`` modifier placeholder (no modifier chosen) is not a
value and is dropped. Events on no subject get
:data:`~attunement.observation.events.UNNAMED_SUBJECT`; the raw subject is kept in ``subject``.
A ``.boris`` observation's time interval (``observation time interval`` other than ``[0, 0]``)
is the session's coded interval.
"""

from __future__ import annotations

import csv
import gzip
import json
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from attunement.observation.errors import ObservationError
from attunement.observation.events import UNNAMED_SUBJECT, make_event_table
from attunement.observation.importers._text import (
    MAX_BYTES,
    iter_table,
    parse_seconds,
    read_table,
    read_text,
    sniff_delimiter,
)

DURATION_COLUMNS = ("Media duration (s)", "Total length", "Observation duration",
                    "Coding duration", "Media duration")
# what BORIS writes for an event on no subject, in its exports and its SDIS files
NO_SUBJECT = {"", "no focal subject", "(no focal subject)", "no_focal_subject"}
CHUNK_ROWS = 50_000


def subject_name(raw: str) -> str:
    """The actor name for a BORIS subject; every spelling of "no focal subject" becomes one name.

    Parameters
    ----------
    raw : str
        The ``Subject`` cell as BORIS wrote it.

    Returns
    -------
    str
        The subject, trimmed, or :data:`~attunement.observation.events.UNNAMED_SUBJECT`.

    Examples
    --------
    >>> subject_name(" Mother "), subject_name("No focal subject")
    ('Mother', '(no focal subject)')
    """
    raw = raw.strip()
    return UNNAMED_SUBJECT if raw.lower() in NO_SUBJECT else raw


def clean_modifiers(raw: str) -> str:
    """Modifier values joined with ``|``, BORIS's ``None`` placeholder and padding removed.

    Parameters
    ----------
    raw : str
        The ``Modifiers`` cell (values separated by ``|``).

    Returns
    -------
    str
        The chosen values only; "" when none was chosen.

    Examples
    --------
    >>> clean_modifiers("None| loud |NA|soft")
    'loud|soft'
    """
    vals = (m.strip() for m in raw.split("|"))
    return "|".join(m for m in vals if m and m not in {"None", "NA"})


def media_length(raw: str, *, source: str, line: int | None, field: str) -> float:
    """Length of an observation's media: ``;`` between files of one player (played one after
    the other, so they add up), ``|`` between players (side by side, so the longest).

    Parameters
    ----------
    raw : str
        The media duration cell (seconds or ``h:mm:ss``).
    source, field : str
        The file and column, for the error message.
    line : int or None
        The line in that file.

    Returns
    -------
    float
        Seconds; NaN when the cell gives no length.

    Raises
    ------
    ObservationError
        A part is not a time.

    Examples
    --------
    Two files of 180 s and 360 s on one player, a 200-s video on a second player:

    >>> media_length("179.96;359.96|200", source="obs.tsv", line=2, field="Media duration (s)")
    539.92
    """
    players = []
    for player in raw.split("|"):
        parts = [p for p in player.split(";") if p.strip() and p.strip() not in {"NA", "-"}]
        if parts:
            players.append(sum(parse_seconds(p, source=source, line=line, field=field)
                               for p in parts))
    return max(players) if players else np.nan


def is_boris_header(header: list[str]) -> bool:
    """Whether a header row is that of a BORIS tabular or aggregated events export.

    Parameters
    ----------
    header : list of str
        The column names of the first line.

    Returns
    -------
    bool
        True when ``Observation id``, ``Subject`` and ``Behavior`` are all there.

    Examples
    --------
    >>> is_boris_header(["Observation id", "Time", "Subject", "Behavior", "Status"])
    True
    """
    return "Observation id" in header and "Behavior" in header and "Subject" in header


def is_boris_legacy(header: list[str]) -> bool:
    """An old tabular export: the first line is the ``Observation id, <id>`` metadata row.

    Parameters
    ----------
    header : list of str
        The cells of the file's first line.

    Returns
    -------
    bool
        True for BORIS 7 and earlier's metadata row (at most two filled cells).

    Examples
    --------
    >>> is_boris_legacy(["Observation id", "visit 1", ""]), is_boris_legacy(["Observation id", "Subject", "Behavior"])
    (True, False)
    """
    cells = [h for h in header if h]
    return bool(cells) and cells[0] == "Observation id" and len(cells) <= 2


def read_boris_table(path: str | Path, *, text: str | None = None) -> pd.DataFrame:
    r"""Read a BORIS tabular or aggregated events export (the layout is told from the header).

    Parameters
    ----------
    path : str or Path
        The export file (CSV or TSV); also named in error messages.
    text : str, optional
        The file's content, when it is already in memory (``path`` is then only its name).

    Returns
    -------
    pandas.DataFrame
        The canonical event table, START/STOP rows paired into states.

    Examples
    --------
    A tabular export with one cry (START at 3 s, STOP at 8 s) and one smile (a POINT):

    >>> rows = ["Observation id,Media duration (s),Subject,Behavior,Modifiers,Behavior type,Time",
    ...         "visit1,60,Infant,cry,,START,3.0", "visit1,60,Infant,cry,,STOP,8.0",
    ...         "visit1,60,Mother,smile,,POINT,4.5"]
    >>> ev = read_boris_table("visit1.csv", text="\n".join(rows))
    >>> ev[["actor", "code", "onset", "offset"]].values.tolist()
    [['Infant', 'cry', 3.0, 8.0], ['Mother', 'smile', 4.5, nan]]
    """
    frames = list(iter_boris_table(path, text=text))
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def iter_boris_table(path: str | Path, *, text: str | None = None,
                     chunk_rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    r"""The events of a BORIS tabular or aggregated export in chunks of about ``chunk_rows``
    (a START still waiting for its STOP holds its chunk back), reading the file as a stream.

    Parameters
    ----------
    path : str or Path
        The export; it is read line by line, so its size does not matter.
    text : str, optional
        The content instead of the file.
    chunk_rows : int, default 50 000
        About how many events each table holds.

    Yields
    ------
    pandas.DataFrame
        Event tables, in the file's order.

    Examples
    --------
    >>> rows = ["Observation id\tSubject\tBehavior\tBehavior type\tStart (s)\tStop (s)"]
    >>> rows += [f"v1\tInfant\tcry\tSTATE\t{t}\t{t + 2}" for t in range(0, 50, 10)]
    >>> [len(chunk) for chunk in iter_boris_table("v1.tsv", text="\n".join(rows), chunk_rows=2)]
    [2, 2, 1]
    """
    src = str(path)
    if text is not None:
        first = text.split("\n", 1)[0]
    else:
        try:
            with Path(path).open("rb") as fh:
                first = fh.readline(65536).decode("utf-8-sig", errors="replace")
        except OSError as exc:
            raise ObservationError(f"cannot read file: {exc.strerror or exc}",
                                   source=src) from None
    if first.strip() and is_boris_legacy(read_table(first.rstrip("\r\n") + "\n", src)[0]):
        yield _read_legacy(path, text)
        return
    header, rows = iter_table(path, text=text)
    yield from _chunks(_boris_records(header, rows, src), chunk_rows, src)


def _chunks(recs: Iterable[dict], chunk_rows: int, src: str) -> Iterator[pd.DataFrame]:
    pending: list[dict] = []
    n_out = 0
    for rec in recs:
        pending.append(rec)
        if len(pending) >= chunk_rows:
            k = next((i for i, r in enumerate(pending) if r.get("_open")), len(pending))
            if k:
                n_out += k
                yield make_event_table(_strip(pending[:k]), source=src)
                del pending[:k]
    if pending or not n_out:
        yield make_event_table(_strip(pending), source=src)


def _strip(recs: list[dict]) -> list[dict]:
    for r in recs:
        r.pop("_open", None)
    return recs


def _boris_records(header: list[str], rows: Iterable[tuple[int, list[str]]],
                   src: str) -> Iterator[dict]:
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

    open_states: dict[tuple, list[dict]] = {}
    durations: dict[tuple[str, str], float] = {}
    for line, cells in rows:
        obs, subject, behav = cell(cells, "Observation id"), cell(cells, "Subject"), cell(
            cells, "Behavior")
        if not obs or not behav:
            raise ObservationError("empty observation id or behavior", source=src, line=line)
        btype = cell(cells, "Behavior type").upper()
        mods = "|".join(m for m in (clean_modifiers(cells[pos[c]]) for c in mod_cols) if m)
        duration = np.nan
        if dur_col:
            raw = cell(cells, dur_col)
            if raw and raw not in {"NA", "-"}:
                # the same text on every row of an observation: parse it once
                key_d = (obs, raw)
                if key_d not in durations:
                    durations[key_d] = media_length(raw, source=src, line=line, field=dur_col)
                duration = durations[key_d]
        base = {"session": obs, "actor": subject_name(subject), "subject": subject,
                "code": behav, "category": cell(cells, "Behavioral category"),
                "modifiers": mods, "duration": duration, "source": f"{src}:{line}"}
        if aggregated:
            start = parse_seconds(cell(cells, "Start (s)"), source=src, line=line,
                                  field="Start (s)")
            if btype == "POINT":
                yield {**base, "onset": start, "offset": np.nan, "kind": "point"}
            elif btype == "STATE":
                stop_raw = cell(cells, "Stop (s)")
                if stop_raw in {"", "NA"}:
                    raise ObservationError("state without a stop time", source=src, line=line,
                                           field="Stop (s)")
                stop = parse_seconds(stop_raw, source=src, line=line, field="Stop (s)")
                yield {**base, "onset": start, "offset": stop}
            else:
                raise ObservationError(f"behavior type {btype!r} (expected STATE or POINT)",
                                       source=src, line=line, field="Behavior type")
        else:
            t = parse_seconds(cell(cells, "Time"), source=src, line=line, field="Time")
            yield from _tabular(base, btype, t, (obs, subject, behav, mods), open_states,
                                src, line)
    for stack in open_states.values():
        for rec in stack:
            rec["_open"] = False
    # an unpaired START stays open (kind "state", no offset): validation reports it with its
    # line, and lenient mode closes it at the session end


def _tabular(base: dict, btype: str, t: float, key: tuple, open_states: dict, src: str,
             line: int) -> Iterator[dict]:
    if btype == "POINT":
        yield {**base, "onset": t, "offset": np.nan, "kind": "point"}
    elif btype == "START":
        rec = {**base, "onset": t, "offset": np.nan, "kind": "state", "_open": True}
        open_states.setdefault(key, []).append(rec)
        yield rec
    elif btype == "STOP":
        stack = open_states.get(key)
        if not stack:
            raise ObservationError(f"STOP of {key[2]!r} ({key[1] or UNNAMED_SUBJECT}) without a "
                                   "START", source=src, line=line)
        rec = stack.pop(0)
        rec["offset"] = t
        rec["_open"] = False
    else:
        raise ObservationError(f"behavior type {btype!r} (expected START, STOP or POINT)",
                               source=src, line=line, field="Behavior type")


def _read_legacy(path: str | Path, text: str | None) -> pd.DataFrame:
    """An old tabular export: a metadata block, then ``Time … Subject, Behavior … Status``."""
    src = str(path)
    raw = read_text(path) if text is None else text
    lines = raw.splitlines()
    meta: dict[str, str] = {}
    table_at = None
    delim = sniff_delimiter(lines[0] if lines else "", path)
    for no, cells in enumerate(csv.reader(lines, delimiter=delim), 1):
        cells = [c.strip() for c in cells]
        if cells and cells[0] == "Time" and "Subject" in cells and "Behavior" in cells:
            table_at = no
            break
        if len(cells) >= 2 and cells[0] and cells[0] not in meta:
            meta[cells[0]] = cells[1]
    if table_at is None:
        raise ObservationError(
            "an old BORIS tabular export (metadata block starting 'Observation id') without "
            "its 'Time, …, Subject, Behavior, …, Status' event table", source=src)
    obs = meta.get("Observation id", "")
    if not obs:
        raise ObservationError("empty 'Observation id' in the metadata block", source=src,
                               line=1)
    header, rows = read_table("\n".join(lines[table_at - 1:]) + "\n", src)
    rows = [(line + table_at - 1, cells) for line, cells in rows]
    pos = {h: i for i, h in enumerate(header)}
    for col in ("Status", "Time", "Subject", "Behavior"):
        if col not in pos:
            raise ObservationError(f"old BORIS tabular export without {col!r} column",
                                   source=src, line=table_at)
    mod_cols = [h for h in header if h.startswith("Modifier")]
    recs: list[dict] = []
    open_states: dict[tuple, list[dict]] = {}
    for line, cells in rows:
        def cell(col: str, cells: list[str] = cells) -> str:
            return cells[pos[col]].strip() if col in pos else ""
        subject, behav = cell("Subject"), cell("Behavior")
        if not behav:
            raise ObservationError("empty behavior", source=src, line=line, field="Behavior")
        mods = "|".join(m for m in (clean_modifiers(cells[pos[c]]) for c in mod_cols) if m)
        total = cell("Total length")
        duration = (media_length(total, source=src, line=line, field="Total length")
                    if total and total != "NA" else np.nan)
        base = {"session": obs, "actor": subject_name(subject), "subject": subject,
                "code": behav, "category": cell("Behavioral category"), "modifiers": mods,
                "duration": duration, "source": f"{src}:{line}"}
        t = parse_seconds(cell("Time"), source=src, line=line, field="Time")
        recs.extend(_tabular(base, cell("Status").upper(), t, (subject, behav, mods),
                             open_states, src, line))
    return make_event_table(_strip(recs), source=src)


def read_project_text(path: str | Path) -> str:
    """The JSON text of a ``.boris`` project, gunzipping a ``.boris.gz`` (or gzip content).

    Parameters
    ----------
    path : str or Path
        The project file.

    Returns
    -------
    str
        The project as JSON text.

    Raises
    ------
    ObservationError
        The file cannot be read, its gzip stream is damaged or too large, or it is not UTF-8.

    Examples
    --------
    >>> import gzip
    >>> project = folder / "study.boris.gz"
    >>> _ = project.write_bytes(gzip.compress(b'{"observations": {}}'))
    >>> read_project_text(project)
    '{"observations": {}}'
    """
    p = Path(path)
    try:
        with p.open("rb") as fh:
            magic = fh.read(2)
    except OSError as exc:
        raise ObservationError(f"cannot read file: {exc.strerror or exc}", source=str(p)) from None
    if magic != b"\x1f\x8b":
        return read_text(p)
    try:
        with gzip.open(p, "rb") as fh:
            # bounded, so a small file cannot expand without limit
            data = fh.read(MAX_BYTES + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise ObservationError(f"damaged gzip file: {exc}", source=str(p)) from None
    if len(data) > MAX_BYTES:
        raise ObservationError(f"gzip content is larger than {MAX_BYTES // 2**20} MB",
                               source=str(p))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ObservationError(f"gzip content is not UTF-8 text (byte {exc.start})",
                               source=str(p)) from None


def read_boris_project(path: str | Path, *, text: str | None = None) -> pd.DataFrame:
    """Read every observation of a ``.boris`` project (JSON, optionally gzip-compressed).

    Parameters
    ----------
    path : str or Path
        The project file (``.boris`` or ``.boris.gz``); each observation is a session.
    text : str, optional
        The project's JSON, when already read (``path`` then only names it in messages).

    Returns
    -------
    pandas.DataFrame
        The canonical event table; a state's two rows become one event with an offset.

    Raises
    ------
    ObservationError
        Not JSON, no ``observations``, or an event whose code is not in the ethogram.

    Examples
    --------
    An ethogram with one state (cry) and one point event (smile), and one observation:

    >>> import json
    >>> project = {"behaviors_conf": {"0": {"code": "cry", "type": "State event"},
    ...                               "1": {"code": "smile", "type": "Point event"}},
    ...            "observations": {"visit1": {"events": [[3.0, "Infant", "cry", ""],
    ...                                                   [4.5, "Infant", "smile", ""],
    ...                                                   [8.0, "Infant", "cry", ""]]}}}
    >>> ev = read_boris_project("study.boris", text=json.dumps(project))
    >>> ev[["session", "code", "onset", "offset"]].values.tolist()
    [['visit1', 'cry', 3.0, 8.0], ['visit1', 'smile', 4.5, nan]]
    """
    src = str(path)
    raw = read_project_text(path) if text is None else text
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
        i_lo, i_hi = _boris_interval(obs, src, where)
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
            mods = clean_modifiers(str(ev[3])) if len(ev) > 3 and ev[3] is not None else ""
            if code not in kinds:
                raise ObservationError(f"code {code!r} is not in the project's ethogram",
                                       source=src, field=f)
            base = {"session": str(obs_id), "actor": subject_name(subject), "subject": subject,
                    "code": code, "category": cats[code], "modifiers": mods,
                    "duration": duration, "interval_start": i_lo, "interval_end": i_hi,
                    "source": f"{src}:{f}"}
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


def _boris_interval(obs: dict, src: str, where: str) -> tuple[float, float]:
    """The observation's time interval; ``[0, 0]`` (or none) means the whole observation."""
    interval = obs.get("observation time interval")
    if interval is None:
        return np.nan, np.nan
    try:
        lo, hi = (float(v) for v in interval)
    except (TypeError, ValueError):
        raise ObservationError(f"time interval {interval!r} is not [start, stop] in seconds",
                               source=src, field=f"{where}.observation time interval") from None
    if lo == 0 and hi == 0:
        return np.nan, np.nan
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo < 0 or hi <= lo:
        raise ObservationError(f"time interval [{lo:g}, {hi:g}] needs 0 <= start < stop",
                               source=src, field=f"{where}.observation time interval")
    return lo, hi


def _boris_duration(obs: dict) -> float:
    """Media length: per player the files add up; players play side by side (the longest)."""
    info = obs.get("media_info") or {}
    lengths = info.get("length") if isinstance(info, dict) else None
    if not isinstance(lengths, dict) or not lengths:
        return float("nan")
    try:
        lengths = {k: float(v) for k, v in lengths.items()}
    except (TypeError, ValueError):
        return float("nan")
    files = obs.get("file")
    if isinstance(files, dict) and files:
        per_player = [sum(lengths.get(f, 0.0) for f in fl) for fl in files.values()
                      if isinstance(fl, list)]
        if any(per_player):
            return float(max(per_player))
    return float(max(lengths.values()))


def write_boris_aggregated(events: pd.DataFrame, path: str | Path, *,
                           append: bool = False) -> None:
    """Write a BORIS-style aggregated events TSV (the columns BORIS's importers need).

    Parameters
    ----------
    events : pandas.DataFrame
        A canonical event table (with ``duration``).
    path : str or Path
        The TSV file to write.
    append : bool, default False
        Add the rows under an existing file, without a header (chunked conversion).

    Examples
    --------
    >>> from attunement.observation.datasets import worked_example_b
    >>> write_boris_aggregated(worked_example_b(), folder / "visit.tsv")
    >>> read_boris_table(folder / "visit.tsv")[["actor", "code", "onset", "offset"]].values.tolist()[0]
    ['infant', 'cry', 3.0, 8.0]
    """
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
    out.to_csv(path, sep="\t", index=False, na_rep="NA", float_format="%.3f",
               mode="a" if append else "w", header=not append)
