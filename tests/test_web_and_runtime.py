"""Foundation acceptance 2–4 and 6: restart keeps conversations, health and status routes,
webhook secret and redelivery, and the 409 conflict of a second poller."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest
from aiogram.fsm.storage.base import StorageKey
from pydantic import ValidationError
from sqlalchemy import func, select

from bot.domain import Tier
from bot.runtime import EXIT_CONFLICT
from bot.settings import Settings
from bot.states import Report
from storage.db import Database
from storage.fsm import DatabaseStorage
from storage.migrate import upgrade
from storage.models import ProcessedUpdate
from tests.conftest import TEST_ADMIN_KEY, TEST_TOKEN, RivetHarness, Stack, free_port


async def test_conversation_continues_after_a_restart(rivet: RivetHarness) -> None:
    _, token = await rivet.runtime.services.onboarding.add_user(
        email="rita@plant.example", name=None, tier=Tier.BASIC
    )
    rita = rivet.emulator.user(7001, first_name="R")
    await rita.send_command("start", args=token)
    await rita.wait_for_message("What should I call you")

    await rivet.restart()

    await rita.send_text("Rita")
    await rita.wait_for_message("Which area")
    await rita.send_text("Building B, line 3")
    await rita.wait_for_message("All set")
    async with rivet.runtime.services.uow() as uow:
        user = await uow.users.by_email("rita@plant.example")
        assert user is not None
        assert (user.display_name, user.home_location) == ("Rita", "Building B, line 3")


async def test_health_is_ok_with_the_database_and_503_without(rivet: RivetHarness) -> None:
    status, body, _ = await rivet.http("GET", "/health")
    assert status == 200 and body["status"] == "ok"

    unreachable = Database("postgresql+asyncpg://rivet@127.0.0.1:9/nowhere")
    rivet.runtime.status.database = unreachable
    try:
        status, body, _ = await rivet.http("GET", "/health")
    finally:
        await unreachable.close()
    assert status == 503
    assert body["status"] == "degraded" and body["checks"]["database"]["status"] == "error"


async def test_api_status_needs_the_admin_key(rivet: RivetHarness) -> None:
    status, body, _ = await rivet.http("GET", "/api/status")
    assert status == 401 and body["error"]["code"] == "unauthorized"
    status, body, _ = await rivet.http(
        "GET", "/api/status", headers={"Authorization": "Bearer wrong"}
    )
    assert status == 401

    stranger = rivet.emulator.user(7101)
    await stranger.send_text("hi")
    await stranger.wait_for_message("invite link")
    status, body, _ = await rivet.http(
        "GET", "/api/status", headers={"Authorization": f"Bearer {TEST_ADMIN_KEY}"}
    )
    assert status == 200
    services = body["services"]
    assert services["database"]["status"] == "ok"
    assert services["telegram"] == {"status": "ok", "detail": "@rivet_test_bot"}
    assert services["stripe"]["status"] == "not configured"
    assert body["metrics"]["users"] == 0
    assert body["metrics"]["update_latency_ms"]["samples"] >= 1


async def test_unknown_routes_answer_with_the_json_envelope(rivet: RivetHarness) -> None:
    status, body, headers = await rivet.http("GET", "/nope")
    assert status == 404 and body["error"]["code"] == "not_found"
    assert headers["Content-Type"].startswith("application/json")


@pytest.fixture
async def webhook_rivet(rivet: RivetHarness) -> RivetHarness:
    port = free_port()
    rivet.settings_overrides = {
        "http_port": port,
        "telegram_webhook_url": f"http://127.0.0.1:{port}",
        "telegram_webhook_secret": "hook-secret",
    }
    await rivet.restart()
    return rivet


def start_update(update_id: int, user_id: int, text: str) -> dict[str, object]:
    sender = {"id": user_id, "is_bot": False, "first_name": "W"}
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1_760_000_000,
            "chat": {"id": user_id, "type": "private", "first_name": "W"},
            "from": sender,
            "text": text,
        },
    }


async def test_webhook_mode_rejects_bad_secrets_and_handles_a_redelivery_once(
    webhook_rivet: RivetHarness,
) -> None:
    rivet = webhook_rivet
    assert rivet.emulator.calls("setWebhook"), "the bot registers its webhook"
    update = start_update(900_001, 7201, "/start")

    for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}):
        status, body, _ = await rivet.http(
            "POST", "/telegram/webhook", json=update, headers=headers
        )
        assert status == 403 and body["error"]["code"] == "forbidden"

    good = {"X-Telegram-Bot-Api-Secret-Token": "hook-secret"}
    for _ in range(2):
        status, _, _ = await rivet.http("POST", "/telegram/webhook", json=update, headers=good)
        assert status == 200
    chat = rivet.emulator.user(7201)
    await asyncio.sleep(0.2)
    assert len([m for m in chat.messages() if "invite link" in (m.text or "")]) == 1
    if rivet.runtime.settings.redis_url is None:
        async with rivet.runtime.services.uow() as uow:
            count = await uow.session.scalar(select(func.count(ProcessedUpdate.id)))
            assert count == 1  # the two rejected deliveries left nothing behind

    status, body, _ = await rivet.http("POST", "/telegram/webhook", data=b"not json", headers=good)
    assert status == 400


async def test_webhook_mode_receives_updates_from_telegram(webhook_rivet: RivetHarness) -> None:
    user = webhook_rivet.emulator.user(7301, first_name="Web")
    await user.send_command("start")
    await user.wait_for_message("invite link")


async def test_a_second_poller_stops_the_process_with_one_clear_line(
    rivet: RivetHarness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    await asyncio.sleep(0.3)  # let the first long poll reach the emulator
    async with aiohttp.ClientSession() as session:
        url = f"{rivet.emulator.base_url}/bot{TEST_TOKEN}/getUpdates"
        async with session.post(url, data={"timeout": "1"}) as response:
            await response.read()
    await asyncio.wait_for(rivet.runtime.wait_stop_requested(), 10)
    assert rivet.runtime.exit_code == EXIT_CONFLICT
    lines = [r.getMessage() for r in caplog.records if "409" in r.getMessage()]
    assert len(lines) == 1 and "Another process is polling" in lines[0]


async def test_webhook_secret_is_required_with_a_webhook_url(
    make_settings: Callable[..., Settings],
) -> None:
    with pytest.raises(ValidationError, match="TELEGRAM_WEBHOOK_SECRET"):
        make_settings(telegram_webhook_url="https://example.invalid/hook")


async def test_runtime_uses_redis_fsm_when_configured(rivet: RivetHarness) -> None:
    storage = type(rivet.runtime.dispatcher.storage).__name__ if rivet.runtime.dispatcher else ""
    expected = "RedisStorage" if rivet.runtime.settings.redis_url else "DatabaseStorage"
    assert storage == expected


async def test_command_menus_technicians_and_chat_scoped_admins(rivet: RivetHarness) -> None:
    rivet.settings_overrides = {"admin_telegram_ids": [424242]}
    await rivet.restart()
    menus = {}
    for call in rivet.emulator.calls("setMyCommands"):
        scope = call.params.get("scope") or {}
        key = (scope.get("type"), scope.get("chat_id"))
        menus[key] = [command["command"] for command in call.params["commands"]]
    technician = menus[("all_private_chats", None)]
    admin = menus[("chat", 424242)]
    assert "mywork" in technician and "broadcast" not in technician
    assert "broadcast" in admin and "mywork" in admin


async def test_database_fsm_storage_survives_a_new_process_on_each_stack(
    stack: Stack, tmp_path: Path
) -> None:
    database = Database(stack.database_url(tmp_path))
    await upgrade(database.engine)
    key = StorageKey(bot_id=1, chat_id=2, user_id=2)
    try:
        storage = DatabaseStorage(database)
        await storage.set_state_and_data(key, Report.confirming, {"draft": {"title": "Leak"}})
        data = await storage.get_data(key)
        data["draft"]["title"] = "changed by the caller"  # the stored copy must not change
        await storage.set_state(key, Report.editing_title)

        fresh = DatabaseStorage(database)  # a restarted process: nothing cached
        assert await fresh.get_state(key) == Report.editing_title.state
        assert await fresh.get_data(key) == {"draft": {"title": "Leak"}}
    finally:
        await database.close()
