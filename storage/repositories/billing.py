"""Stripe events, customers and subscriptions. Never commits: the unit of work does."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import BillingCustomer, BillingSubscription, StripeEvent


class BillingRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # -- events ------------------------------------------------------------------------
    async def event_seen(self, event_id: str) -> bool:
        found = await self.session.scalar(select(StripeEvent.id).where(StripeEvent.id == event_id))
        return found is not None

    async def add_event(self, event: StripeEvent) -> StripeEvent:
        self.session.add(event)
        await self.session.flush()
        return event

    def record_event(self, event: StripeEvent) -> None:
        """Written by the next flush (the commit's), together with the event's effect."""
        self.session.add(event)

    async def event(self, event_id: str) -> StripeEvent | None:
        return await self.session.get(StripeEvent, event_id)

    # -- customers -----------------------------------------------------------------------
    async def customer(self, stripe_customer_id: str) -> BillingCustomer | None:
        return await self.session.get(BillingCustomer, stripe_customer_id)

    async def link_customer(self, stripe_customer_id: str, user_id: int) -> BillingCustomer:
        customer = await self.customer(stripe_customer_id)
        if customer is None:
            customer = BillingCustomer(stripe_customer_id=stripe_customer_id, user_id=user_id)
            self.session.add(customer)
            await self.session.flush()
        else:
            customer.user_id = user_id
        return customer

    async def customers_of(self, user_id: int) -> list[BillingCustomer]:
        query = select(BillingCustomer).where(BillingCustomer.user_id == user_id)
        return list(await self.session.scalars(query.order_by(BillingCustomer.created_at)))

    # -- subscriptions -------------------------------------------------------------------
    async def subscription(
        self, stripe_subscription_id: str, *, for_update: bool = False
    ) -> BillingSubscription | None:
        query = select(BillingSubscription).where(
            BillingSubscription.stripe_subscription_id == stripe_subscription_id
        )
        if for_update:
            query = query.with_for_update()
        return await self.session.scalar(query)

    async def subscription_by_checkout(self, session_id: str) -> BillingSubscription | None:
        return await self.session.scalar(
            select(BillingSubscription).where(BillingSubscription.checkout_session_id == session_id)
        )

    async def add_subscription(self, subscription: BillingSubscription) -> BillingSubscription:
        self.session.add(subscription)
        await self.session.flush()
        return subscription

    async def subscriptions_of(self, user_id: int) -> list[BillingSubscription]:
        query = select(BillingSubscription).where(BillingSubscription.user_id == user_id)
        return list(await self.session.scalars(query.order_by(BillingSubscription.id)))

    async def unlinked_for_customer(self, stripe_customer_id: str) -> list[BillingSubscription]:
        query = select(BillingSubscription).where(
            BillingSubscription.stripe_customer_id == stripe_customer_id,
            BillingSubscription.user_id.is_(None),
        )
        return list(await self.session.scalars(query))

    async def past_due(self) -> list[BillingSubscription]:
        query = select(BillingSubscription).where(
            BillingSubscription.status == "past_due", BillingSubscription.user_id.is_not(None)
        )
        return list(await self.session.scalars(query))
