"""The models (``Base.metadata``) describe exactly the schema the migrations build.

The database is built as the store builds it (``Store.open``: Alembic ``upgrade head``) on
SQLite and on PostgreSQL, then compared with the models by Alembic's own autogenerate
comparison (tables, columns, types, nullability, server defaults, indexes, unique and
foreign keys) and, since autogenerate does not compare them, by the primary keys read back
from the database. A change to how the models are declared must leave this test passing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from attunement.store.models import Base

# Differences the models and the migrations may keep, each with its reason. Empty: none is
# known. An entry is a tuple as ``compare_metadata`` reports it, reduced by ``_key``.
KNOWN_DIFFERENCES: frozenset[tuple[str, ...]] = frozenset()


@pytest.fixture(params=["sqlite", "postgresql"])
def migrated(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """A connection to a database built by the migrations alone (not a test template)."""
    from attunement.store import Store

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'migrated.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    store = Store.open(url, key_path=tmp_path / "k.key")
    try:
        with store.db.engine.connect() as conn:
            yield conn
    finally:
        store.close()


def _key(diff: Any) -> tuple[str, ...]:
    """A readable, comparable name of one reported difference."""
    if isinstance(diff, list):  # column modifications come as a list of tuples
        return tuple(str(part) for d in diff for part in d[:4])
    op, obj = diff[0], diff[1]
    name = getattr(obj, "name", None) or str(obj)
    table = getattr(getattr(obj, "table", None), "name", "")
    return (op, table, str(name))


def test_autogenerate_finds_no_difference(migrated: Any) -> None:
    ctx = MigrationContext.configure(
        migrated, opts={"compare_type": True, "compare_server_default": True}
    )
    found = {_key(d) for d in compare_metadata(ctx, Base.metadata)}
    assert found - KNOWN_DIFFERENCES == set()
    assert KNOWN_DIFFERENCES - found == set(), "an allow-list entry no longer applies"


def test_every_table_has_the_models_primary_key(migrated: Any) -> None:
    insp = inspect(migrated)
    built = set(insp.get_table_names()) - {"alembic_version"}
    assert built == set(Base.metadata.tables)
    for table in Base.metadata.sorted_tables:
        in_db = insp.get_pk_constraint(table.name)["constrained_columns"]
        assert in_db == [c.name for c in table.primary_key.columns], table.name


def test_every_column_has_the_models_nullability_and_type(migrated: Any) -> None:
    """Spelled out as well, so a failure names the table and column."""
    insp = inspect(migrated)
    dialect = migrated.dialect
    for table in Base.metadata.sorted_tables:
        in_db = {c["name"]: c for c in insp.get_columns(table.name)}
        assert set(in_db) == {c.name for c in table.columns}, table.name
        for column in table.columns:
            where = f"{table.name}.{column.name}"
            assert in_db[column.name]["nullable"] == column.nullable, where
            model_type = column.type.compile(dialect=dialect)
            db_type = in_db[column.name]["type"].compile(dialect=dialect)
            assert _same_type(model_type, db_type), (where, model_type, db_type)


def _same_type(model: str, db: str) -> bool:
    # reflection spells a few types its own way: PostgreSQL's JSON, SQLite's DATETIME
    aliases = {"TIMESTAMP WITHOUT TIME ZONE": "TIMESTAMP", "DOUBLE PRECISION": "FLOAT"}
    return aliases.get(model, model) == aliases.get(db, db)
