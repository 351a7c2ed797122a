"""Families: the caseload, registration, caregivers joining and leaving, and the screening
results (vulnerability profile and matched interventions, from :mod:`attunement.usecases.profiles`).
"""

from __future__ import annotations

from fastapi import HTTPException, Path, Query, Request

from attunement.usecases import families as uc_families
from attunement.usecases import profiles
from attunement.web import content
from attunement.web.api._router import ApiRouter
from attunement.web.deps import CurrentActor, StoreDep
from attunement.web.schemas import (
    CaregiverEndIn,
    CaregiverIn,
    CaregiverOut,
    FamilyIn,
    FamilyOut,
    FamilyPage,
    Json,
    MatchesOut,
    ProfileOut,
)

router = ApiRouter()


@router.get("/families", response_model=FamilyPage, tags=["families"])
def list_families(
    *,
    q: str | None = Query(
        None, description="Family code (or its beginning); for clinical roles also an exact "
        "name, one word of a name, NHS number or date of birth (YYYY-MM-DD)"
    ),
    cursor: str | None = Query(None, description="A `next` or `previous` cursor"),
    limit: int = Query(50, ge=1, le=500, description="Page size"),
    mine: bool = Query(False, description="Only families I registered"),
    overdue: bool = Query(False, description="Only families with overdue assessments"),
    urgent: bool = Query(False, description="Only families with open urgent flags"),
    study: int | None = Query(None, description="Only families of this study (id)"),
    time_point: str | None = Query(None, description="Only families due or overdue here"),
    actor: CurrentActor,
    store: StoreDep,
) -> Json:
    """The caseload in pages: urgent first, then most overdue, then by family code
    (researchers: their studies' families, pseudonymised)."""
    return store.families.caseload_page(
        actor, q=q, cursor=cursor, limit=limit, mine=mine, overdue=overdue, urgent=urgent,
        study=study, time_point=time_point,
    )


@router.answers("POST", "/families", FamilyOut, status_code=201, tags=["families"])
def create_family(family: FamilyIn, actor: CurrentActor, store: StoreDep) -> Json:
    """Register a family from the screening family file; returns it with its ``id``."""
    return uc_families.register_family(store, actor, family.model_dump(mode="json", exclude_none=True))


@router.answers("GET", "/families/{family_id}", FamilyOut, tags=["families"])
def get_family(family_id: int, actor: CurrentActor, store: StoreDep) -> Json:
    """One family's record: infant, caregivers, assessments, alerts, episodes, consents and the
    assessments due or overdue. Pseudonymised for researchers; 404 outside your sites or studies.
    """
    return uc_families.get_family(store, actor, family_id)


@router.answers("POST", "/families/{family_id}/caregivers", CaregiverOut, status_code=201,
                tags=["families"])
def add_caregiver(
    family_id: int,
    caregiver: CaregiverIn,
    actor: CurrentActor,
    store: StoreDep,
) -> Json:
    """A caregiver joins the family."""
    return uc_families.add_caregiver(store, actor, family_id, caregiver.model_dump(mode="json", exclude_none=True))


@router.answers("POST", "/families/{family_id}/caregivers/{caregiver_id}/end", CaregiverOut,
                tags=["families"])
def end_caregiver(
    *,
    family_id: int,
    body: CaregiverEndIn,
    caregiver_id: str = Path(description="The caregiver's id in the family, e.g. 'father'"),
    actor: CurrentActor,
    store: StoreDep,
) -> Json:
    """A caregiver leaves the family (kept in the record, with the reason)."""
    return store.families.end_caregiver(actor, family_id, caregiver_id, reason=body.reason)


def _with_urgency(out: Json, request: Request) -> Json:
    """Add what an urgent result needs on every face: the urgency's first action and the
    service's crisis contacts (the same as ``attunement profile`` / ``match`` and the page)."""
    level = content.urgency_level(out.get("urgency", "none"))
    out["urgency_action"] = level["action"] if level else None
    out["crisis_contacts"] = request.app.state.settings.crisis_contacts if level else []
    return out


@router.answers("GET", "/families/{family_id}/profile", ProfileOut, tags=["screening"])
def profile(family_id: int, request: Request, actor: CurrentActor, store: StoreDep) -> Json:
    """The family's vulnerability profile: tier, urgency (none, same-day, emergency) with its
    first action and crisis contacts, factors, treatment routes and prompts."""
    return _with_urgency(profiles.family_profile(store, actor, family_id), request)


@router.answers("GET", "/families/{family_id}/matches", MatchesOut, tags=["screening"])
def matches(family_id: int, request: Request, actor: CurrentActor, store: StoreDep) -> Json:
    """Matched attachment-informed interventions with reasons and evidence; ``held`` (with
    ``held_reason``) while an urgent flag is open and no safety review is recorded."""
    result = profiles.family_matches(store, actor, family_id)
    if result is None:
        raise HTTPException(503, "intervention matching is not installed")
    return _with_urgency(result, request)
