"""The JSON API's request and response models (pydantic); ``/docs`` shows them.

Response models keep the field names of the store's dictionaries, so a body is the same with
or without the model; ``extra="allow"`` only where the body is open by nature (a family
document whose keys come from the screening file, a profile whose keys come from content).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from attunement.store import SAFETY_REVIEW_OUTCOMES
from attunement.store.referrals import ROUTES
from attunement.web.submissions import MAX_RESPONSES

Json = dict[str, Any]


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
                                        max_length=MAX_RESPONSES)
    input: Literal["scores", "positions"] = "scores"


class CorrectionIn(BaseModel):
    responses: list[int | None] = Field(max_length=MAX_RESPONSES)
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


class ConsentIn(BaseModel):
    kind: str = Field(description="e.g. 'research', 'data_sharing', 'recording'")
    version: str = Field(description="Version of the information sheet / consent form")
    given_on: dt.date
    caregiver: str | None = Field(None, description="Caregiver id; omit for family-level consent")


class ConsentWithdrawIn(BaseModel):
    withdrawn_on: dt.date
    reason: str = Field(min_length=1)


class OwnPasswordIn(BaseModel):
    current_password: str = Field(description="The password in use now")
    new_password: str = Field(description="At least 8 characters (15 or more recommended)")


class PasswordIn(BaseModel):
    new_password: str = Field(description="At least 8 characters (15 or more recommended)")
    current_password: str | None = Field(
        None, description="Needed only when the account is the caller's own")


class ActiveIn(BaseModel):
    active: bool
    reason: str = Field(description="Why (kept in the audit log)")


class ResetLinkOut(BaseModel):
    user_id: int
    url: str = Field(description="The one-time link; give it to the person privately")
    expires_in_hours: int


class NewTokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"


class MessageOut(BaseModel):
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
    language: str | None = Field(None, description="Preferred language code, e.g. en, es")
    method: Literal["email", "sms"] | None = None
    opted_out: bool | None = None


class ContactOut(BaseModel):
    caregiver: str
    language: str
    method: str
    opted_out: bool


class ReferralIn(BaseModel):
    kind: Literal["programme", "route"] = Field(
        description="programme: a programme id of the intervention catalogue; route: a "
        "treatment route for the caregiver's own health (" + ", ".join(ROUTES) + ", or "
        "another route id)")
    target: str = Field(min_length=1, max_length=100)
    offered_on: dt.date
    caregiver: str | None = Field(None, description="The caregiver's id in the family; "
                                  "omit for a referral of the whole family")


class StageIn(BaseModel):
    stage: Literal["accepted", "declined", "started", "completed", "ended"]
    on: dt.date
    reason: str | None = Field(None, max_length=1000, description="Required for declined "
                               "and ended; never shown to researchers")
    episode: int | None = Field(None, description="started: the intervention episode it "
                                "started (default: the family's episode of the same "
                                "programme starting that day)")


class OutcomeOut(BaseModel):
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


class ReferralOut(BaseModel):
    """A referral. Staff see dates and reasons; researchers see keyed-hash ids and days from
    the offer (``*_day``), never free-text reasons."""

    id: int
    family: int | str
    caregiver: str | None
    kind: str
    target: str
    target_label: str
    status: str
    next_stages: list[str]
    offered_on: str | None = None
    accepted_on: str | None = None
    declined_on: str | None = None
    decline_reason: str | None = None
    first_session_on: str | None = None
    completed_on: str | None = None
    ended_on: str | None = None
    end_reason: str | None = None
    episode: int | None = None
    created_at: str | None = None
    offered_day: int | None = None
    accepted_day: int | None = None
    declined_day: int | None = None
    first_session_day: int | None = None
    completed_day: int | None = None
    ended_day: int | None = None
    outcomes: list[OutcomeOut] = Field(default_factory=list)


class StageCount(BaseModel):
    site: str
    stage: str
    count: int
    percent_of_previous: float | None


class StageDays(BaseModel):
    site: str
    from_stage: str
    to_stage: str
    n: int
    median_days: float | None


class EquityRow(BaseModel):
    dimension: str
    group: str
    registered: int
    screened: int
    coverage: float | None
    positive: int
    referred: int
    engaged: int


class FollowUpRow(BaseModel):
    site: str
    positive: int
    followed_up: int
    rate: float | None


class CascadeOut(BaseModel):
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
    values: dict[str, str] = Field(default_factory=dict, description="The family's level of "
                                   "each stratum/factor other than site, e.g. {\"smi\": \"no\"}")


class RevealIn(BaseModel):
    reason: str = Field(min_length=1)


class Health(BaseModel):
    """``ok``, or why the service cannot answer (503)."""

    status: str
