"""Families: registration, caregivers, identifiers, the infant, transfers; reads in family_views."""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from attunement import policy
from attunement.policy import Action
from attunement.store import audit, blind, shared
from attunement.store import validate as v
from attunement.store.assessments import Assessments, Scorer
from attunement.store.core import Core
from attunement.store.errors import (
    StoreValidationError,
)
from attunement.store.family_views import FamilyViews
from attunement.store.models import (
    Caregiver,
    Family,
    Identity,
    IdentityLookup,
    Infant,
    StudySite,
)
from attunement.store.scope import (
    Actor,
    get_scoped,
    require_write,
    scoped,
)
from attunement.store.shared import CAREGIVER_ROLES, PLACEMENTS

FileCheck = Callable[[dict], None]
"""Checks a screening family file (the store builds it from the payload) and raises
:class:`~attunement.store.errors.StoreValidationError` naming the dotted field path
(``caregivers.1.role``); :func:`attunement.usecases.families.check_family_file` is the one the
use cases pass."""


class Families:
    """Register families and keep their record: caregivers, the infant, identifiers, site.

    Identifiers (names, NHS numbers, dates of birth, contact details) are encrypted and
    searchable only through a keyed blind index; audit rows name the fields changed, never
    their values. ``actor`` is who acts, checked against the policy and restricted to the
    families in their scope. What is read about families (``get_family``, ``list_families``,
    ``caseload_page``, ``family_document``) comes from
    :class:`attunement.store.family_views.FamilyViews`, reached from here as well.

    Parameters
    ----------
    core : Core
        Shared by every service of one store.
    assessments : Assessments
        Stores the answers a family file or a new caregiver brings.

    Examples
    --------
    >>> from attunement.usecases.assessments import score
    >>> from attunement.usecases.families import check_family_file
    >>> doc = store.families.create_family(practitioner, family_file("N-002"),
    ...                                    check_file=check_family_file, score=score)
    >>> doc["family_id"], [c["id"] for c in doc["caregivers"]]
    ('N-002', ['mother', 'father'])
    >>> store.families.set_caregiver_language(practitioner, doc["id"], "father",
    ...     page_language="ar", interpreter_needed=True)["page_language"]
    'ar'
    >>> store.families.interpreter_needs(lead)[doc["id"]]
    ['father (ar)']
    >>> store.families.update_infant(practitioner, doc["id"], reason="revised at scan",
    ...                              due_date="2026-09-22")["changed"]
    ['due_date']
    >>> store.families.end_caregiver(practitioner, doc["id"], "father",
    ...                              reason="moved out")["active"]
    False
    """

    def __init__(self, core: Core, assessments: Assessments) -> None:
        self.core = core
        self.assessments = assessments
        self.views = FamilyViews(core)
        # what is read about families lives in family_views; reached from here as well
        self.list_families = self.views.list_families
        self.caseload_page = self.views.caseload_page
        self.get_family = self.views.get_family
        self.family_document = self.views.family_document

    def create_family(
        self, actor: Actor, payload: dict, *, check_file: FileCheck, score: Scorer
    ) -> dict:
        """Register a family from a screening family file, in one transaction.

        Answers in the file become assessments at ``time_point`` (default ``"baseline"``),
        completed on ``assessed_on``.

        Parameters
        ----------
        actor : Actor
            A clinical role at the family's site.
        payload : dict
            The family file plus ``site`` and optionally ``study``, ``time_point``,
            ``registered_on`` and identifiers on the infant and caregivers.
        check_file : FileCheck
            Checks the screening part (:func:`attunement.usecases.families.check_family_file`).
        score : Scorer
            Scores its answers (:func:`attunement.usecases.assessments.score`).

        Returns
        -------
        dict
            The new family's document, as ``get_family`` gives it.

        Raises
        ------
        StoreValidationError
            Naming the dotted field (``caregivers.1.role``) of anything the checks refuse, or a
            family code already used at the site.
        Forbidden
            For a read-only role.
        """
        require_write(actor)
        if not isinstance(payload, dict):
            raise StoreValidationError("family", "must be an object")
        code = v.text(payload.get("family_id"), "family_id", max_len=100) or ""
        placement = payload.get("placement", "birth_family")
        if placement not in PLACEMENTS:
            raise StoreValidationError("placement", f"must be one of {', '.join(PLACEMENTS)}")
        context = payload.get("context") or {}
        if not isinstance(context, dict):
            raise StoreValidationError("context", "must be an object of factor: true|false")
        assessed_on = v.a_date(payload.get("assessed_on"), "assessed_on")
        if assessed_on is not None and assessed_on > datetime.now(UTC).date() + timedelta(days=1):
            raise StoreValidationError("assessed_on", f"{assessed_on} is in the future")
        registered_on = self._registered_on(payload.get("registered_on"))
        infant = payload.get("infant") or {}
        if not isinstance(infant, dict):
            raise StoreValidationError("infant", "must be an object")
        due = v.a_date(infant.get("due_date"), "infant.due_date")
        born = v.a_date(
            infant.get("date_of_birth", infant.get("birth_date")), "infant.date_of_birth"
        )
        gestation = infant.get("gestational_age_at_birth_weeks", infant.get("gestation_weeks"))
        if gestation is not None and (
            isinstance(gestation, bool)
            or not isinstance(gestation, int | float)
            or not 22 <= gestation <= 44
        ):
            raise StoreValidationError(
                "infant.gestational_age_at_birth_weeks", "must be weeks between 22 and 44"
            )
        infant_ids = v.identifiers(infant, "infant", infant=True)
        if born is not None:
            infant_ids["date_of_birth"] = born.isoformat()
        carers = payload.get("caregivers")
        if not isinstance(carers, list) or not carers:
            raise StoreValidationError("caregivers", "at least one caregiver is required")
        parsed = [self._parse_caregiver(c, f"caregivers.{i}") for i, c in enumerate(carers)]
        keys = [p["key"] for p in parsed]
        dup = next((k for k in keys if keys.count(k) > 1), None)
        if dup:
            raise StoreValidationError("caregivers", f"caregiver id {dup!r} appears twice")
        time_point = v.text(payload.get("time_point", "baseline"), "time_point", max_len=100)
        family_file = {
            "family_id": code,
            "assessed_on": (assessed_on or datetime.now(UTC).date()).isoformat(),
            "infant": {
                k: val
                for k, val in (
                    ("date_of_birth", shared.iso(born)),
                    ("due_date", shared.iso(due)),
                    ("gestational_age_at_birth_weeks", gestation),
                )
                if val is not None
            },
            "placement": placement,
            "context": context,
            "caregivers": [self._family_file_caregiver(p) for p in parsed],
        }
        check_file(family_file)

        with self.core.db.write() as s:
            site = shared.site_by_ref(s, payload.get("site"), "site")
            if not policy.allows(actor, Action.ANY_SITE) and site.id not in actor.site_ids:
                raise StoreValidationError("site", f"no site {payload.get('site')!r}")
            study_id = None
            if payload.get("study") not in (None, ""):
                study = shared.study_by_ref(s, payload["study"])
                if not policy.allows(actor, Action.ANY_SITE) and study.id not in actor.study_ids:
                    raise StoreValidationError("study", f"no study {payload['study']!r}")
                if not _study_runs_at(s, study.id, site.id):
                    raise StoreValidationError(
                        "study", f"study {study.name!r} does not run at site {site.name!r}"
                    )
                study_id = study.id
            if s.execute(
                select(Family.id).where(Family.site_id == site.id, Family.code == code)
            ).first():
                raise StoreValidationError("family_id", f"{code!r} already exists at this site")
            fam = Family(
                site_id=site.id,
                study_id=study_id,
                code=code,
                placement=placement,
                context=shared.jsonable(context),
                assessed_on=assessed_on,
                created_by=actor.user_id,
                registered_on=registered_on,
            )
            s.add(fam)
            s.flush()
            inf = Infant(
                family_id=fam.id,
                due_date=due,
                gestation_weeks=float(gestation) if gestation is not None else None,
            )
            s.add(inf)
            s.flush()
            if infant_ids:
                self._store_identity(s, fam.id, "infant", inf.id, infant_ids)
            for p in parsed:
                self._insert_caregiver(s, actor, fam, p)
            audit.append(
                s, actor=actor, action="create", entity="family", entity_id=fam.id,
                family_id=fam.id, site_id=site.id,
                after={
                    "family_id": code,
                    "placement": placement,
                    "registered_on": registered_on.isoformat(),
                    "study_id": study_id,
                    "context": context,
                    "infant": {"due_date": shared.iso(due)},
                    "identifiers": sorted(infant_ids),
                },
            )
            for p in parsed:
                for instrument, responses in p["responses"].items():
                    self.assessments.insert_assessment(
                        s,
                        actor,
                        fam,
                        p["key"],
                        instrument,
                        time_point or "",
                        responses,
                        input_kind="scores",
                        score=score,
                        completed_on=assessed_on,
                    )
            # the document is built in the creating transaction: no second transaction and
            # no identifier-view audit row (the creation's own audit row records them)
            s.flush()
            return self.views.family_doc(s, actor, fam)

    def _registered_on(self, value: Any) -> date:
        """The day the service took the family on: today (UTC) unless the family file gives
        an earlier day (a family moved from another system); never in the future."""
        today = self.core.now().date()
        if value in (None, ""):
            return today
        on = v.a_date(value, "registered_on") or today
        if on > today:
            raise StoreValidationError(
                "registered_on", f"{on} is in the future (today is {today} UTC)"
            )
        return on

    def _parse_caregiver(self, c: Any, where: str) -> dict:
        if not isinstance(c, dict):
            raise StoreValidationError(where, "must be an object")
        key = c.get("id")
        if isinstance(key, int) and not isinstance(key, bool):
            key = str(key)
        key = v.text(key, f"{where}.id", max_len=100)
        role = c.get("role")
        if role not in CAREGIVER_ROLES:
            raise StoreValidationError(
                f"{where}.role", f"must be one of {', '.join(CAREGIVER_ROLES)}"
            )
        responses = c.get("responses") or {}
        if not isinstance(responses, dict):
            raise StoreValidationError(f"{where}.responses", "must map instrument ids to lists")
        context = c.get("context") or {}
        if not isinstance(context, dict):
            raise StoreValidationError(f"{where}.context", "must be an object")
        variants = c.get("variants") or {}
        if not isinstance(variants, dict):
            raise StoreValidationError(
                f"{where}.variants", "must map instrument ids to lists of form variants"
            )
        return {
            "variants": shared.jsonable(variants),
            "key": key,
            "role": role,
            "age": v.integer(c.get("age"), f"{where}.age", minimum=10, maximum=100),
            "first_time_parent": v.boolean(
                c.get("first_time_parent"), f"{where}.first_time_parent"
            ),
            "context": shared.jsonable(context),
            "joined_on": v.a_date(c.get("joined_on"), f"{where}.joined_on"),
            "identifiers": v.identifiers(c, where),
            "responses": {
                str(k): v.responses(r, f"{where}.responses.{k}") for k, r in responses.items()
            },
        }

    @staticmethod
    def _family_file_caregiver(p: dict) -> dict:
        out = {
            "id": p["key"],
            "role": p["role"],
            "context": p["context"],
            "responses": p["responses"],
        }
        for key in ("age", "first_time_parent", "variants"):
            if p[key] not in (None, {}):
                out[key] = p[key]
        return out

    def _insert_caregiver(self, s: Session, actor: Actor, fam: Family, p: dict) -> Caregiver:
        cg = Caregiver(
            family_id=fam.id,
            key=p["key"],
            role=p["role"],
            age=p["age"],
            first_time_parent=p["first_time_parent"],
            context=p["context"],
            variants=p["variants"],
            joined_on=p["joined_on"] or datetime.now(UTC).date(),
        )
        s.add(cg)
        s.flush()
        if p["identifiers"]:
            self._store_identity(s, fam.id, "caregiver", cg.id, p["identifiers"])
        audit.append(
            s, actor=actor, action="create", entity="caregiver", entity_id=cg.id, family=fam,
            after={
                "id": cg.key,
                "role": cg.role,
                "age": cg.age,
                "first_time_parent": cg.first_time_parent,
                "context": cg.context,
                "joined_on": shared.iso(cg.joined_on),
                "identifiers": sorted(p["identifiers"]),
            },
        )
        return cg

    def _store_identity(
        self, s: Session, family_id: int, kind: str, subject_id: int, data: dict[str, str]
    ) -> None:
        keys = self.core.keyring(s)
        s.add(
            Identity(
                family_id=family_id,
                subject_kind=kind,
                subject_id=subject_id,
                ciphertext=keys.encrypt(data, f"{kind}:{subject_id}"),
                key_id=keys.key_id,
            )
        )
        self._index_identity(s, family_id, kind, subject_id, data)

    def _index_identity(
        self, s: Session, family_id: int, kind: str, subject_id: int, data: dict[str, str]
    ) -> None:
        """Rewrite one person's blind index (and an infant's derived birth offset) from the
        plaintext just encrypted, in the same transaction."""
        keys = self.core.keyring(s)
        s.execute(
            IdentityLookup.__table__.delete().where(
                IdentityLookup.subject_kind == kind, IdentityLookup.subject_id == subject_id
            )
        )
        rows = [
            {"family_id": family_id, "subject_kind": kind, "subject_id": subject_id,
             "field": field, "digest": keys.blind_index(field, value)}
            for field, value in blind.lookup_values(data)
        ]
        if rows:
            s.execute(IdentityLookup.__table__.insert(), rows)
        if kind == "infant":
            inf = s.get(Infant, subject_id)
            if inf is not None:
                self._set_birth_offset(inf, data.get("date_of_birth"))

    @staticmethod
    def _set_birth_offset(inf: Infant, born: str | date | None) -> None:
        if isinstance(born, str):
            born = date.fromisoformat(born[:10])
        inf.birth_offset_days = (
            (born - inf.due_date).days if born is not None and inf.due_date is not None else None
        )
        inf.birth_anchor_on = born if inf.due_date is None else None

    def add_caregiver(
        self, actor: Actor, family_id: int, caregiver: dict, *, check_file: FileCheck,
        score: Scorer,
    ) -> dict:
        """Add a caregiver to a family, checked like a family file's caregiver.

        Parameters
        ----------
        actor : Actor
            Adds the caregiver; clinical staff whose scope holds the family.
        family_id : int
            The family the caregiver joins.
        caregiver : dict
            As in a family file (``id``, ``role``, ...), plus identifiers and ``time_point``
            for any ``responses``.
        check_file : FileCheck
            As for :meth:`create_family`.
        score : Scorer
            As for :meth:`create_family`.

        Returns
        -------
        dict
            The caregiver.

        Raises
        ------
        StoreValidationError
            For a bad field or an id already in the family.
        """
        require_write(actor)
        p = self._parse_caregiver(caregiver, "caregiver")
        time_point = v.text(caregiver.get("time_point", "baseline"), "caregiver.time_point")
        try:
            check_file(
                {
                    "family_id": "x",
                    "assessed_on": datetime.now(UTC).date().isoformat(),
                    "infant": {"due_date": datetime.now(UTC).date().isoformat()},
                    "placement": "birth_family",
                    "caregivers": [self._family_file_caregiver(p)],
                }
            )
        except StoreValidationError as exc:
            # the one caregiver of this file is the request's "caregiver"
            if not exc.field.startswith("caregivers.0"):
                raise
            raise StoreValidationError(
                "caregiver" + exc.field[len("caregivers.0"):], exc.reason) from None
        with self.core.db.write() as s:
            fam = get_scoped(s, actor, Family, family_id, what="family")
            if s.execute(
                select(Caregiver.id).where(Caregiver.family_id == fam.id, Caregiver.key == p["key"])
            ).first():
                raise StoreValidationError(
                    "caregiver.id", f"{p['key']!r} is already in this family"
                )
            cg = self._insert_caregiver(s, actor, fam, p)
            for instrument, responses in p["responses"].items():
                self.assessments.insert_assessment(
                    s,
                    actor,
                    fam,
                    cg.key,
                    instrument,
                    time_point or "",
                    responses,
                    input_kind="scores",
                    score=score,
                )
            return shared.caregiver_dict(cg, None)

    def update_identifiers(
        self, actor: Actor, family_id: int, person: str, changes: dict, *, reason: str
    ) -> dict:
        """Correct a person's identifiers; a value of None removes one.

        Parameters
        ----------
        actor : Actor
            Makes the correction (clinical, family in scope).
        family_id : int
            The family of the person.
        person : str
            ``"infant"`` or a caregiver's family-file id.
        changes : dict
            Identifier fields and their new values.
        reason : str
            Why, for the audit log (which names the fields, never the values).

        Returns
        -------
        dict
            ``person`` and the fields ``changed``.

        Raises
        ------
        StoreValidationError
            For an unknown field or a bad value.
        """
        require_write(actor)
        reason = v.text(reason, "reason", max_len=1000) or ""
        if not isinstance(changes, dict) or not changes:
            raise StoreValidationError("changes", "name at least one identifier to change")
        unknown = sorted(set(changes) - set(v.IDENTIFIER_FIELDS))
        if unknown:
            raise StoreValidationError(f"changes.{unknown[0]}", "is not an identifier field")
        removed = [k for k, val in changes.items() if val in (None, "")]
        new = v.identifiers({k: val for k, val in changes.items() if k not in removed}, "changes")
        with self.core.db.write() as s:
            fam = get_scoped(s, actor, Family, family_id, what="family")
            if person == "infant":
                kind = "infant"
                subject = s.execute(
                    select(Infant.id).where(Infant.family_id == fam.id)
                ).scalar_one()
            else:
                kind, subject = "caregiver", shared.caregiver(s, fam, person).id
            row = s.execute(
                select(Identity).where(
                    Identity.subject_kind == kind, Identity.subject_id == subject
                )
            ).scalar_one_or_none()
            keys = self.core.keyring(s)
            aad = f"{kind}:{subject}"
            current = keys.decrypt(row.ciphertext, aad) if row is not None else {}
            updated = {k: val for k, val in {**current, **new}.items() if k not in removed}
            if row is None:
                self._store_identity(s, fam.id, kind, subject, updated)
            else:
                row.ciphertext, row.key_id = keys.encrypt(updated, aad), keys.key_id
                self._index_identity(s, fam.id, kind, subject, updated)
            changed = sorted(
                k for k in set(current) | set(updated) if current.get(k) != updated.get(k)
            )
            audit.append(s, actor=actor, action="update", entity="identifiers",
                         entity_id=f"{kind}:{subject}", family=fam, after={"fields": changed},
                         reason=reason)
            return {"person": person, "changed": changed}

    def transfer_family(
        self, actor: Actor, family_id: int, site: str | int, *, reason: str
    ) -> dict:
        """Move a family to another site.

        Parameters
        ----------
        actor : Actor
            An administrator.
        family_id : int
            The family to move.
        site : str or int
            The new site, by name or id; the family's study must run there.
        reason : str
            Why, for the audit log.

        Returns
        -------
        dict
            ``id``, ``site`` and ``site_id``.

        Raises
        ------
        Forbidden
            For other roles.
        StoreValidationError
            When it is the same site, the study does not run there, or the code is taken there.
        """
        policy.require(actor, Action.TRANSFER_FAMILY)
        reason = v.text(reason, "reason", max_len=1000) or ""
        with self.core.db.write() as s:
            fam = get_scoped(s, actor, Family, family_id, what="family")
            target = shared.site_by_ref(s, site, "site")
            if target.id == fam.site_id:
                raise StoreValidationError("site", "the family is already at this site")
            if fam.study_id and not _study_runs_at(s, fam.study_id, target.id):
                raise StoreValidationError(
                    "site", f"the family's study does not run at {target.name!r}"
                )
            if s.execute(
                select(Family.id).where(Family.site_id == target.id, Family.code == fam.code)
            ).first():
                raise StoreValidationError(
                    "site", f"{target.name!r} already has a family {fam.code!r}"
                )
            before = fam.site_id
            fam.site_id = target.id
            audit.append(s, actor=actor, action="transfer", entity="family", entity_id=fam.id,
                         family_id=fam.id, site_id=target.id, before={"site_id": before},
                         after={"site_id": target.id}, reason=reason)
            return {"id": fam.id, "site": target.name, "site_id": target.id}

    def update_infant(
        self,
        actor: Actor,
        family_id: int,
        *,
        reason: str,
        due_date: date | str | None = None,
        date_of_birth: date | str | None = None,
        gestational_age_at_birth_weeks: float | None = None,
    ) -> dict:
        """Record the birth (date of birth, gestation) or a revised due date.

        The date of birth is stored encrypted; the audit row names it but never its value.

        Parameters
        ----------
        actor : Actor
            Records the birth or the new date: a clinical role.
        family_id : int
            Whose infant.
        reason : str
            Why, for the audit log.
        due_date : date or str, optional
            A revised due date.
        date_of_birth : date or str, optional
            The date of birth (not in the future).
        gestational_age_at_birth_weeks : float, optional
            Weeks of gestation at birth, 22 to 44.

        Returns
        -------
        dict
            ``due_date``, ``gestational_age_at_birth_weeks``, ``date_of_birth`` and ``changed``.

        Raises
        ------
        StoreValidationError
            When nothing is given or a value is out of range.
        """
        require_write(actor)
        reason = v.text(reason, "reason", max_len=1000) or ""
        due = v.a_date(due_date, "due_date")
        born = v.a_date(date_of_birth, "date_of_birth")
        gest = gestational_age_at_birth_weeks
        if gest is not None and (
            isinstance(gest, bool) or not isinstance(gest, int | float) or not 22 <= gest <= 44
        ):
            raise StoreValidationError(
                "gestational_age_at_birth_weeks", "must be weeks between 22 and 44"
            )
        if due is None and born is None and gest is None:
            raise StoreValidationError("infant", "give a due date, date of birth or gestation")
        if born is not None and born > datetime.now(UTC).date():
            raise StoreValidationError("date_of_birth", "is in the future")
        with self.core.db.write() as s:
            fam = get_scoped(s, actor, Family, family_id, what="family")
            inf = s.execute(select(Infant).where(Infant.family_id == fam.id)).scalar_one()
            before = {"due_date": shared.iso(inf.due_date), "gestation_weeks": inf.gestation_weeks}
            if due is not None:
                inf.due_date = due
            if gest is not None:
                inf.gestation_weeks = float(gest)
            changed = sorted(
                k for k, val in (("due_date", due), ("gestation_weeks", gest)) if val is not None
            )
            if born is not None:
                row = s.execute(
                    select(Identity).where(
                        Identity.subject_kind == "infant", Identity.subject_id == inf.id
                    )
                ).scalar_one_or_none()
                keys = self.core.keyring(s)
                aad = f"infant:{inf.id}"
                data = keys.decrypt(row.ciphertext, aad) if row is not None else {}
                data["date_of_birth"] = born.isoformat()
                if row is None:
                    self._store_identity(s, fam.id, "infant", inf.id, data)
                else:
                    row.ciphertext, row.key_id = keys.encrypt(data, aad), keys.key_id
                    self._index_identity(s, fam.id, "infant", inf.id, data)
                changed = sorted([*changed, "date_of_birth"])
            elif due is not None:
                self._set_birth_offset(inf, shared.with_birth_dates(self.core, s, [inf])[0].birth_date)
            s.flush()
            after = {"due_date": shared.iso(inf.due_date), "gestation_weeks": inf.gestation_weeks}
            audit.append(s, actor=actor, action="update", entity="infant", entity_id=inf.id,
                         family=fam, before=before, after={**after, "changed": changed},
                         reason=reason)
            return {
                "due_date": after["due_date"],
                "gestational_age_at_birth_weeks": inf.gestation_weeks,
                "date_of_birth": shared.iso(born),
                "changed": changed,
            }

    def end_caregiver(
        self,
        actor: Actor,
        family_id: int,
        caregiver_id: int | str,
        *,
        reason: str,
        left_on: date | str | None = None,
    ) -> dict:
        """Record that a caregiver left the family; the caregiver is kept, never deleted.

        Parameters
        ----------
        actor : Actor
            Records the departure (clinical roles, in scope).
        family_id : int
            The family the caregiver leaves.
        caregiver_id : int or str
            The caregiver's database id or family-file id.
        reason : str
            Why, for the audit log.
        left_on : date or str, optional
            When (default today; not before they joined).

        Returns
        -------
        dict
            The caregiver, no longer ``active``.
        """
        require_write(actor)
        reason = v.text(reason, "reason", max_len=1000) or ""
        when = v.a_date(left_on, "left_on") or datetime.now(UTC).date()
        with self.core.db.write() as s:
            fam = get_scoped(s, actor, Family, family_id, what="family")
            cg = shared.caregiver(s, fam, caregiver_id)
            if cg.left_on is not None:
                raise StoreValidationError("caregiver", f"{cg.key!r} already left on {cg.left_on}")
            if cg.joined_on and when < cg.joined_on:
                raise StoreValidationError("left_on", "is before the caregiver joined")
            cg.left_on, cg.left_reason = when, reason
            audit.append(s, actor=actor, action="update", entity="caregiver", entity_id=cg.id,
                         family=fam, before={"left_on": None}, after={"left_on": when.isoformat()},
                         reason=reason)
            return shared.caregiver_dict(cg, None)

    def set_caregiver_language(
        self,
        actor: Actor,
        family_id: int,
        caregiver_id: int | str,
        *,
        page_language: str | None,
        interpreter_needed: bool,
    ) -> dict:
        """Record the language a caregiver reads their pages in, and if they need an interpreter.

        Parameters
        ----------
        actor : Actor
            Sets it: any clinical role whose scope holds the family.
        family_id : int
            The caregiver's family.
        caregiver_id : int or str
            The caregiver's database id or family-file id.
        page_language : str or None
            A BCP 47 tag (``en``, ``ar``, ``pt-BR``); None for the service default.
        interpreter_needed : bool
            Whether they need an interpreter to talk with the service.

        Returns
        -------
        dict
            The caregiver, with ``page_language`` and ``interpreter_needed``.

        Raises
        ------
        StoreValidationError
            For a tag that is not a language tag.
        """
        require_write(actor)
        language = v.text(page_language, "page_language", max_len=35, required=False) or None
        if language is not None and not shared.LANGUAGE_TAG.match(language):
            raise StoreValidationError(
                "page_language", f"{language!r} is not a language tag such as 'en' or 'pt-BR'")
        needed = v.boolean(interpreter_needed, "interpreter_needed")
        with self.core.db.write() as s:
            fam = get_scoped(s, actor, Family, family_id, what="family")
            cg = shared.caregiver(s, fam, caregiver_id)
            before = {"page_language": cg.page_language,
                      "interpreter_needed": bool(cg.interpreter_needed)}
            cg.page_language, cg.interpreter_needed = language, bool(needed)
            audit.append(s, actor=actor, action="update", entity="caregiver", entity_id=cg.id,
                         family=fam, before=before,
                         after={"page_language": language, "interpreter_needed": bool(needed)})
            return shared.caregiver_dict(cg, None)

    def interpreter_needs(self, actor: Actor,
                          family_ids: Collection[int] | None = None) -> dict[int, list[str]]:
        """List, per family, the current caregivers who need an interpreter (the caseload shows it).

        Parameters
        ----------
        actor : Actor
            Who reads (non-clinical roles get nothing).
        family_ids : collection of int, optional
            Only these families (a caseload page's, at most a page long), so the read does not
            grow with the site; all the actor's families when omitted.

        Returns
        -------
        dict of int to list of str
            By family id, entries such as ``"father (ar)"``.
        """
        if not policy.allows(actor, Action.READ_CLINICAL):
            return {}
        with self.core.db.read() as s:
            rows = s.execute(
                scoped(select(Caregiver.family_id, Caregiver.key, Caregiver.page_language),
                       actor, Caregiver)
                .where(Caregiver.interpreter_needed.is_(True), Caregiver.left_on.is_(None),
                       *([] if family_ids is None else [Caregiver.family_id.in_(family_ids)]))
                .order_by(Caregiver.family_id, Caregiver.id)
            ).all()
        out: dict[int, list[str]] = {}
        for fid, key, lang in rows:
            out.setdefault(fid, []).append(f"{key} ({lang})" if lang else key)
        return out


def _study_runs_at(s: Session, study_id: int, site_id: int) -> bool:
    """Is the study running at the site (a family of the site may be enrolled in it)?"""
    return s.execute(
        select(StudySite.id).where(StudySite.study_id == study_id, StudySite.site_id == site_id)
    ).first() is not None
