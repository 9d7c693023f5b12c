"""Bot API methods as the emulator implements them, with Telegram's error texts."""

from __future__ import annotations

import asyncio
import copy
import html
import json
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bot.emulator.flood import FloodControl
from bot.emulator.models import ApiError, CallbackAnswer, StoredFile, UploadedFile
from bot.emulator.world import (
    BotState,
    ChatState,
    StoredMessage,
    TelegramWorld,
    WebhookConfig,
    document_payload,
    reply_snapshot,
    voice_payload,
)

MethodHandler = Callable[[BotState, "Params"], Awaitable[Any]]

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_ANSWER_LENGTH = 200
MAX_CALLBACK_DATA_BYTES = 64
MAX_UPDATES_PER_CALL = 100
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)
CONFLICT_TERMINATED = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
CONFLICT_WEBHOOK_ACTIVE = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
WRONG_FILE = "wrong file identifier/HTTP URL specified"
HTML_TAG = re.compile(r"<[^>]+>")
SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
BOT_COMMAND = re.compile(r"[a-z0-9_]{1,32}")


def bad_request(reason: str) -> ApiError:
    return ApiError(400, f"Bad Request: {reason}")


class Params:
    """Typed access to request parameters, which arrive as strings from form encodings."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw

    def string(self, name: str) -> str | None:
        value = self.raw.get(name)
        return None if value is None else str(value)

    def integer(self, name: str) -> int | None:
        value = self.raw.get(name)
        if value is None or value == "":
            return None
        try:
            return int(value)
        except (TypeError, ValueError):
            raise bad_request(f"invalid {name} specified") from None

    def required_integer(self, name: str) -> int:
        value = self.integer(name)
        if value is None:
            raise bad_request(f"{name} is empty")
        return value

    def flag(self, name: str) -> bool:
        return self.raw.get(name) in (True, 1, "true", "True", "1")

    def json(self, name: str) -> Any:
        value = self.raw.get(name)
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                raise bad_request(f"can't parse {name} JSON object") from None
        return value


def visible_length(text: str, parse_mode: str | None) -> int:
    """Length after entity parsing, which is what Telegram's limits count."""
    if parse_mode and parse_mode.lower() == "html":
        return len(html.unescape(HTML_TAG.sub("", text)))
    return len(text)


class BotApiMethods:
    def __init__(
        self,
        world: TelegramWorld,
        flood_control: FloodControl | None,
        on_webhook_changed: Callable[[BotState], None],
    ) -> None:
        self.world = world
        self.flood_control = flood_control
        self.on_webhook_changed = on_webhook_changed
        self.accepted_send_times: list[float] = []
        self.callback_answers: list[CallbackAnswer] = []
        # Set while the server shuts down so pending long polls return at once.
        self.closing = False
        handlers: dict[str, MethodHandler] = {
            "getMe": self.get_me,
            "getUpdates": self.get_updates,
            "setWebhook": self.set_webhook,
            "deleteWebhook": self.delete_webhook,
            "getWebhookInfo": self.get_webhook_info,
            "sendMessage": self.send_message,
            "editMessageText": self.edit_message_text,
            "editMessageReplyMarkup": self.edit_message_reply_markup,
            "deleteMessage": self.delete_message,
            "answerCallbackQuery": self.answer_callback_query,
            "sendChatAction": self.send_chat_action,
            "setMyCommands": self.set_my_commands,
            "getMyCommands": self.get_my_commands,
            "deleteMyCommands": self.delete_my_commands,
            "getFile": self.get_file,
            "sendPhoto": self.send_photo,
            "sendDocument": self.send_document,
            "sendVoice": self.send_voice,
            "getChat": self.get_chat,
        }
        self._handlers = {name.lower(): (name, handler) for name, handler in handlers.items()}

    def resolve(self, method: str) -> tuple[str, MethodHandler] | None:
        """Canonical name and handler; Telegram matches method names case-insensitively."""
        return self._handlers.get(method.lower())

    # --- bot and updates ---------------------------------------------------------------

    async def get_me(self, bot: BotState, params: Params) -> dict[str, Any]:
        return dict(bot.user)

    async def get_updates(self, bot: BotState, params: Params) -> list[dict[str, Any]]:
        if bot.webhook is not None:
            raise ApiError(409, CONFLICT_WEBHOOK_ACTIVE)
        offset = params.integer("offset")
        limit = min(max(params.integer("limit") or MAX_UPDATES_PER_CALL, 1), MAX_UPDATES_PER_CALL)
        timeout = max(params.integer("timeout") or 0, 0)
        self._apply_allowed_updates(bot, params)
        if offset is not None:
            self._confirm_updates(bot, offset)

        bot.poll_generation += 1
        generation = bot.poll_generation
        self.world.notify()  # wakes an earlier long poll so it fails with the conflict
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            if self.closing:
                return []
            if bot.poll_generation != generation:
                raise ApiError(409, CONFLICT_TERMINATED)
            if bot.webhook is not None:
                raise ApiError(409, CONFLICT_WEBHOOK_ACTIVE)
            remaining = deadline - asyncio.get_running_loop().time()
            if bot.pending_updates or remaining <= 0:
                return [copy.deepcopy(update) for update in list(bot.pending_updates)[:limit]]
            await self.world.changed.wait(remaining)

    async def set_webhook(self, bot: BotState, params: Params) -> bool:
        url = params.string("url") or ""
        if not url:
            return await self.delete_webhook(bot, params)
        if not url.startswith(("http://", "https://")):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret_token = params.string("secret_token")
        if secret_token is not None and not SECRET_TOKEN.fullmatch(secret_token):
            raise bad_request("secret token contains unallowed characters")
        self._apply_allowed_updates(bot, params)
        if params.flag("drop_pending_updates"):
            bot.pending_updates.clear()
        bot.webhook = WebhookConfig(
            url=url,
            secret_token=secret_token,
            max_connections=params.integer("max_connections") or 40,
        )
        self.on_webhook_changed(bot)
        self.world.notify()
        return True

    async def delete_webhook(self, bot: BotState, params: Params) -> bool:
        if params.flag("drop_pending_updates"):
            bot.pending_updates.clear()
        bot.webhook = None
        self.on_webhook_changed(bot)
        self.world.notify()
        return True

    async def get_webhook_info(self, bot: BotState, params: Params) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": bot.webhook.url if bot.webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(bot.pending_updates),
        }
        if bot.webhook is not None:
            info["max_connections"] = bot.webhook.max_connections
            if bot.webhook.last_error_date is not None:
                info["last_error_date"] = bot.webhook.last_error_date
                info["last_error_message"] = bot.webhook.last_error_message
        if bot.allowed_updates is not None:
            info["allowed_updates"] = sorted(bot.allowed_updates)
        return info

    @staticmethod
    def _apply_allowed_updates(bot: BotState, params: Params) -> None:
        allowed = params.json("allowed_updates")
        if allowed is None:
            return  # Telegram keeps the previous setting
        bot.allowed_updates = frozenset(allowed) if allowed else None

    @staticmethod
    def _confirm_updates(bot: BotState, offset: int) -> None:
        pending = bot.pending_updates
        if offset < 0:  # keep only the last -offset updates
            while len(pending) > -offset:
                pending.popleft()
            return
        while pending and pending[0]["update_id"] < offset:
            pending.popleft()

    # --- sending -----------------------------------------------------------------------

    async def send_message(self, bot: BotState, params: Params) -> dict[str, Any]:
        chat = self._sendable_chat(bot, params)
        text = self._text(params, "text", MAX_TEXT_LENGTH, empty="message text is empty")
        content: dict[str, Any] = {"text": text}
        if entities := params.json("entities"):
            content["entities"] = entities
        return self._deliver(bot, chat, params, content)

    async def send_photo(self, bot: BotState, params: Params) -> dict[str, Any]:
        chat = self._sendable_chat(bot, params)
        media = params.raw.get("photo")
        if isinstance(media, UploadedFile):
            sizes = self.world.store_photo(media.data)
        else:
            sizes = self.world.photo_sizes(self._existing_file(media, "photo"))
        return self._deliver(bot, chat, params, {"photo": sizes, **self._caption(params)})

    async def send_document(self, bot: BotState, params: Params) -> dict[str, Any]:
        chat = self._sendable_chat(bot, params)
        media = params.raw.get("document")
        if isinstance(media, UploadedFile):
            document = self.world.store_document(
                media.data, media.filename, specific_mime_type(media.content_type)
            )
        else:
            document = document_payload(self._existing_file(media, "document"))
        return self._deliver(bot, chat, params, {"document": document, **self._caption(params)})

    async def send_voice(self, bot: BotState, params: Params) -> dict[str, Any]:
        chat = self._sendable_chat(bot, params)
        media = params.raw.get("voice")
        duration = params.integer("duration") or 0
        if isinstance(media, UploadedFile):
            mime_type = specific_mime_type(media.content_type) or "audio/ogg"
            voice = self.world.store_voice(media.data, duration, mime_type)
        else:
            voice = voice_payload(self._existing_file(media, "voice"), duration)
        return self._deliver(bot, chat, params, {"voice": voice, **self._caption(params)})

    async def send_chat_action(self, bot: BotState, params: Params) -> bool:
        self._sendable_chat(bot, params)
        if not params.string("action"):
            raise bad_request("action is empty")
        return True

    def _deliver(
        self, bot: BotState, chat: ChatState, params: Params, content: dict[str, Any]
    ) -> dict[str, Any]:
        content.update(self._inline_markup(params))
        content.update(self._reply_to(chat, params))
        self._admit_send(bot, chat)
        message = self.world.add_message(bot, chat, content, from_bot=True)
        self._count_send(bot, chat)
        return copy.deepcopy(message.payload)

    # --- editing -----------------------------------------------------------------------

    async def edit_message_text(self, bot: BotState, params: Params) -> dict[str, Any]:
        chat, message = self._editable_message(bot, params)
        if "text" not in message.payload:
            raise bad_request("there is no text in the message to edit")
        text = self._text(params, "text", MAX_TEXT_LENGTH, empty="message text is empty")
        markup = self._inline_markup(params)
        if text == message.payload["text"] and markup == _current_markup(message):
            raise ApiError(400, NOT_MODIFIED)
        self._admit_send(bot, chat)
        message.payload["text"] = text
        if entities := params.json("entities"):
            message.payload["entities"] = entities
        else:
            message.payload.pop("entities", None)
        _replace_markup(message, markup)
        self.world.touch(message, edited=True)
        self._count_send(bot, chat)
        return copy.deepcopy(message.payload)

    async def edit_message_reply_markup(self, bot: BotState, params: Params) -> dict[str, Any]:
        _chat, message = self._editable_message(bot, params)
        markup = self._inline_markup(params)
        if markup == _current_markup(message):
            raise ApiError(400, NOT_MODIFIED)
        _replace_markup(message, markup)
        self.world.touch(message, edited=True)
        return copy.deepcopy(message.payload)

    async def delete_message(self, bot: BotState, params: Params) -> bool:
        chat = self._known_chat(bot, params)
        message = chat.live_message(params.required_integer("message_id"))
        if message is None:
            raise bad_request("message to delete not found")
        message.deleted = True
        self.world.touch(message, edited=False)
        return True

    def _editable_message(self, bot: BotState, params: Params) -> tuple[ChatState, StoredMessage]:
        if params.string("inline_message_id"):
            raise bad_request("inline messages are not supported by the emulator")
        chat = self._known_chat(bot, params)
        message = chat.live_message(params.required_integer("message_id"))
        if message is None:
            raise bad_request("message to edit not found")
        if not message.from_bot:
            raise bad_request("message can't be edited")
        return chat, message

    # --- callbacks, commands, files, chats -------------------------------------------

    async def answer_callback_query(self, bot: BotState, params: Params) -> bool:
        query_id = params.string("callback_query_id") or ""
        query = bot.callback_queries.get(query_id)
        if query is None or query.answered:
            raise bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        text = params.string("text")
        if text is not None and len(text) > MAX_CALLBACK_ANSWER_LENGTH:
            raise bad_request("MESSAGE_TOO_LONG")
        query.answered = True
        self.callback_answers.append(
            CallbackAnswer(
                callback_query_id=query_id,
                text=text,
                show_alert=params.flag("show_alert"),
                url=params.string("url"),
                at=time.monotonic(),
            )
        )
        self.world.notify()
        return True

    async def set_my_commands(self, bot: BotState, params: Params) -> bool:
        commands = params.json("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise bad_request("commands must be a list of at most 100 BotCommand objects")
        for command in commands:
            if not BOT_COMMAND.fullmatch(str(command.get("command", ""))):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        stored = [
            {"command": command["command"], "description": command["description"]}
            for command in commands
        ]
        bot.commands[_commands_key(params)] = stored
        return True

    async def get_my_commands(self, bot: BotState, params: Params) -> list[dict[str, Any]]:
        return copy.deepcopy(bot.commands.get(_commands_key(params), []))

    async def delete_my_commands(self, bot: BotState, params: Params) -> bool:
        bot.commands.pop(_commands_key(params), None)
        return True

    async def get_file(self, bot: BotState, params: Params) -> dict[str, Any]:
        stored = self.world.files.get(params.string("file_id") or "")
        if stored is None:
            raise bad_request("invalid file_id")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.file_size,
            "file_path": stored.file_path,
        }

    async def get_chat(self, bot: BotState, params: Params) -> dict[str, Any]:
        chat = self._known_chat(bot, params)
        return {
            **chat.chat_payload(),
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": True,
                "limited_gifts": True,
                "unique_gifts": True,
                "premium_subscription": True,
                "gifts_from_channels": True,
            },
        }

    # --- shared checks ---------------------------------------------------------------

    def _known_chat(self, bot: BotState, params: Params) -> ChatState:
        raw_chat_id = params.string("chat_id")
        if not raw_chat_id:
            raise bad_request("chat_id is empty")
        try:
            chat_id = int(raw_chat_id)
        except ValueError:
            raise bad_request("chat not found") from None
        chat = self.world.chat_for_bot_call(bot, chat_id)
        if chat is None:
            raise bad_request("chat not found")
        return chat

    def _sendable_chat(self, bot: BotState, params: Params) -> ChatState:
        chat = self._known_chat(bot, params)
        if chat.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat

    def _admit_send(self, bot: BotState, chat: ChatState) -> None:
        if self.flood_control is None:
            return
        retry_after = self.flood_control.retry_after(bot.bot_id, chat.chat_id, time.monotonic())
        if retry_after is not None:
            raise ApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after)

    def _count_send(self, bot: BotState, chat: ChatState) -> None:
        now = time.monotonic()
        self.accepted_send_times.append(now)
        if self.flood_control is not None:
            self.flood_control.record(bot.bot_id, chat.chat_id, now)

    @staticmethod
    def _text(params: Params, name: str, limit: int, *, empty: str) -> str:
        text = params.string(name) or ""
        if not text.strip():
            raise bad_request(empty)
        if visible_length(text.strip(), params.string("parse_mode")) > limit:
            raise bad_request("message is too long")
        return text

    @staticmethod
    def _caption(params: Params) -> dict[str, Any]:
        caption = params.string("caption")
        if not caption:
            return {}
        if visible_length(caption.strip(), params.string("parse_mode")) > MAX_CAPTION_LENGTH:
            raise bad_request("message caption is too long")
        content: dict[str, Any] = {"caption": caption}
        if entities := params.json("caption_entities"):
            content["caption_entities"] = entities
        return content

    @staticmethod
    def _inline_markup(params: Params) -> dict[str, Any]:
        """Only inline keyboards are echoed back in a Message, as Telegram does."""
        markup = params.json("reply_markup")
        if not isinstance(markup, dict) or "inline_keyboard" not in markup:
            return {}
        for row in markup["inline_keyboard"]:
            for button in row:
                if not button.get("text"):
                    raise bad_request("text buttons are unallowed in the inline keyboard")
                data = button.get("callback_data")
                if data is not None and not 1 <= len(data.encode()) <= MAX_CALLBACK_DATA_BYTES:
                    raise bad_request("BUTTON_DATA_INVALID")
        return {"reply_markup": {"inline_keyboard": markup["inline_keyboard"]}}

    @staticmethod
    def _reply_to(chat: ChatState, params: Params) -> dict[str, Any]:
        reply_parameters = params.json("reply_parameters") or {}
        target_id = reply_parameters.get("message_id") or params.integer("reply_to_message_id")
        if target_id is None:
            return {}
        target = chat.live_message(int(target_id))
        if target is not None:
            return {"reply_to_message": reply_snapshot(target)}
        if reply_parameters.get("allow_sending_without_reply") or params.flag(
            "allow_sending_without_reply"
        ):
            return {}
        raise bad_request("message to be replied not found")

    def _existing_file(self, reference: Any, field_name: str) -> StoredFile:
        if not reference:
            raise bad_request(f"there is no {field_name} in the request")
        stored = self.world.files.get(str(reference))
        if stored is None:
            raise bad_request(WRONG_FILE)
        return stored


def specific_mime_type(content_type: str | None) -> str | None:
    """aiohttp labels every uploaded part octet-stream; that says nothing about the file."""
    return None if content_type in (None, "application/octet-stream") else content_type


def _current_markup(message: StoredMessage) -> dict[str, Any]:
    markup = message.payload.get("reply_markup")
    return {"reply_markup": markup} if markup else {}


def _replace_markup(message: StoredMessage, markup: dict[str, Any]) -> None:
    # Telegram drops the inline keyboard when an edit does not repeat it.
    message.payload.pop("reply_markup", None)
    message.payload.update(markup)


def _commands_key(params: Params) -> tuple[str, str]:
    scope = params.json("scope") or {"type": "default"}
    return json.dumps(scope, sort_keys=True), params.string("language_code") or ""
