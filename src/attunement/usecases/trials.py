"""Trials inside the platform: the store keeps designs and concealed allocations, the trials
library randomises and counts.

The store (:class:`attunement.store.trials.StudyTrials`) decides scope, roles and allocation
concealment, keeps the secret seed encrypted and writes every allocation with its audit row.
What needs the library is passed to it or computed here: checking a design, the seed's
fingerprint and each allocation (:class:`LibraryRandomisation`, built on
:mod:`attunement.trials.randomisation`), replaying the sequence, the balance of the arms
(:func:`attunement.trials.balance_report`) and the CONSORT counts and diagram
(:func:`attunement.trials.consort_counts`, :func:`attunement.trials.draw_consort`).
:class:`Trials` is what the web and the CLI use.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attunement.store import Actor, Store, StoreValidationError
from attunement.store.trials import SequenceMismatch, StudyTrials

if TYPE_CHECKING:
    import pandas as pd

    from attunement.trials import ConsortCounts, RandomisationDesign

__all__ = ["LibraryRandomisation", "Trials"]


def _library_design(design: dict[str, Any], source: str = "trial design") -> RandomisationDesign:
    from attunement.trials import RandomisationDesign

    return RandomisationDesign.from_dict(dict(design), source=source)


def _allocations(history: list[dict[str, Any]]) -> list[Any]:
    from attunement.trials import Allocation

    return [Allocation(**a) for a in history]


def _design_error_field(message: str) -> tuple[str, str]:
    """``design: 'ratio': has 3 entries …`` → (``design.ratio``, ``has 3 entries …``)."""
    rest = message.split(": ", 1)[1] if ": " in message else message
    if rest.startswith("'") and "': " in rest:
        key, reason = rest[1:].split("': ", 1)
        return f"design.{key}", reason
    return "design", rest


class LibraryRandomisation:
    """The store's randomisation (:class:`attunement.store.trials.Randomisation`) done by
    :mod:`attunement.trials.randomisation`: HMAC-keyed, reproducible from the seed and the
    enrolment order.

    Examples
    --------
    >>> r = LibraryRandomisation()
    >>> design = r.design({"method": "blocks", "arms": ["usual care", "VIPP-SD"],
    ...                    "block_sizes": [2], "strata": ["site"]})
    >>> first = r.allocate(design, "a-seed-of-16-characters", [], "1", {"site": "North"}, "pa")
    >>> first["sequence"], first["arm"] in design["arms"]
    (1, True)
    >>> r.verify(design, "a-seed-of-16-characters", [first])
    []
    """

    def design(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Check a design and complete it with the library's defaults (ratio 1:1 …).

        Parameters
        ----------
        spec
            The design's keys (``method``, ``arms``, ``ratio``, ``block_sizes``, ``strata``
            or ``factors`` …).

        Returns
        -------
        dict
            The design as the library writes it (``RandomisationDesign.to_dict``).

        Raises
        ------
        StoreValidationError
            Naming the design's key (``design.ratio``) and the reason.
        """
        from attunement.trials import DesignError

        try:
            return _library_design(spec, source="design").to_dict()
        except DesignError as exc:
            field, reason = _design_error_field(str(exc))
            raise StoreValidationError(field, reason) from None

    def new_secret(self) -> str:
        """A fresh 256-bit seed (hex), for a study whose admin gave none.

        Returns
        -------
        str
            The seed.
        """
        from attunement.trials.randomisation import new_secret

        return new_secret()

    def fingerprint(self, design: dict[str, Any], secret: str) -> str:
        """The seed's public fingerprint, shown and audited instead of the seed.

        Parameters
        ----------
        design
            The stored design.
        secret
            The seed.

        Returns
        -------
        str
            ``Randomiser.key_fingerprint``.
        """
        from attunement.trials import Randomiser

        return Randomiser(_library_design(design), secret).key_fingerprint

    def allocate(self, design: dict[str, Any], secret: str, history: list[dict[str, Any]],
                 participant: str, inputs: dict[str, str], actor: str) -> dict[str, Any]:
        """Replay the stored sequence from the seed, then allocate the next family.

        Parameters
        ----------
        design : dict
            The stored design.
        secret : str
            Its seed, decrypted by the store for this call only.
        history : list of dict
            The study's stored allocations in enrolment order.
        participant
            The family's id.
        inputs
            Its level of each stratum or factor.
        actor
            Who randomises (recorded with the draw).

        Returns
        -------
        dict
            The allocation: ``sequence``, ``arm``, ``method``, ``inputs``, ``stratum``,
            ``details`` (the random draws) and ``algorithm``.

        Raises
        ------
        SequenceMismatch
            A stored allocation is not what the seed reproduces.
        """
        from attunement.trials import DesignError, Randomiser

        lib = _library_design(design)
        try:
            randomiser = Randomiser.resume(lib, secret, _allocations(history))
        except DesignError as exc:
            raise SequenceMismatch(str(exc)) from None
        return randomiser.allocate(participant, inputs, actor=actor).to_dict()

    def verify(self, design: dict[str, Any], secret: str,
               history: list[dict[str, Any]]) -> list[int]:
        """Replay the whole stored sequence from the seed
        (:func:`attunement.trials.verify_allocations`).

        Parameters
        ----------
        design : dict
            The stored design.
        secret : str
            Its seed.
        history : list of dict
            Every stored allocation, in enrolment order.

        Returns
        -------
        list of int
            Sequence numbers whose recorded arm or draws differ; empty when the record is
            intact.
        """
        from attunement.trials import verify_allocations

        return verify_allocations(_library_design(design), secret, _allocations(history))


class Trials:
    """A study's randomisation design, allocations, balance and CONSORT flow, as the web and
    the CLI use them: the store's records (scoped and concealed by the store) with the
    trials library's randomisation and counts.

    The reads that need no library (``get_design``, ``factor_inputs``, ``allocation``,
    ``list_allocations``, ``reveal_secret``, ``consort_records``) are the store's own
    (:class:`attunement.store.trials.StudyTrials`), reached through this object.

    Parameters
    ----------
    store
        The open store.

    Examples
    --------
    A design, the family's research consent, then its allocation (the arm depends on the
    design's secret seed, drawn when the design is defined):

    >>> trials = Trials(store)
    >>> design = trials.define_design(admin, study, {"method": "blocks", "arms": ["usual care",
    ...     "VIPP-SD"], "block_sizes": [2, 4], "strata": ["site"]})
    >>> design["ratio"], design["allocated"], design["locked"]
    ([1, 1], 0, False)
    >>> _ = store.care.add_consent(practitioner, family, kind="research", version="v1",
    ...                            given_on="2026-10-01")
    >>> allocation = trials.randomise(practitioner, family)
    >>> allocation["arm"] in design["arms"], allocation["stratum"]
    (True, 'site=North')
    >>> trials.verify(admin, study)
    []
    """

    randomisation = LibraryRandomisation()

    def __init__(self, store: Store) -> None:
        self.store = store
        self.records: StudyTrials = store.trials

    def __getattr__(self, name: str) -> Any:
        # the store's reads (get_design, list_allocations …) need nothing from the library
        return getattr(self.records, name)

    def define_design(self, actor: Actor, study_id: int, design: dict, *,
                      secret: str | None = None) -> dict:
        """Define (or, while nothing is allocated, replace) a study's design (admin).

        Parameters
        ----------
        actor
            Who defines it.
        study_id
            The study.
        design
            The design's keys, ``levels`` and ``consent_kind``
            (see :meth:`attunement.store.trials.StudyTrials.define_design`).
        secret
            The seed; generated if omitted.

        Returns
        -------
        dict
            The design (never the seed).
        """
        return self.records.define_design(actor, study_id, design, secret=secret,
                                          randomisation=self.randomisation)

    def randomise(self, actor: Actor, family_id: int, *,
                  values: dict[str, Any] | None = None) -> dict:
        """Randomise an enrolled, consented family; audited, never changed.

        Parameters
        ----------
        actor
            Who randomises.
        family_id
            The family.
        values
            Its level of each stratum or factor other than the site.

        Returns
        -------
        dict
            The allocation as the actor may see it.
        """
        return self.records.randomise(actor, family_id, values=values,
                                      randomisation=self.randomisation)

    def verify(self, actor: Actor, study_id: int) -> list[int]:
        """Replay the study's whole sequence from the seed (admin).

        Parameters
        ----------
        actor
            Who verifies.
        study_id
            The study.

        Returns
        -------
        list of int
            The sequence numbers that differ (empty when the record is intact).
        """
        return self.records.verify(actor, study_id, randomisation=self.randomisation)

    def balance(self, actor: Actor, study_id: int) -> pd.DataFrame:
        """Allocations per arm overall and per level of each stratum or factor (the actor's
        families), with the largest difference from the target ratio.

        Parameters
        ----------
        actor
            Who asks (admins and researchers: allocation concealment).
        study_id
            The study.

        Returns
        -------
        pandas.DataFrame
            :func:`attunement.trials.balance_report` of the allocations.
        """
        from attunement.trials import balance_report

        design, frame = self.records.allocation_table(actor, study_id)
        return balance_report(_library_design(design), frame)

    def consort(self, actor: Actor, study_id: int) -> ConsortCounts:
        """CONSORT 2010 counts of the study (the actor's families).

        Parameters
        ----------
        actor
            Who asks (per-arm counts reveal allocations: admins and researchers).
        study_id
            The study.

        Returns
        -------
        ConsortCounts
            :func:`attunement.trials.consort_counts` of the store's records.
        """
        return self._consort(actor, study_id)[0]

    def consort_svg(self, actor: Actor, study_id: int) -> str:
        """The CONSORT flow diagram of the study as an SVG document.

        Parameters
        ----------
        actor
            Who asks, as for :meth:`consort`.
        study_id
            The study.

        Returns
        -------
        str
            The SVG text (:func:`attunement.trials.draw_consort`).
        """
        from attunement.trials import draw_consort

        counts, study = self._consort(actor, study_id)
        with tempfile.TemporaryDirectory(prefix="attunement-consort-") as tmp:
            path = Path(tmp) / "consort.svg"
            draw_consort(counts, path, title=f"CONSORT flow: {study}")
            return path.read_text(encoding="utf-8")

    def _consort(self, actor: Actor, study_id: int) -> tuple[ConsortCounts, Any]:
        from attunement.trials import consort_counts

        records = self.records.consort_records(actor, study_id)
        study = records.attrs.get("study")
        counts = consort_counts(records, arms=records.attrs.get("arms"), source=f"study {study}")
        return counts, study
