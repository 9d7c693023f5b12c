"""A fake Stripe API on 127.0.0.1 for tests that drive the real stripe-python client.

It answers like Stripe: form-encoded requests with `Authorization: Bearer sk_test_...`,
JSON objects back. Only what Rivet calls: Checkout Sessions and Customer Portal sessions.

Usage::

    async with FakeStripe() as fake:
        settings = make_settings(stripe_api_key="sk_test_x", stripe_api_base=fake.base_url)
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from aiohttp import web

TEST_SECRET_KEY = "sk_test_fake_do_not_log"


@dataclass(frozen=True)
class StripeRequest:
    path: str
    params: dict[str, str]  # flat form keys as sent: "metadata[user_id]", "line_items[0][price]"
    headers: dict[str, str]


class FakeStripe:
    def __init__(self, api_key: str = TEST_SECRET_KEY) -> None:
        self.api_key = api_key
        self.requests: list[StripeRequest] = []
        self.fail_with: int | None = None  # answer every call with this HTTP status
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/checkout/sessions", self._checkout)
        app.router.add_post("/v1/billing_portal/sessions", self._portal)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def calls(self, path: str) -> list[StripeRequest]:
        return [r for r in self.requests if r.path == path]

    async def _record(self, request: web.Request) -> StripeRequest | web.Response:
        form = await request.post()
        recorded = StripeRequest(
            request.path, {k: str(v) for k, v in form.items()}, dict(request.headers)
        )
        self.requests.append(recorded)
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _error(401, "authentication_error", "Invalid API Key provided.")
        if request.content_type != "application/x-www-form-urlencoded":
            return _error(400, "invalid_request_error", "Expected a form-encoded body.")
        if self.fail_with is not None:
            return _error(self.fail_with, "api_error", "Something went wrong on Stripe's end.")
        return recorded

    async def _checkout(self, request: web.Request) -> web.Response:
        recorded = await self._record(request)
        if isinstance(recorded, web.Response):
            return recorded
        params = recorded.params
        for required in ("mode", "success_url", "line_items[0][price]"):
            if required not in params:
                return _error(400, "invalid_request_error", f"Missing required param: {required}.")
        session_id = f"cs_test_fake{next(self._ids):06d}"
        body: dict[str, Any] = {
            "id": session_id,
            "object": "checkout.session",
            "mode": params["mode"],
            "status": "open",
            "client_reference_id": params.get("client_reference_id"),
            "customer": params.get("customer"),
            "customer_email": params.get("customer_email"),
            "metadata": _nested(params, "metadata"),
            "success_url": params["success_url"],
            "url": f"https://checkout.stripe.test/c/pay/{session_id}",
        }
        return web.json_response(body)

    async def _portal(self, request: web.Request) -> web.Response:
        recorded = await self._record(request)
        if isinstance(recorded, web.Response):
            return recorded
        if "customer" not in recorded.params:
            return _error(400, "invalid_request_error", "Missing required param: customer.")
        session_id = f"bps_fake{next(self._ids):06d}"
        return web.json_response(
            {
                "id": session_id,
                "object": "billing_portal.session",
                "customer": recorded.params["customer"],
                "return_url": recorded.params.get("return_url"),
                "url": f"https://billing.stripe.test/p/session/{session_id}",
            }
        )


def _nested(params: dict[str, str], prefix: str) -> dict[str, str]:
    start = f"{prefix}["
    return {
        k[len(start) : -1]: v for k, v in params.items() if k.startswith(start) and "][" not in k
    }


def _error(status: int, kind: str, message: str) -> web.Response:
    return web.json_response({"error": {"type": kind, "message": message}}, status=status)
