"""Errors the store raises; the web layer maps them to HTTP statuses."""

from __future__ import annotations


class StoreError(Exception):
    """Base class of the store's errors."""


class NotFound(StoreError):
    """No such record, or it lies outside the actor's scope (the web answers 404, never 403)."""


class Forbidden(StoreError):
    """The actor's role may not do this at all (403)."""


class AuthError(StoreError):
    """Bad credentials, an invalid or expired token, or throttled login.

    ``retry_after``: seconds to wait when throttled, else None.
    """

    def __init__(self, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StoreValidationError(StoreError, ValueError):
    """Invalid input: ``field`` names the field (dotted path), ``reason`` says why (422)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class KeyFileError(StoreError):
    """The identifier key file is missing, unreadable, too widely readable or does not match."""


class StorageFull(StoreError):
    """The database could not write because its disk (or its size limit) is full (503).

    Nothing of the failed write is stored: the transaction was rolled back.
    """
