"""Trials in the platform: a study's randomisation design, concealed allocation and CONSORT.

API (bearer token): ``POST /api/studies/{id}/design`` (admin), ``GET /api/studies/{id}/design``,
``POST /api/studies/{id}/design/secret`` (admin: reveal the seed for an audit, with a reason),
``POST /api/families/{id}/randomise`` (practitioner, site lead or admin, family in their sites,
consent recorded), ``GET /api/families/{id}/allocation``, ``GET /api/studies/{id}/allocations``,
``GET /api/studies/{id}/balance``, ``GET /api/studies/{id}/verify`` (admin: replay from the
seed), ``GET /api/studies/{id}/consort.svg``. Allocation concealment: recruiters
(practitioners, site leads) get 403 from the allocation list, balance and CONSORT, and a
design without block sizes, ratio or weights (:func:`attunement.store.scope.sees_allocation_sequence`).

Pages: ``/trials`` (the studies the user may see), ``/studies/{id}/trial`` (design, allocation
list, CONSORT diagram; the admin defines the design there) and ``/families/{id}/randomise``.
The store (:class:`attunement.store.trials.StudyTrials`) decides scope and roles; a family
outside the user's sites answers 404; randomising twice answers 409.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from attunement.store import Actor, NotFound, Store, StoreValidationError
from attunement.store.scope import sees_allocation_sequence
from attunement.store.trials import AlreadyRandomised, SequenceMismatch, StudyTrials
from attunement.web.deps import api_actor, check_csrf, get_session, get_store, page_actor
from attunement.web.forms import FormErrors

api_router = APIRouter(prefix="/api", tags=["trials"])
pages_router = APIRouter(include_in_schema=False)
router = APIRouter()

Json = dict[str, Any]


def _trials(store: Store) -> StudyTrials:
    return StudyTrials(store)


def _conflict(exc: Exception) -> JSONResponse:
    field = getattr(exc, "field", "") or ""
    reason = getattr(exc, "reason", "") or str(exc)
    return JSONResponse({"detail": [{"loc": ["body", *field.split(".")] if field else ["body"],
                                     "field": field, "msg": reason, "type": "conflict"}]},
                        status_code=409)


# --- API ------------------------------------------------------------------------------------


class DesignIn(BaseModel):
    """A randomisation design (the keys of ``attunement trials allocate --design``)."""

    method: Literal["blocks", "minimisation"]
    arms: list[str] = Field(min_length=2)
    ratio: list[int] | None = Field(None, description="Allocation ratio, one per arm (1:1 "
                                                      "if omitted)")
    block_sizes: list[int] = Field(default_factory=list, description="blocks: sizes drawn at "
                                   "random; each a multiple of the ratio's sum")
    block_weights: list[float] = Field(default_factory=list)
    strata: list[str] = Field(default_factory=list, description="blocks: stratification "
                              "columns; 'site' (or 'centre') is filled in from the family")
    factors: list[str] = Field(default_factory=list, description="minimisation factors")
    weights: list[float] = Field(default_factory=list)
    p: float = Field(0.8, description="minimisation: probability of the minimising arm")
    imbalance: Literal["range", "sd", "variance"] = "range"
    levels: dict[str, list[str]] = Field(default_factory=dict, description="Allowed values of "
                                         "each stratum/factor other than site")
    consent_kind: str = Field("research", description="The consent that must be active")
    secret: str | None = Field(None, min_length=16, description="The seed, e.g. kept by the "
                               "trial statistician; generated when omitted. Stored encrypted "
                               "and never returned")


class RandomiseIn(BaseModel):
    values: dict[str, str] = Field(default_factory=dict, description="The family's level of "
                                   "each stratum/factor other than site, e.g. {\"smi\": \"no\"}")


class RevealIn(BaseModel):
    reason: str = Field(min_length=1)


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


@api_router.post("/studies/{study_id}/design", status_code=201)
def define_design(study_id: int, body: DesignIn, actor: Actor = Depends(api_actor),
                  store: Store = Depends(get_store)) -> Json:
    """Define the study's randomisation design (admin; only before anyone is allocated)."""
    return _trials(store).define_design(actor, study_id, _design_payload(body),
                                        secret=body.secret)


@api_router.get("/studies/{study_id}/design")
def get_design(study_id: int, actor: Actor = Depends(api_actor),
               store: Store = Depends(get_store)) -> Json:
    """The study's design and the public fingerprint of its seed (never the seed)."""
    return _trials(store).get_design(actor, study_id)


@api_router.post("/studies/{study_id}/design/secret")
def reveal_secret(study_id: int, body: RevealIn, actor: Actor = Depends(api_actor),
                  store: Store = Depends(get_store)) -> Json:
    """The seed, for an independent audit of the sequence (admin; audited with the reason)."""
    return {"secret": _trials(store).reveal_secret(actor, study_id, reason=body.reason)}


@api_router.post("/families/{family_id}/randomise", status_code=201)
def randomise(family_id: int, body: RandomiseIn | None = None,
              actor: Actor = Depends(api_actor), store: Store = Depends(get_store)) -> Response:
    """Randomise an enrolled family with active consent. 409 if it already has an arm."""
    try:
        out = _trials(store).randomise(actor, family_id,
                                       values=(body.values if body else {}))
    except (AlreadyRandomised, SequenceMismatch) as exc:
        return _conflict(exc)
    return JSONResponse(out, status_code=201)


@api_router.get("/families/{family_id}/allocation")
def allocation(family_id: int, actor: Actor = Depends(api_actor),
               store: Store = Depends(get_store)) -> Json:
    """The family's allocation (404 if not randomised or not in the user's scope)."""
    return _trials(store).allocation(actor, family_id)


@api_router.get("/studies/{study_id}/allocations")
def allocations(study_id: int, actor: Actor = Depends(api_actor),
                store: Store = Depends(get_store)) -> list[Json]:
    """The study's allocations in sequence order (researchers: pseudonymised)."""
    return _trials(store).list_allocations(actor, study_id)


@api_router.get("/studies/{study_id}/balance")
def balance(study_id: int, actor: Actor = Depends(api_actor),
            store: Store = Depends(get_store)) -> list[Json]:
    """Allocations per arm overall and per stratum/factor level, with the largest imbalance."""
    return _trials(store).balance(actor, study_id).to_dict("records")


@api_router.get("/studies/{study_id}/verify")
def verify(study_id: int, actor: Actor = Depends(api_actor),
           store: Store = Depends(get_store)) -> Json:
    """Replay the sequence from the seed (admin): the allocations that differ, if any."""
    bad = _trials(store).verify(actor, study_id)
    return {"ok": not bad, "mismatched_sequences": bad}


@api_router.get("/studies/{study_id}/consort.svg", response_class=Response)
def consort_svg(study_id: int, actor: Actor = Depends(api_actor),
                store: Store = Depends(get_store)) -> Response:
    """The CONSORT 2010 flow diagram of the study's records (the user's families)."""
    svg = presentational_svg(_trials(store).consort_svg(actor, study_id))
    return Response(svg, media_type="image/svg+xml")


# --- pages ----------------------------------------------------------------------------------


_SVG_NS = "http://www.w3.org/2000/svg"
_XLINK_NS = "http://www.w3.org/1999/xlink"
_DECLARATION = re.compile(r"[a-z-]+")


def _parse_svg(svg: str) -> ET.Element:
    ET.register_namespace("", _SVG_NS)
    ET.register_namespace("xlink", _XLINK_NS)
    for prefix, uri in (("dc", "http://purl.org/dc/elements/1.1/"),
                        ("cc", "http://creativecommons.org/ns#"),
                        ("rdf", "http://www.w3.org/1999/02/22-rdf-syntax-ns#")):
        ET.register_namespace(prefix, uri)
    return ET.fromstring(svg.encode("utf-8"))  # no DTD or entities: matplotlib writes none


def _presentational(root: ET.Element) -> ET.Element:
    """Matplotlib writes ``style="…"`` attributes and a ``<style>`` element, which the
    platform's Content-Security-Policy (``style-src 'self'``) blocks; SVG presentation
    attributes (``fill="…"``) draw the same and are not styles. Done on the parsed tree, so
    text in the diagram (an arm or study name) can never become an attribute or markup."""
    for parent in root.iter():
        for child in list(parent):
            if child.tag == f"{{{_SVG_NS}}}style":
                parent.remove(child)
        style = parent.attrib.pop("style", None)
        if style is None:
            continue
        for decl in style.split(";"):
            if ":" in decl:
                name, value = (x.strip() for x in decl.split(":", 1))
                if _DECLARATION.fullmatch(name):
                    parent.set(name, value)
    return root


def presentational_svg(svg: str) -> str:
    """Matplotlib's SVG document with presentation attributes instead of styles."""
    root = _presentational(_parse_svg(svg))
    return ET.tostring(root, encoding="unicode", xml_declaration=True)


def _inline_svg(svg: str, title: str, ident: str) -> str:
    """Matplotlib's SVG document as an inline, titled image."""
    root = _presentational(_parse_svg(svg))
    for name in ("width", "height"):
        root.attrib.pop(name, None)
    root.set("role", "img")
    root.set("aria-labelledby", ident)
    root.set("class", "consort")
    heading = ET.Element(f"{{{_SVG_NS}}}title", {"id": ident})
    heading.text = title
    root.insert(0, heading)
    return ET.tostring(root, encoding="unicode")


async def _study_page(request: Request, actor: Actor, study_id: int,
                      values: dict[str, Any] | None = None, errors: FormErrors | None = None,
                      status: int = 200) -> Response:
    from attunement.web.pages import render

    store: Store = request.app.state.store
    trials = _trials(store)
    studies = await run_in_threadpool(store.accounts.list_studies, actor)
    study = next((s for s in studies if s["id"] == study_id), None)
    if study is None:
        raise NotFound(f"study {study_id} not found")
    try:
        design: dict | None = await run_in_threadpool(trials.get_design, actor, study_id)
    except NotFound:
        design = None
    unblinded = sees_allocation_sequence(actor)
    rows = (await run_in_threadpool(trials.list_allocations, actor, study_id)
            if unblinded else [])
    consort = None
    balance: list[dict] = []
    if design is not None and unblinded:
        table = await run_in_threadpool(trials.balance, actor, study_id)
        balance = table.to_dict("records") if rows else []
        svg = await run_in_threadpool(trials.consort_svg, actor, study_id)
        consort = _inline_svg(svg, f"CONSORT flow diagram of {study['name']}", "consort-title")
    return render(request, "trials_study.html", {
        "study": study, "design": design, "allocations": rows, "consort": consort,
        "balance": balance, "unblinded": unblinded,
        "values": values or {}, "errors": errors or FormErrors(),
    }, status=status)


@pages_router.get("/trials")
async def trials_index(request: Request, actor: Actor = Depends(page_actor)) -> Response:
    from attunement.web.pages import render

    store: Store = request.app.state.store
    studies = await run_in_threadpool(store.accounts.list_studies, actor)
    return render(request, "trials_index.html", {"studies": studies})


@pages_router.get("/studies/{study_id}/trial")
async def study_trial(request: Request, study_id: int,
                      actor: Actor = Depends(page_actor)) -> Response:
    return await _study_page(request, actor, study_id)


def _split(text: str) -> list[str]:
    return [x.strip() for x in re.split(r"[,\n]", text or "") if x.strip()]


def parse_design_form(form: Any) -> tuple[dict, str | None, FormErrors]:
    """The design form → (design dict, seed or None, errors by field)."""
    errors = FormErrors()

    def text(name: str) -> str:
        value = form.get(name)
        return value.strip() if isinstance(value, str) else ""

    def ints(name: str, label: str) -> list[int]:
        out = []
        for part in _split(text(name)):
            try:
                out.append(int(part))
            except ValueError:
                errors.add(name, f"{label}: {part!r} is not a whole number")
        return out

    method = text("method")
    if method not in ("blocks", "minimisation"):
        errors.add("method", "Choose permuted blocks or minimisation")
    arms = _split(text("arms"))
    if len(arms) < 2:
        errors.add("arms", "Name at least two arms, separated by commas")
    design: dict[str, Any] = {"method": method, "arms": arms}
    ratio = ints("ratio", "Ratio")
    if ratio:
        design["ratio"] = ratio
    columns = _split(text("columns"))
    if method == "blocks":
        design["block_sizes"] = ints("block_sizes", "Block sizes")
        if not design["block_sizes"]:
            errors.add("block_sizes", "Give at least one block size, e.g. 4, 6")
        design["strata"] = columns
    elif method == "minimisation":
        design["factors"] = columns
        p = text("p") or "0.8"
        try:
            design["p"] = float(p)
        except ValueError:
            errors.add("p", f"{p!r} is not a number")
    levels: dict[str, list[str]] = {}
    for line in (text("levels") or "").splitlines():
        if not line.strip():
            continue
        if ":" not in line:
            errors.add("levels", f"{line.strip()!r}: write one factor per line as "
                                 "'factor: value, value'")
            continue
        name, vals = line.split(":", 1)
        levels[name.strip()] = _split(vals)
    design["levels"] = levels
    design["consent_kind"] = text("consent_kind") or "research"
    secret = text("secret") or None
    return design, secret, errors


_FIELD_OF = {"design.strata": "columns", "design.factors": "columns", "design.levels": "levels",
             "design.block_sizes": "block_sizes", "design.ratio": "ratio", "design.arms": "arms",
             "design.p": "p", "design.method": "method", "design": "method",
             "consent_kind": "consent_kind", "secret": "secret"}


@pages_router.post("/studies/{study_id}/trial/design", dependencies=[Depends(check_csrf)])
async def study_trial_design(request: Request, study_id: int,
                             actor: Actor = Depends(page_actor)) -> Response:
    from attunement.web.pages import redirect

    form = await request.form()
    values = {k: v for k, v in form.items() if k not in ("csrf_token", "secret")
              and isinstance(v, str)}
    design, secret, errors = parse_design_form(form)
    if not errors:
        try:
            await run_in_threadpool(_trials(request.app.state.store).define_design, actor,
                                    study_id, design, secret=secret)
        except StoreValidationError as exc:
            field = exc.field
            key = _FIELD_OF.get(field) or _FIELD_OF.get(".".join(field.split(".")[:2]),
                                                        "method")
            errors.add(key, f"{field}: {exc.reason}")
        else:
            get_session(request).flash("Randomisation design saved.")
            return redirect(request, f"/studies/{study_id}/trial")
    return await _study_page(request, actor, study_id, values, errors, status=422)


async def _randomise_page(request: Request, actor: Actor, family_id: int,
                          values: dict[str, Any] | None = None,
                          errors: FormErrors | None = None, status: int = 200) -> Response:
    from attunement.web.pages import render

    store: Store = request.app.state.store
    family = await run_in_threadpool(store.families.get_family, actor, family_id)
    info = await run_in_threadpool(_trials(store).factor_inputs, actor, family_id)
    return render(request, "trials_randomise.html", {
        "family": family, "info": info, "values": values or {}, "errors": errors or FormErrors(),
        "may_randomise": actor.role in ("practitioner", "site_lead", "admin"),
    }, status=status)


@pages_router.get("/families/{family_id}/randomise")
async def randomise_page(request: Request, family_id: int,
                         actor: Actor = Depends(page_actor)) -> Response:
    return await _randomise_page(request, actor, family_id)


@pages_router.post("/families/{family_id}/randomise", dependencies=[Depends(check_csrf)])
async def randomise_submit(request: Request, family_id: int,
                           actor: Actor = Depends(page_actor)) -> Response:
    from attunement.web.pages import redirect

    form = await request.form()
    values = {k[len("values."):]: v for k, v in form.items()
              if k.startswith("values.") and isinstance(v, str)}
    errors = FormErrors()
    if form.get("confirm") != "yes":
        errors.add("confirm", "Confirm that the family is eligible and has consented")
    if not errors:
        try:
            out = await run_in_threadpool(_trials(request.app.state.store).randomise, actor,
                                          family_id, values=values)
        except StoreValidationError as exc:
            errors.add(exc.field if exc.field.startswith("values.") else "confirm",
                       exc.reason)
        else:
            get_session(request).flash(f"Randomised: allocated to {out['arm']}.")
            return redirect(request, f"/families/{family_id}/randomise")
    form_values = {f"values.{k}": v for k, v in values.items()}
    status = 409 if any("can never be changed" in m for m in errors.values()) else 422
    return await _randomise_page(request, actor, family_id, form_values, errors, status=status)


router.include_router(api_router)
router.include_router(pages_router)
