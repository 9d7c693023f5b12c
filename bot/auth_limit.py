"""Failed-authentication rate limit per client IP, in memory or in Redis (shared by instances)."""

from __future__ import annotations

import math
import time
from collections import deque
from typing import Protocol

from redis.asyncio import Redis

DEFAULT_MAX_FAILURES = 10
DEFAULT_WINDOW_S = 60.0


class FailedAuthLimiter(Protocol):
    async def blocked_for(self, client: str) -> int:
        """Seconds this client must wait before trying again; 0 when it may try now."""

    async def record_failure(self, client: str) -> int:
        """Count a failed attempt; returns the wait now imposed (0 while under the limit)."""


class MemoryAuthLimiter:
    def __init__(
        self, max_failures: int = DEFAULT_MAX_FAILURES, window_s: float = DEFAULT_WINDOW_S
    ) -> None:
        self._max = max_failures
        self._window = window_s
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, client: str, now: float) -> deque[float]:
        failures = self._failures.setdefault(client, deque())
        while failures and failures[0] <= now - self._window:
            failures.popleft()
        if not failures:
            del self._failures[client]
            return deque()
        return failures

    async def blocked_for(self, client: str) -> int:
        now = time.monotonic()
        failures = self._recent(client, now)
        if len(failures) < self._max:
            return 0
        return max(1, math.ceil(failures[0] + self._window - now))

    async def record_failure(self, client: str) -> int:
        now = time.monotonic()
        self._recent(client, now)
        self._failures.setdefault(client, deque()).append(now)
        if len(self._failures) > 10_000:  # bound memory under a spray of addresses
            self._failures.pop(next(iter(self._failures)))
        return await self.blocked_for(client)


class RedisAuthLimiter:
    """A fixed window per client: INCR plus EXPIRE, so every instance sees the same count."""

    def __init__(
        self,
        redis: Redis,
        max_failures: int = DEFAULT_MAX_FAILURES,
        window_s: float = DEFAULT_WINDOW_S,
        prefix: str = "rivet:authfail:",
    ) -> None:
        self._redis = redis
        self._max = max_failures
        self._window = max(1, math.ceil(window_s))
        self._prefix = prefix

    async def blocked_for(self, client: str) -> int:
        key = self._prefix + client
        count = await self._redis.get(key)
        if count is None or int(count) < self._max:
            return 0
        ttl = await self._redis.ttl(key)
        return max(1, int(ttl))

    async def record_failure(self, client: str) -> int:
        key = self._prefix + client
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, self._window, nx=True)
            count, _ = await pipe.execute()
        if int(count) < self._max:
            return 0
        return await self.blocked_for(client)
