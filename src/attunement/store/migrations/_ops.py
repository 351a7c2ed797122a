"""Operations the Alembic revisions share: columns written as a short spec, tables with the
project's constraint names, the triggers that keep a table append-only.

Append-only: released revisions call these functions, so a function here is never changed
once a released revision uses it (that would change what the revision does to a database,
docs/store.md); a new behaviour is a new function. ``tests/store/test_migration_schema_snapshot.py``
pins what every released revision builds.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import NamedTuple

import sqlalchemy as sa
from alembic import op

TYPES: dict[str, Callable[[], sa.types.TypeEngine]] = {
    "int": sa.Integer, "bigint": sa.BigInteger, "text": sa.Text, "json": sa.JSON,
    "date": sa.Date, "datetime": sa.DateTime, "bool": sa.Boolean, "double": sa.Double,
    "bytes": sa.LargeBinary,
}
_COLUMN = re.compile(r"(\w+) (?:str\((\d+)\)|(\w+))(\??)")


def columns(spec: str) -> list[sa.Column]:
    """Columns from ``"name type, name type?, ..."`` (it may span lines): ``?`` makes a column
    nullable (NOT NULL otherwise); a type is ``str(N)`` (VARCHAR(N)) or one of :data:`TYPES`.

    Examples
    --------
    ``columns("id int, code str(100), left_on date?")``
    """
    found = []
    for part in spec.split(","):
        match = _COLUMN.fullmatch(part.strip())
        if match is None or (match[3] is not None and match[3] not in TYPES):
            raise ValueError(f"column spec {part.strip()!r} in {spec!r}: want 'name type[?]'")
        name, length, kind, optional = match.groups()
        kind_ = sa.String(length=int(length)) if length else TYPES[kind]()
        found.append(sa.Column(name, kind_, nullable=bool(optional)))
    return found


class Unique(NamedTuple):
    """A unique constraint named other than ``uq_<table>_<first column>``."""

    name: str
    columns: tuple[str, ...]


def foreign_key(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    """``fk_<table>_<column>_<target>``: ``table.column`` refers to ``target.id``."""
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}")
    )


def create_table(
    table: str,
    *spec: str | sa.Column,
    references: Mapping[str, str] | None = None,
    primary_key: Sequence[str] = ("id",),
    unique: Iterable[Sequence[str] | Unique] = (),
    indexed: Iterable[str] = (),
) -> None:
    """Create ``table`` with its constraints, in the order a CREATE TABLE lists them.

    Parameters
    ----------
    table, spec
        The table and its columns, in order: :func:`columns` specs or columns.
    references
        ``{column: target}``, in order: foreign keys to ``target.id``
        (``fk_<table>_<column>_<target>``).
    primary_key
        Its columns (``pk_<table>``).
    unique
        Column lists (``uq_<table>_<first column>``) or :class:`Unique` (named otherwise).
    indexed
        Columns that get a plain index each (``ix_<table>_<column>``).
    """
    op.create_table(
        table,
        *(c for part in spec for c in (columns(part) if isinstance(part, str) else [part])),
        *(foreign_key(table, column, target) for column, target in (references or {}).items()),
        sa.PrimaryKeyConstraint(*primary_key, name=op.f(f"pk_{table}")),
        *(
            sa.UniqueConstraint(*u.columns, name=u.name) if isinstance(u, Unique)
            else sa.UniqueConstraint(*u, name=op.f(f"uq_{table}_{u[0]}"))
            for u in unique
        ),
    )
    for column in indexed:
        op.create_index(op.f(f"ix_{table}_{column}"), table, [column], unique=False)


def execute_for_dialect(*, postgresql: Iterable[str], sqlite: Iterable[str]) -> None:
    """Run the statements written for the database the migration runs on."""
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in postgresql if postgres else sqlite:
        op.execute(statement)


def append_only_sqlite(table: str, message: str) -> tuple[str, ...]:
    """SQLite: ``<table>_no_update`` and ``<table>_no_delete`` abort with ``message``."""
    return tuple(
        f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
        for event in ("UPDATE", "DELETE")
    )


def append_only_postgresql(
    table: str, message: str, function: str, *, truncate: bool = True
) -> tuple[str, ...]:
    """PostgreSQL: ``function()`` raises ``message``; ``<table>_no_change`` calls it before
    an UPDATE or DELETE of a row, ``<table>_no_truncate`` (if ``truncate``) before a TRUNCATE."""
    statements = (
        f"""CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION '{message}'; END $$""",
        f"CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION {function}()",
    )
    if truncate:
        statements += (
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
        )
    return statements


def drop_append_only_postgresql(table: str, function: str, *, truncate: bool = True) -> None:
    """Undo :func:`append_only_postgresql` (SQLite drops a table's triggers with the table)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    if truncate:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
    op.execute(f"DROP TRIGGER IF EXISTS {table}_no_change ON {table}")
    op.execute(f"DROP FUNCTION IF EXISTS {function}()")


def add_columns(table: str, spec: str) -> None:
    """``ALTER TABLE ... ADD COLUMN`` for each column of a :func:`columns` spec, in order."""
    for column in columns(spec):
        op.add_column(table, column)


def batch_drop_columns(table: str, *names: str) -> None:
    """Drop ``names`` from ``table`` in one batch (SQLite: one copy of the table)."""
    with op.batch_alter_table(table) as batch:
        for name in names:
            batch.drop_column(name)


def drop_columns(table: str, *columns: str) -> None:
    """A plain ``ALTER TABLE ... DROP COLUMN`` each (SQLite 3.35+, PostgreSQL): a batch copy
    of a table other tables' foreign keys point at would drop it."""
    for column in columns:
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
