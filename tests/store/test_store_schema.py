"""The Alembic migration builds exactly the schema the models describe, on both databases."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from attunement.store.models import Base


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request, tmp_path):
    """An empty database (not the test template), so the migration itself runs here."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'fresh.db'}"
    return request.getfixturevalue("postgres_url")


def test_migration_matches_models(fresh_url, tmp_path):
    from attunement.store import Store

    store = Store.open(fresh_url, key_path=tmp_path / "k.key")
    try:
        with store.db.engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(ctx, Base.metadata)
            triggers = _trigger_names(conn)
    finally:
        store.close()
    assert diff == []
    assert {"audit_log", "assessments"} <= triggers


def _trigger_names(conn) -> set[str]:
    if conn.dialect.name == "sqlite":
        rows = conn.exec_driver_sql("SELECT tbl_name FROM sqlite_master WHERE type = 'trigger'")
    else:
        rows = conn.exec_driver_sql("SELECT event_object_table FROM information_schema.triggers")
    return {r[0] for r in rows}


def test_sqlite_pragmas(tmp_path):
    from attunement.store import Store

    st = Store.open(f"sqlite:///{tmp_path / 'p.db'}", key_path=tmp_path / "k.key")
    try:
        with st.db.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
    finally:
        st.close()


def test_reopening_does_not_migrate_again(store, key_path):
    from attunement.store import Store

    store.close()
    again = Store.open(store.url, key_path=key_path)
    try:
        with again.db.engine.connect() as conn:
            rev = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all()
        assert rev == [_head()]
    finally:
        again.close()


def test_plain_postgresql_urls_use_psycopg(postgres_url, tmp_path):
    from attunement.store import Store

    plain = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    st = Store.open(plain, key_path=tmp_path / "k.key")
    try:
        assert st.url.startswith("postgresql+psycopg://") and st.ping()
    finally:
        st.close()


def _head() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", "attunement.store:migrations")
    return ScriptDirectory.from_config(cfg).get_current_head()
