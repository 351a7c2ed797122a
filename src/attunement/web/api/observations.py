"""Coded parent–infant interaction recordings: upload (measured once, in the store), the file,
and the measures stored at upload (:mod:`attunement.store.observation_measures`).
"""

from __future__ import annotations

from fastapi import File, Form, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from attunement.store import NotFound, StoreValidationError
from attunement.usecases import families as uc_families
from attunement.usecases import observations as uc_observations
from attunement.web.api._router import ApiRouter
from attunement.web.deps import CurrentActor, StoreDep
from attunement.web.guard import check_json
from attunement.web.schemas import Json, MeasuresOut, ObservationOut

router = ApiRouter("observation")


@router.answers("POST", "/families/{family_id}/observations", ObservationOut, status_code=201)
async def add_observation(
    *,
    family_id: int,
    file: UploadFile = File(description="The coded recording (BORIS, ELAN, SDIS, CSV …)"),
    metadata: str = Form("{}", description="JSON object: cues, responses (codes), window, "
                         "unit (measurement settings); coder, session date …"),
    actor: CurrentActor,
    store: StoreDep,
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
        return await run_in_threadpool(uc_observations.add_observation_session, store, actor,
                                       family_id,
                                       filename=file.filename or "", content=content,
                                       metadata=meta)
    except UploadTooLarge as exc:
        return JSONResponse({"detail": [{"loc": ["body", "file"], "field": exc.field,
                                         "msg": exc.reason, "type": "too_large"}]},
                            status_code=413)


@router.get("/observations/{session_id}/content", response_class=Response,
            responses={200: {"content": {"application/octet-stream": {
                "schema": {"type": "string", "format": "binary"}}}}})
def observation_content(session_id: int, actor: CurrentActor, store: StoreDep) -> Response:
    """Download the file of an observation session (clinical roles in scope)."""
    filename, content = store.observations.observation_content(actor, session_id)
    safe = "".join(ch for ch in filename if ch.isalnum() or ch in "._-") or "recording"
    return Response(content, media_type="application/octet-stream",
                    headers={"Content-Disposition": f'attachment; filename="{safe}"'})


@router.answers("GET", "/families/{family_id}/observations/{session_id}/measures", MeasuresOut)
def api_measures(family_id: int, session_id: int, actor: CurrentActor, store: StoreDep) -> dict:
    """Responsiveness and contingency measures of a family's coded session (clinical roles in
    scope), per caregiver × cue type, with the settings they were computed with."""
    family = uc_families.get_family(store, actor, family_id)
    session = next((o for o in family.get("observation_sessions") or []
                    if o.get("id") == session_id), None)
    if session is None:
        raise NotFound(f"observation session {session_id} not found")
    stored = store.observations.observation_measures(actor, family_id).get(session_id)
    if stored is None:
        raise NotFound(f"observation session {session_id} has no stored measures (uploaded "
                       "before measures were kept at upload)")
    return {"session": session_id, "settings": stored["settings"],
            "permutations": stored["permutations"], "seed": stored["seed"],
            "n_events": stored["n_events"], "measures": stored["measures"],
            "warnings": stored["warnings"]}
