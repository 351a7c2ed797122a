"""Trial designs and allocations (attunement.store.trials); allocations are append-only.

Revision ID: 0100
Revises: 0001
Create Date: 2026-11-26 11:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0100"
down_revision = "0001"
branch_labels = None
depends_on = None

_MESSAGE = "trial allocations are never changed or deleted"
GUARD_SQLITE = (
    "CREATE TRIGGER trial_allocations_no_update BEFORE UPDATE ON trial_allocations "
    f"BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END",
    "CREATE TRIGGER trial_allocations_no_delete BEFORE DELETE ON trial_allocations "
    f"BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END",
)
GUARD_POSTGRES = (
    f"""CREATE FUNCTION trial_allocations_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION '{_MESSAGE}'; END $$""",
    "CREATE TRIGGER trial_allocations_no_change BEFORE UPDATE OR DELETE ON trial_allocations "
    "FOR EACH ROW EXECUTE FUNCTION trial_allocations_immutable()",
    "CREATE TRIGGER trial_allocations_no_truncate BEFORE TRUNCATE ON trial_allocations "
    "FOR EACH STATEMENT EXECUTE FUNCTION trial_allocations_immutable()",
)


def upgrade() -> None:
    op.create_table(
        "trial_designs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=20), nullable=False),
        sa.Column("design", sa.JSON(), nullable=False),
        sa.Column("levels", sa.JSON(), nullable=False),
        sa.Column("consent_kind", sa.String(length=50), nullable=False),
        sa.Column("secret_ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("fingerprint", sa.String(length=32), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_trial_designs_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["study_id"], ["studies.id"], name=op.f("fk_trial_designs_study_id_studies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trial_designs")),
        sa.UniqueConstraint("study_id", name=op.f("uq_trial_designs_study_id")),
    )
    op.create_table(
        "trial_allocations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("family_id", sa.Integer(), nullable=False),
        sa.Column("design_id", sa.Integer(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("arm", sa.String(length=100), nullable=False),
        sa.Column("stratum", sa.Text(), nullable=False),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("algorithm", sa.String(length=100), nullable=False),
        sa.Column("fingerprint", sa.String(length=32), nullable=False),
        sa.Column("allocated_by", sa.Integer(), nullable=True),
        sa.Column("allocated_by_email", sa.String(length=320), nullable=False),
        sa.Column("allocated_at", sa.DateTime(), nullable=False),
        sa.Column("audit_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["allocated_by"], ["users.id"], name=op.f("fk_trial_allocations_allocated_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["design_id"],
            ["trial_designs.id"],
            name=op.f("fk_trial_allocations_design_id_trial_designs"),
        ),
        sa.ForeignKeyConstraint(
            ["family_id"], ["families.id"], name=op.f("fk_trial_allocations_family_id_families")
        ),
        sa.ForeignKeyConstraint(
            ["study_id"], ["studies.id"], name=op.f("fk_trial_allocations_study_id_studies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trial_allocations")),
        sa.UniqueConstraint("study_id", "family_id", name="uq_trial_allocations_study_family"),
        sa.UniqueConstraint("study_id", "sequence", name="uq_trial_allocations_study_sequence"),
    )
    op.create_index(
        op.f("ix_trial_allocations_family_id"), "trial_allocations", ["family_id"], unique=False
    )
    op.create_index(
        op.f("ix_trial_allocations_study_id"), "trial_allocations", ["study_id"], unique=False
    )
    dialect = op.get_bind().dialect.name
    for statement in GUARD_POSTGRES if dialect == "postgresql" else GUARD_SQLITE:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS trial_allocations_no_truncate ON trial_allocations")
        op.execute("DROP TRIGGER IF EXISTS trial_allocations_no_change ON trial_allocations")
        op.execute("DROP FUNCTION IF EXISTS trial_allocations_immutable()")
    op.drop_index(op.f("ix_trial_allocations_study_id"), table_name="trial_allocations")
    op.drop_index(op.f("ix_trial_allocations_family_id"), table_name="trial_allocations")
    op.drop_table("trial_allocations")  # SQLite drops its triggers with the table
    op.drop_table("trial_designs")
