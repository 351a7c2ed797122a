"""The schedule's registration date and an anchor for infants without a due date.

``families.registered_on``: the day the service took the family on; a schedule window that
closed before it is never due nor overdue (docs/clinical-safety.md). Existing families get the
UTC date of their ``created_at``.

``infants.birth_anchor_on``: the date of birth of an infant with no due date (NULL otherwise),
so the caseload's SQL schedule has an anchor for them (docs/caseload-queries.md). Filling it
decrypts those infants' identities, which needs the identifier key (like ``0300``).

Revision ID: 0500 (revises 0400), 2026-12-04.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from alembic import context, op

from attunement.store.migrations import _ops

revision, down_revision, branch_labels, depends_on = "0500", "0400", None, None

BATCH = 1000


def _keyring(bind: Any) -> Any:
    provider = context.config.attributes.get("keyring")
    keys = provider(False) if provider is not None else None
    recorded = bind.execute(sa.text("SELECT value FROM settings WHERE key = 'key_id'")).scalar()
    if keys is None or recorded not in (None, keys.key_id):
        raise RuntimeError(
            "filling the schedule anchor of infants without a due date decrypts their "
            "identities and needs this database's identifier key file: run the upgrade "
            "through attunement (any command that opens the store), not bare alembic"
        )
    return keys


def _day(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _fill_registered(bind: Any) -> None:
    last = 0
    while True:
        rows = bind.execute(
            sa.text("SELECT id, created_at FROM families WHERE id > :last ORDER BY id LIMIT :n"),
            {"last": last, "n": BATCH},
        ).all()
        if not rows:
            return
        # created_at is stored as UTC, so its date is the UTC date of registration
        updates = [{"d": _day(c), "i": fid} for fid, c in rows if c is not None]
        if updates:
            bind.execute(sa.text("UPDATE families SET registered_on = :d WHERE id = :i"), updates)
        last = rows[-1][0]


def _fill_anchor(bind: Any) -> None:
    rows = bind.execute(
        sa.text(
            "SELECT i.id, x.ciphertext FROM infants i JOIN identities x "
            "ON x.subject_kind = 'infant' AND x.subject_id = i.id WHERE i.due_date IS NULL"
        )
    ).all()
    if not rows:
        return
    keys = _keyring(bind)
    updates = []
    for infant_id, blob in rows:
        born = keys.decrypt(bytes(blob), f"infant:{infant_id}").get("date_of_birth")
        if born:
            updates.append({"d": date.fromisoformat(born[:10]), "i": infant_id})
    for start in range(0, len(updates), BATCH):
        bind.execute(
            sa.text("UPDATE infants SET birth_anchor_on = :d WHERE id = :i"),
            updates[start : start + BATCH],
        )


def upgrade() -> None:
    _ops.add_columns("families", "registered_on date?")
    _ops.add_columns("infants", "birth_anchor_on date?")
    bind = op.get_bind()
    _fill_registered(bind)
    _fill_anchor(bind)


def downgrade() -> None:
    _ops.drop_columns("infants", "birth_anchor_on")
    _ops.drop_columns("families", "registered_on")
