"""Assessments: a family's list, one submission (group-committed with concurrent ones, see
:mod:`attunement.web.submissions`) and corrections.
"""

from __future__ import annotations

from fastapi import Header, Request
from fastapi.responses import Response

from attunement.usecases import assessments as uc_assessments
from attunement.web import submissions
from attunement.web.api._router import ApiRouter
from attunement.web.deps import BearerToken, CurrentActor, StoreDep
from attunement.web.schemas import AssessmentIn, AssessmentOut, CorrectionIn, Json
from attunement.web.submissions import dumps

router = ApiRouter("assessments")


@router.answers("GET", "/families/{family_id}/assessments", list[AssessmentOut])
def list_assessments(family_id: int, actor: CurrentActor, store: StoreDep) -> list[Json]:
    """List a family's assessments with their scores and flags, oldest first. Open to the roles that
    may read the family; a family outside your sites or studies answers 404.
    """
    return store.assessments.list_assessments(actor, family_id)


@router.answers("POST", "/families/{family_id}/assessments", AssessmentOut, status_code=201)
async def add_assessment(
    family_id: int,
    body: AssessmentIn,
    request: Request,
    token: BearerToken,
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
    return Response(dumps(result), status_code=201,  # type: ignore[return-value]
                    media_type="application/json")


@router.answers("POST", "/assessments/{assessment_id}/corrections", AssessmentOut, status_code=201)
def correct_assessment(
    assessment_id: int,
    body: CorrectionIn,
    actor: CurrentActor,
    store: StoreDep,
) -> Json:
    """A correction is a new version with a reason; the original is never overwritten."""
    return uc_assessments.correct_assessment(store, actor, assessment_id, body.responses, reason=body.reason)
