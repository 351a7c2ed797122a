"""The FastAPI application factory: pages for people, a JSON API for programs.

Routes never filter by site or decide access themselves: they call the :class:`Store` with the
signed-in :class:`Actor`, and map the store's errors to HTTP: ``NotFound`` → 404 (also for
records outside the actor's sites, so other sites' families cannot even be learned of),
``Forbidden`` → 403, ``StoreValidationError`` → 422 naming the field, ``AuthError`` → 401 (or
429 with ``Retry-After`` while login is throttled), ``StorageFull`` (or the database driver's
own "disk full") → 503. A value no database accepts (NUL, an integer beyond 64 bits) that got
past :mod:`attunement.web.guard` is 422, never 500.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy.exc import DBAPIError

from attunement import __version__
from attunement.store import (
    AuthError,
    Forbidden,
    NotFound,
    StorageFull,
    Store,
    StoreValidationError,
)
from attunement.web import domain
from attunement.web.guard import BadInput, BodyTooLarge, RequestGuard
from attunement.web.security import SecurityHeaders, SessionManager
from attunement.web.settings import Settings, load_item_text_pack
from attunement.web.submissions import GroupCommit, RecordIdRange, SubmissionLane

HERE = Path(__file__).parent


class LoginRequired(Exception):
    """A page was asked for without a valid session: send the browser to the login page."""


class CsrfFailed(Exception):
    """A form was posted without the session's CSRF token."""


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _field_of(exc: StoreValidationError) -> str:
    return str(getattr(exc, "field", "") or "")


def _reason_of(exc: Exception) -> str:
    return str(getattr(exc, "reason", "") or exc)


def create_app(store: Store, *, settings: Settings | None = None) -> FastAPI:
    """Build the web application around an open :class:`Store`."""
    settings = settings or Settings()
    app = FastAPI(
        title=f"{settings.service_name} API",
        version=__version__,
        description=(
            "JSON API of the attunement platform. Obtain a bearer token with `POST /api/token` "
            "(OAuth2 password form) and send it as `Authorization: Bearer <token>`. Every "
            "request is scoped by the store to the user's sites and role: records outside them "
            "answer 404."
        ),
        docs_url=None,
        redoc_url=None,
    )
    app.state.store = store
    app.state.settings = settings
    app.state.sessions = SessionManager(
        settings.resolved_secret(),
        secure=settings.secure_cookies,
        lifetime=settings.session_lifetime,
        idle=settings.session_idle,
    )
    app.state.item_texts = load_item_text_pack(settings.item_text_pack)
    app.state.group_commit = GroupCommit(store, max_batch=settings.max_batch)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.globals["service_name"] = settings.service_name
    templates.env.globals["version"] = __version__
    templates.env.filters["role"] = role_label
    app.state.templates = templates

    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    _mount_docs(app)
    if settings.submission_lane:  # inside SecurityHeaders: its answers get the same headers
        app.add_middleware(SubmissionLane)
    app.add_middleware(RequestGuard)  # outside the lane: limits and credentials apply to both
    app.add_middleware(RecordIdRange)
    app.add_middleware(SecurityHeaders, hsts=settings.secure_cookies)

    @app.get("/healthz", tags=["service"], summary="200 when the database answers")
    def healthz() -> JSONResponse:
        try:
            ok = bool(store.ping()) if hasattr(store, "ping") else _ping(store)
        except Exception:
            ok = False
        status = 200 if ok else 503
        return JSONResponse({"status": "ok" if ok else "database unreachable"}, status_code=status)

    _install_error_handlers(app)

    from attunement.web import accounts, api, cascade, observation, outreach, pages, trials

    app.include_router(api.router)
    app.include_router(pages.router)
    app.include_router(trials.router)
    app.include_router(observation.router)
    app.include_router(accounts.router)
    app.include_router(cascade.router)
    app.include_router(outreach.router)
    return app


def _ping(store: Store) -> bool:
    from sqlalchemy import text

    engine = getattr(store, "engine", None)
    if engine is None:
        store.accounts.list_sites(store.system_actor())
        return True
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    return True


def _mount_docs(app: FastAPI) -> None:
    """Swagger UI (5.x, which reads OpenAPI 3.1) at /docs, its assets served from the installed
    ``swagger-ui-py`` package: no CDN."""
    from importlib.resources import files

    assets = files("swagger_ui") / "static"
    app.mount("/docs/assets", StaticFiles(directory=str(assets)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} — documentation",
            swagger_js_url="/docs/assets/swagger-ui-bundle.js",
            swagger_css_url="/docs/assets/swagger-ui.css",
            swagger_favicon_url="/static/favicon.svg",
        )
        html = bytes(page.body).decode().replace(
            "<body>", '<body>\n<nav aria-label="Back"><p><a href="/">← Back to attunement</a>'
            "</p></nav>", 1)
        return HTMLResponse(html)


def role_label(role: str | None) -> str:
    """A caregiver role as people write it ("co-parent", not "co parent"), lower case."""
    from attunement.web.forms import CAREGIVER_ROLES

    labels = {value: text for value, text in CAREGIVER_ROLES}
    text = labels.get(role or "", (role or "").replace("_", " "))
    return text[:1].lower() + text[1:]


def _error_page(request: Request, status: int, title: str, message: str) -> Response:
    from attunement.web.pages import render

    return render(request, "error.html", {"title": title, "message": message}, status=status)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> Response:
        if _is_api(request):
            return JSONResponse({"detail": "Not found"}, status_code=404)
        return _error_page(request, 404, "Not found", "There is nothing here, or it has expired.")

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        message = _reason_of(exc) or "Your role may not do this."
        if _is_api(request):
            return JSONResponse({"detail": message}, status_code=403)
        return _error_page(request, 403, "Not allowed", message)

    @app.exception_handler(StoreValidationError)
    async def invalid(request: Request, exc: StoreValidationError) -> Response:
        field, reason = _field_of(exc), _reason_of(exc)
        if _is_api(request):
            return JSONResponse(
                {"detail": [{"loc": ["body", *field.split(".")] if field else ["body"],
                             "field": field, "msg": reason, "type": "value_error"}]},
                status_code=422,
            )
        return _error_page(request, 422, "Please check the form", f"{field}: {reason}")

    @app.exception_handler(BadInput)
    async def bad_input(request: Request, exc: BadInput) -> Response:
        return _invalid(request, exc.field, exc.reason)

    @app.exception_handler(OverflowError)
    async def overflow(request: Request, exc: OverflowError) -> Response:
        # a number too large for the database column; the guard catches JSON and path ones
        return _invalid(request, "", "a number is too large")

    async def database_error(request: Request, exc: Exception) -> Response:
        if storage_full(exc):
            return await full(request, StorageFull(str(getattr(exc, "orig", exc))))
        if bad_value(exc):
            return _invalid(request, "", "a value cannot be stored (a NUL character or a "
                            "number out of range)")
        raise exc

    # wrapped by SQLAlchemy, or raw from the driver (the audit chain's direct statements)
    for error in _driver_errors():
        app.add_exception_handler(error, database_error)

    @app.exception_handler(StorageFull)
    async def full(request: Request, exc: StorageFull) -> Response:
        message = ("The service cannot save anything at the moment: its storage is full. "
                   "Nothing of this request was saved. Please try again later; the service's "
                   "administrators have to free space.")
        if _is_api(request):
            return JSONResponse({"detail": message}, status_code=503,
                                headers={"Retry-After": "300"})
        response = _error_page(request, 503, "Storage full", message)
        response.headers["Retry-After"] = "300"
        return response

    @app.exception_handler(BodyTooLarge)
    async def too_large(request: Request, exc: BodyTooLarge) -> Response:
        message = (f"The request is too large: at most {exc.limit} bytes are accepted here. "
                   "Nothing was read or saved.")
        if _is_api(request):
            return JSONResponse({"detail": message}, status_code=413,
                                headers={"Connection": "close"})
        return _error_page(request, 413, "Too large", message)

    @app.exception_handler(domain.ProfileUnavailable)
    async def no_profile(request: Request, exc: domain.ProfileUnavailable) -> Response:
        message = f"the family record is incomplete for a profile: {exc.reason}"
        return JSONResponse({"detail": [{"loc": ["family", *exc.field.split(".")],
                                         "field": exc.field, "msg": message,
                                         "type": "value_error"}]}, status_code=422)

    @app.exception_handler(AuthError)
    async def auth_error(request: Request, exc: AuthError) -> Response:
        retry = getattr(exc, "retry_after", None)
        if retry:
            headers = {"Retry-After": str(int(retry))}
            body = {"detail": f"Too many failed attempts; try again in {int(retry)} seconds."}
            return JSONResponse(body, status_code=429, headers=headers)
        if _is_api(request):
            return JSONResponse(
                {"detail": "Not authenticated"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        return _login_redirect(request)

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        return _login_redirect(request)

    @app.exception_handler(CsrfFailed)
    async def csrf_failed(request: Request, exc: CsrfFailed) -> Response:
        return _error_page(
            request,
            403,
            "This form has expired",
            "For your security the form could not be accepted. Go back, reload the page and "
            "try again.",
        )

    @app.exception_handler(RequestValidationError)
    async def request_invalid(request: Request, exc: RequestValidationError) -> Response:
        errors: list[dict[str, Any]] = []
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ())]
            field = ".".join(p for p in loc if p not in {"body", "query", "path", "form"})
            errors.append({"loc": loc, "field": field, "msg": err.get("msg", ""),
                           "type": err.get("type", "")})
        if _is_api(request):
            return JSONResponse({"detail": errors}, status_code=422)
        text = "; ".join(f"{e['field']}: {e['msg']}" for e in errors)
        return _error_page(request, 422, "Please check the request", text)


def _invalid(request: Request, field: str, reason: str) -> Response:
    """422 in the shape FastAPI uses for request validation: ``loc`` from where the value
    was (``body.responses.9``), ``field`` without it (``responses.9``)."""
    loc = field.split(".") if field else ["body"]
    name = ".".join(loc[1:]) if loc[0] in ("body", "query", "path") else field
    if _is_api(request):
        return JSONResponse({"detail": [{"loc": loc, "field": name or loc[0], "msg": reason,
                                         "type": "value_error"}]}, status_code=422)
    return _error_page(request, 422, "Please check the request",
                       f"{name}: {reason}" if name else reason)


def _driver_errors() -> list[type[Exception]]:
    import sqlite3

    errors: list[type[Exception]] = [DBAPIError, sqlite3.Error]
    try:
        import psycopg
    except ImportError:  # pragma: no cover - PostgreSQL support not installed
        return errors
    return [*errors, psycopg.Error]


def storage_full(exc: BaseException) -> bool:
    """True for the database's "disk full": SQLite's SQLITE_FULL, PostgreSQL's 53100."""
    orig = getattr(exc, "orig", exc)
    if getattr(orig, "sqlstate", None) == "53100":
        return True
    code = getattr(orig, "sqlite_errorcode", None)
    return code == 13 or "database or disk is full" in str(orig)  # 13: SQLITE_FULL


def bad_value(exc: BaseException) -> bool:
    """True for a value the database refuses by its nature (NUL, out of range), not a fault."""
    orig = getattr(exc, "orig", exc)
    state = getattr(orig, "sqlstate", None) or ""
    text = str(orig)
    return (state in {"22021", "22003", "22P05"} or "NUL (0x00)" in text
            or "out of range" in text or isinstance(orig, OverflowError))


def _login_redirect(request: Request) -> Response:
    from urllib.parse import quote

    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    if request.method != "GET":
        target = "/"
    return RedirectResponse(f"/login?next={quote(target, safe='/')}", status_code=303)
