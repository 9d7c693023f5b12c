"""Issue 6 acceptance through the real runtime, the emulator and the local CMMS."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.domain import Priority, Tier, WorkOrderSource, WorkOrderStatus
from bot.emulator import BotMessage, EmulatedUser
from integrations.cmms.local import LocalCmms
from integrations.cmms.port import WorkOrder
from storage.models import User
from tests.conftest import RivetHarness
from tests.fakes.openai_server import FakeOpenAI

DATA = Path(__file__).parent / "data"


async def technician(
    rivet: RivetHarness, user_id: int, *, tier: Tier = Tier.BASIC, name: str = "Dana"
) -> EmulatedUser:
    _, token = await rivet.runtime.services.onboarding.add_user(
        email=f"tech{user_id}@plant.example", name=name, tier=tier
    )
    user = rivet.emulator.user(user_id, first_name=name)
    await user.send_command("start", args=token)
    await user.wait_for_message("Welcome to Rivet")
    return user


async def seed(rivet: RivetHarness, *assets: tuple[str, str]) -> dict[str, str]:
    cmms = rivet.runtime.services.cmms
    assert isinstance(cmms, LocalCmms)
    ids = {}
    for name, tag in assets:
        asset = await cmms.add_asset(name, tag=tag, location="Building A")
        ids[name] = asset.id
    await cmms.refresh_asset_index()
    return ids


async def report_and_create(user: EmulatedUser, text: str) -> BotMessage:
    """Report a problem whose asset is clear and confirm the card; returns the answer."""
    await user.send_text(text)
    await user.wait_for_message("New work order")
    await user.press("✅ Create")
    return await user.wait_for_message("created")


async def all_work_orders(rivet: RivetHarness) -> list[WorkOrder]:
    return await rivet.runtime.services.cmms.list_open_work_orders(limit=500)


async def test_clear_asset_is_preselected_and_create_lands_in_the_cmms(rivet: RivetHarness) -> None:
    ids = await seed(rivet, ("Pump 3", "P-003"), ("Pump 4", "P-004"))
    dana = await technician(rivet, 9001)
    await dana.send_text("Pump 3 is leaking oil at the seal, urgent")
    card = await dana.wait_for_message("New work order")
    assert "Pump 3" in card.text and "High" in card.text
    await dana.press("✅ Create")
    created = await dana.wait_for_message("created")
    assert created.message_id == card.message_id  # the card turned into the answer in place
    [order] = await all_work_orders(rivet)
    assert order.asset_id == ids["Pump 3"]
    assert order.priority is Priority.HIGH
    assert order.source is WorkOrderSource.TELEGRAM_TEXT
    assert order.number in created.text


async def test_ambiguous_asset_asks_with_buttons_and_uses_the_choice(rivet: RivetHarness) -> None:
    ids = await seed(
        rivet, ("Pump 1", "P-001"), ("Pump 2", "P-002"), ("Pump 3", "P-003"), ("Pump 4", "P-004")
    )
    dana = await technician(rivet, 9002)
    await dana.send_text("the pump is making a noise")
    question = await dana.wait_for_message("Which equipment")
    labels = [button.text for row in question.buttons for button in row]
    assert sum("Pump" in label for label in labels) >= 2
    assert "None of these" in labels and "Type it again" in labels
    await dana.press("Pump 2 (P-002)")
    await dana.wait_for_message("New work order")
    await dana.press("✅ Create")
    await dana.wait_for_message("created")
    [order] = await all_work_orders(rivet)
    assert order.asset_id == ids["Pump 2"]


async def test_double_tap_and_redelivery_leave_one_work_order(rivet: RivetHarness) -> None:
    await seed(rivet, ("Pump 3", "P-003"))
    dana = await technician(rivet, 9003)
    update = await dana.send_text("pump 3 is leaking")
    card = await dana.wait_for_message("New work order")
    await dana.press("✅ Create", message_id=card.message_id)
    await dana.press("✅ Create", message_id=card.message_id)
    await dana.wait_for_message("created")
    await asyncio.sleep(0.3)
    # The same update delivered again (as Telegram does after a failed webhook answer).
    await rivet.runtime.dispatcher.feed_raw_update(rivet.runtime.bot, update)  # type: ignore[union-attr]
    await asyncio.sleep(0.3)
    assert len(await all_work_orders(rivet)) == 1


async def test_possible_duplicate_is_offered(rivet: RivetHarness) -> None:
    await seed(rivet, ("Pump 3", "P-003"))
    dana = await technician(rivet, 9004)
    await dana.send_text("pump 3 is leaking oil at the seal")
    await dana.wait_for_message("New work order")
    await dana.press("✅ Create")
    created = await dana.wait_for_message("created")
    found = re.search(r"WO-\d+", created.text)
    assert found is not None
    number = found.group(0)
    await dana.send_text("oil leaking from the seal on pump 3")
    offer = await dana.wait_for_message("already an open")
    assert number in offer.text
    await dana.press(f"Add my note to {number}")
    await dana.wait_for_message("Note added")
    [order] = await all_work_orders(rivet)
    assert any("oil leaking" in note.text for note in order.notes)


async def test_voice_note_is_transcribed_then_becomes_a_work_order(rivet: RivetHarness) -> None:
    await seed(rivet, ("Pump 3", "P-003"), ("Pump 4", "P-004"))
    dana = await technician(rivet, 9005)
    audio = (DATA / "voice_pump_leak.ogg").read_bytes()
    await dana.send_voice(audio, duration=4)
    heard = await dana.wait_for_message("I heard", timeout=60)
    assert "pump" in heard.text.lower()
    await dana.wait_for_message("New work order", timeout=20)
    await dana.press("✅ Create")
    await dana.wait_for_message("created")
    [order] = await all_work_orders(rivet)
    assert order.source is WorkOrderSource.TELEGRAM_VOICE
    assert "pump 3 is leaking" in order.description  # the transcript is kept on the order
    assert order.asset_name == "Pump 3"


async def test_basic_plan_is_required(rivet: RivetHarness) -> None:
    await seed(rivet, ("Pump 3", "P-003"))
    _, token = await rivet.runtime.services.onboarding.add_user(
        email="free@plant.example", name="Free", tier=Tier.NONE
    )
    free = rivet.emulator.user(9006)
    await free.send_command("start", args=token)
    await free.wait_for_message("Welcome")
    await free.send_text("pump 3 is leaking")
    refusal = await free.wait_for_message("Upgrade to Basic")
    assert refusal.buttons
    assert await all_work_orders(rivet) == []


async def test_photo_with_caption_and_album_attach_every_photo(rivet: RivetHarness) -> None:
    await seed(rivet, ("Pump 3", "P-003"), ("Boiler 2", "B-002"))
    dana = await technician(rivet, 9007)
    await dana.send_photo(b"\xff\xd8photo-one", caption="pump 3 leaking at the seal")
    await dana.wait_for_message("New work order")
    await dana.press("✅ Create")
    await dana.wait_for_message("created")
    for index in range(3):
        await dana.send_photo(
            f"photo-{index}".encode(),
            caption="boiler 2 pressure gauge cracked" if index == 0 else None,
            media_group_id="album-1",
        )
    card = await dana.wait_for_message("New work order")
    assert "3 photos" in card.text
    await dana.press("✅ Create")
    await dana.wait_for_message("created")
    orders = {o.asset_name: o for o in await all_work_orders(rivet)}
    cmms = rivet.runtime.services.cmms
    pump = await cmms.get_work_order(orders["Pump 3"].id)
    boiler = await cmms.get_work_order(orders["Boiler 2"].id)
    assert len(pump.attachments) == 1 and len(boiler.attachments) == 3


async def test_my_work_complete_with_a_note(rivet: RivetHarness) -> None:
    await seed(rivet, ("Pump 3", "P-003"))
    dana = await technician(rivet, 9008)
    await report_and_create(dana, "pump 3 is leaking oil")
    [order] = await all_work_orders(rivet)
    await dana.send_command("mywork")
    listing = await dana.wait_for_message("Your open work")
    await dana.press(listing.buttons[0][0].text)
    await dana.wait_for_message("Status:")
    await dana.press("✅ Complete")
    await dana.wait_for_message("What did you do")
    await dana.send_text("replaced the seal")
    await dana.wait_for_message("is now")
    done = await rivet.runtime.services.cmms.get_work_order(order.id)
    assert done.status is WorkOrderStatus.COMPLETE
    assert any("replaced the seal" in note.text for note in done.notes)
    assert await all_work_orders(rivet) == []


async def test_reply_done_to_a_card_completes_it(rivet: RivetHarness) -> None:
    await seed(rivet, ("Pump 3", "P-003"))
    dana = await technician(rivet, 9009)
    await report_and_create(dana, "pump 3 is leaking oil")
    [order] = await all_work_orders(rivet)
    await dana.send_command("mywork")
    listing = await dana.wait_for_message("Your open work")
    await dana.press(listing.buttons[0][0].text)
    details = await dana.wait_for_message("Status:")
    await dana.reply_to(details.message_id, "done, replaced the seal")
    await dana.wait_for_message("is now")
    done = await rivet.runtime.services.cmms.get_work_order(order.id)
    assert done.status is WorkOrderStatus.COMPLETE
    assert any("replaced the seal" in note.text for note in done.notes)


async def test_my_work_shows_only_my_orders_even_without_an_email(rivet: RivetHarness) -> None:
    await seed(rivet, ("Pump 3", "P-003"), ("Boiler 2", "B-002"))
    dana = await technician(rivet, 9010)
    await report_and_create(dana, "pump 3 is leaking oil")
    services = rivet.runtime.services
    async with services.uow() as uow:  # an invited technician who never gave an e-mail
        invited = await uow.users.add(User(display_name="Nell", tier="basic"))
        token = await services.onboarding.issue_token(uow, invited, actor="test")
        await uow.commit()
    nell = rivet.emulator.user(9011, first_name="Nell")
    await nell.send_command("start", args=token)
    await nell.wait_for_message("Welcome")
    await nell.send_command("mywork")
    await nell.wait_for_message("no open work orders")
    await report_and_create(nell, "boiler 2 pressure gauge cracked")
    await nell.send_command("mywork")
    listing = await nell.wait_for_message("Your open work")
    labels = [button.text for row in listing.buttons for button in row]
    assert len(labels) == 1 and "boiler" in labels[0].lower()


async def test_a_disabled_account_has_no_access(rivet: RivetHarness) -> None:
    await seed(rivet, ("Pump 3", "P-003"))
    dana = await technician(rivet, 9012)
    async with rivet.runtime.services.uow() as uow:
        user = await uow.users.by_telegram_id(9012)
        assert user is not None
        user.status = "disabled"
        await uow.commit()
    await dana.send_text("pump 3 is leaking")
    await dana.wait_for_message("invite link")
    assert await all_work_orders(rivet) == []


@pytest.fixture
async def openai_fake() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI(hang_seconds=3.0) as fake:
        yield fake


async def start_with_openai(rivet: RivetHarness, fake: FakeOpenAI) -> None:
    rivet.settings_overrides = {
        "openai_api_key": "sk-test-not-a-real-key",
        "openai_base_url": fake.base_url,
        "speech_backend": "openai",
    }
    await rivet.restart()


async def test_voice_and_text_through_an_openai_compatible_server(
    rivet: RivetHarness, openai_fake: FakeOpenAI
) -> None:
    await start_with_openai(rivet, openai_fake)
    await seed(rivet, ("Pump 3", "P-003"), ("Pump 4", "P-004"))
    openai_fake.transcription_text = "Pump four is leaking oil at the seal, urgent"
    openai_fake.chat_reply = {
        "title": "Fix seal oil leak on pump 4",
        "description": "Pump 4 is leaking oil at the seal, urgent",
        "asset_mention": "pump 4",
        "priority": "HIGH",
        "location": None,
        "safety": False,
    }
    dana = await technician(rivet, 9013)
    await dana.send_voice((DATA / "voice_pump_leak.ogg").read_bytes(), duration=4)
    await dana.wait_for_message("I heard", timeout=20)
    card = await dana.wait_for_message("New work order", timeout=20)
    assert "Fix seal oil leak on pump 4" in card.text and "Pump 4" in card.text
    upload = next(r for r in openai_fake.requests if r.path.endswith("/audio/transcriptions"))
    assert any(f.filename == "voice.ogg" for f in upload.files.values())
    await dana.press("✅ Create")
    await dana.wait_for_message("created")
    [order] = await all_work_orders(rivet)
    assert order.source is WorkOrderSource.TELEGRAM_VOICE and order.priority is Priority.HIGH


@pytest.mark.parametrize("failure", ["500", "timeout", "invalid_json"])
async def test_openai_failures_fall_back_to_the_embedded_extractor(
    rivet: RivetHarness, openai_fake: FakeOpenAI, failure: str
) -> None:
    await start_with_openai(rivet, openai_fake)
    await seed(rivet, ("Pump 3", "P-003"), ("Pump 4", "P-004"))
    openai_fake.fail_mode = failure  # type: ignore[assignment]
    dana = await technician(rivet, 9014)
    await dana.send_text("Pump 3 is leaking oil at the seal, urgent")
    card = await dana.wait_for_message("New work order", timeout=30)
    assert "Pump 3" in card.text and "High" in card.text
    assert openai_fake.requests, "the OpenAI server was asked first"
