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
    """How large a coded file may be: bytes and events.

    Parameters
    ----------
    max_bytes
        The largest file accepted.
    max_events
        The most coded events a file may hold.

    Examples
    --------
    >>> ObservationLimits().max_bytes == 5 * 1024 * 1024
    True

    A service that accepts longer codings sets the environment variable:

    >>> import os
    >>> os.environ["ATTUNEMENT_OBSERVATION_MAX_EVENTS"] = "500000"
    >>> ObservationLimits.from_env().max_events
    500000
    >>> del os.environ["ATTUNEMENT_OBSERVATION_MAX_EVENTS"]
    """

    max_bytes: int = DEFAULT_MAX_BYTES
    max_events: int = DEFAULT_MAX_EVENTS

    @classmethod
    def from_env(cls) -> ObservationLimits:
        """The limits configured now: ``ATTUNEMENT_OBSERVATION_MAX_BYTES`` and
        ``ATTUNEMENT_OBSERVATION_MAX_EVENTS``, else the defaults.

        Returns
        -------
        ObservationLimits
            The limits.

        Raises
        ------
        StoreValidationError
            A setting that is not a whole number of at least 1 (the variable named).
        """
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
    """A measured upload, as the store keeps it beside the file.

    Parameters
    ----------
    settings
        The settings the measures were computed with (codes, window, time unit …).
    n_events
        How many coded events the file holds.
    measures
        One row of responsiveness and contingency measures per caregiver and cue type.
    warnings
        What was met measuring it (e.g. a cue code that matches no event).
    """

    settings: dict[str, Any]
    n_events: int
    measures: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)


def seal_measures(keys: KeyRing, family_id: int, sha256: str, measured: Measured) -> bytes:
    """The measures and the warnings met measuring them, encrypted under the key ring and bound
    to their file (a sealed blob moved to another file does not open).

    Parameters
    ----------
    keys
        The store's key ring.
    family_id
        The family the file belongs to.
    sha256
        The file's checksum.
    measured
        What :func:`attunement.usecases.observations.measure_upload` returned.

    Returns
    -------
    bytes
        The ciphertext kept in ``observation_measures``; it opens only with the same
        family id and checksum (the associated data of
        :func:`attunement.store.files.observation_aad`).

    Examples
    --------
    >>> from attunement.store.crypto import KeyRing
    >>> sealed = seal_measures(KeyRing(bytes(32)), 1, "ab12", Measured({}, 2, [{"n_cues": 1}]))
    >>> KeyRing(bytes(32)).decrypt(sealed, "observation:1:ab12:measures")["measures"]
    [{'n_cues': 1}]
    """
    return keys.encrypt({"measures": measured.measures, "warnings": measured.warnings},
                        observation_aad(family_id, sha256) + ":measures")


def stored_measures(s: Session, keys: KeyRing,
                    session_ids: list[int]) -> dict[int, dict[str, Any]]:
    """The measures stored at upload of these sessions, decrypted.

    Parameters
    ----------
    s
        The open session.
    keys
        The store's key ring.
    session_ids
        Observation sessions already scope-checked by the caller.

    Returns
    -------
    dict
        ``{session id: settings, n_events, permutations, seed, algorithm, measures,
        warnings}``; a session uploaded before measures were kept has no entry.

    Examples
    --------
    A coded file uploaded through the use case, then its measures read back:

    >>> from attunement.usecases.observations import add_observation_session
    >>> coded = b"session,actor,code,onset\\nvisit,Infant,cry,1\\nvisit,Mother,soothe,2\\n"
    >>> upload = add_observation_session(store, practitioner, family, filename="visit.csv",
    ...     content=coded, metadata={"cues": "cry", "responses": "soothe"})
    >>> with store.db.read() as session:
    ...     kept = stored_measures(session, store.core.keyring(), [upload["id"]])
    >>> found = kept[upload["id"]]
    >>> found["n_events"], found["measures"][0]["responsiveness"], found["warnings"]
    (2, 1.0, [])
    """
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
