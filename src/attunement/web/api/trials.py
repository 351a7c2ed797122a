"""Trials API: a study's randomisation design, concealed allocation and CONSORT.

``POST /api/studies/{id}/design`` (admin), ``GET /api/studies/{id}/design``,
``POST /api/studies/{id}/design/secret`` (admin: reveal the seed for an audit, with a reason),
``POST /api/families/{id}/randomise`` (practitioner, site lead or admin, family in their sites,
consent recorded), ``GET /api/families/{id}/allocation``, ``GET /api/studies/{id}/allocations``,
``GET /api/studies/{id}/balance``, ``GET /api/studies/{id}/verify`` (admin: replay from the
seed), ``GET /api/studies/{id}/consort.svg``. Allocation concealment: recruiters
(practitioners, site leads) get 403 from the allocation list, balance and CONSORT, and a
design without block sizes, ratio or weights (:func:`attunement.store.scope.sees_allocation_sequence`).
The store (:class:`attunement.store.trials.StudyTrials`, through the use case
:class:`attunement.usecases.trials.Trials`) decides scope and roles; a family
outside the user's sites answers 404; randomising twice answers 409.
"""

from __future__ import annotations

from fastapi.responses import JSONResponse, Response

from attunement.store import Store
from attunement.store.trials import AlreadyRandomised, SequenceMismatch
from attunement.usecases.trials import Trials
from attunement.web.api._router import ApiRouter
from attunement.web.charts import presentational_svg
from attunement.web.deps import CurrentActor, StoreDep
from attunement.web.schemas import (
    AllocationOut,
    BalanceRow,
    DesignIn,
    DesignOut,
    Json,
    RandomiseIn,
    RevealIn,
    SecretOut,
    VerifyOut,
)

router = ApiRouter("trials")


def _trials(store: Store) -> Trials:
    return Trials(store)


def _conflict(exc: Exception) -> JSONResponse:
    field = getattr(exc, "field", "") or ""
    reason = getattr(exc, "reason", "") or str(exc)
    return JSONResponse({"detail": [{"loc": ["body", *field.split(".")] if field else ["body"],
                                     "field": field, "msg": reason, "type": "conflict"}]},
                        status_code=409)


def _design_payload(body: DesignIn) -> dict:
    data = body.model_dump(exclude={"secret"})
    if data.get("ratio") is None:
        data.pop("ratio")
    if body.method == "blocks":
        for key in ("factors", "weights", "p", "imbalance"):
            data.pop(key, None)
    else:
        for key in ("strata", "block_sizes", "block_weights"):
            data.pop(key, None)
    return data


@router.answers("POST", "/studies/{study_id}/design", DesignOut, status_code=201)
def define_design(study_id: int, body: DesignIn, actor: CurrentActor, store: StoreDep) -> Json:
    """Define the study's randomisation design (admin; only before anyone is allocated)."""
    return _trials(store).define_design(actor, study_id, _design_payload(body),
                                        secret=body.secret)


@router.answers("GET", "/studies/{study_id}/design", DesignOut)
def get_design(study_id: int, actor: CurrentActor, store: StoreDep) -> Json:
    """The study's design and the public fingerprint of its seed (never the seed)."""
    return _trials(store).get_design(actor, study_id)


@router.answers("POST", "/studies/{study_id}/design/secret", SecretOut)
def reveal_secret(study_id: int, body: RevealIn, actor: CurrentActor, store: StoreDep) -> Json:
    """The seed, for an independent audit of the sequence (admin; audited with the reason)."""
    return {"secret": _trials(store).reveal_secret(actor, study_id, reason=body.reason)}


@router.answers("POST", "/families/{family_id}/randomise", AllocationOut, status_code=201)
def randomise(*, family_id: int, body: RandomiseIn | None = None,
              actor: CurrentActor, store: StoreDep) -> Response:
    """Randomise an enrolled family with active consent. 409 if it already has an arm."""
    try:
        out = _trials(store).randomise(actor, family_id,
                                       values=(body.values if body else {}))
    except (AlreadyRandomised, SequenceMismatch) as exc:
        return _conflict(exc)
    return JSONResponse(out, status_code=201)


@router.answers("GET", "/families/{family_id}/allocation", AllocationOut)
def allocation(family_id: int, actor: CurrentActor, store: StoreDep) -> Json:
    """The family's allocation (404 if not randomised or not in the user's scope)."""
    return _trials(store).allocation(actor, family_id)


@router.answers("GET", "/studies/{study_id}/allocations", list[AllocationOut])
def allocations(study_id: int, actor: CurrentActor, store: StoreDep) -> list[Json]:
    """The study's allocations in sequence order (researchers: pseudonymised)."""
    return _trials(store).list_allocations(actor, study_id)


@router.answers("GET", "/studies/{study_id}/balance", list[BalanceRow])
def balance(study_id: int, actor: CurrentActor, store: StoreDep) -> list[Json]:
    """Allocations per arm overall and per stratum/factor level, with the largest imbalance."""
    return _trials(store).balance(actor, study_id).to_dict("records")


@router.answers("GET", "/studies/{study_id}/verify", VerifyOut)
def verify(study_id: int, actor: CurrentActor, store: StoreDep) -> Json:
    """Replay the sequence from the seed (admin): the allocations that differ, if any."""
    bad = _trials(store).verify(actor, study_id)
    return {"ok": not bad, "mismatched_sequences": bad}


@router.get("/studies/{study_id}/consort.svg", response_class=Response,
            responses={200: {"content": {"image/svg+xml": {"schema": {"type": "string"}}}}})
def consort_svg(study_id: int, actor: CurrentActor, store: StoreDep) -> Response:
    """The CONSORT 2010 flow diagram of the study's records (the user's families)."""
    svg = presentational_svg(_trials(store).consort_svg(actor, study_id))
    return Response(svg, media_type="image/svg+xml")
