"""Referrals and the care cascade, for programs.

``GET|POST /api/families/{id}/referrals``, ``GET /api/referrals/{id}``,
``POST /api/referrals/{id}/stages`` (the next stage: accepted, declined, started, completed,
ended), ``GET /api/cascade`` (the cascade of the user's families, ``?site=&study=``) and
``GET /api/cascade.csv``. The store (:class:`attunement.store.referrals.Referrals`) decides
scope and roles, reached through :mod:`attunement.usecases.referrals`; the computation is
:func:`attunement.usecases.cascade.cascade_report`.
"""

from __future__ import annotations

from fastapi.responses import Response

from attunement.cascade import CascadeResult
from attunement.usecases import referrals
from attunement.usecases.cascade import cascade_report, records
from attunement.web import downloads
from attunement.web.api._router import ApiRouter
from attunement.web.deps import CurrentActor, StoreDep
from attunement.web.schemas import CascadeOut, ReferralIn, ReferralOut, StageIn

router = ApiRouter("referrals")


def _cascade_out(result: CascadeResult) -> CascadeOut:
    return CascadeOut.model_validate({
        "stages": records(result.stages), "stage_days": records(result.stage_days),
        "equity": records(result.equity), "follow_up_30d": records(result.follow_up),
    })


@router.get("/families/{family_id}/referrals", response_model=list[ReferralOut])
def list_referrals(family_id: int, actor: CurrentActor, store: StoreDep) -> list[dict]:
    """The family's referrals and their stages, oldest offer first."""
    return referrals.list_referrals(store, actor, family_id)


@router.post("/families/{family_id}/referrals", response_model=ReferralOut,
                 status_code=201)
def add_referral(family_id: int, body: ReferralIn, actor: CurrentActor, store: StoreDep) -> dict:
    """Record that a programme or treatment route was offered."""
    return referrals.add_referral(store, actor, family_id, kind=body.kind, target=body.target,
                                  offered_on=body.offered_on, caregiver=body.caregiver)


@router.get("/referrals/{referral_id}", response_model=ReferralOut)
def get_referral(referral_id: int, actor: CurrentActor, store: StoreDep) -> dict:
    """One referral, with the referred caregiver's measures after the referral date."""
    return referrals.get_referral(store, actor, referral_id)


@router.post("/referrals/{referral_id}/stages", response_model=ReferralOut)
def record_stage(referral_id: int, body: StageIn, actor: CurrentActor, store: StoreDep) -> dict:
    """Move the referral to its next stage (order enforced: 422 naming the field)."""
    return referrals.record_stage(store, actor, referral_id, body.stage, on=body.on,
                                  reason=body.reason, episode_id=body.episode)


@router.get("/cascade", response_model=CascadeOut)
def get_cascade(*, site: int | None = None, study: int | None = None,
                actor: CurrentActor,
                store: StoreDep) -> CascadeOut:
    """The care cascade of the user's families, per site and over all of them."""
    return _cascade_out(cascade_report(store, actor, site=site, study=study))


@router.get("/cascade.csv", response_class=Response,
                responses={200: {"content": {"text/csv": {}}}})
def get_cascade_csv(*, site: int | None = None, study: int | None = None,
                    actor: CurrentActor,
                    store: StoreDep) -> Response:
    """The cascade as CSV (text cells neutralised against spreadsheet formula injection)."""
    return downloads.cascade_csv_response(cascade_report(store, actor, site=site, study=study))
