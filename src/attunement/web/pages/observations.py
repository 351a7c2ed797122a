"""Coded interaction sessions of a family: upload, the measures stored at upload beside the
caregivers' questionnaire scores over time. Views never parse a stored file
(:mod:`attunement.usecases.observations`); a file over the size or event limit is
refused with 413, one that cannot be measured with 422.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from attunement import policy
from attunement.policy import Action
from attunement.store import Actor, Forbidden, Store, StoreValidationError
from attunement.store.observation_measures import (
    PERMUTATIONS,
    ObservationLimits,
    UploadTooLarge,
)
from attunement.usecases import families as uc_families
from attunement.usecases import observations as uc_observations
from attunement.web import content
from attunement.web.charts import score_chart
from attunement.web.deps import PageActor, PostedForm
from attunement.web.forms import FormErrors
from attunement.web.guard import check_json
from attunement.web.pages.families import family_charts
from attunement.web.rendering import get_session, redirect, render

router = APIRouter(include_in_schema=False)


def _settings_dict(meta: dict[str, Any]) -> dict[str, Any]:
    s = uc_observations.settings_from(meta)
    return {**s, "window": list(s["window"])}


def _timeline(family: dict, sessions: list[dict]) -> list[dict]:
    """Questionnaire main scores and observed responsiveness, in date order."""
    rows: list[dict] = []
    superseded = {a.get("corrected_from") for a in family.get("assessments") or []}
    for a in family.get("assessments") or []:
        if a.get("id") in superseded:
            continue
        spec = content.chart_spec(str(a.get("instrument")))
        if spec is None:
            continue
        value = (a.get("scores") or {}).get(spec.column)
        if value is None:
            continue
        rows.append({"date": a.get("completed_on") or str(a.get("submitted_at", ""))[:10],
                     "caregiver": a.get("caregiver"), "measure": spec.label,
                     "time_point": a.get("time_point"), "value": value, "kind": "questionnaire"})
    for s in sessions:
        for m in s.get("measures") or []:
            if m["cue_type"] != "all" or m["responsiveness"] is None:
                continue
            rows.append({"date": s["date"], "caregiver": s.get("caregiver") or m["caregiver"],
                         "measure": "Observed responsiveness (share of cues answered within "
                                    f"{s['window']})",
                         "time_point": s.get("time_point") or "", "kind": "observation",
                         "value": round(float(m["responsiveness"]), 3)})
    rows.sort(key=lambda r: (str(r["date"]), r["kind"]))
    return rows


async def _page(request: Request, actor: Actor, family_id: int,
                values: dict[str, Any] | None = None, errors: FormErrors | None = None,
                status: int = 200) -> Response:
    store: Store = request.app.state.store
    family = await run_in_threadpool(uc_families.get_family, store, actor, family_id)
    sessions = []
    try:
        stored = await run_in_threadpool(store.observations.observation_measures, actor, family_id)
    except Forbidden:
        stored = None
    for o in family.get("observation_sessions") or []:
        meta = dict(o.get("metadata") or {})
        entry = {"id": o["id"], "filename": o.get("filename"),
                 "date": meta.get("session_date") or str(o.get("uploaded_at", ""))[:10],
                 "caregiver": meta.get("caregiver"), "time_point": meta.get("time_point"),
                 "coder": meta.get("coder"), "measures": None, "problem": None, "window": "",
                 "warnings": []}
        found = None if stored is None else stored.get(o["id"])
        if stored is None:
            entry["problem"] = "only clinical roles may open recordings"
        elif found is None:
            entry["problem"] = ("not measured: uploaded before measures were kept at upload; "
                                "upload the file again")
        else:
            lo, hi = found["settings"]["window"]
            entry["window"] = f"{lo:g}–{hi:g} s"
            entry["measures"] = found["measures"]
            entry["warnings"] = found["warnings"]
        sessions.append(entry)
    points = [(f"{s['date']}", float(m["responsiveness"])) for s in sessions
              for m in (s["measures"] or []) if m["cue_type"] == "all"
              and m["responsiveness"] is not None]
    chart = score_chart("Observed responsiveness over time", points, low=0.0, high=1.0,
                        y_label="Responsiveness") \
        if points else None
    # here, not at import: the observation package loads pandas and scipy (docs/scaling.md)
    from attunement.observation.actors import ACTORS_FROM

    return render(request, "observation_family.html", {
        "actors_from_choices": ACTORS_FROM,
        "family": family, "sessions": sessions, "timeline": _timeline(family, sessions),
        "charts": family_charts(family), "responsiveness_chart": chart,
        "values": values or {"window": "0, 5", "unit": "1"}, "errors": errors or FormErrors(),
        "today": dt.date.today().isoformat(), "permutations": PERMUTATIONS,
        "staff": policy.allows(actor, Action.EDIT_FAMILY),
    }, status=status)


@router.get("/families/{family_id}/observations", include_in_schema=False)
async def observations_page(request: Request, family_id: int, actor: PageActor) -> Response:
    """Show a family's coded observation sessions and the form to upload one."""
    return await _page(request, actor, family_id)


_FORM_FIELD = {"metadata.cues": "cues", "metadata.responses": "responses",
               "metadata.window": "window", "metadata.unit": "unit", "content": "file",
               "metadata.interval": "interval", "metadata.actors_from": "actors_from",
               "metadata.infant": "infant",
               "filename": "file", "file": "file"}


_FIELD_LABEL = {"cues": "Infant cue codes", "responses": "Caregiver response codes",
                "window": "Response window", "unit": "Time unit", "file": "Coded session file"}


@router.post("/families/{family_id}/observations", include_in_schema=False)
async def observations_upload(request: Request, family_id: int, form: PostedForm,
                              actor: PageActor) -> Response:
    """Upload a coded observation session (BORIS, ELAN, SDIS, Datavyu or CSV) for a family; the
    file is checked and measured before it is stored.
    """
    values = {k: v for k, v in form.items() if k != "csrf_token" and isinstance(v, str)}
    # a multipart body is not checked by the request guard: its text fields are checked here
    check_json(values, "body")
    check_json(getattr(form.get("file"), "filename", "") or "", "body.file")
    errors = FormErrors()
    upload = form.get("file")
    limit = ObservationLimits.from_env().max_bytes
    # read one byte past the limit, never the whole of an oversized upload
    content = await upload.read(limit + 1) if hasattr(upload, "read") else b""
    filename = getattr(upload, "filename", "") or ""
    if not content:
        errors.add("file", "Choose the coded session file (BORIS, ELAN, SDIS, Datavyu or CSV)")
    meta: dict[str, Any] = {
        "cues": values.get("cues", ""), "responses": values.get("responses", ""),
        "window": [x.strip() for x in values.get("window", "0, 5").split(",")],
        "unit": values.get("unit", "1") or "1",
        "interval": [x.strip() for x in values["interval"].split(",")]
        if values.get("interval", "").strip() else None,
        "actors_from": values.get("actors_from") or None,
        "infant": values.get("infant") or None,
        "caregiver": values.get("caregiver") or None, "coder": values.get("coder") or None,
        "session_date": values.get("session_date") or None,
        "time_point": values.get("time_point") or None,
    }
    try:
        clean = _settings_dict(meta)
    except StoreValidationError as exc:
        field = _FORM_FIELD.get(exc.field, "cues")
        errors.add(field, f"{_FIELD_LABEL.get(field, field)}: {exc.reason}")  # say which field
        clean = {}
    if meta["session_date"]:
        try:
            dt.date.fromisoformat(meta["session_date"])
        except ValueError:
            errors.add("session_date", "Enter the date as YYYY-MM-DD")
    if not errors:
        meta.update(clean)
        store: Store = request.app.state.store
        try:
            # validated and measured once, in the store; refused files are not stored
            await run_in_threadpool(uc_observations.add_observation_session, store, actor,
                                    family_id,
                                    filename=filename, content=content,
                                    metadata={k: val for k, val in meta.items()
                                              if val is not None})
        except StoreValidationError as exc:
            errors.add(_FORM_FIELD.get(exc.field, "file"), exc.reason)
            if isinstance(exc, UploadTooLarge):
                return await _page(request, actor, family_id, values, errors, status=413)
        else:
            get_session(request).flash(f"Coded session {filename} added.")
            return redirect(request, f"/families/{family_id}/observations")
    return await _page(request, actor, family_id, values, errors, status=422)
