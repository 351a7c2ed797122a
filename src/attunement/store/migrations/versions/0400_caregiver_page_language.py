"""Caregivers' own voice (issue 13): page language, interpreter flag, released results, space.

``caregivers.page_language`` (a BCP 47 tag, NULL: the service default) chooses the item text
pack and the words of the caregiver pages; ``caregivers.interpreter_needed`` is shown on the
family page. ``result_releases`` records that a practitioner released an assessment's result
to the caregiver's own space (submitted assessments are never changed); ``caregiver_links.kind`` is ``questionnaire`` (answered
once) or ``space`` (the caregiver's own page, viewable until it expires).
``caregiver_contributions`` keeps what a caregiver told the service from their space: their
wishes (goals, preferred contact, other carers) and feedback on intervention sessions.

Revision ID: 0400 (revises 0300), 2026-12-04.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from attunement.store.migrations import _ops

revision, down_revision, branch_labels, depends_on = "0400", "0300", None, None


def upgrade() -> None:
    _ops.add_columns("caregivers", "page_language str(35)?")
    op.add_column("caregivers", sa.Column("interpreter_needed", sa.Boolean(), nullable=False,
                                          server_default=sa.false()))
    _ops.create_table(
        "result_releases",
        """id int, assessment_id int, family_id int, caregiver_id int, released_by int?,
        released_at datetime""",
        references={"assessment_id": "assessments", "family_id": "families",
                    "caregiver_id": "caregivers", "released_by": "users"},
        unique=[("assessment_id",)],
        indexed=["family_id", "caregiver_id"],
    )
    _ops.create_table(
        "caregiver_contributions",
        """id int, family_id int, caregiver_id int, kind str(30), episode_id int?, data json,
        created_at datetime""",
        references={"family_id": "families", "caregiver_id": "caregivers",
                    "episode_id": "episodes"},
        indexed=["family_id", "caregiver_id"],
    )
    op.add_column("caregiver_links", sa.Column("kind", sa.String(length=20), nullable=False,
                                               server_default="questionnaire"))


def downgrade() -> None:
    _ops.batch_drop_columns("caregiver_links", "kind")
    op.drop_table("result_releases")
    op.drop_table("caregiver_contributions")
    _ops.drop_columns("caregivers", "interpreter_needed", "page_language")
