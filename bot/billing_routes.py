"""HTTP routes for billing: the Stripe webhook, the checkout success page, and the admin
provisioning and user look-up API (bearer ADMIN_API_KEY, failed attempts rate-limited)."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from html import escape
from typing import Any, Literal

import segno
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot import texts
from bot.auth_limit import FailedAuthLimiter
from bot.domain import Tier
from bot.http import bearer_matches, json_error
from bot.services.billing import BillingService
from bot.services.cmms_accounts import CmmsAccounts, atlas_user_id
from integrations.stripe_api import InvalidWebhookError, WebhookVerifier

log = logging.getLogger(__name__)

STRIPE_WEBHOOK_PATH = "/api/webhooks/stripe"
CHECKOUT_SESSION_ID = re.compile(r"^cs_[A-Za-z0-9_]{1,250}$")
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
SUCCESS_REFRESH_S = 3


@dataclass(frozen=True, slots=True)
class BillingWebContext:
    billing: BillingService
    cmms_accounts: CmmsAccounts
    verifier: WebhookVerifier | None
    bot_username: str
    admin_api_key: str | None
    auth_limiter: FailedAuthLimiter
    after_commit: Callable[[], None]  # e.g. deliver the Telegram outbox now


class ProvisionRequest(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    email: str = Field(max_length=320)
    stripe_customer_id: str | None = Field(default=None, max_length=255)
    subscription_tier: Literal["basic", "pro", "enterprise"]

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        if not EMAIL.fullmatch(value):
            raise ValueError("must be an email address")
        return value.lower()

    @field_validator("stripe_customer_id")
    @classmethod
    def _customer(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"cus_[A-Za-z0-9_]+", value):
            raise ValueError("must be a Stripe customer id (cus_…)")
        return value or None


def billing_routes(context: BillingWebContext) -> list[web.RouteDef]:
    routes = [
        web.get("/billing/success", _success_page(context)),
        web.post("/api/users/provision", _guarded(context, _provision)),
        web.get("/api/users/{user_id}", _guarded(context, _user_by_id)),
        web.get("/api/users", _guarded(context, _user_by_email)),
    ]
    if context.verifier is not None:
        routes.append(web.post(STRIPE_WEBHOOK_PATH, _stripe_webhook(context)))
    return routes


# -- Stripe webhook ---------------------------------------------------------------------------
def _stripe_webhook(
    context: BillingWebContext,
) -> Callable[[web.Request], Awaitable[web.Response]]:
    assert context.verifier is not None
    verifier = context.verifier

    async def stripe_webhook(request: web.Request) -> web.Response:
        body = await request.read()  # raw bytes; over client_max_size → 413 envelope
        try:
            event = verifier.verify(body, request.headers.get("Stripe-Signature"))
        except InvalidWebhookError as exc:
            log.info("stripe webhook refused: %s", exc)
            return json_error(400, str(exc))
        # A failure raises: the envelope middleware answers 500 and Stripe redelivers.
        result = await context.billing.apply_event(event)
        if result.queued_messages:
            context.after_commit()
        return web.json_response({"received": True, "outcome": result.outcome})

    return stripe_webhook


# -- success page -----------------------------------------------------------------------------
def _success_page(context: BillingWebContext) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def success(request: web.Request) -> web.Response:
        session_id = request.query.get("session_id", "")
        if not CHECKOUT_SESSION_ID.fullmatch(session_id):
            return _html(texts.SUCCESS_PAGE_BAD_LINK, "", status=400)
        status = await context.billing.checkout_status(session_id, context.bot_username)
        if not status.ready or status.link is None:
            return _html(
                texts.SUCCESS_PAGE_WAITING,
                f"<p>{escape(texts.SUCCESS_PAGE_WAITING_DETAIL)}</p>",
                refresh=True,
            )
        link = escape(status.link, quote=True)
        qr = segno.make(status.link, error="m").svg_inline(scale=5, title=texts.SUCCESS_PAGE_OPEN)
        body = (
            f"<p>{escape(texts.SUCCESS_PAGE_READY_DETAIL)}</p>"
            f'<p><a class="button" href="{link}">{escape(texts.SUCCESS_PAGE_OPEN)}</a></p>'
            f'<div class="qr">{qr}</div>'
        )
        return _html(texts.SUCCESS_PAGE_READY, body)

    return success


def _html(heading: str, body: str, *, refresh: bool = False, status: int = 200) -> web.Response:
    meta = f'<meta http-equiv="refresh" content="{SUCCESS_REFRESH_S}">' if refresh else ""
    page = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f"{meta}<title>{escape(texts.SUCCESS_PAGE_TITLE)}</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;"
        "padding:0 1rem;text-align:center}.button{display:inline-block;padding:.8rem 1.4rem;"
        "background:#229ed9;color:#fff;border-radius:.5rem;text-decoration:none}"
        ".qr svg{margin-top:1rem}</style></head>"
        f"<body><h1>{escape(heading)}</h1>{body}</body></html>"
    )
    return web.Response(
        text=page,
        status=status,
        content_type="text/html",
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


# -- admin API --------------------------------------------------------------------------------
ApiHandler = Callable[[web.Request, BillingWebContext], Awaitable[web.Response]]


def _guarded(
    context: BillingWebContext, handler: ApiHandler
) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def guarded(request: web.Request) -> web.Response:
        client = request.remote or "unknown"
        wait = await context.auth_limiter.blocked_for(client)
        if wait:
            return _too_many(wait)
        if not bearer_matches(request, context.admin_api_key):
            wait = await context.auth_limiter.record_failure(client)
            if wait:
                return _too_many(wait)
            return json_error(
                401, "A valid admin API key is required.", headers={"WWW-Authenticate": "Bearer"}
            )
        return await handler(request, context)

    return guarded


def _too_many(wait: int) -> web.Response:
    return json_error(
        429, "Too many failed authentication attempts.", headers={"Retry-After": str(wait)}
    )


async def _provision(request: web.Request, context: BillingWebContext) -> web.Response:
    try:
        raw: Any = json.loads(await request.read())
    except ValueError:
        return json_error(400, "The body is not JSON.")
    if not isinstance(raw, dict):
        return json_error(422, "The body must be a JSON object.", fields={})
    try:
        payload = ProvisionRequest.model_validate(raw)
    except ValidationError as exc:
        fields = {
            ".".join(str(part) for part in error["loc"]) or "body": _field_message(error)
            for error in exc.errors()
        }
        return json_error(422, "Some fields are invalid.", fields=fields)
    result = await context.billing.provision(
        email=payload.email,
        stripe_customer_id=payload.stripe_customer_id,
        tier=Tier(payload.subscription_tier),
        bot_username=context.bot_username,
    )
    # The user exists whatever the CMMS says; without an answer in time the id stays null
    # and the scheduler creates the account later (GET /api/users/{id} shows it then).
    cmms_user = await context.cmms_accounts.account_of(result.user_id)
    return web.json_response(
        {
            "user_id": result.user_id,
            "atlas_user_id": atlas_user_id(cmms_user),
            "telegram_link": result.telegram_link,
        },
        status=201 if result.created else 200,
    )


def _field_message(error: Any) -> str:
    if error["type"] == "missing":
        return "is required"
    if error["type"] == "literal_error":
        return "must be one of basic, pro, enterprise"
    # Never echo the input back; pydantic's message names only the rule.
    return str(error["msg"]).removeprefix("Value error, ")


async def _user_by_id(request: web.Request, context: BillingWebContext) -> web.Response:
    raw = request.match_info["user_id"]
    if not raw.isdigit() or len(raw) > 18:
        return json_error(422, "Some fields are invalid.", fields={"user_id": "must be a number"})
    summary = await context.billing.user_summary(user_id=int(raw))
    if summary is None:
        return json_error(404, "No such user.")
    return web.json_response(summary)


async def _user_by_email(request: web.Request, context: BillingWebContext) -> web.Response:
    email = request.query.get("email", "").strip()
    if not email:
        return json_error(422, "Some fields are invalid.", fields={"email": "is required"})
    summary = await context.billing.user_summary(email=email)
    if summary is None:
        return json_error(404, "No such user.")
    return web.json_response(summary)
