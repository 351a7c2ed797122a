"""Server-rendered pages for people, one module per resource. They work without JavaScript.

Each handler asks the store, with the signed-in actor, for exactly what it shows; the store
decides what the actor may see. State-changing forms are POSTs carrying the session's CSRF
token; a form that fails validation is shown again with what was typed and a message per field
(:mod:`attunement.web.rendering`).
"""

from __future__ import annotations

from fastapi import APIRouter

from attunement.web.pages import (
    accounts,
    admin,
    assessments,
    auth,
    care,
    caregiver,
    cascade,
    dashboard,
    export_jobs,
    exports,
    families,
    observations,
    outreach,
    trials,
    voice,
)

router = APIRouter()
# order matters where paths overlap: ``/s/{token}/start`` before ``/s/{token}/{kind}`` (one
# module), ``/families/new`` before ``/families/{family_id}`` (one module)
for _module in (auth, dashboard, families, assessments, caregiver, voice, care, admin, exports,
                export_jobs, trials, observations, accounts, cascade, outreach):
    router.include_router(_module.router)

__all__ = ["router"]
