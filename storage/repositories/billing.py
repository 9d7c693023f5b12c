"""Stripe events, customers and subscriptions. Never commits: the unit of work does.

`preload` reads what a batch of events will need in a few IN queries; afterwards the look-ups it
covered are answered from memory (no SQL, so no autoflush), and anything it did not cover still
goes to the database. Answers from memory stay right because every row they consider is an ORM
object of this session, changed in place, and the only ways to create such rows are here."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from itertools import chain
from typing import Any

from sqlalchemy import Select, bindparam, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import BillingCustomer, BillingSubscription, StripeEvent, User, utcnow
from storage.repositories.pending import PendingInserts

# A batch's look-ups, built once with expanding IN parameters: building them for each batch cost
# more than SQLite's answers.
_SEEN = select(StripeEvent.id).where(StripeEvent.id.in_(bindparam("ids", expanding=True)))
_CUSTOMERS = select(BillingCustomer).where(
    BillingCustomer.stripe_customer_id.in_(bindparam("ids", expanding=True))
)
_USERS = select(User).where(User.id.in_(bindparam("ids", expanding=True)))
_WITH_USERS = select(BillingSubscription, User).outerjoin(
    User, User.id == BillingSubscription.user_id
)
_OF_BATCH = BillingSubscription.stripe_subscription_id.in_(bindparam("ids", expanding=True))
# The batch's subscriptions, and every other subscription of their users.
_SUBSCRIPTIONS_AND_SIBLINGS = _WITH_USERS.where(
    or_(
        _OF_BATCH,
        BillingSubscription.user_id.in_(select(BillingSubscription.user_id).where(_OF_BATCH)),
    )
)
_SUBSCRIPTIONS_OF_USERS = _WITH_USERS.where(
    BillingSubscription.user_id.in_(bindparam("ids", expanding=True))
)


class BillingRepository:
    def __init__(self, session: AsyncSession, pending: PendingInserts) -> None:
        self.session = session
        self._pending = pending
        self._event_seen: dict[str, bool] = {}
        self._subscriptions: dict[str, BillingSubscription | None] = {}
        self._absent_customers: set[str] = set()
        self._users_fully_loaded: set[int] = set()
        # The session's identity map holds objects weakly: these keep the preloaded ones there.
        self._preloaded: list[object] = []

    async def preload(
        self,
        *,
        event_ids: Collection[str],
        subscription_ids: Collection[str],
        customer_ids: Collection[str],
        user_ids: Collection[int],
    ) -> None:
        """Load, for a batch of events: whether each was seen, the subscriptions with their users
        and those users' other subscriptions, the customers, and the users referenced otherwise
        (with their subscriptions)."""
        if event_ids:
            seen = set(await self.session.scalars(_SEEN, {"ids": list(event_ids)}))
            self._event_seen.update({event_id: event_id in seen for event_id in event_ids})
        users_loaded: set[int] = set()
        if subscription_ids:
            rows = await self._subscriptions_with_users(
                _SUBSCRIPTIONS_AND_SIBLINGS, list(subscription_ids)
            )
            found = {row.stripe_subscription_id: row for row in rows}
            self._subscriptions.update({sid: found.get(sid) for sid in subscription_ids})
            users_loaded = {row.user_id for row in found.values() if row.user_id is not None}
        users = set(user_ids)
        if customer_ids:
            customers = await self.session.scalars(_CUSTOMERS, {"ids": list(customer_ids)})
            known = {customer.stripe_customer_id: customer for customer in customers}
            self._preloaded.extend(known.values())
            self._absent_customers.update(set(customer_ids) - known.keys())
            users.update(customer.user_id for customer in known.values())
        if users - users_loaded:
            missing = list(users - users_loaded)
            self._preloaded.extend((await self.session.scalars(_USERS, {"ids": missing})).all())
            await self._subscriptions_with_users(_SUBSCRIPTIONS_OF_USERS, missing)
        self._users_fully_loaded.update(users | users_loaded)

    async def _subscriptions_with_users(
        self, query: Select[BillingSubscription, User], ids: list[Any]
    ) -> list[BillingSubscription]:
        rows = (await self.session.execute(query, {"ids": ids})).all()
        self._preloaded.extend(chain.from_iterable(rows))
        return [subscription for subscription, _ in rows]

    # -- events ------------------------------------------------------------------------
    async def event_seen(self, event_id: str) -> bool:
        if event_id in self._event_seen:
            return self._event_seen[event_id]
        if any(row["id"] == event_id for row in self._pending.pending(StripeEvent)):
            return True
        found = await self.session.scalar(select(StripeEvent.id).where(StripeEvent.id == event_id))
        return found is not None

    def record_event(
        self, event_id: str, *, type: str, created: datetime, livemode: bool, outcome: str
    ) -> None:
        """Written at commit, together with the event's effect."""
        self._pending.add(
            StripeEvent,
            id=event_id,
            type=type,
            created=created,
            livemode=livemode,
            outcome=outcome,
            received_at=utcnow(),
        )
        self._event_seen[event_id] = True

    async def event(self, event_id: str) -> StripeEvent | None:
        return await self.session.get(StripeEvent, event_id)

    # -- customers -----------------------------------------------------------------------
    async def customer(self, stripe_customer_id: str) -> BillingCustomer | None:
        if stripe_customer_id in self._absent_customers:
            return None
        return await self.session.get(BillingCustomer, stripe_customer_id)

    async def link_customer(self, stripe_customer_id: str, user_id: int) -> BillingCustomer:
        customer = await self.customer(stripe_customer_id)
        if customer is None:
            customer = BillingCustomer(stripe_customer_id=stripe_customer_id, user_id=user_id)
            self.session.add(customer)
            await self.session.flush()
            self._absent_customers.discard(stripe_customer_id)
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
        if stripe_subscription_id in self._subscriptions:
            # Preloaded by a batch, which holds SQLite's single writer: no lock to take.
            return self._subscriptions[stripe_subscription_id]
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
        self._subscriptions[subscription.stripe_subscription_id] = subscription
        return subscription

    async def subscriptions_of(self, user_id: int) -> list[BillingSubscription]:
        if user_id in self._users_fully_loaded:
            # Every row that is or was the user's is an object of this session by now.
            loaded = chain(self.session.identity_map.values(), self.session.new)
            mine = [
                row
                for row in loaded
                if isinstance(row, BillingSubscription) and row.user_id == user_id
            ]
            return sorted(mine, key=lambda row: row.id)
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
