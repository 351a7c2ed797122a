"""The hashes of the audit log: canonical JSON, each row's link in the chain, and the digest
of each immutable record its audit row vouches for (:mod:`attunement.store.audit` writes and
verifies the chain with them)."""

from __future__ import annotations

import gc
import hashlib
import hmac
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy.orm import Session

GENESIS = "0" * 64

# the fields of the original (unkeyed) chain; never change them: old rows are checked by them
FIELDS = (
    "id",
    "at",
    "actor_id",
    "actor_email",
    "actor_role",
    "action",
    "entity",
    "entity_id",
    "family_id",
    "site_id",
    "before",
    "after",
    "reason",
    "client",
)
KEYED_FIELDS = (*FIELDS, "record_hash")

# the columns of each immutable record that its audit row's ``record_hash`` covers
ASSESSMENT_FIELDS = (
    "id", "family_id", "caregiver_id", "instrument", "instrument_version", "time_point",
    "instance", "version", "input_kind", "responses", "item_scores", "scores", "flags",
    "corrected_from", "reason", "submitted_by", "submitted_via", "submitted_at",
    "completed_on", "submission_key",
)
# withdrawn_on is the one consent column that changes; it is checked against its audit rows
CONSENT_FIELDS = (
    "id", "family_id", "caregiver_id", "kind", "version", "given_on", "recorded_by",
    "recorded_at",
)
RECORD_FIELDS = {"assessment": ASSESSMENT_FIELDS, "consent": CONSENT_FIELDS}


def canonical(value: Any) -> str:
    """Write a value as canonical JSON, the text every audit hash is taken over.

    Parameters
    ----------
    value : object
        JSON-serialisable data; dates and times become ISO text (times in UTC).

    Returns
    -------
    str
        Sorted keys, no spaces.

    Examples
    --------
    >>> from datetime import date
    >>> canonical({"b": 1, "a": date(2026, 1, 2)})
    '{"a":"2026-01-02","b":1}'
    """
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_iso)


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.replace(tzinfo=None).isoformat(timespec="microseconds")
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def row_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    """Hash a row written before the chain was keyed (the original SHA-256 rule).

    Parameters
    ----------
    prev_hash : str
        The previous row's hash (``GENESIS`` for the first row).
    fields : dict
        The row's values of ``FIELDS``.

    Returns
    -------
    str
        SHA-256 in hex; anyone can recompute it, hence the keyed rule for new rows.

    Examples
    --------
    >>> len(row_hash(GENESIS, dict.fromkeys(FIELDS)))
    64
    """
    payload = {k: fields[k] for k in FIELDS}
    return hashlib.sha256((prev_hash + canonical(payload)).encode()).hexdigest()


def keyed_row_hash(key: bytes, prev_hash: str, fields: Mapping[str, Any]) -> str:
    """Hash a row of the keyed chain: HMAC-SHA-256 of the previous hash and the row's fields.

    Parameters
    ----------
    key : bytes
        The chain key (:attr:`attunement.store.crypto.KeyRing.audit_chain`).
    prev_hash : str
        The previous row's hash.
    fields : mapping
        The row's values of ``KEYED_FIELDS``.

    Returns
    -------
    str
        The row's hash in hex.

    Examples
    --------
    >>> fields = dict.fromkeys(KEYED_FIELDS)
    >>> keyed_row_hash(bytes(32), GENESIS, fields) == row_hash(GENESIS, fields)
    False
    """
    payload = {k: fields[k] for k in KEYED_FIELDS}
    return hmac.new(key, (prev_hash + canonical(payload)).encode(), hashlib.sha256).hexdigest()


def record_digest(entity: str, record: Any) -> str:
    """Hash the content of an immutable record, kept in its audit row.

    Parameters
    ----------
    entity : str
        ``assessment`` or ``consent`` (which fields count).
    record : mapping or model row
        The record.

    Returns
    -------
    str
        SHA-256 of the record's canonical content; :func:`verify` recomputes it.

    Examples
    --------
    >>> consent = dict.fromkeys(CONSENT_FIELDS) | {"id": 1, "kind": "research"}
    >>> record_digest("consent", consent) == record_digest("consent", consent | {"id": 2})
    False
    """
    names = RECORD_FIELDS[entity]
    get = record.get if isinstance(record, Mapping) else lambda k: getattr(record, k)
    return hashlib.sha256(canonical({k: get(k) for k in names}).encode()).hexdigest()


# canonical()'s encoder made once (sorted keys, dates as ISO strings)
_C_CANONICAL = (
    json.encoder.c_make_encoder(
        None, _iso, json.encoder.encode_basestring_ascii, None, ":", ",", True, False, True)
    if json.encoder.c_make_encoder is not None else None
)


def row_digest(names: tuple[str, ...], row: Any) -> str:
    """Hash a record read as a bare row, exactly as :func:`record_digest` hashes it.

    The verifier selects only the digested columns, so it can skip building a mapping.

    Parameters
    ----------
    names : tuple of str
        The columns, in the order of ``row`` (``ASSESSMENT_FIELDS`` or ``CONSENT_FIELDS``).
    row : sequence
        The values.

    Returns
    -------
    str
        SHA-256 in hex.

    Examples
    --------
    >>> row = tuple(range(len(CONSENT_FIELDS)))
    >>> row_digest(CONSENT_FIELDS, row) == record_digest("consent", dict(zip(CONSENT_FIELDS, row)))
    True
    """
    payload = dict(zip(names, row, strict=False))
    text = "".join(_C_CANONICAL(payload, 0)) if _C_CANONICAL else canonical(payload)
    return hashlib.sha256(text.encode()).hexdigest()


class _OddValue(Exception):
    """A value the verifier's generated encoders do not take (not a string, an integer or
    null where one is expected): the JSON encoder, or the slow path, decides instead."""


def _odd(value: Any) -> str:
    raise _OddValue


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a verifier checks its rows.

    The rows are short-lived tuples of strings (no cycles), which the collector would
    otherwise walk again and again as they are made.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


# the chain's columns as the walk reads them (plain strings and integers on both databases)
_WALK_COLUMNS = (*KEYED_FIELDS, "prev_hash", "hash")


# the keyed payload's fields in sorted order: encoding them in this order without sort_keys
# gives exactly :func:`canonical`'s text (every value is a string, an integer or null)
_SORTED = tuple(sorted(KEYED_FIELDS))
_SORTED_AT = tuple(KEYED_FIELDS.index(k) for k in _SORTED)


# the integer columns of the chain: their values are tested for an integer first
_INT_FIELDS = frozenset({"id", "actor_id", "family_id", "site_id"})


def _make_orjson_payload() -> Callable[[tuple], bytes]:
    # orjson writes the payload about twice as fast as the generated text (audit.py), and for
    # strings of printable ASCII, integers and nulls it writes canonical()'s bytes. Where it
    # writes otherwise (non-ASCII left raw, an integer past 64 bits refused) the HMAC does not
    # match and the row is checked again with canonical()'s text, so a row is never called
    # bad on orjson's word. Nor is one let pass on it: bytes equal to canonical() text of the
    # row as it was written parse to the same JSON values, whose canonical() text is then
    # the same too, except that orjson writes a float that is not finite as null. A float in
    # an integer column (SQLite stores one there) is left to canonical(); the other columns
    # cannot hold one while they are text (plain_columns(), checked before the walk)
    names = [f"v{i}" for i in range(len(_WALK_COLUMNS))]
    floats = " or ".join(f"type({names[i]}) is float" for i in range(len(_WALK_COLUMNS))
                         if _WALK_COLUMNS[i] in _INT_FIELDS)
    items = ", ".join(f"{key!r}: {names[i]}" for key, i in zip(_SORTED, _SORTED_AT, strict=True))
    source = (f"def payload(r):\n    {', '.join(names)} = r\n"
              f"    if {floats}:\n        raise odd\n"
              f"    return dumps({{{items}}})\n")
    scope = {"dumps": orjson.dumps, "odd": _OddValue}
    exec(source, scope)
    return scope["payload"]


_ORJSON_PAYLOAD = _make_orjson_payload()


def plain_columns(session: Session) -> bool:
    """Whether ``audit_log``'s columns are of the types the store made: integers for the
    integer fields, text for the others (on SQLite, declared types of text affinity, which
    store any number as text). Only then may the walk take orjson's word for a row.

    Parameters
    ----------
    session : Session
        A database transaction.

    Returns
    -------
    bool
        True for a store's own table.

    Examples
    --------
    >>> with store.db.read() as s:
    ...     plain_columns(s)
    True
    """
    if session.get_bind().dialect.name == "postgresql":
        kinds = dict(session.connection().exec_driver_sql(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'audit_log' AND table_schema = current_schema()").fetchall())
        is_int = {"integer", "bigint", "smallint"}.__contains__
        is_text = {"character varying", "text"}.__contains__
    else:
        kinds = {r[1]: r[2].upper() for r in session.connection().exec_driver_sql(
            "PRAGMA table_info(audit_log)").fetchall()}

        def is_int(t: str) -> bool:
            return t == "INTEGER"

        def is_text(t: str) -> bool:
            return "CHAR" in t or "TEXT" in t or "CLOB" in t
    return all(name in kinds and (is_int if name in _INT_FIELDS else is_text)(kinds[name])
               for name in _WALK_COLUMNS)
