"""users.cmms_user_id: the user's account in the CMMS (Atlas), created at provisioning

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("cmms_user_id", sa.String(length=100), nullable=True))
    op.add_column("users", sa.Column("cmms_account_refusal", sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("cmms_account_refusal")
        batch.drop_column("cmms_user_id")
