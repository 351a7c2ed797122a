"""Observations: coded recordings of interaction and their measures."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from attunement import policy
from attunement.policy import Action
from attunement.store import audit, files, shared
from attunement.store import validate as v
from attunement.store.core import Core
from attunement.store.errors import (
    Forbidden,
    StoreValidationError,
)
from attunement.store.models import (
    Family,
    ObservationSession,
)
from attunement.store.scope import (
    Actor,
    get_scoped,
    require_write,
)

MAX_OBSERVATION_BYTES = 200 * 1024 * 1024  # superseded by observation_measures' limits

# reads and measures an uploaded file: (file name, bytes, metadata) -> its measures
Measure = Callable[[str, bytes, dict[str, Any]], "Measured"]


if TYPE_CHECKING:
    from attunement.store.observation_measures import Measured


class Observations:
    r"""Coded recordings of caregiver-infant interaction, stored encrypted, and their measures.

    Every method takes ``actor``, who acts; reading a recording or its measures is for
    clinical roles with the family in their scope (:mod:`attunement.policy`).

    Examples
    --------
    >>> from attunement.usecases.observations import measure_upload
    >>> coded = (b"session,actor,code,onset\n"
    ...          b"visit,Infant,cry,1\n"
    ...          b"visit,Mother,soothe,2\n")
    >>> o = store.observations.add_observation_session(
    ...     practitioner, family, filename="visit.csv", content=coded,
    ...     metadata={"cues": "cry", "responses": "soothe"}, measure=measure_upload)
    >>> o["filename"], o["size"]
    ('visit.csv', 66)
    >>> store.observations.observation_content(practitioner, o["id"]) == ("visit.csv", coded)
    True
    >>> list(store.observations.observation_measures(practitioner, family)) == [o["id"]]
    True
    """

    def __init__(self, core: Core) -> None:
        self.core = core

    def add_observation_session(
        self, actor: Actor, family_id: int, *, filename: str, content: bytes, metadata: dict,
        measure: Measure,
    ) -> dict:
        """Attach a coded recording (file bytes and metadata) to a family, with its measures.

        The file is measured once, by ``measure``, after the scope check: a file that is too
        large or cannot be measured is refused and nothing is stored.

        Parameters
        ----------
        actor : Actor
            Uploads it: a clinical role, family in scope (else NotFound, before ``measure``
            runs).
        family_id : int
            The family recorded.
        filename : str
            A plain file name (no folders); its suffix says how to read the file.
        content : bytes
            The coded file.
        metadata : dict
            Coders, participants and the measures' settings (``cues``, ``responses``, ...).
        measure : callable
            ``measure(filename, content, metadata)`` reads and measures the file, raising a
            :class:`~attunement.store.StoreValidationError` when it cannot
            (:func:`attunement.usecases.observations.measure_upload`).

        Returns
        -------
        dict
            The stored session: ``id``, ``filename``, ``sha256``, ``size``, ``metadata``, ...

        Raises
        ------
        StoreValidationError
            For a bad file name, an empty, too large or unreadable file, or bad metadata.
        NotFound
            When the family is not in the actor's scope.
        """
        from attunement.store.observation_measures import (
            ALGORITHM,
            ObservationMeasures,
            seal_measures,
        )

        require_write(actor)
        name = v.text(filename, "filename", max_len=255) or ""
        if "/" in name or "\\" in name or name in (".", ".."):
            raise StoreValidationError("filename", "must be a plain file name, not a path")
        if not isinstance(content, bytes | bytearray) or not content:
            raise StoreValidationError("content", "the file is empty")
        if not isinstance(metadata, dict):
            raise StoreValidationError("metadata", "must be an object")
        with self.core.db.read() as s:  # scope first: no parsing for a family one cannot see
            get_scoped(s, actor, Family, family_id, what="family")
        measured = measure(name, bytes(content), metadata)
        with self.core.db.write() as s:
            fam = get_scoped(s, actor, Family, family_id, what="family")
            digest = hashlib.sha256(content).hexdigest()
            o = ObservationSession(
                family_id=fam.id,
                filename=name,
                sha256=digest,
                size=len(content),
                uploaded_by=actor.user_id,
                **files.seal_observation(
                    self.core.keyring(s), fam.id, digest, bytes(content), shared.jsonable(metadata)),
            )
            s.add(o)
            s.flush()
            s.add(ObservationMeasures(
                session_id=o.id, settings=measured.settings, n_events=measured.n_events,
                measures_ciphertext=seal_measures(self.core.keyring(s), fam.id, digest, measured),
                algorithm=ALGORITHM))
            out = shared.observation_dict(self.core, o)
            audit.append(s, actor=actor, action="create", entity="observation_session",
                         entity_id=o.id, family=fam,
                         after={k: out[k] for k in ("filename", "sha256", "size")})
            return out

    def observation_measures(self, actor: Actor, family_id: int) -> dict[int, dict]:
        """Give the measures stored at upload for each of a family's coded sessions.

        Files are never re-parsed; a session uploaded before measures were kept has no entry.

        Parameters
        ----------
        actor : Actor
            Opens them (clinical roles only; family in their scope).
        family_id : int
            Whose sessions.

        Returns
        -------
        dict of int to dict
            The measures by observation session id.

        Raises
        ------
        Forbidden
            For a role that may not open recordings.
        NotFound
            When the family is not in the actor's scope.
        """
        from attunement.store.observation_measures import stored_measures

        if not policy.allows(actor, Action.OPEN_RECORDING):
            raise Forbidden("only clinical roles may open recordings")
        with self.core.db.read() as s:
            fam = get_scoped(s, actor, Family, family_id, what="family")
            ids = list(s.execute(select(ObservationSession.id).where(
                ObservationSession.family_id == fam.id)).scalars())
            return stored_measures(s, self.core.keyring(s), ids)

    def observation_content(self, actor: Actor, session_id: int) -> tuple[str, bytes]:
        """Give back the file of an observation session, decrypted.

        Parameters
        ----------
        actor : Actor
            A clinical role with the session's family in scope.
        session_id : int
            The observation session.

        Returns
        -------
        tuple of (str, bytes)
            The file name and its bytes.

        Raises
        ------
        Forbidden
            For a role that may not open recordings.
        NotFound
            When there is no such session in the actor's scope.
        """
        if not policy.allows(actor, Action.OPEN_RECORDING):
            raise Forbidden("only clinical roles may download recordings")
        with self.core.db.read() as s:
            o = get_scoped(s, actor, ObservationSession, session_id, what="observation session")
            return o.filename, files.open_content(self.core.keys_for_rows(), o)
