"""Billing tables: Stripe events seen, customers and subscriptions mirrored from Stripe."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UtcDateTime, utcnow


class StripeEvent(Base):
    """Every Stripe event applied (or deliberately ignored), written in the same transaction as
    its effect: the primary key makes a redelivery a no-op."""

    __tablename__ = "stripe_events"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100), index=True)
    created: Mapped[datetime] = mapped_column(UtcDateTime())
    livemode: Mapped[bool] = mapped_column(Boolean, default=False)
    outcome: Mapped[str] = mapped_column(String(20))  # applied | ignored | stale | pending
    received_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class BillingCustomer(Base):
    """A Stripe customer and the Rivet user it pays for."""

    __tablename__ = "billing_customers"

    stripe_customer_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class BillingSubscription(Base):
    """A Stripe subscription as last seen. `user_id` stays empty while events arrive before
    the checkout that names the user; `last_event_created` orders updates."""

    __tablename__ = "billing_subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    stripe_subscription_id: Mapped[str] = mapped_column(String(255), unique=True)
    stripe_customer_id: Mapped[str | None] = mapped_column(String(255), index=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    checkout_session_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    status: Mapped[str] = mapped_column(String(30))
    tier: Mapped[str] = mapped_column(String(20))
    current_period_end: Mapped[datetime | None] = mapped_column(UtcDateTime())
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, default=False)
    past_due_since: Mapped[datetime | None] = mapped_column(UtcDateTime())
    unpaid_invoice_id: Mapped[str | None] = mapped_column(String(255))
    last_event_created: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)
