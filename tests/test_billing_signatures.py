"""Issue 4, acceptance 4: forged, missing or stale signatures, a wrong secret, non-JSON and
oversized bodies are refused with the JSON envelope (400/413); nothing changes, no traceback."""

# ruff: noqa: F811  (fixtures imported from tests.billing_support are used as arguments)

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

import pytest

from bot.emulator import BotApiEmulator
from bot.settings import Settings
from tests.billing_support import (  # noqa: F401  (fixtures)
    WEBHOOK_SECRET,
    billing_rivet,
    checkout_completed,
    deliver,
    fake_stripe,
    row_counts,
    sign,
    start_billing_rivet,
)
from tests.conftest import RivetHarness
from tests.fakes.stripe_api import FakeStripe

PATH = "/api/webhooks/stripe"


def _valid_body() -> str:
    return json.dumps(checkout_completed())


def forged(body: str) -> dict[str, str]:
    # Signed correctly, then the body is altered (a different tier): the HMAC no longer matches.
    return {"Stripe-Signature": sign(body.replace('"pro"', '"enterprise"'))}


CASES: dict[str, Callable[[str], tuple[bytes, dict[str, str]]]] = {
    "forged": lambda body: (body.encode(), forged(body)),
    "missing": lambda body: (body.encode(), {}),
    "empty header": lambda body: (body.encode(), {"Stripe-Signature": ""}),
    "garbage header": lambda body: (body.encode(), {"Stripe-Signature": "nonsense"}),
    "no v1 scheme": lambda body: (
        body.encode(),
        {"Stripe-Signature": sign(body).replace("v1=", "v0=")},
    ),
    "stale": lambda body: (
        body.encode(),
        {"Stripe-Signature": sign(body, timestamp=int(time.time()) - 3600)},
    ),
    "wrong secret": lambda body: (
        body.encode(),
        {"Stripe-Signature": sign(body, secret="whsec_someone_else")},
    ),
    "not json": lambda _body: (b"this is not json", {"Stripe-Signature": sign("this is not json")}),
    "json but not an event": lambda _body: (
        b'{"hello": "world"}',
        {"Stripe-Signature": sign('{"hello": "world"}')},
    ),
    "not utf-8": lambda _body: (b"\xff\xfe\x00", {"Stripe-Signature": "t=1,v1=00"}),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_bad_deliveries_are_refused_and_change_nothing(
    billing_rivet: RivetHarness, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    rivet = billing_rivet
    before = await row_counts(rivet)
    data, headers = CASES[case](_valid_body())
    status, body, response_headers = await rivet.http("POST", PATH, data=data, headers=headers)
    assert status == 400, body
    assert body["error"]["code"] == "bad_request" and body["error"]["message"]
    assert response_headers["Content-Type"].startswith("application/json")
    assert await row_counts(rivet) == before
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert WEBHOOK_SECRET not in caplog.text


async def test_a_two_mib_body_is_refused_with_413(
    billing_rivet: RivetHarness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    rivet = billing_rivet
    before = await row_counts(rivet)
    event: dict[str, Any] = checkout_completed()
    event["data"]["object"]["padding"] = "x" * (2 * 1024 * 1024)
    body = json.dumps(event)
    status, answer, _ = await rivet.http(
        "POST", PATH, data=body.encode(), headers={"Stripe-Signature": sign(body)}
    )
    assert status == 413
    assert answer["error"]["code"] == "payload_too_large"
    assert await row_counts(rivet) == before
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


async def test_a_valid_delivery_still_passes_after_the_refusals(
    billing_rivet: RivetHarness,
) -> None:
    for make in CASES.values():
        data, headers = make(_valid_body())
        await billing_rivet.http("POST", PATH, data=data, headers=headers)
    status, body = await deliver(billing_rivet, checkout_completed())
    assert (status, body["outcome"]) == (200, "applied")


async def test_rotated_secrets_are_all_accepted(
    emulator: BotApiEmulator, make_settings: Callable[..., Settings], fake_stripe: FakeStripe
) -> None:
    rivet = await start_billing_rivet(
        emulator,
        make_settings,
        fake_stripe,
        stripe_webhook_secret=f"whsec_new_one, {WEBHOOK_SECRET}",
    )
    try:
        status, _ = await deliver(rivet, checkout_completed(session_id="cs_test_old"))
        assert status == 200
        status, _ = await deliver(
            rivet,
            checkout_completed(session_id="cs_test_new", subscription="sub_2"),
            secret="whsec_new_one",
        )
        assert status == 200
        status, _ = await deliver(
            rivet, checkout_completed(session_id="cs_x", subscription="sub_3"), secret="whsec_bad"
        )
        assert status == 400
    finally:
        await rivet.runtime.stop()


async def test_without_a_webhook_secret_the_route_does_not_exist(
    emulator: BotApiEmulator, make_settings: Callable[..., Settings], fake_stripe: FakeStripe
) -> None:
    rivet = await start_billing_rivet(
        emulator, make_settings, fake_stripe, stripe_webhook_secret=None
    )
    try:
        body = _valid_body()
        status, answer, _ = await rivet.http(
            "POST", PATH, data=body.encode(), headers={"Stripe-Signature": sign(body)}
        )
        assert status == 404 and answer["error"]["code"] == "not_found"
    finally:
        await rivet.runtime.stop()
