"""Security of the store: keyed audit chain, identifiers an older schema left in clear,
observation files encrypted at rest, history guarded against TRUNCATE.

- ``audit_log.record_hash``: the hash of the immutable record a row wrote (checked by
  ``audit verify``). A database that already has audit rows is marked (``settings``
  ``audit_keyed_from``, MACed with the chain key) so its old rows keep the unkeyed rule and
  every new row is keyed.
- Revision 0001 was changed after release: databases created by its first version have a
  clear ``infants.birth_date`` column. Its values move into the infant's encrypted identity
  (as ``date_of_birth``) and the column is dropped.
- ``observation_sessions.meta_ciphertext``/``key_id``: stored files and their metadata are
  sealed with AES-GCM (see ``attunement.store.files``); existing rows are sealed here.
- A database made by the first releases of 0001 also lacks ``caregivers.variants``,
  ``assessments.completed_on`` and the triggers that keep submitted assessments unchanged;
  they are added here (0001 itself is never edited again).
- ``BEFORE TRUNCATE`` triggers on assessments and consents (PostgreSQL: they stop the
  owner too); consents may change only by recording a withdrawal once.

The key file is needed when there is anything to encrypt or mark; the store hands it to the
migration (``Database.upgrade(keyring=...)``).

Revision ID: 0110 (revises 0100), 2026-12-04.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import date
from typing import Any

import sqlalchemy as sa
from alembic import context, op

from attunement.store.migrations import _ops

revision, down_revision, branch_labels, depends_on = "0110", "0100", None, None

_CONSENT = "consent records are kept: only a withdrawal may be recorded, once"
_ASSESS = "submitted assessments are never changed; add a correction"
GUARD_SQLITE = (
    "CREATE TRIGGER consents_no_delete BEFORE DELETE ON consents "
    f"BEGIN SELECT RAISE(ABORT, '{_CONSENT}'); END",
    "CREATE TRIGGER consents_only_withdrawal BEFORE UPDATE ON consents "
    "WHEN OLD.withdrawn_on IS NOT NULL OR NEW.id IS NOT OLD.id "
    "OR NEW.family_id IS NOT OLD.family_id OR NEW.caregiver_id IS NOT OLD.caregiver_id "
    "OR NEW.kind IS NOT OLD.kind OR NEW.version IS NOT OLD.version "
    "OR NEW.given_on IS NOT OLD.given_on OR NEW.recorded_by IS NOT OLD.recorded_by "
    "OR NEW.recorded_at IS NOT OLD.recorded_at "
    f"BEGIN SELECT RAISE(ABORT, '{_CONSENT}'); END",
)
GUARD_POSTGRES = (
    "CREATE TRIGGER assessments_no_truncate BEFORE TRUNCATE ON assessments "
    "FOR EACH STATEMENT EXECUTE FUNCTION assessments_immutable()",
    f"""CREATE FUNCTION consents_guard() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'UPDATE' AND OLD.withdrawn_on IS NULL
         AND (to_jsonb(NEW) - 'withdrawn_on') = (to_jsonb(OLD) - 'withdrawn_on') THEN
        RETURN NEW;
      END IF;
      RAISE EXCEPTION '{_CONSENT}';
    END $$""",
    "CREATE TRIGGER consents_guard BEFORE UPDATE OR DELETE ON consents "
    "FOR EACH ROW EXECUTE FUNCTION consents_guard()",
    "CREATE TRIGGER consents_no_truncate BEFORE TRUNCATE ON consents "
    "FOR EACH STATEMENT EXECUTE FUNCTION consents_guard()",
)
MARKER = "audit_keyed_from"


def _keyring(bind: Any, needed_for: str) -> Any:
    provider = context.config.attributes.get("keyring")
    if provider is None:
        raise RuntimeError(
            f"this upgrade {needed_for} and needs the identifier key file: run it through "
            "attunement (any command that opens the store), not bare alembic"
        )
    has_key_id = bind.execute(sa.text("SELECT 1 FROM settings WHERE key = 'key_id'")).first()
    has_ids = bind.execute(sa.text("SELECT 1 FROM identities")).first()
    keys = provider(not has_key_id and not has_ids)
    recorded = bind.execute(sa.text("SELECT value FROM settings WHERE key = 'key_id'")).scalar()
    if recorded is None:
        bind.execute(
            sa.text("INSERT INTO settings (key, value) VALUES ('key_id', :v)"), {"v": keys.key_id}
        )
    elif recorded != keys.key_id:
        raise RuntimeError("the identifier key file is not the key this database was encrypted with")
    return keys


def _day(value: Any) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)[:10]


def _encrypt_birth_dates(bind: Any) -> None:
    columns = {c["name"] for c in sa.inspect(bind).get_columns("infants")}
    if "birth_date" not in columns:
        return
    rows = bind.execute(
        sa.text("SELECT id, family_id, birth_date FROM infants WHERE birth_date IS NOT NULL")
    ).all()
    if rows:
        keys = _keyring(bind, "encrypts infants' dates of birth left in clear")
        for infant_id, family_id, born in rows:
            aad = f"infant:{infant_id}"
            found = bind.execute(
                sa.text("SELECT id, ciphertext FROM identities "
                        "WHERE subject_kind = 'infant' AND subject_id = :i"),
                {"i": infant_id},
            ).first()
            data = keys.decrypt(bytes(found[1]), aad) if found else {}
            data.setdefault("date_of_birth", _day(born))
            blob = keys.encrypt(data, aad)
            if found:
                bind.execute(
                    sa.text("UPDATE identities SET ciphertext = :c, key_id = :k WHERE id = :i"),
                    {"c": blob, "k": keys.key_id, "i": found[0]},
                )
            else:
                bind.execute(
                    sa.text("INSERT INTO identities (family_id, subject_kind, subject_id, "
                            "ciphertext, key_id) VALUES (:f, 'infant', :s, :c, :k)"),
                    {"f": family_id, "s": infant_id, "c": blob, "k": keys.key_id},
                )
    op.execute("ALTER TABLE infants DROP COLUMN birth_date")


def _seal_observations(bind: Any) -> None:
    rows = bind.execute(
        sa.text("SELECT id, family_id, sha256, content, metadata FROM observation_sessions "
                "WHERE key_id IS NULL")
    ).all()
    if not rows:
        return
    keys = _keyring(bind, "encrypts stored observation files")
    for row_id, family_id, digest, content, meta in rows:
        aad = f"observation:{family_id}:{digest}"
        meta = json.loads(meta) if isinstance(meta, str) else (meta or {})
        bind.execute(
            sa.text("UPDATE observation_sessions SET content = :c, metadata = :m, "
                    "meta_ciphertext = :mc, key_id = :k WHERE id = :i"),
            {"c": keys.encrypt_bytes(bytes(content), aad), "m": "{}",
             "mc": keys.encrypt(meta, aad + ":metadata"), "k": keys.key_id, "i": row_id},
        )


def _mark_keyed_chain(bind: Any) -> None:
    last = bind.execute(sa.text("SELECT max(id) FROM audit_log")).scalar()
    if last is None:
        return  # a new log is keyed from its first row
    if bind.execute(sa.text(f"SELECT 1 FROM settings WHERE key = '{MARKER}'")).first():
        return
    keys = _keyring(bind, "switches the audit log to the keyed chain")
    first = int(last) + 1
    mac = hmac.new(
        keys.audit_chain, f"{MARKER}:{first}".encode(), hashlib.sha256
    ).hexdigest()
    bind.execute(
        sa.text("INSERT INTO settings (key, value) VALUES (:k, :v)"),
        {"k": MARKER, "v": json.dumps({"from": first, "mac": mac})},
    )


def _repair_first_release(bind: Any) -> None:
    """Bring a database made by an earlier release of 0001 to what 0001 now builds:
    ``caregivers.variants`` and ``assessments.completed_on`` (added later), and the triggers
    that keep submitted assessments unchanged (added later: such a database has none)."""
    postgres = bind.dialect.name == "postgresql"
    if "variants" not in {c["name"] for c in sa.inspect(bind).get_columns("caregivers")}:
        op.add_column("caregivers", sa.Column(
            "variants", sa.JSON(), nullable=False, server_default=sa.text("'{}'")))
    if "completed_on" not in {c["name"] for c in sa.inspect(bind).get_columns("assessments")}:
        # answered on the day it was submitted: the best the old rows can say
        op.add_column("assessments", sa.Column(
            "completed_on", sa.Date(), nullable=False, server_default=sa.text("'1970-01-01'")))
        day = "CAST(submitted_at AS date)" if postgres else "substr(submitted_at, 1, 10)"
        bind.execute(sa.text(f"UPDATE assessments SET completed_on = {day}"))
        if postgres:
            op.execute("ALTER TABLE assessments ALTER COLUMN completed_on DROP DEFAULT")
    if postgres:
        if not bind.execute(sa.text(
                "SELECT 1 FROM pg_trigger WHERE tgname = 'assessments_no_change'")).first():
            op.execute(f"""CREATE OR REPLACE FUNCTION assessments_immutable() RETURNS trigger
            LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '{_ASSESS}'; END $$""")
            op.execute("CREATE TRIGGER assessments_no_change BEFORE UPDATE OR DELETE ON "
                       "assessments FOR EACH ROW EXECUTE FUNCTION assessments_immutable()")
        return
    have = {r[0] for r in bind.execute(sa.text(
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'assessments'"))}
    for name, event in (("assessments_no_update", "UPDATE"), ("assessments_no_delete", "DELETE")):
        if name not in have:
            op.execute(f"CREATE TRIGGER {name} BEFORE {event} ON assessments "
                       f"BEGIN SELECT RAISE(ABORT, '{_ASSESS}'); END")


def upgrade() -> None:
    bind = op.get_bind()
    _repair_first_release(bind)
    _ops.add_columns("audit_log", "record_hash str(64)?")
    _ops.add_columns("observation_sessions", "meta_ciphertext bytes?, key_id str(32)?")
    _encrypt_birth_dates(bind)
    _seal_observations(bind)
    _mark_keyed_chain(bind)
    _ops.execute_for_dialect(postgresql=GUARD_POSTGRES, sqlite=GUARD_SQLITE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS consents_no_truncate ON consents")
        op.execute("DROP TRIGGER IF EXISTS consents_guard ON consents")
        op.execute("DROP FUNCTION IF EXISTS consents_guard()")
        op.execute("DROP TRIGGER IF EXISTS assessments_no_truncate ON assessments")
    else:
        op.execute("DROP TRIGGER IF EXISTS consents_no_delete")
        op.execute("DROP TRIGGER IF EXISTS consents_only_withdrawal")
    # sealed files and the moved dates of birth stay encrypted: never back to clear
    _ops.batch_drop_columns("observation_sessions", "key_id", "meta_ciphertext")
    _ops.batch_drop_columns("audit_log", "record_hash")
