"""Large exports as background jobs: ``POST /api/exports`` queues one (202), ``GET
/api/exports/{id}`` shows its progress, ``GET /api/exports/{id}/file`` downloads the file
when it is ready. Only the requester sees a job (anyone else: 404); see
:mod:`attunement.store.export_jobs`.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from fastapi import BackgroundTasks, Path
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from attunement.store import Store
from attunement.usecases import exports as uc_exports
from attunement.web import downloads
from attunement.web.api._router import ApiRouter
from attunement.web.deps import CurrentActor, StoreDep
from attunement.web.schemas import Json
from attunement.web.submissions import MAX_RECORD_ID

router = ApiRouter("exports")


class ExportJobIn(BaseModel):
    """What to export: the assessments in the requester's scope."""

    format: Literal["csv", "parquet"] = "csv"
    study: int | None = Field(None, ge=1, le=MAX_RECORD_ID)
    pseudonymise: bool | None = Field(
        None, description="Researchers always get pseudonymised data; asking otherwise is 403")


class ExportJobOut(BaseModel):
    """A background export: its status (queued, running, done, failed, expired) and progress."""

    id: int
    status: Literal["queued", "running", "done", "failed", "expired"]
    format: Literal["csv", "parquet"]
    study: int | None
    pseudonymised: bool
    rows_done: int
    rows_total: int | None
    bytes: int | None
    error: str | None
    created_at: dt.datetime
    finished_at: dt.datetime | None
    expires_at: dt.datetime | None
    ready: bool


def run_jobs(store: Store) -> None:
    """Run the queued export jobs in this process, after the response has been sent.

    Other processes and ``attunement platform export-jobs`` workers may take some of the jobs:
    claims are atomic.

    Parameters
    ----------
    store : Store
        The application's open store.
    """
    uc_exports.run_export_jobs(store)


@router.post("/exports", response_model=ExportJobOut, status_code=202)
def request_export(body: ExportJobIn, background: BackgroundTasks, actor: CurrentActor,
                   store: StoreDep) -> Json:
    """Queue an export of the assessments in your scope; poll ``GET /api/exports/{id}``."""
    job = store.export_jobs.request(actor, fmt=body.format, study=body.study,
                                    pseudonymise=body.pseudonymise)
    background.add_task(run_jobs, store)
    return job


@router.get("/exports", response_model=list[ExportJobOut])
def list_exports(actor: CurrentActor, store: StoreDep) -> list[Json]:
    """Your background exports, newest first."""
    return store.export_jobs.list_jobs(actor)


@router.get("/exports/{job_id}", response_model=ExportJobOut)
def export_status(actor: CurrentActor, store: StoreDep,
                  job_id: int = Path(ge=1, le=MAX_RECORD_ID)) -> Json:
    """One of your background exports: status and progress (rows written of rows in all)."""
    return store.export_jobs.get(actor, job_id)


@router.get("/exports/{job_id}/file", response_class=FileResponse,
            responses={200: {"content": {k: {"schema": {"type": "string", "format": "binary"}}
                                         for k in ("text/csv", "application/vnd.apache.parquet")}}})
def export_file(actor: CurrentActor, store: StoreDep,
                job_id: int = Path(ge=1, le=MAX_RECORD_ID)) -> FileResponse:
    """The finished export's file (audited); 404 once it has expired."""
    job, path = store.export_jobs.open_file(actor, job_id)
    media_type, filename = downloads.STREAMED[job["format"]]
    return FileResponse(path, media_type=media_type, filename=filename)
