"""Trials inside the platform: a study's randomisation design and its concealed allocations.

An admin defines the design through the use case; a practitioner, who recruits, reads it
without the block sizes or the ratio (concealment, below):

>>> from attunement.usecases.trials import Trials
>>> _ = Trials(store).define_design(admin, study, {"method": "blocks",
...     "arms": ["control", "VIPP"], "ratio": [1, 1], "block_sizes": [2, 4], "strata": ["site"]})
>>> seen = store.trials.get_design(practitioner, study)
>>> seen["arms"], seen["concealed"], "block_sizes" in seen
(['control', 'VIPP'], True, False)

The randomisation itself is :mod:`attunement.trials.randomisation` (HMAC-keyed, reproducible
from the secret seed and the enrolment order), which the use case
(:class:`attunement.usecases.trials.Trials`) hands to the store's writes as ``randomisation=``
(a :class:`Randomisation`), so the store imports no trials library; balance and CONSORT
counts are computed there from the store's records. This module keeps the platform's side:

* **Design** (one per study, admin only): the library's design keys plus ``levels`` (the
  allowed values of each stratum/factor the practitioner records; ``site``/``centre`` are
  filled in from the family's site) and ``consent_kind`` (the consent that must be active,
  default ``"research"``). It can be replaced only while the study has no allocation.
* **Secret seed**: the server must allocate on demand, so it needs the seed itself; a keyed
  hash commitment alone would not let it allocate. The seed is therefore stored encrypted
  (AES-256-GCM with the store's identifier key, bound to the study) and never returned by any
  read; only its public fingerprint (``Randomiser.key_fingerprint``) is shown and written to
  the audit log, so an auditor can check they hold the right seed. The admin may supply the
  seed (for example one generated and kept by the trial's independent statistician); an admin
  can reveal it for an audit (:meth:`StudyTrials.reveal_secret`, audited with a reason).
* **Allocations**: one per (study, family), numbered in enrolment order; the row keeps the
  inputs, the random draws (``details``), the algorithm version, who and when, and the id of
  its audit-log row. There is no update or delete path, and database triggers refuse both.
  Before every allocation the stored sequence is replayed from the seed, so an altered record
  stops randomisation instead of being built upon.
* Concealment (:func:`attunement.store.scope.sees_allocation_sequence`): recruiters
  (practitioners, site leads) see the allocation of the family they randomise and later that
  family's arm, the design's arms, strata/factor names, levels and consent; never block
  sizes, ratio, weights, sequence numbers, the random draws, other families' allocations,
  balance or per-arm CONSORT counts. Admins and researchers (trial statisticians) see them.
* Scoping: families through :func:`attunement.store.scope.get_scoped`/``scoped``; a study is
  visible when the store would list it to the actor (admin: all; others: their studies).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    func,
    select,
)
from sqlalchemy.orm import Session

from attunement import policy
from attunement.policy import Action
from attunement.store import audit
from attunement.store import validate as v
from attunement.store.core import Core
from attunement.store.errors import NotFound, StoreError, StoreValidationError
from attunement.store.models import (
    Caregiver,
    Consent,
    Family,
    Site,
    Study,
    TrialAllocation,
    TrialDesignRecord,
    utcnow,
)
from attunement.store.randomisation import Randomisation, design_columns
from attunement.store.scope import (
    Actor,
    get_scoped,
    require_allocation_sequence,
    scoped,
    sees_allocation_sequence,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "AlreadyRandomised",
    "Randomisation",
    "SequenceMismatch",
    "StudyTrials",
    "TrialAllocation",
    "TrialDesignRecord",
]

SITE_FACTORS = ("site", "centre")
# the roles that randomise (the policy's rule; the CLI checks it before looking a family up)
RANDOMISERS = tuple(sorted(policy.RULES[Action.RANDOMISE].roles - {policy.SYSTEM}))
_PLATFORM_KEYS = {"levels", "consent_kind", "secret"}


class AlreadyRandomised(StoreValidationError):
    """The family already has an allocation in this study; it can never be changed (409)."""


class SequenceMismatch(StoreError):
    """The stored allocations do not replay from the seed: a record was altered (409)."""


def _aad(study_id: int) -> str:
    return f"trial-secret:study:{study_id}"


class StudyTrials:
    """Randomisation designs and allocations of the store's studies (see the module doc).

    Parameters
    ----------
    core
        The store's core, or the store.

    Examples
    --------
    >>> from attunement.usecases.trials import Trials
    >>> _ = Trials(store).define_design(admin, study, {"method": "blocks",
    ...     "arms": ["usual care", "VIPP-SD"], "block_sizes": [2, 4], "strata": ["site"]})
    >>> design = store.trials.get_design(admin, study)
    >>> design["arms"], design["block_sizes"], design["allocated"]
    (['usual care', 'VIPP-SD'], [2, 4], 0)
    """

    def __init__(self, core: Core | Any) -> None:
        self.core: Core = getattr(core, "core", core)  # a Store passes its Core
        self._db = self.core.db

    # ------------------------------------------------------------------ helpers
    def _study(self, s: Session, actor: Actor, study_id: Any) -> Study:
        try:
            sid = int(study_id)
        except (TypeError, ValueError):
            raise NotFound(f"study {study_id!r} not found") from None
        study = s.get(Study, sid)
        if study is None or not (policy.allows(actor, Action.ANY_SITE) or sid in actor.study_ids):
            raise NotFound(f"study {sid} not found")
        return study

    def _design_row(self, s: Session, study_id: int) -> TrialDesignRecord | None:
        return s.execute(
            select(TrialDesignRecord).where(TrialDesignRecord.study_id == study_id)
        ).scalar_one_or_none()

    def _required_design_row(self, s: Session, study_id: int) -> TrialDesignRecord:
        row = self._design_row(s, study_id)
        if row is None:
            raise NotFound(f"study {study_id} has no randomisation design")
        return row

    def _history(self, s: Session, study_id: int, method: str) -> list[dict[str, Any]]:
        """The study's stored allocations in enrolment order (see :class:`Randomisation`)."""
        return [
            {
                "sequence": a.sequence,
                "participant": str(a.family_id),
                "arm": a.arm,
                "method": method,
                "inputs": dict(a.inputs),
                "stratum": a.stratum,
                "details": dict(a.details),
                "algorithm": a.algorithm,
            }
            for a in s.execute(
                select(TrialAllocation)
                .where(TrialAllocation.study_id == study_id)
                .order_by(TrialAllocation.sequence)
            ).scalars()
        ]

    def _secret(self, row: TrialDesignRecord) -> str:
        return str(
            self.core.keyring().decrypt(row.secret_ciphertext, _aad(row.study_id))["secret"]
        )

    def _design_dict(
        self, row: TrialDesignRecord, study: Study, n_allocated: int, actor: Actor | None = None
    ) -> dict:
        if actor is not None and not sees_allocation_sequence(actor):
            # what a recruiter needs to randomise, nothing that helps predict the next arm
            design = dict(row.design)
            return {
                "study": study.id,
                "study_name": study.name,
                "method": row.method,
                "arms": list(design.get("arms", [])),
                "strata": list(design.get("strata", []) or []),
                "factors": list(design.get("factors", []) or []),
                "levels": dict(row.levels),
                "consent_kind": row.consent_kind,
                "concealed": True,
            }
        return {
            "study": study.id,
            "study_name": study.name,
            **dict(row.design),
            "levels": dict(row.levels),
            "consent_kind": row.consent_kind,
            "secret_fingerprint": row.fingerprint,
            "created_at": row.created_at.isoformat(),
            "allocated": n_allocated,
            "locked": n_allocated > 0,
        }

    def _n_allocated(self, s: Session, study_id: int) -> int:
        return int(
            s.execute(
                select(func.count(TrialAllocation.id)).where(TrialAllocation.study_id == study_id)
            ).scalar_one()
        )

    # ------------------------------------------------------------------ design
    def define_design(
        self, actor: Actor, study_id: int, design: dict, *, secret: str | None = None,
        randomisation: Randomisation,
    ) -> dict:
        """Define (or, while nothing is allocated, replace) a study's design (admin).

        Parameters
        ----------
        actor
            Who defines it (an admin).
        study_id
            The study.
        design
            The library's keys (``method``, ``arms``, ``ratio``, ``block_sizes``,
            ``block_weights``, ``strata`` | ``factors``, ``weights``, ``p``, ``imbalance``) plus
            ``levels`` ({column: [allowed values]} for every column but ``site``/``centre``)
            and ``consent_kind``.
        secret
            The seed (at least 16 characters); generated if omitted.
        randomisation
            Checks the design and fingerprints the seed (:class:`Randomisation`).

        Returns
        -------
        dict
            The design as the admin sees it (never the seed).
        """
        policy.require(actor, Action.DESIGN_TRIAL)
        if not isinstance(design, dict):
            raise StoreValidationError("design", "must be an object")
        design = dict(design)
        if secret is None:
            secret = design.pop("secret", None)
        design.pop("secret", None)
        levels_in = design.pop("levels", None) or {}
        consent_kind = (
            v.text(design.pop("consent_kind", "research"), "consent_kind", max_len=50) or ""
        )
        # the store's forms send empty lists for the other method's keys
        for key in ("strata", "factors", "block_sizes", "block_weights", "weights"):
            if design.get(key) in ([], (), None, ""):
                design.pop(key, None)
        checked = randomisation.design(design)
        if any(len(a) > 100 for a in checked["arms"]):
            raise StoreValidationError("design.arms", "arm names are at most 100 characters")
        if not isinstance(levels_in, dict):
            raise StoreValidationError("design.levels", "must be an object {column: [values]}")
        levels: dict[str, list[str]] = {}
        for col in design_columns(checked):
            if col.lower() in SITE_FACTORS:
                continue
            vals = levels_in.get(col)
            if not isinstance(vals, list) or len(vals) < 2 or any(not str(x).strip() for x in vals):
                raise StoreValidationError(
                    f"design.levels.{col}",
                    f"list the values {col!r} can take (at least two), e.g. [yes, no]",
                )
            levels[col] = [str(x).strip() for x in vals]
            if len(set(levels[col])) != len(levels[col]):
                raise StoreValidationError(f"design.levels.{col}", "values repeat")
        extra = sorted(set(levels_in) - set(levels))
        if extra:
            raise StoreValidationError(
                f"design.levels.{extra[0]}", "is not a stratum or factor of this design"
            )
        if secret is None:
            secret = randomisation.new_secret()
        if not isinstance(secret, str) or len(secret) < 16:
            raise StoreValidationError("secret", "must be a string of at least 16 characters")
        fingerprint = randomisation.fingerprint(checked, secret)
        with self._db.write() as s:
            study = self._study(s, actor, study_id)
            keys = self.core.keyring(s)
            if self._n_allocated(s, study.id):
                raise StoreValidationError(
                    "design",
                    f"study {study.name!r} already has allocations; its design can "
                    "no longer change",
                )
            row = self._design_row(s, study.id)
            before = None if row is None else self._design_dict(row, study, 0)
            if row is None:
                row = TrialDesignRecord(study_id=study.id)
                s.add(row)
            row.method = checked["method"]
            row.design = checked
            row.levels = levels
            row.consent_kind = consent_kind
            row.secret_ciphertext = keys.encrypt({"secret": secret}, _aad(study.id))
            row.key_id = keys.key_id
            row.fingerprint = fingerprint
            row.created_by = actor.user_id
            row.created_at = utcnow()
            s.flush()
            out = self._design_dict(row, study, 0)
            audit.append(s, actor=actor, action="create" if before is None else "update",
                         entity="trial_design", entity_id=row.id, before=before, after=out)
            return out

    def get_design(self, actor: Actor, study_id: int) -> dict:
        """The study's design, as the actor may see it (never the seed).

        Parameters
        ----------
        actor
            Who asks: a recruiter sees the arms, strata or factors, levels and consent only.
        study_id
            The study.

        Returns
        -------
        dict
            The design.

        Raises
        ------
        NotFound
            An unseen study, or one without a design.
        """
        with self._db.read() as s:
            study = self._study(s, actor, study_id)
            row = self._required_design_row(s, study.id)
            return self._design_dict(row, study, self._n_allocated(s, study.id), actor)

    def reveal_secret(self, actor: Actor, study_id: int, *, reason: str) -> str:
        """The seed, for an audit by an independent statistician (admin; audited).

        Parameters
        ----------
        actor
            The admin.
        study_id
            The study.
        reason
            Why it is revealed (kept in the audit log).

        Returns
        -------
        str
            The secret seed.
        """
        policy.require(actor, Action.REVEAL_TRIAL_SECRET)
        reason = v.text(reason, "reason", max_len=1000) or ""
        with self._db.write() as s:
            study = self._study(s, actor, study_id)
            row = self._required_design_row(s, study.id)
            audit.append(s, actor=actor, action="reveal", entity="trial_secret", entity_id=row.id,
                         after={"study": study.id, "fingerprint": row.fingerprint}, reason=reason)
            return self._secret(row)

    # ------------------------------------------------------------------ allocation
    def factor_inputs(self, actor: Actor, family_id: int) -> dict:
        """What randomising this family needs.

        Parameters
        ----------
        actor
            Who will randomise.
        family_id
            The family (NotFound outside the actor's scope).

        Returns
        -------
        dict
            The study's design, the levels to record (``ask``), the values filled in
            (``automatic``: the site), whether the design's consent is recorded, and any
            existing allocation.
        """
        with self._db.read() as s:
            fam = get_scoped(s, actor, Family, family_id, what="family")
            out: dict[str, Any] = {
                "family": fam.id,
                "study": fam.study_id,
                "design": None,
                "ask": {},
                "automatic": {},
                "consented": False,
                "allocation": None,
            }
            if fam.study_id is None:
                return out
            study = s.get(Study, fam.study_id)
            row = self._design_row(s, fam.study_id)
            alloc = s.execute(
                select(TrialAllocation).where(
                    TrialAllocation.study_id == fam.study_id, TrialAllocation.family_id == fam.id
                )
            ).scalar_one_or_none()
            if alloc is not None:
                out["allocation"] = self._allocation_dict(s, actor, alloc, fam)
            if row is None or study is None:
                return out
            out["design"] = self._design_dict(row, study, self._n_allocated(s, study.id), actor)
            site = s.get(Site, fam.site_id)
            for col in design_columns(row.design):
                if col.lower() in SITE_FACTORS:
                    out["automatic"][col] = site.name if site else str(fam.site_id)
                else:
                    out["ask"][col] = list(row.levels.get(col, []))
            out["consented"] = self._active_consent(s, fam, row.consent_kind) is not None
            return out

    @staticmethod
    def _active_consent(s: Session, fam: Family, kind: str) -> Consent | None:
        today = datetime.now(UTC).date()
        return s.execute(
            select(Consent)
            .where(
                Consent.family_id == fam.id,
                Consent.kind == kind,
                Consent.withdrawn_on.is_(None),
                Consent.given_on <= today,
            )
            .order_by(Consent.id)
            .limit(1)
        ).scalar_one_or_none()

    def randomise(
        self, actor: Actor, family_id: int, *, values: dict[str, Any] | None = None,
        randomisation: Randomisation,
    ) -> dict:
        """Randomise an enrolled, consented family of the actor's sites (practitioner, site
        lead or admin); the allocation is audited and can never be changed.

        Parameters
        ----------
        actor
            Who randomises.
        family_id
            The family (NotFound outside the actor's scope, before anything else is checked).
        values
            The family's level of each stratum or factor other than the site.
        randomisation
            Replays the stored sequence from the seed and allocates (:class:`Randomisation`);
            called after the scope, consent and level checks, inside the transaction.

        Returns
        -------
        dict
            The allocation as the actor may see it.

        Raises
        ------
        AlreadyRandomised
            The family already has an allocation.
        SequenceMismatch
            The stored allocations do not replay from the seed.
        """
        policy.require(actor, Action.RANDOMISE)
        values = values or {}
        if not isinstance(values, dict):
            raise StoreValidationError("values", "must be an object {factor: level}")
        with self._db.write() as s:
            fam = get_scoped(s, actor, Family, family_id, what="family")
            if fam.study_id is None:
                raise StoreValidationError("study", "the family is not enrolled in a study")
            study = s.get(Study, fam.study_id)
            assert study is not None
            row = self._design_row(s, study.id)
            if row is None:
                raise StoreValidationError(
                    "design", f"study {study.name!r} has no randomisation design yet"
                )
            done = s.execute(
                select(TrialAllocation).where(
                    TrialAllocation.study_id == study.id, TrialAllocation.family_id == fam.id
                )
            ).scalar_one_or_none()
            if done is not None:
                raise AlreadyRandomised(
                    "family",
                    f"was randomised to {done.arm!r} on "
                    f"{done.allocated_at.date().isoformat()}; an allocation can never be "
                    "changed",
                )
            if self._active_consent(s, fam, row.consent_kind) is None:
                raise StoreValidationError(
                    "consent",
                    f"no active {row.consent_kind!r} consent is recorded for this "
                    "family; record consent before randomising",
                )
            site = s.get(Site, fam.site_id)
            inputs: dict[str, str] = {}
            for col in design_columns(row.design):
                if col.lower() in SITE_FACTORS:
                    inputs[col] = site.name if site else str(fam.site_id)
                    continue
                allowed = list(row.levels.get(col, []))
                given = values.get(col)
                given = None if given is None else str(given).strip()
                if not given:
                    raise StoreValidationError(
                        f"values.{col}", f"record the family's {col} ({', '.join(allowed)})"
                    )
                if given not in allowed:
                    raise StoreValidationError(
                        f"values.{col}", f"{given!r} is not one of {', '.join(allowed)}"
                    )
                inputs[col] = given
            unknown = sorted(set(values) - set(inputs))
            if unknown:
                raise StoreValidationError(
                    f"values.{unknown[0]}", "is not a stratum or factor of this design"
                )
            history = self._history(s, study.id, row.method)
            try:
                rec = randomisation.allocate(dict(row.design), self._secret(row), history,
                                             str(fam.id), inputs, actor.email)
            except SequenceMismatch as exc:
                raise SequenceMismatch(f"study {study.id}: {exc}") from None
            after = {
                "study": study.id,
                **{k: rec[k] for k in ("sequence", "arm", "method", "stratum", "inputs",
                                       "details", "algorithm")},
                "fingerprint": row.fingerprint,
            }
            audit_id = audit.append(s, actor=actor, action="randomise", entity="trial_allocation",
                                    entity_id=f"{study.id}:{fam.id}", family=fam, after=after)
            alloc = TrialAllocation(
                study_id=study.id,
                family_id=fam.id,
                design_id=row.id,
                sequence=rec["sequence"],
                arm=rec["arm"],
                stratum=rec["stratum"],
                inputs=dict(rec["inputs"]),
                details=dict(rec["details"]),
                algorithm=rec["algorithm"],
                fingerprint=row.fingerprint,
                allocated_by=actor.user_id,
                allocated_by_email=actor.email,
                allocated_at=utcnow(),
                audit_id=audit_id,
            )
            s.add(alloc)
            s.flush()
            return self._allocation_dict(s, actor, alloc, fam)

    def _allocation_dict(self, s: Session, actor: Actor, a: TrialAllocation, fam: Family) -> dict:
        if not sees_allocation_sequence(actor):
            # a recruiter: this family's arm, never its place in the sequence or its draws
            site = s.get(Site, fam.site_id)
            return {
                "study": a.study_id,
                "arm": a.arm,
                "stratum": a.stratum,
                "inputs": dict(a.inputs),
                "audit_id": a.audit_id,
                "family": fam.id,
                "family_id": fam.code,
                "site": site.name if site else None,
                # the day only: times across a site's families would order its allocations
                "allocated_on": a.allocated_at.date().isoformat(),
                "allocated_by": a.allocated_by_email,
            }
        out = {
            "study": a.study_id,
            "sequence": a.sequence,
            "arm": a.arm,
            "stratum": a.stratum,
            "inputs": dict(a.inputs),
            "audit_id": a.audit_id,
            "algorithm": a.algorithm,
            "fingerprint": a.fingerprint,
        }
        if actor.sees_identifiers:
            site = s.get(Site, fam.site_id)
            out |= {
                "family": fam.id,
                "family_id": fam.code,
                "site": site.name if site else None,
                "allocated_at": a.allocated_at.isoformat(),
                "allocated_by": a.allocated_by_email,
                "details": dict(a.details),
            }
        else:
            # researchers: the study's keyed pseudonym, no staff e-mail, and the date moved by
            # the family's secret shift, as in the store's pseudonymised documents
            keys = self.core.keyring()
            shift = timedelta(days=keys.day_shift(fam.study_id or "none", fam.id))
            out |= {
                "family_id": keys.pseudonym(fam.study_id or "none", "family", fam.id),
                "allocated_on_shifted": (a.allocated_at.date() - shift).isoformat(),
            }
        return out

    def allocation(self, actor: Actor, family_id: int) -> dict:
        """The family's allocation, as the actor may see it.

        Parameters
        ----------
        actor
            Who asks.
        family_id
            The family.

        Returns
        -------
        dict
            The allocation (a recruiter: the arm and day only).

        Raises
        ------
        NotFound
            Not randomised, or outside the actor's scope.
        """
        with self._db.read() as s:
            fam = get_scoped(s, actor, Family, family_id, what="family")
            a = s.execute(
                select(TrialAllocation).where(TrialAllocation.family_id == fam.id)
            ).scalar_one_or_none()
            if a is None:
                raise NotFound(f"family {fam.id} has not been randomised")
            return self._allocation_dict(s, actor, a, fam)

    def list_allocations(self, actor: Actor, study_id: int) -> list[dict]:
        """A study's allocations in sequence order, restricted to the actor's families.

        Parameters
        ----------
        actor
            An admin or researcher (allocation concealment: recruiters are refused).
        study_id
            The study.

        Returns
        -------
        list of dict
            The allocations (researchers: pseudonyms and shifted dates).
        """
        with self._db.read() as s:
            study = self._study(s, actor, study_id)  # 404 first: an unseen study is unknown
            require_allocation_sequence(actor)
            rows = s.execute(
                scoped(select(TrialAllocation, Family), actor, TrialAllocation)
                .where(TrialAllocation.study_id == study.id)
                .order_by(TrialAllocation.sequence)
            ).all()
            return [self._allocation_dict(s, actor, a, fam) for a, fam in rows]

    def verify(self, actor: Actor, study_id: int, *, randomisation: Randomisation) -> list[int]:
        """Replay the whole sequence from the seed (admin).

        Parameters
        ----------
        actor
            Who verifies (an admin).
        study_id
            The study.
        randomisation
            Replays the sequence (:class:`Randomisation`).

        Returns
        -------
        list of int
            The sequence numbers whose stored arm differs (empty when intact).
        """
        policy.require(actor, Action.VERIFY_ALLOCATIONS)
        with self._db.read() as s:
            study = self._study(s, actor, study_id)
            row = self._required_design_row(s, study.id)
            history = self._history(s, study.id, row.method)
            return randomisation.verify(dict(row.design), self._secret(row), history)

    def allocation_table(self, actor: Actor, study_id: int) -> tuple[dict[str, Any], pd.DataFrame]:
        """The study's design and one row per allocation of the actor's families (admins and
        researchers only: allocation concealment), for the balance of the arms.

        Parameters
        ----------
        actor
            Who asks (whose families).
        study_id
            The study (NotFound when unseen or without a design).

        Returns
        -------
        tuple
            The stored design, and a table of each allocation's strata or factors and ``arm``.
        """
        import pandas as pd

        rows = self.list_allocations(actor, study_id)
        with self._db.read() as s:
            study = self._study(s, actor, study_id)
            design = dict(self._required_design_row(s, study.id).design)
        frame = pd.DataFrame(
            [{**r["inputs"], "arm": r["arm"]} for r in rows],
            columns=[*design_columns(design), "arm"])
        return design, frame

    # ------------------------------------------------------------------ CONSORT
    def consort_records(self, actor: Actor, study_id: int) -> pd.DataFrame:
        """One row per family of the study in the actor's scope, in the columns of
        :func:`attunement.trials.consort_counts` (``arm``, ``exclusion_reason``,
        ``lost_to_follow_up``, ``lost_reason``).

        Not randomised: "consent withdrawn before randomisation" (counted as declined),
        "awaiting consent" or "awaiting randomisation". Lost to follow-up: the design's consent
        withdrawn after randomisation, or every caregiver has left the family. Whether the
        intervention was received and who was analysed are not platform records, so the
        diagram shows them as "not recorded" rather than guessing.

        Parameters
        ----------
        actor
            An admin or researcher (per-arm counts reveal allocations).
        study_id
            The study.

        Returns
        -------
        pandas.DataFrame
            The records; ``attrs`` holds the design's ``arms`` and the ``study``'s name.
        """
        import pandas as pd

        with self._db.read() as s:
            study = self._study(s, actor, study_id)
            require_allocation_sequence(actor)  # per-arm counts reveal others' allocations
            row = self._design_row(s, study.id)
            kind = row.consent_kind if row is not None else "research"
            fams = (
                s.execute(
                    scoped(select(Family), actor)
                    .where(Family.study_id == study.id)
                    .order_by(Family.id)
                )
                .scalars()
                .all()
            )
            ids = [f.id for f in fams]
            allocs = (
                {
                    a.family_id: a
                    for a in s.execute(
                        select(TrialAllocation).where(
                            TrialAllocation.study_id == study.id, TrialAllocation.family_id.in_(ids)
                        )
                    ).scalars()
                }
                if ids
                else {}
            )
            consents: dict[int, list[Consent]] = {}
            carers: dict[int, list[Caregiver]] = {}
            if ids:
                for c in s.execute(
                    select(Consent).where(Consent.family_id.in_(ids), Consent.kind == kind)
                ).scalars():
                    consents.setdefault(c.family_id, []).append(c)
                for cg in s.execute(
                    select(Caregiver).where(Caregiver.family_id.in_(ids))
                ).scalars():
                    carers.setdefault(cg.family_id, []).append(cg)
            records = []
            for fam in fams:
                a = allocs.get(fam.id)
                cs = consents.get(fam.id, [])
                active = [c for c in cs if c.withdrawn_on is None]
                rec: dict[str, Any] = {
                    "arm": "",
                    "exclusion_reason": "",
                    "lost_to_follow_up": "",
                    "lost_reason": "",
                }
                if a is None:
                    if active:
                        rec["exclusion_reason"] = "awaiting randomisation"
                    elif cs:
                        rec["exclusion_reason"] = "declined"
                    else:
                        rec["exclusion_reason"] = "awaiting consent"
                else:
                    rec["arm"] = a.arm
                    rec["lost_to_follow_up"] = "no"
                    since = a.allocated_at.date()
                    withdrawn = (
                        [c for c in cs if c.withdrawn_on is not None and c.withdrawn_on >= since]
                        if not active
                        else []
                    )
                    people = carers.get(fam.id, [])
                    if withdrawn:
                        rec["lost_to_follow_up"], rec["lost_reason"] = "yes", "withdrew consent"
                    elif people and all(c.left_on is not None for c in people):
                        rec["lost_to_follow_up"] = "yes"
                        rec["lost_reason"] = "all caregivers left the family"
                records.append(rec)
            arms = list(row.design["arms"]) if row is not None else None
        frame = pd.DataFrame.from_records(
            records, columns=["arm", "exclusion_reason", "lost_to_follow_up", "lost_reason"]
        )
        frame.attrs["arms"] = arms
        frame.attrs["study"] = study.name
        return frame
