"""Security of the store (issue 11, part 1): the keyed audit chain and its checkpoints, the
immutable records checked against the log, restore that checks before it replaces, files at
rest, migrations of what older schemas left in clear, look-alike names, a full disk.

Every test here failed on the code before these controls (see docs/security.md).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import stat
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import DBAPIError

from attunement.store import KeyFileError, Store, StoreValidationError, audit
from attunement.usecases import assessments as uc_assessments
from attunement.usecases import observations as uc_observations

PASSWORD = "correct horse battery staple"  # as in conftest.py


def _sql(url: str, *statements: str, params: dict | None = None) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            for stmt in statements:
                conn.execute(text(stmt), params or {})
    finally:
        engine.dispose()


def _drop_guards(st: Store) -> None:
    """What an attacker with the database owner's rights (or the SQLite file) can do."""
    if st.dialect == "postgresql":
        _sql(st.url, "DROP TRIGGER IF EXISTS audit_log_no_change ON audit_log",
             "DROP TRIGGER IF EXISTS assessments_no_change ON assessments",
             "DROP TRIGGER IF EXISTS consents_guard ON consents")
    else:
        _sql(st.url, *(f"DROP TRIGGER IF EXISTS {t}" for t in (
            "audit_log_no_update", "audit_log_no_delete", "assessments_no_update",
            "assessments_no_delete", "consents_only_withdrawal")))


def _audit_row_of(st: Store, entity: str, entity_id: int) -> int:
    engine = create_engine(st.url)
    try:
        with engine.connect() as conn:
            return conn.execute(
                text("SELECT id FROM audit_log WHERE entity = :e AND entity_id = :i"),
                {"e": entity, "i": str(entity_id)},
            ).scalar_one()
    finally:
        engine.dispose()


# ---------------------------------------------------------------------- keyed chain
def test_an_edited_row_with_the_whole_unkeyed_chain_recomputed_is_detected(world):
    """Before: anyone who could write to the database could edit a row, recompute the
    unkeyed SHA-256 chain and the head, and verify said "intact"."""
    st = world.store
    _drop_guards(st)
    engine = create_engine(st.url)
    with engine.begin() as conn:
        rows = [dict(r) for r in conn.execute(
            text("SELECT * FROM audit_log ORDER BY id")).mappings()]
        prev = audit.GENESIS
        for r in rows:
            if r["id"] == 5:
                r["actor_email"] = "forged@example.org"
            r["prev_hash"], r["hash"] = prev, audit.row_hash(prev, r)
            conn.execute(
                text("UPDATE audit_log SET actor_email = :e, prev_hash = :p, hash = :h "
                     "WHERE id = :i"),
                {"e": r["actor_email"], "p": r["prev_hash"], "h": r["hash"], "i": r["id"]},
            )
            prev = r["hash"]
        conn.execute(text("UPDATE audit_head SET last_hash = :h"), {"h": prev})
    engine.dispose()
    report = st.maintenance.verify_audit()
    assert not report.ok and report.first_broken == 1
    assert "keyed hash" in report.reason
    # removing the keyed-chain marker does not make the forged rows "old-style" either
    _sql(st.url, f"DELETE FROM settings WHERE key = '{audit.MARKER}'")
    report = st.maintenance.verify_audit()
    assert not report.ok and "marker is missing" in report.reason


def test_a_forged_keyed_chain_marker_is_refused(world):
    st = world.store
    last = st.maintenance.verify_audit().rows
    _sql(st.url, "UPDATE settings SET value = :v WHERE key = :k",
         params={"v": json.dumps({"from": last + 1, "mac": "0" * 64}), "k": audit.MARKER})
    report = st.maintenance.verify_audit()
    assert not report.ok and "not written with this key" in report.reason


def test_a_deleted_audit_row_of_an_assessment_names_the_assessment(world):
    st = world.store
    a = uc_assessments.submit_assessment(st, world.north, world.fam_north, "father", "epds", "6w", [0] * 10)
    row = _audit_row_of(st, "assessment", a["id"])
    _drop_guards(st)
    _sql(st.url, f"DELETE FROM audit_log WHERE id = {row}")
    report = st.maintenance.verify_audit()
    assert not report.ok
    assert f"assessment {a['id']} has no audit row" in "\n".join(report.problems)


def test_an_edited_assessment_is_named(world):
    st = world.store
    a = uc_assessments.submit_assessment(st, world.north, world.fam_north, "father", "epds", "6w", [0] * 10)
    assert st.maintenance.verify_audit().ok
    _drop_guards(st)
    _sql(st.url, f"UPDATE assessments SET completed_on = '2020-01-01' WHERE id = {a['id']}")
    report = st.maintenance.verify_audit()
    assert not report.ok and report.first_broken is None  # the chain itself is intact
    assert f"assessment {a['id']} does not match its audit row" in report.reason


def test_a_deleted_assessment_is_named(world):
    st = world.store
    a = uc_assessments.submit_assessment(st, world.north, world.fam_north, "father", "epds", "6w", [0] * 10)
    _drop_guards(st)
    _sql(st.url, f"DELETE FROM assessments WHERE id = {a['id']}")
    problems = "\n".join(st.maintenance.verify_audit().problems)
    assert f"assessment {a['id']} of audit row" in problems and "missing (deleted)" in problems


def test_an_edited_consent_is_named(world):
    st = world.store
    c = st.care.add_consent(world.north, world.fam_north, kind="research", version="v1",
                       given_on="2026-10-01")
    st.care.withdraw_consent(world.north, c["id"], withdrawn_on="2026-10-20", reason="asked")
    assert st.maintenance.verify_audit().ok
    _drop_guards(st)
    _sql(st.url, f"UPDATE consents SET withdrawn_on = NULL WHERE id = {c['id']}")
    report = st.maintenance.verify_audit()
    assert not report.ok and f"consent {c['id']} withdrawal date" in report.reason


def test_a_consent_added_behind_the_logs_back_is_named(world):
    st = world.store
    _sql(st.url, "INSERT INTO consents (family_id, kind, version, given_on, recorded_at) "
         f"VALUES ({world.fam_north}, 'research', 'v9', '2026-10-01', '2026-10-01 09:00:00')")
    report = st.maintenance.verify_audit()
    assert not report.ok and report.first_broken is None
    assert "has no audit row (added behind the log's back)" in report.reason


def test_consents_change_only_by_one_withdrawal(world):
    st = world.store
    c = st.care.add_consent(world.north, world.fam_north, kind="research", version="v1",
                       given_on="2026-10-01")
    for stmt in (f"UPDATE consents SET kind = 'other' WHERE id = {c['id']}",
                 f"DELETE FROM consents WHERE id = {c['id']}"):
        with pytest.raises(DBAPIError, match="consent records are kept"):
            _sql(st.url, stmt)
    st.care.withdraw_consent(world.north, c["id"], withdrawn_on="2026-10-20", reason="asked")
    with pytest.raises(DBAPIError, match="consent records are kept"):
        _sql(st.url, f"UPDATE consents SET withdrawn_on = NULL WHERE id = {c['id']}")


# ---------------------------------------------------------------------- checkpoints
def test_a_checkpoint_catches_a_cut_off_tail_the_chain_alone_cannot(world):
    st = world.store
    st.accounts.add_site(world.system, "Later 1")
    st.accounts.add_site(world.system, "Later 2")
    cp = st.maintenance.audit_checkpoint()
    last = cp["last_id"]
    assert st.maintenance.verify_audit(checkpoint=cp).ok
    # cut the two newest rows and move the head back: the chain alone is consistent again
    engine = create_engine(st.url)
    with engine.connect() as conn:
        prev_hash = conn.execute(
            text(f"SELECT hash FROM audit_log WHERE id = {last - 2}")).scalar_one()
    engine.dispose()
    _drop_guards(st)
    _sql(st.url, f"DELETE FROM audit_log WHERE id > {last - 2}",
         "UPDATE audit_head SET last_id = :i, last_hash = :h",
         params={"i": last - 2, "h": prev_hash})
    assert st.maintenance.verify_audit().ok  # why a service keeps checkpoints elsewhere
    report = st.maintenance.verify_audit(checkpoint=cp)
    assert not report.ok and f"rows {last - 1}..{last} of the signed checkpoint" in report.reason


def test_a_forged_checkpoint_is_refused(world):
    st = world.store
    cp = st.maintenance.audit_checkpoint()
    forged = {**cp, "last_id": cp["last_id"] - 1}
    report = st.maintenance.verify_audit(checkpoint=forged)
    assert not report.ok and "signature does not match" in report.reason


def test_cli_checkpoint_and_verify_from_it(db_url, key_path, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from attunement.cli import app

    runner = CliRunner()
    monkeypatch.setenv("ATTUNEMENT_KEY_FILE", str(key_path))
    pw = tmp_path / "pw.txt"
    pw.write_text("a long admin passphrase\n")
    assert runner.invoke(app, ["platform", "init", "--admin-email", "a@example.org",
                               "--password-file", str(pw), "--db", db_url]).exit_code == 0
    runner.invoke(app, ["platform", "sites", "add", "North", "--db", db_url])
    out = tmp_path / "cp.json"
    r = runner.invoke(app, ["platform", "audit", "checkpoint", "--out", str(out), "--db", db_url])
    assert r.exit_code == 0, r.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    r = runner.invoke(app, ["platform", "audit", "checkpoint", "--out", str(out), "--db", db_url])
    assert r.exit_code == 1 and "already exists" in " ".join(r.output.split())
    r = runner.invoke(app, ["platform", "audit", "verify", "--from-checkpoint", str(out),
                            "--db", db_url])
    assert r.exit_code == 0 and "matches checkpoint" in " ".join(r.output.split()), r.output
    body = json.loads(out.read_text())
    body["last_hash"] = "f" * 64
    out.write_text(json.dumps(body))
    r = runner.invoke(app, ["platform", "audit", "verify", "--from-checkpoint", str(out),
                            "--db", db_url])
    assert r.exit_code == 1 and "signature does not match" in " ".join(r.output.split())


# ---------------------------------------------------------------------- restore
def _target(request, tmp_path, dialect):
    if dialect == "sqlite":
        return f"sqlite:///{tmp_path / 'target.db'}"
    return request.getfixturevalue("postgres_url")


def test_restore_with_another_key_leaves_the_target_intact(world, tmp_path, request):
    """Before: the target's data was replaced first, then the key check failed."""
    dest = world.store.maintenance.backup(tmp_path / "backup.bin")
    url = _target(request, tmp_path, world.store.dialect)
    other_key = tmp_path / "other" / "identifier.key"
    target = Store.open(url, key_path=other_key)
    target.init("boss@example.org", PASSWORD)
    target.accounts.add_site(target.system_actor(), "Target site")
    target.close()
    with pytest.raises(KeyFileError):
        Store.restore(dest, url, key_path=other_key)
    again = Store.open(url, key_path=other_key)
    try:
        assert [s["name"] for s in again.accounts.list_sites(again.system_actor())] == ["Target site"]
        assert again.maintenance.verify_audit().ok
    finally:
        again.close()


def test_restore_refuses_a_backup_whose_audit_does_not_verify(world, tmp_path, key_path):
    if world.store.dialect != "sqlite":
        pytest.skip("the tampered backup is made by editing a SQLite file")
    dest = world.store.maintenance.backup(tmp_path / "backup.bin")
    conn = sqlite3.connect(dest)
    conn.execute("DROP TRIGGER audit_log_no_update")
    conn.execute("UPDATE audit_log SET actor_email = 'x@example.org' WHERE id = 3")
    conn.commit()
    conn.close()
    target = tmp_path / "target.db"
    st = Store.open(f"sqlite:///{target}", key_path=key_path)
    st.accounts.add_site(st.system_actor(), "Kept")
    st.close()
    with pytest.raises(StoreValidationError, match="does not verify"):
        Store.restore(dest, f"sqlite:///{target}", key_path=key_path)
    again = Store.open(f"sqlite:///{target}", key_path=key_path)
    try:
        assert [s["name"] for s in again.accounts.list_sites(again.system_actor())] == ["Kept"]
    finally:
        again.close()
    assert not list(tmp_path.glob(".target.db.restore-*"))


def test_restore_refuses_a_schema_version_it_does_not_know(world, tmp_path, key_path):
    if world.store.dialect != "sqlite":
        pytest.skip("the future backup is made by editing a SQLite file")
    dest = world.store.maintenance.backup(tmp_path / "backup.bin")
    conn = sqlite3.connect(dest)
    conn.execute("UPDATE alembic_version SET version_num = '9999'")
    conn.commit()
    conn.close()
    with pytest.raises(StoreValidationError, match="schema version '9999'"):
        Store.restore(dest, f"sqlite:///{tmp_path / 't.db'}", key_path=key_path)
    assert not (tmp_path / "t.db").exists()


# ---------------------------------------------------------------------- files at rest
def test_database_wal_key_and_backup_files_are_owner_only(tmp_path):
    old = os.umask(0o022)
    try:
        path = tmp_path / "data" / "store.db"
        st = Store.open(f"sqlite:///{path}", key_path=tmp_path / "data" / "identifier.key")
        st.init("admin@example.org", PASSWORD)
        st.accounts.add_site(st.system_actor(), "North")
        files = [path, Path(f"{path}-wal"), Path(f"{path}-shm"), st.key_path,
                 st.maintenance.backup(tmp_path / "b.db")]
        checkpoint = tmp_path / "cp.json"
        from attunement.store import maintenance

        maintenance.write_checkpoint(st, checkpoint)
        files.append(checkpoint)
        for f in files:  # while the store is open (SQLite removes -wal/-shm at close)
            assert f.exists(), f
            assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
        st.close()
    finally:
        os.umask(old)


def test_a_world_readable_database_of_an_older_version_is_made_owner_only(tmp_path):
    path = tmp_path / "old.db"
    sqlite3.connect(path).close()
    os.chmod(path, 0o644)
    Store.open(f"sqlite:///{path}", key_path=tmp_path / "k.key").close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_observation_files_and_their_metadata_are_encrypted_at_rest(world):
    st = world.store
    # the people's names sit in the file (session, actor) and in its metadata (coder)
    content = (b"session,actor,code,onset\n"
               b"Hortensia Fairweather visit,Infant,cry,1\n"
               b"Hortensia Fairweather visit,Hortensia Fairweather,soothe,2\n")
    meta = {"coder": "Bartholomew Quince", "participants": ["Hortensia Fairweather"],
            "cues": "cry", "responses": "soothe"}
    o = uc_observations.add_observation_session(st, world.north, world.fam_north, filename="visit.csv",
                                   content=content, metadata=meta)
    assert o["metadata"] == meta
    engine = create_engine(st.url)
    with engine.connect() as conn:
        raw = list(conn.execute(text(
            f"SELECT * FROM observation_sessions WHERE id = {o['id']}")).one())
        raw += list(conn.execute(text(
            f"SELECT * FROM observation_measures WHERE session_id = {o['id']}")).one())
        raw += [row.after for row in conn.execute(text(
            "SELECT after FROM audit_log WHERE entity = 'observation_session'"))]
    engine.dispose()
    stored = b"".join(bytes(v) if isinstance(v, bytes | memoryview) else str(v).encode()
                      for v in raw)
    for secret in (b"Hortensia", b"Bartholomew", b"Quince"):
        assert secret not in stored
    assert st.observations.observation_content(world.north, o["id"]) == ("visit.csv", content)
    doc = st.families.get_family(world.north, world.fam_north)
    assert doc["observation_sessions"][0]["metadata"] == meta


# ---------------------------------------------------------------------- migrations
OLD_FILE = b"participant\tHortensia Fairweather\n"


def _old_database(url: str) -> None:
    """A database as the first release of revision 0001 left it: a clear
    ``infants.birth_date`` column, no ``caregivers.variants`` or ``assessments.completed_on``,
    no triggers guarding assessments, and audit rows of the unkeyed chain."""
    from alembic import command
    from alembic.config import Config

    from attunement.store.db import Database

    db = Database(url)
    cfg = Config()
    cfg.set_main_option("script_location", "attunement.store:migrations")
    with db.engine.execution_options(attunement_write=True).connect() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0100")
        conn.commit()
    with db.engine.execution_options(attunement_write=True).connect() as conn:
        # the first release of 0001: no guard on assessments, no variants or completed_on
        if conn.dialect.name == "postgresql":
            conn.execute(text("DROP TRIGGER assessments_no_change ON assessments"))
            conn.execute(text("DROP FUNCTION assessments_immutable()"))
        else:
            conn.execute(text("DROP TRIGGER assessments_no_update"))
            conn.execute(text("DROP TRIGGER assessments_no_delete"))
        conn.execute(text("ALTER TABLE caregivers DROP COLUMN variants"))
        conn.execute(text("ALTER TABLE assessments DROP COLUMN completed_on"))
        conn.execute(text("ALTER TABLE infants ADD COLUMN birth_date DATE"))
        conn.execute(text("INSERT INTO sites (id, name, created_at) "
                          "VALUES (1, 'North', '2026-11-27 10:00:00')"))
        conn.execute(text(
            "INSERT INTO families (id, site_id, code, placement, context, created_at) "
            "VALUES (1, 1, 'OLD-1', 'birth_family', '{}', '2026-11-27 10:00:00')"))
        conn.execute(text("INSERT INTO infants (id, family_id, due_date, birth_date) "
                          "VALUES (1, 1, '2026-09-20', '2026-09-15')"))
        conn.execute(text(
            "INSERT INTO observation_sessions (id, family_id, filename, content, sha256, size, "
            "metadata, uploaded_at) VALUES (1, 1, 'old.eaf', :c, :h, :n, :m, "
            "'2026-11-27 10:00:00')"),
            {"c": OLD_FILE, "h": hashlib.sha256(OLD_FILE).hexdigest(), "n": len(OLD_FILE),
             "m": json.dumps({"coder": "Bartholomew Quince"})})
        conn.execute(text(
            "INSERT INTO caregivers (id, family_id, key, role, context) "
            "VALUES (1, 1, 'mother', 'birth_mother', '{}')"))
        conn.execute(text(
            "INSERT INTO assessments (id, family_id, caregiver_id, instrument, "
            "instrument_version, time_point, instance, version, input_kind, responses, "
            "item_scores, scores, flags, submitted_via, submitted_at) VALUES (1, 1, 1, 'epds', "
            "'1', 'baseline', 1, 1, 'scores', '[0,0,0,0,0,0,0,0,0,0]', '[0,0,0,0,0,0,0,0,0,0]', "
            "'{\"total\": 0}', '[]', 'staff', '2026-11-27 10:00:00')"))
        prev = audit.GENESIS
        for i, action, entity in ((1, "init", "store"), (2, "create", "site"),
                                  (3, "create", "assessment")):
            fields = {"id": i, "at": "2026-11-27T10:00:00.000000Z", "actor_id": None,
                      "actor_email": "system", "actor_role": "system", "action": action,
                      "entity": entity, "entity_id": "1" if i == 3 else None,
                      "family_id": None, "site_id": None, "before": None,
                      "after": '{"name":"North"}' if i == 2 else None, "reason": None,
                      "client": ""}
            digest = audit.row_hash(prev, fields)
            conn.execute(text(
                f"INSERT INTO audit_log ({', '.join(audit.FIELDS)}, prev_hash, hash) VALUES "
                f"({', '.join(':' + k for k in audit.FIELDS)}, :prev_hash, :hash)"),
                {**fields, "prev_hash": prev, "hash": digest})
            prev = digest
        conn.execute(text("INSERT INTO audit_head (id, last_id, last_hash) VALUES (1, 3, :h)"),
                     {"h": prev})
        conn.commit()
    db.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'old.db'}"
    return request.getfixturevalue("postgres_url")


def test_upgrade_encrypts_what_the_first_release_left_in_clear_and_unguarded(empty_url, tmp_path):
    _old_database(empty_url)
    st = Store.open(empty_url, key_path=tmp_path / "k.key")
    try:
        engine = create_engine(st.url)
        with engine.connect() as conn:
            columns = {c["name"] for c in inspect(conn).get_columns("infants")}
            blob = bytes(conn.execute(text(
                "SELECT ciphertext FROM identities WHERE subject_kind = 'infant'")).scalar_one())
        engine.dispose()
        assert "birth_date" not in columns
        assert b"2026-09-15" not in blob
        st.init("admin@example.org", PASSWORD)
        admin = st.accounts.authenticate("admin@example.org", PASSWORD)
        assert st.families.get_family(admin, 1)["infant"]["date_of_birth"] == "2026-09-15"
        # the stored file and its metadata of the older version are sealed too
        engine = create_engine(st.url)
        with engine.connect() as conn:
            raw = conn.execute(text("SELECT * FROM observation_sessions")).one()
        engine.dispose()
        stored = b"".join(bytes(v) if isinstance(v, bytes | memoryview) else str(v).encode()
                          for v in raw)
        assert b"Hortensia" not in stored and b"Bartholomew" not in stored
        assert st.observations.observation_content(admin, 1) == ("old.eaf", OLD_FILE)
        assert st.families.get_family(admin, 1)["observation_sessions"][0]["metadata"] == {
            "coder": "Bartholomew Quince"}
        # the old rows still verify by the old rule; everything after them is keyed
        report = st.maintenance.verify_audit()
        assert report.ok, report
        marker = json.loads(st.db.engine.connect().execute(
            text(f"SELECT value FROM settings WHERE key = '{audit.MARKER}'")).scalar_one())
        assert marker["from"] == 4
        # what later releases of 0001 added is there, and guards the old assessment too
        assert st.assessments.list_assessments(admin, 1)[0]["completed_on"] == "2026-11-27"
        assert st.families.get_family(admin, 1)["caregivers"][0]["id"] == "mother"
        with pytest.raises(DBAPIError, match="never changed"):
            _sql(st.url, "UPDATE assessments SET time_point = 'x' WHERE id = 1")
        # and an old row is still protected by the old rule
        if st.dialect == "postgresql":
            _sql(st.url, "DROP TRIGGER audit_log_no_change ON audit_log")
        else:
            _sql(st.url, "DROP TRIGGER audit_log_no_update")
        _sql(st.url, "UPDATE audit_log SET actor_email = 'x' WHERE id = 2")
        report = st.maintenance.verify_audit()
        assert not report.ok and report.first_broken == 2
    finally:
        st.db.dispose()


# ---------------------------------------------------------------------- names
def test_look_alike_site_names_are_refused(store):
    system = store.system_actor()
    store.accounts.add_site(system, "North Clinic")
    with pytest.raises(StoreValidationError, match="mixes letters of different scripts"):
        store.accounts.add_site(system, "N\u043erth Clinic")  # Cyrillic o
    with pytest.raises(StoreValidationError, match="already exists"):
        store.accounts.add_site(system, "\uff2e\uff4f\uff52\uff54\uff48  clinic")  # full-width, 2 spaces
    with pytest.raises(StoreValidationError, match="invisible or control"):
        store.accounts.add_site(system, "North\u200b Clinic")
    store.accounts.add_site(system, "Coe")
    with pytest.raises(StoreValidationError, match="already exists"):
        store.accounts.add_site(system, "\u0421\u043e\u0435")  # all-Cyrillic "Сое" looks like "Coe"
    assert [s["name"] for s in store.accounts.list_sites(system)] == ["Coe", "North Clinic"]
    # the normalised form finds the site
    u = store.accounts.add_user(system, "p@example.org", "practitioner", ["NORTH  CLINIC"], PASSWORD)
    assert u["sites"] == ["North Clinic"]


def test_look_alike_emails_are_refused_and_the_message_says_nothing_about_others(store):
    system = store.system_actor()
    store.accounts.add_site(system, "North")
    store.accounts.add_site(system, "South")
    store.accounts.add_user(system, "north@example.org", "practitioner", ["North"], PASSWORD)
    with pytest.raises(StoreValidationError, match="mixes letters"):
        store.accounts.add_user(system, "n\u043erth@example.org", "practitioner", ["South"], PASSWORD)
    with pytest.raises(StoreValidationError) as exc:
        store.accounts.add_user(system, "NORTH@Example.org", "practitioner", ["South"], PASSWORD)
    assert exc.value.reason.startswith("cannot be used for a new account")
    assert "example.org" not in str(exc.value)
    # full-width letters are the same address after NFKC
    with pytest.raises(StoreValidationError, match="cannot be used"):
        store.accounts.add_user(system, "\uff4eorth@example.org", "practitioner", ["South"], PASSWORD)
    assert store.accounts.authenticate("\uff2eORTH@example.org", PASSWORD).email == "north@example.org"


# ---------------------------------------------------------------------- full disk
def test_a_full_disk_is_a_storage_full_error_and_writes_nothing(world):
    from attunement.store import StorageFull

    st = world.store
    rows = st.maintenance.verify_audit().rows
    if st.dialect == "sqlite":
        from sqlalchemy import event

        st.db.engine.dispose()

        @event.listens_for(st.db.engine, "connect")
        def _tiny(dbapi_conn, record):  # type: ignore[no-untyped-def]
            pages = dbapi_conn.execute("PRAGMA page_count").fetchone()[0]
            dbapi_conn.execute(f"PRAGMA max_page_count = {pages}")
    else:
        _sql(st.url,
             "CREATE FUNCTION disk_full() RETURNS trigger AS $$ BEGIN "
             "RAISE EXCEPTION 'could not extend file' USING ERRCODE = '53100'; END "
             "$$ LANGUAGE plpgsql",
             "CREATE TRIGGER disk_full BEFORE INSERT ON assessments "
             "FOR EACH ROW EXECUTE FUNCTION disk_full()")
    with pytest.raises(StorageFull, match="disk is full"):
        for _ in range(200):  # SQLite: until a new page is needed
            uc_assessments.submit_assessment(st, world.north, world.fam_north, "father", "epds", "6w", [0] * 10)
    if st.dialect == "sqlite":
        event.remove(st.db.engine, "connect", _tiny)
        st.db.engine.dispose()
    report = st.maintenance.verify_audit()
    assert report.ok
    assert report.rows >= rows
