"""The aiohttp app: health and status, the Telegram webhook, and (see bot.billing_routes) Stripe."""

from __future__ import annotations

import hmac
import json
import logging
from dataclasses import dataclass

from aiogram import Bot, Dispatcher
from aiogram.types import Update
from aiohttp import web
from pydantic import ValidationError

from bot.http import bearer_matches, error_envelope, json_error
from bot.services.status import StatusService

log = logging.getLogger(__name__)

TELEGRAM_WEBHOOK_PATH = "/telegram/webhook"
MAX_BODY_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class WebContext:
    status: StatusService
    admin_api_key: str | None
    bot: Bot
    dispatcher: Dispatcher
    webhook_secret: str | None


WEB_CONTEXT = web.AppKey("web_context", WebContext)


def create_web_app(
    context: WebContext, *, extra_routes: list[web.RouteDef] | None = None
) -> web.Application:
    app = web.Application(middlewares=[error_envelope], client_max_size=MAX_BODY_BYTES)
    app[WEB_CONTEXT] = context
    app.router.add_get("/health", health)
    app.router.add_get("/api/status", api_status)
    if context.webhook_secret is not None:
        app.router.add_post(TELEGRAM_WEBHOOK_PATH, telegram_webhook)
    if extra_routes:
        app.router.add_routes(extra_routes)
    return app


async def health(request: web.Request) -> web.Response:
    context = request.app[WEB_CONTEXT]
    database = await context.status.database_check()
    if database.status != "ok":
        return web.json_response(
            {"status": "degraded", "checks": {"database": database.as_dict()}}, status=503
        )
    return web.json_response({"status": "ok", "checks": {"database": database.as_dict()}})


async def api_status(request: web.Request) -> web.Response:
    context = request.app[WEB_CONTEXT]
    if not bearer_matches(request, context.admin_api_key):
        return json_error(
            401, "A valid admin API key is required.", headers={"WWW-Authenticate": "Bearer"}
        )
    checks = await context.status.checks()
    healthy = checks["database"].status == "ok"
    return web.json_response(
        {
            "status": "ok" if healthy else "degraded",
            "services": {name: check.as_dict() for name, check in checks.items()},
            "metrics": await context.status.metrics(),
        },
        status=200 if healthy else 503,
    )


async def telegram_webhook(request: web.Request) -> web.Response:
    context = request.app[WEB_CONTEXT]
    supplied = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
    expected = context.webhook_secret or ""
    if not supplied or not hmac.compare_digest(supplied.encode(), expected.encode()):
        return json_error(403, "Missing or wrong secret token.")
    try:
        payload = json.loads(await request.read())
        update = Update.model_validate(payload, context={"bot": context.bot})
    except (ValueError, ValidationError):
        return json_error(400, "The body is not a Telegram update.")
    # Handled before answering: a failure gives a 500 so Telegram delivers the update again,
    # and the de-duplication middleware makes the second delivery the only one that counts.
    await context.dispatcher.feed_update(context.bot, update)
    return web.json_response({})
