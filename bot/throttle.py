"""Per-key rate limiting of replies ("at most one answer per interval")."""

from __future__ import annotations

import time
from typing import Protocol

from redis.asyncio import Redis


class ReplyThrottle(Protocol):
    async def allow(self, key: str) -> bool: ...


class MemoryThrottle:
    def __init__(self, interval_s: float, max_keys: int = 10_000) -> None:
        self._interval = interval_s
        self._max_keys = max_keys
        self._last: dict[str, float] = {}

    async def allow(self, key: str) -> bool:
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self._interval:
            return False
        if len(self._last) >= self._max_keys:
            # Forget the stale half rather than growing without bound under a flood.
            cutoff = now - self._interval
            self._last = {k: t for k, t in self._last.items() if t >= cutoff}
        self._last[key] = now
        return True


class RedisThrottle:
    def __init__(self, redis: Redis, interval_s: float) -> None:
        self._redis = redis
        self._interval_ms = max(1, int(interval_s * 1000))

    async def allow(self, key: str) -> bool:
        return bool(
            await self._redis.set(f"rivet:throttle:{key}", 1, nx=True, px=self._interval_ms)
        )
