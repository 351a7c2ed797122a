"""The FastAPI application factory: pages for people, a JSON API for programs.

The routes live by resource in :mod:`attunement.web.api` and :mod:`attunement.web.pages`;
how errors become answers in :mod:`attunement.web.errors`.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from attunement import __version__
from attunement.store import Store
from attunement.web import api, pages
from attunement.web.content import service_text_packs
from attunement.web.errors import install_error_handlers
from attunement.web.guard import RequestGuard
from attunement.web.rendering import HERE, make_templates
from attunement.web.schemas import Health
from attunement.web.security import SecurityHeaders, SessionManager
from attunement.web.settings import Settings
from attunement.web.submissions import GroupCommit, RecordIdRange


def create_app(store: Store, *, settings: Settings | None = None) -> FastAPI:
    """Build the web application (pages and JSON API) around an open :class:`Store`.

    Parameters
    ----------
    store : Store
        The open store; the application keeps it for every request.
    settings : Settings, optional
        The service's settings; :class:`Settings` defaults (and the environment) when omitted.

    Returns
    -------
    fastapi.FastAPI
        The application, with its error handlers, request guard and security headers
        installed; serve it with uvicorn (``attunement platform serve``).
    """
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
    # the service's licensed wording, one pack per language (docs/item-text-packs.md)
    app.state.item_texts = service_text_packs(settings.item_text_pack)
    app.state.group_commit = GroupCommit(store, max_batch=settings.max_batch)
    app.state.templates = make_templates(settings.service_name)

    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    _mount_docs(app)
    app.add_middleware(RequestGuard)  # limits and credentials before any route reads a body
    app.add_middleware(RecordIdRange)
    app.add_middleware(SecurityHeaders, hsts=settings.secure_cookies)

    @app.get("/healthz", tags=["service"], summary="200 when the database answers",
             response_model=Health, responses={503: {"model": Health}})
    def healthz() -> JSONResponse:
        try:
            ok = bool(store.ping()) if hasattr(store, "ping") else _ping(store)
        except Exception:
            ok = False
        status = 200 if ok else 503
        return JSONResponse({"status": "ok" if ok else "database unreachable"}, status_code=status)

    install_error_handlers(app)
    app.include_router(api.router)
    app.include_router(pages.router)
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
