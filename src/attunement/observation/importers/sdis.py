"""GSEQ SDIS timed-event files: import and export.

Grammar as far as it is documented in public writers (BORIS, LINCE, pyseqlsa): a
declaration ``Timed ($Set = code code …) … ;``, then per session ``<label>`` followed by
items ``code,onset-offset`` (``code,onset`` for a momentary event; ``a+b,on-off`` for codes that
share times), and ``/``; a ``,time`` before the session's first item is its start and one after
its last item its end (the session bounds, read as the coded interval). ``%`` starts a comment.
Times are seconds with decimals or ``m:ss``/``h:mm:ss``. An item ``code,t-t`` (zero length) is
a point event. BORIS's exports (``Timed <seconds>;``, no code sets, codes ``Subject_behavior``,
point events as ``t-t`` or ``onset-(onset + 0.001)``) are read as such: the actor is the text
before the first ``_`` (``No_focal_subject_…`` is the unnamed subject,
:data:`~attunement.observation.events.UNNAMED_SUBJECT`) and a 0.001-s event is a point event (only
in files without attunement's code-mapping comments).

Export writes one code set per actor, codes as ``Actor_code`` (spaces and ``-``/``/`` replaced
by ``_``, as BORIS does), the coded interval as ``,start`` after the label (when it does not
start at 0) and ``,end/`` (so a converted file is analysed over the same interval), times with three decimals at any length, and ``% attunement-code`` comments that
map SDIS codes back to the original actor and code so the round trip is exact. Modifiers, coder
and category are not representable in SDIS and are not written. The end-time convention and the
grammar details are unverified against GSEQ itself; compile the file in GSEQ before relying on it.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from attunement.observation.errors import ObservationError
from attunement.observation.events import UNNAMED_SUBJECT, coded_intervals, make_event_table
from attunement.observation.importers._text import parse_seconds, read_text

_SET = re.compile(r"\(\s*\$([^\s=()]+)\s*=\s*([^()]*)\)")
_MAP = re.compile(r"^%\s*attunement-code:\s*(\S+)\s*=\s*(.*?)\s*\|\s*(.*?)\s*$")
_ITEM = re.compile(r"^([^,\s]+),([^,\s-]+)(?:-([^,\s]+))?$")
_TOKEN = re.compile(r"<[^>]*>|[^\s<>/]+|/")


def read_sdis(path: str | Path, *, text: str | None = None) -> pd.DataFrame:
    r"""Read a GSEQ SDIS timed-event file (the module docstring gives the grammar).

    Parameters
    ----------
    path : str or Path
        The ``.sds``/``.sdis`` file; also named in messages.
    text : str, optional
        The SDIS text, read instead of the file.

    Returns
    -------
    pandas.DataFrame
        One event per item; the session bounds are the coded interval.

    Raises
    ------
    ObservationError
        No declaration, an undeclared code, or a malformed item (the line is named).

    Examples
    --------
    >>> sds = "Timed ($Infant = cry) ($Mother = soothe);\n<s1>\ncry,3-8 soothe,5-12 ,60/\n"
    >>> ev = read_sdis("visit.sds", text=sds)
    >>> ev[["code", "onset", "offset", "interval_end"]].values.tolist()
    [['cry', 3.0, 8.0, 60.0], ['soothe', 5.0, 12.0, 60.0]]
    """
    src = str(path)
    raw = read_text(path) if text is None else text
    mapping: dict[str, tuple[str, str]] = {}
    durations_hint: dict[str, float] = {}
    starts_hint: dict[str, float] = {}
    n_items: dict[str, int] = {}
    # strip comments, remembering line numbers of every character
    lines = raw.splitlines()
    clean: list[tuple[int, str]] = []
    for no, line in enumerate(lines, 1):
        m = _MAP.match(line.strip())
        if m:
            mapping[m.group(1)] = (m.group(2), m.group(3))
        clean.append((no, line.split("%", 1)[0]))
    body = "\n".join(c for _, c in clean)
    line_of = _line_index(body)
    decl_end = body.find(";")
    if decl_end < 0:
        raise ObservationError("no declaration (e.g. 'Timed ($Infant = cry fuss);')", source=src,
                               line=1)
    decl = body[:decl_end]
    kind = decl.strip().split(None, 1)[0] if decl.strip() else ""
    if kind.lower() != "timed":
        raise ObservationError(
            f"SDIS data type {kind!r} is not supported; only timed-event ('Timed') files carry "
            "onsets and offsets", source=src, line=line_of(0))
    code_actor: dict[str, str] = {}
    for m in _SET.finditer(decl):
        for code in m.group(2).split():
            code_actor[code] = m.group(1)
    recs: list[dict] = []
    pos = decl_end + 1
    session: str | None = None
    n_sessions = 0
    for m in _TOKEN.finditer(body, pos):
        tok, at = m.group(0), m.start()
        line = line_of(at)
        if tok.startswith("<"):
            if session is not None:
                raise ObservationError(f"session {session!r} is not ended with '/'", source=src,
                                       line=line)
            session = tok[1:-1].strip()
            if not session:
                raise ObservationError("empty session label '<>'", source=src, line=line)
            n_sessions += 1
            continue
        if tok == "/":
            if session is None:
                # GSEQ files may end data with a bare '/' after a ';'-separated last session
                continue
            session = None
            continue
        if session is None:
            if re.fullmatch(r"\([^()]*\)", tok):
                continue  # factor levels
            session = f"session{n_sessions + 1}"
            n_sessions += 1
        if tok.startswith(","):
            if n_items.get(session, 0) == 0 and session not in starts_hint:
                starts_hint[session] = parse_seconds(tok[1:], source=src, line=line,
                                                     field="start time")
            else:
                durations_hint[session] = parse_seconds(tok[1:], source=src, line=line,
                                                        field="end time")
            continue
        if re.fullmatch(r"\([^()]*\)", tok):
            continue
        im = _ITEM.match(tok)
        if not im:
            raise ObservationError(f"{tok!r} is not a timed event 'code,onset-offset'",
                                   source=src, line=line)
        codes, on_s, off_s = im.groups()
        on = parse_seconds(on_s, source=src, line=line, field="onset")
        off = parse_seconds(off_s, source=src, line=line, field="offset") if off_s else np.nan
        n_items[session] = n_items.get(session, 0) + 1
        if off == on or (not mapping and abs(off - on - 0.001) < 1e-9):
            off = np.nan  # a point event: BORIS writes t-t (9.x) or t-(t + 0.001) (older)
        for code in codes.split("+"):
            if code_actor and code not in code_actor:
                raise ObservationError(f"code {code!r} is not declared", source=src, line=line)
            if code in mapping:
                actor, name = mapping[code]
            else:
                actor = code_actor.get(code, "")
                name = code
                if actor and name.startswith(actor + "_"):
                    name = name[len(actor) + 1:]
                elif not actor and code.lower().startswith("no_focal_subject_"):
                    actor, name = UNNAMED_SUBJECT, code[len("no_focal_subject_"):]
                elif not actor:
                    actor, _, rest = code.partition("_")
                    name = rest or code
                    if not rest:
                        raise ObservationError(
                            f"cannot tell the actor of code {code!r}: declare code sets "
                            "($Infant = …) or write codes as Actor_code", source=src, line=line)
            recs.append({"session": session, "actor": actor, "code": name, "onset": on,
                         "offset": off, "source": f"{src}:{line}"})
    if session is not None:
        raise ObservationError(f"session {session!r} is not ended with '/'", source=src,
                               line=len(lines))
    if starts_hint and not durations_hint.keys() >= starts_hint.keys():
        s = next(k for k in starts_hint if k not in durations_hint)
        raise ObservationError(f"session {s!r} gives a start time but no end time (',end' "
                               "before '/')", source=src)
    for r in recs:
        r["duration"] = durations_hint.get(r["session"], np.nan)
        r["interval_end"] = r["duration"]
        r["interval_start"] = starts_hint.get(r["session"], 0.0 if r["session"] in
                                              durations_hint else np.nan)
    return make_event_table(recs, source=src)


def _line_index(body: str):
    starts = [0] + [i + 1 for i, ch in enumerate(body) if ch == "\n"]
    arr = np.asarray(starts)

    def line_of(pos: int) -> int:
        return int(np.searchsorted(arr, pos, side="right"))

    return line_of


def _sdis_name(text: str) -> str:
    out = re.sub(r"[\s\-/,;+()<>$=%]+", "_", text.strip())
    return out or "_"


def write_sdis(events: pd.DataFrame, path: str | Path) -> None:
    """Write a timed-event SDIS file (one ``<session>`` block per session), UTF-8.

    Parameters
    ----------
    events : pandas.DataFrame
        The event table to export.
    path : str or Path
        The ``.sds`` file to create or replace.

    Examples
    --------
    >>> from attunement.observation.datasets import worked_example_b
    >>> write_sdis(worked_example_b(), folder / "s1.sds")
    >>> again = read_sdis(folder / "s1.sds")
    >>> len(again), sorted(set(again["actor"]))
    (7, ['infant', 'mother'])
    """
    path = Path(path)
    path.write_text(to_sdis(events), encoding="utf-8")


def to_sdis(events: pd.DataFrame) -> str:
    """The SDIS text of an event table: one code set per actor, codes ``Actor_code``, and
    ``% attunement-code`` comments that map each code back to its actor and code.

    Parameters
    ----------
    events : pandas.DataFrame
        The event table.

    Returns
    -------
    str
        The file's text (what :func:`write_sdis` writes).

    Examples
    --------
    >>> from attunement.observation.datasets import worked_example_b
    >>> print(to_sdis(worked_example_b()))
    % SDIS timed-event data written by attunement; grammar unverified against GSEQ
    % attunement-code: infant_cry = infant | cry
    % attunement-code: mother_soothe = mother | soothe
    Timed ($infant = infant_cry) ($mother = mother_soothe);
    <s1>
      infant_cry,3-8 infant_cry,25-31 infant_cry,47-50 mother_soothe,5-12 mother_soothe,18-20 mother_soothe,28-35
      mother_soothe,55-58
      ,60/
    <BLANKLINE>
    """
    names: dict[tuple[str, str], str] = {}
    used: set[str] = set()
    by_actor: dict[str, list[str]] = {}
    for actor, code in sorted(set(zip(events["actor"], events["code"], strict=True))):
        base = f"{_sdis_name(actor)}_{_sdis_name(code)}"
        name, k = base, 2
        while name in used:
            name, k = f"{base}{k}", k + 1
        used.add(name)
        names[(actor, code)] = name
        by_actor.setdefault(_sdis_name(actor), []).append(name)
    out = ["% SDIS timed-event data written by attunement; grammar unverified against GSEQ"]
    for (actor, code), name in sorted(names.items(), key=lambda kv: kv[1]):
        out.append(f"% attunement-code: {name} = {actor} | {code}")
    sets = " ".join(f"(${a} = {' '.join(c)})" for a, c in sorted(by_actor.items()))
    out.append(f"Timed {sets};")
    # the session bounds are the coded interval (the file's, else first onset to last offset),
    # never the media length: read back, they bound the analysis exactly as before
    bounds = coded_intervals(events)
    for session, grp in events.groupby("session", sort=False):
        label = str(session).replace(">", ")").replace("<", "(")
        items = []
        for actor, code, on, off in zip(grp["actor"], grp["code"], grp["onset"], grp["offset"],
                                        strict=True):
            t = f"{_fmt(on)}" if np.isnan(off) else f"{_fmt(on)}-{_fmt(off)}"
            items.append(f"{names[(actor, code)]},{t}")
        start, end = (float(v) for v in bounds.loc[session])
        out.append(f"<{label}>" + (f" ,{_fmt(start)}" if start > 0 else ""))
        for i in range(0, len(items), 6):
            out.append("  " + " ".join(items[i:i + 6]))
        out.append(f"  ,{_fmt(end)}/")
    return "\n".join(out) + "\n"


def _fmt(t: float) -> str:
    return f"{t:.3f}".rstrip("0").rstrip(".") if t == t else "0"
