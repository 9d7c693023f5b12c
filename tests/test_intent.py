"""Intent extraction: embedded rules, the OpenAI path and its fallbacks, and the fake server."""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest

from bot.domain import AssetCandidate, Priority
from bot.services.intent import (
    EmbeddedIntentExtractor,
    Intent,
    OpenAIIntentExtractor,
    create_intent_extractor,
)
from tests.fakes.openai_server import FakeOpenAI

API_KEY = "sk-test-DO-NOT-LOG-4242"

PUMP_3 = AssetCandidate(asset_id="a1", name="Pump 3", tag="P-003", score=95.0, location="Line 3")
CONVEYOR_4 = AssetCandidate(asset_id="a2", name="Conveyor 4", tag="CV-004", score=90.0)


class KeywordCatalog:
    """Answers from a fixed keyword table and remembers what it was asked."""

    def __init__(self, table: dict[str, AssetCandidate]) -> None:
        self.table = table
        self.queries: list[str] = []

    async def find_assets_in_text(self, text: str, limit: int = 5) -> list[AssetCandidate]:
        self.queries.append(text)
        lowered = text.lower()
        return [asset for key, asset in self.table.items() if key in lowered][:limit]


@pytest.fixture
def embedded() -> EmbeddedIntentExtractor:
    return EmbeddedIntentExtractor()


# --- Embedded extractor ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("smoke coming out of conv 4 drive motor!!", Priority.CRITICAL),
        ("line 2 down filler jammed", Priority.CRITICAL),
        ("production stopped on line 1, mixer seized", Priority.CRITICAL),
        ("burst pipe flooding the basement", Priority.CRITICAL),
        ("pmp 3 leaking", Priority.HIGH),
        ("AHU-2 tripped again", Priority.HIGH),
        ("compressor 5 wont start", Priority.HIGH),
        ("forklift 12 brakes n/w", Priority.HIGH),
        ("dock door 3 label faded, please fix asap", Priority.HIGH),
        ("conveyor 2 making grinding noise", Priority.MEDIUM),
        ("minor oil leak on hyd unit", Priority.MEDIUM),
        ("replace belt on conv 4 when u get a chance", Priority.LOW),
        ("cosmetic dent on the press 4 guard", Priority.LOW),
        ("conveyor 2 side guide loose, no rush", Priority.LOW),
    ],
)
async def test_priority_follows_cues(
    embedded: EmbeddedIntentExtractor, text: str, expected: Priority
) -> None:
    assert (await embedded.extract(text)).priority is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("pump 4 no leak after new seal, just check the coupling guard bolts", Priority.MEDIUM),
        ("pump three making noise but not leaking", Priority.MEDIUM),
        ("not urgent - conveyor 2 side guide loose", Priority.LOW),
        ("no smoke, nobody hurt, the belt on fan 6 is just squealing", Priority.MEDIUM),
        ("oven 2 fire suppression system due for annual insp", Priority.LOW),
        ("pump 3 isn't down, it only needs the guard bolted back", Priority.MEDIUM),
    ],
)
async def test_negated_and_equipment_cues_do_not_escalate(
    embedded: EmbeddedIntentExtractor, text: str, expected: Priority
) -> None:
    intent = await embedded.extract(text)
    assert intent.priority is expected
    assert intent.safety is False


@pytest.mark.parametrize(
    ("text", "expected_title"),
    [
        ("pump 3 is leaking oil at the seal, urgent", "Fix oil leak at pump 3 seal"),
        ("conveyor 2 making grinding noise", "Inspect grinding noise on conveyor 2"),
        ("hey, replace belt on conv 4 when u get a chance pls", "Replace belt on conveyor 4"),
        ("REPL U/S brg on fan 6", "Replace unserviceable bearing on fan 6"),
        ("AHU-2 tripped again", "Investigate trip on AHU-2"),
        ("Pump 7 mech seal needs replacing", "Replace pump 7 mechanical seal"),
        ("smoke coming from motor 5 on line 3!!", "Respond to smoke at motor 5"),
        ("forklift #12 brakes not working", "Repair brakes on forklift 12: not working"),
        ("roof drain blocked, water pooling", "Clear blocked drain on roof"),
    ],
)
async def test_title_is_short_imperative_without_filler(
    embedded: EmbeddedIntentExtractor, text: str, expected_title: str
) -> None:
    assert (await embedded.extract(text)).title == expected_title


async def test_title_never_exceeds_80_chars(embedded: EmbeddedIntentExtractor) -> None:
    rambling = "replace " + " and ".join(f"the worn belt number {n}" for n in range(20))
    intent = await embedded.extract(rambling)
    assert len(intent.title) <= 80
    assert intent.title.startswith("Replace worn belt number 0")


async def test_description_keeps_the_users_words(embedded: EmbeddedIntentExtractor) -> None:
    intent = await embedded.extract("  pmp 3   leaking\n at seal  ")
    assert intent.description == "pmp 3 leaking at seal"


@pytest.mark.parametrize(
    "text",
    [
        "guy cut his hand on the guard of press 4",
        "operator got a shock off conveyor 4 control panel",
        "oven 2 flame out alarm, smell of gas near burner",
        "fire in the oven 2 exhaust hood!!",
        "freight elevator stuck between floors someone trapped inside",
    ],
)
async def test_safety_events_are_flagged_critical(
    embedded: EmbeddedIntentExtractor, text: str
) -> None:
    intent = await embedded.extract(text)
    assert intent.safety is True
    assert intent.priority is Priority.CRITICAL


async def test_hazard_is_safety_but_not_an_emergency(embedded: EmbeddedIntentExtractor) -> None:
    intent = await embedded.extract("guard missing on conveyor 2 tail pulley")
    assert intent.safety is True
    assert intent.priority is Priority.HIGH


@pytest.mark.parametrize(
    ("text", "location"),
    [
        ("smoke coming from motor 5 on line 3", "line 3"),
        ("boiler in building b making banging noise", "building B"),
        ("exhaust fan on the roof is squealing", "roof"),
        ("lights out in bay four", "bay 4"),
        ("water on the 2nd floor near the stairs", "2nd floor"),
        ("pump 3 leaking", None),
    ],
)
async def test_location(embedded: EmbeddedIntentExtractor, text: str, location: str | None) -> None:
    assert (await embedded.extract(text)).location == location


@pytest.mark.parametrize(
    ("text", "mention"),
    [
        ("pmp 3 leaking", "pump 3"),
        ("compressor three won't start", "compressor 3"),
        ("AHU7 on the roof making a rattling noise", "AHU7"),
        ("forklift #12 brakes n/w", "forklift 12"),
        ("the boiler is making a banging noise", "boiler"),
        ("toilet in mens room keeps running", None),
    ],
)
async def test_asset_mention_from_patterns(
    embedded: EmbeddedIntentExtractor, text: str, mention: str | None
) -> None:
    intent = await embedded.extract(text)
    assert intent.asset_mention == mention
    assert intent.asset_candidates == []


async def test_catalog_is_asked_with_the_message_then_the_expanded_mention() -> None:
    catalog = KeywordCatalog({"pump 3": PUMP_3})
    intent = await EmbeddedIntentExtractor(catalog).extract("pmp 3 leaking at the seal")
    assert intent.asset_candidates == [PUMP_3]
    assert catalog.queries == ["pmp 3 leaking at the seal", "pump 3"]


async def test_catalog_names_the_asset_when_patterns_find_none() -> None:
    catalog = KeywordCatalog({"big blue": CONVEYOR_4})
    intent = await EmbeddedIntentExtractor(catalog).extract("big blue is squealing again")
    assert intent.asset_candidates == [CONVEYOR_4]
    assert intent.asset_mention == "Conveyor 4"


async def test_embedded_extraction_is_fast(embedded: EmbeddedIntentExtractor) -> None:
    messages = ["pump 3 is leaking oil at the seal, urgent", "AHU-2 tripped again"] * 50
    started = time.perf_counter()
    for message in messages:
        await embedded.extract(message)
    per_message_ms = (time.perf_counter() - started) * 1000 / len(messages)
    assert per_message_ms < 5


# --- OpenAI extractor against the fake server ---------------------------------------------------

GOOD_ANSWER: dict[str, Any] = {
    "title": "Replace pump 3 mechanical seal",
    "description": "Pump 3 is leaking oil at the seal.",
    "asset_mention": "pump 3",
    "priority": "HIGH",
    "location": "line 3",
    "safety": False,
}
MESSAGE = "pump 3 is leaking oil at the seal, urgent"


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI(hang_seconds=3.0) as server:
        yield server


def make_extractor(
    fake: FakeOpenAI, *, timeout: float = 5.0, catalog: KeywordCatalog | None = None
) -> OpenAIIntentExtractor:
    client = openai.AsyncOpenAI(api_key=API_KEY, base_url=fake.base_url)
    fallback = EmbeddedIntentExtractor(catalog)
    return OpenAIIntentExtractor(client, "gpt-test", fallback, timeout=timeout, catalog=catalog)


async def test_structured_answer_is_used(fake: FakeOpenAI) -> None:
    fake.chat_reply = GOOD_ANSWER
    catalog = KeywordCatalog({"pump 3": PUMP_3})
    intent = await make_extractor(fake, catalog=catalog).extract(MESSAGE)

    assert intent == Intent(**GOOD_ANSWER, asset_candidates=[PUMP_3])
    assert catalog.queries == ["pump 3"]
    body = fake.chat_requests[0].body
    assert body["model"] == "gpt-test"
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["strict"] is True
    assert body["messages"][-1] == {"role": "user", "content": MESSAGE}


async def test_long_model_title_is_trimmed(fake: FakeOpenAI) -> None:
    fake.chat_reply = {**GOOD_ANSWER, "title": "Replace the seal " + "very " * 30 + "carefully"}
    intent = await make_extractor(fake).extract(MESSAGE)
    assert len(intent.title) <= 80
    assert intent.title.startswith("Replace the seal very")


@pytest.mark.parametrize("fail_mode", ["500", "429", "invalid_json", "truncated", "refusal"])
async def test_failures_fall_back_to_embedded_answer(fake: FakeOpenAI, fail_mode: str) -> None:
    fake.chat_reply = GOOD_ANSWER
    fake.fail_mode = fail_mode  # type: ignore[assignment]
    catalog = KeywordCatalog({"pump 3": PUMP_3})
    intent = await make_extractor(fake, catalog=catalog).extract(MESSAGE)

    expected = await EmbeddedIntentExtractor(catalog).extract(MESSAGE)
    assert intent == expected
    assert intent.title == "Fix oil leak at pump 3 seal"
    assert intent.asset_candidates == [PUMP_3]
    assert fake.chat_requests, "the model was asked first"


async def test_timeout_falls_back_within_the_deadline(fake: FakeOpenAI) -> None:
    fake.fail_mode = "timeout"
    started = time.perf_counter()
    intent = await make_extractor(fake, timeout=0.3).extract(MESSAGE)
    elapsed = time.perf_counter() - started

    assert intent == await EmbeddedIntentExtractor().extract(MESSAGE)
    assert elapsed < 1.5


async def test_transient_error_is_retried_once(fake: FakeOpenAI) -> None:
    fake.chat_reply = GOOD_ANSWER
    fake.fail_mode = "500"
    fake.fail_times = 1
    intent = await make_extractor(fake).extract(MESSAGE)
    assert intent.title == GOOD_ANSWER["title"]
    assert len(fake.chat_requests) == 2


async def test_connection_error_falls_back() -> None:
    server = FakeOpenAI()
    await server.start()
    extractor = make_extractor(server)
    await server.stop()  # nothing listens on the port any more
    intent = await extractor.extract(MESSAGE)
    assert intent.title == "Fix oil leak at pump 3 seal"


@pytest.mark.parametrize("fail_mode", ["500", "timeout", "invalid_json", "refusal"])
async def test_api_key_never_logged(
    fake: FakeOpenAI, fail_mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    fake.fail_mode = fail_mode  # type: ignore[assignment]
    with caplog.at_level(logging.DEBUG):
        await make_extractor(fake, timeout=0.3).extract(MESSAGE)
    assert "embedded extractor" in caplog.text
    assert API_KEY not in caplog.text
    assert "DO-NOT-LOG" not in caplog.text


def test_factory_without_credentials_is_embedded() -> None:
    extractor = create_intent_extractor(
        openai_api_key=None, openai_base_url=None, openai_model="gpt-test", catalog=None
    )
    assert isinstance(extractor, EmbeddedIntentExtractor)


async def test_factory_with_compatible_server_uses_it(fake: FakeOpenAI) -> None:
    fake.chat_reply = GOOD_ANSWER
    extractor = create_intent_extractor(
        openai_api_key=None, openai_base_url=fake.base_url, openai_model="llama", catalog=None
    )
    assert isinstance(extractor, OpenAIIntentExtractor)
    assert (await extractor.extract(MESSAGE)).title == GOOD_ANSWER["title"]


# --- The fake server's other routes (shared with the speech and print engineers) ----------------


async def test_fake_records_transcription_upload(fake: FakeOpenAI) -> None:
    fake.transcription_text = "pump three is leaking"
    client = openai.AsyncOpenAI(api_key=API_KEY, base_url=fake.base_url)
    result = await client.audio.transcriptions.create(
        model="gpt-4o-mini-transcribe", file=("voice.ogg", b"OggS fake", "audio/ogg")
    )
    assert result.text == "pump three is leaking"
    recorded = fake.requests[0]
    assert recorded.path == "/v1/audio/transcriptions"
    assert recorded.body["model"] == "gpt-4o-mini-transcribe"
    assert recorded.files["file"].filename == "voice.ogg"
    assert recorded.files["file"].data == b"OggS fake"


async def test_fake_records_vision_images(fake: FakeOpenAI) -> None:
    fake.chat_reply = lambda body: f"saw {len(body['messages'][0]['content'])} parts"
    data_url = "data:image/png;base64," + base64.b64encode(b"\x89PNG").decode()
    client = openai.AsyncOpenAI(api_key=API_KEY, base_url=fake.base_url)
    completion = await client.chat.completions.create(
        model="gpt-vision",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "where is CB-12?"},
                    {"type": "image_url", "image_url": {"url": data_url, "detail": "high"}},
                ],
            }
        ],
    )
    assert completion.choices[0].message.content == "saw 2 parts"
    assert fake.image_urls == [data_url]
