"""The canonical event table: one row per coded event, whatever tool produced it.

Schema (a pandas DataFrame; :data:`EVENT_COLUMNS` in this order):

============  ==========  ==============================================================
column        dtype       meaning
============  ==========  ==============================================================
session       str         one coded recording (BORIS observation id, ELAN file, SDIS case)
coder         str         who coded it ("" when unknown); agreement compares two coders
actor         str         ``infant`` (or the scheme's infant name) or a caregiver id
code          str         the behaviour code
category      str         the code's category (cue type, response type) or ""
onset         float64     seconds from the session start
offset        float64     seconds; NaN for a point event
modifiers     str         modifier values joined with ``|`` ("" when none)
============  ==========  ==============================================================

Optional columns: ``duration`` (float64, the recording's length in seconds, the same on every
row of a session; NaN when unknown), ``source`` (``file:line`` of the row it came from, so
validation messages can point at it) and ``kind`` (``state``/``point`` when the source file says
so, e.g. a BORIS START row, else ""; the coding scheme's kind takes precedence),
``interval_start``/``interval_end`` (float64, the session's coded interval — the observation
period the coder worked on, e.g. an ELAN time selection, not the media length — the same on every
row of a session; NaN when the file does not say) and the places a tool records who acted, for
``actors_from`` (:mod:`attunement.observation.actors`): ``subject`` (BORIS), ``tier`` (the ELAN
tier id), ``participant`` (the ELAN tier's participant attribute), ``column`` (the Datavyu
column name) — str, "" when the format has none. Times are floats in seconds; intervals are half-open
``[onset, offset)``.

The coded interval bounds every rate, table and permutation (:func:`coded_intervals`): an
explicit interval given by the caller, else the file's, else the span from the first coded onset
to the last coded offset, never the media length (time nobody coded is not time without cues).
``duration`` is the recording's length; validation uses it to find events past the end.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from attunement.observation.actors import ACTORS_FROM
from attunement.observation.errors import ObservationError

EVENT_COLUMNS: tuple[str, ...] = (
    "session", "coder", "actor", "code", "category", "onset", "offset", "modifiers",
)
# where importers record the actor's origin; the names are actors_from's (minus "code")
ACTOR_SOURCES: tuple[str, ...] = tuple(a for a in ACTORS_FROM if a != "code")
OPTIONAL_COLUMNS: tuple[str, ...] = ("duration", "source", "kind", "interval_start", "interval_end",
                                     *ACTOR_SOURCES)
_STR = ("session", "coder", "actor", "code", "category", "modifiers")

#: The one name every importer gives an event coded on no named subject (BORIS "No focal
#: subject" or an empty subject, SDIS "No_focal_subject_…"), so the same observation read two
#: ways compares equal.
UNNAMED_SUBJECT = "(no focal subject)"


def empty_events() -> pd.DataFrame:
    """An event table with no rows and the canonical columns.

    Returns
    -------
    pandas.DataFrame
        No rows; the columns of :func:`make_event_table`.

    Examples
    --------
    >>> list(empty_events().columns)[:8]
    ['session', 'coder', 'actor', 'code', 'category', 'modifiers', 'onset', 'offset']
    """
    return make_event_table([])


def make_event_table(
    rows: Iterable[Mapping[str, Any]] | pd.DataFrame, *, source: str = "<data>"
) -> pd.DataFrame:
    """Build a canonical event table from records or a DataFrame, checking types.

    Missing optional text columns default to ``""``; ``offset`` defaults to NaN (point event).

    Parameters
    ----------
    rows : iterable of mappings or pandas.DataFrame
        The events; ``session``, ``actor``, ``code`` and ``onset`` are required.
    source : str, default ``"<data>"``
        The file name used in messages.

    Returns
    -------
    pandas.DataFrame
        The canonical event table (the module docstring lists the columns).

    Raises
    ------
    ObservationError
        A required column is missing, or a time is not a finite number (naming the row).

    Examples
    --------
    >>> ev = make_event_table([
    ...     {"session": "s1", "actor": "infant", "code": "cry", "onset": 3.0, "offset": 8.0},
    ...     {"session": "s1", "actor": "mother", "code": "soothe", "onset": 5.0}])
    >>> ev[["actor", "code", "onset", "offset"]]
        actor    code  onset  offset
    0  infant     cry    3.0     8.0
    1  mother  soothe    5.0     NaN
    >>> make_event_table([{"session": "s", "actor": "a", "code": "c", "onset": "x"}])
    Traceback (most recent call last):
    ...
    attunement.observation.errors.ObservationError: <data>, row 1, 'onset': 'x' is not a number of seconds
    """
    df = pd.DataFrame(rows) if not isinstance(rows, pd.DataFrame) else rows.copy()
    for col in ("session", "actor", "code", "onset"):
        if col not in df.columns and len(df):
            raise ObservationError("missing required column", source=source, field=col)
    out = pd.DataFrame(index=range(len(df)))
    for col in _STR:
        if col in df.columns:
            out[col] = _to_str(df[col])
        else:
            out[col] = [""] * len(df)
    for col in ("onset", "offset"):
        if col in df.columns:
            out[col] = _to_float(df[col], col, source, df)
        else:
            out[col] = np.full(len(df), np.nan)
    if len(df) and not np.all(np.isfinite(out["onset"].to_numpy())):
        bad = int(np.flatnonzero(~np.isfinite(out["onset"].to_numpy()))[0])
        raise ObservationError("onset is missing", source=_row_source(df, bad, source),
                               field="onset")
    for col in ("duration", "interval_start", "interval_end"):
        if col in df.columns:
            out[col] = _to_float(df[col], col, source, df)
        else:
            out[col] = np.full(len(df), np.nan)
    if "source" in df.columns:
        out["source"] = df["source"].astype(str).to_numpy()
    else:
        out["source"] = [f"{source}:{i + 1}" for i in range(len(df))]
    out["kind"] = _to_str(df["kind"]) if "kind" in df.columns else [""] * len(df)
    for col in ACTOR_SOURCES:
        out[col] = _to_str(df[col]) if col in df.columns else [""] * len(df)
    for col in (*_STR, "source", "kind", *ACTOR_SOURCES):
        out[col] = out[col].astype(object)
    return out.reset_index(drop=True)


def _is_missing(v: Any) -> bool:
    if v is None:
        return True
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _row_source(df: pd.DataFrame, i: int, source: str) -> str:
    if "source" in df.columns:
        return str(df["source"].iloc[i])
    return f"{source}, row {i + 1}"


def _to_str(col: pd.Series) -> np.ndarray:
    vals = col.to_numpy(dtype=object)
    missing = pd.isna(col).to_numpy()
    if missing.any():
        vals = vals.copy()
        vals[missing] = ""
    return pd.Series(vals, dtype=object).astype(str).str.strip().to_numpy(dtype=object)


_MISSING_TEXT = {"", "NA", "NaN", "nan"}


def _to_float(col: pd.Series, name: str, source: str, df: pd.DataFrame) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype):
        out = col.to_numpy(dtype=float, na_value=np.nan)
    else:
        vals = col.to_numpy(dtype=object)
        out = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        for i in np.flatnonzero(np.isnan(out)):
            v = vals[i]
            if _is_missing(v) or (isinstance(v, str) and v.strip() in _MISSING_TEXT):
                continue
            if isinstance(v, bool):
                raise ObservationError(f"{v!r} is not a number of seconds",
                                       source=_row_source(df, i, source), field=name)
            try:
                out[i] = float(v)
            except (TypeError, ValueError):
                raise ObservationError(
                    f"{v!r} is not a number of seconds", source=_row_source(df, i, source),
                    field=name) from None
    bad = np.flatnonzero(np.isinf(out))
    if len(bad):
        raise ObservationError("infinite time", source=_row_source(df, int(bad[0]), source),
                               field=name)
    return out


def session_durations(events: pd.DataFrame) -> pd.Series:
    """Each session's length: the ``duration`` column, else the last offset or onset.

    Parameters
    ----------
    events : pandas.DataFrame
        An event table.

    Returns
    -------
    pandas.Series
        Seconds, indexed by session.

    Examples
    --------
    The ``duration`` column wins over the last coded time (58 s in this session):

    >>> from attunement.observation.datasets import worked_example_b
    >>> session_durations(worked_example_b()).to_dict()
    {'s1': 60.0}
    """
    end = np.fmax(events["onset"].to_numpy(), events["offset"].to_numpy())
    tmp = pd.DataFrame({"session": events["session"].to_numpy(), "end": end,
                        "duration": events["duration"].to_numpy()})
    g = tmp.groupby("session", sort=False)
    dur = g["duration"].max()
    last = g["end"].max()
    return dur.fillna(last).rename("duration")


def is_point(events: pd.DataFrame) -> np.ndarray:
    """Boolean mask of point events (offset missing).

    Parameters
    ----------
    events : pandas.DataFrame
        An event table; only its ``offset`` column is read.

    Returns
    -------
    numpy.ndarray
        True for each point event.

    Examples
    --------
    >>> ev = make_event_table([
    ...     {"session": "s1", "actor": "infant", "code": "cry", "onset": 3.0, "offset": 8.0},
    ...     {"session": "s1", "actor": "mother", "code": "soothe", "onset": 5.0}])
    >>> is_point(ev).tolist()
    [False, True]
    """
    return np.isnan(events["offset"].to_numpy())


def parse_interval(text: str) -> tuple[float, float]:
    """``"START,END"`` in seconds as a checked ``(start, end)`` pair (``0 <= start < end``).

    Parameters
    ----------
    text : str
        Two numbers separated by a comma.

    Returns
    -------
    tuple of float
        ``(start, end)``.

    Raises
    ------
    ValueError
        Not two numbers, or not ``0 <= start < end``.

    Examples
    --------
    >>> parse_interval("0,600")
    (0.0, 600.0)
    """
    try:
        lo, hi = (float(x) for x in str(text).split(","))
    except ValueError:
        raise ValueError(f"interval {text!r} must be 'START,END' in seconds, e.g. 0,600") from None
    return check_interval((lo, hi))


def check_interval(interval: tuple[float, float]) -> tuple[float, float]:
    """The interval as floats, refused unless finite with ``0 <= start < end``.

    Parameters
    ----------
    interval : tuple of float
        ``(start, end)`` in seconds.

    Returns
    -------
    tuple of float
        The checked pair.

    Raises
    ------
    ValueError
        Not two numbers, not finite, or not ``0 <= start < end``.

    Examples
    --------
    >>> check_interval((60, 0))
    Traceback (most recent call last):
    ...
    ValueError: interval 60,0 needs 0 <= start < end
    """
    try:
        lo, hi = (float(v) for v in interval)
    except (TypeError, ValueError):
        raise ValueError(f"interval {interval!r} must be two numbers (start, end)") from None
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo < 0 or hi <= lo:
        raise ValueError(f"interval {lo:g},{hi:g} needs 0 <= start < end")
    return lo, hi


def coded_intervals(
    events: pd.DataFrame, interval: tuple[float, float] | None = None
) -> pd.DataFrame:
    """Each session's coded interval: columns ``interval_start``, ``interval_end`` (index session).

    ``interval`` (one pair for every session) wins; else the file's ``interval_start``/
    ``interval_end``; else the first coded onset to the last coded offset (or onset).

    Parameters
    ----------
    events : pandas.DataFrame
        An event table.
    interval : tuple of float, optional
        One interval for every session.

    Returns
    -------
    pandas.DataFrame
        ``interval_start, interval_end``, indexed by session.

    Examples
    --------
    >>> ev = make_event_table([
    ...     {"session": "s1", "actor": "infant", "code": "cry", "onset": 3.0, "offset": 8.0},
    ...     {"session": "s1", "actor": "mother", "code": "soothe", "onset": 5.0}])
    >>> coded_intervals(ev).loc["s1"].tolist()
    [3.0, 8.0]
    """
    sess = events["session"].to_numpy(dtype=object)
    if interval is not None:
        lo, hi = check_interval(interval)
        idx = pd.unique(sess)
        return pd.DataFrame({"interval_start": lo, "interval_end": hi},
                            index=pd.Index(idx, name="session"))
    on = events["onset"].to_numpy(dtype=float)
    end = np.fmax(on, events["offset"].to_numpy(dtype=float))
    cols = {"session": sess, "first": on, "last": end}
    for c in ("interval_start", "interval_end"):
        cols[c] = (events[c].to_numpy(dtype=float) if c in events.columns
                   else np.full(len(events), np.nan))
    g = pd.DataFrame(cols).groupby("session", sort=False)
    start = g["interval_start"].min().fillna(g["first"].min())
    stop = g["interval_end"].max().fillna(g["last"].max())
    return pd.DataFrame({"interval_start": start, "interval_end": stop})
