"""prints: a file the CMMS could not take yet is retried (lease) unless it refused it (refusal)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models.base

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("prints", sa.Column("cmms_refusal", sa.String(length=500), nullable=True))
    op.add_column(
        "prints",
        sa.Column(
            "cmms_attach_lease_until",
            storage.models.base.UtcDateTime(timezone=True),
            nullable=True,
        ),
    )
    # Prints left unattached before this revision may have been refused: don't retry them
    # (and message their owners) out of the blue. Filing one again retries it.
    op.execute(
        sa.text(
            "UPDATE prints SET cmms_refusal = :reason "
            "WHERE asset_id IS NOT NULL AND cmms_attachment_id IS NULL"
        ).bindparams(reason="not attached before automatic retries existed")
    )


def downgrade() -> None:
    with op.batch_alter_table("prints") as batch:
        batch.drop_column("cmms_attach_lease_until")
        batch.drop_column("cmms_refusal")
