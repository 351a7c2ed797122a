"""Alerts record the outcome of the safety review when acknowledged (docs/clinical-safety.md).

An alert acknowledged with an outcome is the platform's record that the safety review was done;
it releases the hold on intervention matching. Alerts acknowledged before this revision keep a
NULL outcome and so do not release it.

Revision ID: 0150 (revises 0120), 2026-12-04.
"""

from __future__ import annotations

from attunement.store.migrations import _ops

revision, down_revision, branch_labels, depends_on = "0150", "0120", None, None


def upgrade() -> None:
    _ops.add_columns("alerts", "outcome str(40)?")


def downgrade() -> None:
    _ops.batch_drop_columns("alerts", "outcome")
