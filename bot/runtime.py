"""One process: the aiogram bot (polling or webhook), the aiohttp app and the scheduler."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Sequence
from contextlib import suppress

from aiogram import Bot, Dispatcher, Router
from aiogram.exceptions import TelegramUnauthorizedError
from aiogram.types import BotCommand, BotCommandScopeAllPrivateChats, BotCommandScopeChat, User
from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from pydantic import SecretStr

from bot import texts
from bot.admin_runtime import AdminTools, install_admin
from bot.billing_routes import BillingWebContext, billing_routes
from bot.factory import (
    AppServices,
    create_dispatcher,
    create_scheduler,
    create_services,
    create_voice_transcriber,
)
from bot.jobs import ScheduledJobs, install_jobs
from bot.services.status import StatusService
from bot.settings import Settings
from integrations.cmms.factory import cmms_probe, index_refresh_interval, refresh_asset_index
from integrations.speech import OfflineTranscriber
from integrations.stripe_api import WebhookVerifier
from integrations.telegram import ConflictWatch, TelegramOutbox, create_bot
from storage.migrate import upgrade
from webhooks_app import TELEGRAM_WEBHOOK_PATH, WebContext, create_web_app

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_CONFIG = 2
EXIT_CONFLICT = 3
OUTBOX_INTERVAL_S = 10
BILLING_GRACE_INTERVAL_S = 3600
CMMS_RETRY_INTERVAL_S = 30
# Accounts in Atlas for paying users whose provisioning met an unavailable Atlas.
CMMS_ACCOUNTS_INTERVAL_S = 120


class StartupError(Exception):
    """Start-up cannot continue; the message is one line for the operator."""


class Runtime:
    """Owns every long-lived resource of the process and the order they start and stop in."""

    def __init__(self, settings: Settings, *, extra_routers: Sequence[Router] = ()) -> None:
        self.settings = settings
        self._extra_routers = extra_routers
        self.services: AppServices = create_services(settings)
        self.bot: Bot | None = None
        self.me: User | None = None
        self.dispatcher: Dispatcher | None = None
        self.scheduler: AsyncIOScheduler = create_scheduler()
        self.web_runner: web.AppRunner | None = None
        self.http_port: int | None = None
        self.outbox: TelegramOutbox | None = None
        self.status: StatusService | None = None
        self.admin: AdminTools | None = None
        self.jobs: ScheduledJobs | None = None
        self.exit_code = EXIT_OK
        self._polling_task: asyncio.Task[None] | None = None
        self._stop_requested = asyncio.Event()
        self._stopped = False

    # -- start ---------------------------------------------------------------------------
    async def start(self) -> None:
        settings = self.settings
        if settings.telegram_bot_token is None:
            raise StartupError(texts.NO_BOT_TOKEN)
        if settings.migrate_on_start:
            await upgrade(self.services.database.engine)
        bot = self.bot = create_bot(
            settings.telegram_bot_token.get_secret_value(), settings.telegram_api_base
        )
        bot.session.middleware(ConflictWatch(self._on_conflict))
        try:
            self.me = await bot.me()
        except TelegramUnauthorizedError:
            raise StartupError(
                "TELEGRAM_BOT_TOKEN: Telegram rejected the token; copy it again from @BotFather"
            ) from None
        dispatcher = self.dispatcher = create_dispatcher(
            self.services, extra_routers=self._extra_routers
        )
        dispatcher["bot_username"] = self.me.username
        self.outbox = TelegramOutbox(bot, self.services.uow)
        dispatcher["outbox"] = self.outbox
        assert self.me.username is not None
        self.admin = install_admin(self.services, bot, dispatcher, self.me.username)
        self.jobs = install_jobs(self.services, dispatcher, self.outbox)
        await self._set_commands(bot)
        await self._start_web(bot, dispatcher)
        # Search must work from the first message, and keep working while the CMMS is down.
        await refresh_asset_index(self.services.cmms)
        try:
            self.services.transcriber = await create_voice_transcriber(self.services)
        except ValueError as exc:
            raise StartupError(f"SPEECH_BACKEND: {exc}") from None
        dispatcher["transcriber"] = self.services.transcriber
        if settings.speech_warm_up and isinstance(self.services.transcriber, OfflineTranscriber):
            await self.services.transcriber.warm_up()
        self._schedule_jobs()
        self.scheduler.start()
        if settings.webhook_mode:
            await self._set_webhook(bot, dispatcher)
        else:
            await bot.delete_webhook(drop_pending_updates=False)
            self._polling_task = asyncio.create_task(
                dispatcher.start_polling(
                    bot, handle_signals=False, close_bot_session=False, polling_timeout=10
                )
            )
        log.info(
            "Rivet started as @%s (%s mode), HTTP on %s:%s",
            self.me.username,
            "webhook" if settings.webhook_mode else "polling",
            settings.http_host,
            self.http_port,
        )

    async def _start_web(self, bot: Bot, dispatcher: Dispatcher) -> None:
        settings = self.settings
        status = self.status = StatusService(
            database=self.services.database,
            uow=self.services.uow,
            latency=self.services.latency,
            telegram_probe=self._telegram_probe,
            optional_probes={
                "cmms": self._cmms_probe,
                "stripe": self.services.stripe.probe if self.services.stripe else None,
                "openai": None,
            },
        )
        dispatcher["status"] = status  # the admins' /status runs the same checks
        app = create_web_app(
            WebContext(
                status=status,
                admin_api_key=_secret(settings.admin_api_key),
                bot=bot,
                dispatcher=dispatcher,
                webhook_secret=_secret(settings.telegram_webhook_secret),
            ),
            extra_routes=billing_routes(self._billing_web_context()),
        )
        self.web_runner = web.AppRunner(
            app, shutdown_timeout=settings.shutdown_grace_s, access_log=None
        )
        await self.web_runner.setup()
        site = web.TCPSite(self.web_runner, settings.http_host, settings.http_port)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.http_port = sockets[0].getsockname()[1] if sockets else settings.http_port

    def _billing_web_context(self) -> BillingWebContext:
        assert self.me is not None and self.me.username and self.outbox is not None
        stripe_secret = _secret(self.settings.stripe_webhook_secret)
        return BillingWebContext(
            billing=self.services.billing,
            cmms_accounts=self.services.cmms_accounts,
            verifier=WebhookVerifier.from_setting(stripe_secret) if stripe_secret else None,
            bot_username=self.me.username,
            admin_api_key=_secret(self.settings.admin_api_key),
            auth_limiter=self.services.auth_limiter,
            after_commit=self.outbox.trigger,
        )

    async def _cmms_probe(self) -> str:
        return await cmms_probe(self.services.cmms)

    async def _telegram_probe(self) -> str:
        assert self.bot is not None
        me = await self.bot.get_me()
        return f"@{me.username}"

    async def _set_commands(self, bot: Bot) -> None:
        technician = [BotCommand(command=c, description=d) for c, d in texts.COMMANDS_TECHNICIAN]
        admin = technician + [BotCommand(command=c, description=d) for c, d in texts.COMMANDS_ADMIN]
        await bot.set_my_commands(technician, scope=BotCommandScopeAllPrivateChats())
        async with self.services.uow() as uow:
            admin_chats = {
                user.telegram_chat_id
                for user in await uow.users.linked()
                if user.role == "admin" and user.telegram_chat_id
            }
        for chat_id in admin_chats | set(self.settings.admin_telegram_ids):
            await bot.set_my_commands(admin, scope=BotCommandScopeChat(chat_id=chat_id))

    async def _set_webhook(self, bot: Bot, dispatcher: Dispatcher) -> None:
        assert self.settings.telegram_webhook_url and self.settings.telegram_webhook_secret
        url = self.settings.telegram_webhook_url.rstrip("/")
        if not url.endswith(TELEGRAM_WEBHOOK_PATH):
            url += TELEGRAM_WEBHOOK_PATH
        await bot.set_webhook(
            url,
            secret_token=self.settings.telegram_webhook_secret.get_secret_value(),
            allowed_updates=dispatcher.resolve_used_update_types(),
        )

    def _schedule_jobs(self) -> None:
        assert self.outbox is not None and self.admin is not None
        self.admin.schedule(self.scheduler)
        assert self.jobs is not None
        self.jobs.schedule(self.scheduler)
        self.scheduler.add_job(
            self.outbox.deliver_due, "interval", seconds=OUTBOX_INTERVAL_S, id="telegram_outbox"
        )
        self.scheduler.add_job(
            self.services.billing.expire_grace_periods,
            "interval",
            seconds=BILLING_GRACE_INTERVAL_S,
            id="billing_grace",
        )
        cmms = self.services.cmms
        self.scheduler.add_job(
            self.services.cmms_sync.retry_due,
            "interval",
            seconds=CMMS_RETRY_INTERVAL_S,
            id="cmms_retry",
        )
        self.scheduler.add_job(
            self.services.prints.attach_pending,
            "interval",
            seconds=CMMS_RETRY_INTERVAL_S,
            id="print_attachments",
        )
        self.scheduler.add_job(
            self.services.cmms_accounts.link_missing,
            "interval",
            seconds=CMMS_ACCOUNTS_INTERVAL_S,
            id="cmms_accounts",
        )
        self.scheduler.add_job(
            refresh_asset_index,
            "interval",
            args=[cmms],
            seconds=index_refresh_interval(cmms),
            id="cmms_asset_index",
        )

    # -- stop ----------------------------------------------------------------------------
    def _on_conflict(self) -> None:
        if self.exit_code == EXIT_OK:
            log.error(texts.POLLING_CONFLICT)
            self.exit_code = EXIT_CONFLICT
        self.request_stop()

    def request_stop(self) -> None:
        self._stop_requested.set()

    async def wait_stop_requested(self) -> None:
        await self._stop_requested.wait()

    async def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        grace = self.settings.shutdown_grace_s
        if self._polling_task is not None and self.dispatcher is not None:
            with suppress(RuntimeError):  # polling may already have ended
                await self.dispatcher.stop_polling()
            with suppress(asyncio.CancelledError, Exception):
                await self._polling_task
        if self.web_runner is not None:
            # Stops accepting requests, then lets in-flight webhook requests finish.
            await self.web_runner.cleanup()
        if not await self.services.in_flight.wait_idle(grace):
            log.warning(
                "%s update(s) still running after %ss; their transactions are rolled back",
                self.services.in_flight.count,
                grace,
            )
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if self.admin is not None:
            await self.admin.stop()  # broadcasts stop between two messages
        if self.outbox is not None:
            await self.outbox.wait_triggered()
        if self.dispatcher is not None:
            await self.dispatcher.storage.close()
        if self.bot is not None:
            await self.bot.session.close()
        await self.services.close()
        log.info("Rivet stopped")

    async def serve(self) -> int:
        """Run until SIGTERM/SIGINT (or a fatal conflict); returns the process exit code."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        try:
            await self.start()
            await self.wait_stop_requested()
        finally:
            await self.stop()
        return self.exit_code


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


def create_app(settings: Settings, *, extra_routers: Sequence[Router] = ()) -> Runtime:
    return Runtime(settings, extra_routers=extra_routers)
