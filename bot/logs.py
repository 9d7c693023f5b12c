"""Logging set-up: console or JSON lines, with every configured secret masked."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable

MASK = "***"


class SecretMask(logging.Filter):
    """Replaces secret values wherever they would appear in a rendered log line."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        message = record.getMessage()
        masked = self._mask(message)
        if record.exc_info:
            # Render the traceback now, masked, so handlers never see the raw text.
            formatter = logging.Formatter()
            record.exc_text = self._mask(formatter.formatException(record.exc_info))
            record.exc_info = None
        if masked != message:
            record.msg, record.args = masked, None
        elif record.exc_text:
            record.exc_text = self._mask(record.exc_text)
        return True

    def _mask(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_text:
            entry["exception"] = record.exc_text
        elif record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(level: str, fmt: str, secrets: Iterable[str]) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
        )
    handler.addFilter(SecretMask(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aiogram logs every handled update at INFO; that is noise at our default level.
    logging.getLogger("aiogram.event").setLevel(max(logging.WARNING, root.level))
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
