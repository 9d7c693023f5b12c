"""Plain data the emulator exposes to tests, benchmarks and the sandbox."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple


class ApiError(Exception):
    """A Bot API failure, rendered exactly as Telegram renders it (status = error_code)."""

    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.status,
            "description": self.description,
        }
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


class ButtonNotFoundError(LookupError):
    """`EmulatedUser.press` found no inline button with that text or callback data."""


@dataclass(frozen=True)
class StoredFile:
    """A file Telegram would hold on its servers: what getFile and downloads serve."""

    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes
    mime_type: str | None = None
    file_name: str | None = None

    @property
    def file_size(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class UploadedFile:
    """A file part received in a multipart request."""

    filename: str
    content_type: str | None
    data: bytes


@dataclass(frozen=True)
class RecordedRequest:
    """One Bot API call as received; `at` is `time.monotonic()`."""

    method: str
    params: dict[str, Any]
    at: float
    token: str = ""


@dataclass(frozen=True)
class CallbackAnswer:
    callback_query_id: str
    text: str | None
    show_alert: bool
    url: str | None
    at: float


@dataclass
class InjectedFault:
    status: int
    description: str
    retry_after: int | None
    remaining: int


class Button(NamedTuple):
    """An inline button as the user sees it; `value` is its callback_data or url."""

    text: str
    value: str | None


@dataclass(frozen=True)
class BotMessage:
    """A snapshot of one message the bot sent, in its current (possibly edited) state."""

    message_id: int
    chat_id: int
    text: str | None
    caption: str | None
    buttons: list[list[Button]]
    photo: StoredFile | None
    document: StoredFile | None
    voice: StoredFile | None
    edited: bool
    deleted: bool
    reply_to_message_id: int | None
    raw: dict[str, Any] = field(repr=False)

    @property
    def content(self) -> str:
        """Text or caption, whichever the message carries."""
        return self.text if self.text is not None else (self.caption or "")

    def to_json(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "chat_id": self.chat_id,
            "text": self.text,
            "caption": self.caption,
            "buttons": [[list(button) for button in row] for row in self.buttons],
            "photo": self.photo.file_path if self.photo else None,
            "document": self.document.file_path if self.document else None,
            "voice": self.voice.file_path if self.voice else None,
            "edited": self.edited,
            "deleted": self.deleted,
            "reply_to_message_id": self.reply_to_message_id,
        }
