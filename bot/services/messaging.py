"""What domain services need to talk to Telegram, without importing aiogram.

``integrations.telegram_sender.AiogramSender`` implements ``Sender`` on a real ``Bot`` and turns
Bot API errors into the exceptions below."""

from __future__ import annotations

from typing import Any, Protocol


class SendError(Exception):
    """A send failed; ``permanent`` means retrying the same message cannot help."""

    permanent = False

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail)
        self.detail = detail


class RecipientBlocked(SendError):
    """The user blocked the bot (403): skip them."""

    permanent = True


class RateLimited(SendError):
    """Telegram answered 429; wait ``retry_after`` seconds before any further send."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"retry after {retry_after}s")
        self.retry_after = retry_after


class PermanentFailure(SendError):
    """Bad request, chat not found and the like."""

    permanent = True


class TransientFailure(SendError):
    """Network trouble or a 5xx: worth another try later."""


class Sender(Protocol):
    async def send_text(
        self, chat_id: int, text: str, *, buttons: list[list[tuple[str, str]]] | None = None
    ) -> int:
        """Send an HTML message; ``buttons`` are rows of (label, callback data). Message id."""
        ...

    async def edit_text(self, chat_id: int, message_id: int, text: str) -> None: ...

    async def send_photo(self, chat_id: int, png: bytes, caption: str) -> int: ...

    async def send_document(
        self, chat_id: int, data: bytes, file_name: str, caption: str | None = None
    ) -> int: ...


def describe(exc: BaseException) -> str:
    detail: Any = getattr(exc, "detail", "") or type(exc).__name__
    return str(detail)[:200]
