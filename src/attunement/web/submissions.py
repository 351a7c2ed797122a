"""Group commit of assessment submissions: the platform's busiest write.

Every submission is one audited transaction in the store, and the audit chain puts all writers
in one order anyway, so a worker gains nothing from running them side by side in many threads
(they only fight over the write lock and the GIL). Instead the submissions that arrive while
one batch is being written wait together and are written as the next batch by one writer
thread: one transaction, one lock and one commit for all of them, each still all-or-nothing
under its own savepoint (:func:`attunement.usecases.assessments.submit_assessments`).

A submission never waits for a timer: an idle worker writes the first arrival at once, so
batches form only under load, where they raise throughput and cut the wait.

Submissions reach the group commit through one path only, the documented route
``POST /api/families/{id}/assessments`` (:mod:`attunement.web.api.assessments`), which validates
the body with its pydantic model first.
"""

from __future__ import annotations

import asyncio
import inspect
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from starlette.requests import Request as StarletteRequest
from starlette.types import ASGIApp, Receive, Scope, Send

from attunement.store import Actor, AuthError, Store, StoreError, Submission
from attunement.usecases import assessments as uc_assessments
from attunement.web.errors import handler_for

try:  # orjson, when installed, writes the busiest response several times faster
    from orjson import dumps
except ImportError:  # pragma: no cover
    import json

    def dumps(value: Any) -> bytes:
        """Compact UTF-8 JSON, as orjson writes it."""
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()

MAX_BATCH = 64
# no questionnaire has more items: a longer list is refused before it reaches the writer
MAX_RESPONSES = 200


_SUBMISSION = inspect.signature(Submission)


class Request:
    """One submission as it arrived: the store's :class:`attunement.store.Submission` but for
    its actor, which the writer thread resolves from the bearer token.

    ``Request(token, family_id, caregiver, instrument, time_point, responses, ...)`` takes the
    submission's own arguments after the token (checked at once, as the submission would).
    """

    __slots__ = ("args", "kwargs", "token")

    def __init__(self, token: str | None, *args: Any, **kwargs: Any) -> None:
        _SUBMISSION.bind(None, *args, **kwargs)  # a TypeError here, not in the writer thread
        self.token, self.args, self.kwargs = token, args, kwargs

    def submission(self, actor: Actor) -> Submission:
        """The submission, made by ``actor``.

        Parameters
        ----------
        actor : Actor
            The bearer token's user.

        Returns
        -------
        Submission
            What the store's ``add_assessments`` takes.
        """
        return Submission(actor, *self.args, **self.kwargs)


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
        """Store one submission with the next batch (one commit for the batch).

        Parameters
        ----------
        request : Request
            The submission and its bearer token.

        Returns
        -------
        dict
            The stored assessment.

        Raises
        ------
        Exception
            This submission's own error (the others of the batch are unaffected).
        """
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
            submissions.append((i, r.submission(actor)))
        if submissions:
            try:
                written = uc_assessments.submit_assessments(
                    self.store, (s for _, s in submissions))
            except Exception:
                # the batch as a whole failed (a database error, not a bad submission):
                # nothing of it is stored; write each alone so only the culprit fails
                written = [self._write_one(s) for _, s in submissions]
            for (i, _), result in zip(submissions, written, strict=True):
                results[i] = result
        return results  # type: ignore[return-value]

    def _write_one(self, s: Submission) -> dict | Exception:
        try:
            return uc_assessments.submit_assessment(self.store,
                s.actor, s.family_id, s.caregiver, s.instrument, s.time_point, s.responses,
                input=s.input, submission_key=s.submission_key)
        except Exception as exc:  # handed to its waiter
            return exc

    def close(self) -> None:
        """Wait for the writer thread to finish what it has and stop it."""
        self._writer.shutdown(wait=True)


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
            handler = handler_for(app, exc)
            response = await handler(StarletteRequest(scope, receive), exc)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
