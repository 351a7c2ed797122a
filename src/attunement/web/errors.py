"""How errors become HTTP answers, and the exceptions the web layer raises itself.

Routes never filter by site or decide access themselves: they call the :class:`Store` with the
signed-in :class:`Actor`, and :func:`install_error_handlers` maps the store's errors to HTTP:
``NotFound`` → 404 (also for records outside the actor's sites, so other sites' families cannot
even be learned of), ``Forbidden`` → 403, ``StoreValidationError`` → 422 naming the field,
``AuthError`` → 401 (or 429 with ``Retry-After`` while login is throttled), ``StorageFull`` (or
the database driver's own "disk full") → 503. A value no database accepts (NUL, an integer
beyond 64 bits) that got past :mod:`attunement.web.guard` is 422, never 500. Under ``/api`` the
answer is JSON; elsewhere an error page.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import DBAPIError

from attunement.store import (
    AuthError,
    Forbidden,
    NotFound,
    StorageFull,
    StoreValidationError,
)
from attunement.usecases.profiles import ProfileUnavailable
from attunement.web.rendering import render


class LoginRequired(Exception):
    """A page was asked for without a valid session: send the browser to the login page."""


class CsrfFailed(Exception):
    """A form was posted without the session's CSRF token."""


class BodyTooLarge(Exception):
    """A request body beyond the route's limit (413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the request body is larger than {limit} bytes, the limit here")
        self.limit = limit


class BadInput(Exception):
    """A value that no field accepts (a NUL character, an integer beyond 64 bits): 422."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def handler_for(app: Any, exc: Exception) -> Any:
    """The application's exception handler for an error (its class or nearest base).

    ASGI middleware answers with it exactly as a route would.

    Parameters
    ----------
    app : fastapi.FastAPI
        The application.
    exc : Exception
        The error.

    Returns
    -------
    callable or None
        The handler, or None when the application has none.
    """
    for cls in type(exc).__mro__:
        handler = app.exception_handlers.get(cls)
        if handler is not None:
            return handler
    return None


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _field_of(exc: StoreValidationError) -> str:
    return str(getattr(exc, "field", "") or "")


def _reason_of(exc: Exception) -> str:
    return str(getattr(exc, "reason", "") or exc)


def _error_page(request: Request, status: int, title: str, message: str) -> Response:
    return render(request, "error.html", {"title": title, "message": message}, status=status)


def install_error_handlers(app: FastAPI) -> None:
    """Map the store's and the request guard's errors to HTTP answers.

    JSON under ``/api``, an error page elsewhere: not found 404, forbidden 403, invalid 422,
    too large 413, storage full 503, not signed in 401 or a redirect to sign in.

    Parameters
    ----------
    app : fastapi.FastAPI
        The application to install them on.

    Returns
    -------
    None
        The handlers are registered on ``app`` (the handlers defined here return the answers).
    """
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

    @app.exception_handler(ProfileUnavailable)
    async def no_profile(request: Request, exc: ProfileUnavailable) -> Response:
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
    """Whether a database error says the disk is full.

    Parameters
    ----------
    exc : BaseException
        The error; the driver's own (``exc.orig``) is read when SQLAlchemy wrapped it.

    Returns
    -------
    bool
        SQLite's SQLITE_FULL or PostgreSQL's 53100: the service answers 503 and asks to retry.
    """
    orig = getattr(exc, "orig", exc)
    if getattr(orig, "sqlstate", None) == "53100":
        return True
    code = getattr(orig, "sqlite_errorcode", None)
    return code == 13 or "database or disk is full" in str(orig)  # 13: SQLITE_FULL


def bad_value(exc: BaseException) -> bool:
    """Whether a database error is a value the database refuses by its nature, not a fault.

    Parameters
    ----------
    exc : BaseException
        What the driver (or SQLAlchemy wrapping it) raised.

    Returns
    -------
    bool
        True for a NUL character or a number out of range, answered 422 instead of 500.
    """
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
