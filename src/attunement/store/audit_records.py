"""The immutable records checked against the audit rows that vouch for them.

:func:`check_records` is the second half of :func:`attunement.store.audit.verify`: every
assessment, consent and trial allocation must have its audit row and still match it.

An assessment's ``record_hash`` is the SHA-256 of its canonical JSON (sorted keys, no
spaces). Its JSON columns are written as canonical JSON too (``json_serializer`` in
store/db.py), so the stored text of ``responses``, ``item_scores``, ``scores`` and ``flags``
is already the text the hash was taken over: the record's text is rebuilt by splicing those
columns, read as text, between the other columns encoded as :func:`canonical` encodes them,
and one SHA-256 proves the record unchanged without decoding anything. A record whose text
does not give its hash (edited, or written before the JSON columns were canonical) is read
again the slow way, decoded and re-encoded, and only then reported, so the findings are
exactly those of the decode-everything check. On PostgreSQL the server builds that text
and hashes it; on SQLite orjson writes it first. In the process pool each worker checks the
records its part of the log names (:func:`check_span`), and the parent checks the parts fit
together (:func:`span_findings`); when they do not, the records are checked in id ranges
the long way.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import json
from collections.abc import Callable, Iterator
from datetime import date, datetime
from typing import Any

import orjson
from sqlalchemy import JSON, Date, DateTime, Integer, select
from sqlalchemy.orm import Session

from attunement.store import audit_hash
from attunement.store.audit_hash import ASSESSMENT_FIELDS, RECORD_FIELDS, canonical, row_digest
from attunement.store.models import Assessment, Consent, TrialAllocation

# what an allocation's audit row (``after``) says, by allocation column
_ALLOCATION_AFTER = {
    "study_id": "study", "sequence": "sequence", "arm": "arm", "stratum": "stratum",
    "inputs": "inputs", "details": "details", "algorithm": "algorithm",
    "fingerprint": "fingerprint",
}
# record id -> (audit row id, record hash or None for rows of the unkeyed era)
Logged = dict[int, tuple[int, str | None]]

_TABLE = Assessment.__table__
_COLS = [_TABLE.c[k] for k in ASSESSMENT_FIELDS]
_IS_JSON = [isinstance(c.type, JSON) for c in _COLS]


def _column_kind(col: Any) -> str:
    t = col.type
    if isinstance(t, JSON):
        return "json"
    if isinstance(getattr(t, "impl", t), DateTime):
        return "datetime"
    if isinstance(t, Date):
        return "date"
    return "int" if isinstance(t, Integer) else "str"


# one inline expression per kind of column, byte-identical to canonical() for the values
# the drivers give: SQLite's dates and times are text ('YYYY-MM-DD', 'YYYY-MM-DD HH:MM:SS.ffffff'
# as SQLAlchemy writes them), PostgreSQL's are date and naive (UTC) datetime objects; a JSON
# column is its stored text, spliced as it is
_EXPRESSIONS = {
    "int": "(rep({v}) if type({v}) is int else 'null' if {v} is None else odd({v}))",
    "str": "(esc({v}) if type({v}) is str else 'null' if {v} is None else odd({v}))",
    "json": "({v} if type({v}) is str else 'null' if {v} is None else odd({v}))",
    "date": "(esc({v}) if type({v}) is str else esc({v}.isoformat()) if type({v}) is date "
            "else 'null' if {v} is None else odd({v}))",
    "datetime": "(esc({v}[:10] + 'T' + {v}[11:]) if type({v}) is str and {v}[10:11] == ' ' "
                "else esc({v}.isoformat(timespec='microseconds')) if type({v}) is datetime "
                "and {v}.tzinfo is None else 'null' if {v} is None else odd({v}))",
}


def _make_text() -> Callable[[tuple], str]:
    # generated once: the row unpacked into locals, the fields in sorted key order
    names = [f"v{i}" for i in range(len(_COLS))]
    order = sorted(range(len(_COLS)), key=lambda i: ASSESSMENT_FIELDS[i])
    template = "{" + ",".join(f'"{ASSESSMENT_FIELDS[i]}":%s' for i in order) + "}"
    parts = [_EXPRESSIONS[_column_kind(_COLS[i])].format(v=names[i]) for i in order]
    source = (f"def text(r):\n    {', '.join(names)}, *_ = r\n"
              f"    return tmpl % ({', '.join(parts)},)\n")
    scope = {"esc": json.encoder.encode_basestring_ascii, "rep": int.__repr__,
             "odd": audit_hash._odd, "tmpl": template, "date": date, "datetime": datetime}
    exec(source, scope)
    return scope["text"]


_TEXT = _make_text()


def _make_orjson_text() -> Callable[[tuple], bytes]:
    # SQLite's rows (dates and times as text): orjson writes the record's bytes about a
    # quarter faster than _TEXT, the JSON columns spliced as they are (orjson.Fragment).
    # Where its bytes differ from canonical()'s (non-ASCII left raw, say) the record goes to
    # _TEXT; bytes that give the logged hash are canonical() text of the record as logged,
    # so they parse to its values, except that orjson writes a float that is not finite as
    # null: a float in a column that may hold a null is left to _TEXT
    names = [f"v{i}" for i in range(len(_COLS))]
    floats = " or ".join(f"type({names[i]}) is float" for i, c in enumerate(_COLS)
                         if c.nullable) or "False"
    values = []
    for i in sorted(range(len(_COLS)), key=lambda i: ASSESSMENT_FIELDS[i]):
        v, kind = names[i], _column_kind(_COLS[i])
        if kind == "json":
            value = f"fragment({v})"
        elif kind == "datetime":
            value = (f"({v}[:10] + 'T' + {v}[11:] if type({v}) is str and {v}[10:11] == ' ' "
                     f"else None if {v} is None else odd({v}))")
        elif kind == "date":
            value = f"({v} if type({v}) is str or {v} is None else odd({v}))"
        else:
            value = v
        values.append(f"{ASSESSMENT_FIELDS[i]!r}: {value}")
    source = (f"def text(r):\n    {', '.join(names)}, *_ = r\n"
              f"    if {floats}:\n        odd(None)\n"
              f"    return dumps({{{', '.join(values)}}})\n")
    scope = {"dumps": orjson.dumps, "fragment": orjson.Fragment, "odd": audit_hash._odd}
    exec(source, scope)
    return scope["text"]


_ORJSON_TEXT = _make_orjson_text()


def stored_text(row: tuple) -> str:
    """The canonical JSON of an assessment read as stored (JSON columns as their text).

    Parameters
    ----------
    row : tuple
        The ``ASSESSMENT_FIELDS`` columns as the driver returns them, the JSON ones read
        as text (``CAST(col AS TEXT)``).

    Returns
    -------
    str
        The text whose SHA-256 is the record's ``record_hash`` when the stored JSON is
        canonical and nothing was changed.

    Raises
    ------
    ValueError
        A value of a type the fast text does not take (the record is checked the slow way).

    Examples
    --------
    >>> from attunement.store.audit_hash import record_digest
    >>> record = dict.fromkeys(ASSESSMENT_FIELDS) | {"id": 7, "scores": {"total": 12}}
    >>> row = tuple(canonical(v) if k == "scores" else v for k, v in record.items())
    >>> hashlib.sha256(stored_text(row).encode()).hexdigest() == record_digest("assessment", record)
    True
    """
    try:
        return _TEXT(row)
    except audit_hash._OddValue:
        raise ValueError("a value the fast text does not take") from None


def _select_sql(dialect: str) -> str:
    cols = [f"CAST({c.name} AS TEXT)" if j else c.name for c, j in zip(_COLS, _IS_JSON,
                                                                       strict=True)]
    if dialect == "sqlite":
        # SQLite keeps any text in a JSON column: only valid JSON texts are spliced (then the
        # columns' boundaries in the record's text are unambiguous)
        cols.append(" AND ".join(f"json_valid({c.name})" for c, j in zip(
            _COLS, _IS_JSON, strict=True) if j))
    sql = f"SELECT {', '.join(cols)} FROM assessments WHERE id >= ? AND id < ? ORDER BY id"
    return sql.replace("?", "%s") if dialect == "postgresql" else sql


# On PostgreSQL the server builds each record's canonical text and hashes it (half the CPU of
# reading the columns and building the text here; on SQLite, measured, it is no faster than
# the Python text, so SQLite reads the columns). A text that differs from canonical() only
# sends the record to the Python text, then to the decoded check; the one danger is a stored
# record that differs from the logged one yet gives the same text, so every piece must be
# unambiguous: integers and dates are typed columns, ``json`` columns hold valid JSON kept
# verbatim, and to_json() escapes a string as canonical() does except that it leaves
# non-ASCII as it is (never raw in canonical() text, so such a text only differs). Functions
# and operators are named in pg_catalog, so nothing of the same name elsewhere on the search
# path can stand in for them.
_PG_CAT = "OPERATOR(pg_catalog.||)"
_PG_PIECES = {
    "int": "CAST({c} AS TEXT)",
    "str": "CAST(pg_catalog.to_json({c}) AS TEXT)",
    "json": "CAST({c} AS TEXT)",
    "date": f"'\"' {_PG_CAT} pg_catalog.to_char({{c}}, 'YYYY-MM-DD') {_PG_CAT} '\"'",
    "datetime": f"'\"' {_PG_CAT} pg_catalog.to_char({{c}}, 'YYYY-MM-DD\"T\"HH24:MI:SS.US') "
                f"{_PG_CAT} '\"'",
}


def _pg_text_sql() -> str:
    """PostgreSQL's expression of an assessment's canonical text."""
    order = sorted(range(len(_COLS)), key=lambda i: ASSESSMENT_FIELDS[i])
    pieces = [f"COALESCE({_PG_PIECES[_column_kind(_COLS[i])].format(c=_COLS[i].name)}, "
              "'null')" for i in order]
    keys = ["'{" + f'"{ASSESSMENT_FIELDS[order[0]]}":' + "'"] + [
        f"',\"{ASSESSMENT_FIELDS[i]}\":'" for i in order[1:]]
    glue = f" {_PG_CAT} "
    return glue.join(part for key, piece in zip(keys, pieces, strict=True)
                     for part in (key, piece)) + f"{glue}'}}'"


# each assessment's id and the SHA-256 (hex) of its canonical text, taken by the server
_PG_DIGEST_SQL = (
    "SELECT id, pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to("
    f"{_pg_text_sql()}, 'UTF8')), 'hex') FROM assessments WHERE id >= %s AND id < %s "
    "ORDER BY id")


def _slow_rows(execute: Callable[[Any], Any], first: int, last: int) -> Iterator[Any]:
    """Assessments ``first..last`` decoded by SQLAlchemy, as the record's hash was made."""
    stmt = select(*_COLS).where(Assessment.id >= first, Assessment.id <= last).order_by(
        Assessment.id)
    return iter(execute(stmt))


def _python_text_differs(cursor: Any, dialect: str, rows: list[tuple],
                         suspects: dict[int, str]) -> dict[int, str]:
    """Of ``suspects`` (id -> logged hash) among ``rows`` (read by ``_select_sql``), those
    whose stored text does not give the logged hash."""
    left: dict[int, str] = {}
    valid_at = len(_COLS) if dialect == "sqlite" else None
    text, sha = _TEXT, hashlib.sha256
    for row in rows:
        digest = suspects.get(row[0])
        if digest is None:
            continue
        if valid_at is not None and row[valid_at] != 1:
            left[row[0]] = digest
            continue
        try:
            same = sha(text(row).encode()).hexdigest() == digest
        except audit_hash._OddValue:
            same = False
        if not same:
            left[row[0]] = digest
    return left


# on PostgreSQL, the Python text of the few records whose server text did not give their hash
_PG_SUSPECTS_SQL = _select_sql("postgresql").replace(
    "WHERE id >= %s AND id < %s", "WHERE id = ANY(%s)")


def assessment_problems(
    cursor: Any, dialect: str, execute: Callable[[Any], Any], logged: Logged,
    lo: int, hi: int, chunk: int,
) -> tuple[list[tuple[int, int]], list[int]]:
    """The assessments ``lo <= id < hi`` that do not match ``logged``, in id order.

    Pops each record found from ``logged``; what is left there has no record (deleted).
    Each record is proven unchanged by the cheapest check that can: the server's hash of
    its text (PostgreSQL) or orjson's bytes of its columns (SQLite), then canonical()'s text
    built here from its columns, then its columns decoded and re-encoded (the rule the hash
    was made by); only the last can call it edited.

    Parameters
    ----------
    cursor : DB-API cursor
        Reads the stored rows.
    dialect : str
        ``sqlite`` or ``postgresql``.
    execute : callable
        Runs a SQLAlchemy statement (the decoded reads).
    logged : dict
        Record id to (audit row id, record hash) for this range, from the walk.
    lo, hi : int
        The ids to check.
    chunk : int
        Ids read at a time.

    Returns
    -------
    edited : list of (int, int)
        (record id, audit row id) of each record that differs from its audit row.
    unlogged : list of int
        The records no audit row names.

    Examples
    --------
    >>> with store.db.read() as s:
    ...     raw = s.connection().connection.driver_connection
    ...     logged = {1: (99, "0" * 64)}
    ...     assessment_problems(raw.cursor(), "sqlite", s.execute, logged, 1, 2, 10)
    ([(1, 99)], [])
    """
    edited: list[tuple[int, int]] = []
    unlogged: list[int] = []
    pop, postgres = logged.pop, dialect == "postgresql"
    sql = _PG_DIGEST_SQL if postgres else _select_sql(dialect)
    fast, sha, valid_at = _ORJSON_TEXT, hashlib.sha256, len(_COLS)
    for start in range(lo, hi, chunk):
        cursor.execute(sql, (start, min(start + chunk, hi)))
        rows = cursor.fetchall()
        audit_ids: dict[int, int] = {}
        suspects: dict[int, str] = {}  # id -> logged hash: not proven by the first check
        for row in rows:
            entry = pop(row[0], None)
            if entry is None:
                unlogged.append(row[0])
                continue
            digest = entry[1]
            if digest is None:
                continue
            if postgres:
                if row[1] == digest:
                    continue
            elif row[valid_at] == 1:  # SQLite: orjson's bytes of valid JSON columns
                try:
                    if sha(fast(row)).hexdigest() == digest:
                        continue
                except (audit_hash._OddValue, TypeError):  # orjson's error is a TypeError
                    pass
            audit_ids[row[0]] = entry[0]
            suspects[row[0]] = digest
        if not suspects:
            continue
        if postgres:
            cursor.execute(_PG_SUSPECTS_SQL, (sorted(suspects),))
            rows = cursor.fetchall()
        suspects = _python_text_differs(cursor, dialect, rows, suspects)
        if suspects:
            for rec in _slow_rows(execute, min(suspects), max(suspects)):
                digest = suspects.get(rec.id)
                if digest is not None and row_digest(ASSESSMENT_FIELDS, rec) != digest:
                    edited.append((rec.id, audit_ids[rec.id]))
    return sorted(edited), sorted(unlogged)


def problem_lines(edited: list[tuple[int, int]], unlogged: list[int]) -> list[str]:
    """The findings of :func:`assessment_problems`, worded as ``audit verify`` gives them,
    in id order.

    Parameters
    ----------
    edited : list of (int, int)
        (record id, audit row id) of each edited record.
    unlogged : list of int
        Records no audit row names.

    Returns
    -------
    list of str
        One line a record.

    Examples
    --------
    >>> for line in problem_lines([(4, 30)], [2]):
    ...     print(line)
    assessment 2 has no audit row (added behind the log's back)
    assessment 4 does not match its audit row 30 (edited)
    """
    lines = [(i, f"assessment {i} does not match its audit row {a} (edited)") for i, a in edited]
    lines += [(i, f"assessment {i} has no audit row (added behind the log's back)")
              for i in unlogged]
    return [line for _, line in sorted(lines)]


# one connection per pool worker process, made on its first range (store/audit.py's walk
# uses it too)
_WORKER_CONN: dict[str, Any] = {}


def _worker_connection(url: str) -> tuple[Any, Any, str]:
    """This process's engine, raw driver connection and dialect for ``url`` (made once)."""
    conn = _WORKER_CONN.get(url)
    if conn is None:
        from sqlalchemy import create_engine
        from sqlalchemy.pool import NullPool

        engine = create_engine(url, poolclass=NullPool)
        conn = _WORKER_CONN[url] = (engine, engine.raw_connection(), engine.dialect.name)
    return conn


# what a worker's span check returns for a part of the log that names no assessment
NO_SPAN = ()


def check_span(url: str, logged: Logged, chunk: int) -> tuple:
    """In a pool worker, right after its part of the walk: the assessments that part's audit
    rows name, checked over their id span.

    Records are written in id order with their audit rows, so consecutive parts of the log
    name consecutive, disjoint spans of assessments and each part can check its own without
    sending what it logged to the parent. Anything else (a span much wider than what it
    names, a record in it that no row of the part names, a named record not there) makes
    the span irregular, and the parent checks every record the long way instead.

    Parameters
    ----------
    url : str
        The database (the worker's own connection).
    logged : dict
        Record id to (audit row id, record hash), from this part's rows; emptied.
    chunk : int
        Ids read at a time.

    Returns
    -------
    tuple
        ``(first id, last id, edited)`` with ``edited`` as :func:`assessment_problems` gives
        it; ``NO_SPAN`` when the part names no assessment; ``None`` when irregular.

    Examples
    --------
    >>> check_span(store.url, {}, 100)
    ()
    """
    if not logged:
        return NO_SPAN
    first, last = min(logged), max(logged)
    if last - first + 1 > 2 * len(logged) + chunk:
        return None
    engine, raw, dialect = _worker_connection(url)
    with audit_hash._collector_paused(), engine.connect() as conn:
        edited, unlogged = assessment_problems(raw.cursor(), dialect, conn.execute, logged,
                                               first, last + 1, chunk)
    raw.commit()  # ends the read transaction PostgreSQL's driver opened
    if unlogged or logged:
        return None
    return first, last, edited


def span_findings(session: Session, spans: list[tuple | None], after: int | None) -> \
        list[str] | None:
    """The assessment findings of the walk's parts (:func:`check_span`), or None when they
    cannot stand for the check of every record (then the parent checks the long way).

    Regular when every part's span is regular, the spans follow each other without overlap,
    and no assessment lies outside them (from the first one the checkpoint names on).

    Parameters
    ----------
    session : Session
        A database transaction.
    spans : list
        What each part of the walk returned, in the log's order.
    after : int, optional
        The checkpoint's audit row (verify from a checkpoint).

    Returns
    -------
    list of str or None
        The findings in id order (each an edited record), or None.

    Examples
    --------
    With no part naming an assessment, every stored assessment lies outside the spans:

    >>> with store.db.read() as s:
    ...     span_findings(s, [NO_SPAN], None) is None
    True
    """
    if any(span is None for span in spans):
        return None
    named = [span for span in spans if span]
    if not named and after is not None:
        return []
    for before, span in itertools.pairwise(named):
        if span[0] <= before[1]:
            return None
    top = session.execute(select(Assessment.id).order_by(Assessment.id.desc()).limit(1)
                          ).scalar() or 0
    lo = named[0][0] if named and after is not None else 0
    bounds = [lo, *(x for span in named for x in (span[0], span[1] + 1)), top + 1]
    for start, end in zip(bounds[::2], bounds[1::2], strict=True):
        if start < end and session.execute(
                select(Assessment.id).where(Assessment.id >= start, Assessment.id < end)
                .limit(1)).first() is not None:
            return None
    return problem_lines([e for span in named for e in span[2]], [])


def _assessment_part(url: str, logged: Logged, lo: int, hi: int, chunk: int) -> tuple:
    """A pool worker's share of the assessments: ``lo <= id < hi`` on its own connection.
    Returns the findings in id order and the logged ids it did not find."""
    engine, raw, dialect = _worker_connection(url)
    with audit_hash._collector_paused(), engine.connect() as conn:
        found = problem_lines(*assessment_problems(raw.cursor(), dialect, conn.execute,
                                                   logged, lo, hi, chunk))
    raw.commit()  # ends the read transaction PostgreSQL's driver opened
    return found, logged


def _assessments(session: Session, logged: Logged, lo: int, hi: int, chunk: int,
                 pool: Any) -> tuple[list[str], Logged]:
    """Assessments ``lo <= id < hi`` checked in this process, or by ``pool`` in ranges
    of one chunk merged in id order (the same findings in the same order)."""
    if pool is None:
        conn = session.connection()
        raw = conn.connection.driver_connection  # type: ignore[union-attr]
        pending = dict(logged)
        found = problem_lines(*assessment_problems(
            raw.cursor(), conn.dialect.name, session.execute, pending, lo, hi, chunk))
        return found, pending
    url = session.get_bind().url.render_as_string(hide_password=False)
    ids = sorted(logged)
    step = chunk
    parts = []
    for start in range(lo, hi, step):
        end = min(start + step, hi)
        share = {i: logged[i] for i in ids[bisect.bisect_left(ids, start):
                                           bisect.bisect_left(ids, end)]}
        parts.append((url, share, start, end, chunk))
    found, pending = [], {}
    for lines, left in pool.map(_assessment_part, *zip(*parts, strict=True)):
        found.extend(lines)
        pending.update(left)
    return found, pending


def check_records(session: Session, assessments: Logged, consents: Logged,
                  withdrawals: dict[int, str | None],
                  allocations: dict[int, tuple[int | None, dict[str, Any]]],
                  after: int | None = None, *, chunk: int = 20_000,
                  pool: Any = None, assessment_findings: list[str] | None = None) -> list[str]:
    """Check every record against what the audit rows say of it.

    With ``after`` (verify from a checkpoint that starts at audit row ``after``) only the
    records from the lowest one named after it on are read (records are written in id
    order with their audit row, under the writers' lock).

    Parameters
    ----------
    session : Session
        A database transaction.
    assessments, consents : dict
        Record id to (audit row id, record hash), from the walk.
    withdrawals : dict
        Consent id to the withdrawal date its latest audit row gives.
    allocations : dict
        Audit row id to (family id, the row's ``after``) for each trial allocation.
    after : int, optional
        The checkpoint's audit row.
    chunk : int, default 20000
        Records read at a time.
    pool : Executor, optional
        Processes that check the assessments in id ranges.
    assessment_findings : list of str, optional
        The assessments' findings, already made by the walk's parts (:func:`span_findings`):
        the assessments are not read again.

    Returns
    -------
    list of str
        The findings: assessments, then consents, then allocations, each in id order,
        then the records named in the log but missing.

    Examples
    --------
    With nothing logged, every stored record is one the log does not know:

    >>> with store.db.read() as s:
    ...     found = check_records(s, {}, {}, {}, {})
    >>> [line.split(" has ")[1] for line in found]
    ["no audit row (added behind the log's back)"]
    """
    out: list[str] = []
    if assessment_findings is not None:
        out.extend(assessment_findings)
    elif assessments or after is None:
        lo = min(assessments) if after is not None else 0
        top = session.execute(select(Assessment.id).order_by(Assessment.id.desc()).limit(1)
                              ).scalar() or 0
        hi = max(top, max(assessments, default=0)) + 1
        found, pending = _assessments(session, assessments, lo, hi, chunk, pool)
        out.extend(found)
        out.extend(f"assessment {rec_id} of audit row {audit_id} is missing (deleted)"
                   for rec_id, (audit_id, _) in sorted(pending.items()))
    out.extend(_check_consents(session, consents, withdrawals, after))
    out.extend(_check_allocations(session, allocations, after))
    return out


def _check_consents(session: Session, logged: Logged, withdrawals: dict[int, str | None],
                    after: int | None) -> list[str]:
    out: list[str] = []
    pending = dict(logged)
    names = RECORD_FIELDS["consent"]
    stmt = select(*[Consent.__table__.c[k] for k in names], Consent.withdrawn_on).order_by(
        Consent.id)
    if after is not None:
        if not logged:
            return out
        stmt = stmt.where(Consent.id >= min(logged))
    for rec in session.execute(stmt.execution_options(stream_results=True, yield_per=1000)):
        entry = pending.pop(rec.id, None)
        if entry is None:
            out.append(f"consent {rec.id} has no audit row (added behind the log's back)")
            continue
        audit_id, digest = entry
        if digest is not None and digest != row_digest(names, rec):
            out.append(f"consent {rec.id} does not match its audit row {audit_id} (edited)")
        withdrawn = rec.withdrawn_on.isoformat() if rec.withdrawn_on else None
        if withdrawn != withdrawals.get(rec.id):
            out.append(f"consent {rec.id} withdrawal date does not match its audit rows (edited)")
    for rec_id, (audit_id, _) in sorted(pending.items()):
        out.append(f"consent {rec_id} of audit row {audit_id} is missing (deleted)")
    return out


def _check_allocations(session: Session, allocations: dict[int, tuple[int | None, Any]],
                       after: int | None = None) -> list[str]:
    out: list[str] = []
    pending = dict(allocations)
    stmt = select(TrialAllocation).order_by(TrialAllocation.id)
    if after is not None:
        stmt = stmt.where(TrialAllocation.audit_id >= after)
    rows = session.execute(stmt).scalars()
    for a in rows.yield_per(1000):
        logged = pending.pop(a.audit_id, None)
        if logged is None:
            out.append(f"trial allocation {a.id} has no audit row (added behind the log's back)")
            continue
        family_id, said = logged
        differs = [
            col for col, k in _ALLOCATION_AFTER.items()
            if canonical(getattr(a, col)) != canonical(said.get(k))
        ]
        if family_id != a.family_id:
            differs.append("family_id")
        if differs:
            out.append(
                f"trial allocation {a.id} does not match its audit row {a.audit_id} "
                f"(edited: {', '.join(differs)})"
            )
    for audit_id, (family_id, said) in sorted(pending.items()):
        out.append(
            f"trial allocation of family {family_id} (sequence {said.get('sequence')}, audit "
            f"row {audit_id}) is missing (deleted)"
        )
    return out
