"""Shared fixtures: database stacks (SQLite; PostgreSQL + Redis when they answer), the Bot API
emulator, and the real Rivet runtime wired to them."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiogram import Router
from sqlalchemy import text

from bot.emulator import BotApiEmulator
from bot.runtime import Runtime, create_app
from bot.settings import Settings
from storage.db import create_engine
from tests.fakes.atlas import FakeAtlas

TEST_TOKEN = "123456:TEST-bot-token-do-not-log"
TEST_ADMIN_KEY = "test-admin-key-do-not-log"
BOT_USERNAME = "rivet_test_bot"
POSTGRES_URL = os.environ.get(
    "TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

_availability: dict[str, str | None] = {}


def _unavailable(name: str, probe: Callable[[], None]) -> str | None:
    """None when the service answers, else why not (cached for the session)."""
    if name not in _availability:
        try:
            probe()
            _availability[name] = None
        except Exception as exc:
            _availability[name] = f"{type(exc).__name__}: {exc}"[:200]
    return _availability[name]


def _probe_postgres() -> None:
    async def connect() -> None:
        engine = create_engine(POSTGRES_URL)
        try:
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        finally:
            await engine.dispose()

    # Probed from a worker thread: the fixture calling this already runs an event loop.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, asyncio.wait_for(connect(), 5)).result()


def _probe_redis() -> None:
    import redis

    redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()


@dataclass(frozen=True)
class Stack:
    name: str
    database_url: Callable[[Path], str]
    redis_url: str | None


def _sqlite_url(tmp: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp / 'rivet.db'}"


STACKS = {
    "sqlite": Stack("sqlite", _sqlite_url, None),
    "postgres+redis": Stack("postgres+redis", lambda _tmp: POSTGRES_URL, REDIS_URL),
}


@pytest.fixture(params=list(STACKS))
async def stack(request: pytest.FixtureRequest) -> AsyncIterator[Stack]:
    chosen = STACKS[request.param]
    if chosen.name == "postgres+redis":
        reason = _unavailable("postgres", _probe_postgres) or _unavailable("redis", _probe_redis)
        if reason and os.environ.get("RIVET_REQUIRE_SERVICES"):
            pytest.fail(f"RIVET_REQUIRE_SERVICES is set but PostgreSQL/Redis fail: {reason}")
        if reason:
            pytest.skip(f"PostgreSQL/Redis stack not answering ({reason})")
        await _reset_postgres()
        await _reset_redis()
    yield chosen


async def _reset_postgres() -> None:
    engine = create_engine(POSTGRES_URL)
    async with engine.begin() as connection:
        await connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        await connection.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


async def _reset_redis() -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(REDIS_URL)
    await client.flushdb()
    await client.aclose()


@pytest.fixture
async def emulator() -> AsyncIterator[BotApiEmulator]:
    emu = BotApiEmulator()
    emu.register_bot(TEST_TOKEN, username=BOT_USERNAME)
    await emu.start()
    yield emu
    await emu.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def make_settings(
    stack: Stack, emulator: BotApiEmulator, tmp_path: Path
) -> Callable[..., Settings]:
    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "telegram_bot_token": TEST_TOKEN,
            "telegram_api_base": emulator.base_url,
            "database_url": stack.database_url(tmp_path),
            "redis_url": stack.redis_url,
            "rivet_data_dir": tmp_path,
            "http_port": 0,
            "admin_api_key": TEST_ADMIN_KEY,
            "public_base_url": "http://127.0.0.1:8080",
            "shutdown_grace_s": 3.0,
            "speech_warm_up": False,  # a speech worker per test would cost more than it shows
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return build


@dataclass
class RivetHarness:
    """The real runtime plus ways to act on it: HTTP calls and a restart."""

    emulator: BotApiEmulator
    make_settings: Callable[..., Settings]
    runtime: Runtime
    settings_overrides: dict[str, Any] = field(default_factory=dict)
    extra_routers: tuple[Router, ...] = ()

    @property
    def http_base(self) -> str:
        return f"http://127.0.0.1:{self.runtime.http_port}"

    async def http(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any, dict[str, str]]:
        async with (
            aiohttp.ClientSession() as session,
            session.request(method, self.http_base + path, **kwargs) as response,
        ):
            body: Any = await response.read()
            if response.content_type == "application/json":
                body = await response.json()
            return response.status, body, dict(response.headers)

    async def restart(self) -> None:
        await self.runtime.stop()
        self.runtime = create_app(
            self.make_settings(**self.settings_overrides), extra_routers=self.extra_routers
        )
        await self.runtime.start()


@pytest.fixture
async def rivet(
    emulator: BotApiEmulator, make_settings: Callable[..., Settings]
) -> AsyncIterator[RivetHarness]:
    runtime = create_app(make_settings())
    await runtime.start()
    harness = RivetHarness(emulator, make_settings, runtime)
    yield harness
    await harness.runtime.stop()


@pytest.fixture
async def fake_atlas() -> AsyncIterator[FakeAtlas]:
    async with FakeAtlas() as fake:
        yield fake


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """The CLI configures logging for the process; in tests that must not outlive the test."""
    import logging

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
