"""/start with an invite token, a bare /start, and the short profile questions after linking."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import Message

from bot import texts
from bot.services.onboarding import OnboardingService, RedeemOutcome, UserView
from bot.states import Profile
from bot.throttle import ReplyThrottle
from handlers.asset_links import start_from_asset_label
from handlers.common import answer_stranger

REFUSALS = {
    RedeemOutcome.USED: texts.LINK_USED,
    RedeemOutcome.EXPIRED: texts.LINK_EXPIRED,
    RedeemOutcome.UNKNOWN: texts.LINK_UNKNOWN,
    RedeemOutcome.MALFORMED: texts.LINK_MALFORMED,
    RedeemOutcome.DISABLED: texts.LINK_DISABLED,
}
MAX_NAME_LENGTH = 100


async def start_with_token(
    message: Message, command: CommandObject, onboarding: OnboardingService, state: FSMContext
) -> None:
    assert message.from_user is not None
    result = await onboarding.redeem(
        command.args or "", telegram_user_id=message.from_user.id, chat_id=message.chat.id
    )
    if result.outcome in REFUSALS:
        await message.answer(REFUSALS[result.outcome])
        return
    assert result.user is not None
    if result.outcome is RedeemOutcome.ACCOUNT_TAKEN:
        await message.answer(texts.account_taken(result.user.name))
    elif result.outcome is RedeemOutcome.ALREADY_LINKED:
        await message.answer(texts.link_reused_by_owner(result.user.name))
    else:
        await message.answer(texts.welcome(result.user.name, result.user.tier))
        if result.user.display_name is None:
            await state.set_state(Profile.name)
            await message.answer(texts.ASK_NAME)


async def start_plain(
    message: Message, user: UserView | None, reply_throttle: ReplyThrottle
) -> None:
    if user is None:
        await answer_stranger(message, reply_throttle)
    else:
        await message.answer(texts.welcome_back(user.name))


async def profile_name(
    message: Message, user: UserView | None, onboarding: OnboardingService, state: FSMContext
) -> None:
    assert message.text is not None
    name = " ".join(message.text.split())[:MAX_NAME_LENGTH]
    if user is None or not name:
        await message.answer(texts.ASK_NAME)
        return
    await onboarding.set_profile(user.id, display_name=name)
    await state.set_state(Profile.home_location)
    await message.answer(texts.ask_home_location(name))


async def profile_location_skipped(message: Message, state: FSMContext) -> None:
    await state.clear()
    await message.answer(texts.PROFILE_DONE)


async def profile_location(
    message: Message, user: UserView | None, onboarding: OnboardingService, state: FSMContext
) -> None:
    assert message.text is not None
    if user is not None:
        location = " ".join(message.text.split())[:200]
        await onboarding.set_profile(user.id, home_location=location)
    await state.clear()
    await message.answer(texts.PROFILE_DONE)


def create_router() -> Router:
    router = Router(name=__name__)
    # QR asset labels (`a_<token>`) first; unknown `a_` payloads fall through to invites.
    router.message.register(
        start_from_asset_label, CommandStart(deep_link=True, magic=F.args.startswith("a_"))
    )
    router.message.register(start_with_token, CommandStart(deep_link=True))
    router.message.register(start_plain, CommandStart())
    router.message.register(profile_name, Profile.name, F.text, ~F.text.startswith("/"))
    router.message.register(profile_location_skipped, Profile.home_location, Command("skip"))
    router.message.register(
        profile_location, Profile.home_location, F.text, ~F.text.startswith("/")
    )
    return router
