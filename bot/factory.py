"""Factories that compose Rivet. `rivet run` and the tests build the app through these."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from aiogram import Dispatcher, Router
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage, DefaultKeyBuilder
from aiogram.fsm.storage.memory import SimpleEventIsolation
from aiogram.fsm.storage.redis import RedisStorage
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from redis.asyncio import Redis

from bot.dedup import DatabaseDeduplicator, RedisDeduplicator, UpdateDeduplicator
from bot.metrics import LatencyRecorder
from bot.middlewares import CurrentUserMiddleware, InFlight, UpdateTrackingMiddleware
from bot.services.onboarding import OnboardingService
from bot.settings import Settings
from bot.throttle import MemoryThrottle, RedisThrottle, ReplyThrottle
from handlers import get_routers
from storage.db import Database
from storage.fsm import DatabaseStorage
from storage.uow import UnitOfWorkFactory

REDIS_TIMEOUT_S = 5.0


@dataclass(slots=True)
class AppServices:
    """Everything long-lived that handlers, routes and jobs share. Built once per process."""

    settings: Settings
    database: Database
    uow: UnitOfWorkFactory
    onboarding: OnboardingService
    latency: LatencyRecorder
    in_flight: InFlight
    dedup: UpdateDeduplicator
    reply_throttle: ReplyThrottle
    redis: Redis | None

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()
        await self.database.close()


def create_redis(url: str) -> Redis:
    return Redis.from_url(
        url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S
    )


def create_services(settings: Settings) -> AppServices:
    database = Database(settings.resolved_database_url)
    uow = UnitOfWorkFactory(database.sessionmaker)
    redis = create_redis(settings.redis_url) if settings.redis_url else None
    dedup: UpdateDeduplicator
    throttle: ReplyThrottle
    if redis is not None:
        dedup = RedisDeduplicator(redis)
        throttle = RedisThrottle(redis, settings.unknown_user_reply_interval_s)
    else:
        dedup = DatabaseDeduplicator(database.sessionmaker)
        throttle = MemoryThrottle(settings.unknown_user_reply_interval_s)
    return AppServices(
        settings=settings,
        database=database,
        uow=uow,
        onboarding=OnboardingService(
            uow, token_ttl=timedelta(days=settings.onboarding_token_ttl_days)
        ),
        latency=LatencyRecorder(),
        in_flight=InFlight(),
        dedup=dedup,
        reply_throttle=throttle,
        redis=redis,
    )


def create_fsm_storage(services: AppServices) -> tuple[BaseStorage, BaseEventIsolation]:
    """Redis (shared by instances, with cross-instance locks) or Rivet's own database."""
    if services.settings.redis_url:
        # A client of its own: RedisStorage.close() closes the pool it is given.
        storage = RedisStorage(
            create_redis(services.settings.redis_url),
            key_builder=DefaultKeyBuilder(with_bot_id=True, with_destiny=True),
        )
        return storage, storage.create_isolation()
    return DatabaseStorage(services.database.sessionmaker), SimpleEventIsolation()


def create_dispatcher(services: AppServices, *, extra_routers: Sequence[Router] = ()) -> Dispatcher:
    storage, isolation = create_fsm_storage(services)
    dispatcher = Dispatcher(
        storage=storage,
        events_isolation=isolation,
        settings=services.settings,
        services=services,
        onboarding=services.onboarding,
        reply_throttle=services.reply_throttle,
    )
    dispatcher.update.outer_middleware(
        UpdateTrackingMiddleware(services.dedup, services.in_flight, services.latency)
    )
    dispatcher.update.outer_middleware(
        CurrentUserMiddleware(services.onboarding, frozenset(services.settings.admin_telegram_ids))
    )
    # Extra routers (tests, plug-ins) go before the fallback router, which must stay last.
    routers = get_routers()
    dispatcher.include_routers(*routers[:-1], *extra_routers, routers[-1])
    return dispatcher


def create_scheduler() -> AsyncIOScheduler:
    # Jobs are idempotent; coalescing avoids a burst of catch-up runs after a pause.
    return AsyncIOScheduler(
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30}
    )
