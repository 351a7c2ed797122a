"""Coded interaction files are validated and measured ONCE, at upload; views show the stored
measures and never parse a stored file again.

A coded session (BORIS, ELAN, SDIS, Datavyu, The Observer or plain CSV) is refused, and
nothing is stored, when it is larger than the size limit, holds more events than the event
limit, cannot be read, or cannot be measured with the settings saved with it (cue and
response codes, window, time unit). Otherwise :func:`measure_upload` computes the
responsiveness and contingency measures (:func:`attunement.observation.session_metrics`,
``PERMUTATIONS`` circular shifts with the fixed ``SEED``) and the store keeps them in
``observation_measures`` beside the file, in the same transaction.

Limits (configurable by environment, read at each upload): ``ATTUNEMENT_OBSERVATION_MAX_BYTES``
(default 5 MiB) and ``ATTUNEMENT_OBSERVATION_MAX_EVENTS`` (default 200,000). The size limit
bounds the memory an upload can take: the importers read at most that many bytes.
"""

from __future__ import annotations

import math
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from attunement.store.crypto import KeyRing
from attunement.store.errors import StoreValidationError
from attunement.store.files import observation_aad
from attunement.store.models import (
    ObservationMeasures,
    ObservationSession,
)

__all__ = [
    "MEASURE_COLUMNS",
    "PERMUTATIONS",
    "SEED",
    "Measured",
    "ObservationLimits",
    "ObservationMeasures",
    "UploadTooLarge",
    "measure_upload",
    "seal_measures",
    "settings_from",
    "stored_measures",
]

PERMUTATIONS = 1000
SEED = 20240601
ALGORITHM = "attunement.observation.session_metrics/1"
DEFAULT_MAX_BYTES = 5 * 1024 * 1024
DEFAULT_MAX_EVENTS = 200_000
MEASURE_COLUMNS = ("session", "caregiver", "cue_type", "n_cues", "cues_per_minute",
                   "responsiveness", "median_latency", "km_median_latency",
                   "chance_responsiveness", "yules_q", "odds_ratio", "adjusted_residual",
                   "permutation_p", "duration", "interval_start", "interval_end")


class UploadTooLarge(StoreValidationError):
    """The file is over the size or event limit (the web answers 413)."""


@dataclass(frozen=True)
class ObservationLimits:
    """How large a coded file may be: bytes and events."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_events: int = DEFAULT_MAX_EVENTS

    @classmethod
    def from_env(cls) -> ObservationLimits:
        """The limits from ``ATTUNEMENT_OBSERVATION_MAX_BYTES``/``..._MAX_EVENTS``."""
        return cls(_env_int("ATTUNEMENT_OBSERVATION_MAX_BYTES", DEFAULT_MAX_BYTES),
                   _env_int("ATTUNEMENT_OBSERVATION_MAX_EVENTS", DEFAULT_MAX_EVENTS))


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise StoreValidationError(name, f"must be a whole number, not {raw!r}") from None
    if value < 1:
        raise StoreValidationError(name, "must be at least 1")
    return value


def _size(n: int) -> str:
    return f"{n / (1024 * 1024):g} MB ({n:,} bytes)"


@dataclass(frozen=True)
class Measured:
    """A validated upload: its settings, number of events, measure rows and the warnings met
    measuring it (e.g. a cue code that matches no event)."""

    settings: dict[str, Any]
    n_events: int
    measures: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)


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
    """The measurement settings saved with an upload, validated (errors name the field)."""
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
    """Validate and measure a coded file (the only time it is parsed); refuse it with a
    :class:`StoreValidationError` naming the field and the limit or the problem."""
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


def seal_measures(keys: KeyRing, family_id: int, sha256: str, measured: Measured) -> bytes:
    """The measures (and the warnings met measuring them) encrypted under the key ring, bound
    to their file."""
    return keys.encrypt({"measures": measured.measures, "warnings": measured.warnings},
                        observation_aad(family_id, sha256) + ":measures")


def stored_measures(s: Session, keys: KeyRing,
                    session_ids: list[int]) -> dict[int, dict[str, Any]]:
    """The stored measures of these sessions (absent: uploaded before measures were kept)."""
    if not session_ids:
        return {}
    rows = s.execute(
        select(ObservationMeasures, ObservationSession.family_id, ObservationSession.sha256)
        .join(ObservationSession, ObservationSession.id == ObservationMeasures.session_id)
        .where(ObservationMeasures.session_id.in_(session_ids))
    ).all()
    out = {}
    for m, family_id, sha256 in rows:
        sealed = keys.decrypt(m.measures_ciphertext,
                              observation_aad(family_id, sha256) + ":measures")
        out[m.session_id] = {
            "session": m.session_id,
            "settings": dict(m.settings),
            "n_events": m.n_events,
            "permutations": PERMUTATIONS,
            "seed": SEED,
            "algorithm": m.algorithm,
            "measures": sealed["measures"],
            "warnings": sealed.get("warnings", []),
        }
    return out
