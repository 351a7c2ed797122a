"""The JSON API: everything the pages can do, for programs, one module per resource. Documented
at ``/docs``; every operation declares its response model.

Paths other tools rely on: ``POST /api/token``, ``GET|POST /api/families``,
``GET /api/families/{id}``, ``POST /api/families/{id}/assessments``,
``GET /api/families/{id}/profile``, ``GET /api/families/{id}/matches``.
"""

from __future__ import annotations

from fastapi import APIRouter

from attunement.web.api import (
    accounts,
    admin,
    alerts,
    assessments,
    auth,
    cascade,
    consents,
    episodes,
    export_jobs,
    exports,
    families,
    links,
    observations,
    outreach,
    trials,
)

router = APIRouter()
# exports before export_jobs: ``/api/exports/assessments`` before ``/api/exports/{job_id}``
for _module in (auth, accounts, families, assessments, links, alerts, episodes, consents,
                observations, exports, export_jobs, admin, trials, cascade, outreach):
    router.include_router(_module.router)

__all__ = ["router"]
