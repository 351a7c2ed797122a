"""Trial designs and allocations (attunement.store.trials); allocations are append-only.

Revision ID: 0100 (revises 0001), 2026-11-26.
"""

from __future__ import annotations

from alembic import op

from attunement.store.migrations import _ops

revision, down_revision, branch_labels, depends_on = "0100", "0001", None, None

_MESSAGE = "trial allocations are never changed or deleted"


def upgrade() -> None:
    _ops.create_table(
        "trial_designs",
        """id int, study_id int, method str(20), design json, levels json, consent_kind str(50),
        secret_ciphertext bytes, key_id str(32), fingerprint str(32), created_by int?,
        created_at datetime""",
        references={"created_by": "users", "study_id": "studies"},
        unique=[("study_id",)],
    )
    _ops.create_table(
        "trial_allocations",
        """id int, study_id int, family_id int, design_id int, sequence int, arm str(100),
        stratum text, inputs json, details json, algorithm str(100), fingerprint str(32),
        allocated_by int?, allocated_by_email str(320), allocated_at datetime, audit_id int""",
        references={"allocated_by": "users", "design_id": "trial_designs",
                    "family_id": "families", "study_id": "studies"},
        unique=[
            _ops.Unique("uq_trial_allocations_study_family", ("study_id", "family_id")),
            _ops.Unique("uq_trial_allocations_study_sequence", ("study_id", "sequence")),
        ],
        indexed=["family_id", "study_id"],
    )
    _ops.execute_for_dialect(
        postgresql=_ops.append_only_postgresql(
            "trial_allocations", _MESSAGE, "trial_allocations_immutable"
        ),
        sqlite=_ops.append_only_sqlite("trial_allocations", _MESSAGE),
    )


def downgrade() -> None:
    _ops.drop_append_only_postgresql("trial_allocations", "trial_allocations_immutable")
    op.drop_table("trial_allocations")  # SQLite drops its triggers with the table
    op.drop_table("trial_designs")
