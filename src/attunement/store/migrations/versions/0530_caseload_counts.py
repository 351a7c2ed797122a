"""The caseload's counts kept as data: ``caseload_counts``, how many families of
``caseload_summary`` share a site, study, registering user, time point and state (urgent,
overdue), so the counts shown with the caseload are a sum of a few rows, not a count over
every family of a site (docs/caseload-queries.md). Filled here from the summary. And
``ix_families_code``: a search by family code is an index range for every role (the
``(site_id, code)`` index serves only a search within known sites).
Revision 0530, after 0520 (2026-12-04).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.orm import Session

revision, down_revision = "0530", "0520"
branch_labels = depends_on = None


def upgrade() -> None:
    op.create_table(
        "caseload_counts",
        sa.Column("site_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("study_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("created_by", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("time_point", sa.String(length=100), nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("overdue", sa.Boolean(), nullable=False),
        sa.Column("families", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("site_id", "study_id", "created_by", "time_point", "urgent",
                                "overdue", name=op.f("pk_caseload_counts")),
    )
    op.create_index("ix_caseload_counts_study_id", "caseload_counts", ["study_id"])
    op.create_index("ix_families_code", "families", ["code"])
    from attunement.store import schedule_summary

    schedule_summary.recount(Session(bind=op.get_bind()))


def downgrade() -> None:
    op.drop_index("ix_families_code", table_name="families")
    op.drop_index("ix_caseload_counts_study_id", table_name="caseload_counts")
    op.drop_table("caseload_counts")
