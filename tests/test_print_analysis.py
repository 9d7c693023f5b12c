"""Chat with Print: loading, offline analysis and answers, and the vision path with its fallback."""

from __future__ import annotations

import asyncio
import base64
import io
import json
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest
from PIL import Image

from bot.services import print_loading
from bot.services.print_analysis import (
    PrintAnalyzer,
    PrintDocument,
    PrintRejected,
    analyze_offline,
    answer_offline,
    load_print,
    load_print_async,
    ocr_available,
)
from tests import print_fixtures
from tests.fakes.openai_server import FakeOpenAI

needs_tesseract = pytest.mark.skipif(
    not ocr_available(), reason="tesseract binary or pytesseract not installed"
)


@pytest.fixture(scope="module")
def schematic() -> PrintDocument:
    return load_print(print_fixtures.schematic_pdf(), file_name="e-1042.pdf", mime_type=None)


@pytest.fixture
async def fake_openai() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI(hang_seconds=3.0) as fake:
        yield fake


@pytest.fixture
async def vision_client(fake_openai: FakeOpenAI) -> AsyncIterator[openai.AsyncOpenAI]:
    client = openai.AsyncOpenAI(api_key="test", base_url=fake_openai.base_url)
    yield client
    await client.close()


@pytest.fixture
def vision_analyzer(vision_client: openai.AsyncOpenAI) -> PrintAnalyzer:
    # Generous: a request carries megabytes of images and CI machines are busy.
    return PrintAnalyzer(openai_client=vision_client, vision_model="vision-test", timeout=10.0)


def _png_size(png: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG"
        return image.size


def _last_user_content(fake: FakeOpenAI) -> list[dict[str, Any]]:
    content: list[dict[str, Any]] = fake.chat_requests[-1].body["messages"][-1]["content"]
    return content


# --- loading -------------------------------------------------------------------------------


def test_pdf_pages_carry_text_and_images_sized_for_vision(schematic: PrintDocument) -> None:
    assert schematic.kind == "pdf"
    assert [page.number for page in schematic.pages] == [1, 2, 3]
    assert schematic.total_pages == 3 and not schematic.truncated
    assert "CB-12 30A 3P MAIN BREAKER" in schematic.pages[1].text
    for page in schematic.pages:
        assert not page.text_from_ocr
        width, height = _png_size(page.image_png)
        assert max(width, height) <= 2048
        assert min(width, height) >= 768  # labels stay legible after the model's own downscale


def test_labels_map_to_the_pages_they_appear_on(schematic: PrintDocument) -> None:
    assert schematic.labels["CB-12"] == [2]
    assert schematic.labels["M1"] == [2]
    assert schematic.labels["MCC-3"] == [1]
    assert schematic.labels["PLC-2"] == [3]
    assert schematic.labels["480V"] == [1, 2]
    assert schematic.labels["24VDC"] == [2]
    assert schematic.labels["15kW"] == [2]
    # Title-block drawing number and revision are not devices.
    assert "E-1042" not in schematic.labels


def test_pdf_over_max_pages_keeps_first_pages_and_says_so() -> None:
    doc = load_print(print_fixtures.long_pdf(8), file_name="big.pdf", mime_type=None, max_pages=5)

    assert len(doc.pages) == 5 and doc.total_pages == 8 and doc.truncated
    assert "M5" in doc.labels and "M6" not in doc.labels
    note = analyze_offline(doc).note
    assert note is not None and "first 5" in note and "8 pages" in note


async def test_vision_analysis_of_a_truncated_pdf_says_what_the_model_saw(
    fake_openai: FakeOpenAI, vision_analyzer: PrintAnalyzer
) -> None:
    doc = load_print(print_fixtures.long_pdf(9), file_name=None, mime_type=None, max_pages=8)
    fake_openai.chat_reply = {"summary": "Eight motor sheets."}

    analysis = await vision_analyzer.analyze(doc)

    assert analysis.used_vision and len(fake_openai.image_urls) == 6
    assert analysis.note == (
        "I read only the first 8 of 9 pages. I looked at the images of the first 6 pages "
        "and at the text of all of them."
    )


@pytest.mark.parametrize("image_format", ["PNG", "JPEG", "WEBP"])
def test_images_load_as_one_page_fitted_to_2048(
    image_format: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(print_loading, "ocr_available", lambda: False)  # sizing only; OCR is slow
    image = print_fixtures.label_image(size=(3000, 2000))
    data = print_fixtures.encode_image(image, image_format)

    doc = load_print(data, file_name=None, mime_type=None)

    assert doc.kind == "image" and len(doc.pages) == 1
    assert _png_size(doc.pages[0].image_png) == (2048, 1365)


def test_colour_survives_and_black_and_white_pages_are_grey(schematic: PrintDocument) -> None:
    colour = print_fixtures.label_image()
    colour.paste((200, 0, 0), (0, 0, 50, 50))

    doc = load_print(print_fixtures.encode_image(colour, "PNG"), file_name=None, mime_type=None)

    with Image.open(io.BytesIO(doc.pages[0].image_png)) as image:
        assert image.mode == "RGB" and image.getpixel((10, 10)) == (200, 0, 0)
    with Image.open(io.BytesIO(schematic.pages[0].image_png)) as image:
        assert image.mode == "L"


def test_without_ocr_image_text_is_empty_and_the_note_says_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(print_loading, "ocr_available", lambda: False)
    data = print_fixtures.encode_image(print_fixtures.label_image(), "PNG")

    doc = load_print(data, file_name="photo.png", mime_type="image/png")

    assert doc.pages[0].text == "" and doc.labels == {}
    assert any("OCR isn't available" in note for note in doc.notes)
    answer = answer_offline(doc, "what is CB-12?")
    assert "couldn't read any text" in answer.text and answer.pages == []


@needs_tesseract
def test_ocr_reads_labels_from_a_photo() -> None:
    data = print_fixtures.encode_image(print_fixtures.label_image(), "JPEG")

    doc = load_print(data, file_name="panel.jpg", mime_type="image/jpeg")

    assert doc.pages[0].text_from_ocr
    assert {"CB-12", "M1", "480V"} <= doc.labels.keys()
    answer = answer_offline(doc, "what is CB-12?")
    assert answer.pages == [1] and "read by OCR" in answer.text


@needs_tesseract
def test_ocr_fills_pdf_pages_without_a_text_layer() -> None:
    doc = load_print(print_fixtures.scanned_pdf(), file_name="scan.pdf", mime_type=None)

    assert doc.pages[0].text_from_ocr and "CB-12" in doc.labels


async def test_concurrent_async_loads_give_the_same_document(schematic: PrintDocument) -> None:
    data = print_fixtures.schematic_pdf()

    docs = await asyncio.gather(
        *(load_print_async(data, file_name=None, mime_type=None) for _ in range(3))
    )

    for doc in docs:
        assert doc.labels == schematic.labels
        assert [page.text for page in doc.pages] == [page.text for page in schematic.pages]


def test_scanned_pdf_without_ocr_is_loaded_but_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(print_loading, "ocr_available", lambda: False)

    doc = load_print(print_fixtures.scanned_pdf(), file_name="scan.pdf", mime_type=None)

    assert len(doc.pages) == 1 and doc.pages[0].image_png and doc.labels == {}
    assert doc.notes == ("I couldn't read the text on some pages (OCR isn't available here).",)


@pytest.mark.parametrize(
    ("data", "file_name", "mime_type", "expected"),
    [
        (b"%PDF-1.7\n1 0 obj garbage", "e-1042.pdf", "application/pdf", "That PDF looks damaged"),
        (b"\x00\x01 not a pdf at all", "e-1042.pdf", None, "That PDF looks damaged"),
        (b"\x00\x01 no header", None, "application/pdf", "That PDF looks damaged"),
        (b"\x89PNG\r\n\x1a\n broken", "photo.png", "image/png", "That image looks damaged"),
        (b"", "e-1042.pdf", None, "That file is empty"),
        (print_fixtures.docx_bytes(), "wiring.docx", None, "I can't read .docx files"),
        (print_fixtures.docx_bytes(), "prints.zip", "application/zip", "I can't read .zip files"),
        (print_fixtures.docx_bytes(), None, None, "ZIP or Office file"),
        (b"just some text", None, "text/plain", "I can't read that kind of file"),
    ],
)
def test_unreadable_files_are_rejected_with_a_reason(
    data: bytes, file_name: str | None, mime_type: str | None, expected: str
) -> None:
    with pytest.raises(PrintRejected) as rejected:
        load_print(data, file_name=file_name, mime_type=mime_type)

    assert expected in rejected.value.message


def test_encrypted_pdf_is_rejected_as_password_protected() -> None:
    with pytest.raises(PrintRejected, match="password-protected"):
        load_print(print_fixtures.encrypted_pdf(), file_name="locked.pdf", mime_type=None)


def test_file_over_20_mb_is_rejected_before_reading() -> None:
    blob = b"%PDF-1.7\n" + bytes(25 * 1024 * 1024)

    with pytest.raises(PrintRejected) as rejected:
        load_print(blob, file_name="huge.pdf", mime_type="application/pdf")

    assert rejected.value.message.startswith(
        "That file is over 20 MB — Telegram won't let me download it."
    )


def test_tiny_image_is_rejected_as_too_small() -> None:
    tiny = print_fixtures.encode_image(print_fixtures.label_image(size=(400, 200)), "PNG")

    with pytest.raises(PrintRejected, match=r"too small to read \(400×200 px\)"):
        load_print(tiny, file_name="thumb.png", mime_type="image/png")


def test_gif_is_rejected_as_unsupported_image() -> None:
    gif = print_fixtures.encode_image(print_fixtures.label_image(), "GIF")

    with pytest.raises(PrintRejected, match="I can't read GIF images"):
        load_print(gif, file_name="print.gif", mime_type="image/gif")


# --- offline analysis and answers ----------------------------------------------------------


def test_offline_analysis_lists_labels_title_block_and_type(schematic: PrintDocument) -> None:
    analysis = analyze_offline(schematic)

    assert {"CB-12", "M1", "MCC-3", "K2", "F3", "TB-1", "PLC-2", "VFD-7"} <= set(
        analysis.components
    )
    assert {"480V", "24VDC", "30A", "15kW", "3PH"} <= set(analysis.ratings)
    assert not set(analysis.components) & set(analysis.ratings)
    assert analysis.title_block["title"] == print_fixtures.TITLE
    assert analysis.title_block["drawing_number"] == print_fixtures.DRAWING_NUMBER
    assert analysis.title_block["revision"] == "C"
    assert analysis.title_block["date"] == "2026-03-14"
    assert analysis.drawing_type == "ladder / control schematic"
    assert "3-page PDF" in analysis.summary and "CB-12" in analysis.summary
    assert not analysis.used_vision
    assert analysis.note is not None and "vision model" in analysis.note


@pytest.mark.parametrize("question", ["What is CB-12?", "what's cb 12 rated for", "CB12?"])
def test_offline_answer_quotes_the_label_and_cites_its_page(
    schematic: PrintDocument, question: str
) -> None:
    answer = answer_offline(schematic, question)

    assert answer.pages == [2]
    assert answer.text.startswith("CB-12 appears on page 2:")
    assert "CB-12 30A 3P MAIN BREAKER" in answer.text
    assert not answer.used_vision


def test_offline_answer_for_an_unknown_label_suggests_nearby_ones(
    schematic: PrintDocument,
) -> None:
    answer = answer_offline(schematic, "Where is CB-21?")

    assert answer.text.startswith("I couldn't find CB-21 on this print.")
    assert "CB-12 (page 2)" in answer.text
    assert answer.pages == []


def test_offline_answer_falls_back_to_keywords(schematic: PrintDocument) -> None:
    answer = answer_offline(schematic, "Which fuse protects the control circuit?")

    assert "F3 2A CONTROL FUSE" in answer.text.splitlines()[1]
    assert 2 in answer.pages


@pytest.mark.parametrize(
    ("question", "reminder"),
    [
        ("Can I open MCC-3 while it is energised?", True),
        ("What do I lock out before changing the fuse?", True),
        ("Is there arc flash risk at the MCC?", True),
        ("What is on CB-12?", True),  # its line shows 480V
        ("What is TB-1?", False),
    ],
)
def test_safety_reminder_follows_question_and_answer(
    schematic: PrintDocument, question: str, reminder: bool
) -> None:
    assert answer_offline(schematic, question).safety_reminder is reminder


async def test_analyzer_without_a_model_answers_offline(schematic: PrintDocument) -> None:
    analyzer = PrintAnalyzer(openai_client=None, vision_model=None)

    assert not analyzer.vision_enabled
    assert await analyzer.analyze(schematic) == analyze_offline(schematic)
    assert await analyzer.answer(schematic, "what is CB-12?") == answer_offline(
        schematic, "what is CB-12?"
    )


# --- vision path ---------------------------------------------------------------------------


async def test_vision_answer_sends_page_images_text_and_history(
    schematic: PrintDocument, fake_openai: FakeOpenAI, vision_analyzer: PrintAnalyzer
) -> None:
    fake_openai.chat_reply = "CB-12 is the 30 A main breaker feeding motor M1 (page 2)."

    answer = await vision_analyzer.answer(
        schematic, "What is CB-12?", history=[("What is M1?", "M1 is the 15 kW pump motor.")]
    )

    assert answer.text == "CB-12 is the 30 A main breaker feeding motor M1 (page 2)."
    assert answer.pages == [2] and answer.used_vision
    request = fake_openai.chat_requests[-1].body
    assert request["model"] == "vision-test"
    urls = fake_openai.image_urls
    assert len(urls) == 3
    for url in urls:
        assert url.startswith("data:image/png;base64,")
        assert max(_png_size(base64.b64decode(url.split(",", 1)[1]))) <= 2048
    texts = [part["text"] for part in _last_user_content(fake_openai) if part["type"] == "text"]
    assert any("CB-12 30A 3P MAIN BREAKER" in text for text in texts)
    assert texts[-1] == "Question: What is CB-12?"
    history = [(m["role"], m["content"]) for m in request["messages"][1:3]]
    assert history == [("user", "What is M1?"), ("assistant", "M1 is the 15 kW pump motor.")]


async def test_vision_answer_without_citation_cites_label_pages(
    schematic: PrintDocument, fake_openai: FakeOpenAI, vision_analyzer: PrintAnalyzer
) -> None:
    fake_openai.chat_reply = "It is the main breaker for the pump motor."

    answer = await vision_analyzer.answer(schematic, "what is CB-12?")

    assert answer.used_vision and answer.pages == [2]
    assert answer.text.startswith("It is the main breaker for the pump motor.")
    assert answer.text.endswith("(See page 2.)")


async def test_vision_answer_flags_safety_from_the_model_text(
    schematic: PrintDocument, fake_openai: FakeOpenAI, vision_analyzer: PrintAnalyzer
) -> None:
    fake_openai.chat_reply = "TB-1 carries 120 V control power from the transformer (page 3)."

    answer = await vision_analyzer.answer(schematic, "What is TB-1?")

    assert answer.used_vision and answer.safety_reminder


@pytest.mark.parametrize("fail_mode", ["500", "429", "timeout", "refusal", "truncated"])
async def test_vision_failure_falls_back_to_the_offline_answer(
    schematic: PrintDocument,
    fake_openai: FakeOpenAI,
    vision_client: openai.AsyncOpenAI,
    fail_mode: Any,
) -> None:
    fake_openai.chat_reply = "CB-12 is the main breaker (page 2)."
    fake_openai.fail_mode = fail_mode
    # The fake hangs for 3 s in "timeout" mode; this analyzer gives up well before.
    analyzer = PrintAnalyzer(openai_client=vision_client, vision_model="vision-test", timeout=1.5)

    answer = await analyzer.answer(schematic, "What is CB-12?")

    assert answer == answer_offline(schematic, "What is CB-12?")
    assert len(fake_openai.chat_requests) == 1  # no retries while the user waits


async def test_vision_empty_reply_falls_back(
    schematic: PrintDocument, fake_openai: FakeOpenAI, vision_analyzer: PrintAnalyzer
) -> None:
    fake_openai.chat_reply = "   "

    answer = await vision_analyzer.answer(schematic, "What is CB-12?")

    assert not answer.used_vision and answer.pages == [2]


async def test_vision_analysis_merges_model_and_text_findings(
    schematic: PrintDocument, fake_openai: FakeOpenAI, vision_analyzer: PrintAnalyzer
) -> None:
    fake_openai.chat_reply = {
        "summary": "Motor control for pump P-003: breaker CB-12 feeds motor M1 via K2.",
        "drawing_type": "ladder / control schematic",
        "title_block": {"title": "PUMP P-003 MOTOR CONTROL", "revision": "C"},
        "components": ["CB-12", "OL-1"],
        "ratings": ["480 V"],
    }

    analysis = await vision_analyzer.analyze(schematic)

    assert analysis.used_vision
    assert analysis.summary.startswith("Motor control for pump P-003")
    assert analysis.components[:2] == ["CB-12", "OL-1"] and "VFD-7" in analysis.components
    assert analysis.ratings.count("480V") + analysis.ratings.count("480 V") == 1
    assert analysis.title_block["drawing_number"] == print_fixtures.DRAWING_NUMBER
    assert analysis.note is None
    request = fake_openai.chat_requests[-1].body
    assert request["response_format"] == {"type": "json_object"}
    assert len(fake_openai.image_urls) == 3


@pytest.mark.parametrize(
    ("reply", "fail_mode"),
    [("not json at all", None), (json.dumps({"summary": ""}), None), ("{}", "500")],
)
async def test_vision_analysis_failure_falls_back_to_offline(
    schematic: PrintDocument,
    fake_openai: FakeOpenAI,
    vision_analyzer: PrintAnalyzer,
    reply: str,
    fail_mode: Any,
) -> None:
    fake_openai.chat_reply = reply
    fake_openai.fail_mode = fail_mode

    assert await vision_analyzer.analyze(schematic) == analyze_offline(schematic)
