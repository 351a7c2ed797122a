"""Background export jobs: ``export_jobs`` records who requested which export, its progress,
the private file a worker wrote and when that file expires.

Revision ID: 0510 (revises 0500), 2026-12-04.
"""

from __future__ import annotations

from alembic import op

from attunement.store.migrations import _ops

revision, down_revision, branch_labels, depends_on = "0510", "0500", None, None


def upgrade() -> None:
    _ops.create_table(
        "export_jobs",
        """id int, requested_by int, format str(10), study_id int?, pseudonymised bool,
        status str(10), rows_done int, rows_total int?, bytes bigint?, file_path text?,
        error text?, claimed_by str(100)?, claimed_at datetime?, created_at datetime,
        finished_at datetime?, expires_at datetime?""",
        references={"requested_by": "users"},
        indexed=["requested_by"],
    )
    op.create_index("ix_export_jobs_status_created_at", "export_jobs", ["status", "created_at"])


def downgrade() -> None:
    op.drop_table("export_jobs")
