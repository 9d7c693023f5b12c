"""Wires the admins' tools into a running process: services, handler data, jobs, shutdown.

``Runtime.start`` calls ``install_admin`` once the Bot and the dispatcher exist; handlers get
the tools as ``admin_tools`` (and the QR link lookup as ``asset_links``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from aiogram import Bot, Dispatcher
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.services.admin_users import AdminUsers
from bot.services.asset_labels import AssetLinks
from bot.services.broadcast import BroadcastService
from bot.services.messaging import Sender
from bot.services.rate_limit import SendLimiter
from bot.services.stats import StatsService
from integrations.telegram_sender import AiogramSender, FloodAccounting

if TYPE_CHECKING:  # bot.factory imports the handlers, which import this module
    from bot.factory import AppServices

BROADCAST_RESUME_INTERVAL_S = 15


@dataclass(slots=True)
class AdminTools:
    users: AdminUsers
    stats: StatsService
    broadcasts: BroadcastService
    links: AssetLinks
    sender: Sender
    limiter: SendLimiter
    bot_username: str
    token_ttl_days: float

    def schedule(self, scheduler: AsyncIOScheduler) -> None:
        # Runs at once (start-up resume), then keeps picking up broadcasts whose runner died.
        scheduler.add_job(
            self.broadcasts.resume_unfinished,
            "interval",
            seconds=BROADCAST_RESUME_INTERVAL_S,
            id="broadcast_resume",
            next_run_time=datetime.now(UTC),
        )

    async def stop(self) -> None:
        await self.broadcasts.stop()


def install_admin(
    services: AppServices, bot: Bot, dispatcher: Dispatcher, bot_username: str
) -> AdminTools:
    settings = services.settings
    limiter = SendLimiter(settings.telegram_send_rate_per_s)
    # Every other send of the bot is counted too, so broadcasts leave room for it.
    bot.session.middleware(FloodAccounting(limiter))
    sender = AiogramSender(bot)
    tools = AdminTools(
        users=AdminUsers(services.uow, services.onboarding),
        stats=StatsService(services.uow, services.cmms),
        broadcasts=BroadcastService(services.uow, sender, limiter),
        links=AssetLinks(services.uow, services.cmms.backend),
        sender=sender,
        limiter=limiter,
        bot_username=bot_username,
        token_ttl_days=settings.onboarding_token_ttl_days,
    )
    dispatcher["admin_tools"] = tools
    dispatcher["asset_links"] = tools.links
    return tools
