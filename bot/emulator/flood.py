"""Sliding-window flood control, answering like Telegram with a whole-second retry_after."""

from __future__ import annotations

import math
from collections import deque


class SlidingWindowLimiter:
    """At most `rate` events per second, measured over a sliding window.

    Rates below 1/s widen the window instead (0.5/s = one event per 2 s), because a
    1 s window cannot hold half an event.
    """

    def __init__(self, rate: float) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self._window = max(1.0, 1.0 / rate)
        self._capacity = max(1, int(rate * self._window))
        self._hits: deque[float] = deque()

    def retry_after(self, now: float) -> int | None:
        """Seconds to wait before the next event is allowed, or None if it is allowed now."""
        while self._hits and self._hits[0] <= now - self._window:
            self._hits.popleft()
        if len(self._hits) < self._capacity:
            return None
        return max(1, math.ceil(self._hits[0] + self._window - now))

    def record(self, now: float) -> None:
        self._hits.append(now)


class FloodControl:
    """Per-bot global and per-chat limiters for the sending methods."""

    def __init__(self, global_rate: float, per_chat_rate: float) -> None:
        self._global_rate = global_rate
        self._per_chat_rate = per_chat_rate
        self._global: dict[int, SlidingWindowLimiter] = {}
        self._per_chat: dict[tuple[int, int], SlidingWindowLimiter] = {}

    def retry_after(self, bot_id: int, chat_id: int, now: float) -> int | None:
        waits = [
            limiter.retry_after(now)
            for limiter in (self._global_limiter(bot_id), self._chat_limiter(bot_id, chat_id))
        ]
        return max((wait for wait in waits if wait is not None), default=None)

    def record(self, bot_id: int, chat_id: int, now: float) -> None:
        self._global_limiter(bot_id).record(now)
        self._chat_limiter(bot_id, chat_id).record(now)

    def _global_limiter(self, bot_id: int) -> SlidingWindowLimiter:
        if bot_id not in self._global:
            self._global[bot_id] = SlidingWindowLimiter(self._global_rate)
        return self._global[bot_id]

    def _chat_limiter(self, bot_id: int, chat_id: int) -> SlidingWindowLimiter:
        key = (bot_id, chat_id)
        if key not in self._per_chat:
            self._per_chat[key] = SlidingWindowLimiter(self._per_chat_rate)
        return self._per_chat[key]
