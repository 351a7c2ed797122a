"""Measures of coded interaction files, kept beside the file: computed ONCE, at upload, and
never by parsing a stored file again.

A coded session (BORIS, ELAN, SDIS, Datavyu, The Observer or plain CSV) is read and measured
by the use case (:func:`attunement.usecases.observations.measure_upload`, with
:func:`attunement.observation.session_metrics`, ``PERMUTATIONS`` circular shifts and the fixed
``SEED``), which the store's upload calls after its scope check; a file that is too large or
cannot be measured is refused and nothing is stored. This module holds what the store keeps:
the limits, the measured result (:class:`Measured`), its sealing under the key ring and the
reading of stored measures.

Limits (configurable by environment, read at each upload): ``ATTUNEMENT_OBSERVATION_MAX_BYTES``
(default 5 MiB) and ``ATTUNEMENT_OBSERVATION_MAX_EVENTS`` (default 200,000). The size limit
bounds the memory an upload can take: the importers read at most that many bytes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
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
    "seal_measures",
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


@dataclass(frozen=True)
class Measured:
    """A validated upload: its settings, number of events, measure rows and the warnings met
    measuring it (e.g. a cue code that matches no event)."""

    settings: dict[str, Any]
    n_events: int
    measures: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)


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
