"""The care team's records of a family: safety alerts and their review, consent, and
intervention episodes.

:class:`CareRecords` is the base class of :class:`attunement.store.care.Care`: callers use
these as ``store.care.acknowledge_alert`` and so on.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from attunement import policy
from attunement.policy import Action
from attunement.store import audit, caseload, shared
from attunement.store import validate as v
from attunement.store.core import Core
from attunement.store.errors import StoreValidationError
from attunement.store.models import Alert, Assessment, Caregiver, Consent, Episode, Family
from attunement.store.scope import Actor, get_scoped, require_write, scoped
from attunement.store.shared import SAFETY_REVIEW_OUTCOMES


class CareRecords:
    """The care team's records of a family: safety alerts, consent and intervention episodes.

    The base class of :class:`attunement.store.care.Care`: reach these methods as
    ``store.care.acknowledge_alert`` and so on. ``actor`` is who acts, checked against the
    policy and restricted to the families in their scope.

    Examples
    --------
    >>> consent = store.care.add_consent(practitioner, family, kind="research",
    ...                                  version="v2", given_on="2026-06-01")
    >>> store.care.withdraw_consent(practitioner, consent["id"], withdrawn_on="2026-08-01",
    ...                             reason="family moved away")["withdrawn_on"]
    '2026-08-01'
    >>> episode = store.care.add_episode(practitioner, family, "Video feedback",
    ...                                  "2026-10-05", caregivers=["mother"])
    >>> store.care.update_episode(practitioner, episode["id"], sessions_offered=6,
    ...                           sessions_attended=5)["sessions_attended"]
    5
    >>> store.care.alerts_page(lead)["items"]
    []
    """

    def __init__(self, core: Core) -> None:
        self.core = core

    def list_alerts(self, actor: Actor, *, include_acknowledged: bool = False) -> list[dict]:
        """List the urgent flags in an actor's scope, newest first.

        Parameters
        ----------
        actor : Actor
            Who reads (researchers get none).
        include_acknowledged : bool, default False
            Also list alerts already reviewed.

        Returns
        -------
        list of dict
            One per alert: family, caregiver, the flag's label and reason, status, outcome.
        """
        if not policy.allows(actor, Action.READ_CLINICAL):
            return []
        with self.core.db.read() as s:
            stmt = (
                scoped(select(Alert, Family, Caregiver, Assessment), actor, Alert)
                .join(Caregiver, Caregiver.id == Alert.caregiver_id)
                .join(Assessment, Assessment.id == Alert.assessment_id)
                .order_by(Alert.id.desc())
            )
            if not include_acknowledged:
                stmt = stmt.where(Alert.status == "open")
            return [shared.alert_dict(a, f, c, x) for a, f, c, x in s.execute(stmt).all()]

    def alerts_page(self, actor: Actor, *, cursor: str | None = None, limit: int | None = None,
                    include_acknowledged: bool = False) -> dict:
        """Give one page of :meth:`list_alerts`, newest first.

        Parameters
        ----------
        actor : Actor
            Who reads (researchers get an empty page).
        cursor : str, optional
            A ``next`` or ``previous`` cursor from an earlier page.
        limit : int, optional
            Alerts per page (default 50, at most 500).
        include_acknowledged : bool, default False
            Also list alerts already reviewed.

        Returns
        -------
        dict
            ``items``, and ``next`` and ``previous`` cursors (None at either end).

        Raises
        ------
        StoreValidationError
            For a bad cursor or limit.
        """
        size = caseload.page_size(limit)
        after, key = True, None
        if cursor:
            after, key = caseload.decode_cursor(cursor, "alerts", (int,))
        if not policy.allows(actor, Action.READ_CLINICAL):
            return {"items": [], "next": None, "previous": None}
        with self.core.db.read() as s:
            stmt = (
                scoped(select(Alert, Family, Caregiver, Assessment), actor, Alert)
                .join(Caregiver, Caregiver.id == Alert.caregiver_id)
                .join(Assessment, Assessment.id == Alert.assessment_id)
            )
            if not include_acknowledged:
                stmt = stmt.where(Alert.status == "open")
            if key is not None:
                stmt = stmt.where(Alert.id < key[0] if after else Alert.id > key[0])
            stmt = stmt.order_by(Alert.id.desc() if after else Alert.id.asc()).limit(size + 1)
            found = list(s.execute(stmt).all())
            more = len(found) > size
            found = found[:size]
            if not after:
                found.reverse()
            items = [shared.alert_dict(a, f, c, x) for a, f, c, x in found]
        has_next = more if after else key is not None
        has_prev = (key is not None) if after else more
        return {
            "items": items,
            "next": caseload.encode_cursor("alerts", "after", [items[-1]["id"]])
            if items and has_next else None,
            "previous": caseload.encode_cursor("alerts", "before", [items[0]["id"]])
            if items and has_prev else None,
        }

    def acknowledge_alert(self, actor: Actor, alert_id: int, *, note: str, outcome: str) -> dict:
        """Record the safety review of an urgent flag.

        When no urgent alert of the family is left open, the review releases the hold on
        intervention matching.

        Parameters
        ----------
        actor : Actor
            A clinical role allowed to acknowledge alerts.
        alert_id : int
            The alert.
        note : str
            What was done.
        outcome : str
            One of ``SAFETY_REVIEW_OUTCOMES``.

        Returns
        -------
        dict
            The alert, acknowledged.

        Raises
        ------
        StoreValidationError
            For a missing note, an unknown outcome, or an alert already acknowledged.
        NotFound
            When the alert is out of scope.
        """
        policy.require(actor, Action.ACKNOWLEDGE_ALERT)
        note = v.text(note, "note", max_len=2000) or ""
        outcome = v.text(outcome, "outcome", max_len=40) or ""
        if outcome not in SAFETY_REVIEW_OUTCOMES:
            raise StoreValidationError("outcome", f"{outcome!r} is not one of: "
                                       f"{', '.join(SAFETY_REVIEW_OUTCOMES)}")
        with self.core.db.write() as s:
            alert = get_scoped(s, actor, Alert, alert_id, what="alert")
            if alert.status != "open":
                raise StoreValidationError("alert", "was already acknowledged")
            alert.status, alert.note, alert.outcome = "acknowledged", note, outcome
            alert.acknowledged_by, alert.acknowledged_at = actor.user_id, self.core.now()
            fam = s.get(Family, alert.family_id)
            assert fam is not None
            audit.append(s, actor=actor, action="acknowledge", entity="alert", entity_id=alert.id,
                         family=fam, before={"status": "open"},
                         after={"status": "acknowledged", "note": note, "outcome": outcome})
            cg = s.get(Caregiver, alert.caregiver_id)
            assessment = s.get(Assessment, alert.assessment_id)
            return shared.alert_dict(alert, fam, cg, assessment)  # type: ignore[arg-type]

    def add_consent(
        self,
        actor: Actor,
        family_id: int,
        *,
        kind: str,
        version: str,
        given_on: date | str,
        caregiver: str | None = None,
    ) -> dict:
        """Record a consent given by a family or one caregiver.

        Parameters
        ----------
        actor : Actor
            Who records the consent (clinical, with the family in scope).
        family_id : int
            Who consented (the family, or one of its caregivers below).
        kind : str
            What was consented to (``research``, ``video_recording``, ...).
        version : str
            The information sheet's version.
        given_on : date or str
            When (not in the future).
        caregiver : str, optional
            The caregiver who consented (default: the family).

        Returns
        -------
        dict
            The consent record.
        """
        require_write(actor)
        kind = v.text(kind, "kind", max_len=50) or ""
        version = v.text(version, "version", max_len=50) or ""
        given = v.a_date(given_on, "given_on", required=True)
        assert given is not None
        if given > datetime.now(UTC).date():
            raise StoreValidationError("given_on", "is in the future")
        with self.core.db.write() as s:
            fam = get_scoped(s, actor, Family, family_id, what="family")
            cg = shared.caregiver(s, fam, caregiver) if caregiver is not None else None
            c = Consent(family_id=fam.id, caregiver_id=cg.id if cg else None, kind=kind,
                        version=version, given_on=given, recorded_by=actor.user_id)
            return _insert_audited(s, actor, fam, c, "consent",
                                   lambda c: shared.consent_dict(c, cg.key if cg else None),
                                   record=True)

    def withdraw_consent(
        self, actor: Actor, consent_id: int, *, withdrawn_on: date | str, reason: str
    ) -> dict:
        """Record that a consent was withdrawn; the consent record itself is kept.

        Parameters
        ----------
        actor : Actor
            Records the withdrawal; clinical, in scope.
        consent_id : int
            The consent.
        withdrawn_on : date or str
            When (not before it was given).
        reason : str
            Why, for the audit log.

        Returns
        -------
        dict
            The consent record, with ``withdrawn_on``.

        Raises
        ------
        StoreValidationError
            When already withdrawn or the date is before consent was given.
        """
        require_write(actor)
        when = v.a_date(withdrawn_on, "withdrawn_on", required=True)
        reason = v.text(reason, "reason", max_len=1000) or ""
        with self.core.db.write() as s:
            c = get_scoped(s, actor, Consent, consent_id, what="consent")
            if c.withdrawn_on is not None:
                raise StoreValidationError("consent", f"was already withdrawn on {c.withdrawn_on}")
            assert when is not None
            if when < c.given_on:
                raise StoreValidationError("withdrawn_on", "is before consent was given")
            c.withdrawn_on = when
            fam = s.get(Family, c.family_id)
            cg = s.get(Caregiver, c.caregiver_id) if c.caregiver_id else None
            audit.append(s, actor=actor, action="update", entity="consent", entity_id=c.id,
                         family_id=c.family_id, site_id=fam.site_id if fam else None,
                         before={"withdrawn_on": None}, after={"withdrawn_on": when.isoformat()},
                         reason=reason)
            return shared.consent_dict(c, cg.key if cg else None)

    def add_episode(
        self,
        actor: Actor,
        family_id: int,
        programme: str,
        start: date | str,
        *,
        caregivers: list[str],
    ) -> dict:
        """Start an intervention episode for named caregivers of a family.

        Parameters
        ----------
        actor : Actor
            Starts the episode (clinical roles only).
        family_id : int
            The family in the programme.
        programme : str
            The intervention (``Video feedback``).
        start : date or str
            The start date.
        caregivers : list of str
            The caregivers taking part (family-file ids), at least one.

        Returns
        -------
        dict
            The episode.
        """
        require_write(actor)
        programme = v.text(programme, "programme", max_len=100) or ""
        start_d = v.a_date(start, "start", required=True)
        if not isinstance(caregivers, list) or not caregivers:
            raise StoreValidationError("caregivers", "name at least one caregiver")
        with self.core.db.write() as s:
            fam = get_scoped(s, actor, Family, family_id, what="family")
            keys = [shared.caregiver(s, fam, c).key for c in caregivers]
            e = Episode(family_id=fam.id, programme=programme, start_date=start_d,
                        caregivers=keys, created_by=actor.user_id)
            return _insert_audited(s, actor, fam, e, "episode", shared.episode_dict)

    def update_episode(self, actor: Actor, episode_id: int, **changes: Any) -> dict:
        """Record an episode's progress or its end.

        Parameters
        ----------
        actor : Actor
            Records progress: a clinical role in scope.
        episode_id : int
            The episode.
        **changes
            Any of ``sessions_offered``, ``sessions_attended`` (not more than offered),
            ``fidelity_notes``, ``end`` (not before the start), ``end_reason``; and ``reason``,
            written to the audit log.

        Returns
        -------
        dict
            The episode as changed.

        Raises
        ------
        StoreValidationError
            For a field that cannot be changed or a bad value.
        """
        require_write(actor)
        reason = changes.pop("reason", None)
        allowed = {"sessions_offered", "sessions_attended", "fidelity_notes", "end", "end_reason"}
        unknown = sorted(set(changes) - allowed)
        if unknown:
            raise StoreValidationError(
                unknown[0], f"cannot be changed (allowed: {sorted(allowed)})"
            )
        with self.core.db.write() as s:
            e = get_scoped(s, actor, Episode, episode_id, what="episode")
            before = shared.episode_dict(e)
            if "sessions_offered" in changes:
                e.sessions_offered = v.integer(
                    changes["sessions_offered"], "sessions_offered", minimum=0, maximum=1000
                )
            if "sessions_attended" in changes:
                e.sessions_attended = v.integer(
                    changes["sessions_attended"], "sessions_attended", minimum=0, maximum=1000
                )
            if (
                e.sessions_offered is not None
                and e.sessions_attended is not None
                and e.sessions_attended > e.sessions_offered
            ):
                raise StoreValidationError("sessions_attended", "is more than sessions offered")
            if "fidelity_notes" in changes:
                e.fidelity_notes = v.text(
                    changes["fidelity_notes"], "fidelity_notes", max_len=10000, required=False
                )
            if "end" in changes:
                e.end_date = v.a_date(changes["end"], "end")
                if e.end_date and e.end_date < e.start_date:
                    raise StoreValidationError("end", "is before the episode started")
            if "end_reason" in changes:
                e.end_reason = v.text(
                    changes["end_reason"], "end_reason", max_len=1000, required=False
                )
            s.flush()
            out = shared.episode_dict(e)
            fam = s.get(Family, e.family_id)
            audit.append(s, actor=actor, action="update", entity="episode", entity_id=e.id,
                         family_id=e.family_id, site_id=fam.site_id if fam else None,
                         before=before, after=out, reason=reason)
            return out


def _insert_audited(s: Session, actor: Actor, fam: Family, row: Any, entity: str,
                    view: Callable[[Any], dict], *, record: bool = False) -> dict:
    """Insert ``row`` (a record of family ``fam``) and audit its creation with ``view(row)``,
    which it returns; ``record``: an immutable record whose digest the audit entry keeps."""
    s.add(row)
    s.flush()
    out = view(row)
    audit.append(s, actor=actor, action="create", entity=entity, entity_id=row.id, family=fam,
                 after=out, record_hash=audit.record_digest(entity, row) if record else None)
    return out
