"""Issue 4, acceptance 7 and the rest of the bot side: /subscribe → Checkout from the fake Stripe
API, /billing → Customer Portal, "not configured" without a key, the success page, tier gates."""

# ruff: noqa: F811  (fixtures imported from tests.billing_support are used as arguments)

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable

import pytest
from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message

from bot.domain import Tier
from bot.emulator import BotApiEmulator
from bot.factory import AppServices
from bot.services.onboarding import UserView
from bot.services.tiers import TIER_LIMIT_EXCEEDED, Feature, TierGate, TierPolicy
from bot.settings import Settings
from handlers.billing import answer_refusal
from tests.billing_support import (  # noqa: F401  (fixtures)
    PRICE_PRO,
    billing_rivet,
    checkout_completed,
    deliver,
    fake_stripe,
    linked_user,
    start_billing_rivet,
)
from tests.conftest import BOT_USERNAME, TEST_ADMIN_KEY, RivetHarness
from tests.fakes.stripe_api import TEST_SECRET_KEY, FakeStripe

AUTH = {"Authorization": f"Bearer {TEST_ADMIN_KEY}"}


async def test_subscribe_creates_a_checkout_session_on_the_fake_stripe(
    billing_rivet: RivetHarness, fake_stripe: FakeStripe
) -> None:
    rivet = billing_rivet
    user_id, chat = await linked_user(rivet, 9501, "ada@example.com")
    await chat.send_command("subscribe")
    menu = await chat.wait_for_message("Pick a plan")
    labels = [button.text for row in menu.buttons for button in row]
    assert [label.split(" ")[0] for label in labels] == ["Basic", "Pro", "Enterprise"]

    await chat.press(labels[1])
    reply = await chat.wait_for_message("Here's your checkout for <b>Pro</b>")
    url = reply.buttons[0][0].value
    assert url is not None and url.startswith("https://checkout.stripe.test/c/pay/cs_test_fake")

    (call,) = fake_stripe.calls("/v1/checkout/sessions")
    assert call.headers["Authorization"] == f"Bearer {TEST_SECRET_KEY}"
    params = call.params
    assert params["mode"] == "subscription"
    assert params["line_items[0][price]"] == PRICE_PRO
    assert params["client_reference_id"] == str(user_id)
    assert params["metadata[user_id]"] == str(user_id)
    assert params["metadata[tier]"] == "pro"
    assert params["subscription_data[metadata][user_id]"] == str(user_id)
    assert params["subscription_data[metadata][tier]"] == "pro"
    assert params["customer_email"] == "ada@example.com"
    assert params["success_url"] == (
        "http://127.0.0.1:8080/billing/success?session_id={CHECKOUT_SESSION_ID}"
    )


async def test_billing_shows_the_plan_and_a_portal_button_and_subscribers_get_the_portal(
    billing_rivet: RivetHarness, fake_stripe: FakeStripe
) -> None:
    rivet = billing_rivet
    user_id, chat = await linked_user(rivet, 9601, "ada@example.com")
    await chat.send_command("billing")
    await chat.wait_for_message("You have no subscription yet")

    await deliver(rivet, checkout_completed(user_id=user_id, tier="pro"))
    from tests.billing_support import subscription_event

    await deliver(rivet, subscription_event(cancel_at_period_end=False))
    await chat.send_command("billing")
    summary = await chat.wait_for_message("Your plan:</b> Pro")
    assert "Status:</b> active" in summary.text and "Renews on:</b> 26 Dec 2026" in summary.text
    portal_url = summary.buttons[0][0].value
    assert portal_url is not None and portal_url.startswith("https://billing.stripe.test/p/")
    (call,) = fake_stripe.calls("/v1/billing_portal/sessions")
    assert call.params["customer"] == "cus_T0000000000001"
    assert call.params["return_url"] == f"https://t.me/{BOT_USERNAME}"

    await chat.send_command("subscribe")
    portal = await chat.wait_for_message("already have a subscription")
    assert portal.buttons[0][0].text == "Manage billing"
    assert fake_stripe.calls("/v1/checkout/sessions") == []  # no second subscription


async def test_a_failed_payment_without_an_invoice_page_opens_the_portal_when_pressed(
    billing_rivet: RivetHarness, fake_stripe: FakeStripe
) -> None:
    rivet = billing_rivet
    user_id, chat = await linked_user(rivet, 9611, "ada@example.com")
    await deliver(rivet, checkout_completed(user_id=user_id, tier="pro"))
    await chat.wait_for_message("Your plan is now")
    from tests.billing_support import invoice_event

    await deliver(rivet, invoice_event(hosted_url=None))
    notice = await chat.wait_for_message("didn't go through")
    assert [button.text for row in notice.buttons for button in row] == ["Update payment method"]
    assert fake_stripe.calls("/v1/billing_portal/sessions") == []  # made when pressed, not before

    await chat.press("Update payment method", notice.message_id)
    portal = await chat.wait_for_message("billing portal")
    url = portal.buttons[0][0].value
    assert url is not None and url.startswith("https://billing.stripe.test/p/")
    (call,) = fake_stripe.calls("/v1/billing_portal/sessions")
    assert call.params["customer"] == "cus_T0000000000001"


async def test_without_a_stripe_key_billing_is_not_configured(rivet: RivetHarness) -> None:
    _, token = await rivet.runtime.services.onboarding.add_user(
        email="nokey@example.com", name="Nia", tier=Tier.BASIC
    )
    chat = rivet.emulator.user(9701, first_name="Nia")
    await chat.send_command("start", args=token)
    await chat.wait_for_message("Welcome")
    for command in ("subscribe", "billing"):
        await chat.send_command(command)
        await chat.wait_for_message("Billing is not configured here")


async def test_stripe_failures_get_a_friendly_answer(
    billing_rivet: RivetHarness, fake_stripe: FakeStripe
) -> None:
    _, chat = await linked_user(billing_rivet, 9801, "ada@example.com")
    fake_stripe.fail_with = 500
    await chat.send_command("subscribe")
    await chat.wait_for_message("Pick a plan")
    await chat.press("bt:basic")
    await chat.wait_for_message("couldn't reach the payment service")


async def test_api_status_reports_stripe(billing_rivet: RivetHarness) -> None:
    status, body, _ = await billing_rivet.http("GET", "/api/status", headers=AUTH)
    assert status == 200 and body["services"]["stripe"]["status"] == "ok"


async def test_success_page_waits_for_the_webhook_then_links_to_telegram(
    billing_rivet: RivetHarness,
) -> None:
    rivet = billing_rivet
    path = "/billing/success?session_id=cs_test_page1"
    status, page, headers = await rivet.http("GET", path)
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    html = page.decode()
    assert "setting up your account" in html and 'http-equiv="refresh"' in html

    await deliver(rivet, checkout_completed(session_id="cs_test_page1", email="dee@example.com"))
    status, page, _ = await rivet.http("GET", path)
    html = page.decode()
    assert "Payment received" in html and 'http-equiv="refresh"' not in html
    assert "<svg" in html  # the QR code
    match = re.search(rf'href="https://t\.me/{BOT_USERNAME}\?start=([A-Za-z0-9_-]+)"', html)
    assert match, html
    # The same link on a reload (derived, not a new token each time), and it works.
    _, again, _ = await rivet.http("GET", path)
    assert match.group(0) in again.decode()
    dee = rivet.emulator.user(9901, first_name="Dee")
    await dee.send_command("start", args=match.group(1))
    await dee.wait_for_message("Your plan: <b>Pro</b>")

    status, page, _ = await rivet.http("GET", "/billing/success?session_id=<script>")
    assert status == 400 and b"<script>" not in page


# -- tier gates ---------------------------------------------------------------------------------
def test_tier_gate_minimums_quotas_and_configuration() -> None:
    gate = TierGate()
    refusal = gate.check(Tier.BASIC, Feature.PRINTS)
    assert refusal is not None and refusal.code == TIER_LIMIT_EXCEEDED
    assert refusal.required_tier is Tier.PRO and refusal.current_tier is Tier.BASIC
    assert gate.check(Tier.PRO, Feature.PRINTS) is None
    assert gate.check(Tier.NONE, Feature.WORK_ORDERS) is not None
    assert gate.check(Tier.BASIC, Feature.WORK_ORDERS) is None
    assert gate.check_quota(Tier.BASIC, Feature.WORK_ORDERS, 99) is None
    over = gate.check_quota(Tier.BASIC, Feature.WORK_ORDERS, 100)
    assert over is not None and over.quota == 100 and over.required_tier is Tier.PRO
    assert gate.check_quota(Tier.ENTERPRISE, Feature.PRINTS, 10**6) is None

    custom = TierGate(
        TierPolicy.from_mapping(
            {"minimum": {"prints": "enterprise"}, "monthly_quota": {"basic": {"work_orders": 5}}}
        )
    )
    assert custom.check(Tier.PRO, Feature.PRINTS) is not None
    assert custom.quota(Tier.BASIC, Feature.WORK_ORDERS) == 5
    with pytest.raises(ValueError):
        TierPolicy.from_mapping({"minimum": {"teleportation": "pro"}})


async def gated_print(message: Message, user: UserView | None, services: AppServices) -> None:
    assert user is not None
    refusal = services.tiers.check(user.tier, Feature.PRINTS)
    if refusal is not None:
        await answer_refusal(message, refusal)
    else:
        await message.answer("print ok")


@pytest.fixture
async def gated_rivet(
    emulator: BotApiEmulator, make_settings: Callable[..., Settings], fake_stripe: FakeStripe
) -> AsyncIterator[RivetHarness]:
    router = Router(name="gated")
    router.message.register(gated_print, Command("printtest"))
    harness = await start_billing_rivet(
        emulator, make_settings, fake_stripe, extra_routers=(router,)
    )
    yield harness
    await harness.runtime.stop()


async def test_a_refusal_is_an_upgrade_message_with_a_subscribe_button(
    gated_rivet: RivetHarness, fake_stripe: FakeStripe
) -> None:
    _, chat = await linked_user(gated_rivet, 9951, "gil@example.com", "Gil")
    await chat.send_command("printtest")
    refusal = await chat.wait_for_message("Upgrade to Pro for Chat with Print")
    assert refusal.buttons[0][0].text == "Upgrade to Pro"
    await chat.press("Upgrade to Pro")
    await chat.wait_for_message("checkout for <b>Pro</b>")
    assert fake_stripe.calls("/v1/checkout/sessions")[0].params["metadata[tier]"] == "pro"
