"""Issue 4, acceptance 8: POST /api/users/provision and the user look-ups: idempotent on email,
401 on a bad key, 422 with per-field messages, and 429 with Retry-After after failed auth."""

# ruff: noqa: F811  (fixtures imported from tests.billing_support are used as arguments)

from __future__ import annotations

import re

from tests.billing_support import (  # noqa: F401  (fixtures)
    billing_rivet,
    checkout_completed,
    deliver,
    fake_stripe,
)
from tests.conftest import BOT_USERNAME, TEST_ADMIN_KEY, RivetHarness

AUTH = {"Authorization": f"Bearer {TEST_ADMIN_KEY}"}
LINK = re.compile(rf"^https://t\.me/{BOT_USERNAME}\?start=([A-Za-z0-9_-]{{32,64}})$")


async def provision(rivet: RivetHarness, body: object, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return await rivet.http("POST", "/api/users/provision", json=body, headers=headers or AUTH)


async def test_provision_creates_then_finds_the_same_user(billing_rivet: RivetHarness) -> None:
    rivet = billing_rivet
    body = {
        "email": "Ops@Plant.example",
        "stripe_customer_id": "cus_Seed1",
        "subscription_tier": "pro",
    }
    status, first, _ = await provision(rivet, body)
    assert status == 201
    assert set(first) == {"user_id", "atlas_user_id", "telegram_link"}
    assert first["atlas_user_id"] is None and LINK.match(first["telegram_link"])

    status, second, _ = await provision(rivet, {**body, "email": "ops@plant.example"})
    assert status == 200 and second["user_id"] == first["user_id"]
    async with rivet.runtime.services.uow() as uow:
        assert await uow.users.count() == 1
        customer = await uow.billing.customer("cus_Seed1")
        assert customer is not None and customer.user_id == first["user_id"]
        actions = [e.action for e in await uow.audit.list()]
        assert actions.count("billing.provisioned") == 2

    # The link works in Telegram and lands on the provisioned plan.
    token = LINK.match(second["telegram_link"]).group(1)  # type: ignore[union-attr]
    chat = rivet.emulator.user(9301, first_name="Ops")
    await chat.send_command("start", args=token)
    await chat.wait_for_message("Your plan: <b>Pro</b>")

    status, found, _ = await rivet.http("GET", f"/api/users/{first['user_id']}", headers=AUTH)
    assert status == 200
    assert found["email"] == "ops@plant.example" and found["tier"] == "pro"
    assert found["role"] == "technician" and found["telegram_linked"] is True
    assert found["subscription"] is None and found["stripe_customer_ids"] == ["cus_Seed1"]

    status, by_email, _ = await rivet.http(
        "GET", "/api/users", params={"email": "OPS@plant.example"}, headers=AUTH
    )
    assert status == 200 and by_email["user_id"] == first["user_id"]


async def test_lookup_shows_subscription_status_and_period_end(
    billing_rivet: RivetHarness,
) -> None:
    rivet = billing_rivet
    await deliver(rivet, checkout_completed(email="sub@example.com"))
    from tests.billing_support import subscription_event

    await deliver(rivet, subscription_event(status="past_due"))
    status, found, _ = await rivet.http(
        "GET", "/api/users", params={"email": "sub@example.com"}, headers=AUTH
    )
    assert status == 200
    assert found["tier"] == "pro" and found["telegram_linked"] is False
    assert found["subscription_status"] == "past_due"
    assert found["current_period_end"].startswith("2026-12-26")
    assert found["subscription"]["paid_access"] is True  # inside the grace period


async def test_lookups_404_and_422(billing_rivet: RivetHarness) -> None:
    rivet = billing_rivet
    status, body, _ = await rivet.http("GET", "/api/users/999", headers=AUTH)
    assert status == 404 and body["error"]["code"] == "not_found"
    status, body, _ = await rivet.http(
        "GET", "/api/users", params={"email": "x@y.zz"}, headers=AUTH
    )
    assert status == 404
    status, body, _ = await rivet.http("GET", "/api/users", headers=AUTH)
    assert status == 422 and body["error"]["fields"] == {"email": "is required"}
    status, body, _ = await rivet.http("GET", "/api/users/abc", headers=AUTH)
    assert status == 422 and "user_id" in body["error"]["fields"]


async def test_invalid_input_gets_422_with_a_message_per_field(billing_rivet: RivetHarness) -> None:
    rivet = billing_rivet
    status, body, _ = await provision(
        rivet,
        {"email": "not-an-email", "stripe_customer_id": "cu$tomer", "subscription_tier": "gold"},
    )
    assert status == 422
    fields = body["error"]["fields"]
    assert fields == {
        "email": "must be an email address",
        "stripe_customer_id": "must be a Stripe customer id (cus_…)",
        "subscription_tier": "must be one of basic, pro, enterprise",
    }
    status, body, _ = await provision(rivet, {})
    assert status == 422
    assert body["error"]["fields"]["email"] == "is required"
    assert body["error"]["fields"]["subscription_tier"] == "is required"
    status, body, _ = await provision(rivet, ["a", "list"])
    assert status == 422
    status, body, _ = await rivet.http(
        "POST", "/api/users/provision", data=b"{not json", headers=AUTH
    )
    assert status == 400
    async with rivet.runtime.services.uow() as uow:
        assert await uow.users.count() == 0


async def test_bad_keys_get_401_then_429_with_retry_after(billing_rivet: RivetHarness) -> None:
    rivet = billing_rivet
    body = {"email": "a@b.example", "subscription_tier": "basic"}
    for attempt in range(9):
        headers = {"Authorization": f"Bearer wrong-{attempt}"} if attempt % 3 else {}
        status, answer, response_headers = await provision(
            rivet, body, headers=headers or {"X": "1"}
        )
        assert status == 401, attempt
        assert answer["error"]["code"] == "unauthorized"
        assert response_headers.get("WWW-Authenticate") == "Bearer"
    status, answer, response_headers = await rivet.http(
        "GET", "/api/users/1", headers={"Authorization": "Bearer wrong"}
    )
    assert status == 429 and answer["error"]["code"] == "rate_limited"
    retry_after = int(response_headers["Retry-After"])
    assert 1 <= retry_after <= 60
    # Blocked even with the right key until the window passes (no guessing in the meantime).
    status, _, _ = await provision(rivet, body)
    assert status == 429
    async with rivet.runtime.services.uow() as uow:
        assert await uow.users.count() == 0
