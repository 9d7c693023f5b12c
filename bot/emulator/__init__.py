"""A Telegram Bot API emulator on loopback, driven by tests, benchmarks and the sandbox."""

from bot.emulator.driver import EmulatedUser
from bot.emulator.models import (
    ApiError,
    BotMessage,
    Button,
    ButtonNotFoundError,
    CallbackAnswer,
    RecordedRequest,
    StoredFile,
)
from bot.emulator.server import BotApiEmulator

__all__ = [
    "ApiError",
    "BotApiEmulator",
    "BotMessage",
    "Button",
    "ButtonNotFoundError",
    "CallbackAnswer",
    "EmulatedUser",
    "RecordedRequest",
    "StoredFile",
]
