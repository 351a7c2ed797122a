"""The JSON API's request and response models (pydantic); ``/docs`` shows them.

Response models keep the field names of the store's dictionaries, so a body is the same with
or without the model; ``extra="allow"`` only where the body is open by nature (a family
document whose keys come from the screening file, a profile whose keys come from content).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, create_model

from attunement.policy import ROLES
from attunement.store import SAFETY_REVIEW_OUTCOMES
from attunement.usecases.referrals import ROUTES
from attunement.web.content import vocabulary_choices
from attunement.web.submissions import MAX_RESPONSES

Json = dict[str, Any]
Item = TypeVar("Item")


def _record(name: str, doc: str | None, required: dict[str, Any], /, *, open_: bool = False,
            then: dict[str, Any] | None = None, **optional: Any) -> Any:
    """The response model of one kind of stored record, declared once per field.

    ``required`` fields are always in the store's dictionary; every ``optional`` one may be
    left out (it defaults to None, and a route answering with only the fields the store set,
    :meth:`attunement.web.api._router.ApiRouter.answers`, leaves it out too); ``then`` fields
    come after them. A required or ``then`` field is a type or ``(type, default)``; an optional
    one a type or ``(type, description)``; ``open_`` keeps keys the model does not name.

    Examples
    --------
    >>> Site = _record("Site", "A site.", {"id": int}, name=str)
    >>> Site(id=1).model_dump(exclude_unset=True), Site(id=1).name
    ({'id': 1}, None)
    """
    def plain(spec: Any) -> Any:
        return spec if isinstance(spec, tuple) else (spec, ...)

    def maybe(spec: Any) -> Any:
        kind, description = spec if isinstance(spec, tuple) else (spec, None)
        return (kind | None, Field(None, description=description) if description else None)

    fields = {**{k: plain(v) for k, v in required.items()},
              **{k: maybe(v) for k, v in optional.items()},
              **{k: plain(v) for k, v in (then or {}).items()}}
    return create_model(name, __doc__=doc, __config__=ConfigDict(extra="allow") if open_ else None,
                        **fields)


class TokenOut(BaseModel):
    """A bearer token for the JSON API: send it as ``Authorization: Bearer <access_token>``."""
    access_token: str
    token_type: Literal["bearer"] = "bearer"


class CaregiverIn(BaseModel):
    """One caregiver of the family file (risk/family.schema.json) with optional identifiers."""

    model_config = ConfigDict(extra="allow")
    id: str = Field(description="Caregiver id within the family, e.g. 'mother' or 'cg1'")
    role: str = Field(
        description=", ".join(role for role, _ in vocabulary_choices("caregiver_roles"))
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
    """One caregiver's answers to one questionnaire at one time point."""
    caregiver: str = Field(description="Caregiver id within the family")
    instrument: str = Field(description="Instrument id, e.g. 'epds'")
    time_point: str = Field(description="Time point name, e.g. 'antenatal' or '6w'")
    responses: list[int | None] = Field(description="Item scores in item order (null = missing)",
                                        max_length=MAX_RESPONSES)
    input: Literal["scores", "positions"] = "scores"


class CorrectionIn(BaseModel):
    """Corrected answers for a stored assessment and why; the original version is kept."""
    responses: list[int | None] = Field(max_length=MAX_RESPONSES)
    reason: str = Field(min_length=1)
    input: Literal["scores", "positions"] = "scores"


class LinkIn(BaseModel):
    """What a one-time caregiver link asks for, and how long it stays valid."""
    caregiver: str
    instrument: str
    time_point: str
    hours: int = Field(72, ge=1, le=24 * 14)


class LinkOut(BaseModel):
    """A new one-time caregiver link: its secret, its address and its lifetime."""
    token: str
    url: str
    expires_in_hours: int


class LinkSubmitIn(BaseModel):
    """A caregiver's answers through their one-time link, in item order (null = not answered)."""
    responses: list[int | None]


class AcknowledgeIn(BaseModel):
    """The safety review that acknowledges an alert: what was done and its outcome."""
    note: str = Field(min_length=1, description="What was done")
    outcome: str = Field(
        description="The safety review's outcome; any outcome records the review, which releases "
        "the hold on intervention matching",
        json_schema_extra={"enum": list(SAFETY_REVIEW_OUTCOMES)},
    )


class EpisodeIn(BaseModel):
    """A new intervention episode: the programme, its start date and the caregivers taking part."""
    programme: str
    start: dt.date
    caregivers: list[str] = Field(default_factory=list)


class EpisodeUpdate(BaseModel):
    """Changes to an intervention episode; only the fields sent are changed."""
    model_config = ConfigDict(extra="forbid")
    sessions_offered: int | None = Field(None, ge=0)
    sessions_attended: int | None = Field(None, ge=0)
    fidelity_notes: str | None = None
    end: dt.date | None = None
    end_reason: str | None = None
    reason: str | None = Field(None, description="Why the record changed (audit log)")


class CaregiverEndIn(BaseModel):
    """Why a caregiver left the family (kept in the record)."""
    reason: str = Field(min_length=1)


class SiteIn(BaseModel):
    """A new site's name."""
    name: str = Field(min_length=1)


class UserIn(BaseModel):
    """A new user account: email, role, sites, studies (researchers) and a first password."""
    email: str
    role: Literal[ROLES]  # type: ignore[valid-type]  # the roles an account can have
    sites: list[str] = Field(default_factory=list)
    studies: list[str] = Field(default_factory=list, description="Studies a researcher sees")
    password: str = Field(min_length=8, max_length=1024)


class TimePointIn(BaseModel):
    """One time point of a study's schedule: days from the due date or birth, the window, the
    questionnaires due.
    """
    name: str
    offset_days: int
    window_days: int = Field(ge=0)
    instruments: list[str]


class StudyIn(BaseModel):
    """A new study (or service): its name, sites and time-point schedule."""
    name: str = Field(min_length=1)
    sites: list[str]
    time_points: list[TimePointIn]


ScheduleItemOut = _record(
    "ScheduleItemOut",
    """One caregiver x instrument x time point still to do (researchers: pseudonymous).""",
    {"caregiver": str, "caregiver_role": str, "instrument": str, "time_point": str},
    target=str, window_closes=str,
)


class FamilyRowOut(BaseModel):
    """One family of the caseload: site, study, caregivers, open alerts, and what is due or overdue."""
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
    """How many families the caseload has in all, with an urgent alert, and with overdue items."""
    families: int
    urgent: int
    overdue: int


class _Page(BaseModel, Generic[Item]):
    # one page of a list, with the cursors of the pages before and after it
    items: list[Item]
    next: str | None = Field(description="Cursor of the next page (pass as ?cursor=), or null")
    previous: str | None = Field(description="Cursor of the previous page, or null")


class FamilyPage(_Page[FamilyRowOut]):
    """One page of the caseload, with cursors to the next and previous pages and the counts."""
    counts: CaseloadCounts | None = None


class AlertOut(BaseModel):
    """A safety alert raised by an assessment's flag, and whether it is still open."""
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


class AlertPage(_Page[AlertOut]):
    """One page of alerts, with cursors to the next and previous pages."""
    pass


class ConsentIn(BaseModel):
    """A consent given by the family or one caregiver: its kind, the form's version and the date."""
    kind: str = Field(description="e.g. 'research', 'data_sharing', 'recording'")
    version: str = Field(description="Version of the information sheet / consent form")
    given_on: dt.date
    caregiver: str | None = Field(None, description="Caregiver id; omit for family-level consent")


class ConsentWithdrawIn(BaseModel):
    """The withdrawal of a consent: when, and why."""
    withdrawn_on: dt.date
    reason: str = Field(min_length=1)


class OwnPasswordIn(BaseModel):
    """A change of your own password: the current one and the new one."""
    current_password: str = Field(description="The password in use now")
    new_password: str = Field(description="At least 8 characters (15 or more recommended)")


class PasswordIn(BaseModel):
    """A new password set for an account (by an administrator, or by the account's owner)."""
    new_password: str = Field(description="At least 8 characters (15 or more recommended)")
    current_password: str | None = Field(
        None, description="Needed only when the account is the caller's own")


class ActiveIn(BaseModel):
    """Disable or enable an account, and why (kept in the audit log)."""
    active: bool
    reason: str = Field(description="Why (kept in the audit log)")


class ResetLinkOut(BaseModel):
    """A one-time password reset link for a user, and how long it stays valid."""
    user_id: int
    url: str = Field(description="The one-time link; give it to the person privately")
    expires_in_hours: int


class NewTokenOut(BaseModel):
    """The new bearer token that replaces the ones a password change revoked."""
    access_token: str
    token_type: Literal["bearer"] = "bearer"


class MessageOut(BaseModel):
    """A message queued to a caregiver or to staff (invitation, reminder, alert, escalation) and
    its delivery status.
    """
    id: int
    kind: Literal["invitation", "reminder", "alert", "escalation"]
    stage: int
    channel: Literal["email", "sms"]
    caregiver: str | None = Field(None, description="Caregiver id; None for staff messages")
    alert_id: int | None
    status: Literal["queued", "sending", "retry", "sent", "failed", "skipped"]
    attempts: int
    last_error: str | None
    created_at: str
    not_before: str
    sent_at: str | None


class ContactIn(BaseModel):
    """A caregiver's contact preferences; only the fields sent are changed."""
    language: str | None = Field(None, description="Preferred language code, e.g. en, es")
    method: Literal["email", "sms"] | None = None
    opted_out: bool | None = None


class ContactOut(BaseModel):
    """A caregiver's contact preferences: language, method, and whether they opted out."""
    caregiver: str
    language: str
    method: str
    opted_out: bool


class ReferralIn(BaseModel):
    """A new referral: a programme or treatment route offered to the family or one caregiver."""
    kind: Literal["programme", "route"] = Field(
        description="programme: a programme id of the intervention catalogue; route: a "
        "treatment route for the caregiver's own health (" + ", ".join(ROUTES) + ", or "
        "another route id)")
    target: str = Field(min_length=1, max_length=100)
    offered_on: dt.date
    caregiver: str | None = Field(None, description="The caregiver's id in the family; "
                                  "omit for a referral of the whole family")


class StageIn(BaseModel):
    """A referral's next stage and the day it happened."""
    stage: Literal["accepted", "declined", "started", "completed", "ended"]
    on: dt.date
    reason: str | None = Field(None, max_length=1000, description="Required for declined "
                               "and ended; never shown to researchers")
    episode: int | None = Field(None, description="started: the intervention episode it "
                                "started (default: the family's episode of the same "
                                "programme starting that day)")


class OutcomeOut(BaseModel):
    """A referred caregiver's measure before and after the referral, and whether the change is
    reliable.
    """
    instrument: str
    before: float | None
    before_on: str | None
    after: float
    after_on: str
    n_after: int
    change: float | None
    reliable_change: float
    improved: bool | None
    source: str


ReferralOut = _record(
    "ReferralOut",
    """A referral. Staff see dates and reasons; researchers see keyed-hash ids and days from
    the offer (``*_day``), never free-text reasons.""",
    {"id": int, "family": int | str, "caregiver": str | None, "kind": str, "target": str,
     "target_label": str, "status": str, "next_stages": list[str]},
    then={"outcomes": (list[OutcomeOut], Field(default_factory=list))},
    offered_on=str, accepted_on=str, declined_on=str, decline_reason=str, first_session_on=str,
    completed_on=str, ended_on=str, end_reason=str, episode=int, created_at=str, offered_day=int,
    accepted_day=int, declined_day=int, first_session_day=int, completed_day=int, ended_day=int,
)


class StageCount(BaseModel):
    """How many caregivers reached one cascade stage at one site."""
    site: str
    stage: str
    count: int
    percent_of_previous: float | None


class StageDays(BaseModel):
    """The median days between two cascade stages at one site."""
    site: str
    from_stage: str
    to_stage: str
    n: int
    median_days: float | None


class EquityRow(BaseModel):
    """The cascade for one group of caregivers (by role, language, age band or deprivation)."""
    dimension: str
    group: str
    registered: int
    screened: int
    coverage: float | None
    positive: int
    referred: int
    engaged: int


class FollowUpRow(BaseModel):
    """How many caregivers who screened positive were followed up within 30 days, per site."""
    site: str
    positive: int
    followed_up: int
    rate: float | None


class CascadeOut(BaseModel):
    """The care cascade: counts per stage, days between stages, equity and 30-day follow-up."""
    stages: list[StageCount]
    stage_days: list[StageDays]
    equity: list[EquityRow]
    follow_up_30d: list[FollowUpRow]


class DesignIn(BaseModel):
    """A randomisation design (the keys of ``attunement trials allocate --design``)."""

    method: Literal["blocks", "minimisation"]
    arms: list[str] = Field(min_length=2)
    ratio: list[int] | None = Field(None, description="Allocation ratio, one per arm (1:1 "
                                                      "if omitted)")
    block_sizes: list[int] = Field(default_factory=list, description="blocks: sizes drawn at "
                                   "random; each a multiple of the ratio's sum")
    block_weights: list[float] = Field(default_factory=list)
    strata: list[str] = Field(default_factory=list, description="blocks: stratification "
                              "columns; 'site' (or 'centre') is filled in from the family")
    factors: list[str] = Field(default_factory=list, description="minimisation factors")
    weights: list[float] = Field(default_factory=list)
    p: float = Field(0.8, description="minimisation: probability of the minimising arm")
    imbalance: Literal["range", "sd", "variance"] = "range"
    levels: dict[str, list[str]] = Field(default_factory=dict, description="Allowed values of "
                                         "each stratum/factor other than site")
    consent_kind: str = Field("research", description="The consent that must be active")
    secret: str | None = Field(None, min_length=16, description="The seed, e.g. kept by the "
                               "trial statistician; generated when omitted. Stored encrypted "
                               "and never returned")


class RandomiseIn(BaseModel):
    """The family's levels of the design's strata or factors, for randomising it."""
    values: dict[str, str] = Field(default_factory=dict, description="The family's level of "
                                   "each stratum/factor other than site, e.g. {\"smi\": \"no\"}")


class RevealIn(BaseModel):
    """Why the trial's seed is revealed (kept in the audit log)."""
    reason: str = Field(min_length=1)


class Health(BaseModel):
    """``ok``, or why the service cannot answer (503)."""

    status: str


# --- response models of the store's records -------------------------------------------------
#
# The routes answer with these and ``response_model_exclude_unset=True``: a key the store did
# not send (a researcher's pseudonymised record has ``*_day`` instead of dates) is not added.


class MeOut(BaseModel):
    """Who the bearer token belongs to: email, role, sites and studies."""
    email: str
    role: str
    site_ids: list[int]
    study_ids: list[int]


CaregiverOut = _record(
    "CaregiverOut",
    """A caregiver of the family; identifiers only for roles that see them, ``*_day`` (days
    from the family's anchor date) instead of dates for researchers.""",
    {"id": str},
    pk=int | str, role=str, age=int, first_time_parent=bool, context=dict[str, Any],
    variants=dict[str, Any], joined_on=str, left_on=str, left_reason=str, active=bool,
    page_language=str, interpreter_needed=bool, identifiers=dict[str, Any], joined_day=int,
    left_day=int,
)


AssessmentOut = _record(
    "AssessmentOut",
    """One stored assessment (one version): answers, scores, flags and who submitted it.""",
    {"id": int},
    family=int | str, caregiver=str, caregiver_pk=int | str, caregiver_role=str, instrument=str,
    instrument_version=str, time_point=str, instance=int, version=int, input=str,
    responses=list[int | float | None], item_scores=list[int | float | None],
    scores=(dict[str, Any], "Scale scores, cut-offs and flags as columns, e.g. epds_total"),
    flags=list[dict[str, Any]], corrected_from=int, reason=str, submitted_by=int | str,
    submitted_via=str, submitted_at=str, completed_on=str, current=bool, day=int,
)


FamilyOut = _record(
    "FamilyOut",
    """A family record: infant, caregivers, assessments, then its alerts, consents, episodes,
    schedule and more (open: the screening file's own keys are kept).""",
    {"id": int, "family_id": str},
    open_=True,
    site=str, site_id=int, study=str, study_id=int, placement=str, context=dict[str, Any],
    assessed_on=str, created_at=str, infant=dict[str, Any], caregivers=list[CaregiverOut],
    assessments=list[AssessmentOut],
)


ProfileOut = _record(
    "ProfileOut",
    """The vulnerability profile (:func:`attunement.risk.profile`): tier, urgency, factors,
    treatment routes, prompts; then ``urgency_action`` (the urgency's first action, or null) and
    ``crisis_contacts`` (the service's, when urgent). Open: the factors and rules are content.""",
    {"tier": str, "urgent": bool},
    open_=True,
    urgent_reasons=list[str], factors=list[dict[str, Any]], cumulative_risk=int | float,
    pathways=list[str], urgency=(str, "none, same_day or emergency"),
)


class MatchesOut(BaseModel):
    """Matched interventions (:func:`attunement.interventions.match`) with reasons and evidence;
    ``held`` with ``held_reason`` while an urgent flag awaits its safety review; then
    ``urgency_action`` and ``crisis_contacts`` as for the profile. Open: the catalogue is
    content."""

    model_config = ConfigDict(extra="allow")
    recommended: list[dict[str, Any]]
    excluded: list[dict[str, Any]] | None = None
    note: str | None = None
    held: bool | None = None
    held_reason: str | None = None


class QuestionOut(BaseModel):
    """One question of a questionnaire: its label, the scores of its options, and whether it is a
    safety item.
    """
    number: int
    label: str
    scores: list[int | float]
    options: list[str]
    safety: bool


LinkInfoOut = _record(
    "LinkInfoOut",
    """What a one-time link asks for, with the questions (project labels).""",
    {"instrument": str, "time_point": str},
    caregiver_role=str, language=str, site=str, expires_at=str,
    then={"questions": list[QuestionOut]},
)


class LinkReceivedOut(BaseModel):
    """Answers received through a caregiver link; crisis contacts when the answers call for them."""
    received: bool
    urgent: bool
    crisis_contacts: list[dict[str, Any]] | None = Field(
        None, description="Only when the answers call for the support box")


EpisodeOut = _record(
    "EpisodeOut",
    """An intervention episode: programme, dates, caregivers, sessions and fidelity notes.""",
    {"id": int},
    family=int | str, programme=str, start=str, end=str, caregivers=list[str], sessions_offered=int,
    sessions_attended=int, fidelity_notes=str, end_reason=str, created_at=str,
)


ConsentOut = _record(
    "ConsentOut",
    """A consent of the family or one caregiver, and whether it is still active.""",
    {"id": int},
    family=int | str, caregiver=str, kind=str, version=str, given_on=str, withdrawn_on=str,
    active=bool,
)


ObservationOut = _record(
    "ObservationOut",
    """A stored coded recording (the file itself is downloaded separately).""",
    {"id": int},
    family=int | str, filename=str, sha256=str, size=int, metadata=dict[str, Any], uploaded_at=str,
)


class MeasuresOut(BaseModel):
    """Responsiveness and contingency measures stored at upload, with their settings."""

    session: int
    settings: dict[str, Any]
    permutations: int
    seed: int
    n_events: int | None = None
    measures: list[dict[str, Any]]
    warnings: list[Any]


AuditEntryOut = _record(
    "AuditEntryOut",
    """One audit log entry: who did what to which record, when, and its hash.""",
    {"id": int},
    at=str, actor_id=int, actor=str, role=str, action=str, entity=str, entity_id=str, family_id=int,
    site_id=int, before=dict[str, Any], after=dict[str, Any], reason=str, client=str, hash=str,
)


class SiteOut(BaseModel):
    """A site."""
    id: int
    name: str


UserOut = _record(
    "UserOut",
    """A user account: role, sites, studies and whether it is active.""",
    {"id": int, "email": str, "role": str},
    active=bool, expires_on=str, sites=list[str], studies=list[str | int], created_at=str,
)


class NewUserOut(BaseModel):
    """The new user account."""
    id: int
    email: str
    role: str
    sites: list[str] | None = None
    studies: list[str | int] | None = None
    expires_on: str | None = None
    active: bool | None = None


class StudyOut(BaseModel):
    """A study with its sites and time-point schedule."""
    id: int
    name: str
    sites: list[str] | None = None
    time_points: list[dict[str, Any]] | None = None


class PasswordSetOut(BaseModel):
    """Confirmation that an account's password was set."""
    id: int
    password_set: bool


class UserActiveOut(BaseModel):
    """An account after it was disabled or enabled."""
    id: int
    email: str
    active: bool


class DesignOut(BaseModel):
    """A randomisation design and the public fingerprint of its seed (never the seed). Open:
    the keys depend on the method, and recruiters get no block sizes, ratio or weights."""

    model_config = ConfigDict(extra="allow")
    study: int
    study_name: str | None = None
    method: str
    arms: list[str]


class SecretOut(BaseModel):
    """The trial's seed, for an audit by an independent statistician."""
    secret: str


class AllocationOut(BaseModel):
    """One allocation. Open: the inputs are the design's strata or factors."""

    model_config = ConfigDict(extra="allow")
    study: int
    sequence: int | None = None
    arm: str
    stratum: str | None = None
    inputs: dict[str, Any] | None = None


class BalanceRow(BaseModel):
    """Allocations per arm for one group and level. Open: one count column per arm name."""

    model_config = ConfigDict(extra="allow")
    group: str
    level: str | None = None
    n: int


class VerifyOut(BaseModel):
    """Whether replaying the allocation sequence from the seed gave every recorded allocation."""
    ok: bool
    mismatched_sequences: list[Any]


class ExportRow(BaseModel):
    """One assessment of the tidy export (``format=json``): who, what, when, then one column per
    item answer and per score (``epds_1`` … ``epds_total``). Researchers get pseudonyms."""

    model_config = ConfigDict(extra="allow")
    assessment_id: int | None = None
    family: str | None = None
    caregiver: str | None = None
    instrument: str
    instrument_version: str | None = None
    time_point: str
    submitted_at: str | None = None


class FhirBundle(BaseModel):
    """A FHIR R4 ``Bundle`` (collection) of ``QuestionnaireResponse`` resources
    (``format=fhir``)."""

    resourceType: str = "Bundle"
    type: str = "collection"
    total: int
    entry: list[dict[str, Any]]


def _inline(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema()


EXPORT_CONTENT: dict[str, Any] = {
    "text/csv": {"schema": {"type": "string"}},
    "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}},
    "application/json": {"schema": {"type": "array", "items": _inline(ExportRow)}},
    "application/fhir+json": {"schema": _inline(FhirBundle)},
}
