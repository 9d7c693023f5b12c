"""Issue 8, acceptance 3 (fast version; `python -m bench.broadcast` runs 3,000 users at 30/s):
/broadcast with a confirmation, at the emulator's enforced limits, blocked users skipped,
resumed after a restart, nobody twice."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlalchemy import select

from bot import texts
from bot.emulator import BotApiEmulator
from bot.runtime import create_app
from bot.settings import Settings
from storage.models import Broadcast, BroadcastDelivery, User
from tests.conftest import BOT_USERNAME, TEST_TOKEN, RivetHarness

ADMIN_ID = 9001
RATE = 60  # the emulator's and Rivet's per-bot limit in these tests (Telegram: 30)
FIRST_USER = 500_000


@pytest.fixture
async def emulator() -> AsyncIterator[BotApiEmulator]:
    emu = BotApiEmulator(enforce_flood_limits=True, global_rate=RATE, per_chat_rate=1.0)
    emu.register_bot(TEST_TOKEN, username=BOT_USERNAME)
    await emu.start()
    yield emu
    await emu.stop()


@pytest.fixture
async def admin_rivet(
    emulator: BotApiEmulator, make_settings: Callable[..., Settings]
) -> AsyncIterator[RivetHarness]:
    overrides: dict[str, Any] = {"admin_telegram_ids": [ADMIN_ID], "telegram_send_rate_per_s": RATE}
    runtime = create_app(make_settings(**overrides))
    await runtime.start()
    harness = RivetHarness(emulator, make_settings, runtime, settings_overrides=overrides)
    yield harness
    await harness.runtime.stop()


async def add_linked_users(rivet: RivetHarness, count: int, tier: str = "basic") -> list[int]:
    ids = [FIRST_USER + i for i in range(count)]
    async with rivet.runtime.services.uow() as uow:
        for telegram_id in ids:
            uow.session.add(
                User(
                    email=f"u{telegram_id}@plant.example",
                    tier=tier,
                    telegram_user_id=telegram_id,
                    telegram_chat_id=telegram_id,
                )
            )
        await uow.commit()
    return ids


def received(emulator: BotApiEmulator, chat_ids: list[int], body: str) -> Counter[int]:
    counts: Counter[int] = Counter()
    for chat_id in chat_ids:
        counts[chat_id] = sum(
            1 for m in emulator.user(chat_id).messages() if (m.text or "") == body
        )
    return counts


async def deliveries(rivet: RivetHarness) -> Counter[str]:
    async with rivet.runtime.services.uow() as uow:
        states = await uow.session.scalars(select(BroadcastDelivery.state))
        return Counter(states)


async def test_broadcast_confirmed_sent_at_the_limit_blocked_users_skipped(
    admin_rivet: RivetHarness,
) -> None:
    emulator = admin_rivet.emulator
    users = await add_linked_users(admin_rivet, 150)
    blocked = users[::30]  # 5 users
    for chat_id in blocked:
        emulator.user(chat_id).block_bot()
    admin = emulator.user(ADMIN_ID, first_name="Boss")

    await admin.send_command("broadcast", "Canteen closed <today>")
    preview = await admin.wait_for_message("Broadcast to 150 all linked users")
    await emulator.wait_idle()
    assert not [u for u in users if emulator.user(u).messages()]  # nothing before confirming
    emulator.clear_records()

    await admin.press(texts.BUTTON_SEND, preview.message_id)
    done = await admin.wait_for_message("Broadcast finished", timeout=30)
    assert "sent 145/150" in (done.text or "") and "5 blocked the bot" in (done.text or "")
    assert done.message_id == preview.message_id and done.edited

    body = texts.broadcast_body("Canteen closed <today>")
    counts = received(emulator, users, body)
    assert all(counts[u] == 1 for u in users if u not in blocked)
    assert all(counts[u] == 0 for u in blocked)
    assert emulator.too_many_requests_count == 0
    assert await deliveries(admin_rivet) == Counter({"sent": 145, "skipped": 5})

    sends = [r.at for r in emulator.calls("sendMessage") if r.params.get("text") == body]
    assert len(sends) == 150  # 145 accepted, 5 refused with 403
    # Paced at the limit: ≥ 1 s per RATE messages, and not much slower.
    assert sends[-1] - sends[0] >= (len(sends) - RATE) / RATE
    assert sends[-1] - sends[0] < len(sends) / RATE + 1.0

    async with admin_rivet.runtime.services.uow() as uow:
        actions = {entry.action for entry in await uow.audit.list(limit=20)}
    assert {"broadcast.drafted", "broadcast.confirmed", "broadcast.finished"} <= actions

    # A second press on the (now removed) button cannot send it again.
    async with admin_rivet.runtime.services.uow() as uow:
        broadcast_id = await uow.session.scalar(select(Broadcast.id))
    assert broadcast_id is not None
    again = await admin_rivet.runtime.admin.broadcasts.confirm(  # type: ignore[union-attr]
        broadcast_id, actor="test", progress_message_id=preview.message_id
    )
    assert again is None


async def test_broadcast_to_one_tier_and_cancel(admin_rivet: RivetHarness) -> None:
    await add_linked_users(admin_rivet, 3, tier="pro")
    admin = admin_rivet.emulator.user(ADMIN_ID, first_name="Boss")
    await admin.send_command("broadcast", "tier:enterprise hello")
    await admin.wait_for_message(texts.BROADCAST_NOBODY)
    await asyncio.sleep(1.1)  # the emulator enforces 1 message/s per chat
    await admin.send_command("broadcast", "tier:pro hello pros")
    preview = await admin.wait_for_message("Broadcast to 3 Pro users")
    await asyncio.sleep(1.1)
    await admin.press(texts.BUTTON_CANCEL, preview.message_id)
    await admin.wait_for_message(texts.BROADCAST_CANCELLED)
    await admin_rivet.emulator.wait_idle()
    async with admin_rivet.runtime.services.uow() as uow:
        statuses = list(await uow.session.scalars(select(Broadcast.status)))
    assert statuses == ["cancelled", "cancelled"]
    assert await deliveries(admin_rivet) == Counter()


async def test_broadcast_resumes_after_a_restart_and_nobody_gets_it_twice(
    admin_rivet: RivetHarness,
) -> None:
    emulator = admin_rivet.emulator
    users = await add_linked_users(admin_rivet, 240)
    admin = emulator.user(ADMIN_ID, first_name="Boss")
    await admin.send_command("broadcast", "Shift change at 14:00")
    preview = await admin.wait_for_message("Broadcast to 240")
    await admin.press(texts.BUTTON_SEND, preview.message_id)
    body = texts.broadcast_body("Shift change at 14:00")

    # Kill it half-way (a stop between two messages), then start a fresh process.
    await emulator.wait_for_call("sendMessage", count=100, timeout=30)
    await admin_rivet.restart()
    sent_before = len([r for r in emulator.calls("sendMessage") if r.params.get("text") == body])
    assert sent_before < 240

    await admin.wait_for_message("Broadcast finished", timeout=30)
    counts = received(emulator, users, body)
    assert sorted(set(counts.values())) == [1]  # everyone, once
    assert await deliveries(admin_rivet) == Counter({"sent": 240})
    assert emulator.too_many_requests_count <= 1


async def test_a_delivery_in_flight_at_a_crash_is_never_resent(admin_rivet: RivetHarness) -> None:
    """A runner killed between claiming a row and recording Telegram's answer leaves the row in
    `sending`: the outcome is unknown, so the resumed broadcast reports it and skips it."""
    emulator = admin_rivet.emulator
    users = await add_linked_users(admin_rivet, 4)
    tools = admin_rivet.runtime.admin
    assert tools is not None
    draft = await tools.broadcasts.draft("hi", tier=None, actor="test", admin_chat_id=ADMIN_ID)
    await tools.broadcasts.stop()  # this process "crashes" before it sends anything
    async with admin_rivet.runtime.services.uow() as uow:
        await uow.broadcasts.transition(draft.id, "draft", status="sending", total=4)
        uow.broadcasts.add_deliveries(draft.id, [(0, chat) for chat in users])
        await uow.commit()
        first = await uow.session.scalar(
            select(BroadcastDelivery).where(BroadcastDelivery.chat_id == users[0])
        )
        assert first is not None
        first.state = "sending"
        await uow.commit()
    await admin_rivet.restart()
    for _ in range(100):  # a new transaction each time: SQLite reads see a snapshot
        async with admin_rivet.runtime.services.uow() as uow:
            status = await uow.session.scalar(select(Broadcast.status))
        if status == "done":
            break
        await asyncio.sleep(0.1)
    assert await deliveries(admin_rivet) == Counter({"sent": 3, "unknown": 1})
    counts = received(emulator, users, texts.broadcast_body("hi"))
    assert counts[users[0]] == 0 and all(counts[u] == 1 for u in users[1:])
