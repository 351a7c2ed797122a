"""Large exports as background jobs (both databases): queued by the requester, claimed by one
worker, written to a private 0600 file with progress, downloaded only by the requester with
the synchronous export's permissions, audited, expired files deleted."""

from __future__ import annotations

import io
import stat
from datetime import timedelta

import pandas as pd
import pytest
from tests.store.conftest import family_payload

from attunement.store import Forbidden, NotFound
from attunement.store.errors import StoreValidationError
from attunement.usecases import assessments as uc_assessments
from attunement.usecases import exports as uc_exports
from attunement.usecases import families as uc_families

EPDS = [1, 1, 2, 2, 1, 2, 1, 1, 1, 2]


@pytest.fixture
def jobs_dir(tmp_path, monkeypatch):
    out = tmp_path / "exports"
    monkeypatch.setenv("ATTUNEMENT_EXPORT_DIR", str(out))
    return out


def _families(world, n):
    st = world.store
    for k in range(n):
        fam = uc_families.register_family(st, world.north, family_payload(
            f"N-2{k:02d}", "North", study="Attach-1"))
        uc_assessments.submit_assessment(st, world.north, fam["id"], "mother", "epds", "6w", EPDS)


def test_a_job_runs_in_the_background_and_its_file_matches_the_synchronous_export(
        world, jobs_dir):
    st = world.store
    _families(world, 5)
    job = st.export_jobs.request(world.north, fmt="csv")
    assert job["status"] == "queued" and not job["ready"] and not job["pseudonymised"]
    [ran] = uc_exports.run_export_jobs(st, "test-worker", directory=jobs_dir, chunk=2)
    assert ran["status"] == "done" and ran["ready"]
    whole = uc_exports.export_assessments(st, world.north)
    assert ran["rows_done"] == ran["rows_total"] == len(whole) == 11
    got, path = st.export_jobs.open_file(world.north, job["id"])
    assert got["ready"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(jobs_dir.stat().st_mode) == 0o700
    _, body = uc_exports.export_stream(st, world.north, fmt="csv")
    assert path.read_bytes() == b"".join(body)
    actions = [(e["action"], e["entity"]) for e in st.maintenance.audit_log(world.admin)]
    for expected in (("request", "export_job"), ("export", "assessments"),
                     ("download", "export_job")):
        assert expected in actions
    assert st.maintenance.verify_audit().ok


def test_parquet_job(world, jobs_dir):
    st = world.store
    job = st.export_jobs.request(world.north, fmt="parquet")
    uc_exports.run_export_jobs(st, "w", directory=jobs_dir)
    _, path = st.export_jobs.open_file(world.north, job["id"])
    frame = pd.read_parquet(io.BytesIO(path.read_bytes()))
    assert len(frame) == st.export_jobs.get(world.north, job["id"])["rows_done"] == 1


def test_another_sites_user_cannot_see_or_download_the_job(world, jobs_dir):
    st = world.store
    job = st.export_jobs.request(world.north)
    uc_exports.run_export_jobs(st, "w", directory=jobs_dir)
    for other in (world.south, world.researcher, world.admin):
        with pytest.raises(NotFound):
            st.export_jobs.get(other, job["id"])
        with pytest.raises(NotFound):
            st.export_jobs.open_file(other, job["id"])
        assert job["id"] not in [j["id"] for j in st.export_jobs.list_jobs(other)]
    assert [j["id"] for j in st.export_jobs.list_jobs(world.north)] == [job["id"]]


def test_a_researcher_gets_only_the_pseudonymised_export(world, jobs_dir):
    st = world.store
    with pytest.raises(Forbidden):
        st.export_jobs.request(world.researcher, pseudonymise=False)
    job = st.export_jobs.request(world.researcher)
    assert job["pseudonymised"]
    uc_exports.run_export_jobs(st, "w", directory=jobs_dir)
    _, path = st.export_jobs.open_file(world.researcher, job["id"])
    frame = pd.read_csv(path)
    assert "completed_on" not in frame and "day_from_due_date" in frame
    assert set(frame["site"]) <= {"North", "South"} and len(frame) == 2
    assert "N-001" not in path.read_text() and "S-001" not in path.read_text()


def test_one_worker_claims_a_job_and_a_dead_workers_job_is_taken_again(world, jobs_dir):
    st = world.store
    job = st.export_jobs.request(world.north)
    first = st.export_jobs.claim("a")
    assert first["id"] == job["id"] and first["status"] == "running"
    assert st.export_jobs.claim("b") is None
    later = st.core.now() + timedelta(hours=1)
    again = st.export_jobs.claim("b", later)
    assert again["id"] == job["id"]


def test_bad_requests_are_refused_with_the_reason(world):
    st = world.store
    with pytest.raises(StoreValidationError, match="csv or parquet"):
        st.export_jobs.request(world.north, fmt="fhir")
    with pytest.raises(StoreValidationError, match="requested by a user"):
        st.export_jobs.request(world.system)
    job = st.export_jobs.request(world.north)
    with pytest.raises(StoreValidationError, match="not ready"):
        st.export_jobs.open_file(world.north, job["id"])


def test_expired_files_are_deleted(world, jobs_dir):
    st = world.store
    job = st.export_jobs.request(world.north)
    uc_exports.run_export_jobs(st, "w", directory=jobs_dir)
    _, path = st.export_jobs.open_file(world.north, job["id"])
    assert st.export_jobs.purge_expired(st.core.now() + timedelta(days=8)) == 1
    assert not path.exists()
    assert st.export_jobs.get(world.north, job["id"])["status"] == "expired"
    with pytest.raises(StoreValidationError):
        st.export_jobs.open_file(world.north, job["id"])


def test_a_failed_job_says_why_and_leaves_no_file(world, jobs_dir):
    st = world.store
    job = st.export_jobs.request(world.north)
    st.accounts.set_user_active(world.admin, world.north.user_id, False, reason="left")
    [ran] = uc_exports.run_export_jobs(st, "w", directory=jobs_dir)
    assert ran["status"] == "failed" and "no such active user" in ran["error"]
    assert not list(jobs_dir.iterdir())
    assert job["id"] == ran["id"]
