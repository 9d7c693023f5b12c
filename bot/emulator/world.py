"""The emulated Telegram side: bots, private chats, messages, files and update queues.

Both the Bot API methods (what the bot does) and the driver (what users do) mutate this
state; every mutation calls `notify()` so long polls, webhook delivery and waiting tests
wake up at once instead of sleeping on a timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import mimetypes
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from bot.emulator.models import BotMessage, Button, StoredFile

# Telegram's default when allowed_updates is empty or never given.
DEFAULT_EXCLUDED_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
# Sizes generated for every photo; we don't resize, every size holds the original bytes.
PHOTO_SIDES = (90, 320, 800)


class ChangeSignal:
    """A broadcast 'something changed' event that any number of coroutines can await."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, max_wait: float) -> None:
        """Return on the next notify() or after `max_wait` seconds, whichever comes first."""
        event = self._event
        if max_wait <= 0:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max_wait):
                await event.wait()


@dataclass
class StoredMessage:
    payload: dict[str, Any]
    from_bot: bool
    revision: int
    edited: bool = False
    deleted: bool = False


@dataclass
class ChatState:
    chat_id: int
    user: dict[str, Any]
    messages: dict[int, StoredMessage] = field(default_factory=dict)
    next_message_id: int = 1
    blocked: bool = False
    # Revision at the user's latest action; waits look only at bot messages changed after it.
    last_user_action_revision: int = 0

    def chat_payload(self) -> dict[str, Any]:
        chat: dict[str, Any] = {"id": self.chat_id, "type": "private"}
        for key in ("first_name", "last_name", "username"):
            if self.user.get(key):
                chat[key] = self.user[key]
        return chat

    def live_message(self, message_id: int) -> StoredMessage | None:
        message = self.messages.get(message_id)
        return None if message is None or message.deleted else message


@dataclass
class WebhookConfig:
    url: str
    secret_token: str | None
    max_connections: int
    last_error_date: int | None = None
    last_error_message: str | None = None


@dataclass
class CallbackQueryState:
    chat_id: int
    answered: bool = False


@dataclass
class BotState:
    token: str
    user: dict[str, Any]
    pending_updates: deque[dict[str, Any]] = field(default_factory=deque)
    next_update_id: int = 1
    allowed_updates: frozenset[str] | None = None
    webhook: WebhookConfig | None = None
    # Bumped by every getUpdates so an older long poll knows it was superseded.
    poll_generation: int = 0
    commands: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    chats: dict[int, ChatState] = field(default_factory=dict)
    callback_queries: dict[str, CallbackQueryState] = field(default_factory=dict)

    @property
    def bot_id(self) -> int:
        return int(self.user["id"])

    def sender(self) -> dict[str, Any]:
        """The bot as `from` of its messages: no getMe-only capability fields."""
        return {key: self.user[key] for key in ("id", "is_bot", "first_name", "username")}

    def accepts(self, update_type: str) -> bool:
        if self.allowed_updates is None:
            return update_type not in DEFAULT_EXCLUDED_UPDATES
        return update_type in self.allowed_updates


class TelegramWorld:
    def __init__(self) -> None:
        self.bots: dict[str, BotState] = {}
        self.files: dict[str, StoredFile] = {}
        self.files_by_path: dict[str, StoredFile] = {}
        self.changed = ChangeSignal()
        self._file_counter = itertools.count(1)
        self._callback_counter = itertools.count(1)
        # Global, so a waiter can tell which messages changed after a given moment.
        self._revision_counter = itertools.count(1)
        self.last_revision = 0

    def notify(self) -> None:
        self.changed.notify()

    def next_revision(self) -> int:
        self.last_revision = next(self._revision_counter)
        return self.last_revision

    # --- bots and chats -------------------------------------------------------------

    def add_bot(self, token: str, username: str, first_name: str) -> BotState:
        bot_id, separator, secret = token.partition(":")
        if not (bot_id.isdigit() and separator and secret) or " " in token:
            raise ValueError(f"not a bot token: {token!r}")
        user = {
            "id": int(bot_id),
            "is_bot": True,
            "first_name": first_name,
            "username": username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        state = BotState(token=token, user=user)
        self.bots[token] = state
        return state

    def default_bot(self) -> BotState:
        if not self.bots:
            raise RuntimeError("no bot registered: call register_bot(token) first")
        return next(iter(self.bots.values()))

    def ensure_chat(self, bot: BotState, user: dict[str, Any]) -> ChatState:
        chat = bot.chats.get(user["id"])
        if chat is None:
            chat = ChatState(chat_id=user["id"], user=user)
            bot.chats[chat.chat_id] = chat
        else:
            chat.user = user
        return chat

    def chat_for_bot_call(self, bot: BotState, chat_id: int) -> ChatState | None:
        """A private chat the bot addresses; unknown users get a placeholder profile."""
        if chat_id <= 0:
            return None
        if chat_id not in bot.chats:
            placeholder = {"id": chat_id, "is_bot": False, "first_name": f"User{chat_id}"}
            self.ensure_chat(bot, placeholder)
        return bot.chats[chat_id]

    # --- messages ---------------------------------------------------------------------

    def add_message(
        self, bot: BotState, chat: ChatState, content: dict[str, Any], *, from_bot: bool
    ) -> StoredMessage:
        payload: dict[str, Any] = {
            "message_id": chat.next_message_id,
            "from": bot.sender() if from_bot else dict(chat.user),
            "chat": chat.chat_payload(),
            "date": int(time.time()),
            **content,
        }
        chat.next_message_id += 1
        message = StoredMessage(payload=payload, from_bot=from_bot, revision=self.next_revision())
        chat.messages[payload["message_id"]] = message
        self.notify()
        return message

    def touch(self, message: StoredMessage, *, edited: bool) -> None:
        message.revision = self.next_revision()
        if edited:
            message.edited = True
            message.payload["edit_date"] = int(time.time())
        self.notify()

    def enqueue_update(
        self, bot: BotState, update_type: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        update = {"update_id": bot.next_update_id, update_type: copy.deepcopy(body)}
        bot.next_update_id += 1
        # Like Telegram, updates of types the bot opted out of are never created.
        if bot.accepts(update_type):
            bot.pending_updates.append(update)
            self.notify()
        return copy.deepcopy(update)

    def new_callback_query_id(self, bot: BotState, chat_id: int) -> str:
        query_id = f"{bot.bot_id}{next(self._callback_counter):08d}"
        bot.callback_queries[query_id] = CallbackQueryState(chat_id=chat_id)
        return query_id

    # --- files -----------------------------------------------------------------------

    def store_file(
        self,
        data: bytes,
        *,
        folder: str,
        extension: str,
        mime_type: str | None = None,
        file_name: str | None = None,
    ) -> StoredFile:
        number = next(self._file_counter)
        stored = StoredFile(
            file_id=f"EMU{folder[:3].upper()}{number:08d}",
            file_unique_id=f"U{number:08d}",
            file_path=f"{folder}/file_{number}{extension}",
            data=data,
            mime_type=mime_type,
            file_name=file_name,
        )
        self.files[stored.file_id] = stored
        self.files_by_path[stored.file_path] = stored
        return stored

    def photo_sizes(self, original: StoredFile) -> list[dict[str, Any]]:
        """Telegram's PhotoSize array, smallest first; the largest is `original` itself."""
        sizes: list[dict[str, Any]] = []
        for side in PHOTO_SIDES:
            stored = (
                original
                if side == PHOTO_SIDES[-1]
                else self.store_file(original.data, folder="photos", extension=".jpg")
            )
            sizes.append(
                {
                    "file_id": stored.file_id,
                    "file_unique_id": stored.file_unique_id,
                    "file_size": stored.file_size,
                    "width": side,
                    "height": side,
                }
            )
        return sizes

    def store_photo(self, data: bytes) -> list[dict[str, Any]]:
        return self.photo_sizes(self.store_file(data, folder="photos", extension=".jpg"))

    def store_document(self, data: bytes, file_name: str, mime_type: str | None) -> dict[str, Any]:
        extension = "." + file_name.rsplit(".", 1)[1] if "." in file_name else ""
        mime = mime_type or mimetypes.guess_type(file_name)[0] or "application/octet-stream"
        stored = self.store_file(
            data, folder="documents", extension=extension, mime_type=mime, file_name=file_name
        )
        return document_payload(stored)

    def store_voice(self, data: bytes, duration: int, mime_type: str) -> dict[str, Any]:
        extension = ".oga" if mime_type == "audio/ogg" else mimetypes.guess_extension(mime_type)
        stored = self.store_file(
            data, folder="voice", extension=extension or ".oga", mime_type=mime_type
        )
        return voice_payload(stored, duration)

    def file_of(self, payload: dict[str, Any] | None) -> StoredFile | None:
        return self.files.get(payload["file_id"]) if payload else None

    # --- views ------------------------------------------------------------------------

    def view(self, chat: ChatState, message: StoredMessage) -> BotMessage:
        payload = message.payload
        keyboard = payload.get("reply_markup", {}).get("inline_keyboard", [])
        photo_sizes = payload.get("photo")
        reply_to = payload.get("reply_to_message")
        return BotMessage(
            message_id=payload["message_id"],
            chat_id=chat.chat_id,
            text=payload.get("text"),
            caption=payload.get("caption"),
            buttons=[
                [
                    Button(button["text"], button.get("callback_data") or button.get("url"))
                    for button in row
                ]
                for row in keyboard
            ],
            photo=self.file_of(photo_sizes[-1]) if photo_sizes else None,
            document=self.file_of(payload.get("document")),
            voice=self.file_of(payload.get("voice")),
            edited=message.edited,
            deleted=message.deleted,
            reply_to_message_id=reply_to["message_id"] if reply_to else None,
            raw=copy.deepcopy(payload),
        )


def document_payload(stored: StoredFile) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "file_size": stored.file_size,
    }
    if stored.file_name:
        payload["file_name"] = stored.file_name
    if stored.mime_type:
        payload["mime_type"] = stored.mime_type
    return payload


def voice_payload(stored: StoredFile, duration: int) -> dict[str, Any]:
    return {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "duration": duration,
        "mime_type": stored.mime_type or "audio/ogg",
        "file_size": stored.file_size,
    }


def reply_snapshot(message: StoredMessage) -> dict[str, Any]:
    """The reply_to_message copy: Telegram never nests replies more than one level."""
    snapshot = copy.deepcopy(message.payload)
    snapshot.pop("reply_to_message", None)
    return snapshot
