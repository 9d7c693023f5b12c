"""Last stop: people without access learn how to get it (throttled), and errors get an apology."""

from __future__ import annotations

import logging

from aiogram import F, Router
from aiogram.types import CallbackQuery, ErrorEvent, Message

from bot import texts
from bot.services.onboarding import UserView
from bot.throttle import ReplyThrottle
from handlers.common import answer_stranger

log = logging.getLogger(__name__)


async def anything_else(
    message: Message, user: UserView | None, reply_throttle: ReplyThrottle
) -> None:
    if user is not None:
        await message.answer(texts.NOT_UNDERSTOOD)
    else:
        await answer_stranger(message, reply_throttle)


async def stale_button(callback: CallbackQuery) -> None:
    await callback.answer(texts.STALE_BUTTON, show_alert=False)


async def on_error(event: ErrorEvent) -> bool:
    log.error(
        "update %s failed: %s",
        event.update.update_id,
        type(event.exception).__name__,
        exc_info=event.exception,
    )
    update = event.update
    chat_message = update.message or (update.callback_query and update.callback_query.message)
    if isinstance(chat_message, Message):
        try:
            await chat_message.answer(texts.SOMETHING_WENT_WRONG)
        except Exception:  # the chat may be unreachable; the log already has the cause
            log.warning("could not tell chat %s about the failure", chat_message.chat.id)
    return True


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.register(anything_else, F.from_user)
    router.callback_query.register(stale_button)
    router.errors.register(on_error)
    return router
