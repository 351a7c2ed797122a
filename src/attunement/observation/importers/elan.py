"""ELAN ``.eaf`` files via pympi-ling.

One session per file (the file name without extension). Each time-aligned tier gives events:
actor = the tier's ``PARTICIPANT`` (or the tier id when empty), coder = ``ANNOTATOR``, code = the
annotation value, times in ms → s. Values of symbolic child tiers (``REF_ANNOTATION``) become
modifiers ``tier=value`` of their parent annotation. ELAN has no point events, so every
annotation is a state. Writing creates one tier per actor.
"""

from __future__ import annotations

import contextlib
import io
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd

from attunement.observation.errors import ObservationError
from attunement.observation.events import make_event_table
from attunement.observation.importers._text import read_text


def read_eaf(path: str | Path, *, session: str | None = None) -> pd.DataFrame:
    src = str(path)
    text = read_text(path)
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        line = exc.position[0] if hasattr(exc, "position") else None
        raise ObservationError(f"not well-formed XML: {exc}", source=src, line=line) from None
    if root.tag != "ANNOTATION_DOCUMENT":
        raise ObservationError(f"not an ELAN file (root element {root.tag!r})", source=src)
    _check_structure(root, src)
    from pympi.Elan import Eaf

    try:
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            eaf = Eaf(src)
    except Exception as exc:  # pympi raises bare exceptions of many kinds on bad input
        raise ObservationError(f"ELAN file could not be parsed: {exc}", source=src) from None
    try:
        return _events_from_eaf(eaf, src, session or Path(src).stem)
    except ObservationError:
        raise
    except (KeyError, ValueError, TypeError, IndexError, AttributeError) as exc:
        # pympi indexes its dictionaries without checks; report what it tripped over
        raise ObservationError(f"ELAN file is internally inconsistent ({type(exc).__name__}: "
                               f"{exc})", source=src) from None


def _events_from_eaf(eaf, src: str, sess: str) -> pd.DataFrame:
    recs: list[dict] = []
    mods: dict[tuple[str, int, int], list[str]] = {}
    for tier in eaf.get_tier_names():
        params = eaf.get_parameters_for_tier(tier)
        if "PARENT_REF" in params and eaf.tiers[tier][1]:
            for row in eaf.get_ref_annotation_data_for_tier(tier):
                begin, end, value = row[0], row[1], row[2]
                mods.setdefault((params["PARENT_REF"], begin, end), []).append(f"{tier}={value}")
    for tier in eaf.get_tier_names():
        params = eaf.get_parameters_for_tier(tier)
        aligned = eaf.tiers[tier][0]
        if not aligned:
            continue
        actor = (params.get("PARTICIPANT") or "").strip() or tier
        coder = (params.get("ANNOTATOR") or "").strip()
        for aid, (ts1, ts2, value, _) in aligned.items():
            t1, t2 = eaf.timeslots.get(ts1), eaf.timeslots.get(ts2)
            if t1 is None or t2 is None:
                raise ObservationError(
                    f"annotation {aid} on tier {tier!r} uses an unaligned time slot "
                    "(no TIME_VALUE); align it in ELAN first", source=src)
            if not str(value).strip():
                raise ObservationError(
                    f"empty annotation {aid} on tier {tier!r} at {t1 / 1000:g} s", source=src)
            recs.append({
                "session": sess, "coder": coder, "actor": actor, "code": str(value).strip(),
                "onset": t1 / 1000.0, "offset": t2 / 1000.0,
                "modifiers": "|".join(mods.get((tier, t1, t2), [])),
                "source": f"{src}:{tier}/{aid}",
            })
    recs.sort(key=lambda r: (r["onset"], r["actor"]))
    return make_event_table(recs, source=src)


def _check_structure(root: ET.Element, src: str) -> None:
    """Catch what makes pympi crash with unhelpful errors, naming the element."""
    slots = set()
    order = root.find("TIME_ORDER")
    for ts in order.iter("TIME_SLOT") if order is not None else ():
        sid = ts.get("TIME_SLOT_ID")
        if not sid:
            raise ObservationError("TIME_SLOT without TIME_SLOT_ID", source=src)
        val = ts.get("TIME_VALUE")
        if val is not None:
            try:
                if int(val) < 0:
                    raise ValueError
            except ValueError:
                raise ObservationError(f"time slot {sid}: TIME_VALUE {val!r} is not a "
                                       "non-negative integer (ms)", source=src) from None
        slots.add(sid)
    types = {lt.get("LINGUISTIC_TYPE_ID") for lt in root.iter("LINGUISTIC_TYPE")}
    for tier in root.iter("TIER"):
        tid = tier.get("TIER_ID")
        if not tid:
            raise ObservationError("TIER without TIER_ID", source=src)
        if tier.get("LINGUISTIC_TYPE_REF") not in types:
            raise ObservationError(f"tier {tid!r} refers to an undeclared linguistic type",
                                   source=src)
        for al in tier.iter("ALIGNABLE_ANNOTATION"):
            for ref in ("TIME_SLOT_REF1", "TIME_SLOT_REF2"):
                if al.get(ref) not in slots:
                    raise ObservationError(
                        f"annotation {al.get('ANNOTATION_ID')} on tier {tid!r}: {ref} "
                        f"{al.get(ref)!r} is not a declared time slot", source=src)
            if al.get("ANNOTATION_ID") is None:
                raise ObservationError(f"annotation without ANNOTATION_ID on tier {tid!r}",
                                       source=src)
            if al.find("ANNOTATION_VALUE") is None:
                raise ObservationError(
                    f"annotation {al.get('ANNOTATION_ID')} on tier {tid!r} has no value",
                    source=src)
        for ra in tier.iter("REF_ANNOTATION"):
            if ra.find("ANNOTATION_VALUE") is None or ra.get("ANNOTATION_REF") is None:
                raise ObservationError(
                    f"reference annotation {ra.get('ANNOTATION_ID')} on tier {tid!r} is "
                    "incomplete", source=src)


def write_eaf(events: pd.DataFrame, path: str | Path) -> None:
    """Write one session's events as an EAF 3.0 file, one tier per actor × code (ELAN does not
    allow overlapping annotations on a tier); point events get 1 ms; coder → ANNOTATOR.
    Modifiers and categories are not written."""
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
