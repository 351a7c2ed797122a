"""Backup and restore round trips (SQLite online backup API; pg_dump/pg_restore)."""

from __future__ import annotations

import pytest

from attunement.store import Store, StoreValidationError
from attunement.usecases import assessments as uc_assessments


def _new_url(request, tmp_path, dialect):
    if dialect == "sqlite":
        return f"sqlite:///{tmp_path / 'restored.db'}"
    return request.getfixturevalue("postgres_url")


def test_backup_restore_round_trip(world, tmp_path, key_path, request):
    st = world.store
    uc_assessments.submit_assessment(st, world.north, world.fam_north, "father", "epds", "6w", [0] * 10)
    before_family = st.families.get_family(world.north, world.fam_north)
    before_rows = st.maintenance.verify_audit().rows
    dest = st.maintenance.backup(tmp_path / "backup.bin")
    assert dest.exists() and dest.stat().st_size > 0
    # changes after the backup are not in it
    st.accounts.add_site(world.system, "Later")
    with pytest.raises(StoreValidationError):
        st.maintenance.backup(dest)  # never overwrites an existing backup
    target = _new_url(request, tmp_path, st.dialect)
    restored = Store.restore(dest, target, key_path=key_path)
    try:
        after = restored.families.get_family(world.north, world.fam_north)
        for key in ("family_id", "caregivers", "assessments", "infant"):
            assert after[key] == before_family[key]
        assert after["caregivers"][0]["identifiers"]["name"] == "Philippa Wintergreen"
        assert [s["name"] for s in restored.accounts.list_sites(world.admin)] == ["North", "South"]
        report = restored.maintenance.verify_audit()
        # the backup's own "backup" row, then the "restore" row (and the view above)
        assert report.ok and report.rows == before_rows + 3
    finally:
        restored.close()


def test_restore_rejects_a_file_that_is_not_a_backup(tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises((StoreValidationError, RuntimeError)):
        Store.restore(junk, f"sqlite:///{tmp_path / 'x.db'}", key_path=tmp_path / "k.key")
