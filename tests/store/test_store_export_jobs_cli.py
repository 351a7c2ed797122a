"""``attunement platform export-jobs --once`` runs the queued background exports."""

from __future__ import annotations

from tests.store.test_store_cli import cli  # noqa: F401  (the fixture)

from attunement.store import Store


def test_the_worker_command_runs_queued_jobs(cli, db_url, key_path, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setenv("ATTUNEMENT_EXPORT_DIR", str(tmp_path / "files"))
    assert cli("init", "--admin-email", "a@example.org", "--password-file", cli.pw).exit_code == 0
    with Store.open(db_url, key_path=key_path) as store:
        admin = store.accounts.authenticate("a@example.org", "a long admin passphrase")
        job = store.export_jobs.request(admin, fmt="csv")
    r = cli("export-jobs", "--once")
    assert r.exit_code == 0, r.output
    assert f"export {job['id']}: done (0 rows)" in r.output
    with Store.open(db_url, key_path=key_path) as store:
        assert store.export_jobs.get(admin, job["id"])["ready"]
    assert cli("export-jobs", "--once").output == ""
