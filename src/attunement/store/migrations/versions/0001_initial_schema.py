"""Initial schema, with the triggers that keep the audit log append-only.

Revision ID: 0001
Revises:
Create Date: 2026-11-26 09:42:15.816689
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


AUDIT_GUARD_SQLITE = (
    "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
    "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
    # a submitted assessment is never overwritten: corrections are new rows
    "CREATE TRIGGER assessments_no_update BEFORE UPDATE ON assessments "
    "BEGIN SELECT RAISE(ABORT, 'submitted assessments are never changed; add a correction'); END",
    "CREATE TRIGGER assessments_no_delete BEFORE DELETE ON assessments "
    "BEGIN SELECT RAISE(ABORT, 'submitted assessments are never changed; add a correction'); END",
)
AUDIT_GUARD_POSTGRES = (
    """CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$""",
    "CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log "
    "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
    "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()",
    """CREATE FUNCTION assessments_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'submitted assessments are never changed; add a correction'; END $$""",
    "CREATE TRIGGER assessments_no_change BEFORE UPDATE OR DELETE ON assessments "
    "FOR EACH ROW EXECUTE FUNCTION assessments_immutable()",
)


def _guard_audit_log() -> None:
    dialect = op.get_bind().dialect.name
    for statement in AUDIT_GUARD_POSTGRES if dialect == "postgresql" else AUDIT_GUARD_SQLITE:
        op.execute(statement)


def upgrade() -> None:
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_id", sa.Integer(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", sa.String(length=40), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor_email", sa.String(length=320), nullable=False),
        sa.Column("actor_role", sa.String(length=20), nullable=False),
        sa.Column("action", sa.String(length=50), nullable=False),
        sa.Column("entity", sa.String(length=50), nullable=False),
        sa.Column("entity_id", sa.String(length=50), nullable=True),
        sa.Column("family_id", sa.Integer(), nullable=True),
        sa.Column("site_id", sa.Integer(), nullable=True),
        sa.Column("before", sa.Text(), nullable=True),
        sa.Column("after", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("client", sa.String(length=100), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_family_id"), ["family_id"], unique=False)

    op.create_table(
        "login_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("client", sa.String(length=100), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_attempts")),
    )
    with op.batch_alter_table("login_attempts", schema=None) as batch_op:
        batch_op.create_index("ix_login_attempts_email_at", ["email", "at"], unique=False)

    op.create_table(
        "settings",
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_settings")),
    )
    op.create_table(
        "sites",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sites")),
        sa.UniqueConstraint("name", name=op.f("uq_sites_name")),
    )
    op.create_table(
        "studies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_studies")),
        sa.UniqueConstraint("name", name=op.f("uq_studies_name")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_tokens_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_tokens_user_id"), ["user_id"], unique=False)

    op.create_table(
        "families",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=True),
        sa.Column("code", sa.String(length=100), nullable=False),
        sa.Column("placement", sa.String(length=30), nullable=False),
        sa.Column("context", sa.JSON(), nullable=False),
        sa.Column("assessed_on", sa.Date(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_families_created_by_users")
        ),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_families_site_id_sites")),
        sa.ForeignKeyConstraint(
            ["study_id"], ["studies.id"], name=op.f("fk_families_study_id_studies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_families")),
        sa.UniqueConstraint("site_id", "code", name=op.f("uq_families_site_id")),
    )
    with op.batch_alter_table("families", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_families_site_id"), ["site_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_families_study_id"), ["study_id"], unique=False)

    op.create_table(
        "memberships",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_memberships_site_id_sites")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_memberships_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_memberships")),
        sa.UniqueConstraint("user_id", "site_id", name=op.f("uq_memberships_user_id")),
    )
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_memberships_site_id"), ["site_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_memberships_user_id"), ["user_id"], unique=False)

    op.create_table(
        "study_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["study_id"], ["studies.id"], name=op.f("fk_study_members_study_id_studies")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_study_members_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_study_members")),
        sa.UniqueConstraint("study_id", "user_id", name=op.f("uq_study_members_study_id")),
    )
    with op.batch_alter_table("study_members", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_study_members_study_id"), ["study_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_study_members_user_id"), ["user_id"], unique=False)

    op.create_table(
        "study_sites",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_study_sites_site_id_sites")
        ),
        sa.ForeignKeyConstraint(
            ["study_id"], ["studies.id"], name=op.f("fk_study_sites_study_id_studies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_study_sites")),
        sa.UniqueConstraint("study_id", "site_id", name=op.f("uq_study_sites_study_id")),
    )
    with op.batch_alter_table("study_sites", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_study_sites_site_id"), ["site_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_study_sites_study_id"), ["study_id"], unique=False)

    op.create_table(
        "time_points",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("offset_days", sa.Integer(), nullable=False),
        sa.Column("window_days", sa.Integer(), nullable=False),
        sa.Column("anchor", sa.String(length=20), nullable=False),
        sa.Column("instruments", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["study_id"], ["studies.id"], name=op.f("fk_time_points_study_id_studies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_time_points")),
        sa.UniqueConstraint("study_id", "name", name=op.f("uq_time_points_study_id")),
    )
    with op.batch_alter_table("time_points", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_time_points_study_id"), ["study_id"], unique=False)

    op.create_table(
        "caregivers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("family_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=30), nullable=False),
        sa.Column("age", sa.Integer(), nullable=True),
        sa.Column("first_time_parent", sa.Boolean(), nullable=True),
        sa.Column("context", sa.JSON(), nullable=False),
        sa.Column("variants", sa.JSON(), nullable=False),
        sa.Column("joined_on", sa.Date(), nullable=True),
        sa.Column("left_on", sa.Date(), nullable=True),
        sa.Column("left_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["family_id"], ["families.id"], name=op.f("fk_caregivers_family_id_families")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_caregivers")),
        sa.UniqueConstraint("family_id", "key", name=op.f("uq_caregivers_family_id")),
    )
    with op.batch_alter_table("caregivers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_caregivers_family_id"), ["family_id"], unique=False)

    op.create_table(
        "episodes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("family_id", sa.Integer(), nullable=False),
        sa.Column("programme", sa.String(length=100), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("caregivers", sa.JSON(), nullable=False),
        sa.Column("sessions_offered", sa.Integer(), nullable=True),
        sa.Column("sessions_attended", sa.Integer(), nullable=True),
        sa.Column("fidelity_notes", sa.Text(), nullable=True),
        sa.Column("end_reason", sa.Text(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_episodes_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["family_id"], ["families.id"], name=op.f("fk_episodes_family_id_families")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_episodes")),
    )
    with op.batch_alter_table("episodes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_episodes_family_id"), ["family_id"], unique=False)

    op.create_table(
        "identities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("family_id", sa.Integer(), nullable=False),
        sa.Column("subject_kind", sa.String(length=20), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["family_id"], ["families.id"], name=op.f("fk_identities_family_id_families")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identities")),
        sa.UniqueConstraint("subject_kind", "subject_id", name=op.f("uq_identities_subject_kind")),
    )
    with op.batch_alter_table("identities", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_identities_family_id"), ["family_id"], unique=False)

    op.create_table(
        "infants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("family_id", sa.Integer(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("gestation_weeks", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(
            ["family_id"], ["families.id"], name=op.f("fk_infants_family_id_families")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_infants")),
    )
    with op.batch_alter_table("infants", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_infants_family_id"), ["family_id"], unique=False)

    op.create_table(
        "observation_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("family_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("uploaded_by", sa.Integer(), nullable=True),
        sa.Column("uploaded_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["family_id"], ["families.id"], name=op.f("fk_observation_sessions_family_id_families")
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by"], ["users.id"], name=op.f("fk_observation_sessions_uploaded_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_observation_sessions")),
    )
    with op.batch_alter_table("observation_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_observation_sessions_family_id"), ["family_id"], unique=False
        )

    op.create_table(
        "assessments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("family_id", sa.Integer(), nullable=False),
        sa.Column("caregiver_id", sa.Integer(), nullable=False),
        sa.Column("instrument", sa.String(length=50), nullable=False),
        sa.Column("instrument_version", sa.String(length=50), nullable=False),
        sa.Column("time_point", sa.String(length=100), nullable=False),
        sa.Column("instance", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("input_kind", sa.String(length=20), nullable=False),
        sa.Column("responses", sa.JSON(), nullable=False),
        sa.Column("item_scores", sa.JSON(), nullable=False),
        sa.Column("scores", sa.JSON(), nullable=False),
        sa.Column("flags", sa.JSON(), nullable=False),
        sa.Column("corrected_from", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("submitted_by", sa.Integer(), nullable=True),
        sa.Column("submitted_via", sa.String(length=20), nullable=False),
        sa.Column("submitted_at", sa.DateTime(), nullable=False),
        sa.Column("completed_on", sa.Date(), nullable=False),
        sa.Column("submission_key", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(
            ["caregiver_id"], ["caregivers.id"], name=op.f("fk_assessments_caregiver_id_caregivers")
        ),
        sa.ForeignKeyConstraint(
            ["corrected_from"],
            ["assessments.id"],
            name=op.f("fk_assessments_corrected_from_assessments"),
        ),
        sa.ForeignKeyConstraint(
            ["family_id"], ["families.id"], name=op.f("fk_assessments_family_id_families")
        ),
        sa.ForeignKeyConstraint(
            ["submitted_by"], ["users.id"], name=op.f("fk_assessments_submitted_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assessments")),
        sa.UniqueConstraint(
            "caregiver_id",
            "instrument",
            "time_point",
            "instance",
            "version",
            name=op.f("uq_assessments_caregiver_id"),
        ),
        sa.UniqueConstraint("submission_key", name=op.f("uq_assessments_submission_key")),
    )
    with op.batch_alter_table("assessments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_assessments_caregiver_id"), ["caregiver_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_assessments_family_id"), ["family_id"], unique=False)
        batch_op.create_index(
            "ix_assessments_family_instrument", ["family_id", "instrument"], unique=False
        )

    op.create_table(
        "consents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("family_id", sa.Integer(), nullable=False),
        sa.Column("caregiver_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=50), nullable=False),
        sa.Column("version", sa.String(length=50), nullable=False),
        sa.Column("given_on", sa.Date(), nullable=False),
        sa.Column("withdrawn_on", sa.Date(), nullable=True),
        sa.Column("recorded_by", sa.Integer(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["caregiver_id"], ["caregivers.id"], name=op.f("fk_consents_caregiver_id_caregivers")
        ),
        sa.ForeignKeyConstraint(
            ["family_id"], ["families.id"], name=op.f("fk_consents_family_id_families")
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by"], ["users.id"], name=op.f("fk_consents_recorded_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consents")),
    )
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_consents_family_id"), ["family_id"], unique=False)

    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("family_id", sa.Integer(), nullable=False),
        sa.Column("caregiver_id", sa.Integer(), nullable=False),
        sa.Column("assessment_id", sa.Integer(), nullable=False),
        sa.Column("flag_id", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("acknowledged_by", sa.Integer(), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["acknowledged_by"], ["users.id"], name=op.f("fk_alerts_acknowledged_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["assessment_id"], ["assessments.id"], name=op.f("fk_alerts_assessment_id_assessments")
        ),
        sa.ForeignKeyConstraint(
            ["caregiver_id"], ["caregivers.id"], name=op.f("fk_alerts_caregiver_id_caregivers")
        ),
        sa.ForeignKeyConstraint(
            ["family_id"], ["families.id"], name=op.f("fk_alerts_family_id_families")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_alerts_assessment_id"), ["assessment_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_alerts_family_id"), ["family_id"], unique=False)

    op.create_table(
        "caregiver_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("family_id", sa.Integer(), nullable=False),
        sa.Column("caregiver_id", sa.Integer(), nullable=False),
        sa.Column("instrument", sa.String(length=50), nullable=False),
        sa.Column("time_point", sa.String(length=100), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.Column("assessment_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["assessment_id"],
            ["assessments.id"],
            name=op.f("fk_caregiver_links_assessment_id_assessments"),
        ),
        sa.ForeignKeyConstraint(
            ["caregiver_id"],
            ["caregivers.id"],
            name=op.f("fk_caregiver_links_caregiver_id_caregivers"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_caregiver_links_created_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["family_id"], ["families.id"], name=op.f("fk_caregiver_links_family_id_families")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_caregiver_links")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_caregiver_links_token_hash")),
    )
    with op.batch_alter_table("caregiver_links", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_caregiver_links_family_id"), ["family_id"], unique=False
        )
    _guard_audit_log()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_change ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
        op.execute("DROP TRIGGER IF EXISTS assessments_no_change ON assessments")
        op.execute("DROP FUNCTION IF EXISTS assessments_immutable()")
    with op.batch_alter_table("caregiver_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_caregiver_links_family_id"))

    op.drop_table("caregiver_links")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alerts_family_id"))
        batch_op.drop_index(batch_op.f("ix_alerts_assessment_id"))

    op.drop_table("alerts")
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consents_family_id"))

    op.drop_table("consents")
    with op.batch_alter_table("assessments", schema=None) as batch_op:
        batch_op.drop_index("ix_assessments_family_instrument")
        batch_op.drop_index(batch_op.f("ix_assessments_family_id"))
        batch_op.drop_index(batch_op.f("ix_assessments_caregiver_id"))

    op.drop_table("assessments")
    with op.batch_alter_table("observation_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_observation_sessions_family_id"))

    op.drop_table("observation_sessions")
    with op.batch_alter_table("infants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_infants_family_id"))

    op.drop_table("infants")
    with op.batch_alter_table("identities", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_identities_family_id"))

    op.drop_table("identities")
    with op.batch_alter_table("episodes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_episodes_family_id"))

    op.drop_table("episodes")
    with op.batch_alter_table("caregivers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_caregivers_family_id"))

    op.drop_table("caregivers")
    with op.batch_alter_table("time_points", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_time_points_study_id"))

    op.drop_table("time_points")
    with op.batch_alter_table("study_sites", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_study_sites_study_id"))
        batch_op.drop_index(batch_op.f("ix_study_sites_site_id"))

    op.drop_table("study_sites")
    with op.batch_alter_table("study_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_study_members_user_id"))
        batch_op.drop_index(batch_op.f("ix_study_members_study_id"))

    op.drop_table("study_members")
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_memberships_user_id"))
        batch_op.drop_index(batch_op.f("ix_memberships_site_id"))

    op.drop_table("memberships")
    with op.batch_alter_table("families", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_families_study_id"))
        batch_op.drop_index(batch_op.f("ix_families_site_id"))

    op.drop_table("families")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_tokens_user_id"))

    op.drop_table("api_tokens")
    op.drop_table("users")
    op.drop_table("studies")
    op.drop_table("sites")
    op.drop_table("settings")
    with op.batch_alter_table("login_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_login_attempts_email_at")

    op.drop_table("login_attempts")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_family_id"))

    op.drop_table("audit_log")
    op.drop_table("audit_head")
