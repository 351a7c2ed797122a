"""Who did it: the actor of each event, from wherever the coding tool put it.

Tools record the actor in different places: a BORIS *subject* (or, when every event is on "No
focal subject", the behavioural category), an ELAN *tier* or its *participant* attribute, a
Datavyu *column*. A coding scheme's ``actors_from`` (or the ``actors_from=`` argument /
``--actors-from`` flag) chooses:

* ``subject`` / ``tier`` / ``participant`` / ``column``: the actor is the value the importer
  recorded in that column of the event table; the scheme's ``infant`` names (or ``infant=``)
  say which value is the infant;
* ``code``: each code's ``actor`` in the scheme decides: ``infant``, or ``caregiver`` with an
  optional ``name`` (default ``caregiver``); codes with ``actor: any`` keep the imported actor.

Without ``actors_from`` the imported ``actor`` column is used as it is.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from attunement.observation.errors import ObservationError

ACTORS_FROM: tuple[str, ...] = ("subject", "code", "tier", "participant", "column")
CAREGIVER = "caregiver"


class ObservationWarning(UserWarning):
    """Something in the data that makes a measure suspect but not wrong (e.g. a cue never seen).

    Examples
    --------
    >>> issubclass(ObservationWarning, UserWarning)
    True
    """


def assign_actors(
    events: pd.DataFrame,
    actors_from: str | None,
    *,
    code_actors: Mapping[str, tuple[str, str]] | None = None,
    infant_name: str = "infant",
) -> pd.DataFrame:
    """A copy of ``events`` with ``actor`` taken from ``actors_from`` (see the module docstring).

    Parameters
    ----------
    events : pandas.DataFrame
        An event table.
    actors_from : {None, "subject", "code", "tier", "participant", "column"}
        Where the actor is recorded; None leaves the table as it is.
    code_actors : mapping, optional
        For ``actors_from="code"``: code -> (``infant``/``caregiver``/``any``, caregiver name).
    infant_name : str, default ``"infant"``
        The actor given to infant codes.

    Returns
    -------
    pandas.DataFrame
        The events with ``actor`` filled in.

    Raises
    ------
    ValueError
        An unknown ``actors_from``.
    ObservationError
        The events have no such column, or an event has it empty (naming the first).

    Examples
    --------
    >>> from attunement.observation.events import make_event_table
    >>> ev = make_event_table([
    ...     {"session": "s", "actor": "", "code": "cry", "onset": 1.0, "subject": "Baby"},
    ...     {"session": "s", "actor": "", "code": "soothe", "onset": 2.0, "subject": "Mum"}])
    >>> assign_actors(ev, "subject")["actor"].tolist()
    ['Baby', 'Mum']
    >>> assign_actors(ev, "code", code_actors={"cry": ("infant", ""),
    ...                                        "soothe": ("caregiver", "mother")})["actor"].tolist()
    ['infant', 'mother']
    """
    if actors_from is None:
        return events
    if actors_from not in ACTORS_FROM:
        raise ValueError(f"actors_from must be one of {', '.join(ACTORS_FROM)}, "
                         f"not {actors_from!r}")
    ev = events.copy()
    if actors_from == "code":
        mapping = dict(code_actors or {})
        codes = ev["code"].to_numpy(dtype=object)
        actor = ev["actor"].to_numpy(dtype=object).copy()
        for i, c in enumerate(codes):
            kind, name = mapping.get(c, ("any", ""))
            if kind == "infant":
                actor[i] = infant_name
            elif kind == "caregiver":
                actor[i] = name or CAREGIVER
        ev["actor"] = actor
        return ev
    if actors_from not in ev.columns:
        raise ObservationError(
            f"actors_from={actors_from!r} but the events have no {actors_from!r} column (the "
            "importer of this format does not record it)", field=actors_from)
    vals = ev[actors_from].to_numpy(dtype=object)
    empty = np.array([not str(v).strip() for v in vals], dtype=bool)
    if empty.any():
        i = int(np.flatnonzero(empty)[0])
        src = ev["source"].iloc[i] if "source" in ev.columns else f"row {i + 1}"
        raise ObservationError(
            f"actors_from={actors_from!r} but {int(empty.sum())} event(s) have no "
            f"{actors_from} (first: {src}); this format does not record a {actors_from} for "
            "its events", field=actors_from)
    ev["actor"] = [str(v).strip() for v in vals]
    return ev


def warn_unmatched(
    events: pd.DataFrame, cue_codes: Sequence[str], response_codes: Sequence[str], is_infant,
) -> list[str]:
    """Warn (and return the messages) for each cue or response code that matches no event
    on the right actor, so a misnamed infant never shows up as a silent ``n_cues 0``.

    Parameters
    ----------
    events : pandas.DataFrame
        An event table with actors.
    cue_codes, response_codes : sequence of str
        The codes the measures look for.
    is_infant : callable
        ``is_infant(actor) -> bool``.

    Returns
    -------
    list of str
        The messages (each also issued as an :class:`ObservationWarning`).

    Examples
    --------
    >>> import warnings
    >>> from attunement.observation.events import make_event_table
    >>> ev = make_event_table([{"session": "s", "actor": "infant", "code": "cry", "onset": 1.0},
    ...                        {"session": "s", "actor": "mother", "code": "soothe", "onset": 2.0}])
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     warn_unmatched(ev, ["cry", "fuss"], ["soothe"], lambda a: a == "infant")
    ["cue code 'fuss' matches no event"]
    """
    msgs: list[str] = []
    code = events["code"].to_numpy(dtype=object)
    actor = events["actor"].to_numpy(dtype=object)
    actors = pd.unique(actor)
    inf = {a: bool(is_infant(str(a))) for a in actors}
    if len(events) and not any(inf.values()):
        shown = ", ".join(repr(str(a)) for a in actors[:6])
        msgs.append(f"no event is on the infant (actors found: {shown}); name the infant "
                    "(scheme 'infant:' or --infant) or take the actor from elsewhere "
                    "(actors_from / --actors-from subject, code, tier, participant, column)")
    present = pd.Series(actor).groupby(code, sort=False).agg(lambda s: list(pd.unique(s)))
    for c in cue_codes:
        if c not in present.index:
            msgs.append(f"cue code {c!r} matches no event")
        elif not any(inf[a] for a in present[c]):
            msgs.append(f"cue code {c!r} occurs only on {', '.join(map(repr, present[c][:4]))}"
                        ", never on the infant")
    for c in response_codes:
        if c not in present.index:
            msgs.append(f"response code {c!r} matches no event")
        elif all(inf[a] for a in present[c]):
            msgs.append(f"response code {c!r} occurs only on the infant, never on a caregiver")
    for m in msgs:
        warnings.warn(m, ObservationWarning, stacklevel=3)
    return msgs
