"""Stripe webhook throughput: signature check + database commit vs a bare aiohttp handler.

Run: ``.venv/bin/python -m bench.stripe_webhook``. Both servers run in this process on
127.0.0.1 with the same client (keep-alive, fixed concurrency) in the same run:

* bare  — an aiohttp handler that reads the body and answers 200;
* rivet — POST /api/webhooks/stripe from ``bot.billing_routes``: HMAC check of the raw body,
  JSON parse, then one transaction on SQLite that records the event and applies it
  (``customer.subscription.updated``: subscription row, audit entry) and commits.

Events are signed before the clock starts (signing is Stripe's cost, not ours). Target: the
webhook sustains at least 0.3× the bare handler's rate on SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import stripe
from aiohttp import web
from sqlalchemy import func, select

from bot.auth_limit import MemoryAuthLimiter
from bot.billing_routes import STRIPE_WEBHOOK_PATH, BillingWebContext, billing_routes
from bot.domain import Tier
from bot.http import error_envelope
from bot.services.billing import BillingService
from bot.services.onboarding import OnboardingService
from integrations.stripe_api import WebhookVerifier
from storage.db import Database
from storage.migrate import upgrade
from storage.models import StripeEvent
from storage.uow import UnitOfWorkFactory

SECRET = "whsec_bench_secret"
TARGET_RATIO = 0.3
PRICES = {Tier.BASIC: "price_basic", Tier.PRO: "price_pro", Tier.ENTERPRISE: "price_ent"}


def make_events(count: int, subscriptions: int) -> list[tuple[bytes, str]]:
    """Signed `customer.subscription.updated` deliveries, newer `created` as they go."""
    start = int(time.time()) - count
    prices = list(PRICES.values())
    deliveries = []
    for n in range(count):
        sub_id = f"sub_bench{n % subscriptions:05d}"
        event: dict[str, Any] = {
            "id": f"evt_bench{n:08d}",
            "object": "event",
            "api_version": "2026-10-28.endive",
            "created": start + n,
            "livemode": False,
            "type": "customer.subscription.updated",
            "data": {
                "object": {
                    "id": sub_id,
                    "object": "subscription",
                    "customer": f"cus_bench{n % subscriptions:05d}",
                    "status": "active",
                    "cancel_at_period_end": False,
                    "metadata": {},
                    "items": {
                        "object": "list",
                        "data": [
                            {
                                "id": f"si_{sub_id}",
                                "object": "subscription_item",
                                "current_period_end": start + 30 * 86400,
                                "price": {"id": prices[n % 3], "object": "price"},
                            }
                        ],
                    },
                }
            },
        }
        body = json.dumps(event)
        deliveries.append(
            (body.encode(), stripe.WebhookSignature.generate_signature_header(body, SECRET))
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


async def bare_handler(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(status=200)


async def main(count: int, concurrency: int, subscriptions: int) -> int:
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
            warm = make_events(200, subscriptions)
            events = make_events(count + 200, subscriptions)[200:]
            await drive(bare_base + "/bare", warm, concurrency)
            await drive(rivet_base + STRIPE_WEBHOOK_PATH, warm, concurrency)
            bare_rate = await drive(bare_base + "/bare", events, concurrency)
            rivet_rate = await drive(rivet_base + STRIPE_WEBHOOK_PATH, events, concurrency)
            async with uow() as unit:
                recorded = await unit.session.scalar(select(func.count(StripeEvent.id)))
        finally:
            await rivet_runner.cleanup()
            await bare_runner.cleanup()
            await database.close()
    ratio = rivet_rate / bare_rate
    print(f"events: {count}, concurrency: {concurrency}, subscriptions: {subscriptions}, SQLite")
    print(f"bare aiohttp handler (200):          {bare_rate:8.0f} events/s")
    print(f"Stripe webhook (verify + DB commit): {rivet_rate:8.0f} events/s")
    print(f"ratio: {ratio:.2f}× (target ≥ {TARGET_RATIO}×)  events recorded: {recorded}")
    ok = ratio >= TARGET_RATIO and recorded == count + 200
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--subscriptions", type=int, default=200)
    args = parser.parse_args()
    raise SystemExit(asyncio.run(main(args.events, args.concurrency, args.subscriptions)))
