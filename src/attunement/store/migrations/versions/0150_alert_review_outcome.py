"""Alerts record the outcome of the safety review when acknowledged (docs/clinical-safety.md).

An alert acknowledged with an outcome is the platform's record that the safety review was done;
it releases the hold on intervention matching. Alerts acknowledged before this revision keep a
NULL outcome and so do not release it.

Revision ID: 0150
Revises: 0120
Create Date: 2026-12-04 13:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0150"
down_revision = "0120"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("alerts", sa.Column("outcome", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("outcome")
