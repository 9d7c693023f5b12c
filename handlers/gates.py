"""Router-level filters saying up front which messages a router can take at all.

aiogram tries a router's handlers one by one, each with its own filters; a message no handler
wants would pay for every check. A gate turns that into one check per router."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiogram.fsm.state import StatesGroup
from aiogram.types import Message

Gate = Callable[..., Awaitable[bool]]


def takes(*conversations: type[StatesGroup], documents: bool = False) -> Gate:
    """Commands (a text or caption starting with "/"), messages sent during one of
    `conversations`, and with `documents` any document."""
    states = frozenset(
        state.state for group in conversations for state in group.__all_states__ if state.state
    )

    async def gate(message: Message, raw_state: str | None = None) -> bool:
        text = message.text or message.caption
        return (
            (text is not None and text.startswith("/"))
            or raw_state in states
            or (documents and message.document is not None)
        )

    return gate
