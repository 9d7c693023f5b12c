"""Billing test support: a runtime wired to the fake Stripe API, signed webhook deliveries,
and Stripe event payloads in the current (basil and later) API shape."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import stripe
from aiogram import Router
from sqlalchemy import func, select

from bot.emulator import BotApiEmulator
from bot.runtime import create_app
from bot.settings import Settings
from storage.models import Base
from tests.conftest import RivetHarness
from tests.fakes.stripe_api import TEST_SECRET_KEY, FakeStripe

WEBHOOK_SECRET = "whsec_test_billing_do_not_log"
PRICE_BASIC = "price_basic_monthly"
PRICE_PRO = "pro_monthly"  # configured as a lookup key
PRICE_ENTERPRISE = "price_enterprise_monthly"
API_VERSION = "2026-10-28.endive"
PERIOD_END = 1_798_278_500  # 2026-12-26

_ids = itertools.count(1)


def billing_overrides(fake: FakeStripe, **extra: Any) -> dict[str, Any]:
    return {
        "stripe_api_key": TEST_SECRET_KEY,
        "stripe_api_base": fake.base_url,
        "stripe_webhook_secret": WEBHOOK_SECRET,
        "stripe_price_basic": PRICE_BASIC,
        "stripe_price_pro": PRICE_PRO,
        "stripe_price_enterprise": PRICE_ENTERPRISE,
        **extra,
    }


@pytest.fixture
async def fake_stripe() -> AsyncIterator[FakeStripe]:
    async with FakeStripe() as fake:
        yield fake


async def start_billing_rivet(
    emulator: BotApiEmulator,
    make_settings: Callable[..., Settings],
    fake: FakeStripe,
    *,
    extra_routers: tuple[Router, ...] = (),
    **extra: Any,
) -> RivetHarness:
    overrides = billing_overrides(fake, **extra)
    runtime = create_app(make_settings(**overrides), extra_routers=extra_routers)
    await runtime.start()
    return RivetHarness(emulator, make_settings, runtime, overrides, extra_routers)


@pytest.fixture
async def billing_rivet(
    emulator: BotApiEmulator, make_settings: Callable[..., Settings], fake_stripe: FakeStripe
) -> AsyncIterator[RivetHarness]:
    harness = await start_billing_rivet(emulator, make_settings, fake_stripe)
    yield harness
    await harness.runtime.stop()


# -- deliveries ---------------------------------------------------------------------------------
def sign(body: str, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    return stripe.WebhookSignature.generate_signature_header(body, secret, timestamp)


async def deliver(
    rivet: RivetHarness,
    event: dict[str, Any],
    *,
    secret: str = WEBHOOK_SECRET,
    timestamp: int | None = None,
) -> tuple[int, Any]:
    body = json.dumps(event)
    status, answer, _ = await rivet.http(
        "POST",
        "/api/webhooks/stripe",
        data=body.encode(),
        headers={"Stripe-Signature": sign(body, secret, timestamp)},
    )
    return status, answer


# -- payloads (current API shape) ---------------------------------------------------------------
def event(type_: str, obj: dict[str, Any], *, created: int | None = None) -> dict[str, Any]:
    return {
        "id": f"evt_test_{next(_ids):08d}",
        "object": "event",
        "api_version": API_VERSION,
        "created": created or int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": type_,
        "data": {"object": obj},
    }


def checkout_completed(
    *,
    session_id: str = "cs_test_a1b2c3",
    customer: str = "cus_T0000000000001",
    subscription: str = "sub_1Q0000000000001",
    email: str | None = "ada@example.com",
    tier: str | None = "pro",
    user_id: int | None = None,
    created: int | None = None,
) -> dict[str, Any]:
    metadata: dict[str, str] = {}
    if tier:
        metadata["tier"] = tier
    if user_id is not None:
        metadata["user_id"] = str(user_id)
    session = {
        "id": session_id,
        "object": "checkout.session",
        "mode": "subscription",
        "status": "complete",
        "payment_status": "paid",
        "client_reference_id": str(user_id) if user_id is not None else None,
        "customer": customer,
        "customer_email": None,
        "customer_details": {"email": email, "name": "Ada Lovelace"},
        "metadata": metadata,
        "subscription": subscription,
        "invoice": "in_1Q0000000000001",
    }
    return event("checkout.session.completed", session, created=created)


def subscription_event(
    type_: str = "customer.subscription.updated",
    *,
    subscription: str = "sub_1Q0000000000001",
    customer: str = "cus_T0000000000001",
    status: str = "active",
    price: str = PRICE_PRO,
    lookup_key: str | None = None,
    period_end: int = PERIOD_END,
    user_id: int | None = None,
    created: int | None = None,
    cancel_at_period_end: bool = False,
) -> dict[str, Any]:
    sub = {
        "id": subscription,
        "object": "subscription",
        "customer": customer,
        "status": status,
        "cancel_at_period_end": cancel_at_period_end,
        "metadata": {"user_id": str(user_id)} if user_id is not None else {},
        "items": {
            "object": "list",
            "has_more": False,
            "url": f"/v1/subscription_items?subscription={subscription}",
            "data": [
                {
                    "id": "si_T0000000000001",
                    "object": "subscription_item",
                    "quantity": 1,
                    "current_period_start": period_end - 30 * 86400,
                    "current_period_end": period_end,
                    "price": {"id": price, "object": "price", "lookup_key": lookup_key},
                }
            ],
        },
    }
    if type_ == "customer.subscription.deleted":
        sub["ended_at"] = created or int(time.time())
    return event(type_, sub, created=created)


def invoice_event(
    type_: str = "invoice.payment_failed",
    *,
    invoice: str = "in_1Q0000000000002",
    subscription: str = "sub_1Q0000000000001",
    customer: str = "cus_T0000000000001",
    amount: int = 4900,
    attempt_count: int = 1,
    next_attempt: int | None = 1_798_537_900,
    hosted_url: str | None = "https://invoice.stripe.com/i/acct_123/test_abc",
    created: int | None = None,
) -> dict[str, Any]:
    obj = {
        "id": invoice,
        "object": "invoice",
        "customer": customer,
        "customer_email": "ada@example.com",
        "status": "open" if type_ == "invoice.payment_failed" else "paid",
        "billing_reason": "subscription_cycle",
        "amount_due": amount,
        "amount_paid": 0 if type_ == "invoice.payment_failed" else amount,
        "currency": "usd",
        "attempt_count": attempt_count,
        "attempted": True,
        "next_payment_attempt": next_attempt,
        "hosted_invoice_url": hosted_url,
        "parent": {
            "type": "subscription_details",
            "quote_details": None,
            "subscription_details": {"subscription": subscription, "metadata": {}},
        },
        "lines": {
            "object": "list",
            "data": [
                {
                    "id": "il_1",
                    "object": "line_item",
                    "parent": {
                        "type": "subscription_item_details",
                        "subscription_item_details": {
                            "subscription": subscription,
                            "subscription_item": "si_T0000000000001",
                            "proration": False,
                        },
                    },
                    "pricing": {
                        "type": "price_details",
                        "price_details": {"price": PRICE_PRO, "product": "prod_Pro"},
                    },
                }
            ],
        },
    }
    return event(type_, obj, created=created)


# -- observing ----------------------------------------------------------------------------------
async def row_counts(rivet: RivetHarness) -> dict[str, int]:
    """Rows per table (every table): "nothing changed" is this dict staying equal."""
    counts = {}
    async with rivet.runtime.services.uow() as uow:
        for table in Base.metadata.sorted_tables:
            counts[table.name] = int(
                await uow.session.scalar(select(func.count()).select_from(table)) or 0
            )
    return counts


async def linked_user(
    rivet: RivetHarness, telegram_id: int, email: str, name: str = "Ada"
) -> tuple[int, Any]:
    """A Rivet user (no plan) linked to an emulated Telegram account; returns (user id, chat)."""
    from bot.domain import Tier

    view, token = await rivet.runtime.services.onboarding.add_user(
        email=email, name=name, tier=Tier.NONE
    )
    chat = rivet.emulator.user(telegram_id, first_name=name)
    await chat.send_command("start", args=token)
    await chat.wait_for_message("Welcome to Rivet")
    return view.id, chat
