"""``bot.services.messaging.Sender`` on an aiogram ``Bot``: Bot API errors → domain errors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNotFound,
    TelegramRetryAfter,
)
from aiogram.methods import (
    CopyMessage,
    EditMessageCaption,
    EditMessageMedia,
    EditMessageText,
    ForwardMessage,
    Response,
    SendAnimation,
    SendAudio,
    SendDocument,
    SendMediaGroup,
    SendMessage,
    SendPhoto,
    SendVideo,
    SendVoice,
    TelegramMethod,
)
from aiogram.methods.base import TelegramType
from aiogram.types import BufferedInputFile, InlineKeyboardButton, InlineKeyboardMarkup

from bot.services.messaging import (
    PermanentFailure,
    RateLimited,
    RecipientBlocked,
    TransientFailure,
)
from bot.services.rate_limit import SendLimiter

# The methods Telegram's flood control counts as sends.
COUNTED_METHODS = (
    SendMessage,
    SendPhoto,
    SendDocument,
    SendVoice,
    SendAudio,
    SendVideo,
    SendAnimation,
    SendMediaGroup,
    CopyMessage,
    ForwardMessage,
    EditMessageText,
    EditMessageCaption,
    EditMessageMedia,
)

T = TypeVar("T")


async def _translated(call: Callable[[], Awaitable[T]]) -> T:
    try:
        return await call()
    except TelegramRetryAfter as exc:
        raise RateLimited(exc.retry_after) from None
    except TelegramForbiddenError as exc:
        raise RecipientBlocked(exc.message) from None
    except (TelegramBadRequest, TelegramNotFound) as exc:
        raise PermanentFailure(exc.message) from None
    except (TelegramAPIError, OSError, TimeoutError, RuntimeError) as exc:
        # RuntimeError: the HTTP session was closed under us during shutdown.
        raise TransientFailure(type(exc).__name__) from None


def _markup(buttons: list[list[tuple[str, str]]] | None) -> InlineKeyboardMarkup | None:
    if not buttons:
        return None
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=label, callback_data=data) for label, data in row]
            for row in buttons
        ]
    )


class AiogramSender:
    def __init__(self, bot: Bot) -> None:
        self._bot = bot

    async def send_text(
        self, chat_id: int, text: str, *, buttons: list[list[tuple[str, str]]] | None = None
    ) -> int:
        message = await _translated(
            lambda: self._bot.send_message(chat_id, text, reply_markup=_markup(buttons))
        )
        return message.message_id

    async def edit_text(self, chat_id: int, message_id: int, text: str) -> None:
        await _translated(
            lambda: self._bot.edit_message_text(text=text, chat_id=chat_id, message_id=message_id)
        )

    async def send_photo(self, chat_id: int, png: bytes, caption: str) -> int:
        photo = BufferedInputFile(png, filename="chart.png")
        message = await _translated(lambda: self._bot.send_photo(chat_id, photo, caption=caption))
        return message.message_id

    async def send_document(
        self, chat_id: int, data: bytes, file_name: str, caption: str | None = None
    ) -> int:
        document = BufferedInputFile(data, filename=file_name)
        message = await _translated(
            lambda: self._bot.send_document(chat_id, document, caption=caption)
        )
        return message.message_id


class FloodAccounting(BaseRequestMiddleware):
    """Counts every send of the bot in the shared ``SendLimiter`` without delaying it, so a
    broadcast leaves room for the conversation's own answers and never overruns the limits."""

    def __init__(self, limiter: SendLimiter) -> None:
        self._limiter = limiter

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        chat_id = getattr(method, "chat_id", None)
        counted = type(method) in COUNTED_METHODS
        if not counted or not isinstance(chat_id, int):
            return await make_request(bot, method)
        async with self._limiter.observe(chat_id):
            return await make_request(bot, method)
