"""prints: uploaded prints and the questions asked about them (Chat with Print)

Revision ID: 0005
Revises: 0001
Create Date: 2026-11-25 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models.base

revision: str = "0005"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "prints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("asset_id", sa.String(length=100), nullable=True),
        sa.Column("asset_name", sa.String(length=200), nullable=True),
        sa.Column("cmms_attachment_id", sa.String(length=200), nullable=True),
        sa.Column("stored_name", sa.String(length=100), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("mime_type", sa.String(length=100), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("used_vision", sa.Boolean(), nullable=False),
        sa.Column("created_at", storage.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_prints_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prints")),
        sa.UniqueConstraint("stored_name", name=op.f("uq_prints_stored_name")),
    )
    with op.batch_alter_table("prints", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_prints_asset_id"), ["asset_id"], unique=False)
        batch_op.create_index("ix_prints_user_created", ["user_id", "created_at"], unique=False)

    op.create_table(
        "print_questions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("print_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("pages", sa.JSON(), nullable=False),
        sa.Column("used_vision", sa.Boolean(), nullable=False),
        sa.Column("created_at", storage.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["print_id"],
            ["prints.id"],
            name=op.f("fk_print_questions_print_id_prints"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_print_questions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_print_questions")),
    )
    with op.batch_alter_table("print_questions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_print_questions_print_user", ["print_id", "user_id", "id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_print_questions_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("print_questions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_print_questions_user_id"))
        batch_op.drop_index("ix_print_questions_print_user")
    op.drop_table("print_questions")
    with op.batch_alter_table("prints", schema=None) as batch_op:
        batch_op.drop_index("ix_prints_user_created")
        batch_op.drop_index(batch_op.f("ix_prints_asset_id"))
    op.drop_table("prints")
