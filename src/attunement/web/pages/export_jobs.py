"""Background exports for people: request one, watch its progress, download it when ready.
"""

from __future__ import annotations

from fastapi import APIRouter, Path, Request
from fastapi.responses import FileResponse, Response
from starlette.background import BackgroundTask

from attunement.web import downloads
from attunement.web.api.export_jobs import run_jobs
from attunement.web.deps import PageActor, PostedForm
from attunement.web.rendering import call, get_session, redirect, render, store_of, visible_studies
from attunement.web.submissions import MAX_RECORD_ID

router = APIRouter(include_in_schema=False)


@router.get("/exports/jobs")
async def export_jobs_page(request: Request, actor: PageActor) -> Response:
    """Your background exports and a form to request one."""
    studies = await visible_studies(request, actor)
    jobs = await call(store_of(request).export_jobs.list_jobs, actor)
    return render(request, "export_jobs.html", {"jobs": jobs, "studies": studies,
                                                "formats": [(f, f.upper()) for f in downloads.STREAMED]})


@router.post("/exports/jobs")
async def export_jobs_request(request: Request, form: PostedForm, actor: PageActor) -> Response:
    """Queue a background export (CSV or Parquet) of the assessments in your scope, and show its
    progress page.
    """
    fmt = str(form.get("format", "csv"))
    if fmt not in downloads.STREAMED:
        get_session(request).flash(f"format: '{fmt}' is not a background export", "error")
        return redirect(request, "/exports/jobs")
    study_raw = str(form.get("study", "")).strip()
    study = int(study_raw) if study_raw.isdigit() else None
    identifiable = form.get("identifiable") == "yes"
    store = store_of(request)
    job = await call(store.export_jobs.request, actor, fmt=fmt, study=study,
                     pseudonymise=None if identifiable else True)
    response = redirect(request, f"/exports/jobs/{job['id']}")
    response.background = BackgroundTask(run_jobs, store)
    return response


@router.get("/exports/jobs/{job_id}")
async def export_job_page(request: Request, actor: PageActor,
                          job_id: int = Path(ge=1, le=MAX_RECORD_ID)) -> Response:
    """One export's progress (the page refreshes itself until the export ends)."""
    job = await call(store_of(request).export_jobs.get, actor, job_id)
    response = render(request, "export_job.html", {"job": job})
    if job["status"] in ("queued", "running"):
        # the browser reloads the page (no script needed)
        response.headers["Refresh"] = "3"
    return response


@router.get("/exports/jobs/{job_id}/file")
async def export_job_file(request: Request, actor: PageActor,
                          job_id: int = Path(ge=1, le=MAX_RECORD_ID)) -> Response:
    """Download the file of a finished background export (only the person who asked for it)."""
    job, path = await call(store_of(request).export_jobs.open_file, actor, job_id)
    media_type, filename = downloads.STREAMED[job["format"]]
    return FileResponse(path, media_type=media_type, filename=filename)
