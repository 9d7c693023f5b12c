"""Acceptance 1 of the foundation: invite link → /start → welcome; used, expired, malformed."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sys
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from bot.domain import Tier
from storage.models import AuditEntry, OnboardingToken, User, utcnow
from tests.conftest import BOT_USERNAME, TEST_TOKEN, RivetHarness

LINK = re.compile(rf"https://t\.me/{BOT_USERNAME}\?start=([A-Za-z0-9_-]+)")


async def invite(rivet: RivetHarness, email: str, name: str | None, tier: Tier) -> str:
    _, token = await rivet.runtime.services.onboarding.add_user(email=email, name=name, tier=tier)
    return token


async def test_cli_link_then_start_welcomes_by_name_and_tier(rivet: RivetHarness) -> None:
    settings = rivet.runtime.settings
    env = {
        "PATH": os.environ["PATH"],
        "TELEGRAM_BOT_TOKEN": TEST_TOKEN,
        "TELEGRAM_API_BASE": settings.telegram_api_base,
        "DATABASE_URL": settings.resolved_database_url,
        "RIVET_DATA_DIR": str(settings.rivet_data_dir),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "users", "add", "--email", "Dana@Plant.example",
        "--name", "Dana", "--tier", "pro",
        env=env, cwd=settings.rivet_data_dir,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, stderr.decode()
    match = LINK.search(stdout.decode())
    assert match, stdout.decode()
    token = match.group(1)
    assert 32 <= len(token) <= 64

    dana = rivet.emulator.user(1001, first_name="Dana")
    await dana.send_command("start", args=token)
    welcome = await dana.wait_for_message("Welcome to Rivet")
    assert "Dana" in welcome.text and "Pro" in welcome.text

    async with rivet.runtime.services.uow() as uow:
        user = await uow.users.by_email("dana@plant.example")
        assert user is not None and user.telegram_user_id == 1001 and user.tier == "pro"
        stored = await uow.session.scalar(select(OnboardingToken.token_hash))
        assert stored is not None and token not in stored  # only the hash is kept

    # The same link again, from another account: refused, nothing changes.
    other = rivet.emulator.user(1002, first_name="Eve")
    await other.send_command("start", args=token)
    await other.wait_for_message("already been used")
    async with rivet.runtime.services.uow() as uow:
        assert await uow.users.by_telegram_id(1002) is None


async def test_expired_link_is_refused(rivet: RivetHarness) -> None:
    token = await invite(rivet, "old@plant.example", "Olga", Tier.BASIC)
    async with rivet.runtime.services.uow() as uow:
        await uow.session.execute(
            update(OnboardingToken).values(expires_at=utcnow() - timedelta(minutes=1))
        )
        await uow.commit()
    olga = rivet.emulator.user(2001, first_name="Olga")
    await olga.send_command("start", args=token)
    await olga.wait_for_message("expired")
    async with rivet.runtime.services.uow() as uow:
        user = await uow.users.by_email("old@plant.example")
        assert user is not None and user.telegram_user_id is None


@pytest.mark.parametrize(
    "payload",
    [
        "%00%ff%fe",  # bytes that are not a token
        "Ünïcødé-токен",
        "A" * 65,  # over Telegram's 64-character limit
        "a",  # a length base64 decoders choke on
        "not_a_real_token_but_well_formed_1234567890",
    ],
)
async def test_malformed_or_unknown_payloads_get_a_friendly_refusal(
    rivet: RivetHarness, payload: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    stranger = rivet.emulator.user(3001, first_name="Sam")
    await stranger.send_command("start", args=payload)
    reply = await stranger.wait_for_message(lambda m: "invite link" in (m.text or ""))
    assert "admin" in reply.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    async with rivet.runtime.services.uow() as uow:
        assert await uow.users.by_telegram_id(3001) is None


async def test_account_linked_to_someone_else_is_refused(rivet: RivetHarness) -> None:
    first = await invite(rivet, "ann@plant.example", "Ann", Tier.BASIC)
    second = await invite(rivet, "bob@plant.example", "Bob", Tier.BASIC)
    ann = rivet.emulator.user(4001, first_name="Ann")
    await ann.send_command("start", args=first)
    await ann.wait_for_message("Welcome to Rivet")
    await ann.send_command("start", args=second)
    await ann.wait_for_message("already linked to Ann")
    async with rivet.runtime.services.uow() as uow:
        bob = await uow.users.by_email("bob@plant.example")
        assert bob is not None and bob.telegram_user_id is None


async def test_same_person_reopening_their_link_is_told_it_is_used(rivet: RivetHarness) -> None:
    token = await invite(rivet, "cy@plant.example", "Cy", Tier.BASIC)
    cy = rivet.emulator.user(4101, first_name="Cy")
    await cy.send_command("start", args=token)
    await cy.wait_for_message("Welcome to Rivet")
    await cy.send_command("start", args=token)
    reply = await cy.wait_for_message("already been used")
    assert "Cy" in reply.text


async def test_unknown_account_is_told_how_to_get_access_once_per_interval(
    rivet: RivetHarness,
) -> None:
    stranger = rivet.emulator.user(5001, first_name="Flo")
    await stranger.send_command("start")
    await stranger.wait_for_message("invite link")
    for text in ("hello", "hello?", "anyone", "pump 3 leaking"):
        await stranger.send_text(text)
    await stranger.send_command("help")
    await asyncio.sleep(0.5)
    access_replies = [m for m in stranger.messages() if "invite link" in (m.text or "")]
    assert len(access_replies) == 1  # the flood after /start is not answered again
    async with rivet.runtime.services.uow() as uow:
        assert await uow.users.count() == 0


async def test_new_user_without_a_name_is_asked_and_it_is_saved(rivet: RivetHarness) -> None:
    token = await invite(rivet, "noname@plant.example", None, Tier.BASIC)
    tech = rivet.emulator.user(6001, first_name="X")
    await tech.send_command("start", args=token)
    await tech.wait_for_message("What should I call you")
    await tech.send_text("Dana")
    await tech.wait_for_message("Which area")
    await tech.send_command("skip")
    await tech.wait_for_message("All set")
    async with rivet.runtime.services.uow() as uow:
        user = await uow.users.by_email("noname@plant.example")
        assert user is not None and user.display_name == "Dana"
        actions = set(await uow.session.scalars(select(AuditEntry.action)))
        assert {"user.created", "onboarding.token_issued", "onboarding.linked"} <= actions
        assert await uow.session.scalar(select(User.home_location)) is None
