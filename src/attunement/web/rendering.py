"""What every server-rendered page shares: the templates, the session (flash messages and the
CSRF token), rendering, redirects and the service's own addresses.

Pages work without JavaScript. State-changing forms are POSTs carrying the session's CSRF
token (:func:`attunement.web.deps.check_csrf`); a form that fails validation is shown again
with what was typed and a message per field.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from jinja2.runtime import Context
from starlette.concurrency import run_in_threadpool

from attunement import __version__, policy
from attunement.store import SAFETY_REVIEW_OUTCOMES, Forbidden, Store, StoreValidationError
from attunement.web.content import (
    crisis_contacts_in,
    language_cutoff_notes,
    role_names,
    vocabulary_choices,
)
from attunement.web.forms import FormErrors
from attunement.web.security import Session

HERE = Path(__file__).parent
T = TypeVar("T")


@pass_context
def can(context: Context, action: str, target: policy.Target | None = None) -> bool:
    """Whether the page's actor may do ``action`` (an :class:`attunement.policy.Action` name),
    as :func:`attunement.policy.allows` says; False with nobody signed in.

    Parameters
    ----------
    context : jinja2.runtime.Context
        The template's context (its ``actor``), passed by Jinja.
    action : str
        The action's name, e.g. ``"RANDOMISE"``.
    target : attunement.policy.Target, optional
        The record, when the rule depends on its site or study.

    Returns
    -------
    bool
        True when allowed.
    """
    actor = context.get("actor")
    return actor is not None and policy.allows(actor, policy.Action[action], target)


def make_templates(service_name: str) -> Jinja2Templates:
    """The Jinja2 templates of the pages, with the service's name and version as globals.

    Parameters
    ----------
    service_name : str
        The service's name, shown on every page.

    Returns
    -------
    fastapi.templating.Jinja2Templates
        The templates, with the filters and helpers the pages use (``role``, ``can``, ...).
    """
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.globals["service_name"] = service_name
    templates.env.globals["version"] = __version__
    templates.env.filters["role"] = role_label
    templates.env.globals["can"] = can
    # which cut-offs of the caregiver's language scored an assessment (docs/item-text-packs.md)
    templates.env.globals["cutoff_notes"] = language_cutoff_notes
    # the crisis contacts in the caregiver's language, English where no translation exists
    templates.env.globals["crisis_contacts_in"] = crisis_contacts_in
    return templates


def role_label(role: str | None) -> str:
    """A caregiver role as people write it ("co-parent", not "co parent"), lower case.

    Parameters
    ----------
    role : str or None
        The role id (``"co_parent"``).

    Returns
    -------
    str
        The vocabulary's label, or the id with spaces for an unknown role.
    """
    labels = dict(vocabulary_choices("caregiver_roles"))
    text = labels.get(role or "", (role or "").replace("_", " "))
    return text[:1].lower() + text[1:]


async def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a (synchronous) store call off the event loop.

    Parameters
    ----------
    fn : callable
        The store method or use case to run in the thread pool.
    *args, **kwargs
        Passed on to ``fn``.

    Returns
    -------
    object
        What ``fn`` returns (its exception is raised here).
    """
    return await run_in_threadpool(fn, *args, **kwargs)


def store_of(request: Request) -> Store:
    """The application's open store, for a page handler.

    Parameters
    ----------
    request : fastapi.Request
        Any request to this application.

    Returns
    -------
    Store
        ``request.app.state.store``.
    """
    return request.app.state.store


async def visible_studies(request: Request, actor: Any) -> list[dict[str, Any]]:
    """The studies an actor may list, as a form's choices.

    Parameters
    ----------
    request : fastapi.Request
        The page request (its application holds the store).
    actor : Actor
        Who views the page.

    Returns
    -------
    list of dict
        The studies; an empty list for a role the store refuses.
    """
    try:
        return await call(store_of(request).accounts.list_studies, actor)
    except Forbidden:
        return []


def get_session(request: Request) -> Session:
    """The browser session of this request, loaded once and kept on the request.

    Parameters
    ----------
    request : fastapi.Request
        A browser request; the session cookie may be missing.

    Returns
    -------
    Session
        What the signed cookie holds; an empty session when there is none.
    """
    session = getattr(request.state, "session", None)
    if session is None:
        session = request.app.state.sessions.load(request)
        request.state.session = session
    return session


def render(request: Request, name: str, context: dict[str, Any], *, status: int = 200) -> Response:
    """A page from a template, with what every page needs: actor, CSRF token, flash messages.

    Parameters
    ----------
    request : fastapi.Request
        The page request.
    name : str
        The template's file name (``"family.html"``).
    context : dict
        The page's own values (they override the common ones).
    status : int
        The HTTP status.

    Returns
    -------
    fastapi.Response
        The rendered page, with the session saved.
    """
    session = get_session(request)
    context = {
        "request": request,
        "actor": getattr(request.state, "actor", None),
        "role_names": role_names(),
        "csrf_token": session.csrf,
        "flashes": session.pop_flashes(),
        "crisis_contacts": request.app.state.settings.crisis_contacts,
        "review_outcomes": SAFETY_REVIEW_OUTCOMES,
        "errors": {},
        "values": {},
        **context,
    }
    response = request.app.state.templates.TemplateResponse(
        request, name, context, status_code=status
    )
    request.app.state.sessions.save(response, session, https=request.url.scheme == "https")
    return response


def render_form(request: Request, name: str, context: dict[str, Any], *,
                values: dict[str, Any] | None = None, errors: FormErrors | None = None,
                status: int | None = None) -> Response:
    """A page with a form, shown again with what was typed and a message per field.

    Parameters
    ----------
    request, name, context
        As for :func:`render`.
    values : dict, optional
        What was typed, by field.
    errors : FormErrors, optional
        A message per field at fault.
    status : int, optional
        The HTTP status; 422 when there are errors, else 200.

    Returns
    -------
    fastapi.Response
        The page, its fields filled in again.
    """
    errors = errors or FormErrors()
    return render(request, name, {**context, "values": values or {}, "errors": errors},
                  status=status or (422 if errors else 200))


def redirect(request: Request, url: str) -> Response:
    """A 303 redirect that saves the session (its flash messages) on the way.

    Parameters
    ----------
    request : fastapi.Request
        The request being answered.
    url : str
        Where the browser goes next.

    Returns
    -------
    fastapi.Response
        A ``303 See Other`` response.
    """
    response = RedirectResponse(url, status_code=303)
    request.app.state.sessions.save(response, get_session(request),
                                    https=request.url.scheme == "https")
    return response


def safe_next(target: str | None) -> str:
    """A local path to go to after a form, never another site.

    Parameters
    ----------
    target : str or None
        The path asked for.

    Returns
    -------
    str
        ``target`` when it is a local path, else ``"/"``.

    Examples
    --------
    >>> safe_next("/families/3"), safe_next("//evil.example"), safe_next(None)
    ('/families/3', '/', '/')
    """
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def back(form: Any, fallback: str = "/") -> str:
    """The form's ``back`` field as a safe local path.

    Parameters
    ----------
    form : Mapping
        The posted form.
    fallback : str, default "/"
        Where to go when the form has no ``back`` field (a ``back`` that is not a path on
        this site, such as ``//host``, leads to ``/`` instead).

    Returns
    -------
    str
        A local path, checked by :func:`safe_next`.
    """
    return safe_next(str(form.get("back", fallback)))


def login_url(path: str) -> str:
    """The sign-in page's address, coming back to ``path`` afterwards.

    Parameters
    ----------
    path : str
        The page to return to once signed in.

    Returns
    -------
    str
        ``/login?next=`` and ``path``, quoted.
    """
    return "/login?next=" + quote(path, safe="/")


def public_base(request: Request) -> str:
    """The service's public address, for links sent to people.

    Parameters
    ----------
    request : fastapi.Request
        The request, whose own address serves when no public URL is configured.

    Returns
    -------
    str
        ``Settings.public_url`` when set, else the request's base address (no trailing slash).
    """
    return request.app.state.settings.public_url or str(request.base_url).rstrip("/")


def link_url(request: Request, secret: str) -> str:
    """The address of a caregiver's one-time questionnaire link.

    Parameters
    ----------
    request, secret
        The request (see :func:`public_base`) and the link's secret.

    Returns
    -------
    str
        ``<public address>/c/<secret>``.
    """
    return f"{public_base(request)}/c/{secret}"


def reset_url(request: Request, token: str) -> str:
    """The address of a password-reset link (the service's public URL when configured).

    Parameters
    ----------
    request : fastapi.Request
        See :func:`public_base`.
    token : str
        The secret of the reset link.

    Returns
    -------
    str
        The link, under ``/reset/``.
    """
    return f"{public_base(request)}/reset/{token}"


def space_url(request: Request, secret: str) -> str:
    """The address of a caregiver's own space, where their released results are shown.

    Parameters
    ----------
    request, secret
        As for :func:`link_url`; ``secret`` is the space link's.

    Returns
    -------
    str
        ``<public address>/s/<secret>``.
    """
    return f"{public_base(request)}/s/{secret}"


async def store_form(request: Request, target: str, failed: str, done: str,
                     fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Response:
    """The usual end of a form that changes one record: the store call, a message, and back.

    The message is ``done``, or ``failed — field: reason`` when the store refuses.

    Parameters
    ----------
    request : fastapi.Request
        The posted request.
    target : str
        Where to go afterwards.
    failed, done : str
        The messages for failure and success.
    fn : callable
        The store call.
    *args, **kwargs
        Its arguments.

    Returns
    -------
    fastapi.Response
        A 303 redirect to ``target``.
    """
    session = get_session(request)
    try:
        await call(fn, *args, **kwargs)
    except StoreValidationError as exc:
        session.flash(f"{failed} — {exc.field}: {exc.reason}", "error")
    else:
        session.flash(done)
    return redirect(request, target)


def form_date(text: str, label: str, problems: list[str]) -> dt.date | None:
    """Read a form's date field, noting a problem when it is not a date.

    Parameters
    ----------
    text : str
        The field's text, ``YYYY-MM-DD``.
    label : str
        The field's name in the problem.
    problems : list of str
        Where a problem is added.

    Returns
    -------
    datetime.date or None
        The date; None when ``text`` is not one.

    Examples
    --------
    >>> problems = []
    >>> form_date("2026-02-30", "start", problems), problems
    (None, ["start: '2026-02-30' is not a date written YYYY-MM-DD"])
    """
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        problems.append(f"{label}: '{text}' is not a date written YYYY-MM-DD")
        return None


async def checked_form(request: Request, target: str, failed: str, done: str,
                       problems: list[str], fn: Callable[..., Any], /, *args: Any,
                       **kwargs: Any) -> Response:
    """End a form with :func:`store_form` once the form's own checks found no problems.

    Otherwise flash ``failed — problem; problem`` and go back to ``target`` without calling
    the store.

    Parameters
    ----------
    request, target, failed, done
        As for :func:`store_form`.
    problems : list of str
        What the form's own checks found; the store is called only when it is empty.
    fn, *args, **kwargs
        The store call and its arguments.

    Returns
    -------
    fastapi.Response
        The redirect back, with a flash message.
    """
    if problems:
        get_session(request).flash(f"{failed} — " + "; ".join(problems), "error")
        return redirect(request, target)
    return await store_form(request, target, failed, done, fn, *args, **kwargs)
