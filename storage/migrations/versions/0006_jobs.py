"""jobs: work-order watches for the CMMS status sync

Revision ID: 0006
Revises: 0003
Create Date: 2026-11-26 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models.base

revision: str = "0006"
# The watches point at the CMMS write outbox's rows.
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "work_order_watches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("cmms_backend", sa.String(length=20), nullable=False),
        sa.Column("cmms_id", sa.String(length=100), nullable=False),
        sa.Column("number", sa.String(length=100), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("note_keys", sa.JSON(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("closed_at", storage.models.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("next_check_at", storage.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("created_at", storage.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", storage.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["work_order_requests.id"],
            name=op.f("fk_work_order_watches_request_id_work_order_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_order_watches")),
        sa.UniqueConstraint("request_id", name=op.f("uq_work_order_watches_request_id")),
    )
    with op.batch_alter_table("work_order_watches", schema=None) as batch_op:
        batch_op.create_index(
            "ix_work_order_watches_due", ["active", "next_check_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("work_order_watches", schema=None) as batch_op:
        batch_op.drop_index("ix_work_order_watches_due")
    op.drop_table("work_order_watches")
