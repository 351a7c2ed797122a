"""Caregiver one-time links: created by a practitioner, opened and answered without an account.
"""

from __future__ import annotations

from fastapi import Request

from attunement.usecases import assessments as uc_assessments
from attunement.web import content
from attunement.web.api._router import ApiRouter
from attunement.web.deps import CurrentActor, StoreDep
from attunement.web.rendering import link_url
from attunement.web.schemas import Json, LinkIn, LinkInfoOut, LinkOut, LinkReceivedOut, LinkSubmitIn

router = ApiRouter("caregiver links")


@router.answers("POST", "/families/{family_id}/links", LinkOut, status_code=201)
def create_link(
    family_id: int,
    body: LinkIn,
    request: Request,
    actor: CurrentActor,
    store: StoreDep,
) -> LinkOut:
    """A one-time link for one caregiver, one instrument and one time point."""
    secret = uc_assessments.create_link(
        store, actor, family_id, body.caregiver, body.instrument, body.time_point,
        hours=body.hours)
    return LinkOut(token=secret, url=link_url(request, secret), expires_in_hours=body.hours)


@router.answers("GET", "/links/{token}", LinkInfoOut)
def open_link(token: str, store: StoreDep) -> Json:
    """What a one-time link asks for (no account needed); 404 once used or expired."""
    info = store.care.open_link(token)
    return {**info, "questions": content.questions(info["instrument"])}


@router.answers("POST", "/links/{token}", LinkReceivedOut, status_code=201)
def submit_link(token: str, body: LinkSubmitIn, request: Request, store: StoreDep) -> Json:
    """A caregiver's answers through a one-time link; the link is used up atomically."""
    assessment = uc_assessments.submit_link(store, token, body.responses)
    out: Json = {"received": True, "urgent": content.is_urgent(assessment)}
    if content.shows_crisis_contacts(assessment):
        out["crisis_contacts"] = request.app.state.settings.crisis_contacts
    return out
