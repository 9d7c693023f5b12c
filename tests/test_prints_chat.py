"""Issue 7, Chat with Print in chat: end to end through the real runtime and the Bot API emulator.

1. A generated 3-page schematic → offline analysis listing its labels; "what is CB-12?" answered
   citing page 2; safety reminder; the session survives a restart; /print done ends it.
2. With a fake OpenAI-compatible vision server: page images + text go out, its answer reaches the
   user, and its failure falls back to the offline answer.
3. Basic tier → upgrade message with a subscribe button; Pro → analysis; the monthly quota.
4. Corrupt, password-protected, 25 MB, unsupported, too-small → a clear sentence, nothing stored.
5. Filed on an asset: the asset card counts it and lists it; the local CMMS holds the attachment.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import func, select, update

import bot.services.prints as prints_service
from bot.domain import Tier
from bot.emulator import BotApiEmulator, BotMessage, EmulatedUser
from bot.runtime import create_app
from bot.settings import Settings
from integrations.cmms.local import LocalCmms
from storage.models import CmmsAttachment, PrintFile, PrintQuestion
from tests.conftest import RivetHarness
from tests.fakes.atlas import AtlasError, FakeAtlas, rivet_settings
from tests.fakes.openai_server import FakeOpenAI
from tests.print_fixtures import (
    docx_bytes,
    encode_image,
    encrypted_pdf,
    label_image,
    schematic_pdf,
)

PDF = "application/pdf"
STORED_NAME = re.compile(r"[0-9a-f]{32}\.pdf")

StartRivet = Callable[..., Awaitable[RivetHarness]]


@pytest.fixture
async def start_rivet(
    emulator: BotApiEmulator, make_settings: Callable[..., Settings]
) -> AsyncIterator[StartRivet]:
    """The real runtime with settings overrides (vision model, tier policy)."""
    started: list[RivetHarness] = []

    async def start(**overrides: Any) -> RivetHarness:
        runtime = create_app(make_settings(**overrides))
        await runtime.start()
        harness = RivetHarness(emulator, make_settings, runtime, settings_overrides=overrides)
        started.append(harness)
        return harness

    yield start
    for harness in started:
        await harness.runtime.stop()


async def technician(
    rivet: RivetHarness, telegram_id: int, tier: Tier, name: str = "Dana"
) -> EmulatedUser:
    email = f"{name.lower()}{telegram_id}@plant.example"
    _, token = await rivet.runtime.services.onboarding.add_user(email=email, name=name, tier=tier)
    user = rivet.emulator.user(telegram_id, first_name=name)
    await user.send_command("start", args=token)
    await user.wait_for_message("Welcome to Rivet")
    return user


async def send_print(user: EmulatedUser, data: bytes, name: str = "panel.pdf", **kw: Any) -> None:
    await user.send_document(data, name, kw.pop("mime", PDF), caption=kw.pop("caption", "/print"))


async def stored_prints(rivet: RivetHarness) -> list[PrintFile]:
    async with rivet.runtime.services.uow() as uow:
        rows = list(await uow.session.scalars(select(PrintFile).order_by(PrintFile.id)))
        uow.session.expunge_all()  # readable after the unit of work rolls back
        return rows


async def question_count(rivet: RivetHarness) -> int:
    async with rivet.runtime.services.uow() as uow:
        return int(await uow.session.scalar(select(func.count(PrintQuestion.id))) or 0)


def prints_dir(rivet: RivetHarness) -> Path:
    return rivet.runtime.settings.rivet_data_dir / "prints"


def files_in(directory: Path) -> list[Path]:
    return sorted(directory.iterdir()) if directory.exists() else []


def analysis_of(message: BotMessage) -> bool:
    return "Ask me anything about it" in message.content


# --- 1 ---------------------------------------------------------------------------------------
async def test_schematic_offline_analysis_then_questions_cite_pages(rivet: RivetHarness) -> None:
    dana = await technician(rivet, 7001, Tier.PRO)
    data = schematic_pdf()
    await send_print(dana, data)

    analysis = await dana.wait_for_message(analysis_of, timeout=30)
    text = analysis.content
    assert "panel.pdf" in text and "3-page PDF" in text
    for label in ("CB-12", "M1", "MCC-3", "480V"):
        assert label in text, text
    assert "vision model would" in text  # says what a vision model would add
    # Progress was shown by editing one message: the reading note became the analysis.
    assert analysis.edited
    assert not any("reading the print" in m.content for m in dana.messages())

    [row] = await stored_prints(rivet)
    assert row.file_name == "panel.pdf" and row.mime_type == PDF and row.size == len(data)
    assert row.pages == 3 and row.kind == "pdf" and row.labels["CB-12"] == [2]
    assert STORED_NAME.fullmatch(row.stored_name)  # server-generated, never the client's name
    assert (prints_dir(rivet) / row.stored_name).read_bytes() == data
    assert row.asset_id is None

    await dana.send_text("what is CB-12?")
    answer = await dana.wait_for_message("CB-12 appears on page 2", timeout=15)
    assert "30A 3P MAIN BREAKER" in answer.content and "📄 Page 2" in answer.content
    # The quoted lines feed a 480V motor: a safety-relevant answer carries the reminder.
    assert "Verify on site and follow lock-out/tag-out" in answer.content

    await dana.send_text("what voltage feeds M1?")
    safety = await dana.wait_for_message("lock-out/tag-out", timeout=15)
    assert "480V" in safety.content and "page" in safety.content

    # The session (open print id) and its history survive a restart.
    await rivet.restart()
    await dana.send_text("what is F3?")
    after = await dana.wait_for_message("F3 appears on page 2", timeout=30)
    assert "CONTROL FUSE" in after.content
    assert await question_count(rivet) == 3

    await dana.send_text("/print done")
    await dana.wait_for_message("Print closed")
    await dana.send_text("what is CB-12?")
    reply = await dana.wait_for_message(lambda m: True, timeout=10)
    assert "appears on page" not in reply.content
    assert await question_count(rivet) == 3

    await dana.send_command("prints")
    listing = await dana.wait_for_message("Your prints")
    await dana.press(listing.buttons[0][0].text)
    await dana.wait_for_message("panel.pdf</b> is open")
    await dana.send_text("where is PLC-2?")
    plc = await dana.wait_for_message("PLC-2 appears on page 3", timeout=15)
    assert "📄 Page 3" in plc.content and "lock-out/tag-out" not in plc.content


async def test_pdf_without_caption_asks_whether_it_is_a_print(rivet: RivetHarness) -> None:
    dana = await technician(rivet, 7002, Tier.PRO)
    await dana.send_document(schematic_pdf(), "E-1042.pdf", PDF)
    await dana.wait_for_message("Is this a print")
    await dana.press("No")
    await dana.wait_for_message("I'll leave it")
    assert await stored_prints(rivet) == []

    await dana.send_document(schematic_pdf(), "E-1042.pdf", PDF)
    await dana.wait_for_message("Is this a print")
    await dana.press("📐 Yes, it's a print")
    analysis = await dana.wait_for_message(analysis_of, timeout=30)
    assert "E-1042.pdf" in analysis.content and "CB-12" in analysis.content
    [row] = await stored_prints(rivet)
    assert row.file_name == "E-1042.pdf"

    # /print first, then the file.
    await dana.send_command("print")
    await dana.wait_for_message("Send me the print")
    await dana.send_document(schematic_pdf(), "second.pdf", PDF)
    await dana.wait_for_message(lambda m: "second.pdf" in m.content and analysis_of(m), timeout=30)
    assert len(await stored_prints(rivet)) == 2


# --- 2 ---------------------------------------------------------------------------------------
VISION_ANALYSIS = {
    "summary": "Motor control schematic for pump P-003, fed from MCC-3 at 480 V.",
    "drawing_type": "ladder / control schematic",
    "title_block": {"title": "PUMP P-003 MOTOR CONTROL", "drawing_number": "E-1042"},
    "components": ["CB-12", "M1", "K2"],
    "ratings": ["480V", "30A"],
}
VISION_ANSWER = "CB-12 is the 30 A three-pole main breaker feeding motor M1 (page 2)."


def vision_reply(body: dict[str, Any]) -> str:
    if body.get("response_format"):
        return json.dumps(VISION_ANALYSIS)
    return VISION_ANSWER


def request_texts(body: dict[str, Any]) -> str:
    parts = []
    for message in body["messages"]:
        content = message["content"]
        if isinstance(content, str):
            parts.append(content)
        else:
            parts += [part["text"] for part in content if part.get("type") == "text"]
    return "\n".join(parts)


async def test_vision_model_answers_and_its_failure_falls_back(start_rivet: StartRivet) -> None:
    async with FakeOpenAI(hang_seconds=2.0) as fake:
        fake.chat_reply = vision_reply
        rivet = await start_rivet(
            openai_base_url=fake.base_url,
            openai_api_key="test",
            openai_vision_model="vision-test",
        )
        dana = await technician(rivet, 7101, Tier.PRO)
        await send_print(dana, schematic_pdf())

        analysis = await dana.wait_for_message(analysis_of, timeout=30)
        assert "Motor control schematic for pump P-003" in analysis.content
        assert "K2" in analysis.content and "480V" in analysis.content
        [request] = fake.chat_requests
        assert request.body["model"] == "vision-test"
        images = fake.image_urls
        assert len(images) == 3 and all(u.startswith("data:image/png;base64,") for u in images)
        assert "CB-12 30A 3P MAIN BREAKER" in request_texts(request.body)  # the text layer
        assert (await stored_prints(rivet))[0].used_vision

        await dana.send_text("what is CB-12?")
        answer = await dana.wait_for_message("three-pole main breaker", timeout=15)
        assert "📄 Page 2" in answer.content
        question = fake.chat_requests[-1].body
        assert "Question: what is CB-12?" in request_texts(question)
        assert any(
            part.get("type") == "image_url"
            for message in question["messages"]
            if isinstance(message["content"], list)
            for part in message["content"]
        )

        # The next question carries the short history of the conversation.
        await dana.send_text("and M1?")
        await dana.wait_for_message("three-pole main breaker", timeout=15)  # a new reply
        history = fake.chat_requests[-1].body["messages"]
        assert {"role": "user", "content": "what is CB-12?"} in history
        assert any(m["role"] == "assistant" and VISION_ANSWER in m["content"] for m in history)

        # The vision server fails: the offline answer still reaches the user.
        fake.fail_mode = "500"
        await dana.send_text("what is CB-12?")
        fallback = await dana.wait_for_message("CB-12 appears on page 2", timeout=15)
        assert "📄 Page 2" in fallback.content
        assert len(fake.chat_requests) == 4

        # ... and so does the offline analysis of a new upload.
        await send_print(dana, schematic_pdf(), "again.pdf")
        offline = await dana.wait_for_message(
            lambda m: "again.pdf" in m.content and analysis_of(m), timeout=30
        )
        assert "Devices:" in offline.content and "CB-12" in offline.content
        assert "Motor control schematic" not in offline.content


# --- 3 ---------------------------------------------------------------------------------------
async def test_basic_tier_gets_upgrade_message_pro_gets_analysis(rivet: RivetHarness) -> None:
    basil = await technician(rivet, 7201, Tier.BASIC, name="Basil")
    await send_print(basil, schematic_pdf())
    refusal = await basil.wait_for_message("Upgrade to Pro for Chat with Print")
    assert [b.text for row in refusal.buttons for b in row] == ["Upgrade to Pro"]
    assert refusal.buttons[0][0].value == "bt:pro"
    await basil.send_command("prints")
    await basil.wait_for_message("Upgrade to Pro for Chat with Print")
    assert await stored_prints(rivet) == [] and files_in(prints_dir(rivet)) == []

    dana = await technician(rivet, 7202, Tier.PRO)
    await send_print(dana, schematic_pdf())
    analysis = await dana.wait_for_message(analysis_of, timeout=30)
    assert "CB-12" in analysis.content
    assert len(await stored_prints(rivet)) == 1


async def test_monthly_print_quota_per_tier(start_rivet: StartRivet) -> None:
    rivet = await start_rivet(tier_policy={"monthly_quota": {"pro": {"prints": 1}}})
    dana = await technician(rivet, 7301, Tier.PRO)
    await send_print(dana, schematic_pdf())
    await dana.wait_for_message(analysis_of, timeout=30)
    await send_print(dana, schematic_pdf(), "second.pdf")
    over = await dana.wait_for_message("You've used all 1 Chat with Print")
    assert "Upgrade to Enterprise" in over.content
    assert len(await stored_prints(rivet)) == 1
    # Questions on the open print are not counted against the upload quota.
    await dana.send_text("what is CB-12?")
    await dana.wait_for_message("CB-12 appears on page 2", timeout=15)


# --- 4 ---------------------------------------------------------------------------------------
async def test_bad_uploads_get_a_clear_sentence_and_nothing_is_stored(
    rivet: RivetHarness,
) -> None:
    dana = await technician(rivet, 7401, Tier.PRO)
    cases: list[tuple[bytes, str, str, str]] = [
        (b"%PDF-1.7\n" + b"\x00garbage" * 200, "broken.pdf", PDF, "looks damaged"),
        (encrypted_pdf(), "locked.pdf", PDF, "password-protected"),
        (b"%PDF-1.7\n" + bytes(25 * 1024 * 1024), "huge.pdf", PDF, "over 20 MB"),
        (
            docx_bytes(),
            "spec.docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "read .docx files",
        ),
    ]
    for data, name, mime, expected in cases:
        await send_print(dana, data, name, mime=mime)
        await dana.wait_for_message(expected, timeout=30)

    tiny = encode_image(label_image(size=(240, 160)), "PNG")
    await dana.send_photo(tiny, caption="/print")
    await dana.wait_for_message("too small to read", timeout=15)

    assert await stored_prints(rivet) == []
    assert files_in(prints_dir(rivet)) == []
    async with rivet.runtime.services.uow() as uow:
        assert await uow.session.scalar(select(func.count(CmmsAttachment.id))) == 0
    # No session was opened by a rejected upload.
    await dana.send_text("what is CB-12?")
    reply = await dana.wait_for_message(lambda m: True, timeout=10)
    assert "appears on page" not in reply.content


async def test_photo_print_is_read(rivet: RivetHarness) -> None:
    dana = await technician(rivet, 7402, Tier.PRO)
    await dana.send_photo(encode_image(label_image(), "JPEG"), caption="/print")
    analysis = await dana.wait_for_message(analysis_of, timeout=30)
    assert "Image of a print" in analysis.content
    [row] = await stored_prints(rivet)
    assert row.kind == "image" and row.mime_type == "image/jpeg"
    assert re.fullmatch(r"[0-9a-f]{32}\.jpg", row.stored_name)
    assert row.file_name.startswith("print-") and row.file_name.endswith(".jpg")


# --- 5 ---------------------------------------------------------------------------------------
async def test_print_filed_on_asset_shows_on_card_and_in_cmms(rivet: RivetHarness) -> None:
    cmms = rivet.runtime.services.cmms
    assert isinstance(cmms, LocalCmms)
    pump = await cmms.add_asset("Pump 3", tag="P-003", location="Building A")
    await cmms.add_asset("Air compressor 1", tag="AC-001", location="Building B")
    dana = await technician(rivet, 7501, Tier.PRO)
    data = schematic_pdf()

    await send_print(dana, data, caption="/print pump 3")
    await dana.wait_for_message(analysis_of, timeout=30)
    await dana.wait_for_message("panel.pdf</b> is filed on <b>Pump 3", timeout=15)
    card = await dana.wait_for_message("1 print on file", timeout=15)
    assert "Pump 3" in card.content
    await dana.press("📐 Prints")
    listing = await dana.wait_for_message("Prints for Pump 3")
    assert listing.buttons[0][0].text.startswith("panel.pdf")

    [row] = await stored_prints(rivet)
    assert row.asset_id == pump.id and row.asset_name == "Pump 3" and row.cmms_attachment_id
    [attachment] = await cmms.asset_files(pump.id)
    assert attachment.file_name == "panel.pdf" and attachment.mime_type == PDF
    assert attachment.size == len(data)
    stored = cmms.file_path(attachment.id)
    assert stored is not None and stored.read_bytes() == data

    # Filing later, from the analysis card: "Is this a print?" → yes → file it → type the asset.
    await dana.send_document(schematic_pdf(), "sheet2.pdf", PDF)
    await dana.wait_for_message("Is this a print")
    await dana.press("📐 Yes, it's a print")
    await dana.wait_for_message(lambda m: "sheet2.pdf" in m.content and analysis_of(m), timeout=30)
    await dana.press("📎 File it on equipment")
    await dana.wait_for_message("Which equipment is this print for?")
    await dana.send_text("P-003")
    await dana.wait_for_message("sheet2.pdf</b> is filed on <b>Pump 3", timeout=15)
    await dana.wait_for_message("2 prints on file", timeout=15)
    assert len(await cmms.asset_files(pump.id)) == 2

    # The asset card reached through /asset (the work-order flow) counts and lists them too.
    await dana.send_command("print", "done")
    await dana.wait_for_message("Print closed")
    await dana.send_command("asset", "pump 3")
    await dana.wait_for_message("Which equipment")
    await dana.press("Pump 3 (P-003)")
    await dana.wait_for_message("2 prints on file", timeout=15)
    await dana.press("📐 Prints")
    listing = await dana.wait_for_message("Prints for Pump 3</b> (2)")

    # The asset's print list opens a print for questions; /prints is per technician.
    [panel_button] = [row[0] for row in listing.buttons if row[0].text.startswith("panel.pdf")]
    await dana.press(panel_button.value or "", listing.message_id)
    await dana.wait_for_message("panel.pdf</b> is open")
    await dana.send_text("what is XFMR-1?")
    await dana.wait_for_message("XFMR-1 appears on page 1", timeout=15)
    sam = await technician(rivet, 7502, Tier.PRO, name="Sam")
    await sam.send_command("prints")
    await sam.wait_for_message("haven't sent any prints")
    await sam.send_command("print", "done")
    await sam.wait_for_message("No print is open")


async def retry_delay_elapsed(rivet: RivetHarness) -> None:
    async with rivet.runtime.services.uow() as uow:
        await uow.session.execute(update(PrintFile).values(cmms_attach_lease_until=None))
        await uow.commit()


class UploadOutage(FakeAtlas):
    """A licensed Atlas whose file uploads fail (503) while `uploads_down` is set."""

    uploads_down = False

    async def _upload(self, request: web.Request) -> Any:
        if self.uploads_down:
            raise AtlasError(503, "Service Unavailable")
        return await super()._upload(request)


async def test_a_print_atlas_could_not_take_is_attached_later_and_the_user_told(
    start_rivet: StartRivet,
) -> None:
    async with UploadOutage(licensed=True) as atlas:
        pump_id = atlas.add_asset("Pump 3")
        rivet = await start_rivet(**rivet_settings(atlas))
        dana = await technician(rivet, 7601, Tier.PRO)
        atlas.uploads_down = True
        await send_print(dana, schematic_pdf(), caption="/print pump 3")
        await dana.wait_for_message("I'll attach it there once it does", timeout=30)
        [row] = await stored_prints(rivet)
        assert row.asset_id == str(pump_id) and row.cmms_attachment_id is None
        assert atlas.assets[pump_id]["files"] == []

        prints = rivet.runtime.services.prints
        assert row.cmms_attach_lease_until is not None  # waits before the next attempt
        assert await prints.attach_pending() == 0  # not due yet
        await retry_delay_elapsed(rivet)
        assert await prints.attach_pending() == 0  # uploads still fail: kept for later
        atlas.uploads_down = False
        await retry_delay_elapsed(rivet)
        assert await prints.attach_pending() == 1
        await retry_delay_elapsed(rivet)
        assert await prints.attach_pending() == 0  # handed over once
        outbox = rivet.runtime.outbox
        assert outbox is not None
        await outbox.deliver_due()
        await dana.wait_for_message("is now attached to <b>Pump 3")
        [row] = await stored_prints(rivet)
        [attached] = atlas.assets[pump_id]["files"]
        assert row.cmms_attachment_id == str(attached["id"])
        assert atlas.files[attached["id"]]["name"] == "panel.pdf"


class HangingUploads(FakeAtlas):
    """A licensed Atlas whose file uploads take far longer than a technician should wait."""

    hanging = False

    async def _upload(self, request: web.Request) -> Any:
        if self.hanging:
            await asyncio.sleep(5)
        return await super()._upload(request)


async def test_a_cmms_that_does_not_answer_in_time_gets_the_print_later(
    start_rivet: StartRivet, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prints_service, "ATTACH_TIMEOUT_S", 0.5)
    async with HangingUploads(licensed=True) as atlas:
        pump_id = atlas.add_asset("Pump 3")
        rivet = await start_rivet(**rivet_settings(atlas))
        dana = await technician(rivet, 7602, Tier.PRO)
        atlas.hanging = True
        await send_print(dana, schematic_pdf(), caption="/print pump 3")
        await dana.wait_for_message("(no answer in time); I'll attach it there", timeout=30)
        [row] = await stored_prints(rivet)
        assert row.asset_id == str(pump_id)
        assert row.cmms_refusal is None and row.cmms_attachment_id is None  # kept for a retry

        atlas.hanging = False
        await retry_delay_elapsed(rivet)
        assert await rivet.runtime.services.prints.attach_pending() == 1
        [row] = await stored_prints(rivet)
        assert row.cmms_attachment_id is not None
