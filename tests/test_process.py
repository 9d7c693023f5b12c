"""Foundation acceptance 5 and 7, on a real process: SIGTERM during a slow handler, missing
configuration, and no secret in any log line."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.emulator import BotApiEmulator
from storage.db import Database
from storage.models import AuditEntry
from tests.conftest import TEST_ADMIN_KEY, TEST_TOKEN, Stack

STARTED = b"Rivet started"
REPO_ROOT = Path(__file__).resolve().parents[1]


def base_env(tmp_path: Path) -> dict[str, str]:
    # A clean environment: nothing from the developer's shell or .env leaks in.
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": str(REPO_ROOT),
    }


async def spawn(module: str, env: dict[str, str], cwd: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", module, *([] if module != "bot" else ["run"]),
        env=env, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def read_until(stream: asyncio.StreamReader, marker: bytes, timeout: float) -> bytes:
    seen = b""
    async with asyncio.timeout(timeout):
        while marker not in seen:
            line = await stream.readline()
            if not line:
                raise AssertionError(f"process ended before {marker!r}:\n{seen.decode()}")
            seen += line
    return seen


def app_env(tmp_path: Path, stack: Stack, emulator: BotApiEmulator, **extra: str) -> dict[str, str]:
    env = base_env(tmp_path) | {
        "TELEGRAM_BOT_TOKEN": TEST_TOKEN,
        "TELEGRAM_API_BASE": emulator.base_url,
        "DATABASE_URL": stack.database_url(tmp_path),
        "HTTP_PORT": "0",
        "ADMIN_API_KEY": TEST_ADMIN_KEY,
        "RIVET_DATA_DIR": str(tmp_path),
    }
    if stack.redis_url:
        env["REDIS_URL"] = stack.redis_url
    return env | extra


@pytest.mark.parametrize(("grace", "rows_expected"), [("8", 2), ("0.5", 0)])
async def test_sigterm_during_a_slow_handler_exits_fast_and_writes_all_or_nothing(
    tmp_path: Path, stack: Stack, emulator: BotApiEmulator, grace: str, rows_expected: int
) -> None:
    env = app_env(tmp_path, stack, emulator, SHUTDOWN_GRACE_S=grace)
    process = await spawn("tests.apps.slow_handler_app", env, tmp_path)
    assert process.stderr is not None
    try:
        await read_until(process.stderr, STARTED, 120)
        tech = emulator.user(8001)
        await tech.send_command("slow")
        await tech.wait_for_message("working on it", timeout=40)
        sent_at = time.monotonic()
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 10)
        assert time.monotonic() - sent_at < 10
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0
    database = Database(stack.database_url(tmp_path))
    try:
        async with database.sessionmaker() as session:
            actions = list(await session.scalars(select(AuditEntry.action).where(
                AuditEntry.action.like("slow.%"))))  # fmt: skip
    finally:
        await database.close()
    assert len(actions) == rows_expected


async def test_missing_token_exits_2_with_a_one_line_hint(tmp_path: Path) -> None:
    process = await spawn("bot", base_env(tmp_path), tmp_path)
    _, stderr = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 2
    lines = stderr.decode().strip().splitlines()
    assert len(lines) == 1 and "TELEGRAM_BOT_TOKEN" in lines[0] and "BotFather" in lines[0]


async def test_invalid_setting_exits_2_naming_the_variable(tmp_path: Path) -> None:
    env = base_env(tmp_path) | {"TELEGRAM_BOT_TOKEN": TEST_TOKEN, "HTTP_PORT": "eighty"}
    process = await spawn("bot", env, tmp_path)
    _, stderr = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 2
    lines = stderr.decode().strip().splitlines()
    assert len(lines) == 1 and "HTTP_PORT" in lines[0] and "eighty" not in lines[0]


async def test_no_secret_appears_in_any_log_line(
    tmp_path: Path, stack: Stack, emulator: BotApiEmulator
) -> None:
    env = app_env(
        tmp_path, stack, emulator, LOG_LEVEL="DEBUG", TELEGRAM_WEBHOOK_SECRET="hook-secret-xyz"
    )
    process = await spawn("bot", env, tmp_path)
    assert process.stderr is not None
    try:
        output = await read_until(process.stderr, STARTED, 120)
        user = emulator.user(8101)
        await user.send_command("start", args="bogus_token_value")
        await user.wait_for_message("invite link", timeout=40)
        process.send_signal(signal.SIGTERM)
        _, rest = await asyncio.wait_for(process.communicate(), 20)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    log = (output + (rest or b"")).decode()
    assert "Rivet stopped" in log
    for secret in (TEST_TOKEN, TEST_TOKEN.split(":")[1], TEST_ADMIN_KEY):
        assert secret not in log
