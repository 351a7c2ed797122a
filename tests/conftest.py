"""Shared test fixtures: reference data and a real, throwaway PostgreSQL server.

The PostgreSQL server is started once per test session with ``initdb``/``pg_ctl`` as a
non-root user (CI runs as root). Set ``ATTUNEMENT_TEST_POSTGRES_URL`` to use an existing
server instead. Outside CI a missing PostgreSQL skips those tests; in CI (``CI=true``) it fails.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REFERENCE = Path(__file__).parent / "reference"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """Copies of ../shared/reference fixtures (R outputs, samples) shipped with the tests."""
    return REFERENCE


def _missing(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} (required in CI)")
    pytest.skip(reason)


def _pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if found:
        return found[-1]
    return shutil.which(name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """Base URL (``postgresql+psycopg://user@host:port``) of a throwaway PostgreSQL server."""
    url = os.environ.get("ATTUNEMENT_TEST_POSTGRES_URL")
    if url:
        yield url.rstrip("/")
        return
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        _missing("PostgreSQL (initdb/pg_ctl) is not installed")
    prefix: list[str] = []
    workdir = Path(tempfile.mkdtemp(prefix="attunement-pg-"))
    if os.geteuid() == 0:
        user = "nobody"
        uid = pwd.getpwnam(user).pw_uid
        os.chmod(workdir, 0o755)
        os.chown(workdir, uid, -1)
        prefix = ["runuser", "-u", user, "--"]
    data, sock = workdir / "data", workdir / "sock"
    port = _free_port()
    env = {**os.environ, "LC_ALL": "C.UTF-8"}
    subprocess.run(
        [*prefix, initdb, "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8"],
        check=True, capture_output=True, env=env,
    )
    subprocess.run([*prefix, "mkdir", "-p", str(sock)], check=True)
    opts = f"-k {sock} -p {port} -h 127.0.0.1 -c fsync=off -c max_connections=200"
    subprocess.run(
        [*prefix, pg_ctl, "-D", str(data), "-l", str(workdir / "log"), "-o", opts, "-w", "start"],
        check=True, capture_output=True, env=env,
    )
    try:
        base = f"postgresql+psycopg://postgres@127.0.0.1:{port}"
        deadline = time.time() + 30
        while time.time() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        yield base
    finally:
        subprocess.run(
            [*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True, env=env,
        )
        shutil.rmtree(workdir, ignore_errors=True)


_db_counter = 0


@pytest.fixture
def postgres_url(postgres_server: str) -> str:
    """A fresh, empty database on the throwaway server, one per test."""
    import psycopg

    global _db_counter
    _db_counter += 1
    name = f"t{os.getpid()}_{_db_counter}"
    dsn = postgres_server.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{postgres_server}/{name}"


def _refuse_time_point(store: Any, time_point: str) -> None:
    from sqlalchemy import text

    with store.db.engine.begin() as conn:
        if store.db.dialect == "sqlite":
            conn.execute(text(
                f"CREATE TRIGGER refuse_{time_point} BEFORE INSERT ON assessments "
                f"WHEN NEW.time_point = '{time_point}' "
                "BEGIN SELECT RAISE(ABORT, 'disk on fire (test)'); END"))
        else:
            conn.execute(text(
                f"CREATE FUNCTION refuse_{time_point}() RETURNS trigger AS $$ BEGIN "
                f"IF NEW.time_point = '{time_point}' THEN "
                "RAISE EXCEPTION 'disk on fire (test)'; END IF; RETURN NEW; END "
                "$$ LANGUAGE plpgsql"))
            conn.execute(text(
                f"CREATE TRIGGER refuse_{time_point} BEFORE INSERT ON assessments "
                f"FOR EACH ROW EXECUTE FUNCTION refuse_{time_point}()"))


@pytest.fixture
def refuse_time_point() -> Any:
    """``refuse_time_point(store, name)`` installs a database trigger that aborts any INSERT of
    an assessment at that time point: a real database error in the middle of a write (not a
    store error), whatever the store's code looks like."""
    return _refuse_time_point


OWNER_ROLE = "attunement_owner"
SERVICE_ROLE = "attunement_service"


@pytest.fixture
def postgres_roles(postgres_url: str, tmp_path: Path) -> tuple[str, str]:
    """``(owner_url, service_url)`` of a fresh database set up as production runs it: the
    owner role (not a superuser) owns the database and runs the migrations, and
    ``attunement db grant`` made the service role, which may only INSERT/SELECT history."""
    import psycopg

    from attunement.store import Store
    from attunement.store.maintenance import grant_service_role

    server, name = postgres_url.rsplit("/", 1)
    admin_dsn = server.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (OWNER_ROLE,)).fetchone():
            conn.execute(f"CREATE ROLE {OWNER_ROLE} LOGIN CREATEROLE")
        conn.execute(f'ALTER DATABASE "{name}" OWNER TO {OWNER_ROLE}')
    host = server.split("@", 1)[1]
    owner_url = f"postgresql+psycopg://{OWNER_ROLE}@{host}/{name}"
    Store.open(owner_url, key_path=tmp_path / "roles-owner.key").close()
    grant_service_role(owner_url, SERVICE_ROLE)
    return owner_url, f"postgresql+psycopg://{SERVICE_ROLE}@{host}/{name}"
