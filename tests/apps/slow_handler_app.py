"""`rivet run` plus one slow handler, for the SIGTERM test (run as a subprocess)."""

from __future__ import annotations

import asyncio
import sys

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message

from bot.factory import AppServices
from bot.logs import setup_logging
from bot.runtime import create_app
from bot.settings import load_settings

SLOW_SECONDS = 3.0


async def slow_two_step_write(message: Message, services: AppServices) -> None:
    await message.answer("working on it")
    async with services.uow() as uow:
        uow.audit.record("test", "slow.first")
        await uow.session.flush()
        await asyncio.sleep(SLOW_SECONDS)
        uow.audit.record("test", "slow.second")
        await uow.commit()
    await message.answer("done")


def main() -> int:
    settings = load_settings()
    setup_logging(settings.log_level, settings.log_format, settings.secret_values())
    router = Router(name="slow")
    router.message.register(slow_two_step_write, Command("slow"))
    return asyncio.run(create_app(settings, extra_routers=[router]).serve())


if __name__ == "__main__":
    sys.exit(main())
