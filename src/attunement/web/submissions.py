"""Group commit of assessment submissions: the platform's busiest write.

Every submission is one audited transaction in the store, and the audit chain puts all writers
in one order anyway, so a worker gains nothing from running them side by side in many threads
(they only fight over the write lock and the GIL). Instead the submissions that arrive while
one batch is being written wait together and are written as the next batch by one writer
thread: one transaction, one lock and one commit for all of them, each still all-or-nothing
under its own savepoint (:meth:`attunement.store.Store.add_assessments`).

A submission never waits for a timer: an idle worker writes the first arrival at once, so
batches form only under load, where they raise throughput and cut the wait.
"""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request as StarletteRequest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from attunement.store import AuthError, Store, StoreError, Submission

try:  # orjson, when installed, parses and writes the busiest bodies several times faster
    from orjson import dumps as _dumps
    from orjson import loads as _loads
except ImportError:  # pragma: no cover
    import json

    def _dumps(value: Any) -> bytes:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()

    def _loads(body: bytes) -> Any:  # as strict as orjson: UTF-8 only, no byte order mark
        return json.loads(body.decode("utf-8"))

MAX_BATCH = 64
# no questionnaire has more items: a longer list is refused before it reaches the writer
MAX_RESPONSES = 200


@dataclass(frozen=True, slots=True)
class Request:
    """One submission as it arrived: the bearer token is resolved in the writer thread."""

    token: str | None
    family_id: int
    caregiver: str
    instrument: str
    time_point: str
    responses: list[int | None]
    input: str = "scores"
    submission_key: str | None = None


class GroupCommit:
    """Collects concurrent submissions of one worker process and writes them in batches."""

    def __init__(self, store: Store, *, max_batch: int = MAX_BATCH) -> None:
        self.store = store
        self.max_batch = max_batch
        self._pending: list[tuple[Request, asyncio.Future[dict]]] = []
        self._drainer: asyncio.Task[None] | None = None
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="attunement-writer")
        self.batches = 0  # counters for the benchmark and the tests
        self.written = 0

    async def submit(self, request: Request) -> dict:
        """Store one submission (with the next batch); its result or its own error."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[dict] = loop.create_future()
        self._pending.append((request, future))
        if self._drainer is None:
            self._drainer = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                batch = self._pending[: self.max_batch]
                del self._pending[: self.max_batch]
                requests = [r for r, _ in batch]
                try:
                    results: list[Any] = await loop.run_in_executor(
                        self._writer, self._write, requests)
                except asyncio.CancelledError:  # the worker is shutting down
                    for _, future in batch:
                        future.cancel()
                    raise
                except Exception as exc:  # handed to every waiter of this batch
                    results = [exc] * len(batch)
                for (_, future), result in zip(batch, results, strict=True):
                    if future.done():  # the client went away
                        continue
                    if isinstance(result, BaseException):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
                        self.written += 1
                self.batches += 1
        finally:
            self._drainer = None

    def _write(self, requests: list[Request]) -> list[dict | Exception]:
        """In the writer thread: resolve tokens, then one group commit."""
        results: list[dict | Exception | None] = [None] * len(requests)
        submissions: list[tuple[int, Submission]] = []
        for i, r in enumerate(requests):
            try:
                if not r.token:
                    raise AuthError("not authenticated")
                actor = self.store.accounts.actor_for_token(r.token)
            except StoreError as exc:
                results[i] = exc
                continue
            submissions.append((i, Submission(
                actor, r.family_id, r.caregiver, r.instrument, r.time_point, r.responses,
                input=r.input, submission_key=r.submission_key)))
        if submissions:
            try:
                written = self.store.assessments.add_assessments(s for _, s in submissions)
            except Exception:
                # the batch as a whole failed (a database error, not a bad submission):
                # nothing of it is stored; write each alone so only the culprit fails
                written = [self._write_one(s) for _, s in submissions]
            for (i, _), result in zip(submissions, written, strict=True):
                results[i] = result
        return results  # type: ignore[return-value]

    def _write_one(self, s: Submission) -> dict | Exception:
        try:
            return self.store.assessments.add_assessment(
                s.actor, s.family_id, s.caregiver, s.instrument, s.time_point, s.responses,
                input=s.input, submission_key=s.submission_key)
        except Exception as exc:  # handed to its waiter
            return exc

    def close(self) -> None:
        """Wait for the writer thread to finish what it has and stop it."""
        self._writer.shutdown(wait=True)


_PATH = re.compile(r"/api/families/([0-9]{1,10})/assessments")
_FIELDS = frozenset({"caregiver", "instrument", "time_point", "responses", "input"})
_MAX_KEY = 100  # the route's Idempotency-Key limit
_HEADERS = frozenset({b"authorization", b"content-type", b"idempotency-key"})
_INT64 = 2**63  # the lane takes what every JSON parser reads alike; the route the rest


class SubmissionLane:
    """ASGI middleware: a well-formed ``POST /api/families/{id}/assessments`` goes straight to
    the group commit, without the router and FastAPI's per-request dependency machinery
    (which cost more CPU than scoring and storing the submission).

    Only requests the FastAPI route would accept unchanged take the lane: a JSON object with
    string ``caregiver``/``instrument``/``time_point``, ``responses`` a list of integers or
    nulls, an optional ``input`` of ``scores``/``positions``, and a bearer token. Anything else
    (no token, a body to coerce or reject) goes on to the documented route, which gives its
    usual answer and error messages; both end in the same store call. Store errors are
    answered by the app's own exception handlers, so the responses are the same either way.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["method"] != "POST"
                or (match := _PATH.fullmatch(scope["path"])) is None):
            await self.app(scope, receive, send)
            return
        token = key = None
        json_body = False
        seen: dict[bytes, int] = {}
        for name, value in scope["headers"]:
            if name in _HEADERS:
                seen[name] = seen.get(name, 0) + 1
            if name == b"authorization":
                scheme, _, credentials = value.decode("latin-1").partition(" ")
                if scheme.lower() == "bearer" and credentials:
                    token = credentials
            elif name == b"content-type":
                json_body = value.split(b";")[0].strip().lower() == b"application/json"
            elif name == b"idempotency-key":
                key = value.decode("latin-1")
        body, more = await _read_body(receive)
        request = None
        # a header given twice: which one counts is the route's business
        plain = all(n == 1 for n in seen.values())
        if (token and json_body and plain and not more
                and (key is None or len(key) <= _MAX_KEY)):
            request = _parse(token, int(match.group(1)), body, key)
        if request is None:  # the documented route decides, with its own messages
            await self.app(scope, _replay(body, more, receive), send)
            return
        app = scope["app"]
        try:
            result = await app.state.group_commit.submit(request)
        except Exception as exc:  # answered as the route would: the app's own handlers
            handler = _handler_for(app, exc)
            if handler is None:
                raise
            response = await handler(StarletteRequest(scope, receive), exc)
            await response(scope, receive, send)
            return
        payload = _dumps(result)
        await send({"type": "http.response.start", "status": 201, "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})


def _parse(token: str, family_id: int, body: bytes, key: str | None) -> Request | None:
    """The submission, or None when the body is anything but the plain, valid shape."""
    try:
        data = _loads(body)
    except ValueError:
        return None
    if type(data) is not dict or not data.keys() <= _FIELDS:
        return None
    caregiver, instrument = data.get("caregiver"), data.get("instrument")
    time_point, responses = data.get("time_point"), data.get("responses")
    kind = data.get("input", "scores")
    if (type(caregiver) is not str or type(instrument) is not str
            or type(time_point) is not str or type(responses) is not list
            or len(responses) > MAX_RESPONSES or kind not in ("scores", "positions")
            or not all(r is None or (type(r) is int and -_INT64 <= r < _INT64)
                       for r in responses)):
        return None
    return Request(token, family_id, caregiver, instrument, time_point, responses,
                   input=kind, submission_key=key)


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    """The whole body, unless the client went away first (then ``more`` is True)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), True
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), False


def _replay(body: bytes, more: bool, receive: Receive) -> Receive:
    """A ``receive`` that hands over the body already read, then the client's own."""
    sent = more  # a disconnected client has nothing to replay

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


def _handler_for(app: Any, exc: Exception) -> Any:
    for cls in type(exc).__mro__:
        handler = app.exception_handlers.get(cls)
        if handler is not None:
            return handler
    return None


MAX_RECORD_ID = 2**31 - 1  # record ids are 32-bit integers on both databases
_NUMBER = re.compile(r"/([0-9]+)(?=/|$)")


class RecordIdRange:
    """ASGI middleware: a number in the path beyond any record id is "Not found" at once.

    Every number in this service's paths is a record id, and an id beyond the databases'
    32-bit integers cannot exist; without this check such an id would reach the database
    driver and fail there (PostgreSQL refuses to bind it) instead of answering 404.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and any(
                int(n) > MAX_RECORD_ID for n in _NUMBER.findall(scope["path"])):
            from attunement.store import NotFound

            app = scope["app"]
            exc = NotFound("no such record")
            handler = _handler_for(app, exc)
            response = await handler(StarletteRequest(scope, receive), exc)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
