"""${message}

Revision ID: ${up_revision} (revises ${down_revision | comma,n}), ${create_date.date()}.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from attunement.store.migrations import _ops
${imports if imports else ""}
revision, down_revision, branch_labels, depends_on = ${repr(up_revision)}, ${repr(down_revision)}, ${repr(branch_labels)}, ${repr(depends_on)}


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    ${downgrades if downgrades else "pass"}
