"""Router gates: a router that only takes commands and its own conversations lets every
other message through to the next router, and still gets what it handles."""

from __future__ import annotations

from datetime import UTC, datetime

from aiogram.types import Chat, Document, Message

from bot.states import PrintChat, Profile
from handlers.gates import takes

CHAT = Chat(id=1, type="private")


def message(
    text: str | None = None, *, caption: str | None = None, document: Document | None = None
) -> Message:
    return Message(
        message_id=1,
        date=datetime.now(UTC),
        chat=CHAT,
        text=text,
        caption=caption,
        document=document,
    )


async def test_a_command_gate_takes_commands_and_its_conversations_only() -> None:
    gate = takes(Profile)
    assert await gate(message("/start abc"))
    assert await gate(message(caption="/help"))
    assert await gate(message("Rita"), raw_state=Profile.name.state)
    assert not await gate(message("pump 3 is leaking"))
    assert not await gate(message("pump 3 is leaking"), raw_state="Report:confirming")


async def test_a_gate_can_also_take_documents() -> None:
    pdf = Document(file_id="f", file_unique_id="u", file_name="p.pdf")
    assert await takes(PrintChat, documents=True)(message(document=pdf))
    assert not await takes(PrintChat)(message(document=pdf))
    assert await takes(PrintChat)(message("what is K1?"), raw_state=PrintChat.active.state)
