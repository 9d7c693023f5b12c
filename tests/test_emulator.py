"""The Bot API emulator driven by a real aiogram Bot and Dispatcher over loopback."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.filters import Command, CommandStart
from aiogram.types import (
    BotCommand,
    BotCommandScopeChat,
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from aiohttp import web

from bot.emulator import BotApiEmulator, ButtonNotFoundError, EmulatedUser

TOKEN = "42:TEST"
USER_ID = 7
APPROVE_KEYBOARD = InlineKeyboardMarkup(
    inline_keyboard=[[InlineKeyboardButton(text="Approve", callback_data="wo:approve")]]
)


@pytest.fixture
async def emulator() -> AsyncIterator[BotApiEmulator]:
    async with BotApiEmulator() as emu:
        emu.register_bot(TOKEN)
        yield emu


def make_bot(emulator: BotApiEmulator, token: str = TOKEN) -> Bot:
    api = TelegramAPIServer.from_base(emulator.base_url)
    return Bot(token=token, session=AiohttpSession(api=api))


@pytest.fixture
async def bot(emulator: BotApiEmulator) -> AsyncIterator[Bot]:
    bot = make_bot(emulator)
    yield bot
    await bot.session.close()


@pytest.fixture
def user(emulator: BotApiEmulator) -> EmulatedUser:
    return emulator.user(USER_ID, first_name="Dana", username="dana_tech")


def build_dispatcher() -> Dispatcher:
    router = Router()

    @router.message(CommandStart())
    async def start(message: Message) -> None:
        await message.answer(
            f"Welcome, {message.from_user.first_name if message.from_user else ''}"
        )

    @router.message(Command("menu"))
    async def menu(message: Message) -> None:
        await message.answer("Work order #12", reply_markup=APPROVE_KEYBOARD)

    @router.callback_query(F.data == "wo:approve")
    async def approve(query: CallbackQuery) -> None:
        assert isinstance(query.message, Message)
        await query.message.edit_text("Work order #12: <b>approved</b>", parse_mode="HTML")
        await query.answer("Approved")

    @router.message(F.text)
    async def echo(message: Message) -> None:
        await message.answer(f"echo: {message.text}")

    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    return dispatcher


@asynccontextmanager
async def polling(bot: Bot) -> AsyncIterator[None]:
    dispatcher = build_dispatcher()
    task = asyncio.create_task(
        dispatcher.start_polling(bot, handle_signals=False, close_bot_session=False)
    )
    try:
        yield
    finally:
        await dispatcher.stop_polling()
        await task


async def test_polling_round_trip(emulator: BotApiEmulator, bot: Bot, user: EmulatedUser) -> None:
    async with polling(bot):
        update = await user.send_command("start")
        welcome = await user.wait_for_message("Welcome")
        await user.send_text("pump 3 leaks")
        echoed = await user.wait_for_message("echo:")

    assert welcome.text == "Welcome, Dana"
    assert echoed.text == "echo: pump 3 leaks"
    assert [message.text for message in user.messages()] == [welcome.text, echoed.text]
    assert update["message"]["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
    # Message ids are shared per chat: /start=1, welcome=2, text=3, echo=4.
    assert (welcome.message_id, echoed.message_id) == (2, 4)
    polls = emulator.calls("getUpdates")
    assert sorted(polls[0].params["allowed_updates"]) == ["callback_query", "message"]
    assert any("offset" in poll.params for poll in polls)


async def test_button_press_edits_message(
    emulator: BotApiEmulator, bot: Bot, user: EmulatedUser
) -> None:
    async with polling(bot):
        await user.send_command("menu")
        menu = await user.wait_for_message("Work order")
        query_id = await user.press("Approve")
        edited = await user.wait_for_message(lambda message: message.edited)
        await emulator.wait_idle()

    assert menu.buttons == [[("Approve", "wo:approve")]]
    assert edited.message_id == menu.message_id
    assert edited.text == "Work order #12: <b>approved</b>"
    assert edited.buttons == []  # an edit that omits reply_markup drops the keyboard
    assert [(a.callback_query_id, a.text) for a in emulator.callback_answers] == [
        (query_id, "Approved")
    ]


async def test_press_unknown_button_lists_chat(bot: Bot, user: EmulatedUser) -> None:
    await bot.send_message(USER_ID, "Pick one", reply_markup=APPROVE_KEYBOARD)

    with pytest.raises(ButtonNotFoundError, match=r"(?s)'Reject'.*Pick one"):
        await user.press("Reject")


async def test_wait_for_message_timeout_lists_chat(bot: Bot, user: EmulatedUser) -> None:
    await user.send_text("hello")
    await bot.send_message(USER_ID, "something else")

    with pytest.raises(AssertionError, match="'something else'"):
        await user.wait_for_message("never sent", timeout=0.05)


async def test_user_updates_have_telegram_shape(
    emulator: BotApiEmulator, bot: Bot, user: EmulatedUser
) -> None:
    text_update = await user.send_text("first")
    photo_update = await user.send_photo(b"\xff\xd8jpeg", caption="gauge", media_group_id="g1")
    reply_update = await user.reply_to(text_update["message"]["message_id"], "second")
    sent = await bot.send_message(USER_ID, "Approve?", reply_markup=APPROVE_KEYBOARD)
    await user.press("wo:approve")

    updates = await bot.get_updates()
    photo = Update.model_validate(photo_update).message
    reply = Update.model_validate(reply_update).message
    assert photo is not None and photo.photo is not None
    assert len(photo.photo) >= 2 and photo.caption == "gauge" and photo.media_group_id == "g1"
    largest = await bot.download(photo.photo[-1].file_id)
    assert largest is not None and largest.read() == b"\xff\xd8jpeg"
    assert reply is not None and reply.reply_to_message is not None
    assert reply.reply_to_message.text == "first"
    query = updates[-1].callback_query
    assert query is not None and query.data == "wo:approve" and query.from_user.id == USER_ID
    assert isinstance(query.message, Message) and query.message.message_id == sent.message_id
    assert [update.update_id for update in updates] == [1, 2, 3, 4]


async def test_voice_note_download_returns_bytes(bot: Bot, user: EmulatedUser) -> None:
    audio = b"OggS\x00\x02fake-opus-payload"
    update = await user.send_voice(audio, duration=3)

    voice = update["message"]["voice"]
    file = await bot.get_file(voice["file_id"])
    downloaded = await bot.download(voice["file_id"])

    assert (voice["duration"], voice["mime_type"], voice["file_size"]) == (
        3,
        "audio/ogg",
        len(audio),
    )
    assert file.file_path is not None and file.file_path.startswith("voice/file_")
    assert file.file_path.endswith(".oga")
    assert downloaded is not None and downloaded.read() == audio


async def test_multipart_send_document_round_trip(
    emulator: BotApiEmulator, bot: Bot, user: EmulatedUser
) -> None:
    manual = b"%PDF-1.7 pump manual"
    sent = await bot.send_document(
        USER_ID, BufferedInputFile(manual, filename="manual.pdf"), caption="Pump manual"
    )
    resent = await bot.send_document(USER_ID, sent.document.file_id if sent.document else "")

    assert sent.document is not None
    assert (sent.document.file_name, sent.document.mime_type) == ("manual.pdf", "application/pdf")
    assert sent.document.file_size == len(manual)
    assert sent.from_user is not None and sent.from_user.id == 42 and sent.from_user.is_bot
    shown = user.last_message()
    assert shown.document is not None and shown.document.data == manual
    assert resent.document is not None and resent.document.file_id == sent.document.file_id
    assert user.messages()[0].caption == "Pump manual"
    assert emulator.calls("sendDocument")[0].params["caption"] == "Pump manual"


async def test_voice_and_photo_uploads(bot: Bot, user: EmulatedUser) -> None:
    voice = await bot.send_voice(USER_ID, BufferedInputFile(b"OggS", "note.ogg"), duration=2)
    photo = await bot.send_photo(USER_ID, BufferedInputFile(b"PNG", "p.png"), caption="x")

    assert voice.voice is not None and voice.voice.duration == 2
    assert photo.photo is not None and photo.photo[-1].width > photo.photo[0].width
    messages = user.messages()
    assert messages[0].voice is not None and messages[0].voice.data == b"OggS"
    assert messages[1].photo is not None and messages[1].photo.data == b"PNG"


async def test_edit_and_delete_errors_match_telegram(bot: Bot, user: EmulatedUser) -> None:
    sent = await bot.send_message(USER_ID, "Status: open", reply_markup=APPROVE_KEYBOARD)

    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text(
            "Status: open",
            chat_id=USER_ID,
            message_id=sent.message_id,
            reply_markup=APPROVE_KEYBOARD,
        )
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("x", chat_id=USER_ID, message_id=999)
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(USER_ID, "   ")
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(USER_ID, "x" * 4097)
    await bot.edit_message_reply_markup(chat_id=USER_ID, message_id=sent.message_id)
    assert user.last_message().buttons == [] and user.last_message().edited
    assert await bot.delete_message(USER_ID, sent.message_id)
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(USER_ID, sent.message_id)
    assert user.messages() == []
    assert [message.deleted for message in user.messages(include_deleted=True)] == [True]


async def test_blocked_user_gives_forbidden(bot: Bot, user: EmulatedUser) -> None:
    user.block_bot()
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(USER_ID, "reminder")

    user.unblock_bot()
    await bot.send_message(USER_ID, "reminder")
    updates = await bot.get_updates()
    assert [u.my_chat_member.new_chat_member.status for u in updates if u.my_chat_member] == [
        "kicked",
        "member",
    ]


async def test_flood_limits_raise_retry_after() -> None:
    async with BotApiEmulator(enforce_flood_limits=True, global_rate=3, per_chat_rate=1) as emu:
        emu.register_bot(TOKEN)
        bot = make_bot(emu)
        try:
            await bot.send_message(1, "first")
            with pytest.raises(TelegramRetryAfter) as per_chat:
                await bot.send_message(1, "too soon for this chat")
            await bot.send_message(2, "other chat")
            await bot.send_message(3, "third chat")
            with pytest.raises(TelegramRetryAfter) as global_limit:
                await bot.send_message(4, "over the global rate")
        finally:
            await bot.session.close()

    assert per_chat.value.retry_after == 1
    assert global_limit.value.retry_after == 1
    assert emu.too_many_requests_count == 2
    assert len(emu.accepted_send_times) == 3


async def test_second_poller_gets_first_one_conflict(emulator: BotApiEmulator, bot: Bot) -> None:
    second_instance = make_bot(emulator)
    try:
        first_poll = asyncio.create_task(bot.get_updates(timeout=5))
        await emulator.wait_for_call("getUpdates")
        assert await second_instance.get_updates(timeout=0) == []
        with pytest.raises(TelegramConflictError, match="terminated by other getUpdates"):
            await first_poll
    finally:
        await second_instance.session.close()


async def test_long_poll_wakes_on_new_update(bot: Bot, user: EmulatedUser) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.05)
    started = time.monotonic()
    await user.send_text("now")

    updates = await poll
    assert time.monotonic() - started < 1
    assert [u.message.text for u in updates if u.message] == ["now"]
    assert await bot.get_updates(offset=updates[-1].update_id + 1) == []


async def test_webhook_delivers_with_secret_and_retries(
    emulator: BotApiEmulator, bot: Bot, user: EmulatedUser
) -> None:
    received: list[tuple[str | None, dict[str, Any]]] = []

    async def endpoint(request: web.Request) -> web.Response:
        received.append(
            (request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json())
        )
        # The first attempt fails, so the emulator has to retry.
        return web.Response(status=500 if len(received) == 1 else 200)

    app = web.Application()
    app.router.add_post("/tg/webhook", endpoint)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/tg/webhook"
        await bot.set_webhook(url, secret_token="s3cret")
        await user.send_text("one")
        await user.send_text("two")
        await emulator.wait_idle()
        with pytest.raises(TelegramConflictError, match="webhook is active"):
            await bot.get_updates()
        info = await bot.get_webhook_info()
    finally:
        await runner.cleanup()

    texts = [body["message"]["text"] for _secret, body in received]
    assert texts == ["one", "one", "two"]
    assert {secret for secret, _body in received} == {"s3cret"}
    assert info.url == url and info.pending_update_count == 0
    assert info.last_error_message is not None and "500" in info.last_error_message


async def test_outage_and_injected_faults(emulator: BotApiEmulator, bot: Bot) -> None:
    emulator.set_outage(True)
    with pytest.raises(TelegramServerError, match="Bad Gateway"):
        await bot.get_me()
    emulator.set_outage(False)
    emulator.fail_next("sendmessage", 400, "Bad Request: chat not found")
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(USER_ID, "hi")
    emulator.fail_next("sendMessage", 429, "Too Many Requests: retry after 7", retry_after=7)
    with pytest.raises(TelegramRetryAfter) as retry:
        await bot.send_message(USER_ID, "hi")

    assert retry.value.retry_after == 7
    assert (await bot.send_message(USER_ID, "hi")).text == "hi"
    assert (await bot.get_me()).username == "rivet_test_bot"


async def test_unknown_token_and_raw_wire_formats(emulator: BotApiEmulator) -> None:
    stranger = make_bot(emulator, token="99:NOPE")
    with pytest.raises(TelegramUnauthorizedError):
        await stranger.get_me()
    await stranger.session.close()

    async with aiohttp.ClientSession(emulator.base_url) as http:
        async with http.post(f"/bot{TOKEN}/GETME") as response:
            assert (await response.json())["result"]["id"] == 42
        async with http.post(f"/bot{TOKEN}/noSuchMethod") as response:
            assert response.status == 404
            assert await response.json() == {
                "ok": False,
                "error_code": 404,
                "description": "Not Found",
            }
        json_body = {
            "chat_id": USER_ID,
            "text": "via json",
            "reply_markup": APPROVE_KEYBOARD.model_dump(exclude_none=True),
        }
        async with http.post(f"/bot{TOKEN}/sendMessage", json=json_body) as response:
            assert (await response.json())["result"]["reply_markup"]["inline_keyboard"][0][0][
                "text"
            ] == "Approve"
        form = aiohttp.FormData({"chat_id": str(USER_ID)})
        form.add_field("document", b"direct part", filename="notes.txt")
        async with http.post(f"/bot{TOKEN}/sendDocument", data=form) as response:
            document = (await response.json())["result"]["document"]
            assert (document["file_name"], document["mime_type"]) == ("notes.txt", "text/plain")


async def test_commands_are_stored_per_scope(bot: Bot) -> None:
    chat_scope = BotCommandScopeChat(chat_id=USER_ID)
    await bot.set_my_commands([BotCommand(command="start", description="Start")])
    await bot.set_my_commands(
        [BotCommand(command="admin", description="Admin tools")], scope=chat_scope
    )

    assert [c.command for c in await bot.get_my_commands()] == ["start"]
    assert [c.command for c in await bot.get_my_commands(scope=chat_scope)] == ["admin"]
    await bot.delete_my_commands(scope=chat_scope)
    assert await bot.get_my_commands(scope=chat_scope) == []
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="Bad Command", description="x")])


async def test_http_driver_api(emulator: BotApiEmulator, bot: Bot) -> None:
    async with polling(bot), aiohttp.ClientSession(emulator.base_url) as http:
        async with http.post(f"/_emulator/users/{USER_ID}/messages", json={"text": "/menu"}):
            pass
        await emulator.user(USER_ID).wait_for_message("Work order", timeout=2)
        async with http.post(f"/_emulator/users/{USER_ID}/press", json={"button": "Approve"}) as r:
            assert "callback_query_id" in await r.json()
        await emulator.wait_idle()
        async with http.get(f"/_emulator/chats/{USER_ID}") as response:
            messages = (await response.json())["messages"]

    assert [(m["text"], m["edited"]) for m in messages] == [
        ("Work order #12: <b>approved</b>", True)
    ]


async def test_stop_releases_pending_long_poll(emulator: BotApiEmulator, bot: Bot) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=30))
    await emulator.wait_for_call("getUpdates")
    started = time.monotonic()

    await emulator.stop()

    assert await poll == []
    assert time.monotonic() - started < 1
