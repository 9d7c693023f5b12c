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
from pydantic import SecretStr
from redis.asyncio import Redis

from bot.auth_limit import FailedAuthLimiter, MemoryAuthLimiter, RedisAuthLimiter
from bot.dedup import DatabaseDeduplicator, RedisDeduplicator, UpdateDeduplicator
from bot.metrics import LatencyRecorder
from bot.middlewares import (
    CurrentUserMiddleware,
    InFlight,
    UpdateTrackingMiddleware,
    inline_pure_filters,
)
from bot.services.billing import BillingService
from bot.services.cmms_accounts import CmmsAccounts
from bot.services.cmms_sync import CmmsSync
from bot.services.intent import create_intent_extractor
from bot.services.onboarding import OnboardingService
from bot.services.prints import PrintService, create_print_service
from bot.services.tiers import TierGate, TierPolicy
from bot.services.work_orders import WorkOrderIntake
from bot.settings import Settings
from bot.throttle import MemoryThrottle, RedisThrottle, ReplyThrottle
from handlers import get_routers
from handlers.work_orders import AlbumCollector
from integrations.cmms.factory import create_cmms
from integrations.cmms.port import CmmsError, CmmsPort
from integrations.speech import Transcriber, create_transcriber
from integrations.stripe_api import StripeGateway
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
    cmms: CmmsPort
    cmms_sync: CmmsSync  # the CMMS write outbox; handlers get it as `writer`
    cmms_accounts: CmmsAccounts  # Atlas users for paying users
    billing: BillingService
    tiers: TierGate
    stripe: StripeGateway | None  # None without STRIPE_API_KEY: billing "not configured"
    auth_limiter: FailedAuthLimiter
    prints: PrintService  # Chat with Print; owns the vision model's OpenAI client
    intake: WorkOrderIntake
    transcriber: Transcriber | None = None  # built at start: its vocabulary is the asset list

    async def close(self) -> None:
        if self.stripe is not None:
            await self.stripe.close()
        await self.prints.close()
        if self.transcriber is not None:
            await self.transcriber.close()
        await self.cmms.close()
        if self.redis is not None:
            await self.redis.aclose()
        await self.database.close()


def create_redis(url: str) -> Redis:
    return Redis.from_url(
        url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S
    )


def create_services(settings: Settings) -> AppServices:
    database = Database(settings.resolved_database_url)
    uow = UnitOfWorkFactory(database.sessionmaker, reader=database.read)
    redis = create_redis(settings.redis_url) if settings.redis_url else None
    dedup: UpdateDeduplicator
    throttle: ReplyThrottle
    if redis is not None:
        dedup = RedisDeduplicator(redis)
        throttle = RedisThrottle(redis, settings.unknown_user_reply_interval_s)
    else:
        dedup = DatabaseDeduplicator(database.sessionmaker)
        throttle = MemoryThrottle(settings.unknown_user_reply_interval_s)
    cmms = create_cmms(settings, uow)
    onboarding = OnboardingService(
        uow, token_ttl=timedelta(days=settings.onboarding_token_ttl_days)
    )
    webhook_secret = settings.stripe_webhook_secret
    billing = BillingService(
        uow,
        onboarding,
        prices=settings.stripe_price_for_tier(),
        past_due_grace=timedelta(days=settings.stripe_past_due_grace_days),
        # The key that derives checkout deep links: the first (newest) webhook secret.
        link_key=(
            webhook_secret.get_secret_value().split(",")[0].strip().encode()
            if webhook_secret
            else None
        ),
        serialize_writes=database.dialect == "sqlite",
    )
    stripe_gateway = (
        StripeGateway(settings.stripe_api_key.get_secret_value(), api_base=settings.stripe_api_base)
        if settings.stripe_api_key is not None
        else None
    )
    tiers = TierGate(TierPolicy.from_mapping(settings.tier_policy))
    return AppServices(
        settings=settings,
        database=database,
        uow=uow,
        onboarding=onboarding,
        latency=LatencyRecorder(),
        in_flight=InFlight(),
        dedup=dedup,
        reply_throttle=throttle,
        redis=redis,
        billing=billing,
        tiers=tiers,
        stripe=stripe_gateway,
        auth_limiter=RedisAuthLimiter(redis) if redis is not None else MemoryAuthLimiter(),
        cmms=cmms,
        cmms_accounts=CmmsAccounts(uow, cmms),
        cmms_sync=CmmsSync(
            uow,
            cmms,
            admin_telegram_ids=settings.admin_telegram_ids,
            files_dir=settings.rivet_data_dir / "pending-files",
        ),
        prints=create_print_service(settings, uow, cmms, tiers),
        intake=WorkOrderIntake(
            create_intent_extractor(
                openai_api_key=_secret(settings.openai_api_key),
                openai_base_url=settings.openai_base_url,
                openai_model=settings.openai_model,
                catalog=cmms,
            ),
            cmms,
        ),
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
    return DatabaseStorage(services.database), SimpleEventIsolation()


def create_dispatcher(services: AppServices, *, extra_routers: Sequence[Router] = ()) -> Dispatcher:
    storage, isolation = create_fsm_storage(services)
    dispatcher = Dispatcher(
        storage=storage,
        events_isolation=isolation,
        settings=services.settings,
        services=services,
        onboarding=services.onboarding,
        reply_throttle=services.reply_throttle,
        cmms=services.cmms,
        writer=services.cmms_sync,
        prints=services.prints,
        intake=services.intake,
        tiers=services.tiers,
        albums=AlbumCollector(),
        transcriber=None,
    )
    dispatcher.update.outer_middleware(
        UpdateTrackingMiddleware(
            # Polling confirms each update by offset, so only webhooks see redeliveries.
            services.dedup if services.settings.webhook_mode else None,
            services.in_flight,
            services.latency,
        )
    )
    dispatcher.update.outer_middleware(
        CurrentUserMiddleware(services.onboarding, frozenset(services.settings.admin_telegram_ids))
    )
    # Extra routers (tests, plug-ins) go before the fallback router, which must stay last.
    routers = get_routers()
    dispatcher.include_routers(*routers[:-1], *extra_routers, routers[-1])
    inline_pure_filters(dispatcher)
    return dispatcher


async def create_voice_transcriber(services: AppServices) -> Transcriber | None:
    """SPEECH_BACKEND's transcriber, primed with the asset names technicians will say."""
    settings = services.settings
    try:
        names = [asset.name for asset in await services.cmms.list_assets(limit=5000)]
    except CmmsError:
        names = []  # the CMMS being down must not stop the bot from starting
    return create_transcriber(
        backend=settings.speech_backend,
        openai_api_key=_secret(settings.openai_api_key),
        openai_base_url=settings.openai_base_url,
        transcribe_model=settings.openai_transcribe_model,
        vocabulary=names,
    )


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


def create_scheduler() -> AsyncIOScheduler:
    # Jobs are idempotent; coalescing avoids a burst of catch-up runs after a pause.
    return AsyncIOScheduler(
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30}
    )
