"""Coded interaction files: read and measured here, once, when a practitioner uploads one.

The store (:meth:`attunement.store.observations.Observations.add_observation_session`) checks
that the actor may see the family, then calls :func:`measure_upload` (the observation
library's importers and :func:`attunement.observation.session_metrics`) and keeps the file and
its measures in one transaction; a file that is too large or cannot be measured is refused
and nothing is stored. Views show the stored measures and never parse a file again.

The observation library (pandas, SciPy) is imported only when an upload is measured: a web
worker or an export that never measures one does not load it.
"""

from __future__ import annotations

import math
import tempfile
import warnings
from pathlib import Path
from typing import Any

from attunement.store import Actor, Store, StoreValidationError
from attunement.store.observation_measures import (
    MEASURE_COLUMNS,
    PERMUTATIONS,
    SEED,
    Measured,
    ObservationLimits,
    UploadTooLarge,
)

__all__ = ["add_observation_session", "measure_upload", "settings_from"]


def _size(n: int) -> str:
    return f"{n / (1024 * 1024):g} MB ({n:,} bytes)"


def _codes(value: Any, field: str) -> list[str]:
    if value is None:
        raise StoreValidationError(field, "is required to measure the file: the codes, "
                                          "separated by commas")
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list):
        raise StoreValidationError(field, "list the codes, separated by commas")
    out = [str(x).strip() for x in value if str(x).strip()]
    if not out:
        raise StoreValidationError(field, "name at least one code")
    return out


def settings_from(meta: dict[str, Any]) -> dict[str, Any]:
    """The measurement settings saved with an upload, checked field by field.

    Parameters
    ----------
    meta
        The upload's metadata: ``cues`` and ``responses`` (codes, a list or text separated by
        commas), optional ``window`` (seconds after a cue, default 0 to 5), ``unit`` (the
        file's time unit in seconds), ``interval`` (the coded part), ``actors_from`` and
        ``infant`` (who is the infant in a file coding several people).

    Returns
    -------
    dict
        The settings the measures are computed with (``window`` as a tuple).

    Raises
    ------
    StoreValidationError
        Naming the field (``metadata.cues``, ``metadata.window`` …) and what to write.

    Examples
    --------
    >>> settings_from({"cues": "cry, fuss", "responses": "soothe", "window": [0, 3]})
    {'cues': ['cry', 'fuss'], 'responses': ['soothe'], 'window': (0.0, 3.0), 'unit': 1.0}
    >>> settings_from({"cues": "cry", "responses": "soothe", "window": [5, 2]})
    Traceback (most recent call last):
    ...
    attunement.store.errors.StoreValidationError: metadata.window: needs 0 ≤ start < end ≤ 600 seconds
    """
    if not isinstance(meta, dict):
        raise StoreValidationError("metadata", "must be an object")
    cues = _codes(meta.get("cues"), "metadata.cues")
    responses = _codes(meta.get("responses"), "metadata.responses")
    window = meta.get("window", [0, 5])
    try:
        lo, hi = (float(x) for x in window)
    except (TypeError, ValueError):
        raise StoreValidationError("metadata.window", "give two numbers of seconds, e.g. 0, 5"
                                   ) from None
    if not (0 <= lo < hi <= 600):
        raise StoreValidationError("metadata.window", "needs 0 ≤ start < end ≤ 600 seconds")
    try:
        unit = float(meta.get("unit", 1.0))
    except (TypeError, ValueError):
        raise StoreValidationError("metadata.unit", "must be a number of seconds") from None
    if not 0 < unit <= 60:
        raise StoreValidationError("metadata.unit", "must be between 0 and 60 seconds")
    out: dict[str, Any] = {"cues": cues, "responses": responses, "window": (lo, hi),
                           "unit": unit}
    # the coded interval: given here, else the file's, else first onset to last offset
    interval = meta.get("interval")
    if interval not in (None, "", []):
        try:
            start, end = (float(x) for x in interval)
        except (TypeError, ValueError):
            raise StoreValidationError(
                "metadata.interval", "give the start and end of the coded part in seconds, "
                "e.g. 689, 989") from None
        if not (math.isfinite(start) and math.isfinite(end) and 0 <= start < end):
            raise StoreValidationError("metadata.interval", "needs 0 ≤ start < end seconds")
        out["interval"] = [start, end]
    actors_from = meta.get("actors_from")
    if actors_from not in (None, ""):
        # imported here: the observation package loads pandas and scipy, which a process
        # that never measures an upload (an export, a worker) need not hold in memory
        from attunement.observation.actors import ACTORS_FROM

        if actors_from not in ACTORS_FROM:
            raise StoreValidationError(
                "metadata.actors_from", f"must be one of {', '.join(ACTORS_FROM)}")
        out["actors_from"] = actors_from
    infant = meta.get("infant")
    if infant not in (None, "", []):
        out["infant"] = _codes(infant, "metadata.infant")
    return out


def _clean(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    return value


def measure_upload(filename: str, content: bytes, metadata: dict[str, Any],
                   limits: ObservationLimits | None = None) -> Measured:
    """Read and measure a coded file: the only time an upload is parsed.

    Parameters
    ----------
    filename
        The uploaded file's name; its extension says how to read it (``.csv``, BORIS, ELAN …).
    content
        The file's bytes.
    metadata
        The measurement settings and notes saved with it (:func:`settings_from`).
    limits
        The size and event limits (default: from the environment).

    Returns
    -------
    Measured
        The settings used, the number of events, one row of responsiveness and contingency
        measures per caregiver and cue type, and the warnings met (a code that matches no
        event).

    Raises
    ------
    UploadTooLarge
        Over the size or event limit (``content``).
    StoreValidationError
        A file that cannot be read or measured (``content``, naming the file), or bad
        settings (``metadata.*``).

    Examples
    --------
    >>> coded = b"session,actor,code,onset\\nvisit,Infant,cry,1\\nvisit,Mother,soothe,2\\n"
    >>> m = measure_upload("visit.csv", coded, {"cues": "cry", "responses": "soothe"})
    >>> m.n_events, [(r["caregiver"], r["cue_type"], r["n_cues"]) for r in m.measures]
    (2, [('Mother', 'all', 1), ('Mother', 'cry', 1)])
    """
    from attunement.observation import ObservationError, read_events, session_metrics
    from attunement.observation.actors import ObservationWarning

    limits = limits or ObservationLimits.from_env()
    if len(content) > limits.max_bytes:
        raise UploadTooLarge(
            "content", f"the file is {_size(len(content))}; the limit is "
            f"{_size(limits.max_bytes)} per coded file (ATTUNEMENT_OBSERVATION_MAX_BYTES)")
    settings = settings_from(metadata)
    suffix = Path(filename).suffix.lower() or ".csv"
    with tempfile.TemporaryDirectory(prefix="attunement-obs-") as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(content)
        try:
            events = read_events(path)
            if len(events) > limits.max_events:
                raise UploadTooLarge(
                    "content", f"the file holds {len(events):,} events; the limit is "
                    f"{limits.max_events:,} events per coded file "
                    "(ATTUNEMENT_OBSERVATION_MAX_EVENTS)")
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ObservationWarning)
                table = session_metrics(
                    events, cues=settings["cues"], responses=settings["responses"],
                    window=settings["window"], unit=settings["unit"],
                    permutations=PERMUTATIONS, seed=SEED,
                    interval=tuple(settings["interval"]) if "interval" in settings else None,
                    actors_from=settings.get("actors_from"), infant=settings.get("infant"))
        except (ObservationError, ValueError) as exc:
            if isinstance(exc, StoreValidationError):
                raise
            message = str(exc).replace(str(path), filename)
            raise StoreValidationError(
                "content", f"{filename}: cannot be measured: {message}") from None
    rows = [{c: _clean(r.get(c)) for c in MEASURE_COLUMNS} for r in table.to_dict("records")]
    notes = [str(w.message).replace(str(path), filename) for w in caught
             if issubclass(w.category, ObservationWarning)]
    return Measured({**settings, "window": list(settings["window"])}, len(events), rows,
                    list(dict.fromkeys(notes)))


def add_observation_session(store: Store, actor: Actor, family_id: int, *, filename: str,
                            content: bytes, metadata: dict[str, Any]) -> dict:
    """Attach a coded recording to a family, measured once (:func:`measure_upload`).

    Parameters
    ----------
    store, actor
        The open store and who uploads (a family outside their scope is NotFound, before the
        file is read).
    family_id
        The family.
    filename, content
        The file's plain name (not a path) and its bytes.
    metadata
        The measurement settings (:func:`settings_from`) and notes (coder, session date,
        caregiver, time point).

    Returns
    -------
    dict
        The stored observation session (id, file name, size, SHA-256, metadata).

    Examples
    --------
    >>> coded = b"session,actor,code,onset\\nvisit,Infant,cry,1\\nvisit,Mother,soothe,2\\n"
    >>> stored = add_observation_session(store, practitioner, family, filename="visit.csv",
    ...     content=coded, metadata={"cues": "cry", "responses": "soothe"})
    >>> stored["filename"], stored["size"], stored["sha256"][:12]
    ('visit.csv', 66, 'a8169e410f60')
    """
    return store.observations.add_observation_session(
        actor, family_id, filename=filename, content=content, metadata=metadata,
        measure=measure_upload)
