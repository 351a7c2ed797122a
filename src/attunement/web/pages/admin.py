"""Administration pages: sites, users and studies.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from attunement.store import Actor, StoreValidationError
from attunement.web.content import role_names, vocabulary_choices
from attunement.web.deps import PageActor, PostedForm
from attunement.web.forms import FormErrors, normalise_field
from attunement.web.rendering import call, get_session, redirect, render_form, store_of

router = APIRouter(include_in_schema=False)


async def _admin(request: Request, actor: Actor, values: dict[str, Any] | None = None,
                 errors: FormErrors | None = None) -> Response:
    store = store_of(request)
    users = await call(store.accounts.list_users, actor)
    sites = await call(store.accounts.list_sites, actor)
    studies = await call(store.accounts.list_studies, actor)
    return render_form(request, "admin.html", {
        "users": users, "sites": sites, "studies": studies,
        "roles": vocabulary_choices("user_roles"),
    }, values=values, errors=errors)


@router.get("/admin")
async def admin_page(request: Request, actor: PageActor) -> Response:
    """Show the administration page: sites, users and studies, with the forms to add them."""
    return await _admin(request, actor)


@router.post("/admin/sites")
async def admin_add_site(request: Request, form: PostedForm, actor: PageActor) -> Response:
    """Add a site from the administration page (administrators only)."""
    name = str(form.get("site.name", "")).strip()
    errors = FormErrors()
    if not name:
        errors.add("site.name", "Enter the site's name")
    else:
        try:
            await call(store_of(request).accounts.add_site, actor, name)
        except StoreValidationError as exc:
            errors.add("site.name", exc.reason)
        else:
            get_session(request).flash(f"Site '{name}' added.")
            return redirect(request, "/admin")
    return await _admin(request, actor, {"site.name": name}, errors)


@router.post("/admin/users")
async def admin_add_user(request: Request, form: PostedForm, actor: PageActor) -> Response:
    """Add a user account from the administration page with a role, sites and a first password
    (administrators; site leads for their own sites).
    """
    email = str(form.get("user.email", "")).strip()
    role = str(form.get("user.role", ""))
    sites = [str(s) for s in form.getlist("user.sites")]
    password = str(form.get("user.password", ""))
    errors = FormErrors()
    if "@" not in email:
        errors.add("user.email", "Enter the person's email address, e.g. name@example.org")
    if role not in dict(vocabulary_choices("user_roles")):
        errors.add("user.role", "Choose a role")
    if not password:
        errors.add("user.password", "Enter a first password")
    studies = [str(s) for s in form.getlist("user.studies")]
    if not errors:
        try:
            await call(store_of(request).accounts.add_user, actor, email, role, sites, password,
                       studies=studies or None)
        except StoreValidationError as exc:
            errors.add("user." + normalise_field(exc.field).split(".")[0], exc.reason)
        else:
            get_session(request).flash(f"User {email} added as {role_names().get(role, role)}.")
            return redirect(request, "/admin")
    values: dict[str, Any] = {"user.email": email, "user.role": role, "user.sites": sites,
                              "user.studies": studies}
    return await _admin(request, actor, values, errors)


@router.post("/admin/studies")
async def admin_add_study(request: Request, form: PostedForm, actor: PageActor) -> Response:
    """Add a study from the administration page, its schedule one time point per line
    (``name, offset days, window days, instrument ids``); administrators only.
    """
    name = str(form.get("study.name", "")).strip()
    sites = [str(s) for s in form.getlist("study.sites")]
    schedule = str(form.get("study.schedule", ""))
    errors = FormErrors()
    if not name:
        errors.add("study.name", "Enter the study's name")
    if not sites:
        errors.add("study.sites", "Choose at least one site")
    time_points = []
    for line_no, line in enumerate(schedule.splitlines(), start=1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split(",")]
        try:
            tp_name, offset, window = parts[0], int(parts[1]), int(parts[2])
            instruments = [p for p in parts[3].split() if p]
            if not tp_name or not instruments:
                raise ValueError
        except (IndexError, ValueError):
            errors.add("study.schedule", f"Line {line_no} should read 'name, offset days, "
                       f"window days, instrument ids' — e.g. '6w, 42, 14, epds phq9'")
            break
        time_points.append({"name": tp_name, "offset_days": offset, "window_days": window,
                            "instruments": instruments})
    if not time_points and "study.schedule" not in errors:
        errors.add("study.schedule", "Enter at least one time point")
    if not errors:
        try:
            await call(store_of(request).accounts.add_study, actor, name, sites, time_points)
        except StoreValidationError as exc:
            errors.add("study." + (normalise_field(exc.field).split(".")[0] or "name"), exc.reason)
        else:
            get_session(request).flash(f"Study '{name}' added.")
            return redirect(request, "/admin")
    values = {"study.name": name, "study.sites": sites, "study.schedule": schedule}
    return await _admin(request, actor, values, errors)
