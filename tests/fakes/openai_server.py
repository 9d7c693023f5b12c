"""A fake OpenAI-compatible HTTP server on 127.0.0.1 for tests that drive the real openai SDK.

It follows the wire contract the SDK expects (see the AI-stack notes): ``POST /v1/chat/completions``
returns a ``chat.completion`` object and ``POST /v1/audio/transcriptions`` takes a multipart upload
and returns ``{"text": ...}``. Every request is recorded so tests can assert what was sent, and
``fail_mode`` reproduces the failures the application must survive.

Usage::

    async with FakeOpenAI() as fake:
        fake.chat_reply = {"title": "Fix leak", ...}
        client = openai.AsyncOpenAI(api_key="test", base_url=fake.base_url)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, NamedTuple, Self

from aiohttp import BodyPartReader, web

FailMode = Literal["500", "429", "timeout", "invalid_json", "truncated", "refusal"]
ChatReply = str | dict[str, Any] | Callable[[dict[str, Any]], str]

REFUSAL_TEXT = "I'm sorry, but I can't help with that request."


@dataclass(frozen=True, slots=True)
class UploadedFile:
    filename: str | None
    content_type: str | None
    data: bytes


class RecordedRequest(NamedTuple):
    """One request as the server saw it: JSON body or multipart form fields, plus uploads."""

    path: str
    body: dict[str, Any]
    files: dict[str, UploadedFile]


class FakeOpenAI:
    """In-process OpenAI-compatible server; configure the public attributes between requests."""

    def __init__(self, *, hang_seconds: float = 5.0) -> None:
        self.chat_reply: ChatReply = "OK"
        self.transcription_text: str = ""
        self.fail_mode: FailMode | None = None
        # How many upcoming requests fail_mode applies to; None means every request.
        self.fail_times: int | None = None
        # "timeout" mode holds the response this long, which must exceed the client's timeout.
        self.hang_seconds = hang_seconds
        self.requests: list[RecordedRequest] = []
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._stopping = asyncio.Event()

    @property
    def base_url(self) -> str:
        if self._port is None:
            raise RuntimeError("FakeOpenAI is not started")
        return f"http://127.0.0.1:{self._port}/v1"

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == "/v1/chat/completions"]

    @property
    def image_urls(self) -> list[str]:
        """Every ``image_url`` content part sent in chat requests (data URLs for vision)."""
        urls: list[str] = []
        for request in self.chat_requests:
            for message in request.body.get("messages", []):
                content = message.get("content")
                if not isinstance(content, list):
                    continue
                for part in content:
                    if isinstance(part, dict) and part.get("type") == "image_url":
                        urls.append(part["image_url"]["url"])
        return urls

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._chat_completions)
        app.router.add_post("/v1/audio/transcriptions", self._transcriptions)
        # A short shutdown timeout keeps stop() fast even if a "timeout"-mode handler is pending.
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        self._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    def _take_failure(self) -> FailMode | None:
        if self.fail_mode is None:
            return None
        if self.fail_times is not None:
            if self.fail_times <= 0:
                return None
            self.fail_times -= 1
        return self.fail_mode

    async def _transport_failure(self, mode: FailMode | None) -> web.Response | None:
        """Failures that happen before any content: HTTP errors and a hung response."""
        if mode == "500":
            return _error_response(500, "The server had an error processing your request.")
        if mode == "429":
            return _error_response(429, "Rate limit reached.", headers={"retry-after-ms": "10"})
        if mode == "timeout":
            # Wakes early when the server stops so shutdown does not wait for the full hang.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.hang_seconds)
            return _error_response(504, "Fake server hung on purpose.")
        return None

    async def _chat_completions(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(RecordedRequest(request.path, body, {}))
        mode = self._take_failure()
        failure = await self._transport_failure(mode)
        if failure is not None:
            return failure

        content = self._render_chat_reply(body)
        message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
        finish_reason = "stop"
        if mode == "invalid_json":
            message["content"] = "Sure! Here is the work order: {title: pump 3"
        elif mode == "truncated":
            message["content"] = content[: max(1, len(content) // 2)]
            finish_reason = "length"
        elif mode == "refusal":
            message["content"] = None
            message["refusal"] = REFUSAL_TEXT
        return web.json_response(
            {
                "id": f"chatcmpl-fake{len(self.requests)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "fake-model"),
                "choices": [{"index": 0, "finish_reason": finish_reason, "message": message}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
            }
        )

    def _render_chat_reply(self, body: dict[str, Any]) -> str:
        reply = self.chat_reply
        if callable(reply):
            return reply(body)
        if isinstance(reply, dict):
            return json.dumps(reply)
        return reply

    async def _transcriptions(self, request: web.Request) -> web.Response:
        fields: dict[str, Any] = {}
        files: dict[str, UploadedFile] = {}
        reader = await request.multipart()
        async for part in reader:
            if not isinstance(part, BodyPartReader) or part.name is None:
                continue
            data = await part.read()
            if part.filename is not None:
                content_type = part.headers.get("Content-Type")
                files[part.name] = UploadedFile(part.filename, content_type, bytes(data))
            else:
                fields[part.name] = bytes(data).decode("utf-8")
        self.requests.append(RecordedRequest(request.path, fields, files))
        failure = await self._transport_failure(self._take_failure())
        if failure is not None:
            return failure
        return web.json_response({"text": self.transcription_text})


def _error_response(
    status: int, message: str, *, headers: dict[str, str] | None = None
) -> web.Response:
    error = {"message": message, "type": "server_error", "param": None, "code": None}
    return web.json_response({"error": error}, status=status, headers=headers)
