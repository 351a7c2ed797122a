"""Caregivers' own voice (issue 13): page language, interpreter flag, released results, space.

``caregivers.page_language`` (a BCP 47 tag, NULL: the service default) chooses the item text
pack and the words of the caregiver pages; ``caregivers.interpreter_needed`` is shown on the
family page. ``result_releases`` records that a practitioner released an assessment's result
to the caregiver's own space (submitted assessments are never changed); ``caregiver_links.kind`` is ``questionnaire`` (answered
once) or ``space`` (the caregiver's own page, viewable until it expires).
``caregiver_contributions`` keeps what a caregiver told the service from their space: their
wishes (goals, preferred contact, other carers) and feedback on intervention sessions.

Revision ID: 0400
Revises: 0300
Create Date: 2026-12-04 14:35:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0400"
down_revision = "0300"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("caregivers", sa.Column("page_language", sa.String(length=35), nullable=True))
    op.add_column("caregivers", sa.Column("interpreter_needed", sa.Boolean(), nullable=False,
                                          server_default=sa.false()))
    op.create_table(
        "result_releases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("assessment_id", sa.Integer(), nullable=False),
        sa.Column("family_id", sa.Integer(), nullable=False),
        sa.Column("caregiver_id", sa.Integer(), nullable=False),
        sa.Column("released_by", sa.Integer(), nullable=True),
        sa.Column("released_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["assessment_id"], ["assessments.id"],
                                name=op.f("fk_result_releases_assessment_id_assessments")),
        sa.ForeignKeyConstraint(["family_id"], ["families.id"],
                                name=op.f("fk_result_releases_family_id_families")),
        sa.ForeignKeyConstraint(["caregiver_id"], ["caregivers.id"],
                                name=op.f("fk_result_releases_caregiver_id_caregivers")),
        sa.ForeignKeyConstraint(["released_by"], ["users.id"],
                                name=op.f("fk_result_releases_released_by_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_result_releases")),
        sa.UniqueConstraint("assessment_id", name=op.f("uq_result_releases_assessment_id")),
    )
    op.create_index(op.f("ix_result_releases_family_id"), "result_releases", ["family_id"])
    op.create_index(op.f("ix_result_releases_caregiver_id"), "result_releases",
                    ["caregiver_id"])
    op.create_table(
        "caregiver_contributions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("family_id", sa.Integer(), nullable=False),
        sa.Column("caregiver_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("episode_id", sa.Integer(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["family_id"], ["families.id"],
                                name=op.f("fk_caregiver_contributions_family_id_families")),
        sa.ForeignKeyConstraint(["caregiver_id"], ["caregivers.id"],
                                name=op.f("fk_caregiver_contributions_caregiver_id_caregivers")),
        sa.ForeignKeyConstraint(["episode_id"], ["episodes.id"],
                                name=op.f("fk_caregiver_contributions_episode_id_episodes")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_caregiver_contributions")),
    )
    op.create_index(op.f("ix_caregiver_contributions_family_id"), "caregiver_contributions",
                    ["family_id"])
    op.create_index(op.f("ix_caregiver_contributions_caregiver_id"), "caregiver_contributions",
                    ["caregiver_id"])
    op.add_column("caregiver_links", sa.Column("kind", sa.String(length=20), nullable=False,
                                               server_default="questionnaire"))


def downgrade() -> None:
    with op.batch_alter_table("caregiver_links") as batch:
        batch.drop_column("kind")
    op.drop_table("result_releases")
    op.drop_table("caregiver_contributions")
    # a plain DROP COLUMN (SQLite 3.35+, PostgreSQL): a batch copy of caregivers would drop
    # the table other tables' foreign keys point at
    op.execute("ALTER TABLE caregivers DROP COLUMN interpreter_needed")
    op.execute("ALTER TABLE caregivers DROP COLUMN page_language")
