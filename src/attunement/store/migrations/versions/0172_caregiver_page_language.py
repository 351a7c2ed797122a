"""Caregivers: the language of their own pages and an "interpreter needed" flag (issue 13).

``page_language`` (a BCP 47 tag, NULL: the service default) chooses the item text pack and the
words of the one-time link pages; ``interpreter_needed`` is shown on the family page.

Revision ID: 0172
Revises: 0160
Create Date: 2026-12-04 14:35:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0172"
down_revision = "0160"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("caregivers", sa.Column("page_language", sa.String(length=35), nullable=True))
    op.add_column("caregivers", sa.Column("interpreter_needed", sa.Boolean(), nullable=False,
                                          server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("caregivers") as batch:
        batch.drop_column("interpreter_needed")
        batch.drop_column("page_language")
