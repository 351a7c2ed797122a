"""Background exports over the JSON API (both databases): 202 with the job, progress, the
file when ready; another site's user cannot see or download it; a researcher gets only the
pseudonymised export."""

from __future__ import annotations

import io
import stat
from pathlib import Path

import pandas as pd
import pytest


@pytest.fixture
def jobs_dir(tmp_path, monkeypatch):
    out = tmp_path / "job-files"
    monkeypatch.setenv("ATTUNEMENT_EXPORT_DIR", str(out))
    return out


def test_request_poll_and_download(world, client, jobs_dir):
    h = world.headers("practitioner")
    r = client.post("/api/exports", json={"format": "csv"}, headers=h)
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["status"] == "queued" and job["pseudonymised"] is False
    # the TestClient runs the background task before it returns
    status = client.get(f"/api/exports/{job['id']}", headers=h).json()
    assert status["status"] == "done" and status["ready"]
    assert status["rows_done"] == status["rows_total"] >= 1
    got = client.get(f"/api/exports/{job['id']}/file", headers=h)
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
    frame = pd.read_csv(io.BytesIO(got.content))
    assert list(frame["family"]) == ["FAM-A"] and len(frame) == status["rows_done"]
    [path] = list(Path(jobs_dir).iterdir())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    listed = client.get("/api/exports", headers=h).json()
    assert [j["id"] for j in listed] == [job["id"]]
    # the synchronous export keeps its path (declared before /api/exports/{job_id})
    assert client.get("/api/exports/assessments", headers=h).status_code == 200


def test_another_sites_user_cannot_see_or_download_the_job(world, client, jobs_dir):
    job = client.post("/api/exports", json={"format": "parquet"},
                      headers=world.headers("practitioner")).json()
    other = world.headers("practitioner_b")
    assert client.get(f"/api/exports/{job['id']}", headers=other).status_code == 404
    assert client.get(f"/api/exports/{job['id']}/file", headers=other).status_code == 404
    assert client.get("/api/exports", headers=other).json() == []
    assert client.get(f"/api/exports/{job['id']}").status_code == 401


def test_a_researcher_gets_only_the_pseudonymised_export(world, client, jobs_dir):
    h = world.headers("researcher")
    refused = client.post("/api/exports", json={"pseudonymise": False}, headers=h)
    assert refused.status_code == 403
    job = client.post("/api/exports", json={"format": "parquet"}, headers=h).json()
    assert job["pseudonymised"] is True
    got = client.get(f"/api/exports/{job['id']}/file", headers=h)
    assert got.status_code == 200
    frame = pd.read_parquet(io.BytesIO(got.content))
    assert "completed_on" not in frame and "day_from_due_date" in frame
    assert "FAM-A" not in set(frame["family"])


def test_bad_format_is_a_422_naming_the_field(world, client, jobs_dir):
    r = client.post("/api/exports", json={"format": "fhir"},
                    headers=world.headers("practitioner"))
    assert r.status_code == 422 and "format" in r.text
