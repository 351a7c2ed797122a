"""Identifiers are encrypted at rest with a key kept outside the database (mode 0600)."""

from __future__ import annotations

import os
import stat

import pytest
from sqlalchemy import create_engine, inspect, text

from attunement.store import KeyFileError, Store
from attunement.usecases import exports as uc_exports
from attunement.usecases import families as uc_families
from attunement.usecases import profiles as uc_profiles

SECRETS = (
    "Philippa",
    "Wintergreen",
    "Zebedee",
    "Quillfeather",
    "9434765919",
    "Larkspur",
    "07700",
    "1997-03-02",
    "2026-09-15",
)  # the last: the infant's date of birth


def _as_text(value: object) -> str:
    if isinstance(value, memoryview):
        value = bytes(value)
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


def _raw_database_text(store: Store) -> str:
    """Every value of every table, as the database stores it, plus (SQLite) the file bytes."""
    parts = []
    engine = create_engine(store.url)
    with engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                parts.extend(_as_text(v) for v in row)
    engine.dispose()
    if store.dialect == "sqlite":
        path = store.url.removeprefix("sqlite:///")
        for suffix in ("", "-wal"):
            if os.path.exists(path + suffix):
                with open(path + suffix, "rb") as fh:
                    parts.append(fh.read().decode("latin-1"))
    return "\n".join(parts)


def test_identifiers_are_not_stored_in_clear(world):
    raw = _raw_database_text(world.store)
    assert "N-001" in raw  # the reader does see clinical data, so it would see names too
    for secret in SECRETS:
        assert secret not in raw, secret


def test_key_file_is_created_with_mode_0600(world, key_path):
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600


def test_store_refuses_a_widely_readable_key(world, key_path, db_url):
    world.store.close()
    os.chmod(key_path, 0o640)
    with pytest.raises(KeyFileError, match="0640"):
        Store.open(db_url, key_path=key_path)
    os.chmod(key_path, 0o600)
    Store.open(db_url, key_path=key_path).close()


def test_store_refuses_a_missing_or_different_key_when_identifiers_exist(
    world, key_path, db_url, tmp_path
):
    world.store.close()
    with pytest.raises(KeyFileError, match="missing"):
        Store.open(db_url, key_path=tmp_path / "nowhere.key")
    other = tmp_path / "other.key"
    from attunement.store.crypto import create_key_file

    create_key_file(other)
    with pytest.raises(KeyFileError, match="not the key"):
        Store.open(db_url, key_path=other)


def test_ciphertext_is_bound_to_its_person(world):
    """Swapping two people's ciphertexts (a row-level tamper) fails to decrypt."""
    from cryptography.exceptions import InvalidTag

    st = world.store
    engine = create_engine(st.url)
    with engine.begin() as conn:
        rows = conn.execute(
            text("SELECT id, ciphertext FROM identities WHERE family_id = :f ORDER BY id"),
            {"f": world.fam_north},
        ).all()
        assert len(rows) == 3  # infant, mother, father
        conn.execute(
            text("UPDATE identities SET ciphertext = :c WHERE id = :i"),
            {"c": rows[1][1], "i": rows[2][0]},
        )
    engine.dispose()
    with pytest.raises(InvalidTag):
        st.families.get_family(world.north, world.fam_north)


def test_pseudonyms_are_stable_keyed_and_per_study(world):
    from attunement.store.crypto import KeyRing

    a, b = KeyRing(b"\x01" * 32), KeyRing(b"\x02" * 32)
    assert a.pseudonym(1, "family", 7) == a.pseudonym(1, "family", 7)
    assert a.pseudonym(1, "family", 7) != a.pseudonym(2, "family", 7)  # per study
    assert a.pseudonym(1, "family", 7) != b.pseudonym(1, "family", 7)  # needs the key
    export1 = uc_exports.export_assessments(world.store, world.researcher)
    export2 = uc_exports.export_assessments(world.store, world.researcher)
    assert list(export1["family"]) == list(export2["family"])


def test_identifiers_can_be_corrected_and_the_audit_names_fields_only(world):
    import json

    st = world.store
    out = st.families.update_identifiers(
        world.north,
        world.fam_north,
        "mother",
        {"phone": "07700 900456", "address": None},
        reason="moved house",
    )
    assert out["changed"] == ["address", "phone"]
    mother = st.families.get_family(world.north, world.fam_north)["caregivers"][0]
    assert mother["identifiers"]["phone"] == "07700 900456"
    assert "address" not in mother["identifiers"]
    st.families.update_identifiers(
        world.north, world.fam_north, "father", {"nhs_number": "4010232137"}, reason="added"
    )
    log = json.dumps(st.maintenance.audit_log(world.admin, limit=10))
    assert "900456" not in log and "4010232137" not in log and "moved house" in log
    from attunement.store import NotFound

    with pytest.raises(NotFound):
        st.families.update_identifiers(world.south, world.fam_north, "mother", {"phone": "1"}, reason="x")


def test_database_refuses_to_overwrite_a_submitted_assessment(world):
    from sqlalchemy.exc import DBAPIError

    st = world.store
    engine = create_engine(st.url)
    try:
        for stmt in (
            "UPDATE assessments SET responses = '[3,3,3,3,3,3,3,3,3,3]'",
            "DELETE FROM assessments",
        ):
            with pytest.raises(DBAPIError, match="never changed"), engine.begin() as conn:
                conn.execute(text(stmt))
    finally:
        engine.dispose()


def test_recording_the_birth_keeps_the_date_of_birth_encrypted(world, make_family):
    import json

    st = world.store
    payload = make_family("N-200", "North")
    del payload["infant"]["date_of_birth"]
    payload["infant"]["due_date"] = "2026-11-30"
    fam = uc_families.register_family(st, world.north, payload)
    assert st.families.get_family(world.north, fam["id"])["infant"]["date_of_birth"] is None
    out = st.families.update_infant(
        world.north,
        fam["id"],
        date_of_birth="2026-11-21",
        gestational_age_at_birth_weeks=38.7,
        reason="born",
    )
    assert out["changed"] == ["date_of_birth", "gestation_weeks"]
    infant = st.families.get_family(world.north, fam["id"])["infant"]
    assert infant["date_of_birth"] == "2026-11-21"
    assert infant["gestational_age_at_birth_weeks"] == 38.7
    assert uc_profiles.family_document(st, world.north, fam["id"])["infant"]["date_of_birth"] == "2026-11-21"
    assert "2026-11-21" not in _raw_database_text(st)
    assert "2026-11-21" not in json.dumps(st.maintenance.audit_log(world.admin, limit=50))
    with pytest.raises(Exception) as err:
        st.families.update_infant(world.north, fam["id"], date_of_birth="2099-01-01", reason="x")
    assert getattr(err.value, "field", None) == "date_of_birth"
