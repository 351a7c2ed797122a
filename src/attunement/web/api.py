"""The JSON API: everything the pages can do, for programs. Documented at ``/docs``.

Paths other tools rely on: ``POST /api/token``, ``GET|POST /api/families``,
``GET /api/families/{id}``, ``POST /api/families/{id}/assessments``,
``GET /api/families/{id}/profile``, ``GET /api/families/{id}/matches``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from fastapi import (
    APIRouter,
    Depends,
    File,
    Form,
    Header,
    HTTPException,
    Path,
    Query,
    Request,
    UploadFile,
)
from fastapi.responses import Response
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from attunement.store import SAFETY_REVIEW_OUTCOMES, Actor, Store, StoreValidationError
from attunement.web import domain, exports, submissions
from attunement.web.deps import api_actor, get_store, oauth2
from attunement.web.guard import check_json, client_address
from attunement.web.submissions import MAX_RECORD_ID

router = APIRouter(prefix="/api")

Json = dict[str, Any]

try:  # orjson, when installed, serialises the busiest response several times faster
    from orjson import dumps as _dumps
except ImportError:  # pragma: no cover
    import json

    def _dumps(value: Any) -> bytes:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"


class CaregiverIn(BaseModel):
    """One caregiver of the family file (risk/family.schema.json) with optional identifiers."""

    model_config = ConfigDict(extra="allow")
    id: str = Field(description="Caregiver id within the family, e.g. 'mother' or 'cg1'")
    role: str = Field(
        description="birth_mother, birth_father, co_parent, foster_carer, adoptive_parent, "
        "kinship_carer or other"
    )
    age: int | None = None
    first_time_parent: bool | None = None
    context: dict[str, bool] = Field(default_factory=dict)
    responses: dict[str, list[int | None]] = Field(default_factory=dict)
    name: str | None = Field(None, description="Identifier: encrypted at rest")
    date_of_birth: dt.date | None = Field(None, description="Identifier: encrypted at rest")
    nhs_number: str | None = Field(None, description="Identifier: encrypted at rest")


class FamilyIn(BaseModel):
    """The screening family file plus the site (name or id) and optional identifiers."""

    model_config = ConfigDict(extra="allow")
    site: str | int
    family_id: str = Field(description="The study code of the family (not an identifier)")
    study: str | int | None = None
    assessed_on: dt.date | None = None
    infant: dict[str, Any] = Field(
        default_factory=dict,
        description="date_of_birth or due_date; optional gestation, name, nhs_number",
    )
    placement: str = "birth_family"
    context: dict[str, bool] = Field(default_factory=dict)
    caregivers: list[CaregiverIn]


class AssessmentIn(BaseModel):
    caregiver: str = Field(description="Caregiver id within the family")
    instrument: str = Field(description="Instrument id, e.g. 'epds'")
    time_point: str = Field(description="Time point name, e.g. 'antenatal' or '6w'")
    responses: list[int | None] = Field(description="Item scores in item order (null = missing)",
                                        max_length=submissions.MAX_RESPONSES)
    input: Literal["scores", "positions"] = "scores"


class CorrectionIn(BaseModel):
    responses: list[int | None] = Field(max_length=submissions.MAX_RESPONSES)
    reason: str = Field(min_length=1)
    input: Literal["scores", "positions"] = "scores"


class LinkIn(BaseModel):
    caregiver: str
    instrument: str
    time_point: str
    hours: int = Field(72, ge=1, le=24 * 14)


class LinkOut(BaseModel):
    token: str
    url: str
    expires_in_hours: int


class LinkSubmitIn(BaseModel):
    responses: list[int | None]


class AcknowledgeIn(BaseModel):
    note: str = Field(min_length=1, description="What was done")
    outcome: str = Field(
        description="The safety review's outcome; any outcome records the review, which releases "
        "the hold on intervention matching",
        json_schema_extra={"enum": list(SAFETY_REVIEW_OUTCOMES)},
    )


class EpisodeIn(BaseModel):
    programme: str
    start: dt.date
    caregivers: list[str] = Field(default_factory=list)


class EpisodeUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sessions_offered: int | None = Field(None, ge=0)
    sessions_attended: int | None = Field(None, ge=0)
    fidelity_notes: str | None = None
    end: dt.date | None = None
    end_reason: str | None = None
    reason: str | None = Field(None, description="Why the record changed (audit log)")


class CaregiverEndIn(BaseModel):
    reason: str = Field(min_length=1)


class SiteIn(BaseModel):
    name: str = Field(min_length=1)


class UserIn(BaseModel):
    email: str
    role: Literal["admin", "practitioner", "site_lead", "researcher"]
    sites: list[str] = Field(default_factory=list)
    studies: list[str] = Field(default_factory=list, description="Studies a researcher sees")
    password: str = Field(min_length=8, max_length=1024)


class TimePointIn(BaseModel):
    name: str
    offset_days: int
    window_days: int = Field(ge=0)
    instruments: list[str]


class StudyIn(BaseModel):
    name: str = Field(min_length=1)
    sites: list[str]
    time_points: list[TimePointIn]


# --- auth -----------------------------------------------------------------------------------


@router.post("/token", response_model=TokenOut, tags=["auth"])
def token(
    request: Request,
    form: OAuth2PasswordRequestForm = Depends(),
    store: Store = Depends(get_store),
) -> TokenOut:
    """Exchange email and password for a bearer token (OAuth2 password flow)."""
    actor = store.accounts.authenticate(form.username, form.password, client=client_address(request))
    return TokenOut(access_token=store.accounts.create_api_token(actor))


@router.get("/me", tags=["auth"])
def me(actor: Actor = Depends(api_actor)) -> Json:
    """Who the token belongs to: email, role, sites and studies."""
    return {
        "email": actor.email,
        "role": actor.role,
        "site_ids": sorted(actor.site_ids),
        "study_ids": sorted(actor.study_ids),
    }


# --- families -------------------------------------------------------------------------------


class ScheduleItemOut(BaseModel):
    """One caregiver x instrument x time point still to do (researchers: pseudonymous)."""

    caregiver: str
    caregiver_role: str
    instrument: str
    time_point: str
    target: str | None = None
    window_closes: str | None = None


class FamilyRowOut(BaseModel):
    id: int
    site: str
    site_id: int
    family_id: str = Field(description="Study code (researchers: a pseudonym)")
    study: str | None
    n_caregivers: int
    open_alerts: int
    due: list[ScheduleItemOut]
    overdue: list[ScheduleItemOut]
    last_assessed: str | None


class CaseloadCounts(BaseModel):
    families: int
    urgent: int
    overdue: int


class FamilyPage(BaseModel):
    items: list[FamilyRowOut]
    next: str | None = Field(description="Cursor of the next page (pass as ?cursor=), or null")
    previous: str | None = Field(description="Cursor of the previous page, or null")
    counts: CaseloadCounts | None = None


class AlertOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: int
    family: int
    family_id: str
    site_id: int
    caregiver: str
    kind: str
    label: str
    status: str
    urgent: bool
    created_at: str


class AlertPage(BaseModel):
    items: list[AlertOut]
    next: str | None = Field(description="Cursor of the next page (pass as ?cursor=), or null")
    previous: str | None = Field(description="Cursor of the previous page, or null")


@router.get("/families", response_model=FamilyPage, tags=["families"])
def list_families(
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
    actor: Actor = Depends(api_actor),
    store: Store = Depends(get_store),
) -> Json:
    """The caseload in pages: urgent first, then most overdue, then by family code
    (researchers: their studies' families, pseudonymised)."""
    return store.families.caseload_page(
        actor, q=q, cursor=cursor, limit=limit, mine=mine, overdue=overdue, urgent=urgent,
        study=study, time_point=time_point,
    )


@router.post("/families", status_code=201, tags=["families"])
def create_family(
    family: FamilyIn, actor: Actor = Depends(api_actor), store: Store = Depends(get_store)
) -> Json:
    """Register a family from the screening family file; returns it with its ``id``."""
    return store.families.create_family(actor, family.model_dump(mode="json", exclude_none=True))


@router.get("/families/{family_id}", tags=["families"])
def get_family(
    family_id: int, actor: Actor = Depends(api_actor), store: Store = Depends(get_store)
) -> Json:
    return store.families.get_family(actor, family_id)


@router.post("/families/{family_id}/caregivers", status_code=201, tags=["families"])
def add_caregiver(
    family_id: int,
    caregiver: CaregiverIn,
    actor: Actor = Depends(api_actor),
    store: Store = Depends(get_store),
) -> Json:
    """A caregiver joins the family."""
    return store.families.add_caregiver(actor, family_id, caregiver.model_dump(mode="json", exclude_none=True))


@router.post("/families/{family_id}/caregivers/{caregiver_id}/end", tags=["families"])
def end_caregiver(
    family_id: int,
    body: CaregiverEndIn,
    caregiver_id: str = Path(description="The caregiver's id in the family, e.g. 'father'"),
    actor: Actor = Depends(api_actor),
    store: Store = Depends(get_store),
) -> Json:
    """A caregiver leaves the family (kept in the record, with the reason)."""
    return store.families.end_caregiver(actor, family_id, caregiver_id, reason=body.reason)


def _with_urgency(out: Json, request: Request) -> Json:
    """Add what an urgent result needs on every face: the urgency's first action and the
    service's crisis contacts (the same as ``attunement profile`` / ``match`` and the page)."""
    level = domain.urgency_level(out.get("urgency", "none"))
    out["urgency_action"] = level["action"] if level else None
    out["crisis_contacts"] = request.app.state.settings.crisis_contacts if level else []
    return out


@router.get("/families/{family_id}/profile", tags=["screening"])
def profile(
    family_id: int, request: Request, actor: Actor = Depends(api_actor),
    store: Store = Depends(get_store),
) -> Json:
    """The family's vulnerability profile: tier, urgency (none, same-day, emergency) with its
    first action and crisis contacts, factors, treatment routes and prompts."""
    return _with_urgency(domain.profile(store.families.family_document(actor, family_id)), request)


@router.get("/families/{family_id}/matches", tags=["screening"])
def matches(
    family_id: int, request: Request, actor: Actor = Depends(api_actor),
    store: Store = Depends(get_store),
) -> Json:
    """Matched attachment-informed interventions with reasons and evidence; ``held`` (with
    ``held_reason``) while an urgent flag is open and no safety review is recorded."""
    result = domain.matches(store.families.family_document(actor, family_id))
    if result is None:
        raise HTTPException(503, "intervention matching is not installed")
    return _with_urgency(result, request)


# --- assessments ----------------------------------------------------------------------------


@router.get("/families/{family_id}/assessments", tags=["assessments"])
def list_assessments(
    family_id: int, actor: Actor = Depends(api_actor), store: Store = Depends(get_store)
) -> list[Json]:
    return store.assessments.list_assessments(actor, family_id)


@router.post("/families/{family_id}/assessments", status_code=201, tags=["assessments"])
async def add_assessment(
    family_id: int,
    body: AssessmentIn,
    request: Request,
    token: str | None = Depends(oauth2),
    idempotency_key: str | None = Header(
        None, alias="Idempotency-Key", max_length=100,
        description="Send the same key when retrying: the first submission is returned, "
        "never a duplicate.",
    ),
) -> Json:
    """Score and store one caregiver's answers; urgent flags become open alerts."""
    result = await request.app.state.group_commit.submit(submissions.Request(
        token, family_id, body.caregiver, body.instrument, body.time_point, body.responses,
        input=body.input, submission_key=idempotency_key))
    # the store's dict is plain JSON already: skip FastAPI's re-encoding and re-validation
    return Response(_dumps(result), status_code=201,  # type: ignore[return-value]
                    media_type="application/json")


@router.post("/assessments/{assessment_id}/corrections", status_code=201, tags=["assessments"])
def correct_assessment(
    assessment_id: int,
    body: CorrectionIn,
    actor: Actor = Depends(api_actor),
    store: Store = Depends(get_store),
) -> Json:
    """A correction is a new version with a reason; the original is never overwritten."""
    return store.assessments.correct_assessment(actor, assessment_id, body.responses, reason=body.reason)


# --- caregiver links ------------------------------------------------------------------------


@router.post("/families/{family_id}/links", status_code=201, tags=["caregiver links"])
def create_link(
    family_id: int,
    body: LinkIn,
    request: Request,
    actor: Actor = Depends(api_actor),
    store: Store = Depends(get_store),
) -> LinkOut:
    """A one-time link for one caregiver, one instrument and one time point."""
    secret = store.care.create_link(
        actor, family_id, body.caregiver, body.instrument, body.time_point, hours=body.hours
    )
    return LinkOut(token=secret, url=link_url(request, secret), expires_in_hours=body.hours)


@router.get("/links/{token}", tags=["caregiver links"])
def open_link(token: str, store: Store = Depends(get_store)) -> Json:
    """What a one-time link asks for (no account needed); 404 once used or expired."""
    info = store.care.open_link(token)
    return {**info, "questions": domain.questions(info["instrument"])}


@router.post("/links/{token}", status_code=201, tags=["caregiver links"])
def submit_link(
    token: str, body: LinkSubmitIn, request: Request, store: Store = Depends(get_store)
) -> Json:
    """A caregiver's answers through a one-time link; the link is used up atomically."""
    assessment = store.care.submit_link(token, body.responses)
    out: Json = {"received": True, "urgent": domain.is_urgent(assessment)}
    if domain.shows_crisis_contacts(assessment):
        out["crisis_contacts"] = request.app.state.settings.crisis_contacts
    return out


def link_url(request: Request, secret: str) -> str:
    base = request.app.state.settings.public_url or str(request.base_url).rstrip("/")
    return f"{base}/c/{secret}"


# --- alerts and episodes --------------------------------------------------------------------


@router.get("/alerts", response_model=AlertPage, tags=["alerts"])
def list_alerts(
    cursor: str | None = Query(None, description="A `next` or `previous` cursor"),
    limit: int = Query(50, ge=1, le=500, description="Page size"),
    actor: Actor = Depends(api_actor),
    store: Store = Depends(get_store),
) -> Json:
    """Open urgent flags in the actor's scope, newest first, in pages."""
    return store.care.alerts_page(actor, cursor=cursor, limit=limit)


@router.post("/alerts/{alert_id}/acknowledge", tags=["alerts"])
def acknowledge_alert(
    alert_id: int,
    body: AcknowledgeIn,
    actor: Actor = Depends(api_actor),
    store: Store = Depends(get_store),
) -> Json:
    """Record the safety review of an urgent flag: what was done and its outcome."""
    return store.care.acknowledge_alert(actor, alert_id, note=body.note, outcome=body.outcome)


@router.post("/families/{family_id}/episodes", status_code=201, tags=["episodes"])
def add_episode(
    family_id: int,
    body: EpisodeIn,
    actor: Actor = Depends(api_actor),
    store: Store = Depends(get_store),
) -> Json:
    """Start an intervention episode."""
    return store.care.add_episode(actor, family_id, body.programme, body.start, caregivers=body.caregivers)


@router.patch("/episodes/{episode_id}", tags=["episodes"])
def update_episode(
    episode_id: int,
    body: EpisodeUpdate,
    actor: Actor = Depends(api_actor),
    store: Store = Depends(get_store),
) -> Json:
    """Record sessions offered and attended, fidelity notes, or the end and its reason."""
    return store.care.update_episode(actor, episode_id, **body.model_dump(exclude_unset=True))


# --- consent and observation sessions -------------------------------------------------------


class ConsentIn(BaseModel):
    kind: str = Field(description="e.g. 'research', 'data_sharing', 'recording'")
    version: str = Field(description="Version of the information sheet / consent form")
    given_on: dt.date
    caregiver: str | None = Field(None, description="Caregiver id; omit for family-level consent")


class ConsentWithdrawIn(BaseModel):
    withdrawn_on: dt.date
    reason: str = Field(min_length=1)


@router.post("/families/{family_id}/consents", status_code=201, tags=["consent"])
def add_consent(
    family_id: int, body: ConsentIn, actor: Actor = Depends(api_actor),
    store: Store = Depends(get_store),
) -> Json:
    """Record a consent given by the family or one caregiver."""
    return store.care.add_consent(actor, family_id, kind=body.kind, version=body.version,
                             given_on=body.given_on, caregiver=body.caregiver)


@router.post("/consents/{consent_id}/withdraw", tags=["consent"])
def withdraw_consent(
    consent_id: int, body: ConsentWithdrawIn, actor: Actor = Depends(api_actor),
    store: Store = Depends(get_store),
) -> Json:
    """Record that consent was withdrawn (the record itself is kept)."""
    return store.care.withdraw_consent(actor, consent_id, withdrawn_on=body.withdrawn_on,
                                  reason=body.reason)


@router.post("/families/{family_id}/observations", status_code=201, tags=["observation"])
async def add_observation(
    family_id: int,
    file: UploadFile = File(description="The coded recording (BORIS, ELAN, SDIS, CSV …)"),
    metadata: str = Form("{}", description="JSON object: cues, responses (codes), window, "
                         "unit (measurement settings); coder, session date …"),
    actor: Actor = Depends(api_actor),
    store: Store = Depends(get_store),
) -> Json:
    """Attach a coded parent–infant interaction recording to a family. ``metadata`` must give
    the measurement settings (``cues``, ``responses``, optional ``window``, ``unit``): the file
    is measured once, here; 413 over the size or event limit, 422 if it cannot be measured."""
    import json

    from fastapi.responses import JSONResponse

    from attunement.store.observation_measures import ObservationLimits, UploadTooLarge

    try:
        meta = json.loads(metadata)
    except ValueError:
        raise StoreValidationError("metadata", "is not valid JSON") from None
    check_json(meta, "body.metadata")  # a multipart body is not checked by the guard
    check_json(file.filename or "", "body.file")
    # one byte past the limit is enough to refuse it: never read all of an oversized upload
    content = await file.read(ObservationLimits.from_env().max_bytes + 1)
    try:
        return await run_in_threadpool(store.observations.add_observation_session, actor, family_id,
                                       filename=file.filename or "", content=content,
                                       metadata=meta)
    except UploadTooLarge as exc:
        return JSONResponse({"detail": [{"loc": ["body", "file"], "field": exc.field,
                                         "msg": exc.reason, "type": "too_large"}]},
                            status_code=413)


@router.get("/observations/{session_id}/content", tags=["observation"])
def observation_content(
    session_id: int, actor: Actor = Depends(api_actor), store: Store = Depends(get_store),
) -> Response:
    """Download the file of an observation session (clinical roles in scope)."""
    filename, content = store.observations.observation_content(actor, session_id)
    safe = "".join(ch for ch in filename if ch.isalnum() or ch in "._-") or "recording"
    return Response(content, media_type="application/octet-stream",
                    headers={"Content-Disposition": f'attachment; filename="{safe}"'})


# --- exports and audit ----------------------------------------------------------------------


@router.get("/exports/assessments", tags=["exports"])
def export_assessments(
    format: exports.Format = Query("csv", description="csv, parquet, redcap, fhir or json"),
    study: int | None = Query(None, ge=1, le=MAX_RECORD_ID),
    pseudonymise: bool | None = Query(
        None, description="Researchers always get pseudonymised data whatever this says"
    ),
    actor: Actor = Depends(api_actor),
    store: Store = Depends(get_store),
) -> Response:
    """Assessments as tidy CSV/Parquet, REDCap flat CSV, or a FHIR QuestionnaireResponse bundle."""
    if format in exports.STREAMED:
        return exports.streamed(store, actor, format, study=study, pseudonymise=pseudonymise)
    frame = store.exports.export_assessments(actor, study=study, pseudonymise=pseudonymise)
    return exports.response(frame, format)


@router.get("/exports/redcap-dictionary", tags=["exports"])
def redcap_dictionary(
    study: int | None = Query(None, ge=1, le=MAX_RECORD_ID),
    actor: Actor = Depends(api_actor),
    store: Store = Depends(get_store),
) -> Response:
    """The REDCap data dictionary matching the REDCap flat export."""
    frame = store.exports.export_assessments(actor, study=study)
    return exports.response(frame, "redcap-dictionary")


@router.get("/audit", tags=["audit"])
def audit_log(
    limit: int = Query(200, ge=1, le=5000),
    actor: Actor = Depends(api_actor),
    store: Store = Depends(get_store),
) -> list[Json]:
    return store.maintenance.audit_log(actor, limit=limit)


# --- administration -------------------------------------------------------------------------


@router.get("/sites", tags=["admin"])
def list_sites(actor: Actor = Depends(api_actor), store: Store = Depends(get_store)) -> list[Json]:
    return store.accounts.list_sites(actor)


@router.post("/sites", status_code=201, tags=["admin"])
def add_site(
    body: SiteIn, actor: Actor = Depends(api_actor), store: Store = Depends(get_store)
) -> Json:
    return store.accounts.add_site(actor, body.name)


@router.get("/users", tags=["admin"])
def list_users(actor: Actor = Depends(api_actor), store: Store = Depends(get_store)) -> list[Json]:
    return store.accounts.list_users(actor)


@router.post("/users", status_code=201, tags=["admin"])
def add_user(
    body: UserIn, actor: Actor = Depends(api_actor), store: Store = Depends(get_store)
) -> Json:
    return store.accounts.add_user(actor, body.email, body.role, body.sites, body.password,
                          studies=body.studies or None)


@router.get("/studies", tags=["admin"])
def list_studies(actor: Actor = Depends(api_actor), store: Store = Depends(get_store)) -> list[Json]:
    return store.accounts.list_studies(actor)


@router.post("/studies", status_code=201, tags=["admin"])
def add_study(
    body: StudyIn, actor: Actor = Depends(api_actor), store: Store = Depends(get_store)
) -> Json:
    return store.accounts.add_study(
        actor, body.name, body.sites, [tp.model_dump() for tp in body.time_points]
    )
