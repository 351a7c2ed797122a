"""A nation (issue 17): two real ``attunement serve`` processes on one PostgreSQL take
concurrent submissions; nothing is lost, the audit ids are contiguous and the chain verifies."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from attunement.store import Store
from attunement.usecases import families as uc_families

from .support import free_port

PASSWORD = "a long test passphrase"
PER_SERVER = 30


def _database(server: str) -> str:
    import psycopg

    name = f"scale_{os.getpid()}_{time.monotonic_ns()}"
    dsn = server.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{server}/{name}"


def _serve(url: str, key: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "ATTUNEMENT_SECRET_KEY": "scale-test-secret-" + "x" * 32,
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[2] / "src"),
                                          os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen(
        [sys.executable, "-m", "attunement", "platform", "serve", "--db", url, "--port", str(port),
         "--key-file", str(key)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait(proc: subprocess.Popen, base: str) -> None:
    deadline = time.time() + 90
    while True:
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.time() < deadline, "attunement serve did not answer in 90 s"
        time.sleep(0.25)


@pytest.mark.postgres
@pytest.mark.slow
def test_two_serve_processes_keep_one_chain_and_lose_nothing(postgres_server, tmp_path):
    url = _database(postgres_server)
    key = tmp_path / "identifier.key"
    st = Store.open(url, key_path=key)
    st.init("admin@example.org", PASSWORD)
    system = st.system_actor()
    st.accounts.add_site(system, "North")
    st.accounts.add_study(system, "Nation", ["North"], [
        {"name": "6w", "offset_days": 42, "window_days": 14, "instruments": ["epds"]}])
    user = st.accounts.add_user(system, "north@example.org", "practitioner", ["North"], PASSWORD)
    north = st.actor(user["id"])
    born = (dt.date.today() - dt.timedelta(days=42)).isoformat()
    families = [
        uc_families.register_family(st, north, {
            "family_id": f"N-{n}", "site": "North", "study": "Nation",
            "infant": {"date_of_birth": born}, "placement": "birth_family",
            "caregivers": [{"id": "mother", "role": "birth_mother"}],
        })["id"]
        for n in range(6)
    ]
    token = st.accounts.create_api_token(north)
    st.close()

    ports = [free_port(), free_port()]
    servers = [_serve(url, key, p) for p in ports]
    try:
        bases = [f"http://127.0.0.1:{p}" for p in ports]
        for proc, base in zip(servers, bases, strict=True):
            _wait(proc, base)
        headers = {"Authorization": f"Bearer {token}"}

        def submit(n: int) -> int:
            base = bases[n % 2]
            r = httpx.post(f"{base}/api/families/{families[n % len(families)]}/assessments",
                           headers=headers, timeout=60, json={
                               "caregiver": "mother", "instrument": "epds", "time_point": "6w",
                               "responses": [n % 4] * 9 + [0]})
            assert r.status_code == 201, r.text
            return r.json()["id"]

        with ThreadPoolExecutor(max_workers=8) as pool:
            ids = list(pool.map(submit, range(2 * PER_SERVER)))
    finally:
        for proc in servers:
            proc.terminate()
        for proc in servers:
            proc.wait(timeout=30)

    assert len(set(ids)) == 2 * PER_SERVER
    engine = create_engine(url)
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT count(*) FROM assessments")).scalar_one()
        audit_ids = list(conn.execute(text("SELECT id FROM audit_log ORDER BY id")).scalars())
        created = conn.execute(text(
            "SELECT count(*) FROM audit_log WHERE entity = 'assessment' AND action = 'create'"
        )).scalar_one()
    engine.dispose()
    assert stored == created == 2 * PER_SERVER
    assert audit_ids == list(range(1, len(audit_ids) + 1))
    st = Store.open(url, key_path=key)
    try:
        report = st.maintenance.verify_audit()
    finally:
        st.close()
    assert report.ok, report.problems
    cli = subprocess.run(
        [sys.executable, "-m", "attunement", "platform", "audit", "verify", "--db", url,
         "--key-file", str(key)], capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")})
    assert cli.returncode == 0 and "audit log intact" in cli.stdout, cli.stdout + cli.stderr
