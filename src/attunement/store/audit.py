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

from attunement.store.db import driver_execute, driver_executemany
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
) -> int:
    """Append one row; the caller holds the write lock (see ``Database.write``)."""
    return append_many(session, [dict(
        actor=actor, action=action, entity=entity, entity_id=entity_id, family_id=family_id,
        site_id=site_id, before=before, after=after, reason=reason, client=client)])[0]


def append_many(session: Session, entries: list[dict[str, Any]]) -> list[int]:
    """Append rows in the order given (each a dict of :func:`append`'s keywords); their ids.

    The head is read once and written once, the rows go in one ``executemany``: plain
    statements on the driver (no unit of work), as this runs on every write.
    """
    if not entries:
        return []
    head = driver_execute(session, _HEAD_SQL).fetchone()
    prev_id, prev_hash = (head[0], head[1]) if head else (0, GENESIS)
    at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    rows, ids = [], []
    for entry in entries:
        actor, before, after = entry["actor"], entry.get("before"), entry.get("after")
        entity_id = entry.get("entity_id")
        fields = {
            "id": prev_id + 1,
            "at": at,
            "actor_id": actor.user_id,
            "actor_email": actor.email,
            "actor_role": actor.role,
            "action": entry["action"],
            "entity": entry["entity"],
            "entity_id": None if entity_id is None else str(entity_id),
            "family_id": entry.get("family_id"),
            "site_id": entry.get("site_id"),
            "before": None if before is None else canonical(before),
            "after": None if after is None else canonical(after),
            "reason": entry.get("reason"),
            "client": entry.get("client") or "",
        }
        digest = row_hash(prev_hash, fields)
        rows.append((*(fields[k] for k in FIELDS), prev_hash, digest))
        ids.append(fields["id"])
        prev_id, prev_hash = fields["id"], digest
    if len(rows) == 1:
        driver_execute(session, _INSERT_SQL, rows[0])
    else:
        driver_executemany(session, _INSERT_SQL, rows)
    if head is None:
        session.execute(_HEAD_INSERT, {"id": 1, "last_id": prev_id, "last_hash": prev_hash})
    else:
        driver_execute(session, _HEAD_UPDATE_SQL, (prev_id, prev_hash))
    return ids


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
