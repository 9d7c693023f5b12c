"""The Ack button on escalation notices (bot.services.escalation)."""

from __future__ import annotations

import logging
from contextlib import suppress

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, Message

from bot import texts
from bot.services.escalation import ACK_PREFIX, AckResult, Escalation
from bot.services.onboarding import UserView

log = logging.getLogger(__name__)


async def ack_pressed(
    callback: CallbackQuery,
    escalation: Escalation,
    user: UserView | None,
    is_admin: bool,
) -> None:
    if user is None and not is_admin:
        await callback.answer(texts.NOT_ALLOWED, show_alert=True)
        return
    raw = (callback.data or "").removeprefix(ACK_PREFIX)
    if not raw.isdigit():
        await callback.answer(texts.ALERT_UNKNOWN, show_alert=True)
        return
    outcome = await escalation.acknowledge(int(raw), user_id=user.id if user else None)
    if outcome.result is AckResult.UNKNOWN:
        await callback.answer(texts.ALERT_UNKNOWN, show_alert=True)
        return
    if outcome.result is AckResult.ALREADY:
        await callback.answer(texts.ALERT_ALREADY_ACKNOWLEDGED)
        return
    assert outcome.after is not None
    who = user.name if user else (callback.from_user.full_name if callback.from_user else "?")
    done = texts.alert_acknowledged(outcome.number, who, outcome.after)
    await callback.answer(texts.ACK_BUTTON)
    if isinstance(callback.message, Message):
        with suppress(TelegramBadRequest):  # the notice may be too old to edit
            await callback.message.edit_text(f"{callback.message.html_text}\n\n{done}")


def create_router() -> Router:
    router = Router(name="escalation")
    router.callback_query.register(ack_pressed, F.data.startswith(ACK_PREFIX))
    return router
