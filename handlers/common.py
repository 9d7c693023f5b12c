"""/help and /cancel, for everyone."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import Message

from bot import texts
from bot.services.onboarding import UserView
from bot.throttle import ReplyThrottle


async def answer_stranger(message: Message, reply_throttle: ReplyThrottle) -> None:
    """Tell an account without access how to get it, at most once per interval."""
    assert message.from_user is not None
    if await reply_throttle.allow(f"stranger:{message.from_user.id}"):
        await message.answer(texts.HOW_TO_GET_ACCESS)


async def help_command(
    message: Message, user: UserView | None, is_admin: bool, reply_throttle: ReplyThrottle
) -> None:
    if user is None and not is_admin:
        await answer_stranger(message, reply_throttle)
        return
    await message.answer(texts.HELP_TECHNICIAN + (texts.HELP_ADMIN_EXTRA if is_admin else ""))


async def cancel_command(message: Message, state: FSMContext) -> None:
    if await state.get_state() is None:
        await message.answer(texts.NOTHING_TO_CANCEL)
        return
    await state.clear()
    await message.answer(texts.CANCELLED)


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.register(help_command, Command("help"))
    router.message.register(cancel_command, Command("cancel"))
    return router
