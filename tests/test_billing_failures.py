"""Issue 4, acceptance 5–6: a failure while applying leaves nothing half-written and the
redelivery succeeds; billing messages survive a Telegram outage and go out exactly once."""

# ruff: noqa: F811  (fixtures imported from tests.billing_support are used as arguments)

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy import select, update

from bot.services.onboarding import OnboardingService
from storage.models import BillingSubscription, OutboxMessage, StripeEvent, utcnow
from storage.repositories.billing import BillingRepository
from tests.billing_support import (  # noqa: F401  (fixtures)
    PRICE_BASIC,
    PRICE_ENTERPRISE,
    billing_rivet,
    checkout_completed,
    deliver,
    fake_stripe,
    invoice_event,
    linked_user,
    row_counts,
    subscription_event,
)
from tests.conftest import RivetHarness


async def test_a_failure_while_applying_writes_nothing_and_the_redelivery_succeeds(
    billing_rivet: RivetHarness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    rivet = billing_rivet
    before = await row_counts(rivet)
    real_issue_token = OnboardingService.issue_token
    failures = {"left": 1}

    async def failing_issue_token(self: OnboardingService, *args: Any, **kwargs: Any) -> str:
        # By now the user, customer, subscription and audit rows are flushed in the transaction.
        if failures["left"]:
            failures["left"] -= 1
            raise RuntimeError("injected failure while applying")
        return await real_issue_token(self, *args, **kwargs)

    monkeypatch.setattr(OnboardingService, "issue_token", failing_issue_token)
    checkout = checkout_completed(email="cy@example.com")
    caplog.set_level(logging.ERROR)
    status, body = await deliver(rivet, checkout)
    assert status == 500
    assert body["error"]["code"] == "internal_error"
    assert "injected" not in body["error"]["message"]
    assert await row_counts(rivet) == before  # no user, event, subscription, token or audit

    status, body = await deliver(rivet, checkout)  # Stripe's redelivery
    assert (status, body["outcome"]) == (200, "applied")
    async with rivet.runtime.services.uow() as uow:
        user = await uow.users.by_email("cy@example.com")
        assert user is not None and user.tier == "pro"
        assert await uow.billing.event_seen(checkout["id"])


async def test_payment_failed_during_a_telegram_outage_is_delivered_once_it_is_back(
    billing_rivet: RivetHarness,
) -> None:
    rivet = billing_rivet
    user_id, chat = await linked_user(rivet, 9001, "ada@example.com")
    await deliver(rivet, checkout_completed(user_id=user_id))
    await chat.wait_for_message("Your plan is now")
    outbox = rivet.runtime.outbox
    assert outbox is not None

    rivet.emulator.set_outage(True)
    failed = invoice_event()
    status, _ = await deliver(rivet, failed)
    assert status == 200  # the webhook never waits for Telegram
    await outbox.wait_triggered()
    async with rivet.runtime.services.uow() as uow:
        message = await uow.session.scalar(
            select(OutboxMessage).where(OutboxMessage.dedup_key.like("stripe:invoice_failed:%"))
        )
        assert message is not None and message.sent_at is None and message.failed_at is None
        assert message.attempts >= 1 and message.next_attempt_at > utcnow()
    # Redelivered by Stripe during the outage: still one queued message.
    await deliver(rivet, failed)

    rivet.emulator.set_outage(False)
    async with rivet.runtime.services.uow() as uow:  # the backoff has elapsed
        await uow.session.execute(update(OutboxMessage).values(next_attempt_at=utcnow()))
        await uow.commit()
    await asyncio.gather(outbox.deliver_due(), outbox.deliver_due())  # scheduler + a kick
    await outbox.deliver_due()
    notice = await chat.wait_for_message("didn't go through")
    assert "49.00 USD" in notice.text and "We'll try again on" in notice.text
    buttons = [button for row in notice.buttons for button in row]
    assert buttons and buttons[0].value == "https://invoice.stripe.com/i/acct_123/test_abc"
    await asyncio.sleep(0.2)
    assert len([m for m in chat.messages() if "didn't go through" in m.text]) == 1

    # invoice.paid clears it and says so.
    status, _ = await deliver(rivet, invoice_event("invoice.paid"))
    assert status == 200
    await chat.wait_for_message("payment went through")
    async with rivet.runtime.services.uow() as uow:
        sub = await uow.billing.subscription("sub_1Q0000000000001")
        assert sub is not None and sub.unpaid_invoice_id is None


async def test_a_429_retry_after_is_honoured(billing_rivet: RivetHarness) -> None:
    rivet = billing_rivet
    user_id, chat = await linked_user(rivet, 9101, "ada@example.com")
    outbox = rivet.runtime.outbox
    assert outbox is not None
    rivet.emulator.fail_next("sendMessage", 429, "Too Many Requests: retry after 30", 30)
    await deliver(rivet, checkout_completed(user_id=user_id))
    await outbox.wait_triggered()
    async with rivet.runtime.services.uow() as uow:
        message = await uow.session.scalar(select(OutboxMessage))
        assert message is not None and message.sent_at is None
        wait = message.next_attempt_at - utcnow()
        assert timedelta(seconds=25) < wait <= timedelta(seconds=30)
    assert await outbox.deliver_due() == 0  # not due yet: nothing is sent early
    async with rivet.runtime.services.uow() as uow:
        await uow.session.execute(update(OutboxMessage).values(next_attempt_at=utcnow()))
        await uow.commit()
    assert await outbox.deliver_due() == 1
    await chat.wait_for_message("Your plan is now")


async def test_the_outbox_job_is_scheduled(billing_rivet: RivetHarness) -> None:
    jobs = {job.id for job in billing_rivet.runtime.scheduler.get_jobs()}
    assert {"telegram_outbox", "billing_grace"} <= jobs


async def test_subscription_messages_use_the_outbox_too(billing_rivet: RivetHarness) -> None:
    rivet = billing_rivet
    user_id, chat = await linked_user(rivet, 9201, "ada@example.com")
    await deliver(rivet, checkout_completed(user_id=user_id))
    await deliver(rivet, subscription_event("customer.subscription.deleted", status="canceled"))
    await chat.wait_for_message("subscription has ended")
    async with rivet.runtime.services.uow() as uow:
        keys = [m.dedup_key for m in await uow.session.scalars(select(OutboxMessage))]
    assert any(k.startswith("stripe:ended:") for k in keys)


async def test_concurrent_deliveries_each_get_their_own_outcome(
    billing_rivet: RivetHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bursts of deliveries (on SQLite they are applied in shared transactions): duplicates in
    the same burst apply once, a failing event fails alone and the rest of its burst lands."""
    rivet = billing_rivet
    database = rivet.runtime.services.database
    commits = {"count": 0}

    def count_commit(*_: Any) -> None:
        commits["count"] += 1

    sqlalchemy_event.listen(database.engine.sync_engine, "commit", count_commit)
    first = [
        subscription_event(subscription=f"sub_burst{n:02d}", customer=f"cus_burst{n:02d}")
        for n in range(12)
    ]
    repeated = subscription_event(subscription="sub_twice", customer="cus_twice")
    burst = [*first[:6], repeated, *first[6:], repeated, repeated]
    answers = await asyncio.gather(*(deliver(rivet, event) for event in burst))
    assert all(status == 200 for status, _ in answers)
    repeated_outcomes = sorted(
        answers[i][1]["outcome"] for i, event in enumerate(burst) if event is repeated
    )
    assert repeated_outcomes == ["duplicate", "duplicate", "unlinked"]
    if database.dialect == "sqlite":
        assert commits["count"] < len(burst)  # shared transactions

    real_lookup = BillingRepository.subscription

    async def failing_for_one(
        self: BillingRepository, subscription_id: str, **kwargs: Any
    ) -> BillingSubscription | None:
        if subscription_id == "sub_broken":
            raise RuntimeError("injected failure while applying")
        return await real_lookup(self, subscription_id, **kwargs)

    monkeypatch.setattr(BillingRepository, "subscription", failing_for_one)
    second = [
        subscription_event(subscription=f"sub_burst{n:02d}", customer=f"cus_burst{n:02d}")
        for n in range(12, 20)
    ]
    broken = subscription_event(subscription="sub_broken", customer="cus_broken")
    burst = [*second[:4], broken, *second[4:]]
    answers = await asyncio.gather(*(deliver(rivet, event) for event in burst))
    assert [status for status, _ in answers] == [200] * 4 + [500] + [200] * 4

    async with rivet.runtime.services.uow() as uow:
        subscriptions = set(
            await uow.session.scalars(select(BillingSubscription.stripe_subscription_id))
        )
        recorded = set(await uow.session.scalars(select(StripeEvent.id)))
        audited = [entry.subject for entry in await uow.audit.list(limit=100)]
    assert subscriptions == {f"sub_burst{n:02d}" for n in range(20)} | {"sub_twice"}
    assert recorded == {event["id"] for event in [*first, repeated, *second]}
    assert "subscription:sub_broken" not in audited
    assert audited.count("subscription:sub_twice") == 1

    monkeypatch.setattr(BillingRepository, "subscription", real_lookup)
    status, body = await deliver(rivet, broken)  # Stripe's redelivery
    assert (status, body["outcome"]) == (200, "unlinked")


async def test_a_burst_for_linked_users_ends_in_each_users_best_paid_tier(
    billing_rivet: RivetHarness,
) -> None:
    """In a shared transaction the users' subscriptions are answered from memory: a plan change,
    a second subscription, a stale event and a cancellation must still add up per user."""
    rivet = billing_rivet
    ada, _ = await linked_user(rivet, 8101, "ada@example.com")
    bob, _ = await linked_user(rivet, 8102, "bob@example.com", name="Bob")
    now = int(time.time())
    for user_id, name in ((ada, "ada"), (bob, "bob")):
        checkout = checkout_completed(
            session_id=f"cs_{name}",
            customer=f"cus_{name}",
            subscription=f"sub_{name}",
            email=f"{name}@example.com",
            user_id=user_id,
            created=now - 100,
        )
        assert (await deliver(rivet, checkout))[0] == 200

    burst = [
        subscription_event(
            subscription="sub_ada", customer="cus_ada", price=PRICE_ENTERPRISE, created=now - 10
        ),
        subscription_event(
            "customer.subscription.created",
            subscription="sub_ada2",
            customer="cus_ada",
            price=PRICE_BASIC,
            user_id=ada,
            created=now - 5,
        ),
        subscription_event(  # older than the plan change: ignored whichever lands first
            subscription="sub_ada", customer="cus_ada", price=PRICE_BASIC, created=now - 50
        ),
        subscription_event(
            "customer.subscription.deleted",
            subscription="sub_bob",
            customer="cus_bob",
            status="canceled",
            created=now - 10,
        ),
    ]
    answers = await asyncio.gather(*(deliver(rivet, event) for event in burst))
    assert [status for status, _ in answers] == [200] * 4

    async with rivet.runtime.services.uow() as uow:
        tiers = {user_id: (await uow.users.get(user_id)).tier for user_id in (ada, bob)}
        bob_chat = (await uow.users.get(bob)).telegram_chat_id
        owners = {
            row.stripe_subscription_id: (row.user_id, row.tier, row.status)
            for row in await uow.session.scalars(select(BillingSubscription))
        }
        chats = [m.chat_id for m in await uow.session.scalars(select(OutboxMessage))]
    assert tiers == {ada: "enterprise", bob: "none"}
    assert owners == {
        "sub_ada": (ada, "enterprise", "active"),
        "sub_ada2": (ada, "basic", "active"),
        "sub_bob": (bob, "pro", "canceled"),
    }
    assert bob_chat in chats  # "your subscription ended"
