"""The background-export pages: request, progress (self-refreshing), download; only the
requester sees them."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from .test_pages import _csrf, _login


@pytest.fixture
def jobs_dir(tmp_path, monkeypatch):
    out = tmp_path / "job-files"
    monkeypatch.setenv("ATTUNEMENT_EXPORT_DIR", str(out))
    return out


def test_request_watch_and_download_from_the_pages(sqlite_world, jobs_dir):
    with TestClient(sqlite_world.app) as c:
        _login(c, "pa@example.org")
        page = c.get("/exports/jobs")
        assert page.status_code == 200 and "No background exports yet" in page.text
        r = c.post("/exports/jobs", data={"format": "csv", "csrf_token": _csrf(page.text)},
                   follow_redirects=False)
        assert r.status_code == 303
        where = r.headers["location"]
        job_id = int(where.rsplit("/", 1)[1])
        shown = c.get(where)
        assert shown.status_code == 200 and "Ready" in shown.text and "Refresh" not in shown.headers
        assert f'href="/exports/jobs/{job_id}/file"' in shown.text
        got = c.get(f"/exports/jobs/{job_id}/file")
        assert got.status_code == 200 and got.text.startswith("site,")
        assert f'<a href="/exports/jobs/{job_id}">Export {job_id}</a>' in c.get(
            "/exports/jobs").text
    with TestClient(sqlite_world.app) as other:
        _login(other, "pb@example.org")
        assert other.get(f"/exports/jobs/{job_id}").status_code == 404
        assert other.get(f"/exports/jobs/{job_id}/file").status_code == 404
        assert f"Export {job_id}" not in other.get("/exports/jobs").text


def test_a_queued_job_page_refreshes_itself(sqlite_world, jobs_dir):
    store = sqlite_world.store
    job = store.export_jobs.request(store.actor(sqlite_world.users["practitioner"]))
    with TestClient(sqlite_world.app) as c:
        _login(c, "pa@example.org")
        shown = c.get(f"/exports/jobs/{job['id']}")
        assert shown.headers["Refresh"] == "3" and "Waiting for a worker" in shown.text
        assert "<progress" in shown.text
