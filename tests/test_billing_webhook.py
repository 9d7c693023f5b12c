"""Issue 4, acceptance 1–3: the Stripe webhook applies each event once, in `created` order,
and keeps subscription events that arrive before the checkout."""

# ruff: noqa: F811  (fixtures imported from tests.billing_support are used as arguments)

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from sqlalchemy import select, update

from storage.models import (
    AuditEntry,
    BillingCustomer,
    BillingSubscription,
    OutboxMessage,
    StripeEvent,
    utcnow,
)
from tests.billing_support import (  # noqa: F401  (fixtures)
    PRICE_BASIC,
    PRICE_ENTERPRISE,
    PRICE_PRO,
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


async def audit_actions(rivet: RivetHarness, prefix: str = "billing.") -> list[str]:
    async with rivet.runtime.services.uow() as uow:
        entries = await uow.session.scalars(select(AuditEntry).order_by(AuditEntry.id))
        return [e.action for e in entries if e.action.startswith(prefix)]


async def test_one_checkout_delivered_five_times_has_one_effect(
    billing_rivet: RivetHarness,
) -> None:
    rivet = billing_rivet
    user_id, chat = await linked_user(rivet, 8001, "ada@example.com")
    checkout = checkout_completed(user_id=user_id, tier="pro")

    status, body = await deliver(rivet, checkout)
    assert (status, body["outcome"]) == (200, "applied")
    after_first = await row_counts(rivet)
    # Four more deliveries: two one after the other, two at the same time.
    for _ in range(2):
        status, body = await deliver(rivet, checkout)
        assert (status, body["outcome"]) == (200, "duplicate")
    answers = await asyncio.gather(deliver(rivet, checkout), deliver(rivet, checkout))
    assert [a[0] for a in answers] == [200, 200]
    assert await row_counts(rivet) == after_first

    await chat.wait_for_message("Your plan is now <b>Pro</b>")
    await rivet.runtime.outbox.deliver_due()  # what the scheduler would do next
    await asyncio.sleep(0.2)
    assert len([m for m in chat.messages() if "Your plan is now" in m.text]) == 1
    async with rivet.runtime.services.uow() as uow:
        user = await uow.users.get(user_id)
        assert user is not None and user.tier == "pro"
        assert await uow.users.count() == 1
        subs = list(await uow.session.scalars(select(BillingSubscription)))
        assert len(subs) == 1 and subs[0].user_id == user_id and subs[0].status == "active"
        assert len(list(await uow.session.scalars(select(OutboxMessage)))) == 1
        events = list(await uow.session.scalars(select(StripeEvent)))
        assert [(e.id, e.type, e.outcome) for e in events] == [
            (checkout["id"], "checkout.session.completed", "applied")
        ]
        assert events[0].received_at is not None and events[0].created is not None
    assert (await audit_actions(rivet)).count("billing.checkout_completed") == 1
    assert "billing.tier_changed" in await audit_actions(rivet)


async def test_new_buyer_is_provisioned_by_email_with_a_deep_link_token(
    billing_rivet: RivetHarness,
) -> None:
    rivet = billing_rivet
    status, _ = await deliver(
        rivet, checkout_completed(email="New.Buyer@Example.com", tier="basic")
    )
    assert status == 200
    async with rivet.runtime.services.uow() as uow:
        user = await uow.users.by_email("new.buyer@example.com")
        assert user is not None and user.tier == "basic" and user.telegram_user_id is None
        assert await uow.billing.customer("cus_T0000000000001") is not None
        actions = [e.action for e in await uow.audit.list()]
        assert "onboarding.token_issued" in actions


async def test_subscription_updates_newest_first_end_on_the_newest(
    billing_rivet: RivetHarness,
) -> None:
    rivet = billing_rivet
    user_id, chat = await linked_user(rivet, 8101, "ada@example.com")
    now = int(time.time())
    await deliver(rivet, checkout_completed(user_id=user_id, tier="pro", created=now - 100))
    updates = [
        subscription_event(price=PRICE_ENTERPRISE, created=now - 10),  # newest
        subscription_event(price=PRICE_BASIC, created=now - 20),
        subscription_event(price="price_other", lookup_key=PRICE_PRO, created=now - 30),
    ]
    outcomes = []
    for update_event in updates:
        status, body = await deliver(rivet, update_event)
        assert status == 200
        outcomes.append(body["outcome"])
    assert outcomes == ["applied", "stale", "stale"]
    async with rivet.runtime.services.uow() as uow:
        user = await uow.users.get(user_id)
        assert user is not None and user.tier == "enterprise"
        sub = await uow.billing.subscription("sub_1Q0000000000001")
        assert sub is not None and sub.tier == "enterprise"
    assert (await audit_actions(rivet)).count("billing.event_out_of_order") == 2
    await chat.wait_for_message("Your plan is now <b>Enterprise</b>")


async def test_subscription_events_before_checkout_are_applied_when_the_user_appears(
    billing_rivet: RivetHarness,
) -> None:
    rivet = billing_rivet
    now = int(time.time())
    early = [
        subscription_event(
            "customer.subscription.created", status="incomplete", price=PRICE_PRO, created=now - 50
        ),
        subscription_event(status="active", price=PRICE_ENTERPRISE, created=now - 40),
        invoice_event("invoice.paid", created=now - 40),
    ]
    for early_event in early:
        status, body = await deliver(rivet, early_event)
        assert status == 200 and body["outcome"] in ("unlinked", "applied")
    async with rivet.runtime.services.uow() as uow:
        assert await uow.users.count() == 0
        sub = await uow.billing.subscription("sub_1Q0000000000001")
        assert sub is not None and sub.user_id is None and sub.status == "active"

    # The checkout (older metadata says pro) arrives last: the subscription's state wins.
    status, _ = await deliver(rivet, checkout_completed(tier="pro", created=now - 45))
    assert status == 200
    async with rivet.runtime.services.uow() as uow:
        user = await uow.users.by_email("ada@example.com")
        assert user is not None and user.tier == "enterprise"
        sub = await uow.billing.subscription("sub_1Q0000000000001")
        assert sub is not None and sub.user_id == user.id
        assert sub.current_period_end is not None and sub.checkout_session_id == "cs_test_a1b2c3"
        customer = await uow.session.get(BillingCustomer, "cus_T0000000000001")
        assert customer is not None and customer.user_id == user.id


async def test_subscription_event_with_user_metadata_applies_before_checkout(
    billing_rivet: RivetHarness,
) -> None:
    rivet = billing_rivet
    user_id, chat = await linked_user(rivet, 8201, "bea@example.com", "Bea")
    await deliver(
        rivet, subscription_event("customer.subscription.created", user_id=user_id, price=PRICE_PRO)
    )
    await chat.wait_for_message("Your plan is now <b>Pro</b>")
    await deliver(rivet, checkout_completed(user_id=user_id, email="bea@example.com"))
    async with rivet.runtime.services.uow() as uow:
        user = await uow.users.get(user_id)
        assert user is not None and user.tier == "pro"
        assert await uow.users.count() == 1


async def test_deleted_downgrades_and_tells_the_user(billing_rivet: RivetHarness) -> None:
    rivet = billing_rivet
    user_id, chat = await linked_user(rivet, 8301, "ada@example.com")
    now = int(time.time())
    await deliver(rivet, checkout_completed(user_id=user_id, created=now - 100))
    await deliver(rivet, subscription_event(created=now - 90))
    status, _ = await deliver(
        rivet,
        subscription_event("customer.subscription.deleted", status="canceled", created=now - 5),
    )
    assert status == 200
    await chat.wait_for_message("subscription has ended")
    # A late update from before the deletion cannot bring the plan back.
    status, body = await deliver(rivet, subscription_event(status="active", created=now - 50))
    assert body["outcome"] == "stale"
    async with rivet.runtime.services.uow() as uow:
        user = await uow.users.get(user_id)
        assert user is not None and user.tier == "none"
    assert "billing.subscription_deleted" in await audit_actions(rivet)


async def test_past_due_keeps_access_for_the_grace_period_then_removes_it(
    billing_rivet: RivetHarness,
) -> None:
    rivet = billing_rivet
    user_id, chat = await linked_user(rivet, 8401, "ada@example.com")
    now = int(time.time())
    await deliver(rivet, checkout_completed(user_id=user_id, created=now - 100))
    await deliver(rivet, subscription_event(status="past_due", created=now - 60))
    async with rivet.runtime.services.uow() as uow:
        user = await uow.users.get(user_id)
        assert user is not None and user.tier == "pro"  # inside the 7-day grace
    assert await rivet.runtime.services.billing.expire_grace_periods() == 0

    async with rivet.runtime.services.uow() as uow:
        await uow.session.execute(
            update(BillingSubscription).values(past_due_since=utcnow() - timedelta(days=8))
        )
        await uow.commit()
    assert await rivet.runtime.services.billing.expire_grace_periods() == 1
    await rivet.runtime.outbox.deliver_due()
    await chat.wait_for_message("payment is still overdue")
    async with rivet.runtime.services.uow() as uow:
        user = await uow.users.get(user_id)
        assert user is not None and user.tier == "none"

    for ended in ("unpaid", "canceled", "incomplete_expired", "paused"):
        await deliver(rivet, subscription_event(status="active", created=now - 40))
        await deliver(rivet, subscription_event(status=ended, created=now - 39))
        async with rivet.runtime.services.uow() as uow:
            user = await uow.users.get(user_id)
            assert user is not None and user.tier == "none", ended
        now += 2


async def test_unknown_event_types_are_recorded_and_ignored(billing_rivet: RivetHarness) -> None:
    from tests.billing_support import event

    rivet = billing_rivet
    before = await row_counts(rivet)
    status, body = await deliver(
        rivet, event("customer.created", {"id": "cus_x", "object": "customer"})
    )
    assert (status, body["outcome"]) == (200, "ignored")
    after = await row_counts(rivet)
    assert after["stripe_events"] == before["stripe_events"] + 1
    assert {k: v for k, v in after.items() if k != "stripe_events"} == {
        k: v for k, v in before.items() if k != "stripe_events"
    }


async def test_payment_failed_before_any_user_is_kept_quietly(billing_rivet: RivetHarness) -> None:
    status, body = await deliver(billing_rivet, invoice_event())
    assert (status, body["outcome"]) == (200, "unlinked")
