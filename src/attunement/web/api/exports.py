"""Exports of assessments (tidy CSV/Parquet, REDCap, FHIR, JSON) and the audit log.
"""

from __future__ import annotations

from fastapi import Query
from fastapi.responses import Response

from attunement.usecases import exports as uc_exports
from attunement.web import downloads
from attunement.web.api._router import ApiRouter
from attunement.web.deps import CurrentActor, StoreDep
from attunement.web.schemas import EXPORT_CONTENT, AuditEntryOut, Json
from attunement.web.submissions import MAX_RECORD_ID

router = ApiRouter()


@router.get("/exports/assessments", tags=["exports"], response_class=Response,
            responses={200: {"content": EXPORT_CONTENT}})
def export_assessments(
    *,
    format: downloads.Format = Query("csv", description="csv, parquet, redcap, fhir or json"),
    study: int | None = Query(None, ge=1, le=MAX_RECORD_ID),
    pseudonymise: bool | None = Query(
        None, description="Researchers always get pseudonymised data whatever this says"
    ),
    actor: CurrentActor,
    store: StoreDep,
) -> Response:
    """Assessments as tidy CSV/Parquet, REDCap flat CSV, or a FHIR QuestionnaireResponse bundle."""
    if format in downloads.STREAMED:
        return downloads.streamed(store, actor, format, study=study, pseudonymise=pseudonymise)
    frame = uc_exports.export_assessments(store, actor, study=study, pseudonymise=pseudonymise)
    return downloads.response(frame, format)


@router.get("/exports/redcap-dictionary", tags=["exports"], response_class=Response,
            responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}})
def redcap_dictionary(
    *,
    study: int | None = Query(None, ge=1, le=MAX_RECORD_ID),
    actor: CurrentActor,
    store: StoreDep,
) -> Response:
    """The REDCap data dictionary matching the REDCap flat export."""
    frame = uc_exports.export_assessments(store, actor, study=study)
    return downloads.response(frame, "redcap-dictionary")


@router.answers("GET", "/audit", list[AuditEntryOut], tags=["audit"])
def audit_log(
    *,
    limit: int = Query(200, ge=1, le=5000),
    actor: CurrentActor,
    store: StoreDep,
) -> list[Json]:
    """Read the newest entries of the audit log (at most ``limit``). Administrators see every entry,
    site leads the entries about their sites; other roles get 403.
    """
    return store.maintenance.audit_log(actor, limit=limit)
