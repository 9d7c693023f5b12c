"""Billing: apply verified Stripe events, provision users, answer "what plan am I on?".

Every event is recorded in `stripe_events` in the same transaction as its effect (dispatch by
type, dj-stripe style), so a redelivery is a no-op and a failure leaves nothing half-written.
Telegram messages caused by billing go into the durable outbox in that same transaction."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError

from bot import texts
from bot.domain import Tier
from bot.services.cmms_accounts import atlas_user_id
from bot.services.onboarding import OnboardingService, deep_link, hash_token
from storage.group_commit import GroupCommit
from storage.models import BillingSubscription, User, utcnow
from storage.uow import UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)

ACTOR = "stripe"
PAID_STATUSES = frozenset({"active", "trialing"})
GRACE_STATUS = "past_due"
# A subscription in one of these may be managed in the Customer Portal (not bought again).
MANAGEABLE_STATUSES = frozenset(
    {"active", "trialing", "past_due", "unpaid", "paused", "incomplete"}
)


# The button's callback data: a Customer Portal session is made when it is pressed, because
# portal links expire within minutes and a queued message may be delivered much later.
OPEN_PORTAL_CALLBACK = "billing:portal"


def bot_link(bot_username: str) -> str:
    return f"https://t.me/{bot_username}"


@dataclass(frozen=True, slots=True)
class ApplyResult:
    outcome: str  # applied | unlinked | ignored | stale | duplicate
    queued_messages: int = 0


@dataclass(frozen=True, slots=True)
class SubscriptionView:
    tier: Tier
    status: str
    current_period_end: datetime | None
    cancel_at_period_end: bool
    stripe_customer_id: str | None
    stripe_subscription_id: str
    has_paid_access: bool

    @property
    def manageable(self) -> bool:
        return self.status in MANAGEABLE_STATUSES

    def as_dict(self) -> dict[str, Any]:
        return {
            "tier": self.tier.value,
            "status": self.status,
            "current_period_end": _iso(self.current_period_end),
            "cancel_at_period_end": self.cancel_at_period_end,
            "paid_access": self.has_paid_access,
            "stripe_customer_id": self.stripe_customer_id,
            "stripe_subscription_id": self.stripe_subscription_id,
        }


@dataclass(frozen=True, slots=True)
class ProvisionResult:
    user_id: int
    created: bool
    telegram_link: str


@dataclass(frozen=True, slots=True)
class CheckoutStatus:
    ready: bool
    link: str | None = None
    tier: Tier = Tier.NONE


@dataclass(slots=True)
class _Apply:
    """One event being applied: its id and time, and what it queued."""

    uow: UnitOfWork
    event_id: str
    created: datetime
    type: str = ""
    queued: int = 0
    touched_users: set[int] = field(default_factory=set)


EventHandler = Callable[[_Apply, dict[str, Any]], Awaitable[str]]


class BillingService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        onboarding: OnboardingService,
        *,
        prices: Mapping[Tier, str],
        past_due_grace: timedelta,
        link_key: bytes | None,
        serialize_writes: bool = False,
    ) -> None:
        self._uow = uow
        # SQLite has one writer: a transaction that reads then writes fails ("database is
        # locked") when another one wrote meanwhile, so this process writes one at a time, and
        # events that arrive meanwhile are applied together in the next transaction.
        self._write_lock = asyncio.Lock() if serialize_writes else None
        self._group: GroupCommit[dict[str, Any], ApplyResult] | None = (
            GroupCommit(self._apply_batch, self._apply_alone) if serialize_writes else None
        )
        self._onboarding = onboarding
        self._prices = dict(prices)
        self._grace = past_due_grace
        self._link_key = link_key
        self._handlers: dict[str, EventHandler] = {
            "checkout.session.completed": self._checkout_completed,
            "customer.subscription.created": self._subscription_changed,
            "customer.subscription.updated": self._subscription_changed,
            "customer.subscription.deleted": self._subscription_changed,
            "invoice.payment_failed": self._invoice_payment_failed,
            "invoice.paid": self._invoice_paid,
        }

    @property
    def handled_types(self) -> list[str]:
        return list(self._handlers)

    def price_for(self, tier: Tier) -> str | None:
        return self._prices.get(tier)

    def tier_for_price(self, price: Any) -> Tier | None:
        if isinstance(price, str):
            keys = {price}
        elif isinstance(price, dict):
            keys = {str(v) for v in (price.get("id"), price.get("lookup_key")) if v}
        else:
            return None
        for tier, configured in self._prices.items():
            if configured in keys:
                return tier
        return None

    @asynccontextmanager
    async def _writing(self) -> AsyncIterator[None]:
        if self._write_lock is None:
            yield
        else:
            async with self._write_lock:
                yield

    # -- events ----------------------------------------------------------------------------
    async def apply_event(self, event: dict[str, Any]) -> ApplyResult:
        """Apply a verified event exactly once. Raises on failure (nothing is written)."""
        if self._group is not None:
            return await self._group.submit(event)
        return await self._apply_alone(event)

    async def _apply_alone(self, event: dict[str, Any]) -> ApplyResult:
        for attempt in range(2):
            try:
                async with self._writing(), self._uow() as uow:
                    result = await self._apply_in(uow, event)
                    await uow.commit()
                    return result
            except IntegrityError:
                # Lost a race: the same event (then it is a duplicate now) or the first event
                # of the same subscription (then applying again updates the winner's row).
                if attempt:
                    raise
        raise AssertionError("unreachable")

    async def _apply_batch(self, events: Sequence[dict[str, Any]]) -> list[ApplyResult]:
        """Several events in one transaction (group commit). Raises if any fails; then the
        caller applies them one by one."""
        async with self._writing(), self._uow() as uow:
            references = [_references(event) for event in events]
            await uow.billing.preload(
                event_ids={event["id"] for event in events},
                subscription_ids={ref.subscription_id for ref in references if ref.subscription_id},
                customer_ids={ref.customer_id for ref in references if ref.customer_id},
                user_ids={ref.user_id for ref in references if ref.user_id is not None},
            )
            results = [await self._apply_in(uow, event) for event in events]
            await uow.commit()
            return results

    async def _apply_in(self, uow: UnitOfWork, event: dict[str, Any]) -> ApplyResult:
        event_id = event["id"]
        if await uow.billing.event_seen(event_id):
            return ApplyResult("duplicate")
        created = datetime.fromtimestamp(event["created"], UTC)
        handler = self._handlers.get(event["type"])
        state = _Apply(uow, event_id, created, event["type"])
        if handler is None:
            outcome = "ignored"
        else:
            outcome = await handler(state, event["data"]["object"])
        # Recorded with its outcome in the commit's flush, with the effect: one INSERT (no
        # "pending" row then UPDATE). A concurrent delivery of the same event fails on the
        # primary key at commit, rolls back whole, and the retry answers "duplicate".
        uow.billing.record_event(
            event_id,
            type=event["type"],
            created=created,
            livemode=bool(event.get("livemode")),
            outcome=outcome,
        )
        return ApplyResult(outcome, state.queued)

    async def _checkout_completed(self, state: _Apply, session: dict[str, Any]) -> str:
        uow = state.uow
        if session.get("mode") != "subscription":
            return "ignored"
        session_id = str(session.get("id"))
        customer_id = _object_id(session.get("customer"))
        subscription_id = _object_id(session.get("subscription"))
        metadata = _dict(session.get("metadata"))
        details = _dict(session.get("customer_details"))
        email = details.get("email") or session.get("customer_email")
        user = await self._user_by_reference(
            uow, session.get("client_reference_id") or metadata.get("user_id")
        )
        if user is None and customer_id:
            customer = await uow.billing.customer(customer_id)
            user = await uow.users.get(customer.user_id) if customer else None
        if user is None and email:
            user, _ = await self._onboarding.upsert_user(
                uow, email=str(email), name=details.get("name"), actor=ACTOR
            )
        if user is None:
            log.warning("checkout %s has no email and no user reference; ignored", session_id)
            return "ignored"
        if user.email is None and email and await uow.users.by_email(str(email)) is None:
            user.email = str(email).strip().lower()
        if customer_id:
            await uow.billing.link_customer(customer_id, user.id)

        tier = _tier(metadata.get("tier")) or self._tier_from_line_items(session)
        row = (
            await uow.billing.subscription(subscription_id, for_update=True)
            if subscription_id
            else None
        )
        if row is None and subscription_id:
            paid = session.get("payment_status") in ("paid", "no_payment_required")
            row = await uow.billing.add_subscription(
                BillingSubscription(
                    stripe_subscription_id=subscription_id,
                    stripe_customer_id=customer_id,
                    user_id=user.id,
                    checkout_session_id=session_id,
                    status="active" if paid else "incomplete",
                    tier=(tier or Tier.NONE).value,
                    cancel_at_period_end=False,
                )
            )
        elif row is not None:
            row.user_id = user.id
            row.checkout_session_id = session_id
            row.stripe_customer_id = row.stripe_customer_id or customer_id
            if row.last_event_created is None and tier is not None:
                row.tier = tier.value
        if customer_id:
            for other in await uow.billing.unlinked_for_customer(customer_id):
                other.user_id = user.id
        uow.audit.record(
            ACTOR,
            "billing.checkout_completed",
            f"user:{user.id}",
            event=state.event_id,
            checkout_session=session_id,
            customer=customer_id,
            subscription=subscription_id,
            tier=row.tier if row else None,
        )
        _, after = await self._sync_user_tier(state, user)
        if user.telegram_chat_id is None:
            if self._link_key is not None:
                token = self.checkout_token(session_id)
                if await uow.tokens.by_hash(hash_token(token)) is None:
                    await self._onboarding.issue_token(uow, user, actor=ACTOR, token=token)
        else:
            await self._notify(
                state,
                user,
                f"stripe:checkout:{session_id}",
                texts.plan_is_now(after) if after != Tier.NONE else texts.PAYMENT_PROCESSING,
            )
        return "applied"

    async def _subscription_changed(self, state: _Apply, sub: dict[str, Any]) -> str:
        uow = state.uow
        subscription_id = str(sub.get("id"))
        customer_id = _object_id(sub.get("customer"))
        metadata = _dict(sub.get("metadata"))
        status = str(sub.get("status") or "incomplete")
        if state.type == "customer.subscription.deleted":
            status = "canceled"
        items = _dict(sub.get("items")).get("data") or []
        tier = None
        for item in items:
            tier = tier or self.tier_for_price(_dict(item).get("price"))
        tier = tier or _tier(metadata.get("tier"))
        period_ends: list[int] = [
            end for item in items if isinstance(end := _dict(item).get("current_period_end"), int)
        ]
        if not period_ends and isinstance(sub.get("current_period_end"), int):
            period_ends = [sub["current_period_end"]]  # pre-basil payloads
        period_end = _timestamp(max(period_ends)) if period_ends else None

        row = await uow.billing.subscription(subscription_id, for_update=True)
        if row is not None and row.last_event_created and state.created < row.last_event_created:
            uow.audit.record(
                ACTOR,
                "billing.event_out_of_order",
                f"subscription:{subscription_id}",
                event=state.event_id,
            )
            return "stale"
        user = None
        if row is not None and row.user_id is not None:
            user = await uow.users.get(row.user_id)
        if user is None:
            user = await self._user_by_reference(uow, metadata.get("user_id"))
        if user is None and customer_id:
            customer = await uow.billing.customer(customer_id)
            user = await uow.users.get(customer.user_id) if customer else None
        if row is None:
            row = await uow.billing.add_subscription(
                BillingSubscription(
                    stripe_subscription_id=subscription_id,
                    stripe_customer_id=customer_id,
                    status=status,
                    tier=(tier or Tier.NONE).value,
                    cancel_at_period_end=False,
                )
            )
        before = {"status": row.status, "tier": row.tier}
        row.user_id = user.id if user else None
        row.stripe_customer_id = customer_id or row.stripe_customer_id
        row.status = status
        if tier is not None:
            row.tier = tier.value
        row.current_period_end = period_end or row.current_period_end
        row.cancel_at_period_end = bool(sub.get("cancel_at_period_end"))
        row.last_event_created = state.created
        if status == GRACE_STATUS:
            row.past_due_since = row.past_due_since or state.created
        else:
            row.past_due_since = None
        if user is not None and customer_id and await uow.billing.customer(customer_id) is None:
            await uow.billing.link_customer(customer_id, user.id)
        uow.audit.record(
            ACTOR,
            "billing.subscription_deleted"
            if state.type == "customer.subscription.deleted"
            else "billing.subscription_updated",
            f"user:{user.id}" if user else f"subscription:{subscription_id}",
            event=state.event_id,
            subscription=subscription_id,
            before=before,
            after={"status": row.status, "tier": row.tier},
        )
        if user is None:
            return "unlinked"  # applied to the subscription; the user gets it at checkout
        old_tier, new_tier = await self._sync_user_tier(state, user)
        if status == "canceled" or state.type == "customer.subscription.deleted":
            await self._notify(
                state, user, f"stripe:ended:{subscription_id}", texts.subscription_ended(new_tier)
            )
        elif new_tier != old_tier:
            await self._notify(state, user, f"stripe:{state.event_id}", texts.plan_is_now(new_tier))
        return "applied"

    async def _invoice_payment_failed(self, state: _Apply, invoice: dict[str, Any]) -> str:
        uow = state.uow
        invoice_id = str(invoice.get("id"))
        subscription_id, user = await self._invoice_owner(uow, invoice)
        row = await uow.billing.subscription(subscription_id) if subscription_id else None
        if row is not None:
            row.unpaid_invoice_id = invoice_id
        uow.audit.record(
            ACTOR,
            "billing.payment_failed",
            f"user:{user.id}" if user else f"invoice:{invoice_id}",
            event=state.event_id,
            invoice=invoice_id,
            subscription=subscription_id,
            amount_due=invoice.get("amount_due"),
            attempt_count=invoice.get("attempt_count"),
        )
        if user is None:
            return "unlinked"
        url = invoice.get("hosted_invoice_url")
        # Stripe's page for this invoice, else the Customer Portal (made when pressed).
        button: dict[str, str] = (
            {"text": texts.BUTTON_FIX_PAYMENT, "url": str(url)}
            if url
            else {"text": texts.BUTTON_FIX_PAYMENT, "callback_data": OPEN_PORTAL_CALLBACK}
        )
        next_attempt = invoice.get("next_payment_attempt")
        await self._notify(
            state,
            user,
            f"stripe:invoice_failed:{invoice_id}:{invoice.get('attempt_count') or 0}",
            texts.payment_failed(
                _money(invoice.get("amount_due"), invoice.get("currency")),
                _timestamp(next_attempt) if isinstance(next_attempt, int) else None,
            ),
            {"inline_keyboard": [[button]]},
        )
        return "applied"

    async def _invoice_paid(self, state: _Apply, invoice: dict[str, Any]) -> str:
        uow = state.uow
        invoice_id = str(invoice.get("id"))
        subscription_id, user = await self._invoice_owner(uow, invoice)
        row = await uow.billing.subscription(subscription_id) if subscription_id else None
        recovered = row is not None and row.unpaid_invoice_id is not None
        if row is not None:
            row.unpaid_invoice_id = None
        uow.audit.record(
            ACTOR,
            "billing.invoice_paid",
            f"user:{user.id}" if user else f"invoice:{invoice_id}",
            event=state.event_id,
            invoice=invoice_id,
            subscription=subscription_id,
            amount_paid=invoice.get("amount_paid"),
        )
        if user is not None and recovered:
            await self._notify(
                state, user, f"stripe:invoice_paid:{invoice_id}", texts.PAYMENT_RECOVERED
            )
        return "applied"

    # -- helpers for events ------------------------------------------------------------------
    async def _invoice_owner(
        self, uow: UnitOfWork, invoice: dict[str, Any]
    ) -> tuple[str | None, User | None]:
        details = _dict(_dict(invoice.get("parent")).get("subscription_details"))
        subscription_id = _object_id(details.get("subscription"))
        if subscription_id is None:
            for line in _dict(invoice.get("lines")).get("data") or []:
                item = _dict(_dict(_dict(line).get("parent")).get("subscription_item_details"))
                subscription_id = subscription_id or _object_id(item.get("subscription"))
        user = None
        row = await uow.billing.subscription(subscription_id) if subscription_id else None
        if row is not None and row.user_id is not None:
            user = await uow.users.get(row.user_id)
        customer_id = _object_id(invoice.get("customer"))
        if user is None and customer_id:
            customer = await uow.billing.customer(customer_id)
            user = await uow.users.get(customer.user_id) if customer else None
        if user is None:
            user = await self._user_by_reference(uow, _dict(details.get("metadata")).get("user_id"))
        if user is None and invoice.get("customer_email"):
            user = await uow.users.by_email(str(invoice["customer_email"]))
        return subscription_id, user

    async def _user_by_reference(self, uow: UnitOfWork, reference: Any) -> User | None:
        try:
            user_id = int(str(reference))
        except (TypeError, ValueError):
            return None
        return await uow.users.get(user_id)

    def _tier_from_line_items(self, session: dict[str, Any]) -> Tier | None:
        for item in _dict(session.get("line_items")).get("data") or []:
            tier = self.tier_for_price(_dict(item).get("price"))
            if tier is not None:
                return tier
        return None

    def has_paid_access(self, row: BillingSubscription, now: datetime | None = None) -> bool:
        if row.status in PAID_STATUSES:
            return True
        if row.status == GRACE_STATUS and row.past_due_since is not None:
            return (now or utcnow()) - row.past_due_since <= self._grace
        return False

    async def _sync_user_tier(self, state: _Apply, user: User) -> tuple[Tier, Tier]:
        """Set the user's tier from their subscriptions (best paid one); audit a change."""
        before = Tier(user.tier)
        subscriptions = await state.uow.billing.subscriptions_of(user.id)
        if not subscriptions:
            return before, before
        after = max(
            (Tier(s.tier) for s in subscriptions if self.has_paid_access(s)),
            key=lambda tier: tier.rank,
            default=Tier.NONE,
        )
        if after != before:
            user.tier = after.value
            state.uow.audit.record(
                ACTOR,
                "billing.tier_changed",
                f"user:{user.id}",
                event=state.event_id,
                before=before.value,
                after=after.value,
            )
        return before, after

    async def _notify(
        self,
        state: _Apply,
        user: User,
        dedup_key: str,
        text: str,
        reply_markup: dict[str, Any] | None = None,
    ) -> None:
        if user.telegram_chat_id is None:
            return
        if await state.uow.outbox.enqueue(
            dedup_key=dedup_key[:200],
            chat_id=user.telegram_chat_id,
            text=text,
            reply_markup=reply_markup,
        ):
            state.queued += 1

    # -- deep links --------------------------------------------------------------------------
    def checkout_token(self, session_id: str) -> str:
        """A token only this server can derive from the checkout session id, so the success
        page can show the same deep link the webhook issued (only its hash is stored)."""
        assert self._link_key is not None
        digest = hmac.new(self._link_key, f"checkout:{session_id}".encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(digest.digest()).decode().rstrip("=")[:43]

    async def checkout_status(self, session_id: str, bot_username: str) -> CheckoutStatus:
        async with self._uow() as uow:
            row = await uow.billing.subscription_by_checkout(session_id)
            if row is None or row.user_id is None:
                return CheckoutStatus(ready=False)
            user = await uow.users.get(row.user_id)
            if user is None:
                return CheckoutStatus(ready=False)
            link = bot_link(bot_username)
            if user.telegram_user_id is None and self._link_key is not None:
                link = deep_link(bot_username, self.checkout_token(session_id))
            return CheckoutStatus(ready=True, link=link, tier=Tier(row.tier))

    # -- grace periods -----------------------------------------------------------------------
    async def expire_grace_periods(self) -> int:
        """Scheduler job: downgrade users whose past_due grace has run out. Returns how many."""
        changed = 0
        async with self._writing(), self._uow() as uow:
            now = utcnow()
            for row in await uow.billing.past_due():
                if self.has_paid_access(row, now) or row.user_id is None:
                    continue
                user = await uow.users.get(row.user_id)
                if user is None:
                    continue
                state = _Apply(uow, f"grace:{row.stripe_subscription_id}", now)
                before, after = await self._sync_user_tier(state, user)
                if after != before:
                    changed += 1
                    await self._notify(
                        state,
                        user,
                        f"stripe:grace_ended:{row.stripe_subscription_id}:{row.past_due_since}",
                        texts.grace_ended(after),
                    )
            await uow.commit()
        return changed

    # -- provisioning API and look-ups -----------------------------------------------------
    async def provision(
        self, *, email: str, stripe_customer_id: str | None, tier: Tier, bot_username: str
    ) -> ProvisionResult:
        for attempt in range(2):
            try:
                return await self._provision_once(email, stripe_customer_id, tier, bot_username)
            except IntegrityError:
                if attempt:  # a concurrent request created the same user; the retry finds it
                    raise
        raise AssertionError("unreachable")

    async def _provision_once(
        self, email: str, stripe_customer_id: str | None, tier: Tier, bot_username: str
    ) -> ProvisionResult:
        actor = "api:provision"
        async with self._writing(), self._uow() as uow:
            user, created = await self._onboarding.upsert_user(
                uow, email=email, tier=tier, actor=actor
            )
            if stripe_customer_id:
                await uow.billing.link_customer(stripe_customer_id, user.id)
                for row in await uow.billing.unlinked_for_customer(stripe_customer_id):
                    row.user_id = user.id
            if user.telegram_user_id is None:
                token = await self._onboarding.issue_token(uow, user, actor=actor)
                link = deep_link(bot_username, token)
            else:
                link = bot_link(bot_username)
            uow.audit.record(
                actor,
                "billing.provisioned",
                f"user:{user.id}",
                tier=tier.value,
                customer=stripe_customer_id,
                created=created,
            )
            await uow.commit()
            return ProvisionResult(user.id, created, link)

    async def user_summary(
        self, *, user_id: int | None = None, email: str | None = None
    ) -> dict[str, Any] | None:
        async with self._uow() as uow:
            user = None
            if user_id is not None:
                user = await uow.users.get(user_id)
            elif email is not None:
                user = await uow.users.by_email(email.strip().lower())
            if user is None:
                return None
            view = await self._current_subscription(uow, user.id)
            customers = await uow.billing.customers_of(user.id)
            return {
                "user_id": user.id,
                "email": user.email,
                "name": user.display_name,
                "role": user.role,
                "tier": user.tier,
                "status": user.status,
                "telegram_linked": user.telegram_user_id is not None,
                "atlas_user_id": atlas_user_id(user.cmms_user_id),
                "stripe_customer_ids": [c.stripe_customer_id for c in customers],
                "subscription": view.as_dict() if view else None,
                "subscription_status": view.status if view else None,
                "current_period_end": _iso(view.current_period_end) if view else None,
                "created_at": _iso(user.created_at),
            }

    async def subscription_for(self, user_id: int) -> SubscriptionView | None:
        async with self._uow() as uow:
            return await self._current_subscription(uow, user_id)

    async def customer_for(self, user_id: int) -> str | None:
        async with self._uow() as uow:
            view = await self._current_subscription(uow, user_id)
            if view is not None and view.stripe_customer_id:
                return view.stripe_customer_id
            customers = await uow.billing.customers_of(user_id)
            return customers[-1].stripe_customer_id if customers else None

    async def _current_subscription(self, uow: UnitOfWork, user_id: int) -> SubscriptionView | None:
        rows = await uow.billing.subscriptions_of(user_id)
        if not rows:
            return None
        # Paid access first, then the most recently changed one.
        row = max(rows, key=lambda r: (self.has_paid_access(r), r.updated_at, r.id))
        return SubscriptionView(
            tier=Tier(row.tier),
            status=row.status,
            current_period_end=row.current_period_end,
            cancel_at_period_end=row.cancel_at_period_end,
            stripe_customer_id=row.stripe_customer_id,
            stripe_subscription_id=row.stripe_subscription_id,
            has_paid_access=self.has_paid_access(row),
        )


@dataclass(frozen=True, slots=True)
class _References:
    subscription_id: str | None
    customer_id: str | None
    user_id: int | None


def _references(event: dict[str, Any]) -> _References:
    """What an event will look up, read from the payload shapes the handlers above accept."""
    obj = _dict(_dict(event.get("data")).get("object"))
    if event.get("type", "").startswith("customer.subscription."):
        subscription_id = _object_id(obj.get("id"))
    elif event.get("type", "").startswith("invoice."):
        details = _dict(_dict(obj.get("parent")).get("subscription_details"))
        subscription_id = _object_id(details.get("subscription"))
    else:
        subscription_id = _object_id(obj.get("subscription"))
    reference = obj.get("client_reference_id") or _dict(obj.get("metadata")).get("user_id")
    try:
        user_id = int(str(reference)) if reference is not None else None
    except ValueError:
        user_id = None
    return _References(subscription_id, _object_id(obj.get("customer")), user_id)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _object_id(value: Any) -> str | None:
    """Stripe fields are an id string, or the expanded object carrying `id`."""
    if isinstance(value, str) and value:
        return value
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        return str(value["id"])
    return None


def _tier(value: Any) -> Tier | None:
    try:
        tier = Tier(str(value).lower())
    except ValueError:
        return None
    return None if tier is Tier.NONE else tier


def _timestamp(value: int) -> datetime:
    return datetime.fromtimestamp(value, UTC)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


ZERO_DECIMAL = frozenset({"jpy", "krw", "vnd", "clp", "isk", "ugx", "xaf", "xof", "pyg", "rwf"})


def _money(amount: Any, currency: Any) -> str:
    if not isinstance(amount, int):
        return ""
    code = str(currency or "usd").lower()
    if code in ZERO_DECIMAL:
        return f"{amount} {code.upper()}"
    return f"{amount / 100:.2f} {code.upper()}"
