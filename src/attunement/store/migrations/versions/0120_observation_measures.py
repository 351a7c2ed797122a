"""Measures of each coded session, computed once at upload (attunement.store.observation_measures).

Revision ID: 0120
Revises: 0110
Create Date: 2026-12-04 13:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0120"
down_revision = "0110"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "observation_measures",
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("n_events", sa.Integer(), nullable=False),
        # AES-GCM of the measures (session names and actor labels come from the file)
        sa.Column("measures_ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("algorithm", sa.String(length=100), nullable=False),
        sa.Column("computed_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["observation_sessions.id"],
            name=op.f("fk_observation_measures_session_id_observation_sessions"),
        ),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_observation_measures")),
    )


def downgrade() -> None:
    op.drop_table("observation_measures")
