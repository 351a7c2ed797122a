"""Outreach: the durable message/job record and caregivers' contact preferences.

Revision ID: 0210 (revises 0200), 2026-12-04.
"""

from __future__ import annotations

from alembic import op

from attunement.store.migrations import _ops

revision, down_revision, branch_labels, depends_on = "0210", "0200", None, None


def upgrade() -> None:
    _ops.create_table(
        "contact_preferences",
        """caregiver_id int, family_id int, method str(10), opted_out bool,
        updated_at datetime""",
        references={"caregiver_id": "caregivers", "family_id": "families"},
        primary_key=("caregiver_id",),
        indexed=["family_id"],
    )
    _ops.create_table(
        "outreach_messages",
        """id int, key str(200), kind str(20), stage int, channel str(10), family_id int,
        site_id int, caregiver_id int?, alert_id int?, user_id int?, staff_address str(320)?,
        instrument str(50)?, time_point str(100)?, language str(35), status str(20), attempts int,
        not_before datetime, claimed_by str(100)?, claimed_at datetime?, sent_at datetime?,
        last_error text?, created_at datetime""",
        references={"alert_id": "alerts", "caregiver_id": "caregivers",
                    "family_id": "families", "user_id": "users"},
        unique=[("key",)],
        indexed=["family_id", "caregiver_id"],
    )
    op.create_index(
        "ix_outreach_messages_status_not_before", "outreach_messages", ["status", "not_before"]
    )


def downgrade() -> None:
    op.drop_table("outreach_messages")
    op.drop_table("contact_preferences")
