"""/subscribe (plan buttons → Stripe Checkout, or the Customer Portal for subscribers),
/billing (plan, status, dates, portal), and how a tier refusal is shown to the user."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from bot import keyboards, texts
from bot.domain import Tier
from bot.keyboards import SubscribeTier
from bot.services.billing import OPEN_PORTAL_CALLBACK, bot_link
from bot.services.onboarding import UserView
from bot.services.tiers import Refusal
from bot.throttle import ReplyThrottle
from handlers.common import answer_stranger
from integrations.stripe_api import StripeUnavailableError

if TYPE_CHECKING:
    from bot.factory import AppServices

log = logging.getLogger(__name__)

PAID_TIERS = (Tier.BASIC, Tier.PRO, Tier.ENTERPRISE)


def refusal_text(refusal: Refusal) -> str:
    if refusal.is_quota and refusal.quota is not None:
        return texts.quota_reached(
            refusal.feature.label, refusal.quota, refusal.current_tier, refusal.required_tier
        )
    return texts.upgrade_required(refusal.feature.label, refusal.required_tier)


async def answer_refusal(message: Message, refusal: Refusal) -> None:
    """How every handler shows a TierGate refusal: the upgrade line and a subscribe button."""
    await message.answer(
        refusal_text(refusal), reply_markup=keyboards.upgrade(refusal.required_tier)
    )


async def _portal_markup(
    services: AppServices, user: UserView, bot_username: str
) -> InlineKeyboardMarkup | None:
    """A Customer Portal button for a user Stripe knows, else None."""
    assert services.stripe is not None
    customer = await services.billing.customer_for(user.id)
    if customer is None:
        return None
    url = await services.stripe.create_portal_session(
        customer=customer, return_url=bot_link(bot_username)
    )
    return keyboards.url_button(texts.BUTTON_MANAGE_BILLING, url)


async def _send_to_portal_if_subscribed(
    message: Message, services: AppServices, user: UserView | None, bot_username: str
) -> bool:
    if user is None:
        return False
    subscription = await services.billing.subscription_for(user.id)
    if subscription is None or not subscription.manageable:
        return False
    markup = await _portal_markup(services, user, bot_username)
    if markup is None:
        return False
    await message.answer(texts.ALREADY_SUBSCRIBED, reply_markup=markup)
    return True


async def subscribe_command(
    message: Message, user: UserView | None, services: AppServices, bot_username: str
) -> None:
    if services.stripe is None:
        await message.answer(texts.BILLING_NOT_CONFIGURED)
        return
    try:
        if await _send_to_portal_if_subscribed(message, services, user, bot_username):
            return
    except StripeUnavailableError as exc:
        log.warning("portal session failed: %s", exc)
        await message.answer(texts.BILLING_UNAVAILABLE)
        return
    tiers = [tier for tier in PAID_TIERS if services.billing.price_for(tier)]
    if not tiers:
        await message.answer(texts.SUBSCRIBE_NO_PRICES)
        return
    await message.answer(texts.SUBSCRIBE_PICK_TIER, reply_markup=keyboards.tier_choice(tiers))


async def subscribe_tier(
    callback: CallbackQuery,
    callback_data: SubscribeTier,
    user: UserView | None,
    services: AppServices,
    bot_username: str,
) -> None:
    message = callback.message
    if not isinstance(message, Message):
        await callback.answer(texts.STALE_BUTTON)
        return
    try:
        tier = Tier(callback_data.tier)
    except ValueError:
        tier = Tier.NONE
    price = services.billing.price_for(tier)
    if services.stripe is None:
        await callback.answer()
        await message.answer(texts.BILLING_NOT_CONFIGURED)
        return
    if price is None:
        await callback.answer(texts.STALE_BUTTON)
        return
    await callback.answer()
    try:
        if await _send_to_portal_if_subscribed(message, services, user, bot_username):
            return
        metadata = {"tier": tier.value, "telegram_user_id": str(callback.from_user.id)}
        customer = None
        if user is not None:
            metadata["user_id"] = str(user.id)
            customer = await services.billing.customer_for(user.id)
        base = services.settings.public_base_url
        url = await services.stripe.create_checkout_session(
            price=price,
            success_url=f"{base}/billing/success?session_id={{CHECKOUT_SESSION_ID}}",
            cancel_url=bot_link(bot_username),
            metadata=metadata,
            client_reference_id=str(user.id) if user else None,
            customer=customer,
            customer_email=user.email if user and not customer else None,
        )
    except StripeUnavailableError as exc:
        log.warning("checkout session failed: %s", exc)
        await message.answer(texts.BILLING_UNAVAILABLE)
        return
    await message.answer(
        texts.checkout_ready(tier), reply_markup=keyboards.url_button(texts.pay_button(tier), url)
    )


async def billing_command(
    message: Message,
    user: UserView | None,
    services: AppServices,
    bot_username: str,
    reply_throttle: ReplyThrottle,
) -> None:
    if services.stripe is None:
        await message.answer(texts.BILLING_NOT_CONFIGURED)
        return
    if user is None:
        await answer_stranger(message, reply_throttle)
        return
    subscription = await services.billing.subscription_for(user.id)
    if subscription is None:
        text = f"<b>Your plan:</b> {user.tier.label}\n{texts.NO_SUBSCRIPTION}"
    else:
        text = texts.billing_summary(
            user.tier,
            subscription.status,
            subscription.current_period_end,
            subscription.cancel_at_period_end,
        )
    try:
        markup = await _portal_markup(services, user, bot_username)
    except StripeUnavailableError as exc:
        log.warning("portal session failed: %s", exc)
        markup = None
        text += f"\n\n{texts.BILLING_UNAVAILABLE}"
    await message.answer(text, reply_markup=markup)


async def open_portal(
    callback: CallbackQuery,
    user: UserView | None,
    services: AppServices,
    bot_username: str,
) -> None:
    """The "Update payment method" button of a failed-payment notice: a fresh portal link."""
    message = callback.message
    if not isinstance(message, Message) or user is None:
        await callback.answer(texts.STALE_BUTTON)
        return
    await callback.answer()
    if services.stripe is None:
        await message.answer(texts.BILLING_NOT_CONFIGURED)
        return
    try:
        markup = await _portal_markup(services, user, bot_username)
    except StripeUnavailableError as exc:
        log.warning("portal session failed: %s", exc)
        await message.answer(texts.BILLING_UNAVAILABLE)
        return
    if markup is None:
        await message.answer(texts.NO_BILLING_ACCOUNT)
        return
    await message.answer(texts.OPEN_PORTAL, reply_markup=markup)


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.register(subscribe_command, Command("subscribe"))
    router.message.register(billing_command, Command("billing"))
    router.callback_query.register(subscribe_tier, SubscribeTier.filter())
    router.callback_query.register(open_portal, F.data == OPEN_PORTAL_CALLBACK)
    return router
