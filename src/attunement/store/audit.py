"""The append-only, hash-chained audit log.

Each row's hash is SHA-256 over the previous row's hash and the canonical JSON of the row's
own fields (its id included), so editing a row breaks its hash, deleting one breaks the next
row's link and the id sequence, and deleting the newest rows disagrees with ``audit_head``.
The code has no UPDATE or DELETE path for ``audit_log``; database triggers reject both.
Writers serialise on the chain (PostgreSQL advisory lock / SQLite ``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from attunement.store.db import driver_execute
from attunement.store.models import AuditEntry, AuditHead

GENESIS = "0" * 64
# compiled once; parameters are passed at execution
_HEAD_TABLE = AuditHead.__table__
_HEAD_INSERT = _HEAD_TABLE.insert()
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
# every column is a plain string or integer, so these run on the driver directly (see
# ``driver_execute``); ``?`` becomes ``%s`` on PostgreSQL
_HEAD_SQL = "SELECT last_id, last_hash FROM audit_head WHERE id = 1"
_INSERT_SQL = (
    f"INSERT INTO audit_log ({', '.join(FIELDS)}, prev_hash, hash) "
    f"VALUES ({', '.join('?' * (len(FIELDS) + 2))})"
)
_HEAD_UPDATE_SQL = "UPDATE audit_head SET last_id = ?, last_hash = ? WHERE id = 1"


def canonical(value: Any) -> str:
    """Canonical JSON: sorted keys, no spaces, dates as ISO strings."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_iso)


def _iso(value: Any) -> str:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def row_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    payload = {k: fields[k] for k in FIELDS}
    return hashlib.sha256((prev_hash + canonical(payload)).encode()).hexdigest()


class Chain:
    """The chain's head kept in memory through one transaction that appends many rows
    (a group commit): read once, written once by :func:`flush`, instead of a read and an
    update per row. ``mark``/``restore`` follow a savepoint that is rolled back."""

    __slots__ = ("dirty", "exists", "last_hash", "last_id")

    def __init__(self) -> None:
        self.last_id: int | None = None  # None: not read yet
        self.last_hash = GENESIS
        self.exists = False
        self.dirty = False

    def mark(self) -> tuple:
        return (self.last_id, self.last_hash, self.exists, self.dirty)

    def restore(self, mark: tuple) -> None:
        self.last_id, self.last_hash, self.exists, self.dirty = mark


def append(
    session: Session,
    *,
    actor: Any,
    action: str,
    entity: str,
    entity_id: Any = None,
    family_id: int | None = None,
    site_id: int | None = None,
    before: Any = None,
    after: Any = None,
    reason: str | None = None,
    client: str = "",
    chain: Chain | None = None,
) -> int:
    """Append one row; the caller holds the write lock (see ``Database.write``).

    Plain INSERT/UPDATE statements (no unit of work): this runs on every write. With a
    ``chain``, the head is read at most once and written by :func:`flush` before commit.
    """
    if chain is not None and chain.last_id is not None:
        prev_id, prev_hash = chain.last_id, chain.last_hash
    else:
        head = driver_execute(session, _HEAD_SQL).fetchone()
        prev_id, prev_hash = (head[0], head[1]) if head else (0, GENESIS)
        if chain is not None:
            chain.exists = head is not None
    fields = {
        "id": prev_id + 1,
        "at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "actor_id": actor.user_id,
        "actor_email": actor.email,
        "actor_role": actor.role,
        "action": action,
        "entity": entity,
        "entity_id": None if entity_id is None else str(entity_id),
        "family_id": family_id,
        "site_id": site_id,
        "before": None if before is None else canonical(before),
        "after": None if after is None else canonical(after),
        "reason": reason,
        "client": client or "",
    }
    digest = row_hash(prev_hash, fields)
    driver_execute(session, _INSERT_SQL, (*(fields[k] for k in FIELDS), prev_hash, digest))
    if chain is not None:
        chain.last_id, chain.last_hash, chain.dirty = fields["id"], digest, True
    elif head is None:
        session.execute(_HEAD_INSERT, {"id": 1, "last_id": fields["id"], "last_hash": digest})
    else:
        driver_execute(session, _HEAD_UPDATE_SQL, (fields["id"], digest))
    return fields["id"]


def flush(session: Session, chain: Chain) -> None:
    """Write the head kept by ``chain`` (in the same transaction, before commit)."""
    if not chain.dirty:
        return
    if chain.exists:
        driver_execute(session, _HEAD_UPDATE_SQL, (chain.last_id, chain.last_hash))
    else:
        session.execute(_HEAD_INSERT, {"id": 1, "last_id": chain.last_id,
                                       "last_hash": chain.last_hash})
        chain.exists = True
    chain.dirty = False


@dataclass(frozen=True)
class AuditReport:
    """Result of ``verify``: ``ok``, rows checked, the first broken row's id and why."""

    ok: bool
    rows: int
    first_broken: int | None = None
    reason: str | None = None


def verify(session: Session) -> AuditReport:
    """Walk the chain in id order and report the first row that does not fit."""
    prev_id, prev_hash, rows = 0, GENESIS, 0
    result = session.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars()
    for entry in result.yield_per(1000):
        rows += 1
        fields = {k: getattr(entry, k) for k in FIELDS}
        if entry.id != prev_id + 1:
            return AuditReport(
                False, rows, entry.id, f"row {prev_id + 1} is missing before row {entry.id}"
            )
        if entry.prev_hash != prev_hash:
            return AuditReport(
                False, rows, entry.id, "previous-hash link does not match the row before it"
            )
        if row_hash(prev_hash, fields) != entry.hash:
            return AuditReport(False, rows, entry.id, "row content does not match its hash")
        prev_id, prev_hash = entry.id, entry.hash
    head = session.get(AuditHead, 1)
    if head is not None and (head.last_id != prev_id or head.last_hash != prev_hash):
        if head.last_id > prev_id:
            return AuditReport(
                False,
                rows,
                prev_id + 1,
                f"rows {prev_id + 1}..{head.last_id} were deleted from the end of the log",
            )
        return AuditReport(False, rows, head.last_id, "the chain head does not match the log")
    if head is None and rows:
        return AuditReport(False, rows, 1, "the chain head is missing")
    return AuditReport(True, rows)
