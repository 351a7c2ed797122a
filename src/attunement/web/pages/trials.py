"""Trial pages: ``/trials`` (the studies the user may see), ``/studies/{id}/trial`` (design,
allocation list, CONSORT diagram; the admin defines the design there) and
``/families/{id}/randomise``. The store decides scope and roles.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from attunement import policy
from attunement.policy import Action
from attunement.store import Actor, NotFound, Store, StoreValidationError
from attunement.store.scope import sees_allocation_sequence
from attunement.usecases import families as uc_families
from attunement.usecases.trials import Trials
from attunement.web.charts import inline_svg
from attunement.web.deps import PageActor, PostedForm
from attunement.web.forms import FormErrors
from attunement.web.rendering import get_session, redirect, render, render_form

router = APIRouter(include_in_schema=False)


def _trials(store: Store) -> Trials:
    return Trials(store)


async def _study_page(request: Request, actor: Actor, study_id: int,
                      values: dict[str, Any] | None = None,
                      errors: FormErrors | None = None) -> Response:
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
        consort = inline_svg(svg, f"CONSORT flow diagram of {study['name']}", "consort-title")
    return render_form(request, "trials_study.html", {
        "study": study, "design": design, "allocations": rows, "consort": consort,
        "balance": balance, "unblinded": unblinded,
    }, values=values, errors=errors)


@router.get("/trials")
async def trials_index(request: Request, actor: PageActor) -> Response:
    """List the studies you may see, each linking to its trial page."""
    store: Store = request.app.state.store
    studies = await run_in_threadpool(store.accounts.list_studies, actor)
    return render(request, "trials_index.html", {"studies": studies})


@router.get("/studies/{study_id}/trial")
async def study_trial(request: Request, study_id: int, actor: PageActor) -> Response:
    """Show a study's trial page: its randomisation design and, for those allowed to see it, the
    allocations.
    """
    return await _study_page(request, actor, study_id)


def _split(text: str) -> list[str]:
    return [x.strip() for x in re.split(r"[,\n]", text or "") if x.strip()]


def parse_design_form(form: Any) -> tuple[dict, str | None, FormErrors]:
    """Turn the randomisation design form into a design, with field errors.

    Parameters
    ----------
    form : Mapping
        The posted design form.

    Returns
    -------
    tuple of (dict, str or None, FormErrors)
        The design (method, arms, ratio, block sizes or factors, levels, consent kind), the
        secret seed if one was given, and a message per field at fault.
    """
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


@router.post("/studies/{study_id}/trial/design")
async def study_trial_design(request: Request, study_id: int, form: PostedForm,
                             actor: PageActor) -> Response:
    """Save a study's randomisation design (administrators only); it cannot change once a family is
    randomised.
    """
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
    return await _study_page(request, actor, study_id, values, errors)


async def _randomise_page(request: Request, actor: Actor, family_id: int,
                          values: dict[str, Any] | None = None,
                          errors: FormErrors | None = None, status: int | None = None) -> Response:
    store: Store = request.app.state.store
    family = await run_in_threadpool(uc_families.get_family, store, actor, family_id)
    info = await run_in_threadpool(_trials(store).factor_inputs, actor, family_id)
    return render_form(request, "trials_randomise.html", {
        "family": family, "info": info, "may_randomise": policy.allows(actor, Action.RANDOMISE),
    }, values=values, errors=errors, status=status)


@router.get("/families/{family_id}/randomise")
async def randomise_page(request: Request, family_id: int, actor: PageActor) -> Response:
    """Show the randomisation page of a family: its allocation, or the form to randomise it."""
    return await _randomise_page(request, actor, family_id)


@router.post("/families/{family_id}/randomise")
async def randomise_submit(request: Request, family_id: int, form: PostedForm,
                           actor: PageActor) -> Response:
    """Randomise a family once it is confirmed eligible and consenting; the allocation can never be
    changed.
    """
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
