"""Measures of each coded session, computed once at upload (attunement.store.observation_measures).

Revision ID: 0120 (revises 0110), 2026-12-04.
"""

from __future__ import annotations

from alembic import op

from attunement.store.migrations import _ops

revision, down_revision, branch_labels, depends_on = "0120", "0110", None, None


def upgrade() -> None:
    _ops.create_table(
        "observation_measures",
        # measures_ciphertext: AES-GCM of the measures (session names and actor labels come
        # from the file)
        """session_id int, settings json, n_events int, measures_ciphertext bytes,
        algorithm str(100), computed_at datetime""",
        references={"session_id": "observation_sessions"},
        primary_key=("session_id",),
    )


def downgrade() -> None:
    op.drop_table("observation_measures")
