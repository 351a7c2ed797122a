"""What each released migration does to a database, pinned: SQLite and PostgreSQL.

A fresh database is upgraded one revision at a time up to ``0530`` and then downgraded one
revision at a time back to an empty schema; after every step the whole schema is described
(tables, columns, keys, unique constraints, indexes, triggers, functions, views; SQLite's
``sqlite_master`` SQL) and compared with ``data/migration_schema_snapshot.json``, which was
written from the migrations as released. A released migration is never edited
(docs/store.md): a refactoring of ``store/migrations`` must leave this file unchanged.

The file holds, per dialect, what each upgrade adds and removes, and what each downgrade
leaves that differs from the schema of the revision it goes back to (mostly nothing).
``ATTUNEMENT_WRITE_SNAPSHOT=1`` rewrites it (only for a new revision, never to make a change
to a released one pass). It was written with PostgreSQL 15 and SQLite 3.40: a server that prints
its catalog differently fails every revision at once; rewrite it then from the migrations as
released (``git archive`` of ``main``'s ``src``, run with that on ``PYTHONPATH``).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, text

from attunement.store.db import Database

SNAPSHOT = Path(__file__).parent / "data" / "migration_schema_snapshot.json"
# released revisions, in order; later ones belong to their own tests
REVISIONS = ("0001", "0100", "0110", "0120", "0150", "0160", "0200", "0210", "0300", "0400",
             "0500", "0510", "0520", "0530")


def _norm(sql: Any) -> str:
    return re.sub(r"\s+", " ", str(sql)).strip()


def _table_sql(sql: str) -> str:
    """A CREATE TABLE with its constraint clauses sorted: SQLite's batch copy writes a
    table's constraints in an order that varies from run to run (the columns' order does not)."""
    head, _, body = sql.partition("(")
    body, _, tail = body.rpartition(")")
    parts, depth, start = [], 0, 0
    for i, char in enumerate(body):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(body[start:i].strip())
            start = i + 1
    parts.append(body[start:].strip())
    keywords = ("CONSTRAINT", "PRIMARY KEY", "FOREIGN KEY", "UNIQUE", "CHECK")
    columns = [p for p in parts if not p.upper().startswith(keywords)]
    constraints = sorted(p for p in parts if p.upper().startswith(keywords))
    return f"{head}( {', '.join(columns + constraints)} ){tail}"


def _portable(conn: Any) -> set[str]:
    """The schema as SQLAlchemy's inspector reads it (the same shape on both dialects)."""
    found: set[str] = set()
    insp = inspect(conn)
    for table in insp.get_table_names():
        found.add(f"table {table}")
        for pos, col in enumerate(insp.get_columns(table)):
            found.add(f"column {table}.{col['name']} #{pos} {col['type']} "
                      f"nullable={col['nullable']} default={col.get('default')}")
        pk = insp.get_pk_constraint(table)
        found.add(f"primary key {table} {pk.get('name')} {pk['constrained_columns']}")
        for fk in insp.get_foreign_keys(table):
            found.add(f"foreign key {table} {fk.get('name')} {fk['constrained_columns']} -> "
                      f"{fk['referred_table']}{fk['referred_columns']} {fk.get('options')}")
        for uq in insp.get_unique_constraints(table):
            found.add(f"unique {table} {uq.get('name')} {uq['column_names']}")
        for ix in insp.get_indexes(table):
            where = {k: _norm(v) for k, v in ix.get("dialect_options", {}).items()
                     if k.endswith("_where")}
            found.add(f"index {table} {ix['name']} {ix['column_names']} "
                      f"unique={bool(ix['unique'])} {where or ''}".rstrip())
        for ck in insp.get_check_constraints(table):
            found.add(f"check {table} {ck.get('name')} {_norm(ck['sqltext'])}")
    for view in insp.get_view_names():
        found.add(f"view {view} {_norm(insp.get_view_definition(view))}")
    return found


_PG_CATALOG = {
    "pg column": """
        SELECT c.relname || '.' || a.attname || ' #' || a.attnum || ' '
               || format_type(a.atttypid, a.atttypmod) || ' notnull=' || a.attnotnull
               || ' default=' || coalesce(pg_get_expr(d.adbin, d.adrelid), '-')
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v', 'p') AND a.attnum > 0
          AND NOT a.attisdropped""",
    "pg constraint": """
        SELECT conrelid::regclass::text || ' ' || conname || ' ' || contype::text || ' '
               || pg_get_constraintdef(oid)
        FROM pg_constraint WHERE connamespace = 'public'::regnamespace""",
    "pg index": "SELECT tablename || ' ' || indexdef FROM pg_indexes WHERE schemaname = 'public'",
    "pg trigger": """
        SELECT pg_get_triggerdef(t.oid) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        WHERE NOT t.tgisinternal AND c.relnamespace = 'public'::regnamespace""",
    "pg function": """
        SELECT pg_get_functiondef(p.oid) FROM pg_proc p
        WHERE p.pronamespace = 'public'::regnamespace""",
    "pg view": "SELECT viewname || ' ' || definition FROM pg_views WHERE schemaname = 'public'",
    "pg sequence": """
        SELECT sequencename || ' ' || data_type::text FROM pg_sequences
        WHERE schemaname = 'public'""",
}


def _raw(conn: Any, exact: bool) -> set[str]:
    """The database's own description: SQLite's stored SQL, PostgreSQL's catalog."""
    if conn.dialect.name == "sqlite":
        rows = conn.execute(text("SELECT type, name, tbl_name, sql FROM sqlite_master"))
        return {f"sqlite {kind} {name} on {table}: "
                f"{_table_sql(_norm(sql)) if kind == 'table' and not exact else _norm(sql)}"
                for kind, name, table, sql in rows}
    return {f"{label} {_norm(value)}"
            for label, query in _PG_CATALOG.items()
            for (value,) in conn.execute(text(query))}


def describe(conn: Any, *, exact: bool = True) -> set[str]:
    """One line per schema object: the normalised description of the schema.

    ``exact=False`` sorts the constraints of SQLite's CREATE TABLE (see ``_table_sql``): a
    downgrade's batch copy orders them differently from run to run.
    """
    return _portable(conn) | _raw(conn, exact)


def _delta(before: set[str], after: set[str]) -> dict[str, list[str]]:
    return {"added": sorted(after - before), "removed": sorted(before - after)}


def _walk(url: str) -> dict[str, dict[str, Any]]:
    """Upgrade step by step to the last released revision, then downgrade step by step."""
    db = Database(url)
    cfg = Config()
    cfg.set_main_option("script_location", "attunement.store:migrations")
    upgrades: dict[str, Any] = {}
    downgrades: dict[str, Any] = {}
    try:
        with db.engine.execution_options(attunement_write=True).connect() as conn:
            cfg.attributes["connection"] = conn
            exact = {"base": describe(conn)}
            loose = {"base": describe(conn, exact=False)}
            for previous, rev in zip(("base", *REVISIONS), REVISIONS, strict=False):
                command.upgrade(cfg, rev)
                conn.commit()
                exact[rev], loose[rev] = describe(conn), describe(conn, exact=False)
                upgrades[rev] = _delta(exact[previous], exact[rev])
            for down_to, rev in reversed(list(zip(("base", *REVISIONS), REVISIONS, strict=False))):
                command.downgrade(cfg, down_to)
                conn.commit()
                downgrades[rev] = _delta(loose[down_to], describe(conn, exact=False))
    finally:
        db.dispose()
    return {"upgrade": upgrades, "downgrade": downgrades}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    if request.param == "sqlite":
        return "sqlite", f"sqlite:///{tmp_path / 'fresh.db'}"
    return "postgresql", request.getfixturevalue("postgres_url")


@pytest.mark.slow
def test_each_released_migration_still_does_what_it_did(empty_db: tuple[str, str]) -> None:
    dialect, url = empty_db
    walked = _walk(url)
    stored = json.loads(SNAPSHOT.read_text()) if SNAPSHOT.exists() else {}
    if os.environ.get("ATTUNEMENT_WRITE_SNAPSHOT") == "1":
        stored[dialect] = walked
        SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
        SNAPSHOT.write_text(json.dumps(stored, indent=1, sort_keys=True) + "\n")
    assert dialect in stored, f"{SNAPSHOT} has no {dialect} snapshot"
    for direction in ("upgrade", "downgrade"):
        for rev in REVISIONS:
            assert walked[direction][rev] == stored[dialect][direction][rev], (
                f"{dialect}: the {direction} of {rev} no longer does what it did")
