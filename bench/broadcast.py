"""/broadcast to 3,000 emulated users at Telegram's limits, stopped half-way and resumed.

Run: ``.venv/bin/python -m bench.broadcast [--users N]``. The Bot API emulator enforces
Telegram's flood limits (30 messages/s per bot, 1/s per chat) and answers 429 with retry_after
beyond them. 1 % of the users blocked the bot. An admin sends /broadcast and presses Send; when
half the users have it, the process is stopped (as on SIGTERM) and a fresh one started on the
same database, which resumes the broadcast. Targets: no 429 after the first, ≥ 95 % of 30
messages/s while sending, every reachable user exactly once, blocked users skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import select

from bot import texts
from bot.emulator import BotApiEmulator
from bot.runtime import Runtime, create_app
from bot.settings import Settings
from storage.models import BroadcastDelivery, User

TOKEN = "123456:BENCH-broadcast-token"
USERNAME = "rivet_bench_bot"
ADMIN_ID = 9001
FIRST_USER = 1_000_000
RATE = 30
TARGET_RATIO = 0.95
MESSAGE = "Plant shutdown drill at 15:00 — muster point B."


def settings_for(emulator: BotApiEmulator, data_dir: Path) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        telegram_bot_token=TOKEN,
        telegram_api_base=emulator.base_url,
        rivet_data_dir=data_dir,
        http_port=0,
        admin_telegram_ids=[ADMIN_ID],
        telegram_send_rate_per_s=RATE,
        log_level="WARNING",
    )


async def seed_users(runtime: Runtime, count: int) -> list[int]:
    ids = [FIRST_USER + i for i in range(count)]
    async with runtime.services.uow() as uow:
        uow.session.add_all(
            User(
                email=f"tech{i}@plant.example",
                tier="basic",
                telegram_user_id=i,
                telegram_chat_id=i,
            )
            for i in ids
        )
        await uow.commit()
    return ids


def rate(times: list[float]) -> float:
    return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0


async def run(users: int) -> bool:
    logging.basicConfig(level=logging.WARNING)
    emulator = BotApiEmulator(enforce_flood_limits=True, global_rate=RATE, per_chat_rate=1.0)
    emulator.register_bot(TOKEN, username=USERNAME)
    await emulator.start()
    body = texts.broadcast_body(MESSAGE)
    with tempfile.TemporaryDirectory() as tmp:
        settings = settings_for(emulator, Path(tmp))
        runtime = create_app(settings)
        await runtime.start()
        ids = await seed_users(runtime, users)
        blocked = set(ids[::100])
        for chat_id in blocked:
            emulator.user(chat_id).block_bot()
        admin = emulator.user(ADMIN_ID, first_name="Admin")
        await admin.send_command("broadcast", MESSAGE)
        preview = await admin.wait_for_message("Broadcast to", timeout=30)
        await asyncio.sleep(1.1)
        emulator.clear_records()
        started = time.monotonic()
        await admin.press(texts.BUTTON_SEND, preview.message_id)

        half = users // 2
        await emulator.wait_for_call("sendMessage", count=half, timeout=users / RATE * 2 + 30)
        await runtime.stop()
        first_phase = [
            r.at
            for r in emulator.calls("sendMessage")
            if r.params.get("text") == body and int(r.params["chat_id"]) not in blocked
        ]
        stopped = time.monotonic()
        runtime = create_app(settings)
        await runtime.start()
        restarted = time.monotonic()
        await admin.wait_for_message("Broadcast finished", timeout=users / RATE * 2 + 60)
        finished = time.monotonic()
        all_sends = [r for r in emulator.calls("sendMessage") if r.params.get("text") == body]
        second_phase = [
            r.at for r in all_sends if r.at > stopped and int(r.params["chat_id"]) not in blocked
        ]

        received = Counter(
            chat_id
            for chat_id in ids
            for m in emulator.user(chat_id).messages()
            if (m.text or "") == body
        )
        async with runtime.services.uow() as uow:
            states = Counter(await uow.session.scalars(select(BroadcastDelivery.state)))
        await runtime.stop()
    await emulator.stop()

    reachable = [i for i in ids if i not in blocked]
    once = all(received[i] == 1 for i in reachable)
    nobody_twice = max(received.values(), default=0) <= 1
    skipped = all(received[i] == 0 for i in blocked) and states["skipped"] == len(blocked)
    r1, r2 = rate(first_phase), rate(second_phase)
    too_many = emulator.too_many_requests_count
    print(f"users {users}, blocked {len(blocked)}, emulator limits {RATE}/s per bot, 1/s per chat")
    print(f"phase 1: {len(first_phase)} sends, {r1:5.2f} msg/s; stopped half-way")
    print(f"restart took {restarted - stopped:4.2f} s")
    print(f"phase 2: {len(second_phase)} sends, {r2:5.2f} msg/s")
    print(f"total {finished - started:6.1f} s; 429 answers: {too_many}; deliveries: {dict(states)}")
    print(f"every reachable user once: {once}; nobody twice: {nobody_twice}")
    print(f"blocked users skipped: {skipped}")
    ok = too_many <= 1 and min(r1, r2) >= TARGET_RATIO * RATE and once and nobody_twice and skipped
    print("PASS" if ok else "FAIL")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=3000)
    args = parser.parse_args()
    raise SystemExit(0 if asyncio.run(run(args.users)) else 1)


if __name__ == "__main__":
    main()
