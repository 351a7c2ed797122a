"""Lists as queries: blind index of identifiers, the infant's birth offset, caseload indexes.

Fills ``identity_lookups`` (keyed hashes of normalised names, NHS numbers and dates of birth,
see ``store/blind.py``) and ``infants.birth_offset_days`` for existing rows, which needs the
identifier key (decrypting each identity once, here, instead of at every search).

Revision ID: 0300 (revises 0210), 2026-12-04.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from alembic import context, op

from attunement.store.migrations import _ops

revision, down_revision, branch_labels, depends_on = "0300", "0210", None, None


def _keyring(bind: Any) -> Any:
    provider = context.config.attributes.get("keyring")
    if provider is None:
        raise RuntimeError(
            "this upgrade fills the identifiers' blind index and needs the identifier key "
            "file: run it through attunement (any command that opens the store), not bare alembic"
        )
    keys = provider(False)
    recorded = bind.execute(sa.text("SELECT value FROM settings WHERE key = 'key_id'")).scalar()
    if recorded is not None and recorded != keys.key_id:
        raise RuntimeError("the identifier key file is not the key this database was encrypted with")
    return keys


def _fill(bind: Any) -> None:
    from attunement.store.blind import lookup_values

    if bind.execute(sa.text("SELECT 1 FROM identities")).first() is None:
        return
    keys = _keyring(bind)
    due = dict(bind.execute(sa.text("SELECT id, due_date FROM infants")).all())
    rows = bind.execute(
        sa.text("SELECT family_id, subject_kind, subject_id, ciphertext FROM identities")
    ).all()
    lookups = []
    for family_id, kind, subject_id, blob in rows:
        data = keys.decrypt(bytes(blob), f"{kind}:{subject_id}")
        lookups.extend(
            {"f": family_id, "k": kind, "s": subject_id, "field": field,
             "d": keys.blind_index(field, value)}
            for field, value in lookup_values(data)
        )
        born = data.get("date_of_birth")
        if kind == "infant" and born and due.get(subject_id) is not None:
            due_day = due[subject_id]
            due_day = due_day if isinstance(due_day, date) else date.fromisoformat(str(due_day)[:10])
            bind.execute(
                sa.text("UPDATE infants SET birth_offset_days = :o WHERE id = :i"),
                {"o": (date.fromisoformat(born[:10]) - due_day).days, "i": subject_id},
            )
    if lookups:
        bind.execute(
            sa.text("INSERT INTO identity_lookups (family_id, subject_kind, subject_id, field, "
                    "digest) VALUES (:f, :k, :s, :field, :d)"),
            lookups,
        )


def upgrade() -> None:
    _ops.create_table(
        "identity_lookups",
        """id int, family_id int, subject_kind str(20), subject_id int, field str(20),
        digest str(64)""",
        references={"family_id": "families"},
        indexed=["family_id"],
    )
    # plain CREATE INDEX (no batch copy: assessments carries guard triggers)
    op.create_index("ix_identity_lookups_digest", "identity_lookups", ["digest"])
    op.create_index(
        "ix_identity_lookups_subject", "identity_lookups", ["subject_kind", "subject_id"]
    )
    _ops.add_columns("infants", "birth_offset_days int?")
    op.create_index(
        "ix_assessments_done", "assessments", ["caregiver_id", "instrument", "time_point"]
    )
    op.create_index("ix_assessments_family_completed", "assessments", ["family_id", "completed_on"])
    op.create_index("ix_alerts_status_family", "alerts", ["status", "family_id"])
    op.create_index("ix_alerts_status_id", "alerts", ["status", "id"])
    _fill(op.get_bind())


def downgrade() -> None:
    for name, table in (("ix_alerts_status_id", "alerts"), ("ix_alerts_status_family", "alerts"),
                        ("ix_assessments_family_completed", "assessments"),
                        ("ix_assessments_done", "assessments")):
        op.drop_index(name, table_name=table)
    _ops.batch_drop_columns("infants", "birth_offset_days")
    op.drop_table("identity_lookups")
