"""Server-side browser sessions and one-time password-reset links.

Revision ID: 0160 (revises 0150), 2026-12-04.
"""

from __future__ import annotations

from alembic import op

from attunement.store.migrations import _ops

revision, down_revision, branch_labels, depends_on = "0160", "0150", None, None


def upgrade() -> None:
    _ops.create_table(
        "web_sessions",
        """id int, user_id int, session_hash str(64), created_at datetime, last_seen_at datetime,
        expires_at datetime, idle_seconds int, revoked_at datetime?""",
        references={"user_id": "users"},
        unique=[("session_hash",)],
        indexed=["user_id"],
    )
    _ops.create_table(
        "password_resets",
        """id int, user_id int, token_hash str(64), created_by int?, created_at datetime,
        expires_at datetime, used_at datetime?""",
        references={"user_id": "users", "created_by": "users"},
        unique=[("token_hash",)],
        indexed=["user_id"],
    )


def downgrade() -> None:
    op.drop_table("password_resets")
    op.drop_table("web_sessions")
