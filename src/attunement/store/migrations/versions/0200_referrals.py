"""Referrals and their stages (attunement.store.referrals).

Revision ID: 0200 (revises 0160), 2026-12-04.
"""

from __future__ import annotations

from alembic import op

from attunement.store.migrations import _ops

revision, down_revision, branch_labels, depends_on = "0200", "0160", None, None


def upgrade() -> None:
    _ops.create_table(
        "referrals",
        """id int, family_id int, caregiver_id int?, kind str(20), target str(100),
        status str(20), offered_on date, accepted_on date?, declined_on date?,
        decline_reason text?, first_session_on date?, completed_on date?, ended_on date?,
        end_reason text?, episode_id int?, history json, created_by int?, created_at datetime""",
        references={"caregiver_id": "caregivers", "created_by": "users",
                    "episode_id": "episodes", "family_id": "families"},
        indexed=["family_id"],
    )


def downgrade() -> None:
    op.drop_table("referrals")
