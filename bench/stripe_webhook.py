"""Stripe webhook throughput: signature check + database commit vs a bare aiohttp handler.

Run: ``.venv/bin/python -m bench.stripe_webhook [--concurrency 8 32]``. Both servers run in this
process on 127.0.0.1 with the same client (keep-alive, N senders at a time) in the same run:

* bare  — an aiohttp handler that reads the body and answers 200;
* rivet — POST /api/webhooks/stripe from ``bot.billing_routes``: HMAC check of the raw body,
  JSON parse, then the event applied and recorded on SQLite and committed before the answer.

The workload: 200 checkouts create users and subscriptions (the users then link Telegram), then
``customer.subscription.updated`` events arrive, mostly renewals, every tenth a plan change
(tier, audit, a queued Telegram message). Events are signed before the clock starts (signing
is Stripe's cost, not ours). Deliveries that wait for SQLite's single writer are applied
together (group commit), so the rate depends on how many arrive at once: each level is
measured separately. Target: at least 0.3× the bare handler's rate on SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import stripe
from aiohttp import web
from sqlalchemy import func, select, update

from bot.auth_limit import MemoryAuthLimiter
from bot.billing_routes import STRIPE_WEBHOOK_PATH, BillingWebContext, billing_routes
from bot.domain import Tier
from bot.http import error_envelope
from bot.services.billing import BillingService
from bot.services.cmms_accounts import CmmsAccounts
from bot.services.onboarding import OnboardingService
from integrations.cmms.local import LocalCmms
from integrations.stripe_api import WebhookVerifier
from storage.db import Database
from storage.migrate import upgrade
from storage.models import OutboxMessage, StripeEvent, User
from storage.uow import UnitOfWorkFactory

SECRET = "whsec_bench_secret"
TARGET_RATIO = 0.3
API_VERSION = "2026-10-28.endive"
PRICES = {Tier.BASIC: "price_basic", Tier.PRO: "price_pro", Tier.ENTERPRISE: "price_ent"}


def _signed(event: dict[str, Any]) -> tuple[bytes, str]:
    body = json.dumps(event)
    return body.encode(), stripe.WebhookSignature.generate_signature_header(body, SECRET)


def make_checkouts(subscriptions: int, start: int) -> list[tuple[bytes, str]]:
    """The checkouts that created the subscriptions (users, customers, subscription rows)."""
    return [
        _signed(
            {
                "id": f"evt_checkout{n:05d}",
                "object": "event",
                "api_version": API_VERSION,
                "created": start,
                "livemode": False,
                "type": "checkout.session.completed",
                "data": {
                    "object": {
                        "id": f"cs_bench{n:05d}",
                        "object": "checkout.session",
                        "mode": "subscription",
                        "payment_status": "paid",
                        "customer": f"cus_bench{n:05d}",
                        "subscription": f"sub_bench{n:05d}",
                        "customer_details": {"email": f"tech{n:05d}@plant.example"},
                        "metadata": {"tier": "basic"},
                    }
                },
            }
        )
        for n in range(subscriptions)
    ]


def make_events(count: int, subscriptions: int, start: int) -> list[tuple[bytes, str]]:
    """Signed `customer.subscription.updated` deliveries, newer `created` as they go: mostly
    renewals (the period end moves on), every tenth a plan change (tier, audit, a message)."""
    prices = list(PRICES.values())
    deliveries = []
    for n in range(count):
        sub = n % subscriptions
        round_ = n // subscriptions
        sub_id = f"sub_bench{sub:05d}"
        price = prices[(round_ // 10 + sub) % 3] if round_ % 10 == 9 else prices[sub % 3]
        deliveries.append(
            _signed(
                {
                    "id": f"evt_bench{n:08d}",
                    "object": "event",
                    "api_version": API_VERSION,
                    "created": start + n,
                    "livemode": False,
                    "type": "customer.subscription.updated",
                    "data": {
                        "object": {
                            "id": sub_id,
                            "object": "subscription",
                            "customer": f"cus_bench{sub:05d}",
                            "status": "active",
                            "cancel_at_period_end": False,
                            "metadata": {},
                            "items": {
                                "object": "list",
                                "data": [
                                    {
                                        "id": f"si_{sub_id}",
                                        "object": "subscription_item",
                                        "current_period_end": start + (round_ + 1) * 30 * 86400,
                                        "price": {"id": price, "object": "price"},
                                    }
                                ],
                            },
                        }
                    },
                }
            )
        )
    return deliveries


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


async def drive(url: str, deliveries: list[tuple[bytes, str]], concurrency: int) -> float:
    """Post every delivery (`concurrency` at a time); returns events per second."""
    queue = iter(deliveries)
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=30)

    async def worker(session: aiohttp.ClientSession) -> None:
        for body, signature in queue:
            async with session.post(
                url, data=body, headers={"Stripe-Signature": signature}
            ) as response:
                await response.read()
                if response.status != 200:
                    raise RuntimeError(f"{url} answered {response.status}")

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return len(deliveries) / elapsed


async def link_to_telegram(database: Database) -> None:
    """The buyers opened their deep links: plan changes now reach them in Telegram."""
    async with database.engine.begin() as connection:
        chat = User.id + 10_000
        await connection.execute(update(User).values(telegram_user_id=chat, telegram_chat_id=chat))


async def bare_handler(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(status=200)


@dataclass(frozen=True, slots=True)
class Measured:
    concurrency: int
    bare_rate: float
    rivet_rate: float
    recorded: int
    messages: int

    @property
    def ratio(self) -> float:
        return self.rivet_rate / self.bare_rate


async def measure(count: int, concurrency: int, subscriptions: int) -> Measured:
    """Both servers on a fresh database, `concurrency` senders at a time."""
    with tempfile.TemporaryDirectory() as tmp:
        database = Database(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}")
        await upgrade(database.engine)
        uow = UnitOfWorkFactory(database.sessionmaker)
        onboarding = OnboardingService(uow, token_ttl=timedelta(days=7))
        billing = BillingService(
            uow,
            onboarding,
            prices=PRICES,
            past_due_grace=timedelta(days=7),
            link_key=b"k",
            serialize_writes=True,
        )
        context = BillingWebContext(
            billing=billing,
            cmms_accounts=CmmsAccounts(uow, LocalCmms(uow, files_dir=Path(tmp) / "files")),
            verifier=WebhookVerifier.from_setting(SECRET),
            bot_username="rivet_bench_bot",
            admin_api_key=None,
            auth_limiter=MemoryAuthLimiter(),
            after_commit=lambda: None,
        )
        rivet_app = web.Application(middlewares=[error_envelope], client_max_size=1024 * 1024)
        rivet_app.router.add_routes(billing_routes(context))
        bare_app = web.Application(client_max_size=1024 * 1024)
        bare_app.router.add_post("/bare", bare_handler)
        rivet_runner, rivet_base = await serve(rivet_app)
        bare_runner, bare_base = await serve(bare_app)
        try:
            start = int(time.time()) - count - 1000
            warm = make_checkouts(subscriptions, start)
            events = make_events(count, subscriptions, start + 1)
            await drive(bare_base + "/bare", warm, concurrency)
            await drive(rivet_base + STRIPE_WEBHOOK_PATH, warm, concurrency)
            await link_to_telegram(database)
            bare_rate = await drive(bare_base + "/bare", events, concurrency)
            rivet_rate = await drive(rivet_base + STRIPE_WEBHOOK_PATH, events, concurrency)
            async with uow() as unit:
                recorded = await unit.session.scalar(select(func.count(StripeEvent.id)))
                messages = await unit.session.scalar(select(func.count(OutboxMessage.id)))
        finally:
            await rivet_runner.cleanup()
            await bare_runner.cleanup()
            await database.close()
    return Measured(concurrency, bare_rate, rivet_rate, recorded or 0, messages or 0)


async def main(count: int, levels: list[int], subscriptions: int) -> int:
    print(f"events: {count} (after {subscriptions} checkouts), SQLite")
    print("senders | bare handler | webhook (verify + commit) | ratio | recorded | messages")
    ok = True
    for concurrency in levels:
        m = await measure(count, concurrency, subscriptions)
        print(
            f"{m.concurrency:7d} | {m.bare_rate:7.0f} ev/s | {m.rivet_rate:14.0f} ev/s"
            f"          | {m.ratio:4.2f}× | {m.recorded:8d} | {m.messages:8d}"
        )
        ok = ok and m.ratio >= TARGET_RATIO and m.recorded == count + subscriptions
    print(f"target: ratio ≥ {TARGET_RATIO}× at every level")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--subscriptions", type=int, default=200)
    args = parser.parse_args()
    raise SystemExit(asyncio.run(main(args.events, args.concurrency, args.subscriptions)))
