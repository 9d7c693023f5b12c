"""Client-side flood control for the Bot API: ≤ 30 sends/s per bot and ≤ 1/s per chat.

Telegram counts a send at some moment between our request leaving and its answer arriving. So a
slot is taken when a request starts and is kept until one window *after its answer*: then the
(N+1)-th request can never reach Telegram inside the window of the first, whatever the network
jitter, and the throughput is N / (window + latency) — within a few percent of the limit.

No aiogram here; callers wrap each send in ``async with limiter.slot(chat_id):`` and call
``pause(retry_after)`` when Telegram answers 429 anyway (other traffic of the same bot)."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar

TELEGRAM_GLOBAL_RATE = 30
TELEGRAM_PER_CHAT_RATE = 1
WINDOW_S = 1.0

# Set while a send runs inside ``slot()``, so ``observe()`` (the Bot session's middleware that
# accounts for every other send of the bot) does not count it twice.
_in_slot: ContextVar[bool] = ContextVar("rivet_in_send_slot", default=False)


class _Window:
    """Requests in flight plus completion times still inside the window."""

    __slots__ = ("capacity", "done", "in_flight")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.in_flight = 0
        self.done: deque[float] = deque()

    def wait(self, now: float, window: float) -> float | None:
        """0 when a request may start now; seconds to wait; None = until something finishes."""
        while self.done and self.done[0] <= now - window:
            self.done.popleft()
        if self.in_flight + len(self.done) < self.capacity:
            return 0.0
        if self.done:
            return self.done[0] + window - now
        return None


class SendLimiter:
    def __init__(
        self,
        global_rate: int = TELEGRAM_GLOBAL_RATE,
        per_chat_rate: int = TELEGRAM_PER_CHAT_RATE,
        *,
        window: float = WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._window = window
        self._clock = clock
        self._global = _Window(global_rate)
        self._per_chat_rate = per_chat_rate
        self._chats: dict[int, _Window] = {}
        # A new process cannot know what the previous one sent in the last window (a restart
        # mid-broadcast): the first paced send waits one window.
        self._paused_until = clock() + window
        self._changed = asyncio.Event()

    def pause(self, seconds: float) -> None:
        """Telegram said 429 retry_after: nobody sends before that many seconds from now."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)

    @asynccontextmanager
    async def slot(self, chat_id: int) -> AsyncIterator[None]:
        """Wait for room under both limits, then hold it while the send runs."""
        chat = await self._acquire(chat_id)
        marker = _in_slot.set(True)
        try:
            yield
        finally:
            _in_slot.reset(marker)
            self._release(chat)

    @asynccontextmanager
    async def observe(self, chat_id: int) -> AsyncIterator[None]:
        """Count a send made outside ``slot()`` (handlers' answers) without delaying it."""
        if _in_slot.get():
            yield
            return
        chat = self._chat(chat_id)
        self._global.in_flight += 1
        chat.in_flight += 1
        try:
            yield
        finally:
            self._release(chat)

    def _chat(self, chat_id: int) -> _Window:
        chat = self._chats.get(chat_id)
        if chat is None:
            chat = self._chats[chat_id] = _Window(self._per_chat_rate)
        return chat

    def _release(self, chat: _Window) -> None:
        now = self._clock()
        for window in (self._global, chat):
            window.in_flight -= 1
            window.done.append(now)
        self._forget_idle_chats(now)
        self._changed.set()
        self._changed = asyncio.Event()

    async def _acquire(self, chat_id: int) -> _Window:
        while True:
            now = self._clock()
            chat = self._chat(chat_id)
            waits: list[float | None] = [max(0.0, self._paused_until - now)]
            waits += [window.wait(now, self._window) for window in (self._global, chat)]
            if all(wait == 0.0 for wait in waits):
                self._global.in_flight += 1
                chat.in_flight += 1
                return chat
            timed = [wait for wait in waits if wait is not None and wait > 0]
            changed = self._changed
            try:
                async with asyncio.timeout(max(timed) if None not in waits else None):
                    await changed.wait()
            except TimeoutError:
                pass

    def _forget_idle_chats(self, now: float) -> None:
        if len(self._chats) < 1024:
            return
        for chat_id, window in list(self._chats.items()):
            if not window.in_flight and (not window.done or window.done[-1] <= now - self._window):
                del self._chats[chat_id]
