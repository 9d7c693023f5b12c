"""The scheduled jobs of issue 8, built once per process and registered on the scheduler.

``Runtime.start`` calls ``install_jobs`` once the Telegram outbox exists (messages are queued
there and delivered right after each run); handlers get the escalation service as
``escalation`` for the Ack button."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from aiogram import Dispatcher
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from bot.services.cleanup import Cleanup
from bot.services.cmms_watch import CmmsWatch, WatchPolicy
from bot.services.digest import Digest
from bot.services.escalation import Escalation
from integrations.telegram import TelegramOutbox

if TYPE_CHECKING:  # bot.factory imports the handlers, which import this module
    from bot.factory import AppServices

ESCALATION_INTERVAL_S = 60
CLEANUP_INTERVAL_S = 6 * 3600


@dataclass(slots=True)
class ScheduledJobs:
    watch: CmmsWatch
    escalation: Escalation
    digest: Digest
    cleanup: Cleanup
    watch_interval_s: int
    digest_hour: int
    digest_minute: int
    digest_timezone: ZoneInfo

    def schedule(self, scheduler: AsyncIOScheduler) -> None:
        scheduler.add_job(
            self.watch.run, "interval", seconds=self.watch_interval_s, id="cmms_status_sync"
        )
        scheduler.add_job(
            self.escalation.run, "interval", seconds=ESCALATION_INTERVAL_S, id="escalation"
        )
        scheduler.add_job(
            self.digest.send,
            CronTrigger(
                hour=self.digest_hour, minute=self.digest_minute, timezone=self.digest_timezone
            ),
            id="daily_digest",
            misfire_grace_time=3600,  # late is better than never; the outbox key stops repeats
        )
        scheduler.add_job(self.cleanup.run, "interval", seconds=CLEANUP_INTERVAL_S, id="cleanup")


def install_jobs(
    services: AppServices, dispatcher: Dispatcher, outbox: TelegramOutbox
) -> ScheduledJobs:
    settings = services.settings
    hour, minute = (int(part) for part in settings.digest_time.split(":"))
    admin_ids = settings.admin_telegram_ids
    jobs = ScheduledJobs(
        watch=CmmsWatch(
            services.uow,
            services.cmms,
            policy=WatchPolicy(interval=timedelta(seconds=settings.cmms_watch_interval_s)),
            after_commit=outbox.trigger,
        ),
        escalation=Escalation(
            services.uow,
            services.cmms,
            ack_after=timedelta(minutes=settings.escalation_ack_minutes),
            admin_telegram_ids=admin_ids,
            after_commit=outbox.trigger,
        ),
        digest=Digest(
            services.uow,
            services.cmms,
            timezone=settings.digest_timezone,
            admin_telegram_ids=admin_ids,
            after_commit=outbox.trigger,
        ),
        cleanup=Cleanup(services.uow, token_retention=timedelta(days=settings.cleanup_token_days)),
        watch_interval_s=settings.cmms_watch_interval_s,
        digest_hour=hour,
        digest_minute=minute,
        digest_timezone=ZoneInfo(settings.digest_timezone),
    )
    dispatcher["escalation"] = jobs.escalation
    return jobs
