"""billing: Stripe events, customers and subscriptions

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models.base

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stripe_events",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("created", storage.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("received_at", storage.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stripe_events")),
    )
    with op.batch_alter_table("stripe_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_stripe_events_type"), ["type"], unique=False)

    op.create_table(
        "billing_customers",
        sa.Column("stripe_customer_id", sa.String(length=255), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", storage.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_billing_customers_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("stripe_customer_id", name=op.f("pk_billing_customers")),
    )
    with op.batch_alter_table("billing_customers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_billing_customers_user_id"), ["user_id"], unique=False)

    op.create_table(
        "billing_subscriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("stripe_subscription_id", sa.String(length=255), nullable=False),
        sa.Column("stripe_customer_id", sa.String(length=255), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("checkout_session_id", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("tier", sa.String(length=20), nullable=False),
        sa.Column(
            "current_period_end", storage.models.base.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column("cancel_at_period_end", sa.Boolean(), nullable=False),
        sa.Column("past_due_since", storage.models.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("unpaid_invoice_id", sa.String(length=255), nullable=True),
        sa.Column(
            "last_event_created", storage.models.base.UtcDateTime(timezone=True), nullable=True
        ),
        sa.Column("created_at", storage.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", storage.models.base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_billing_subscriptions_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_subscriptions")),
        sa.UniqueConstraint(
            "checkout_session_id", name=op.f("uq_billing_subscriptions_checkout_session_id")
        ),
        sa.UniqueConstraint(
            "stripe_subscription_id", name=op.f("uq_billing_subscriptions_stripe_subscription_id")
        ),
    )
    with op.batch_alter_table("billing_subscriptions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_billing_subscriptions_stripe_customer_id"),
            ["stripe_customer_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_billing_subscriptions_user_id"), ["user_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("billing_subscriptions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_billing_subscriptions_user_id"))
        batch_op.drop_index(batch_op.f("ix_billing_subscriptions_stripe_customer_id"))
    op.drop_table("billing_subscriptions")
    with op.batch_alter_table("billing_customers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_billing_customers_user_id"))
    op.drop_table("billing_customers")
    with op.batch_alter_table("stripe_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stripe_events_type"))
    op.drop_table("stripe_events")
