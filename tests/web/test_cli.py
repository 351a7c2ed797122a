"""``attunement demo --no-serve`` builds the demo; ``attunement serve`` answers on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from .support import free_port


def test_demo_then_serve(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"),
           "ATTUNEMENT_SECRET_KEY": "cli-test-secret-" + "x" * 32}
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    built = subprocess.run([sys.executable, "-m", "attunement", "demo", "--no-serve", "--db", url],
                           capture_output=True, text=True, env=env, timeout=300)
    assert built.returncode == 0, built.stderr[-2000:]
    assert "Demo users" in built.stdout and "practitioner.north@demo.example" in built.stdout
    password = next(line.split()[1] for line in built.stdout.splitlines()
                    if line.strip().startswith("practitioner.north@demo.example"))
    port = free_port()
    key = tmp_path / "data" / "attunement" / "demo" / "identifier.key"
    server = subprocess.Popen(
        [sys.executable, "-m", "attunement", "platform", "serve", "--db", url, "--port", str(port),
         "--key-file", str(key)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.time() + 60
        while True:
            assert server.poll() is None, server.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.time() < deadline, "attunement serve did not answer in 60 s"
            time.sleep(0.25)
        token = httpx.post(f"{base}/api/token", data={
            "username": "practitioner.north@demo.example", "password": password}).json()
        families = httpx.get(f"{base}/api/families", headers={
            "Authorization": f"Bearer {token['access_token']}"}).json()["items"]
        assert families and all(f["site"] == "North Clinic (demo)" for f in families)
        assert httpx.get(f"{base}/login").status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=20)
