"""PostgreSQL roles: the service connects as a role that can only add to history; the owner
runs migrations; TRUNCATE of history is refused even to the owner (issue 11)."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from attunement.store import Store
from attunement.usecases import families as uc_families

pytestmark = pytest.mark.postgres
PASSWORD = "correct horse battery staple"  # as in conftest.py
FAMILY = {
    "family_id": "R-1", "site": "North", "assessed_on": "2026-10-01",
    "infant": {"due_date": "2026-09-20"}, "placement": "birth_family", "context": {},
    "caregivers": [{"id": "mother", "role": "birth_mother",
                    "responses": {"epds": [1, 1, 2, 2, 1, 2, 1, 1, 1, 0]}}],
}
HISTORY = ("audit_log", "assessments", "trial_allocations", "consents")


def _run(url: str, sql: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(sql))
    finally:
        engine.dispose()


def test_the_service_role_works_but_cannot_rewrite_history(postgres_roles, tmp_path):
    owner_url, service_url = postgres_roles
    st = Store.open(service_url, key_path=tmp_path / "k.key")
    try:
        st.init("admin@example.org", PASSWORD)
        system = st.system_actor()
        st.accounts.add_site(system, "North")
        fam = uc_families.register_family(st, system, FAMILY)
        c = st.care.add_consent(system, fam["id"], kind="research", version="v1",
                           given_on="2026-10-01")
        st.care.withdraw_consent(system, c["id"], withdrawn_on="2026-10-02", reason="asked")
        assert st.maintenance.verify_audit().ok
    finally:
        st.close()
    refused = [
        *(f"UPDATE {t} SET id = id" for t in HISTORY),
        *(f"DELETE FROM {t}" for t in HISTORY),
        *(f"TRUNCATE {t} CASCADE" for t in HISTORY),
        "UPDATE consents SET kind = 'other'",
        "ALTER TABLE assessments DISABLE TRIGGER assessments_no_change",
        "ALTER TABLE audit_log DISABLE TRIGGER ALL",
        "ALTER TABLE assessments ADD COLUMN x integer",
        "DROP TRIGGER audit_log_no_change ON audit_log",
        "DROP TABLE audit_log CASCADE",
        "CREATE TABLE sneaky (id integer)",
    ]
    for sql in refused:
        with pytest.raises(DBAPIError, match=r"permission denied|must be owner"):
            _run(service_url, sql)
    # the owner runs migrations, yet TRUNCATE of history is refused to it too (triggers)
    for t in HISTORY:
        with pytest.raises(DBAPIError, match=r"append-only|never changed|consent records"):
            _run(owner_url, f"TRUNCATE {t} CASCADE")
    st = Store.open(owner_url, key_path=tmp_path / "k.key")
    try:
        assert st.maintenance.verify_audit().ok
    finally:
        st.close()


def test_db_grant_command(postgres_roles, tmp_path):
    from typer.testing import CliRunner

    from attunement.cli import app

    owner_url, _ = postgres_roles
    r = CliRunner().invoke(app, ["platform", "db", "grant", "--service-role", "attunement_reader2",
                                 "--db", owner_url, "--key-file", str(tmp_path / "k.key")])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(app, ["platform", "db", "grant", "--service-role", "attunement_owner",
                                 "--db", owner_url, "--key-file", str(tmp_path / "k.key")])
    assert r.exit_code == 1 and "must differ from the owner" in " ".join(r.output.split())
