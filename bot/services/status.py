"""Service checks and metrics, shared by GET /api/status and the admins' /status command."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from bot.metrics import LatencyRecorder
from storage.db import Database
from storage.models import utcnow
from storage.uow import UnitOfWorkFactory

CHECK_TIMEOUT_S = 3.0
TELEGRAM_CACHE_S = 60.0

Probe = Callable[[], Awaitable[str]]


@dataclass(slots=True)
class Check:
    status: str  # "ok" | "error" | "not configured"
    detail: str = ""

    def as_dict(self) -> dict[str, str]:
        return (
            {"status": self.status, "detail": self.detail}
            if self.detail
            else {"status": self.status}
        )


@dataclass(slots=True)
class StatusService:
    database: Database
    uow: UnitOfWorkFactory
    latency: LatencyRecorder
    telegram_probe: Probe | None = None
    optional_probes: dict[str, Probe | None] = field(default_factory=dict)
    work_orders_today: Callable[[], Awaitable[int]] | None = None
    _telegram_cache: tuple[float, Check] | None = None

    async def database_check(self) -> Check:
        try:
            await self.database.ping(CHECK_TIMEOUT_S)
        except Exception as exc:
            return Check("error", f"database unreachable ({type(exc).__name__})")
        return Check("ok", self.database.dialect)

    async def telegram_check(self) -> Check:
        if self.telegram_probe is None:
            return Check("not configured")
        cached = self._telegram_cache
        if cached and time.monotonic() - cached[0] < TELEGRAM_CACHE_S:
            return cached[1]
        check = await _run_probe(self.telegram_probe)
        self._telegram_cache = (time.monotonic(), check)
        return check

    async def checks(self) -> dict[str, Check]:
        names = ["database", "telegram", *self.optional_probes]
        results = await asyncio.gather(
            self.database_check(),
            self.telegram_check(),
            *(
                _run_probe(probe) if probe else _not_configured()
                for probe in self.optional_probes.values()
            ),
        )
        return dict(zip(names, results, strict=True))

    async def metrics(self) -> dict[str, Any]:
        async with self.uow() as uow:
            users = await uow.users.count()
            active = await uow.users.count_active_since(utcnow() - timedelta(hours=24))
        return {
            "users": users,
            "users_active_24h": active,
            "work_orders_today": await self.work_orders_today() if self.work_orders_today else 0,
            "update_latency_ms": self.latency.percentiles_ms(),
        }


async def _not_configured() -> Check:
    return Check("not configured")


async def _run_probe(probe: Probe) -> Check:
    try:
        detail = await asyncio.wait_for(probe(), CHECK_TIMEOUT_S)
    except Exception as exc:
        message = getattr(exc, "message", None) or type(exc).__name__
        return Check("error", str(message)[:200])
    return Check("ok", detail)
