"""The append-only, keyed hash-chained audit log.

Each row's hash is HMAC-SHA-256, under a key derived from the key file kept outside the
database (see :mod:`attunement.store.crypto`), over the previous row's hash and the canonical
JSON of the row's own fields (its id and the hash of the record it writes included). Editing a
row breaks its hash, deleting one breaks the next row's link and the id sequence, deleting the
newest rows disagrees with ``audit_head``, and nobody without the key file can recompute the
chain after changing it. Rows written before the switch to the keyed chain keep their original
unkeyed SHA-256 rule; a keyed marker in ``settings`` says where the keyed rows begin.

:func:`verify` also proves that every immutable record (assessment and its corrections,
consent, trial allocation) has its audit row and still matches it, and can start from a signed
checkpoint (:func:`checkpoint`) kept outside the database, which pins the chain's history.
The code has no UPDATE or DELETE path for ``audit_log``; database triggers reject both.
Writers serialise on the chain (PostgreSQL advisory lock / SQLite ``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import operator
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from attunement.store.audit_hash import (
    _INT_FIELDS,
    _ORJSON_PAYLOAD,
    _SORTED,
    _SORTED_AT,
    _WALK_COLUMNS,
    ASSESSMENT_FIELDS,  # noqa: F401  (part of this module's interface)
    CONSENT_FIELDS,  # noqa: F401  (part of this module's interface)
    FIELDS,  # noqa: F401  (part of this module's interface)
    GENESIS,
    KEYED_FIELDS,
    _collector_paused,
    _odd,
    _OddValue,
    canonical,
    keyed_row_hash,
    plain_columns,
    record_digest,  # noqa: F401  (part of this module's interface)
    row_hash,
)
from attunement.store.audit_records import (
    _worker_connection,
    check_records,
    check_span,
    span_findings,
)
from attunement.store.db import driver_execute, driver_executemany
from attunement.store.errors import KeyFileError
from attunement.store.models import AuditHead, Setting

# compiled once; parameters are passed at execution
_HEAD_TABLE = AuditHead.__table__
_HEAD_INSERT = _HEAD_TABLE.insert()
MARKER = "audit_keyed_from"
CHECKPOINT_FORMAT = "attunement-audit-checkpoint-v1"
# every column is a plain string or integer, so these run on the driver directly (see
# ``driver_execute``); ``?`` becomes ``%s`` on PostgreSQL
_HEAD_SQL = "SELECT last_id, last_hash FROM audit_head WHERE id = 1"
_INSERT_SQL = (
    f"INSERT INTO audit_log ({', '.join(KEYED_FIELDS)}, prev_hash, hash) "
    f"VALUES ({', '.join('?' * (len(KEYED_FIELDS) + 2))})"
)
_HEAD_UPDATE_SQL = "UPDATE audit_head SET last_id = ?, last_hash = ? WHERE id = 1"
_MARKER_INSERT_SQL = f"INSERT INTO settings (key, value) VALUES ('{MARKER}', ?)"



def _marker_value(key: bytes, first_id: int) -> str:
    """The ``settings`` value saying the keyed rows begin at ``first_id`` (MACed)."""
    mac = hmac.new(key, f"{MARKER}:{first_id}".encode(), hashlib.sha256).hexdigest()
    return json.dumps({"from": first_id, "mac": mac})


def _hook(session: Session) -> Any:
    hook = session.info.get("audit")
    if hook is None or hook.key is None:
        raise KeyFileError("the audit chain key is not available (open the store with its key)")
    return hook


FAMILIES_WRITTEN = "families_written"


def append(
    session: Session,
    *,
    actor: Any,
    action: str,
    entity: str,
    entity_id: Any = None,
    family: Any = None,
    family_id: int | None = None,
    site_id: int | None = None,
    before: Any = None,
    after: Any = None,
    reason: str | None = None,
    client: str = "",
    record_hash: str | None = None,
) -> int:
    """Append one row to the audit log, inside the caller's write transaction.

    Parameters
    ----------
    session : Session
        The write transaction (``Database.write`` holds the writers' lock).
    actor : Actor
        Who did it.
    action, entity : str
        What was done (``create``, ``update``, ``export`` ...) to what kind of record.
    entity_id : object, optional
        The record's id (kept as text).
    family : Family, optional
        The family row the entry is about, instead of ``family_id`` and ``site_id``.
    family_id, site_id : int, optional
        The family and site, when ``family`` is not given.
    before, after : object, optional
        The record's values before and after (canonical JSON; never identifiers in clear).
    reason : str, optional
        Why, as the user gave it.
    client : str, default ""
        The client address of a web request.
    record_hash : str, optional
        :func:`record_digest` of an immutable record written with this row.

    Returns
    -------
    int
        The new row's id.

    Examples
    --------
    >>> with store.db.write() as s:
    ...     row_id = append(s, actor=admin, action="export", entity="report", after={"rows": 3})
    >>> store.maintenance.audit_log(admin, limit=1)[0]["id"] == row_id
    True
    """
    if family is not None:
        family_id, site_id = family.id, family.site_id
    return append_many(session, [dict(
        actor=actor, action=action, entity=entity, entity_id=entity_id, family_id=family_id,
        site_id=site_id, before=before, after=after, reason=reason, client=client,
        record_hash=record_hash)])[0]


def append_many(session: Session, entries: list[dict[str, Any]]) -> list[int]:
    """Append several rows in the order given, reading and writing the chain's head once.

    Parameters
    ----------
    session : Session
        The write transaction.
    entries : list of dict
        One dict of :func:`append`'s keywords per row.

    Returns
    -------
    list of int
        The new rows' ids, in order.

    Examples
    --------
    >>> entry = {"actor": admin, "action": "print", "entity": "letter"}
    >>> with store.db.write() as s:
    ...     first, second = append_many(s, [entry, entry])
    >>> second - first
    1
    """
    if not entries:
        return []
    # the families this transaction wrote: their caseload rows are recomputed before it
    # commits (store/schedule_summary.py)
    session.info.setdefault(FAMILIES_WRITTEN, set()).update(
        e["family_id"] for e in entries if e.get("family_id") is not None)
    key = _hook(session).key(session)
    head = driver_execute(session, _HEAD_SQL).fetchone()
    prev_id, prev_hash = (head[0], head[1]) if head else (0, GENESIS)
    if head is None:
        # a new log is keyed from its first row (an older log was marked by its migration);
        # never later: a marker written after the fact would bless a rewritten unkeyed past
        driver_execute(session, _MARKER_INSERT_SQL, (_marker_value(key, 1),))
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
            "record_hash": entry.get("record_hash"),
        }
        digest = keyed_row_hash(key, prev_hash, fields)
        rows.append((*(fields[k] for k in KEYED_FIELDS), prev_hash, digest))
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
    """Result of ``verify``: ``ok``, rows checked, the first broken row's id and why, and
    ``problems``: every finding (chain, checkpoint and records), each naming what is wrong."""

    ok: bool
    rows: int
    first_broken: int | None = None
    reason: str | None = None
    problems: tuple[str, ...] = field(default=())


def _keyed_from(session: Session, key: bytes | None) -> tuple[int | None, str | None]:
    """Where the keyed rows begin, or why that cannot be trusted."""
    row = session.get(Setting, MARKER)
    if row is None:
        return None, None
    try:
        first = int(json.loads(row.value)["from"])
    except (ValueError, KeyError, TypeError):
        return None, "the keyed-chain marker is unreadable"
    if key is None:
        return first, "the key file is needed to verify the keyed chain"
    if not hmac.compare_digest(row.value, _marker_value(key, first)):
        return None, "the keyed-chain marker was not written with this key (forged or moved)"
    return first, None


def _sign_checkpoint(checkpoint_key: bytes, body: Mapping[str, Any]) -> str:
    """HMAC-SHA-256 over the checkpoint's canonical fields (all but ``mac``)."""
    payload = canonical({k: v for k, v in body.items() if k != "mac"})
    return hmac.new(checkpoint_key, payload.encode(), hashlib.sha256).hexdigest()


def checkpoint(session: Session, checkpoint_key: bytes, key_id: str) -> dict[str, Any]:
    """Sign a statement of the chain's head now, to keep outside the database.

    A later :func:`verify` from this checkpoint reads only the rows after it, and shows
    that the history before it was not rewritten.

    Parameters
    ----------
    session : Session
        A database transaction.
    checkpoint_key : bytes
        The checkpoint key (:attr:`attunement.store.crypto.KeyRing.audit_checkpoint`).
    key_id : str
        The key file's id, recorded in the checkpoint.

    Returns
    -------
    dict
        ``format``, ``key_id``, ``last_id``, ``last_hash``, ``made_at`` and ``mac``.

    Examples
    --------
    >>> keys = store.core.keyring()
    >>> with store.db.read() as s:
    ...     cp = checkpoint(s, keys.audit_checkpoint, keys.key_id)
    >>> sorted(cp)
    ['format', 'key_id', 'last_hash', 'last_id', 'mac', 'made_at']
    """
    head = session.get(AuditHead, 1)
    body: dict[str, Any] = {
        "format": CHECKPOINT_FORMAT,
        "key_id": key_id,
        "last_id": head.last_id if head else 0,
        "last_hash": head.last_hash if head else GENESIS,
        "made_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    body["mac"] = _sign_checkpoint(checkpoint_key, body)
    return body


_WALK_SQL = f"SELECT {', '.join(_WALK_COLUMNS)} FROM audit_log WHERE id >= ? ORDER BY id"
_WALK_CHUNK_SQL = (
    f"SELECT {', '.join(_WALK_COLUMNS)} FROM audit_log WHERE id >= ? ORDER BY id LIMIT ?"
)
_PICK = operator.itemgetter(*_SORTED_AT)
if json.encoder.c_make_encoder is not None:
    # the C encoder made once (JSONEncoder.encode builds one per call); with sort_keys off,
    # the dict built in sorted key order gives canonical()'s text
    _C_ENCODER = json.encoder.c_make_encoder(
        None, None, json.encoder.encode_basestring_ascii, None, ":", ",", False, False, True)

    def _ENCODE(obj: dict[str, Any]) -> str:
        return "".join(_C_ENCODER(obj, 0))
else:  # pragma: no cover - CPython always has the C encoder
    _ENCODE = json.JSONEncoder(separators=(",", ":")).encode
CHUNK = 20_000
# a log longer than this many chunks is checked in a process pool (small logs: not worth one)
PARALLEL_AFTER = 2
_TEMPLATE = "{" + ",".join(f'"{k}":%s' for k in _SORTED) + "}"


def _make_payload() -> tuple[Callable[[tuple], str], Callable[[tuple], str]]:
    # generated once: the row is unpacked into locals and each field is one inline
    # expression testing the column's usual type first (no dict, no call per field but the
    # string escape), about 2.5 times as fast as the C encoder on a dict and byte-identical
    # to canonical() for strings, integers and nulls; anything else raises _OddValue and
    # goes to the encoder (a boolean is not an integer here: its type is bool)
    names = [f"v{i}" for i in range(len(_WALK_COLUMNS))]
    parts = []
    for key, i in zip(_SORTED, _SORTED_AT, strict=True):
        v = names[i]
        if key in _INT_FIELDS:
            parts.append(f"(rep({v}) if type({v}) is int else 'null' if {v} is None else odd({v}))")
        else:
            parts.append(f"(esc({v}) if type({v}) is str else 'null' if {v} is None "
                         f"else rep({v}) if type({v}) is int else odd({v}))")
    scope = {"esc": json.encoder.encode_basestring_ascii, "rep": int.__repr__, "odd": _odd,
             "tmpl": _TEMPLATE, "text": "%s" + _TEMPLATE}
    # the second function is the HMAC's text: the stored prev_hash, then the payload
    prev = names[_WALK_COLUMNS.index("prev_hash")]
    source = (f"def payload(r):\n    {', '.join(names)} = r\n"
              f"    return tmpl % ({', '.join(parts)},)\n"
              f"def message(r):\n    {', '.join(names)} = r\n"
              f"    return text % ({prev} if type({prev}) is str else odd({prev}), "
              f"{', '.join(parts)},)\n")
    exec(source, scope)
    return scope["payload"], scope["message"]


_FAST_PAYLOAD, _FAST_MESSAGE = _make_payload()


def _payload(row: tuple) -> str:
    """The canonical JSON of a walked row's keyed fields (sorted keys, no spaces)."""
    try:
        return _FAST_PAYLOAD(row)
    except _OddValue:
        return _ENCODE(dict(zip(_SORTED, _PICK(row), strict=True)))


def _hmac_pads(key: bytes) -> tuple[Any, Any]:
    """The chain key's HMAC-SHA-256 state after its inner and outer pad blocks (RFC 2104).

    Copying these states and feeding a row's text gives exactly ``hmac.digest(key, text,
    "sha256")`` without hashing the two key blocks again for every row (half the cost of
    a row's HMAC at the chain's row sizes).

    Examples
    --------
    >>> inner, outer = _hmac_pads(b"chain key")
    >>> h = inner.copy(); h.update(b"row text"); o = outer.copy(); o.update(h.digest())
    >>> o.hexdigest() == hmac.new(b"chain key", b"row text", hashlib.sha256).hexdigest()
    True
    """
    if len(key) > 64:  # the SHA-256 block size: a longer key is hashed first
        key = hashlib.sha256(key).digest()
    key = key.ljust(64, b"\0")
    return (hashlib.sha256(bytes(b ^ 0x36 for b in key)),
            hashlib.sha256(bytes(b ^ 0x5C for b in key)))


def first_bad_hmac(key: bytes, keyed_from: int, rows: list[tuple], fast: bool = False
                   ) -> int | None:
    """Find the first keyed row whose stored hash is not the HMAC of its own content.

    Depends on nothing but ``rows``, so chunks can be checked in parallel (the links between
    rows are checked in order elsewhere).

    Parameters
    ----------
    key : bytes
        The chain key.
    keyed_from : int
        The first keyed row's id; rows before it are skipped.
    rows : list of tuple
        Rows as the walk reads them: ``KEYED_FIELDS``, then ``prev_hash`` and ``hash``.
    fast : bool, default False
        Try orjson's text first (only where the table's columns are of the types the store
        made them, :func:`plain_columns`); canonical()'s text decides any row it does not
        prove.

    Returns
    -------
    int or None
        The bad row's id, or None when every row checks.

    Examples
    --------
    >>> key, fields = bytes(32), dict.fromkeys(KEYED_FIELDS) | {"id": 1}
    >>> row = (*fields.values(), GENESIS, keyed_row_hash(key, GENESIS, fields))
    >>> first_bad_hmac(key, 1, [row]), first_bad_hmac(key, 1, [row[:-1] + ("0" * 64,)])
    (None, 1)
    """
    inner, outer = _hmac_pads(key)
    new_inner, new_outer, payload = inner.copy, outer.copy, _ORJSON_PAYLOAD
    for row in rows:
        if row[0] < keyed_from:
            continue
        if fast:
            try:
                h = new_inner()
                h.update(row[-2].encode())
                h.update(payload(row))
                o = new_outer()
                o.update(h.digest())
                if o.hexdigest() == row[-1]:
                    continue
            except (_OddValue, AttributeError, TypeError):  # orjson's error is a TypeError
                pass
        # canonical()'s own text decides
        try:
            text = _FAST_MESSAGE(row)
        except _OddValue:
            text = row[-2] + _payload(row)
        h = new_inner()
        h.update(text.encode())
        o = new_outer()
        o.update(h.digest())
        if o.hexdigest() != row[-1]:
            return row[0]
    return None


def _walk(session: Session, first_id: int, chunk: int = CHUNK) -> Any:
    """Chain rows from ``first_id`` on, in id order, as tuples of ``_WALK_COLUMNS``, in
    chunks (lists): a server-side cursor on PostgreSQL, keyset pages on SQLite, so memory
    stays bounded at any size."""
    conn = session.connection()
    raw = conn.connection.driver_connection  # type: ignore[union-attr]
    if conn.dialect.name == "postgresql":
        with raw.cursor(name="attunement_audit_verify") as cur:
            cur.itersize = chunk
            cur.execute(_WALK_SQL.replace("?", "%s"), (first_id,))
            while rows := cur.fetchmany(chunk):
                yield rows
        return
    cur = raw.cursor()
    while rows := cur.execute(_WALK_CHUNK_SQL, (first_id, chunk)).fetchall():
        yield rows
        first_id = rows[-1][0] + 1


def _count_from(session: Session, first_id: int) -> int:
    return int(driver_execute(
        session, "SELECT count(*) FROM audit_log WHERE id >= ?", (first_id,)).fetchone()[0])


class _Walker:
    """The in-order checks of the chain over rows fed chunk by chunk: ids contiguous, each
    row linked to the stored hash of the row before it, each keyed hash (``bad``: the first
    wrong one of the chunk), the unkeyed era, the signed checkpoint's row. Keeps the first
    break, and what the rows say about the immutable records (:class:`_Seen`)."""

    def __init__(self, key: bytes | None, keyed_from: int | None, marker_problem: str | None,
                 pinned: tuple[int, str] | None, prev_id: int, prev_hash: str | None) -> None:
        self.key, self.keyed_from, self.marker_problem = key, keyed_from, marker_problem
        self.fast = False  # orjson's text first (plain_columns)
        self.pinned, self.prev_id, self.prev_hash = pinned, prev_id, prev_hash
        self.rows = 0
        self.broken: tuple[int, str] | None = None
        self.seen = _Seen()

    def feed(self, chunk: list[tuple], bad: int | None) -> None:
        """Check ``chunk`` (rows of ``_WALK_COLUMNS`` in id order)."""
        key, keyed_from, marker_problem, pinned = (
            self.key, self.keyed_from, self.marker_problem, self.pinned)
        prev_id, prev_hash, broken, add = self.prev_id, self.prev_hash, self.broken, \
            self.seen.add_row
        for row in chunk:
            row_id, row_prev, row_hash_ = row[0], row[-2], row[-1]
            add(row)
            if broken is not None:
                continue
            if row_id != prev_id + 1:
                broken = (row_id, f"row {prev_id + 1} is missing before row {row_id}")
            elif prev_hash is not None and row_prev != prev_hash:
                broken = (row_id, "previous-hash link does not match the row before it")
            elif keyed_from is not None and row_id >= keyed_from and key is None:
                broken = (row_id, "the key file is needed to verify the keyed rows")
            elif keyed_from is not None and row_id >= keyed_from:
                if row_id == bad:
                    broken = (row_id, "row content does not match its keyed hash")
            elif marker_problem is not None:
                broken = (row_id, marker_problem)
            elif row_hash(row_prev, dict(zip(_WALK_COLUMNS, row, strict=True))) != row_hash_:
                broken = (row_id, "row content does not match its hash")
            if broken is None and pinned is not None and row_id == pinned[0] != 0 \
                    and row_hash_ != pinned[1]:
                broken = (row_id, "row differs from the signed checkpoint (history rewritten)")
            prev_id, prev_hash = row_id, row_hash_
        self.rows += len(chunk)
        self.prev_id, self.prev_hash, self.broken = prev_id, prev_hash, broken

    def check(self, chunk: list[tuple]) -> None:
        """:meth:`feed` with the chunk's keyed hashes computed here."""
        bad = None
        if self.broken is None and self.key is not None and self.keyed_from is not None:
            bad = first_bad_hmac(self.key, self.keyed_from, chunk, self.fast)
        self.feed(chunk, bad)


_RANGE_SQL = (
    f"SELECT {', '.join(_WALK_COLUMNS)} FROM audit_log WHERE id >= ? AND id < ? ORDER BY id"
)


def _check_range(url: str, state: tuple, lo: int, hi: int, chunk: int,
                 records: bool = False) -> tuple:
    """A pool worker's part of :func:`verify`: rows ``lo <= id < hi`` read on its own
    connection and checked as the in-order walk would, starting from the stored row before
    ``lo`` (each link depends only on stored hashes). With ``records``, the assessments
    those rows name are checked here too (:func:`check_span`) instead of being sent back.
    Returns the walker's outcome."""
    key, keyed_from, marker_problem, pinned, start, prev_id, prev_hash, fast = state
    _, raw, dialect = _worker_connection(url)
    cur = raw.cursor()
    mark = (lambda q: q.replace("?", "%s")) if dialect == "postgresql" else (lambda q: q)
    if lo > start:
        cur.execute(mark("SELECT id, hash FROM audit_log WHERE id >= ? AND id < ? "
                         "ORDER BY id DESC LIMIT 1"), (start, lo))
        before = cur.fetchone()
        if before is not None:
            prev_id, prev_hash = before[0], before[1]
    walker = _Walker(key, keyed_from, marker_problem, pinned, prev_id, prev_hash)
    walker.fast = fast
    cur.execute(mark(_RANGE_SQL), (lo, hi))
    with _collector_paused():
        while rows := cur.fetchmany(chunk):
            walker.check(rows)
    cur.close()
    seen = walker.seen
    span = None
    if records:
        span = check_span(url, seen.assessments, chunk)
        seen.assessments = {}
    return (walker.rows, walker.broken, walker.prev_id, walker.prev_hash,
            (seen.assessments, seen.consents, seen.withdrawals, seen.allocations), span)


class _Pool:
    """A process pool made on first use, shared by the walk and the record check."""

    def __init__(self, workers: int) -> None:
        self.workers, self.pool = workers, None

    def get(self) -> Any:
        if self.pool is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            # fork where there is one: a spawned worker re-imports the program (seconds
            # of start-up); a forked one opens its own connection, touches none of the
            # parent's
            method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
            self.pool = ProcessPoolExecutor(
                self.workers, mp_context=multiprocessing.get_context(method))
        return self.pool

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()


def _walk_in_pool(
    session: Session, walker: _Walker, start: int, top: int, pool: Any, chunk: int,
    progress: Callable[[int, int], None] | None, records: bool = False,
) -> list[tuple | None]:
    """The walk of ids ``start..top`` split into ranges checked by ``pool``'s processes,
    merged in id order into ``walker`` (the same outcome as the one-process walk). With
    ``records``, each range also checks the assessments it names; their spans, in order."""
    url = session.get_bind().url.render_as_string(hide_password=False)
    state = (walker.key, walker.keyed_from, walker.marker_problem, walker.pinned, start,
             walker.prev_id, walker.prev_hash, walker.fast)
    step = 5 * chunk
    bounds = [(lo, min(lo + step, top + 1)) for lo in range(start, top + 1, step)]
    total = top - start + 1
    parts = pool.map(_check_range, *zip(*[(url, state, lo, hi, chunk, records)
                                         for lo, hi in bounds], strict=True))
    spans = []
    for rows, broken, last_id, last_hash, seen, span in parts:
        spans.append(span)
        if walker.broken is None:
            walker.broken = broken
        if rows:
            walker.prev_id, walker.prev_hash = last_id, last_hash
        walker.rows += rows
        walker.seen.assessments.update(seen[0])
        walker.seen.consents.update(seen[1])
        walker.seen.withdrawals.update(seen[2])
        walker.seen.allocations.update(seen[3])
        if progress is not None:
            progress(walker.rows, max(total, walker.rows))
    return spans


def verify(
    session: Session,
    key: bytes | None,
    *,
    checkpoint_key: bytes | None = None,
    key_id: str | None = None,
    from_checkpoint: Mapping[str, Any] | None = None,
    records: bool = True,
    progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
    parallel_after: int = PARALLEL_AFTER,
    chunk: int = CHUNK,
) -> AuditReport:
    """Walk the chain in id order, then check the immutable records against it.

    With a valid signed ``from_checkpoint`` only the checkpoint's row and the rows after it
    are read, and only the records written after it are checked; without one, everything
    is. A log longer than ``parallel_after`` chunks is checked in id ranges by a pool of
    processes, each on its own connection, with the same result as in one process.

    Parameters
    ----------
    session : Session
        A database transaction.
    key : bytes or None
        The chain key (None: only an unkeyed chain can be checked).
    checkpoint_key : bytes, optional
        The key that signed ``from_checkpoint``.
    key_id : str, optional
        The key file's id the checkpoint must name.
    from_checkpoint : mapping, optional
        A checkpoint made by :func:`checkpoint`.
    records : bool, default True
        Also check assessments, consents and allocations against their audit rows.
    progress : callable, optional
        Called as ``progress(done, total)`` after each chunk of rows.
    workers : int, optional
        Processes for a long log (default: the machine's cores).
    parallel_after : int, optional
        How many chunks a log must exceed before the pool is used.
    chunk : int, optional
        Rows read at a time.

    Returns
    -------
    AuditReport
        ``ok``; ``first_broken`` and ``reason`` for the first row that does not fit; every
        finding in ``problems``.

    Examples
    --------
    >>> keys = store.core.keyring()
    >>> with store.db.read() as s:
    ...     report = verify(s, keys.audit_chain)
    >>> report.ok, report.problems
    (True, ())
    """
    pool = _Pool(workers if workers is not None else min(os.cpu_count() or 1, 8))
    try:
        return _verify(session, key, checkpoint_key, key_id, from_checkpoint, records,
                       progress, pool, parallel_after, chunk)
    finally:
        pool.close()


def _verify(
    session: Session, key: bytes | None, checkpoint_key: bytes | None, key_id: str | None,
    from_checkpoint: Mapping[str, Any] | None, records: bool,
    progress: Callable[[int, int], None] | None, pool: _Pool, parallel_after: int, chunk: int,
) -> AuditReport:
    problems: list[str] = []
    keyed_from, marker_problem = _keyed_from(session, key)
    pinned: tuple[int, str] | None = None
    if from_checkpoint is not None:
        pinned = _check_checkpoint(from_checkpoint, checkpoint_key, key_id, problems)
    prev_id, prev_hash = 0, GENESIS
    start = 1
    if pinned is not None and pinned[0] > 0:
        # read from the pinned row: its hash must still be the signed one
        start = pinned[0]
        prev_id, prev_hash = pinned[0] - 1, None
    top = driver_execute(
        session, "SELECT max(id) FROM audit_log WHERE id >= ?", (start,)).fetchone()[0]
    if top is not None and marker_problem is None and keyed_from is None:
        marker_problem = "the keyed-chain marker is missing (removed from settings)"
    walker = _Walker(key, keyed_from, marker_problem, pinned, prev_id, prev_hash)
    walker.fast = plain_columns(session)
    spans = None
    if top is not None and pool.workers > 1 and top - start + 1 > parallel_after * chunk:
        spans = _walk_in_pool(session, walker, start, top, pool.get(), chunk, progress,
                              records)
    else:
        total = _count_from(session, start) if progress is not None else 0
        for rows_read in _walk(session, start, chunk):
            walker.check(rows_read)
            if progress is not None:
                progress(walker.rows, max(total, walker.rows))
    rows, broken, seen = walker.rows, walker.broken, walker.seen
    prev_id, prev_hash = walker.prev_id, walker.prev_hash
    if rows == 0 and start > 1:
        # nothing from the checkpoint's row on: compare what is left with the head and the pin
        last = driver_execute(
            session, "SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
        prev_id, prev_hash = (last[0], last[1]) if last else (0, GENESIS)
    if broken is None and marker_problem is not None and rows:
        broken = (1, marker_problem)
    if broken is None:
        head = session.get(AuditHead, 1)
        if head is not None and (head.last_id != prev_id or head.last_hash != prev_hash):
            if head.last_id > prev_id:
                broken = (
                    prev_id + 1,
                    f"rows {prev_id + 1}..{head.last_id} were deleted from the end of the log",
                )
            else:
                broken = (head.last_id, "the chain head does not match the log")
        elif head is None and rows:
            broken = (1, "the chain head is missing")
    if broken is None and pinned is not None and pinned[0] > prev_id:
        broken = (
            prev_id + 1,
            f"rows {prev_id + 1}..{pinned[0]} of the signed checkpoint are missing",
        )
    if broken is not None:
        problems.insert(0, f"audit row {broken[0]}: {broken[1]}")
    if records:
        after = start if start > 1 else None
        found = span_findings(session, spans, after) if spans is not None else None
        if spans is not None and found is None:
            # the records are not where the log says, in order: walk again, gathering what
            # the rows say of them, and check them the long way (findings and order as in
            # one process)
            again = _Walker(key, keyed_from, marker_problem, pinned, start - 1, None)
            again.fast = walker.fast
            _walk_in_pool(session, again, start, top, pool.get(), chunk, None)
            seen.assessments = again.seen.assessments
        many = pool.workers > 1 and len(seen.assessments) > parallel_after * chunk
        problems.extend(check_records(
            session, seen.assessments, seen.consents, seen.withdrawals, seen.allocations,
            after, chunk=chunk, pool=pool.get() if many else None,
            assessment_findings=found))
    if not problems:
        return AuditReport(True, rows)
    if broken is not None:
        return AuditReport(False, rows, broken[0], broken[1], tuple(problems))
    return AuditReport(False, rows, None, problems[0], tuple(problems))


def _check_checkpoint(
    cp: Mapping[str, Any], checkpoint_key: bytes | None, key_id: str | None, problems: list[str]
) -> tuple[int, str] | None:
    if cp.get("format") != CHECKPOINT_FORMAT:
        problems.append("checkpoint: not an attunement audit checkpoint")
        return None
    if checkpoint_key is None or key_id is None:
        problems.append("checkpoint: the key file is needed to check its signature")
        return None
    if cp.get("key_id") != key_id:
        problems.append("checkpoint: it was signed with another key file")
        return None
    if not hmac.compare_digest(str(cp.get("mac", "")), _sign_checkpoint(checkpoint_key, cp)):
        problems.append("checkpoint: its signature does not match (edited or forged)")
        return None
    return int(cp["last_id"]), str(cp["last_hash"])


_ENTITY = _WALK_COLUMNS.index("entity")
_ACTION = _WALK_COLUMNS.index("action")
_ENTITY_ID = _WALK_COLUMNS.index("entity_id")
_RECORD_HASH = _WALK_COLUMNS.index("record_hash")


class _RowView:
    """Attribute access to a walked row (only for the few entities :class:`_Seen` keeps)."""

    def __init__(self, row: tuple) -> None:
        for name, value in zip(_WALK_COLUMNS, row, strict=True):
            setattr(self, name, value)


class _Seen:
    """What the audit rows say about the immutable records, gathered during the walk."""

    def __init__(self) -> None:
        # record id -> (audit row id, record hash or None for rows of the unkeyed era)
        self.assessments: dict[int, tuple[int, str | None]] = {}
        self.consents: dict[int, tuple[int, str | None]] = {}
        self.withdrawals: dict[int, str | None] = {}
        # audit row id -> (family id, after)
        self.allocations: dict[int, tuple[int | None, dict[str, Any]]] = {}

    def add_row(self, row: tuple) -> None:
        """:meth:`add` for a tuple of ``_WALK_COLUMNS``."""
        entity = row[_ENTITY]
        if entity == "assessment":
            # the common case, read by position (no view object per row)
            if row[_ACTION] in ("create", "correct") and row[_ENTITY_ID]:
                self.assessments[int(row[_ENTITY_ID])] = (row[0], row[_RECORD_HASH])
        elif entity in ("consent", "trial_allocation"):
            self.add(_RowView(row))

    def add(self, e: Any) -> None:
        if e.entity == "assessment" and e.action in ("create", "correct") and e.entity_id:
            self.assessments[int(e.entity_id)] = (e.id, e.record_hash)
        elif e.entity == "consent" and e.entity_id:
            if e.action == "create":
                self.consents[int(e.entity_id)] = (e.id, e.record_hash)
            elif e.action == "update" and e.after:
                self.withdrawals[int(e.entity_id)] = json.loads(e.after).get("withdrawn_on")
        elif e.entity == "trial_allocation" and e.action == "randomise":
            self.allocations[e.id] = (e.family_id, json.loads(e.after or "{}"))
