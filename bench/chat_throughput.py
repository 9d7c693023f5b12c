"""Text update → reply: Rivet's full stack against a bare aiogram echo bot, same emulator, same run.

Run: `.venv/bin/python -m bench.chat_throughput [--users 20 --messages 20 --rounds 5]`. Each
emulated technician sends a problem report and waits for the bot's answer before sending the
next, so the numbers are end-to-end latency through real HTTP polling plus the throughput of many
such users at once. The two bots take turns for a few rounds (a busy moment of a shared machine
then hits both) and are compared on the median round's rate and on p99 over all rounds. An echo
phase of 200 updates lasts ~0.3 s, short enough for one busy moment of this shared VM to swing
it by half, hence 20 messages per user and 5 rounds.
Targets (issue 6): Rivet ≥ 0.5× the echo bot's updates/s, p99 ≤ 3× its p99.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message

from bot.domain import Tier
from bot.emulator import BotApiEmulator, EmulatedUser
from bot.runtime import create_app
from bot.settings import Settings
from integrations.cmms.local import LocalCmms

ECHO_TOKEN = "111111:echo-baseline"
RIVET_TOKEN = "222222:rivet-bench"
REPORTS = [
    "pump 3 is leaking oil at the seal, urgent",
    "conveyor 2 making a grinding noise",
    "boiler 1 pressure gauge cracked",
    "chiller 4 tripped again",
]


@dataclass
class Result:
    name: str
    updates: int
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.updates / self.seconds

    def pct(self, q: int) -> float:
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[q - 1] * 1000

    def line(self) -> str:
        return (
            f"{self.name:>10}: {self.rate:7.1f} updates/s  p50 {self.pct(50):6.1f} ms  "
            f"p95 {self.pct(95):6.1f} ms  p99 {self.pct(99):6.1f} ms  ({self.updates} updates)"
        )


async def drive(name: str, users: list[EmulatedUser], messages: int, expect: str) -> Result:
    latencies: list[float] = []
    gc.collect()  # the previous phase's garbage is not this phase's pause

    async def one_user(user: EmulatedUser, offset: int) -> None:
        for index in range(messages):
            text = REPORTS[(offset + index) % len(REPORTS)]
            started = time.perf_counter()
            await user.send_text(text)
            await user.wait_for_message(expect, timeout=30)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(one_user(user, i) for i, user in enumerate(users)))
    return Result(name, len(latencies), time.perf_counter() - started, latencies)


def combined(name: str, rounds: list[Result]) -> Result:
    """The median round's rate, with every round's latencies."""
    median = sorted(rounds, key=lambda result: result.rate)[len(rounds) // 2]
    latencies = [latency for result in rounds for latency in result.latencies]
    return Result(name, len(latencies), len(latencies) / median.rate, latencies)


async def echo_baseline(emu: BotApiEmulator, users: int, messages: int, first_id: int) -> Result:
    async def echo(message: Message) -> None:
        await message.answer(message.text or "")

    router = Router()
    router.message.register(echo, F.text)
    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    bot = Bot(ECHO_TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(emu.base_url)))
    polling = asyncio.create_task(dispatcher.start_polling(bot, handle_signals=False))
    try:
        people = [emu.user(first_id + i, bot_token=ECHO_TOKEN) for i in range(users)]
        await drive("echo bot", people[:2], 3, "")  # warm-up
        return await drive("echo bot", people, messages, "")
    finally:
        await dispatcher.stop_polling()
        await polling


async def rivet_stack(
    emu: BotApiEmulator, users: int, messages: int, data_dir: Path, first_id: int
) -> Result:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        telegram_bot_token=RIVET_TOKEN,
        telegram_api_base=emu.base_url,
        rivet_data_dir=data_dir,
        http_port=0,
        speech_backend="none",
    )
    runtime = create_app(settings)
    await runtime.start()
    try:
        cmms = runtime.services.cmms
        assert isinstance(cmms, LocalCmms)
        for name, tag in [
            ("Pump 3", "P-003"),
            ("Pump 4", "P-004"),
            ("Conveyor 2", "CV-002"),
            ("Boiler 1", "B-001"),
            ("Chiller 4", "CH-004"),
        ]:
            await cmms.add_asset(name, tag=tag)
        await cmms.refresh_asset_index()
        people = []
        for i in range(users):
            _, token = await runtime.services.onboarding.add_user(
                email=f"bench{i}@plant.example", name=f"Tech {i}", tier=Tier.PRO
            )
            person = emu.user(first_id + i, bot_token=RIVET_TOKEN)
            await person.send_command("start", args=token)
            await person.wait_for_message("Welcome", timeout=30)
            people.append(person)
        await drive("rivet", people[:2], 3, "New work order")  # warm-up
        return await drive("rivet", people, messages, "New work order")
    finally:
        await runtime.stop()


async def main(users: int, messages: int, rounds: int) -> int:
    emu = BotApiEmulator()
    emu.register_bot(ECHO_TOKEN, username="echo_bench_bot")
    emu.register_bot(RIVET_TOKEN, username="rivet_bench_bot")
    await emu.start()
    echo_rounds: list[Result] = []
    rivet_rounds: list[Result] = []
    try:
        for round_ in range(rounds):
            first_id = 10_000 + round_ * 1_000  # new chats each round
            echo_rounds.append(await echo_baseline(emu, users, messages, first_id))
            with tempfile.TemporaryDirectory() as tmp:
                rivet_rounds.append(
                    await rivet_stack(emu, users, messages, Path(tmp), first_id + 100_000)
                )
            print(
                f"round {round_ + 1}: {echo_rounds[-1].line()}\n         {rivet_rounds[-1].line()}"
            )
    finally:
        await emu.stop()
    echo = combined("echo bot", echo_rounds)
    rivet = combined("rivet", rivet_rounds)
    print(f"median of {rounds} rounds, p99 over all:")
    print(echo.line())
    print(rivet.line())
    rate_ratio = rivet.rate / echo.rate
    p99_ratio = rivet.pct(99) / echo.pct(99)
    print(f"throughput ratio {rate_ratio:.2f} (target ≥ 0.5), p99 ratio {p99_ratio:.2f} (≤ 3)")
    ok = rate_ratio >= 0.5 and p99_ratio <= 3
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.users, args.messages, args.rounds)))
