"""Outer middlewares: de-duplication, in-flight tracking with latency, the current Rivet user."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from aiogram import BaseMiddleware, Bot, Router
from aiogram.dispatcher.event.handler import FilterObject
from aiogram.fsm.state import State
from aiogram.types import TelegramObject, Update, User

from bot.dedup import UpdateDeduplicator
from bot.metrics import LatencyRecorder
from bot.services.onboarding import OnboardingService

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class InFlight:
    """Counts updates being handled so shutdown can wait for them to finish."""

    def __init__(self) -> None:
        self._count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def count(self) -> int:
        return self._count

    def enter(self) -> None:
        self._count += 1
        self._idle.clear()

    def leave(self) -> None:
        self._count -= 1
        if self._count == 0:
            self._idle.set()

    async def wait_idle(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True


class UpdateTrackingMiddleware(BaseMiddleware):
    """Outermost: drop redeliveries, count in-flight updates, measure handling time."""

    def __init__(
        self, dedup: UpdateDeduplicator | None, in_flight: InFlight, latency: LatencyRecorder
    ) -> None:
        self._dedup = dedup
        self._in_flight = in_flight
        self._latency = latency

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        assert isinstance(event, Update)
        bot: Bot = data["bot"]
        if self._dedup is not None and not await self._dedup.claim(bot.id, event.update_id):
            return None
        self._in_flight.enter()
        started = time.perf_counter()
        try:
            return await handler(event, data)
        except BaseException:
            if self._dedup is not None:
                await asyncio.shield(self._dedup.release(bot.id, event.update_id))
            raise
        finally:
            self._latency.record(time.perf_counter() - started)
            self._in_flight.leave()


class CurrentUserMiddleware(BaseMiddleware):
    """Puts the linked Rivet user (or None) into handler data as `user`."""

    SEEN_RESOLUTION = timedelta(minutes=10)

    def __init__(self, onboarding: OnboardingService, admin_telegram_ids: frozenset[int]) -> None:
        self._onboarding = onboarding
        self._admin_ids = admin_telegram_ids

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        telegram_user: User | None = data.get("event_from_user")
        user = None
        if telegram_user is not None and not telegram_user.is_bot:
            user = await self._onboarding.touch(telegram_user.id, self.SEEN_RESOLUTION)
        data["user"] = user
        data["is_admin"] = (telegram_user is not None and telegram_user.id in self._admin_ids) or (
            user is not None and user.is_admin
        )
        return await handler(event, data)


def inline_pure_filters(router: Router) -> int:
    """aiogram runs every synchronous filter through `asyncio.to_thread` (a thread hop per
    check, a dozen per update). Magic filters (`F.text`, …) and `State` filters are pure,
    cheap comparisons, so run them on the event loop instead. Returns how many changed."""
    changed = 0
    for each in router.chain_tail:
        for observer in each.observers.values():
            for handler in [observer._handler, *observer.handlers]:
                for event_filter in handler.filters or ():
                    if event_filter.awaitable or not _is_pure(event_filter):
                        continue
                    event_filter.callback = _awaitable(event_filter.callback)
                    event_filter.awaitable = True  # params/varkw stay those of the original
                    changed += 1
    return changed


def _is_pure(event_filter: FilterObject) -> bool:
    return event_filter.magic is not None or isinstance(event_filter.callback, State)


def _awaitable(callback: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    async def call(*args: Any, **kwargs: Any) -> Any:
        return callback(*args, **kwargs)

    return call
