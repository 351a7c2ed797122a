"""The caseload's schedule kept as data: ``caseload_summary``, one row per family with its open
alerts, overdue and due item counts, last assessment and the next day those counts change,
and ``caseload_time_points``, the time points at which each family has an item due or overdue
(docs/caseload-queries.md). Filled here for existing families by the caseload's SQL rule.
Revision 0520, after 0510 (2026-12-04).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.orm import Session

revision, down_revision = "0520", "0510"
branch_labels = depends_on = None


def _int(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.Integer(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "caseload_summary",
        sa.Column("family_id", sa.Integer(), autoincrement=False, nullable=False),
        _int("site_id"), _int("study_id", True),
        sa.Column("code", sa.String(length=100), nullable=False),
        _int("created_by", True), _int("open_alerts"), _int("n_overdue"), _int("n_due"),
        sa.Column("last_assessed", sa.Date(), nullable=True),
        _int("computed_on"), _int("changes_on", True),
        sa.ForeignKeyConstraint(["family_id"], ["families.id"],
                                name=op.f("fk_caseload_summary_family_id_families")),
        sa.PrimaryKeyConstraint("family_id", name=op.f("pk_caseload_summary")),
    )
    op.create_index("ix_caseload_summary_site_overdue", "caseload_summary",
                    ["site_id", "n_overdue"])
    op.create_index("ix_caseload_summary_changes_on", "caseload_summary", ["changes_on"])
    op.create_index("ix_caseload_summary_computed_on", "caseload_summary", ["computed_on"])
    op.create_index("ix_caseload_summary_site_order", "caseload_summary", [
        "site_id", sa.text("open_alerts DESC"), sa.text("n_overdue DESC"), "code", "family_id"])
    op.create_index("ix_caseload_summary_study_order", "caseload_summary", [
        "study_id", sa.text("open_alerts DESC"), sa.text("n_overdue DESC"), "family_id"])
    op.create_index("ix_caseload_summary_order", "caseload_summary", [
        sa.text("open_alerts DESC"), sa.text("n_overdue DESC"), "code", "family_id"])
    op.create_index("ix_caseload_summary_mine", "caseload_summary", [
        "created_by", sa.text("open_alerts DESC"), sa.text("n_overdue DESC"), "code",
        "family_id"])
    op.create_table(
        "caseload_time_points",
        sa.Column("family_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("time_point", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(["family_id"], ["families.id"],
                                name=op.f("fk_caseload_time_points_family_id_families")),
        sa.PrimaryKeyConstraint("family_id", "time_point", name=op.f("pk_caseload_time_points")),
    )
    op.create_index("ix_caseload_time_points_time_point", "caseload_time_points",
                    ["time_point", "family_id"])
    # the rows of existing families, by the same rule the store maintains them with
    from attunement.store import schedule_summary

    schedule_summary.rebuild(Session(bind=op.get_bind()))


def downgrade() -> None:
    op.drop_index("ix_caseload_time_points_time_point", table_name="caseload_time_points")
    op.drop_table("caseload_time_points")
    for name in ("mine", "order", "study_order", "site_order", "computed_on", "changes_on",
                 "site_overdue"):
        op.drop_index(f"ix_caseload_summary_{name}", table_name="caseload_summary")
    op.drop_table("caseload_summary")
