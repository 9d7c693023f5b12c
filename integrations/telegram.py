"""Telegram side: the Bot with its session, conflict detection, and the durable message outbox."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramRetryAfter,
)
from aiogram.methods import GetUpdates, Response, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import InlineKeyboardMarkup

from storage.models import OutboxMessage, utcnow
from storage.uow import UnitOfWorkFactory

log = logging.getLogger(__name__)

REQUEST_TIMEOUT_S = 30.0
MAX_OUTBOX_ATTEMPTS = 12

# aiogram parses every answer with `Response[method.__returning__]`; pydantic caches such
# parametrised models only weakly, so a garbage collection drops them and the next call
# rebuilds the schema (milliseconds each). Strong references keep them built.
_RESPONSE_TYPES: dict[type[Any], Any] = {}


def pin_response_type(method: TelegramMethod[Any]) -> None:
    kind = type(method)
    if kind not in _RESPONSE_TYPES:
        _RESPONSE_TYPES[kind] = Response[method.__returning__]  # type: ignore[name-defined]


class ConflictWatch(BaseRequestMiddleware):
    """Telegram answers 409 to getUpdates when another process polls with the same token.

    aiogram's polling loop would retry forever; we stop the process instead."""

    def __init__(self, on_conflict: Callable[[], None]) -> None:
        self._on_conflict = on_conflict

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        pin_response_type(method)
        try:
            return await make_request(bot, method)
        except TelegramConflictError:
            if isinstance(method, GetUpdates):
                self._on_conflict()
            raise


def create_bot(token: str, api_base: str, *, timeout: float = REQUEST_TIMEOUT_S) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(api_base), timeout=timeout)
    return Bot(token, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))


def backoff_after(attempts: int) -> timedelta:
    return timedelta(seconds=min(3600, 5 * 2 ** max(0, attempts - 1)))


class TelegramOutbox:
    """Delivers queued `OutboxMessage` rows. At-least-once towards Telegram, never twice in our
    books: a row is marked sent in the same step that observed Telegram's success."""

    def __init__(self, bot: Bot, uow: UnitOfWorkFactory) -> None:
        self._bot = bot
        self._uow = uow
        # One delivery pass at a time in this process (the scheduler and after-commit kicks),
        # so a row is never picked up twice here; PostgreSQL's SKIP LOCKED covers instances.
        self._lock = asyncio.Lock()
        self._kicks: set[asyncio.Task[int]] = set()

    def trigger(self) -> None:
        """Deliver what is due now, in the background (call right after a commit)."""
        task = asyncio.create_task(self.deliver_due())
        self._kicks.add(task)
        task.add_done_callback(self._kick_done)

    def _kick_done(self, task: asyncio.Task[int]) -> None:
        self._kicks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("outbox delivery failed: %s", type(task.exception()).__name__)

    async def wait_triggered(self) -> None:
        """Let background deliveries finish (shutdown, tests)."""
        while self._kicks:
            await asyncio.gather(*self._kicks, return_exceptions=True)

    async def deliver_due(self, limit: int = 50) -> int:
        async with self._lock:
            return await self._deliver_due(limit)

    async def _deliver_due(self, limit: int) -> int:
        sent = 0
        async with self._uow() as uow:
            for message in await uow.outbox.due(utcnow(), limit):
                if await self._deliver(message):
                    sent += 1
                # Commit per message so a crash later never resends what already went out.
                await uow.commit()
        return sent

    async def _deliver(self, message: OutboxMessage) -> bool:
        message.attempts += 1
        try:
            await self._bot.send_message(
                message.chat_id, message.text, reply_markup=_markup(message.reply_markup)
            )
        except TelegramRetryAfter as exc:
            message.next_attempt_at = utcnow() + timedelta(seconds=exc.retry_after)
            message.last_error = "rate limited"
        except (TelegramForbiddenError, TelegramBadRequest) as exc:
            # Blocked by the user or a chat that no longer exists: retrying cannot help.
            message.failed_at = utcnow()
            message.last_error = exc.message[:500]
        except (TelegramAPIError, OSError, TimeoutError) as exc:
            message.last_error = f"{type(exc).__name__}"
            if message.attempts >= MAX_OUTBOX_ATTEMPTS:
                message.failed_at = utcnow()
            else:
                message.next_attempt_at = utcnow() + backoff_after(message.attempts)
        else:
            message.sent_at = utcnow()
            message.last_error = None
            return True
        log.info(
            "outbox message %s not delivered (attempt %s): %s",
            message.id,
            message.attempts,
            message.last_error,
        )
        return False


def _markup(data: dict[str, Any] | None) -> InlineKeyboardMarkup | None:
    return InlineKeyboardMarkup.model_validate(data) if data else None
