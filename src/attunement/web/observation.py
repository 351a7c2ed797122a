"""Coded interaction sessions in the platform: upload to a family, see the sensitivity measures
beside the caregivers' questionnaire scores over time.

The stored file is the record (``Store.add_observation_session``, audited); the measures are
recomputed from it with :func:`attunement.observation.session_metrics` and the settings saved
with the upload (cue and response codes, window, time unit, permutation seed), so what is shown
can always be traced back to the file and the rule.

API: ``GET /api/families/{id}/observations/{session_id}/measures``. Pages: ``/families/{id}/observations`` (list,
measures, timeline, upload form; ``POST`` uploads, CSRF-protected).
"""

from __future__ import annotations

import datetime as dt
import math
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from attunement.store import Actor, Forbidden, NotFound, Store, StoreValidationError
from attunement.web.deps import api_actor, check_csrf, get_session, get_store, page_actor
from attunement.web.forms import FormErrors

router = APIRouter()

PERMUTATIONS = 1000
SEED = 20240601
MEASURE_COLUMNS = ("session", "caregiver", "cue_type", "n_cues", "cues_per_minute",
                   "responsiveness", "median_latency", "km_median_latency",
                   "chance_responsiveness", "yules_q", "odds_ratio", "adjusted_residual",
                   "permutation_p", "duration")


def _codes(value: Any, field: str) -> list[str]:
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list):
        raise StoreValidationError(field, "list the codes, separated by commas")
    out = [str(x).strip() for x in value if str(x).strip()]
    if not out:
        raise StoreValidationError(field, "name at least one code")
    return out


def settings_from(meta: dict[str, Any]) -> dict[str, Any]:
    """The measurement settings saved with an upload, validated (errors name the field)."""
    cues = _codes(meta.get("cues"), "metadata.cues")
    responses = _codes(meta.get("responses"), "metadata.responses")
    window = meta.get("window", [0, 5])
    try:
        lo, hi = (float(x) for x in window)
    except (TypeError, ValueError):
        raise StoreValidationError("metadata.window", "give two numbers of seconds, e.g. 0, 5"
                                   ) from None
    if not (0 <= lo < hi <= 600):
        raise StoreValidationError("metadata.window", "needs 0 ≤ start < end ≤ 600 seconds")
    try:
        unit = float(meta.get("unit", 1.0))
    except (TypeError, ValueError):
        raise StoreValidationError("metadata.unit", "must be a number of seconds") from None
    if not 0 < unit <= 60:
        raise StoreValidationError("metadata.unit", "must be between 0 and 60 seconds")
    return {"cues": cues, "responses": responses, "window": (lo, hi), "unit": unit}


def _clean(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if hasattr(value, "item"):
        return _clean(value.item())
    return value


def measures(store: Store, actor: Actor, session_id: int, meta: dict[str, Any]) -> list[dict]:
    """Recompute the session's measures from its stored file (tidy rows as dicts)."""
    from attunement.observation import ObservationError, read_events, session_metrics

    settings = settings_from(meta)
    filename, content = store.observation_content(actor, session_id)
    suffix = Path(filename).suffix.lower() or ".csv"
    with tempfile.TemporaryDirectory(prefix="attunement-obs-") as tmp:
        path = Path(tmp) / f"session{suffix}"
        path.write_bytes(content)
        try:
            events = read_events(path)
            table = session_metrics(events, cues=settings["cues"],
                                    responses=settings["responses"],
                                    window=settings["window"], unit=settings["unit"],
                                    permutations=PERMUTATIONS, seed=SEED)
        except (ObservationError, ValueError) as exc:
            message = str(exc).replace(str(path), filename)
            raise StoreValidationError("file", message) from None
    return [{c: _clean(r[c]) for c in MEASURE_COLUMNS} for r in table.to_dict("records")]


@router.get("/api/families/{family_id}/observations/{session_id}/measures",
            tags=["observation"])
def api_measures(family_id: int, session_id: int, actor: Actor = Depends(api_actor),
                 store: Store = Depends(get_store)) -> dict:
    """Responsiveness and contingency measures of a family's coded session (clinical roles in
    scope), per caregiver × cue type, with the settings they were computed with."""
    family = store.get_family(actor, family_id)
    session = next((o for o in family.get("observation_sessions") or []
                    if o.get("id") == session_id), None)
    if session is None:
        raise NotFound(f"observation session {session_id} not found")
    meta = dict(session.get("metadata") or {})
    rows = measures(store, actor, session_id, meta)
    return {"session": session_id, "settings": _settings_dict(meta),
            "permutations": PERMUTATIONS, "seed": SEED, "measures": rows}


def _settings_dict(meta: dict[str, Any]) -> dict[str, Any]:
    s = settings_from(meta)
    return {**s, "window": list(s["window"])}


def _timeline(family: dict, sessions: list[dict]) -> list[dict]:
    """Questionnaire main scores and observed responsiveness, in date order."""
    from attunement.web import domain

    rows: list[dict] = []
    superseded = {a.get("corrected_from") for a in family.get("assessments") or []}
    for a in family.get("assessments") or []:
        if a.get("id") in superseded:
            continue
        spec = domain.chart_spec(str(a.get("instrument")))
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
    from attunement.web.charts import score_chart
    from attunement.web.pages import _charts, render

    store: Store = request.app.state.store
    family = await run_in_threadpool(store.get_family, actor, family_id)
    sessions = []
    for o in family.get("observation_sessions") or []:
        meta = dict(o.get("metadata") or {})
        entry = {"id": o["id"], "filename": o.get("filename"),
                 "date": meta.get("session_date") or str(o.get("uploaded_at", ""))[:10],
                 "caregiver": meta.get("caregiver"), "time_point": meta.get("time_point"),
                 "coder": meta.get("coder"), "measures": None, "problem": None, "window": ""}
        try:
            s = settings_from(meta)
            entry["window"] = f"{s['window'][0]:g}–{s['window'][1]:g} s"
            entry["measures"] = await run_in_threadpool(measures, store, actor, o["id"], meta)
        except StoreValidationError as exc:
            entry["problem"] = f"{exc.field}: {exc.reason}"
        except Forbidden:
            entry["problem"] = "only clinical roles may open recordings"
        sessions.append(entry)
    points = [(f"{s['date']}", float(m["responsiveness"])) for s in sessions
              for m in (s["measures"] or []) if m["cue_type"] == "all"
              and m["responsiveness"] is not None]
    chart = score_chart("Observed responsiveness over time", points, low=0.0, high=1.0) \
        if points else None
    return render(request, "observation_family.html", {
        "family": family, "sessions": sessions, "timeline": _timeline(family, sessions),
        "charts": _charts(family), "responsiveness_chart": chart,
        "values": values or {"window": "0, 5", "unit": "1"}, "errors": errors or FormErrors(),
        "today": dt.date.today().isoformat(), "permutations": PERMUTATIONS,
        "staff": actor.role in ("practitioner", "site_lead", "admin"),
    }, status=status)


@router.get("/families/{family_id}/observations", include_in_schema=False)
async def observations_page(request: Request, family_id: int,
                            actor: Actor = Depends(page_actor)) -> Response:
    return await _page(request, actor, family_id)


_FORM_FIELD = {"metadata.cues": "cues", "metadata.responses": "responses",
               "metadata.window": "window", "metadata.unit": "unit", "content": "file",
               "filename": "file", "file": "file"}


@router.post("/families/{family_id}/observations", include_in_schema=False,
             dependencies=[Depends(check_csrf)])
async def observations_upload(request: Request, family_id: int,
                              actor: Actor = Depends(page_actor)) -> Response:
    from attunement.web.pages import redirect

    form = await request.form()
    values = {k: v for k, v in form.items() if k != "csrf_token" and isinstance(v, str)}
    errors = FormErrors()
    upload = form.get("file")
    content = await upload.read() if hasattr(upload, "read") else b""
    filename = getattr(upload, "filename", "") or ""
    if not content:
        errors.add("file", "Choose the coded session file (BORIS, ELAN, SDIS, Datavyu or CSV)")
    meta: dict[str, Any] = {
        "cues": values.get("cues", ""), "responses": values.get("responses", ""),
        "window": [x.strip() for x in values.get("window", "0, 5").split(",")],
        "unit": values.get("unit", "1") or "1",
        "caregiver": values.get("caregiver") or None, "coder": values.get("coder") or None,
        "session_date": values.get("session_date") or None,
        "time_point": values.get("time_point") or None,
    }
    try:
        clean = _settings_dict(meta)
    except StoreValidationError as exc:
        errors.add(_FORM_FIELD.get(exc.field, "cues"), exc.reason)
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
            # check the file can be measured before it becomes part of the record
            await run_in_threadpool(_check_file, filename, content, meta)
            await run_in_threadpool(store.add_observation_session, actor, family_id,
                                    filename=filename, content=content,
                                    metadata={k: val for k, val in meta.items()
                                              if val is not None})
        except StoreValidationError as exc:
            errors.add(_FORM_FIELD.get(exc.field, "file"), exc.reason)
        else:
            get_session(request).flash(f"Coded session {filename} added.")
            return redirect(request, f"/families/{family_id}/observations")
    return await _page(request, actor, family_id, values, errors, status=422)


def _check_file(filename: str, content: bytes, meta: dict[str, Any]) -> None:
    from attunement.observation import ObservationError, read_events, session_metrics

    settings = settings_from(meta)
    suffix = Path(filename).suffix.lower() or ".csv"
    with tempfile.TemporaryDirectory(prefix="attunement-obs-") as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(content)
        try:
            events = read_events(path)
            session_metrics(events, cues=settings["cues"], responses=settings["responses"],
                            window=settings["window"], unit=settings["unit"], permutations=0)
        except (ObservationError, ValueError) as exc:
            raise StoreValidationError("file", str(exc).replace(str(path), filename)) from None
