"""An aiohttp server speaking Telegram's Bot API wire format on loopback.

A real aiogram `Bot` talks to it through
`AiohttpSession(api=TelegramAPIServer.from_base(emulator.base_url))`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from types import TracebackType
from typing import Any, Self

import aiohttp
from aiohttp import BodyPartReader, hdrs, web

from bot.emulator.control_api import control_routes
from bot.emulator.driver import EmulatedUser
from bot.emulator.flood import FloodControl
from bot.emulator.methods import BotApiMethods, MethodHandler, Params
from bot.emulator.models import (
    ApiError,
    CallbackAnswer,
    InjectedFault,
    RecordedRequest,
    UploadedFile,
)
from bot.emulator.world import BotState, TelegramWorld, WebhookConfig

# Parameters aiogram sends as JSON strings inside form encodings.
JSON_FIELDS = frozenset(
    {
        "allowed_updates",
        "caption_entities",
        "commands",
        "entities",
        "link_preview_options",
        "media",
        "reply_markup",
        "reply_parameters",
        "scope",
    }
)
MAX_REQUEST_BYTES = 60 * 1024 * 1024  # above Telegram's 50 MB upload limit
WEBHOOK_REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=10)
IDLE_POLL_INTERVAL = 60.0  # webhook workers sleep until notified; this only bounds the wait


class BotApiEmulator:
    """A fake Telegram: Bot API over HTTP plus a driver for acting as users."""

    def __init__(
        self,
        *,
        enforce_flood_limits: bool = False,
        global_rate: float = 30.0,
        per_chat_rate: float = 1.0,
        webhook_max_attempts: int = 5,
        webhook_retry_delay: float = 0.05,
    ) -> None:
        self.world = TelegramWorld()
        flood_control = FloodControl(global_rate, per_chat_rate) if enforce_flood_limits else None
        self._methods = BotApiMethods(self.world, flood_control, self._on_webhook_changed)
        self.requests: list[RecordedRequest] = []
        self.too_many_requests_count = 0
        self._webhook_max_attempts = webhook_max_attempts
        self._webhook_retry_delay = webhook_retry_delay
        self._outage = False
        self._faults: dict[str, deque[InjectedFault]] = {}
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._client: aiohttp.ClientSession | None = None
        self._webhook_workers: dict[str, asyncio.Task[None]] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._requests_in_flight = 0
        self._last_activity = time.monotonic()

    # --- lifecycle -------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        if self._runner is not None:
            raise RuntimeError("emulator already started")
        self._methods.closing = False
        app = web.Application(client_max_size=MAX_REQUEST_BYTES)
        app.router.add_post("/bot{token}/{method}", self._handle_api_call)
        app.router.add_get("/bot{token}/{method}", self._handle_api_call)
        app.router.add_get("/file/bot{token}/{file_path:.+}", self._handle_file_download)
        app.router.add_routes(control_routes(self))
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        self._runner = runner
        self._port = runner.addresses[0][1]
        self._client = aiohttp.ClientSession(timeout=WEBHOOK_REQUEST_TIMEOUT)

    async def stop(self) -> None:
        # Release long polls first so the HTTP server has no request left to wait for.
        self._methods.closing = True
        self.world.notify()
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        self._webhook_workers.clear()
        if self._client is not None:
            await self._client.close()
            self._client = None
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

    @property
    def base_url(self) -> str:
        if self._port is None:
            raise RuntimeError("emulator not started")
        return f"http://127.0.0.1:{self._port}"

    def register_bot(
        self, token: str, username: str = "rivet_test_bot", first_name: str = "Rivet"
    ) -> None:
        self.world.add_bot(token, username, first_name)

    # --- driver ----------------------------------------------------------------------

    def user(
        self,
        user_id: int,
        first_name: str = "Tech",
        username: str | None = None,
        language_code: str = "en",
        *,
        bot_token: str | None = None,
    ) -> EmulatedUser:
        """A user in a private chat (chat id = user id) with the given or first bot."""
        bot = self.world.bots[bot_token] if bot_token else self.world.default_bot()
        return EmulatedUser(self.world, bot, user_id, first_name, username, language_code)

    async def wait_idle(
        self,
        timeout: float = 5.0,
        quiet: float = 0.05,
    ) -> None:
        """Wait until every update was consumed and no API call arrived for `quiet` seconds.

        Long polls don't count as activity. Raises AssertionError on timeout.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            pending = sum(len(bot.pending_updates) for bot in self.world.bots.values())
            quiet_for = time.monotonic() - self._last_activity
            if not pending and not self._requests_in_flight and quiet_for >= quiet:
                return
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(
                    f"emulator not idle after {timeout}s: {pending} unconsumed updates, "
                    f"{self._requests_in_flight} API calls in flight"
                )
            await self.world.changed.wait(min(remaining, max(quiet - quiet_for, 0.005)))

    # --- records and fault injection --------------------------------------------------

    def calls(self, method: str) -> list[RecordedRequest]:
        wanted = method.lower()
        return [request for request in self.requests if request.method.lower() == wanted]

    async def wait_for_call(
        self,
        method: str,
        count: int = 1,
        timeout: float = 5.0,
    ) -> RecordedRequest:
        """Wait until `method` was called `count` times in total; returns that call."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(calls := self.calls(method)) < count:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"{method} called {len(calls)} times, expected {count}")
            await self.world.changed.wait(remaining)
        return calls[count - 1]

    @property
    def callback_answers(self) -> list[CallbackAnswer]:
        return self._methods.callback_answers

    @property
    def accepted_send_times(self) -> list[float]:
        """`time.monotonic()` of every accepted send (sendMessage, sendPhoto, ..., edits)."""
        return self._methods.accepted_send_times

    def clear_records(self) -> None:
        """Forget recorded calls and counters, e.g. between benchmark rounds."""
        self.requests.clear()
        self._methods.callback_answers.clear()
        self._methods.accepted_send_times.clear()
        self.too_many_requests_count = 0

    def set_outage(self, enabled: bool) -> None:
        """While enabled every Bot API call and download answers 502 Bad Gateway."""
        self._outage = enabled

    def fail_next(
        self,
        method: str,
        status: int,
        description: str,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """Make the next `times` calls of `method` fail with this Telegram error."""
        fault = InjectedFault(status, description, retry_after, remaining=times)
        self._faults.setdefault(method.lower(), deque()).append(fault)

    def _take_fault(self, method: str) -> InjectedFault | None:
        queue = self._faults.get(method.lower())
        if not queue:
            return None
        fault = queue[0]
        fault.remaining -= 1
        if fault.remaining <= 0:
            queue.popleft()
        return fault

    # --- HTTP handlers -----------------------------------------------------------------

    async def _handle_api_call(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        resolved = self._methods.resolve(request.match_info["method"])
        method = resolved[0] if resolved else request.match_info["method"]
        is_long_poll = method == "getUpdates"
        if not is_long_poll:
            self._requests_in_flight += 1
        try:
            params = await read_params(request)
            self.requests.append(RecordedRequest(method, params, time.monotonic(), token))
            self.world.notify()  # wait_for_call sees a long poll as soon as it arrives
            result = await self._call(token, method, resolved, Params(params))
            return web.json_response({"ok": True, "result": result})
        except ApiError as error:
            if error.status == 429:
                self.too_many_requests_count += 1
            return web.json_response(error.payload(), status=error.status)
        finally:
            if not is_long_poll:
                self._requests_in_flight -= 1
                self._last_activity = time.monotonic()
            self.world.notify()

    async def _call(
        self,
        token: str,
        method: str,
        resolved: tuple[str, MethodHandler] | None,
        params: Params,
    ) -> Any:
        bot = self._authorized_bot(token)
        fault = self._take_fault(method)
        if fault is not None:
            raise ApiError(fault.status, fault.description, fault.retry_after)
        if resolved is None:
            raise ApiError(404, "Not Found")
        return await resolved[1](bot, params)

    def _authorized_bot(self, token: str) -> BotState:
        if self._outage:
            raise ApiError(502, "Bad Gateway")
        bot = self.world.bots.get(token)
        if bot is None:
            raise ApiError(401, "Unauthorized")
        return bot

    async def _handle_file_download(self, request: web.Request) -> web.Response:
        try:
            self._authorized_bot(request.match_info["token"])
        except ApiError as error:
            return web.json_response(error.payload(), status=error.status)
        stored = self.world.files_by_path.get(request.match_info["file_path"])
        if stored is None:
            return web.json_response(ApiError(404, "Not Found").payload(), status=404)
        return web.Response(
            body=stored.data, content_type=stored.mime_type or "application/octet-stream"
        )

    # --- webhook delivery ------------------------------------------------------------

    def _on_webhook_changed(self, bot: BotState) -> None:
        worker = self._webhook_workers.pop(bot.token, None)
        if worker is not None:
            worker.cancel()
        if bot.webhook is not None:
            task = asyncio.create_task(self._deliver_webhook_updates(bot, bot.webhook))
            self._webhook_workers[bot.token] = task
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _deliver_webhook_updates(self, bot: BotState, config: WebhookConfig) -> None:
        """POST pending updates one at a time, in order, while this webhook stays set."""
        while bot.webhook is config:
            if not bot.pending_updates:
                await self.world.changed.wait(IDLE_POLL_INTERVAL)
                continue
            update = bot.pending_updates[0]
            await self._post_update(config, update)
            # drop_pending_updates may have emptied the queue meanwhile.
            if bot.pending_updates and bot.pending_updates[0] is update:
                bot.pending_updates.popleft()
            self.world.notify()

    async def _post_update(self, config: WebhookConfig, update: dict[str, Any]) -> bool:
        """Deliver with exponential backoff; like Telegram, give up after bounded attempts."""
        if self._client is None:
            raise RuntimeError("emulator not started")
        headers = {}
        if config.secret_token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = config.secret_token
        for attempt in range(self._webhook_max_attempts):
            if attempt:
                await asyncio.sleep(self._webhook_retry_delay * 2 ** (attempt - 1))
            try:
                async with self._client.post(config.url, json=update, headers=headers) as response:
                    if 200 <= response.status < 300:
                        return True
                    error = f"Wrong response from the webhook: {response.status} {response.reason}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                error = f"Connection error: {exc or type(exc).__name__}"
            config.last_error_date = int(time.time())
            config.last_error_message = error
        return False


async def read_params(request: web.Request) -> dict[str, Any]:
    """Parameters from the query plus a JSON, urlencoded or multipart body."""
    params: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise ApiError(400, "Bad Request: can't parse JSON body") from None
        if not isinstance(body, dict):
            raise ApiError(400, "Bad Request: JSON body must be an object")
        params.update(body)
    elif request.content_type == "multipart/form-data":
        params.update(await _read_multipart(request))
    elif request.body_exists:
        params.update(await request.post())
    for name in JSON_FIELDS & params.keys():
        value = params[name]
        if isinstance(value, str):
            # Left as text if invalid; the method answers Telegram's parse error if it needs it.
            with contextlib.suppress(ValueError):
                params[name] = json.loads(value)
    return params


async def _read_multipart(request: web.Request) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    files: dict[str, UploadedFile] = {}
    async for part in await request.multipart():
        # The Bot API never nests multipart bodies.
        if not isinstance(part, BodyPartReader) or part.name is None:
            continue
        if part.filename is None:
            fields[part.name] = await part.text()
        else:
            content_type = part.headers.get(hdrs.CONTENT_TYPE)
            files[part.name] = UploadedFile(part.filename, content_type, bytes(await part.read()))
    for name, value in fields.items():
        if isinstance(value, str) and value.startswith("attach://"):
            fields[name] = files.pop(value.removeprefix("attach://"), value)
    # Whatever is left was uploaded directly under its field name.
    return {**fields, **files}
