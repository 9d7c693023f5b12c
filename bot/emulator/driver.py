"""Acting as Telegram users: send messages, press buttons, read what the bot answered."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from typing import Any

from bot.emulator.models import BotMessage, ButtonNotFoundError
from bot.emulator.world import BotState, StoredMessage, TelegramWorld, reply_snapshot

# Telegram clients mark a leading /command (optionally /command@bot) as a bot_command entity.
LEADING_COMMAND = re.compile(r"/[A-Za-z0-9_]{1,32}(@[A-Za-z0-9_]{1,32})?")

MessagePredicate = Callable[[BotMessage], bool]


class EmulatedUser:
    """A user in a private chat with one bot; the chat id equals the user id."""

    def __init__(
        self,
        world: TelegramWorld,
        bot: BotState,
        user_id: int,
        first_name: str,
        username: str | None,
        language_code: str | None,
    ) -> None:
        profile: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if username:
            profile["username"] = username
        if language_code:
            profile["language_code"] = language_code
        self.user_id = user_id
        self._world = world
        self._bot = bot
        self._chat = world.ensure_chat(bot, profile)

    @property
    def chat_id(self) -> int:
        return self._chat.chat_id

    # --- acting ------------------------------------------------------------------------

    async def send_text(self, text: str) -> dict[str, Any]:
        content: dict[str, Any] = {"text": text}
        if command := LEADING_COMMAND.match(text):
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": command.end()}]
        return self._send(content)

    async def send_command(self, command: str, args: str | None = None) -> dict[str, Any]:
        text = f"/{command.removeprefix('/')}"
        return await self.send_text(f"{text} {args}" if args else text)

    async def send_voice(
        self, data: bytes, duration: int, mime_type: str = "audio/ogg"
    ) -> dict[str, Any]:
        return self._send({"voice": self._world.store_voice(data, duration, mime_type)})

    async def send_photo(
        self, data: bytes, caption: str | None = None, media_group_id: str | None = None
    ) -> dict[str, Any]:
        content: dict[str, Any] = {"photo": self._world.store_photo(data)}
        if media_group_id is not None:
            content["media_group_id"] = media_group_id
        return self._send(_with_caption(content, caption))

    async def send_document(
        self, data: bytes, file_name: str, mime_type: str, caption: str | None = None
    ) -> dict[str, Any]:
        document = self._world.store_document(data, file_name, mime_type)
        return self._send(_with_caption({"document": document}, caption))

    async def reply_to(self, message_id: int, text: str) -> dict[str, Any]:
        target = self._chat.live_message(message_id)
        if target is None:
            raise LookupError(f"no message {message_id} in chat {self.chat_id} to reply to")
        return self._send({"text": text, "reply_to_message": reply_snapshot(target)})

    async def press(self, button: str, message_id: int | None = None) -> str:
        """Press an inline button found by text or callback_data; returns the query id.

        Searches the given bot message, or the bot's messages newest first (users can
        press buttons on older messages too).
        """
        message, pressed = self._find_button(button, message_id)
        data = pressed.get("callback_data")
        if data is None:
            raise ButtonNotFoundError(f"button {pressed['text']!r} has no callback_data")
        self._mark_action()
        query_id = self._world.new_callback_query_id(self._bot, self.chat_id)
        query = {
            "id": query_id,
            "from": dict(self._chat.user),
            "message": message.payload,
            "chat_instance": f"{self._bot.bot_id}{self.chat_id}",
            "data": data,
        }
        self._world.enqueue_update(self._bot, "callback_query", query)
        return query_id

    def block_bot(self) -> None:
        """Sends to this chat answer 403 until unblock_bot(); the bot gets my_chat_member."""
        self._set_blocked(True)

    def unblock_bot(self) -> None:
        self._set_blocked(False)

    # --- reading -----------------------------------------------------------------------

    def messages(self, include_deleted: bool = False) -> list[BotMessage]:
        """The bot's messages in this chat, oldest first, in their current state."""
        return [
            self._world.view(self._chat, message)
            for message in self._bot_messages()
            if include_deleted or not message.deleted
        ]

    def last_message(self) -> BotMessage:
        messages = self.messages()
        if not messages:
            raise AssertionError(f"the bot has sent nothing to chat {self.chat_id}")
        return messages[-1]

    async def wait_for_message(
        self,
        expected: str | MessagePredicate,
        timeout: float = 5.0,
    ) -> BotMessage:
        """Wait for a bot message, new or edited since the user's last action, that matches.

        `expected` is a substring of the text/caption or a predicate on BotMessage.
        """
        matches = expected if callable(expected) else _contains(expected)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for message in sorted(self._bot_messages(), key=lambda stored: stored.revision):
                if message.deleted or message.revision <= self._chat.last_user_action_revision:
                    continue
                view = self._world.view(self._chat, message)
                if matches(view):
                    return view
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(
                    f"no bot message matching {expected!r} within {timeout}s; "
                    f"chat {self.chat_id} holds:\n{self.describe_chat()}"
                )
            await self._world.changed.wait(remaining)

    def describe_chat(self) -> str:
        lines = []
        for message in self.messages(include_deleted=True):
            flags = "".join(
                f" ({flag})"
                for flag, on in (("edited", message.edited), ("deleted", message.deleted))
                if on
            )
            buttons = [button.text for row in message.buttons for button in row]
            lines.append(f"  #{message.message_id}{flags}: {message.content!r} buttons={buttons}")
        return "\n".join(lines) or "  (no bot messages)"

    # --- internals ---------------------------------------------------------------------

    def _send(self, content: dict[str, Any]) -> dict[str, Any]:
        if self._chat.blocked:
            raise RuntimeError(f"user {self.user_id} blocked the bot; call unblock_bot() first")
        self._mark_action()
        message = self._world.add_message(self._bot, self._chat, content, from_bot=False)
        return self._world.enqueue_update(self._bot, "message", message.payload)

    def _mark_action(self) -> None:
        self._chat.last_user_action_revision = self._world.last_revision

    def _bot_messages(self) -> list[StoredMessage]:
        return [message for message in self._chat.messages.values() if message.from_bot]

    def _find_button(
        self, wanted: str, message_id: int | None
    ) -> tuple[StoredMessage, dict[str, Any]]:
        if message_id is None:
            candidates = [m for m in reversed(self._bot_messages()) if not m.deleted]
        else:
            message = self._chat.live_message(message_id)
            candidates = [message] if message is not None and message.from_bot else []
        for message in candidates:
            for row in message.payload.get("reply_markup", {}).get("inline_keyboard", []):
                for button in row:
                    if wanted in (button.get("text"), button.get("callback_data")):
                        return message, button
        where = f"message {message_id}" if message_id is not None else f"chat {self.chat_id}"
        raise ButtonNotFoundError(
            f"no inline button {wanted!r} in {where}; chat holds:\n{self.describe_chat()}"
        )

    def _set_blocked(self, blocked: bool) -> None:
        if self._chat.blocked == blocked:
            return
        self._chat.blocked = blocked
        bot_member = {"user": self._bot.sender()}
        kicked = {**bot_member, "status": "kicked", "until_date": 0}
        member = {**bot_member, "status": "member"}
        update = {
            "chat": self._chat.chat_payload(),
            "from": dict(self._chat.user),
            "date": int(time.time()),
            "old_chat_member": member if blocked else kicked,
            "new_chat_member": kicked if blocked else member,
        }
        self._world.enqueue_update(self._bot, "my_chat_member", update)


def _with_caption(content: dict[str, Any], caption: str | None) -> dict[str, Any]:
    return {**content, "caption": caption} if caption else content


def _contains(substring: str) -> MessagePredicate:
    return lambda message: substring in message.content
