"""ELAN ``.eaf`` files (EAF 2.x and 3.0), read with the standard XML parser.

One session per file (the file name without extension). Every annotation on every tier is an
event (``tier`` = the tier id, ``participant`` = its participant attribute, coder = the tier's ``ANNOTATOR``, code = the annotation value,
"" for an empty annotation — template tiers are full of them), with these times:

* time-aligned tiers (no constraint, ``Time_Subdivision``, ``Included_In``): their time slots, in
  ms; a slot without a ``TIME_VALUE`` (unaligned by design on subdivision tiers) is placed
  linearly between the nearest aligned slots of its chain of annotations, as ELAN draws it;
* ``Symbolic_Subdivision`` tiers: the parent annotation's span divided evenly among its children
  in order (ELAN's own display and export do the same);
* ``Symbolic_Association`` tiers give no events: each value becomes a modifier ``tier=value`` of
  the event it hangs from (through chains of associations, e.g. ``mwu@CHI`` → ``lex@CHI`` →
  ``CHI``). Empty association values are left out (they carry nothing).

The actor is the tier's ``PARTICIPANT``, else that of its top-level tier, else the top-level
tier's id. When several top-level tiers share one participant value and their ids do not name it
(ChildProject's ``PARTICIPANT="MULTI"`` on tiers ``FA2``, ``MA1``, ``MC1``) they are different
speakers, and the tier id is the actor; ``speakers="participant"`` or ``"tier"`` forces either
reading. ``tiers`` selects the tiers to read (their associations come along).

ELAN keeps no coded interval in the ``.eaf``; its time selection is saved in the preferences file
beside it (``<name>.pfsx``, keys ``SelectionBeginTime``/``SelectionEndTime`` in ms). When that
selection is not empty it is the session's coded interval (``interval_start``/``interval_end``);
``interval=(start, end)`` in seconds overrides it. ELAN has no point events: every annotation is
a state. Times are exact (integers of ms → seconds), never rounded.
"""

from __future__ import annotations

import bisect
import math
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from attunement.observation.errors import ObservationError
from attunement.observation.events import check_interval, make_event_table
from attunement.observation.importers._text import read_text

_TIME_ALIGNED = {None, "", "Time_Subdivision", "Included_In"}
_CONSTRAINTS = {*_TIME_ALIGNED, "Symbolic_Subdivision", "Symbolic_Association"}
SPEAKERS = ("auto", "participant", "tier")


@dataclass
class _Tier:
    id: str
    constraint: str | None
    parent: str | None
    participant: str
    annotator: str
    aligned: list[tuple[str, str, str, str]] = field(default_factory=list)  # id, ts1, ts2, value
    refs: list[tuple[str, str, str | None, str]] = field(default_factory=list)  # id, ref, prev, v


def read_eaf(
    path: str | Path,
    *,
    session: str | None = None,
    tiers: Sequence[str] | None = None,
    speakers: str = "auto",
    interval: tuple[float, float] | None = None,
) -> pd.DataFrame:
    """Read an ELAN file into the event table (the module docstring gives the rules).

    Parameters
    ----------
    path : str or Path
        The ``.eaf`` file; a ``.pfsx`` beside it may give the coded interval.
    session : str, optional
        The session name (default: the file name without extension).
    tiers : sequence of str, optional
        The tier ids to read (default: every tier).
    speakers : {"auto", "participant", "tier"}
        Whether the actor is the tier's participant or its id; ``"auto"`` decides per file.
    interval : tuple of float, optional
        The coded interval in seconds, instead of ELAN's saved selection.

    Returns
    -------
    pandas.DataFrame
        One event per annotation, with the tier id in ``tier``.

    Raises
    ------
    ObservationError
        Not EAF XML, an unknown tier, or a broken time slot reference.

    Examples
    --------
    Worked example B written as EAF (one tier per actor and code), then only the mother's tier
    over the first 30 s:

    >>> from attunement.observation.datasets import worked_example_b
    >>> write_eaf(worked_example_b(), folder / "s1.eaf")
    >>> ev = read_eaf(folder / "s1.eaf", tiers=["mother-soothe"], interval=(0, 30))
    >>> ev["onset"].tolist(), float(ev["interval_end"].iloc[0])
    ([5.0, 18.0, 28.0, 55.0], 30.0)
    """
    src = str(path)
    if speakers not in SPEAKERS:
        raise ObservationError(f"speakers={speakers!r}; one of {', '.join(SPEAKERS)}", source=src)
    text = read_text(path)
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        line = exc.position[0] if hasattr(exc, "position") else None
        raise ObservationError(f"not well-formed XML: {exc}", source=src, line=line) from None
    if root.tag != "ANNOTATION_DOCUMENT":
        raise ObservationError(f"not an ELAN file (root element {root.tag!r})", source=src)
    slots, order = _time_slots(root, src)
    tier_map = _tiers(root, src)
    selected = _select(tier_map, tiers, src)
    if interval is None:
        interval = _pfsx_selection(Path(src).with_suffix(".pfsx"))
    else:
        try:
            interval = check_interval(interval)
        except ValueError as exc:
            raise ObservationError(str(exc), source=src) from None
    times = _Times(tier_map, slots, order, src)
    actors = _actors(tier_map, speakers, src)
    sess = session or Path(src).stem
    owner: dict[str, str] = {}  # annotation id -> its tier id
    parent_of: dict[str, str] = {}  # reference annotation id -> the annotation it refers to
    for t in tier_map.values():
        for a in t.aligned:
            owner[a[0]] = t.id
        for r in t.refs:
            owner[r[0]] = t.id
            parent_of[r[0]] = r[1]
    mods: dict[str, list[str]] = {}
    for t in tier_map.values():
        if t.constraint != "Symbolic_Association":
            continue
        for aid, ref, _, value in t.refs:
            if not value.strip():
                continue
            host = ref
            seen = {aid}
            while owner.get(host) and tier_map[owner[host]].constraint == "Symbolic_Association":
                if host in seen:
                    raise ObservationError(f"annotation {host} on tier {owner[host]!r} refers to "
                                           "itself through its parents", source=src)
                seen.add(host)
                host = parent_of[host]
            if host not in owner:
                raise ObservationError(f"annotation {aid} on tier {t.id!r} refers to annotation "
                                       f"{ref!r}, which does not exist", source=src)
            mods.setdefault(host, []).append(f"{t.id}={value.strip()}")
    recs: list[dict] = []
    for t in tier_map.values():
        if t.id not in selected or t.constraint == "Symbolic_Association":
            continue
        participant = t.participant or _root(tier_map, t.id, src).participant
        ids = [a[0] for a in t.aligned] + [r[0] for r in t.refs]
        values = [a[3] for a in t.aligned] + [r[3] for r in t.refs]
        for aid, value in zip(ids, values, strict=True):
            on, off = times.of(aid)
            recs.append({
                "session": sess, "coder": t.annotator, "actor": actors[t.id],
                "code": value.strip(), "onset": on / 1000.0, "offset": off / 1000.0,
                "modifiers": "|".join(mods.get(aid, [])), "kind": "state", "tier": t.id,
                "participant": participant,
                "source": f"{src}:{t.id}/{aid}",
            })
    recs.sort(key=lambda r: (r["onset"], r["actor"], r["tier"]))
    lo, hi = interval if interval is not None else (np.nan, np.nan)
    for r in recs:
        r["interval_start"], r["interval_end"] = lo, hi
    return make_event_table(recs, source=src)


def _time_slots(root: ET.Element, src: str) -> tuple[dict[str, int | None], dict[str, int]]:
    """Slot id → ms (None when unaligned) and slot id → position in ``TIME_ORDER``."""
    slots: dict[str, int | None] = {}
    order: dict[str, int] = {}
    if root.find("HEADER") is not None:
        units = root.find("HEADER").get("TIME_UNITS", "milliseconds")
        if units != "milliseconds":
            raise ObservationError(f"TIME_UNITS {units!r} is not supported (ELAN writes "
                                   "milliseconds)", source=src)
    to = root.find("TIME_ORDER")
    for i, ts in enumerate(to.iter("TIME_SLOT") if to is not None else ()):
        sid = ts.get("TIME_SLOT_ID")
        if not sid:
            raise ObservationError(f"TIME_SLOT number {i + 1} has no TIME_SLOT_ID", source=src)
        val = ts.get("TIME_VALUE")
        if val is None:
            slots[sid] = None
        else:
            try:
                ms = int(val)
                if ms < 0:
                    raise ValueError
            except ValueError:
                raise ObservationError(f"time slot {sid}: TIME_VALUE {val!r} is not a "
                                       "non-negative integer (ms)", source=src) from None
            slots[sid] = ms
        order[sid] = i
    return slots, order


def _tiers(root: ET.Element, src: str) -> dict[str, _Tier]:
    types: dict[str, str | None] = {}
    for lt in root.iter("LINGUISTIC_TYPE"):
        c = lt.get("CONSTRAINTS")
        if c not in _CONSTRAINTS:
            raise ObservationError(f"linguistic type {lt.get('LINGUISTIC_TYPE_ID')!r} has "
                                   f"unknown CONSTRAINTS {c!r}", source=src)
        types[lt.get("LINGUISTIC_TYPE_ID")] = c
    out: dict[str, _Tier] = {}
    for el in root.iter("TIER"):
        tid = el.get("TIER_ID")
        if not tid:
            raise ObservationError("TIER without TIER_ID", source=src)
        if tid in out:
            raise ObservationError(f"two tiers are called {tid!r}", source=src)
        lt = el.get("LINGUISTIC_TYPE_REF")
        if lt not in types:
            raise ObservationError(f"tier {tid!r} refers to an undeclared linguistic type "
                                   f"{lt!r}", source=src)
        t = _Tier(tid, types[lt], el.get("PARENT_REF"), (el.get("PARTICIPANT") or "").strip(),
                  (el.get("ANNOTATOR") or "").strip())
        for ann in el.iter("ANNOTATION"):
            for al in ann.iter("ALIGNABLE_ANNOTATION"):
                aid = al.get("ANNOTATION_ID")
                if aid is None:
                    raise ObservationError(f"annotation without ANNOTATION_ID on tier {tid!r}",
                                           source=src)
                t.aligned.append((aid, al.get("TIME_SLOT_REF1"), al.get("TIME_SLOT_REF2"),
                                  _value(al)))
            for ra in ann.iter("REF_ANNOTATION"):
                aid, ref = ra.get("ANNOTATION_ID"), ra.get("ANNOTATION_REF")
                if aid is None or ref is None:
                    raise ObservationError(f"reference annotation {aid} on tier {tid!r} lacks "
                                           "ANNOTATION_ID or ANNOTATION_REF", source=src)
                t.refs.append((aid, ref, ra.get("PREVIOUS_ANNOTATION"), _value(ra)))
        if t.refs and t.constraint not in {"Symbolic_Subdivision", "Symbolic_Association"}:
            raise ObservationError(f"tier {tid!r} holds reference annotations but its type "
                                   f"{lt!r} is not symbolic", source=src)
        out[tid] = t
    for t in out.values():
        if t.parent is not None and t.parent not in out:
            raise ObservationError(f"tier {t.id!r}: PARENT_REF {t.parent!r} is not a tier",
                                   source=src)
        if t.parent is None and t.constraint not in (None, ""):
            raise ObservationError(f"tier {t.id!r} is a {t.constraint} tier without a parent "
                                   "tier (PARENT_REF)", source=src)
    return out


def _value(el: ET.Element) -> str:
    v = el.find("ANNOTATION_VALUE")
    return (v.text or "") if v is not None else ""


def _select(tier_map: dict[str, _Tier], tiers: Sequence[str] | None, src: str) -> set[str]:
    if tiers is None:
        return set(tier_map)
    if isinstance(tiers, str):
        tiers = [tiers]
    wanted = list(tiers)
    unknown = [t for t in wanted if t not in tier_map]
    if unknown:
        raise ObservationError(f"no tier {', '.join(map(repr, unknown))}; the file has "
                               f"{', '.join(tier_map)}", source=src)
    for t in wanted:
        if tier_map[t].constraint == "Symbolic_Association":
            raise ObservationError(
                f"tier {t!r} is a Symbolic_Association tier: its values are modifiers of tier "
                f"{tier_map[t].parent!r}'s events; select that tier instead", source=src)
    return set(wanted)


def _root(tier_map: dict[str, _Tier], tid: str, src: str = "") -> _Tier:
    t = tier_map[tid]
    seen = {tid}
    while t.parent is not None:
        if t.parent in seen:
            raise ObservationError(f"tier {tid!r} is its own ancestor (PARENT_REF cycle)",
                                   source=src or None)
        seen.add(t.parent)
        t = tier_map[t.parent]
    return t


def _actors(tier_map: dict[str, _Tier], speakers: str, src: str) -> dict[str, str]:
    roots = [t for t in tier_map.values() if t.parent is None]
    by_part: dict[str, list[_Tier]] = {}
    for t in roots:
        if t.participant:
            by_part.setdefault(t.participant, []).append(t)
    by_tier: set[str] = set()
    if speakers == "tier":
        by_tier = {t.id for t in roots}
    elif speakers == "auto":
        for part, group in by_part.items():
            # one participant's own lanes ("Mother-gaze", "Mother-touch") are named after it
            if len(group) > 1 and not all(part.lower() in t.id.lower() for t in group):
                by_tier |= {t.id for t in group}
    out: dict[str, str] = {}
    for t in tier_map.values():
        root = _root(tier_map, t.id, src)
        root_actor = root.id if (root.id in by_tier or not root.participant) else root.participant
        if t.parent is None:
            out[t.id] = root_actor
        elif t.participant and root.id not in by_tier:
            out[t.id] = t.participant
        else:
            out[t.id] = root_actor
    return out


class _Times:
    """Begin and end (ms) of any annotation, resolving unaligned slots and symbolic tiers."""

    def __init__(self, tier_map: dict[str, _Tier], slots: dict[str, int | None],
                 order: dict[str, int], src: str) -> None:
        self.src = src
        self.slot_ms: dict[str, float] = {}
        self.span: dict[str, tuple[float, float]] = {}
        self.refs: dict[str, tuple[str, str]] = {}  # ref annotation id -> (parent id, tier id)
        self.children: dict[tuple[str, str], list[str]] = {}  # (parent id, tier) -> ordered ids
        for t in tier_map.values():
            for aid, ts1, ts2, _ in t.aligned:
                for ref in (ts1, ts2):
                    if ref not in slots:
                        raise ObservationError(
                            f"annotation {aid} on tier {t.id!r}: {ref!r} is not a declared time "
                            "slot (TIME_ORDER)", source=src)
            self._place_slots(t, slots, order)
            for aid, ts1, ts2, _ in t.aligned:
                self.span[aid] = (self.slot_ms[ts1], self.slot_ms[ts2])
            groups: dict[str, list[tuple[str, str | None]]] = {}
            for aid, ref, prev, _ in t.refs:
                self.refs[aid] = (ref, t.id)
                groups.setdefault(ref, []).append((aid, prev))
            if t.constraint == "Symbolic_Subdivision":
                for parent, kids in groups.items():
                    self.children[(parent, t.id)] = _chain(kids, t.id, src)
        self._resolving: set[str] = set()

    def _place_slots(self, t: _Tier, slots: dict[str, int | None], order: dict[str, int]) -> None:
        unaligned = [a for a in t.aligned if slots[a[1]] is None or slots[a[2]] is None]
        for _, ts1, ts2, _ in t.aligned:
            for ref in (ts1, ts2):
                if slots[ref] is not None:
                    self.slot_ms[ref] = float(slots[ref])
        if not unaligned:
            return
        # chains of annotations that share slots (a subdivision of one parent annotation)
        nxt = {a[1]: a[2] for a in t.aligned}
        ends = set(nxt.values())
        for start in sorted((s for s in nxt if s not in ends), key=lambda s: order[s]):
            chain = [start]
            while chain[-1] in nxt and len(chain) <= len(nxt):
                chain.append(nxt[chain[-1]])
            known = [i for i, s in enumerate(chain) if slots[s] is not None]
            for i, s in enumerate(chain):
                if slots[s] is not None:
                    continue
                j = bisect.bisect_left(known, i)
                if j == 0 or j == len(known):
                    aid = next(a[0] for a in t.aligned if s in (a[1], a[2]))
                    raise ObservationError(
                        f"annotation {aid} on tier {t.id!r}: time slot {s!r} has no time and no "
                        f"aligned slot {'before' if j == 0 else 'after'} it on the tier to "
                        "place it by", source=self.src)
                a, b = known[j - 1], known[j]
                ta, tb = float(slots[chain[a]]), float(slots[chain[b]])
                self.slot_ms[s] = ta + (tb - ta) * (i - a) / (b - a)
        for aid, ts1, ts2, _ in t.aligned:
            if ts1 not in self.slot_ms or ts2 not in self.slot_ms:
                raise ObservationError(f"annotation {aid} on tier {t.id!r} has an unaligned "
                                       "time slot outside any chain of annotations",
                                       source=self.src)

    def of(self, aid: str) -> tuple[float, float]:
        if aid in self.span:
            return self.span[aid]
        if aid not in self.refs:
            raise ObservationError(f"annotation {aid!r} is referred to but does not exist",
                                   source=self.src)
        if aid in self._resolving:
            raise ObservationError(f"annotation {aid} refers to itself through its parents",
                                   source=self.src)
        self._resolving.add(aid)
        parent, tier = self.refs[aid]
        on, off = self.of(parent)
        kids = self.children.get((parent, tier))
        if kids:
            k, n = kids.index(aid), len(kids)
            on, off = on + (off - on) * k / n, on + (off - on) * (k + 1) / n
        self._resolving.discard(aid)
        self.span[aid] = (on, off)
        return on, off


def _chain(kids: list[tuple[str, str | None]], tier: str, src: str) -> list[str]:
    """Order symbolic subdivisions by their PREVIOUS_ANNOTATION links."""
    after = {prev: aid for aid, prev in kids}
    ids = {aid for aid, _ in kids}
    first = [aid for aid, prev in kids if prev is None or prev not in ids]
    if len(first) != 1 or len(after) != len(kids):
        raise ObservationError(f"tier {tier!r}: the subdivisions of annotation "
                               f"{kids[0][0]}'s parent do not form one PREVIOUS_ANNOTATION chain",
                               source=src)
    out = [first[0]]
    while out[-1] in after and len(out) < len(kids):
        out.append(after[out[-1]])
    if len(out) != len(kids):
        raise ObservationError(f"tier {tier!r}: the subdivisions of annotation "
                               f"{kids[0][0]}'s parent do not form one PREVIOUS_ANNOTATION chain",
                               source=src)
    return out


def _pfsx_selection(path: Path) -> tuple[float, float] | None:
    """ELAN's saved time selection (seconds) from the preferences file, if any and not empty."""
    if not path.is_file():
        return None
    try:
        root = ET.fromstring(read_text(path))
    except ET.ParseError as exc:
        raise ObservationError(f"ELAN preferences file is not well-formed XML: {exc}",
                               source=str(path)) from None
    found: dict[str, float] = {}
    for pref in root.iter("pref"):
        key = pref.get("key")
        if key in ("SelectionBeginTime", "SelectionEndTime"):
            child = next(iter(pref), None)
            text = (child.text if child is not None else pref.text) or ""
            try:
                found[key] = int(text.strip()) / 1000.0
            except ValueError:
                raise ObservationError(f"{key} {text!r} is not a whole number of ms",
                                       source=str(path)) from None
    lo, hi = found.get("SelectionBeginTime"), found.get("SelectionEndTime")
    if lo is None or hi is None or not (math.isfinite(lo) and hi > lo >= 0):
        return None
    return lo, hi


def write_eaf(events: pd.DataFrame, path: str | Path) -> None:
    """Write one session's events as an EAF 3.0 file, one tier per actor × code (ELAN does not
    allow overlapping annotations on a tier); point events get 1 ms; coder → ANNOTATOR.
    Modifiers and categories are not written.

    Parameters
    ----------
    events : pandas.DataFrame
        The event table of exactly one session.
    path : str or Path
        The ``.eaf`` file to write.

    Raises
    ------
    ObservationError
        Several sessions, or overlapping events of one actor and code.

    Examples
    --------
    Two events of one code may not overlap on an ELAN tier:

    >>> from attunement.observation.events import make_event_table
    >>> overlapping = make_event_table([
    ...     {"session": "s1", "actor": "infant", "code": "cry", "onset": 1.0, "offset": 6.0},
    ...     {"session": "s1", "actor": "infant", "code": "cry", "onset": 4.0, "offset": 9.0}])
    >>> write_eaf(overlapping, folder / "s1.eaf")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    attunement.observation.errors.ObservationError: ...s1.eaf: infant: 'cry' events overlap at 4 s; an ELAN tier cannot hold overlapping annotations
    """
    sessions = pd.unique(events["session"])
    if len(sessions) > 1:
        raise ObservationError(f"an ELAN file holds one session; got {len(sessions)}",
                               source=str(path))
    from pympi.Elan import Eaf

    eaf = Eaf(author="attunement")
    eaf.remove_tier("default")
    eaf.add_linguistic_type("coded-behaviour")
    for (actor, code), grp in events.groupby(["actor", "code"], sort=True):
        tier = f"{actor}-{code}"
        coders = sorted(set(grp["coder"]) - {""})
        eaf.add_tier(tier, ling="coded-behaviour", part=str(actor),
                     ann=", ".join(coders) or None)
        last = -1
        for on, off in sorted(zip(grp["onset"], grp["offset"], strict=True)):
            start = round(on * 1000)
            stop = start + 1 if np.isnan(off) else round(off * 1000)
            stop = max(stop, start + 1)
            if start < last:
                raise ObservationError(
                    f"{actor}: {code!r} events overlap at {on:g} s; an ELAN tier cannot hold "
                    "overlapping annotations", source=str(path))
            eaf.add_annotation(tier, start, stop, str(code))
            last = stop
    eaf.to_file(str(path))
