"""Initial schema, with the triggers that keep the audit log append-only.

Revision ID: 0001 (the first), 2026-11-26.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from attunement.store.migrations import _ops

revision, down_revision, branch_labels, depends_on = "0001", None, None, None

AUDIT_MESSAGE = "audit_log is append-only"
# a submitted assessment is never overwritten: corrections are new rows
ASSESSMENT_MESSAGE = "submitted assessments are never changed; add a correction"


def _link_table(
    table: str, first: tuple[str, str], second: tuple[str, str], extra: str = ""
) -> None:
    """A row per pair of ``first`` and ``second`` (column, table it refers to), both indexed;
    foreign keys and indexes in the order of their columns' names."""
    (a, a_table), (b, b_table) = first, second
    _ops.create_table(
        table,
        f"id int, {a} int, {b} int{extra}",
        references=dict(sorted({a: a_table, b: b_table}.items())),
        unique=[(a, b)],
        indexed=sorted((a, b)),
    )


def upgrade() -> None:
    _ops.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        "last_id int, last_hash str(64)",
    )
    _ops.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        """at str(40), actor_id int?, actor_email str(320), actor_role str(20), action str(50),
        entity str(50), entity_id str(50)?, family_id int?, site_id int?, before text?,
        after text?, reason text?, client str(100), prev_hash str(64), hash str(64)""",
        indexed=["family_id"],
    )
    _ops.create_table(
        "login_attempts",
        "id int, email str(320), client str(100), success bool, at datetime",
    )
    op.create_index("ix_login_attempts_email_at", "login_attempts", ["email", "at"], unique=False)
    _ops.create_table(
        "settings",
        "key str(100), value text",
        primary_key=("key",),
    )
    _ops.create_table(
        "sites",
        "id int, name str(200), created_at datetime",
        unique=[("name",)],
    )
    _ops.create_table(
        "studies",
        "id int, name str(200), created_at datetime",
        unique=[("name",)],
    )
    _ops.create_table(
        "users",
        """id int, email str(320), password_hash str(255), role str(20), active bool,
        expires_at datetime?, created_at datetime""",
        unique=[("email",)],
    )
    _ops.create_table(
        "api_tokens",
        """id int, user_id int, token_hash str(64), created_at datetime, expires_at datetime,
        revoked_at datetime?""",
        references={"user_id": "users"},
        unique=[("token_hash",)],
        indexed=["user_id"],
    )
    _ops.create_table(
        "families",
        """id int, site_id int, study_id int?, code str(100), placement str(30), context json,
        assessed_on date?, created_by int?, created_at datetime""",
        references={"created_by": "users", "site_id": "sites", "study_id": "studies"},
        unique=[("site_id", "code")],
        indexed=["site_id", "study_id"],
    )
    _link_table("memberships", ("user_id", "users"), ("site_id", "sites"), ", role str(20)")
    _link_table("study_members", ("study_id", "studies"), ("user_id", "users"))
    _link_table("study_sites", ("study_id", "studies"), ("site_id", "sites"))
    _ops.create_table(
        "time_points",
        """id int, study_id int, name str(100), position int, offset_days int, window_days int,
        anchor str(20), instruments json""",
        references={"study_id": "studies"},
        unique=[("study_id", "name")],
        indexed=["study_id"],
    )
    _ops.create_table(
        "caregivers",
        """id int, family_id int, key str(100), role str(30), age int?, first_time_parent bool?,
        context json, variants json, joined_on date?, left_on date?, left_reason text?""",
        references={"family_id": "families"},
        unique=[("family_id", "key")],
        indexed=["family_id"],
    )
    _ops.create_table(
        "episodes",
        """id int, family_id int, programme str(100), start_date date, end_date date?,
        caregivers json, sessions_offered int?, sessions_attended int?, fidelity_notes text?,
        end_reason text?, created_by int?, created_at datetime""",
        references={"created_by": "users", "family_id": "families"},
        indexed=["family_id"],
    )
    _ops.create_table(
        "identities",
        """id int, family_id int, subject_kind str(20), subject_id int, ciphertext bytes,
        key_id str(32)""",
        references={"family_id": "families"},
        unique=[("subject_kind", "subject_id")],
        indexed=["family_id"],
    )
    _ops.create_table(
        "infants",
        "id int, family_id int, due_date date?, gestation_weeks double?",
        references={"family_id": "families"},
        indexed=["family_id"],
    )
    _ops.create_table(
        "observation_sessions",
        """id int, family_id int, filename str(255), content bytes, sha256 str(64), size int,
        metadata json, uploaded_by int?, uploaded_at datetime""",
        references={"family_id": "families", "uploaded_by": "users"},
        indexed=["family_id"],
    )
    _ops.create_table(
        "assessments",
        """id int, family_id int, caregiver_id int, instrument str(50),
        instrument_version str(50), time_point str(100), instance int, version int,
        input_kind str(20), responses json, item_scores json, scores json, flags json,
        corrected_from int?, reason text?, submitted_by int?, submitted_via str(20),
        submitted_at datetime, completed_on date, submission_key str(100)?""",
        references={"caregiver_id": "caregivers", "corrected_from": "assessments",
                    "family_id": "families", "submitted_by": "users"},
        unique=[("caregiver_id", "instrument", "time_point", "instance", "version"),
                ("submission_key",)],
        indexed=["caregiver_id", "family_id"],
    )
    op.create_index(
        "ix_assessments_family_instrument", "assessments", ["family_id", "instrument"], unique=False
    )
    _ops.create_table(
        "consents",
        """id int, family_id int, caregiver_id int?, kind str(50), version str(50), given_on date,
        withdrawn_on date?, recorded_by int?, recorded_at datetime""",
        references={"caregiver_id": "caregivers", "family_id": "families",
                    "recorded_by": "users"},
        indexed=["family_id"],
    )
    _ops.create_table(
        "alerts",
        """id int, family_id int, caregiver_id int, assessment_id int, flag_id str(100),
        kind str(30), label text, reason text, status str(20), created_at datetime,
        acknowledged_by int?, acknowledged_at datetime?, note text?""",
        references={"acknowledged_by": "users", "assessment_id": "assessments",
                    "caregiver_id": "caregivers", "family_id": "families"},
        indexed=["assessment_id", "family_id"],
    )
    _ops.create_table(
        "caregiver_links",
        """id int, token_hash str(64), family_id int, caregiver_id int, instrument str(50),
        time_point str(100), created_by int?, created_at datetime, expires_at datetime,
        used_at datetime?, assessment_id int?""",
        references={"assessment_id": "assessments", "caregiver_id": "caregivers",
                    "created_by": "users", "family_id": "families"},
        unique=[("token_hash",)],
        indexed=["family_id"],
    )
    _ops.execute_for_dialect(
        postgresql=(
            *_ops.append_only_postgresql("audit_log", AUDIT_MESSAGE, "audit_log_append_only"),
            *_ops.append_only_postgresql(
                "assessments", ASSESSMENT_MESSAGE, "assessments_immutable", truncate=False
            ),
        ),
        sqlite=(
            *_ops.append_only_sqlite("audit_log", AUDIT_MESSAGE),
            *_ops.append_only_sqlite("assessments", ASSESSMENT_MESSAGE),
        ),
    )


def downgrade() -> None:
    _ops.drop_append_only_postgresql("audit_log", "audit_log_append_only")
    _ops.drop_append_only_postgresql("assessments", "assessments_immutable", truncate=False)
    for table in (
        "caregiver_links", "alerts", "consents", "assessments", "observation_sessions", "infants",
        "identities", "episodes", "caregivers", "time_points", "study_sites", "study_members",
        "memberships", "families", "api_tokens", "users", "studies", "sites", "settings",
        "login_attempts", "audit_log", "audit_head",
    ):
        op.drop_table(table)
