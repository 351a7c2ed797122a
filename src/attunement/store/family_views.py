"""Reading families: caseload pages, the family record and the family document."""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, false, or_, select, union_all
from sqlalchemy.orm import Session

from attunement import policy
from attunement.store import audit, blind, caseload, research_view, schedule_summary, shared
from attunement.store.core import Core
from attunement.store.models.accounts import Site, Study, TimePoint
from attunement.store.models.assessments import Assessment
from attunement.store.models.care import Alert, Consent, Episode
from attunement.store.models.families import Caregiver, Family, Identity, IdentityLookup, Infant
from attunement.store.models.observations import ObservationSession
from attunement.store.research_view import coded_context, coded_variants
from attunement.store.scope import (
    Actor,
    get_scoped,
    scoped,
)


class FamilyViews:
    """What is read about families: the caseload, one family, and its screening document.

    Each read is restricted to the families in the ``actor``'s scope; identifiers are
    decrypted only for clinical roles (and that view is audited), and researchers get
    pseudonymised records without dates. Reached as ``store.families.caseload_page`` and so on.

    Examples
    --------
    >>> page = store.families.caseload_page(lead, limit=10)
    >>> page["counts"], page["next"]
    ({'families': 1, 'urgent': 0, 'overdue': 1}, None)
    >>> [(f["family_id"], len(f["overdue"])) for f in page["items"]]
    [('N-001', 5)]
    >>> [f["family_id"] for f in store.families.list_families(practitioner, q="Example")]
    ['N-001']
    >>> store.families.get_family(practitioner, family)["infant"]["due_date"]
    '2026-09-20'
    >>> from attunement.risk.profile import REVIEW_KEY
    >>> from attunement.usecases.families import known_variants
    >>> store.families.family_document(researcher, family, review_key=REVIEW_KEY,
    ...                                known_variants=known_variants)["family_id"]
    'F...'
    """

    def __init__(self, core: Core) -> None:
        self.core = core

    def list_families(self, actor: Actor, *, q: str | None = None) -> list[dict]:
        """List the actor's whole caseload (every page of :meth:`caseload_page`, without filters).

        Parameters
        ----------
        actor : Actor
            Whose caseload.
        q : str, optional
            A search, as for :meth:`caseload_page` (audited for clinical roles).

        Returns
        -------
        list of dict
            The caseload's items, urgent first, then most overdue, then by family code.
        """
        today = schedule_summary.today()
        by_code = not policy.pseudonymised(actor)
        needle = (q or "").strip()
        rows: list[dict] = []
        with schedule_summary.fresh_read(self.core.db, today) as s:
            search = self._search_clause(actor, needle) if needle else None
            sub = caseload.page_rows(s, actor, today, caseload.Filters(), search).subquery()
            found = list(s.execute(select(sub).order_by(*caseload.order(sub, True, by_code))))
            # the rows' details a chunk of ids at a time (never one id list per family)
            for start in range(0, len(found), caseload.MAX_PAGE):
                rows += self._caseload_items(
                    s, actor, found[start:start + caseload.MAX_PAGE], today
                )
        if needle and actor.sees_identifiers:
            with self.core.db.write() as s:
                audit.append(
                    s, actor=actor, action="search", entity="family", after={"results": len(rows)}
                )
        return rows

    def caseload_page(
        self, actor: Actor, *, q: str | None = None, cursor: str | None = None,
        limit: int | None = None, mine: bool = False, overdue: bool = False,
        urgent: bool = False, study: int | None = None, time_point: str | None = None,
        counts: bool = True,
    ) -> dict:
        """Give one page of the caseload: urgent alerts first, then most overdue, then by code.

        Researchers' pages are ordered by record id, as their codes are pseudonyms.

        Parameters
        ----------
        actor : Actor
            Whose caseload.
        q : str, optional
            A family code (exact, or its beginning); for clinical roles also a name (whole or
            one word), NHS number or date of birth, matched exactly through the blind index
            (audited); for researchers their pseudonymous family id.
        cursor : str, optional
            ``next`` or ``previous`` from an earlier page.
        limit : int, optional
            Families per page (default 50, at most 500).
        mine : bool, default False
            Only families the actor registered.
        overdue, urgent : bool, default False
            Only families with an overdue item, or with an open urgent alert.
        study : int, optional
            Only families in this study (id).
        time_point : str, optional
            Only families with an item due or overdue at this time point.
        counts : bool, default True
            Also count the filtered list.

        Returns
        -------
        dict
            ``items`` (each: ``id``, ``site``, ``family_id``, ``study``, ``n_caregivers``,
            ``open_alerts``, ``due``, ``overdue``, ``last_assessed``), ``next`` and
            ``previous`` cursors, and ``counts`` (``families``, ``urgent``, ``overdue``).

        Raises
        ------
        StoreValidationError
            For a bad cursor or limit.
        """
        size = caseload.page_size(limit)
        filters = caseload.Filters(mine=bool(mine), overdue=bool(overdue), urgent=bool(urgent),
                                   study_id=study, time_point=time_point)
        by_code = not policy.pseudonymised(actor)
        today = schedule_summary.today()
        after, key = True, None
        if cursor:
            after, key = caseload.decode_cursor(cursor, "families", (int, int, str, int))
        needle = (q or "").strip()
        with schedule_summary.fresh_read(self.core.db, today) as s:
            search = self._search_clause(actor, needle) if needle else None
            hits = None
            if search is not None:
                # resolve the matches first (indexed); a search matching more than a page
                # keeps the clause itself
                hits = list(s.execute(
                    scoped(select(Family.id), actor).where(search).limit(caseload.MAX_PAGE + 1)
                ).scalars())
                if len(hits) > caseload.MAX_PAGE:
                    hits = None
            base = caseload.page_rows(s, actor, today, filters,
                                      search if hits is None else None, ids=hits)
            rows = base.subquery("rows")
            # a page is a range of the summary's order index
            page_stmt = select(rows)
            if key is not None:
                page_stmt = page_stmt.where(caseload.keyset(rows, key, after, by_code))
            page_stmt = page_stmt.order_by(*caseload.order(rows, after, by_code)).limit(size + 1)
            found = list(s.execute(page_stmt).all())
            more = len(found) > size
            found = found[:size]
            if not after:
                found.reverse()
            summary = caseload.counts(
                s, actor, filters, base if search is not None else None) if counts else None
            items = self._caseload_items(s, actor, found, today)
        if needle and actor.sees_identifiers:
            with self.core.db.write() as s:
                audit.append(
                    s, actor=actor, action="search", entity="family",
                    after={"results": summary["families"] if summary else len(items)},
                )
        keys = [caseload.sort_key(r, by_code) for r in found]
        has_next = more if after else key is not None
        has_prev = (key is not None) if after else more
        return {
            "items": items,
            "next": caseload.encode_cursor("families", "after", keys[-1])
            if found and has_next else None,
            "previous": caseload.encode_cursor("families", "before", keys[0])
            if found and has_prev else None,
            "counts": summary,
        }

    def _search_clause(self, actor: Actor, needle: str) -> Any:
        """Which families match a search, as an indexed WHERE clause (never a scan that
        decrypts): code equal to or beginning with the text (as typed or upper case), or a
        blind-index digest of the text as a name, NHS number or date of birth."""
        if policy.pseudonymised(actor):
            return self._pseudonym_clause(actor, needle)
        ranges = [
            and_(Family.code >= text, Family.code < text + "\U0010ffff")
            for text in sorted({needle, needle.upper()})
        ]
        hits: Any = select(Family.id).where(or_(*ranges))  # ix_families_code
        if actor.sees_identifiers:
            keys = self.core.keyring()
            digests = [keys.blind_index(f, val) for f, val in blind.query_values(needle)]
            if digests:
                # a union of the two index look-ups: an OR of the code ranges and the
                # digests' sub-select would be a scan of every family (PostgreSQL)
                hits = union_all(hits, select(IdentityLookup.family_id).where(
                    IdentityLookup.digest.in_(digests)))
        return Family.id.in_(hits)

    def _pseudonym_clause(self, actor: Actor, needle: str) -> Any:
        """Researchers find a family by its whole pseudonymous id (a keyed hash, which no
        index can hold): their studies' record ids are hashed here, nothing is decrypted."""
        keys = self.core.keyring()
        wanted = needle.upper()
        with self.core.db.read() as s:
            rows = s.execute(scoped(select(Family.id, Family.study_id), actor)).all()
        hits = [
            fid for fid, study in rows
            if keys.pseudonym(study or "none", "family", fid).upper() == wanted
        ]
        return Family.id.in_(hits) if hits else false()

    def _caseload_items(self, s: Session, actor: Actor, found: list, today: date) -> list[dict]:
        """The page's rows in full: schedule items by the reference rule (``_schedule``) for
        these families only (at most one page of ids)."""
        if not found:
            return []
        ids = [r.id for r in found]
        fams = {f.id: f for f in s.execute(select(Family).where(Family.id.in_(ids))).scalars()}
        sites = dict(s.execute(select(Site.id, Site.name)).all())
        studies = dict(s.execute(select(Study.id, Study.name)).all())
        carers: dict[int, list[Caregiver]] = {}
        for cg in s.execute(
            select(Caregiver).where(Caregiver.family_id.in_(ids)).order_by(Caregiver.id)
        ).scalars():
            carers.setdefault(cg.family_id, []).append(cg)
        infants = {
            i.family_id: i
            for i in shared.with_birth_dates(self.core,
                s, s.execute(
                    select(Infant).where(Infant.family_id.in_(ids)).order_by(Infant.id)
                ).scalars()
            )
        }
        done = set(
            s.execute(
                select(Assessment.caregiver_id, Assessment.instrument, Assessment.time_point)
                .where(Assessment.family_id.in_(ids))
                .distinct()
            ).all()
        )
        schedules: dict[int, list[TimePoint]] = {}
        for tp in s.execute(select(TimePoint).order_by(TimePoint.position)).scalars():
            schedules.setdefault(tp.study_id, []).append(tp)
        pseudo = policy.pseudonymised(actor)
        out = []
        for r in found:
            f = fams[r.id]
            active = [c for c in carers.get(f.id, []) if c.left_on is None]
            due, overdue = shared.schedule(
                f, infants.get(f.id), active, schedules.get(f.study_id or -1, []), done, today
            )
            if pseudo:
                due = shared.pseudo_schedule(self.core, f, due, active)
                overdue = shared.pseudo_schedule(self.core, f, overdue, active)
            out.append({
                "id": f.id,
                "site": sites[f.site_id],
                "site_id": f.site_id,
                "family_id": (self.core.keyring().pseudonym(f.study_id or "none", "family", f.id)
                              if pseudo else f.code),
                "study": studies.get(f.study_id) if f.study_id else None,
                "n_caregivers": len(active),
                "open_alerts": int(r.open_alerts),
                "due": due,
                "overdue": overdue,
                "last_assessed": None if pseudo or r.last_assessed is None
                else shared.iso(r.last_assessed),
            })
        return out

    def get_family(self, actor: Actor, family_id: int, *,
                   programmes: Collection[str] = ()) -> dict:
        """Give one family's record, as the family page shows it.

        Identifiers are decrypted only for clinical roles in scope, and that view is audited;
        researchers get a pseudonymised view without dates.

        Parameters
        ----------
        actor : Actor
            Who reads (identifiers for clinical roles only, audited).
        family_id : int
            The family's id.
        programmes : collection of str, optional
            The intervention catalogue's programme ids
            (:func:`attunement.usecases.families.get_family` passes them): in a researcher's
            view an episode's programme is named only when it is one of these, else "other".

        Returns
        -------
        dict
            Infant, caregivers, every assessment version, alerts, consents, episodes,
            observation sessions, and the schedule's ``due`` and ``overdue`` items.

        Raises
        ------
        NotFound
            For a family outside the actor's scope, or none with that id.
        """
        with self.core.db.read() as s:
            fam = get_scoped(s, actor, Family, family_id, what="family")
            doc = self.family_doc(s, actor, fam, programmes=programmes)
            show_ids = (
                actor.sees_identifiers
                and s.execute(
                    select(Identity.id).where(Identity.family_id == fam.id).limit(1)
                ).first()
                is not None
            )
        if show_ids:
            with self.core.db.write() as s:
                audit.append(s, actor=actor, action="view_identifiers", entity="family",
                             entity_id=doc["id"], family_id=doc["id"], site_id=doc["site_id"])
        return doc

    def family_doc(self, s: Session, actor: Actor, fam: Family, *,
                   programmes: Collection[str] = ()) -> dict:
        """Build a family's record inside the caller's transaction (see :meth:`get_family`).

        No audit row is written here: callers that show identifiers write it.

        Parameters
        ----------
        s : Session
            A database transaction.
        actor : Actor
            Who reads.
        fam : Family
            The family row, already checked to be in scope.
        programmes : collection of str, optional
            The catalogue's programme ids, as for :meth:`get_family`.

        Returns
        -------
        dict
            The record, as :meth:`get_family` returns it.
        """
        site = s.get(Site, fam.site_id)
        study = s.get(Study, fam.study_id) if fam.study_id else None
        infant = next(iter(shared.infants_of(self.core, s, fam.id)), None)
        carers = list(
            s.execute(
                select(Caregiver).where(Caregiver.family_id == fam.id).order_by(Caregiver.id)
            ).scalars()
        )
        ids = shared.identities(self.core, s, fam.id) if actor.sees_identifiers else {}
        by_pk = {c.id: c for c in carers}
        assessments = [
            shared.assessment_dict(a, by_pk[a.caregiver_id])
            for a in s.execute(
                select(Assessment)
                .where(Assessment.family_id == fam.id)
                .order_by(Assessment.submitted_at, Assessment.id)
            ).scalars()
        ]
        by_assessment = {a["id"]: a for a in assessments}
        alerts = [
            shared.alert_dict(
                a, fam, by_pk[a.caregiver_id], shared.AssessmentRef(by_assessment.get(a.assessment_id))
            )
            for a in s.execute(
                select(Alert).where(Alert.family_id == fam.id).order_by(Alert.id.desc())
            ).scalars()
        ]
        episodes = [
            shared.episode_dict(e)
            for e in s.execute(
                select(Episode).where(Episode.family_id == fam.id).order_by(Episode.id)
            ).scalars()
        ]
        sessions = [
            shared.observation_dict(self.core, o)
            for o in s.execute(
                select(ObservationSession)
                .where(ObservationSession.family_id == fam.id)
                .order_by(ObservationSession.id)
            ).scalars()
        ]
        keys_of = {c.id: c.key for c in carers}
        consents = [
            shared.consent_dict(c, keys_of.get(c.caregiver_id))
            for c in s.execute(
                select(Consent).where(Consent.family_id == fam.id).order_by(Consent.id)
            ).scalars()
        ]
        infant_doc: dict[str, Any] = {}
        if infant is not None:
            infant_doc = {
                "pk": infant.id,
                "due_date": shared.iso(infant.due_date),
                "date_of_birth": shared.iso(infant.birth_date),
                "gestational_age_at_birth_weeks": infant.gestation_weeks,
            }
            if actor.sees_identifiers:
                infant_doc["identifiers"] = {
                    k: val
                    for k, val in ids.get(("infant", infant.id), {}).items()
                    if k != "date_of_birth"
                }
        caregivers = [
            shared.caregiver_dict(
                c, ids.get(("caregiver", c.id), {}) if actor.sees_identifiers else None
            )
            for c in carers
        ]
        tps = (
            list(
                s.execute(
                    select(TimePoint)
                    .where(TimePoint.study_id == fam.study_id)
                    .order_by(TimePoint.position)
                ).scalars()
            )
            if fam.study_id
            else []
        )
        done = {
            (a.caregiver_id, a.instrument, a.time_point)
            for a in s.execute(select(Assessment).where(Assessment.family_id == fam.id)).scalars()
        }
        due, overdue = shared.schedule(
            fam,
            infant,
            [c for c in carers if c.left_on is None],
            tps,
            done,
            schedule_summary.today(),
        )
        doc = {
            "id": fam.id,
            "family_id": fam.code,
            "site": site.name if site else None,
            "site_id": fam.site_id,
            "study": study.name if study else None,
            "study_id": fam.study_id,
            "placement": fam.placement,
            "context": dict(fam.context or {}),
            "assessed_on": shared.iso(fam.assessed_on),
            "created_at": fam.created_at.isoformat(),
            "registered_on": shared.iso(fam.registered_on),
            "infant": infant_doc,
            "caregivers": caregivers,
            "assessments": assessments,
            "alerts": alerts,
            "episodes": episodes,
            "observation_sessions": sessions,
            "consents": consents,
            "due": due,
            "overdue": overdue,
        }
        if policy.pseudonymised(actor):
            doc = self._pseudonymise_doc(s, doc, fam, infant, carers, programmes)
        return doc

    def _pseudonymise_doc(
        self, s: Session, doc: dict, fam: Family, infant: Infant | None,
        carers: list[Caregiver], programmes: Collection[str],
    ) -> dict:
        """A researcher's family document: an allow-list, never the clinical one trimmed."""
        view = research_view.for_family(self.core, s, fam, infant, carers, programmes=programmes)
        return view.family(
            doc,
            family_pk=fam.id,
            birth_day_from_due_date=(infant.birth_date - infant.due_date).days
            if infant and infant.birth_date and infant.due_date
            else None,
            due=shared.pseudo_schedule(self.core, fam, doc["due"], carers),
            overdue=shared.pseudo_schedule(self.core, fam, doc["overdue"], carers),
        )

    def family_document(self, actor: Actor, family_id: int, *, review_key: str,
                        known_variants: Callable[[str], Collection[str]]) -> dict:
        """Give the family's screening family file, ready for ``attunement.risk.profile``.

        It holds the latest answers per current caregiver and instrument (the latest
        correction), and the safety review's state.

        Parameters
        ----------
        actor : Actor
            Who reads; a researcher gets it pseudonymised, dates shifted by the family's secret
            offset (ages and intervals unchanged).
        family_id : int
            The family whose file is built.
        review_key : str
            The family-level answer that records the safety review (the risk library's
            ``REVIEW_KEY``; :func:`attunement.usecases.profiles.family_document` passes it):
            false while an urgent alert is open.
        known_variants : callable
            The form variants an instrument's definition names, the only ones a researcher's
            document keeps (:func:`attunement.store.research_view.coded_variants`).

        Returns
        -------
        dict
            ``family_id``, ``assessed_on``, ``infant``, ``placement``, ``context``,
            ``caregivers``.

        Raises
        ------
        NotFound
            When no family with that id is in the actor's scope.
        """
        with self.core.db.read() as s:
            fam = get_scoped(s, actor, Family, family_id, what="family")
            infant = next(iter(shared.infants_of(self.core, s, fam.id)), None)
            carers = list(
                s.execute(
                    select(Caregiver)
                    .where(Caregiver.family_id == fam.id, Caregiver.left_on.is_(None))
                    .order_by(Caregiver.id)
                ).scalars()
            )
            latest = self._latest_assessments(s, fam.id)
            review = self._safety_review(s, fam.id)
            pseudo = policy.pseudonymised(actor)
            code = (
                self.core.keyring().pseudonym(fam.study_id or "none", "family", fam.id)
                if pseudo
                else fam.code
            )
            # researchers get dates moved by a secret per-family shift: intervals (ages) hold
            shift = (
                timedelta(days=self.core.keyring().day_shift(fam.study_id or "none", fam.id))
                if pseudo
                else timedelta(0)
            )
            infant_doc: dict[str, Any] = {}
            if infant is not None and infant.birth_date:
                infant_doc["date_of_birth"] = (infant.birth_date - shift).isoformat()
            elif infant is not None and infant.due_date:
                infant_doc["due_date"] = (infant.due_date - shift).isoformat()
            if infant is not None and infant.gestation_weeks is not None:
                infant_doc["gestational_age_at_birth_weeks"] = infant.gestation_weeks
            newest = max((a.completed_on for a in latest), default=None)
            assessed = fam.assessed_on or newest or datetime.now(UTC).date()
            if newest and newest > assessed:
                assessed = newest
            assessed -= shift
            caregivers = []
            for c in carers:
                responses = {
                    a.instrument: list(self._item_scores(a))
                    for a in latest
                    if a.caregiver_id == c.id
                }
                entry: dict[str, Any] = {
                    "id": c.key
                    if not policy.pseudonymised(actor)
                    else self.core.keyring().pseudonym(fam.study_id or "none", "caregiver", c.id),
                    "role": c.role,
                    "context": dict(c.context or {}),
                    "responses": responses,
                }
                if review is False:
                    entry["context"].pop(review_key, None)
                if c.age is not None:
                    entry["age"] = c.age
                if c.first_time_parent is not None:
                    entry["first_time_parent"] = c.first_time_parent
                if c.variants:
                    entry["variants"] = dict(c.variants)
                if pseudo:  # researchers: coded answers and known form variants only
                    entry["context"] = coded_context(entry["context"])
                    entry["variants"] = coded_variants(entry.get("variants"), known_variants)
                    if not entry["variants"]:
                        entry.pop("variants")
                caregivers.append(entry)
            context = dict(fam.context or {})
            if review is not None:
                context[review_key] = review
            return {
                "family_id": code,
                "assessed_on": assessed.isoformat(),
                "infant": infant_doc,
                "placement": fam.placement,
                "context": coded_context(context) if pseudo else context,
                "caregivers": caregivers,
            }

    def _safety_review(self, s: Session, family_id: int) -> bool | None:
        """Whether the family's urgent alerts have a recorded safety review: False while any is
        open (whatever a recorded answer says), True when all are acknowledged and at least one
        with an outcome, None when the family has no urgent alert (recorded answers decide)."""
        urgent = [a for a in s.execute(select(Alert).where(Alert.family_id == family_id)).scalars()
                  if shared.urgent_alert(a)]
        if not urgent:
            return None
        if any(a.status == "open" for a in urgent):
            return False
        return any(a.outcome for a in urgent)

    def _latest_assessments(self, s: Session, family_id: int) -> list[Assessment]:
        """Per caregiver x instrument: the newest submission, in its latest version."""
        rows = list(
            s.execute(
                select(Assessment).where(Assessment.family_id == family_id).order_by(Assessment.id)
            ).scalars()
        )
        current = shared.current(rows)
        best: dict[tuple[int, str], Assessment] = {}
        for a in current:
            key = (a.caregiver_id, a.instrument)
            first = self._series_start(rows, a)
            if key not in best or (first.completed_on, first.id) >= (
                self._series_start(rows, best[key]).completed_on,
                self._series_start(rows, best[key]).id,
            ):
                best[key] = a
        return list(best.values())

    @staticmethod
    def _series_start(rows: list[Assessment], a: Assessment) -> Assessment:
        by_id = {r.id: r for r in rows}
        while a.corrected_from is not None and a.corrected_from in by_id:
            a = by_id[a.corrected_from]
        return a

    @staticmethod
    def _item_scores(a: Assessment) -> list[int | None]:
        return list(a.item_scores)
