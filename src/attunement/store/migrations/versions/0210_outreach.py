"""Outreach: the durable message/job record and caregivers' contact preferences.

Revision ID: 0210
Revises: 0200
Create Date: 2026-12-04 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0210"
down_revision = "0200"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "contact_preferences",
        sa.Column("caregiver_id", sa.Integer(), nullable=False),
        sa.Column("family_id", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=10), nullable=False),
        sa.Column("opted_out", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["caregiver_id"], ["caregivers.id"],
            name=op.f("fk_contact_preferences_caregiver_id_caregivers"),
        ),
        sa.ForeignKeyConstraint(
            ["family_id"], ["families.id"], name=op.f("fk_contact_preferences_family_id_families")
        ),
        sa.PrimaryKeyConstraint("caregiver_id", name=op.f("pk_contact_preferences")),
    )
    op.create_index(
        op.f("ix_contact_preferences_family_id"), "contact_preferences", ["family_id"]
    )
    op.create_table(
        "outreach_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("stage", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("family_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("caregiver_id", sa.Integer(), nullable=True),
        sa.Column("alert_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("staff_address", sa.String(length=320), nullable=True),
        sa.Column("instrument", sa.String(length=50), nullable=True),
        sa.Column("time_point", sa.String(length=100), nullable=True),
        sa.Column("language", sa.String(length=35), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("not_before", sa.DateTime(), nullable=False),
        sa.Column("claimed_by", sa.String(length=100), nullable=True),
        sa.Column("claimed_at", sa.DateTime(), nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.id"], name=op.f("fk_outreach_messages_alert_id_alerts")
        ),
        sa.ForeignKeyConstraint(
            ["caregiver_id"], ["caregivers.id"],
            name=op.f("fk_outreach_messages_caregiver_id_caregivers"),
        ),
        sa.ForeignKeyConstraint(
            ["family_id"], ["families.id"], name=op.f("fk_outreach_messages_family_id_families")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_outreach_messages_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outreach_messages")),
        sa.UniqueConstraint("key", name=op.f("uq_outreach_messages_key")),
    )
    op.create_index(
        op.f("ix_outreach_messages_family_id"), "outreach_messages", ["family_id"]
    )
    op.create_index(
        "ix_outreach_messages_status_not_before", "outreach_messages", ["status", "not_before"]
    )
    op.create_index(
        op.f("ix_outreach_messages_caregiver_id"), "outreach_messages", ["caregiver_id"]
    )


def downgrade() -> None:
    op.drop_table("outreach_messages")
    op.drop_table("contact_preferences")
