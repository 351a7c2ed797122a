"""Validation of event tables against a coding scheme, strict or lenient.

Strict mode raises one :class:`ObservationError` listing every problem with its ``file:line``.
Lenient mode repairs what it can and returns a report with one row per repair, so nothing is
dropped or changed silently.

The actor is first taken from where the scheme's ``actors_from`` says (subject, code, tier,
participant, column). Checks: an onset before 0; an offset before its onset; a state without a stop; a point code with a
duration; a code not in the scheme; a code on the wrong actor (a cue coded on a caregiver); an
actor outside the scheme's caregivers; an event past the session's end; overlapping states in a
mutually exclusive group (same session, coder and actor).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from attunement.observation.actors import assign_actors
from attunement.observation.errors import ObservationError
from attunement.observation.events import session_durations
from attunement.observation.scheme import CodingScheme

REPAIR_COLUMNS = ("source", "session", "code", "onset", "problem", "repair")


@dataclass
class ValidationResult:
    """The (repaired) events and one row per problem found (and, in lenient mode, repaired).

    Parameters
    ----------
    events : pandas.DataFrame
        The events, repaired in lenient mode.
    repairs : pandas.DataFrame
        ``source, session, code, onset, problem, repair``; empty when all was well.

    Examples
    --------
    >>> from attunement.observation.events import make_event_table
    >>> ev = make_event_table([{"session": "s", "actor": "infant", "code": "cry", "onset": 1.0}])
    >>> validate_events(ev).ok
    True
    """

    events: pd.DataFrame
    repairs: pd.DataFrame

    @property
    def ok(self) -> bool:
        return self.repairs.empty


def validate_events(
    events: pd.DataFrame, scheme: CodingScheme | None = None, *, mode: str = "strict"
) -> ValidationResult:
    """Check an event table; ``mode="strict"`` raises, ``mode="lenient"`` repairs and reports.

    Parameters
    ----------
    events : pandas.DataFrame
        An event table.
    scheme : CodingScheme, optional
        Checks codes, actors and kinds against the scheme (and assigns actors if it says how).
    mode : {"strict", "lenient"}
        Raise on the first problem, or repair what can be repaired and list every repair.

    Returns
    -------
    ValidationResult
        The events and the repairs.

    Raises
    ------
    ObservationError
        In strict mode, any problem (the message names the source row and counts them all).
    ValueError
        An unknown ``mode``.

    Examples
    --------
    >>> from attunement.observation.events import make_event_table
    >>> ev = make_event_table([
    ...     {"session": "s", "actor": "infant", "code": "cry", "onset": 5.0, "offset": 3.0},
    ...     {"session": "s", "actor": "mother", "code": "soothe", "onset": 4.0}])
    >>> r = validate_events(ev, mode="lenient")
    >>> r.ok, r.repairs["problem"].tolist(), r.repairs["repair"].tolist()
    (False, ['offset 3 s is before its onset 5 s'], ['event removed'])
    >>> validate_events(ev)
    Traceback (most recent call last):
    ...
    attunement.observation.errors.ObservationError: <data>:1: 1 problem(s) in the coded events; first: offset 3 s is before its onset 5 s
    """
    if mode not in {"strict", "lenient"}:
        raise ValueError("mode must be 'strict' or 'lenient'")
    if scheme is not None and scheme.actors_from:
        events = assign_actors(events, scheme.actors_from, code_actors=scheme.code_actors(),
                               infant_name=scheme.infant[0])
    ev = events.copy().reset_index(drop=True)
    log: list[tuple[int, str, str]] = []  # (row, problem, repair)
    drop = np.zeros(len(ev), dtype=bool)
    onset = ev["onset"].to_numpy(dtype=float).copy()
    offset = ev["offset"].to_numpy(dtype=float).copy()
    codes = ev["code"].to_numpy(dtype=object)
    actors = ev["actor"].to_numpy(dtype=object)
    kinds = (ev["kind"].to_numpy(dtype=object) if "kind" in ev.columns
             else np.full(len(ev), "", dtype=object))

    for i in np.flatnonzero(onset < 0):
        log.append((i, f"onset {onset[i]:g} s is before the session start", "event removed"))
        drop[i] = True
    for i in np.flatnonzero(offset < onset):
        log.append((i, f"offset {offset[i]:g} s is before its onset {onset[i]:g} s",
                    "event removed"))
        drop[i] = True

    durations = session_durations(ev)
    end = ev["session"].map(durations).to_numpy(dtype=float)
    has_dur = ~np.isnan(ev["duration"].to_numpy(dtype=float))

    if scheme is not None:
        for i in range(len(ev)):
            if drop[i]:
                continue
            d = scheme.codes.get(codes[i])
            if d is None:
                log.append((i, f"code {codes[i]!r} is not in scheme {scheme.name!r}",
                            "event removed"))
                drop[i] = True
                continue
            infant = scheme.is_infant(actors[i])
            if d.actor == "infant" and not infant:
                log.append((i, f"{codes[i]!r} is an infant code but the actor is {actors[i]!r}",
                            "event removed"))
                drop[i] = True
                continue
            if d.actor == "caregiver" and infant:
                log.append((i, f"{codes[i]!r} is a caregiver code but the actor is the infant",
                            "event removed"))
                drop[i] = True
                continue
            if (scheme.caregivers is not None and not infant
                    and actors[i] not in scheme.caregivers):
                log.append((i, f"actor {actors[i]!r} is not one of the scheme's caregivers "
                            f"({', '.join(scheme.caregivers)})", "event removed"))
                drop[i] = True
                continue
            if d.kind == "state" and np.isnan(offset[i]):
                log.append((i, f"state {codes[i]!r} has no stop",
                            f"closed at the session end ({end[i]:g} s)"))
                offset[i] = end[i]
            elif d.kind == "point" and not np.isnan(offset[i]) and offset[i] != onset[i]:
                log.append((i, f"point event {codes[i]!r} has a duration "
                            f"({onset[i]:g}-{offset[i]:g} s)", "offset removed"))
                offset[i] = np.nan
            elif d.kind == "point":
                offset[i] = np.nan

    if scheme is None:
        for i in np.flatnonzero((kinds == "state") & np.isnan(offset) & ~drop):
            log.append((i, f"state {codes[i]!r} has no stop",
                        f"closed at the session end ({end[i]:g} s)"))
            offset[i] = end[i]

    past = has_dur & ~drop & (onset > end)
    for i in np.flatnonzero(past):
        log.append((i, f"onset {onset[i]:g} s is after the session end {end[i]:g} s",
                    "event removed"))
        drop[i] = True
    over = has_dur & ~drop & (offset > end)
    for i in np.flatnonzero(over):
        log.append((i, f"offset {offset[i]:g} s is after the session end {end[i]:g} s",
                    f"offset clipped to {end[i]:g} s"))
        offset[i] = end[i]

    if scheme is not None and scheme.exclusive:
        group_of = {c: g for g, members in scheme.exclusive.items() for c in members}
        grp = np.array([group_of.get(c, "") for c in codes], dtype=object)
        cand = np.flatnonzero((grp != "") & ~drop & ~np.isnan(offset))
        if len(cand):
            sub = pd.DataFrame({
                "i": cand, "key": [f"{ev.at[i, 'session']}\x00{ev.at[i, 'coder']}\x00"
                                   f"{actors[i]}\x00{grp[i]}" for i in cand],
                "onset": onset[cand]}).sort_values(["key", "onset"], kind="stable")
            prev_key, prev_i = None, -1
            for key, i in zip(sub["key"], sub["i"], strict=True):
                if key == prev_key and onset[i] < offset[prev_i]:
                    log.append((prev_i, f"{codes[prev_i]!r} ({onset[prev_i]:g}-"
                                f"{offset[prev_i]:g} s) overlaps {codes[i]!r} starting at "
                                f"{onset[i]:g} s in exclusive group {grp[i]!r}",
                                f"{codes[prev_i]!r} stopped at {onset[i]:g} s"))
                    offset[prev_i] = onset[i]
                    if offset[prev_i] <= onset[prev_i]:
                        drop[prev_i] = True
                if key != prev_key or offset[i] > offset[prev_i] or drop[prev_i]:
                    prev_i = i
                prev_key = key

    src = ev["source"].to_numpy(dtype=object)
    report = pd.DataFrame(
        [(src[i], ev.at[i, "session"], codes[i], float(ev.at[i, "onset"]), p, r)
         for i, p, r in sorted(log, key=lambda t: t[0])],
        columns=list(REPAIR_COLUMNS),
    )
    if mode == "strict" and log:
        problems = [f"{src[i]}: {p}" for i, p, _ in sorted(log, key=lambda t: t[0])]
        first = sorted(log, key=lambda t: t[0])[0]
        raise ObservationError(
            f"{len(problems)} problem(s) in the coded events; first: {first[1]}",
            source=str(src[first[0]]), problems=problems,
        )
    ev["offset"] = offset
    ev = ev.loc[~drop].reset_index(drop=True)
    return ValidationResult(events=ev, repairs=report)
