"""Fixtures for the web tests: a populated store on SQLite and on PostgreSQL, an app, tokens.

The populated database is built once per session and backend (``web_template``) and cloned
for each test: a file copy for SQLite, ``CREATE DATABASE … TEMPLATE`` for PostgreSQL.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from .support import LiveServer, Template, World, make_template, open_world, unique_name

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def _template(request: pytest.FixtureRequest, backend: str) -> Template:
    folder = Path(tempfile.mkdtemp(prefix="attunement-web-template-"))
    if backend == "sqlite":
        url = f"sqlite:///{folder / 'template.db'}"
    else:
        import psycopg

        server = request.getfixturevalue("postgres_server")
        name = unique_name("webtmpl")
        dsn = server.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = f"{server}/{name}"
    return make_template(backend, url, folder / "identifier.key")


@pytest.fixture(scope="session", params=BACKENDS)
def web_template(request: pytest.FixtureRequest) -> Template:
    return _template(request, request.param)


@pytest.fixture(scope="session")
def sqlite_template(request: pytest.FixtureRequest) -> Template:
    return _template(request, "sqlite")


def _world(template: Template, tmp: Path) -> World:
    target: Path | str = tmp if template.backend == "sqlite" else unique_name("web")
    url, key = template.clone(target)
    return open_world(template, url, key)


@pytest.fixture
def world(web_template: Template, tmp_path: Path) -> Iterator[World]:
    """A populated world on each backend (SQLite, then PostgreSQL)."""
    w = _world(web_template, tmp_path)
    try:
        yield w
    finally:
        w.store.close()


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    with TestClient(world.app) as c:
        yield c


@pytest.fixture
def sqlite_world(sqlite_template: Template, tmp_path: Path) -> Iterator[World]:
    w = _world(sqlite_template, tmp_path)
    try:
        yield w
    finally:
        w.store.close()


@pytest.fixture
def page_client(sqlite_world: World) -> Iterator[TestClient]:
    """A TestClient for the HTML pages (SQLite world), not yet signed in."""
    with TestClient(sqlite_world.app) as c:
        yield c


@pytest.fixture
def live_server(world: World) -> Iterator[LiveServer]:
    with LiveServer(world.app) as server:
        yield server
