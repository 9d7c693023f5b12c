"""Chat with Print in chat: /print with a PDF or photo → analysis, questions about the open print,
/print done, /prints, the prints of an asset; Pro and Enterprise only (TierGate).

The open print's id lives in the FSM data (durable: database or Redis) and the question history
in the database, so a session survives a restart. Registered before the work-order router so
documents, /print captions and questions during a session are caught here first.
"""

from __future__ import annotations

import logging
from contextlib import suppress
from dataclasses import asdict, dataclass
from typing import Any

from aiogram import Bot, F, Router
from aiogram.enums import ChatAction
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from bot import keyboards, texts
from bot.keyboards import AssetAction, PrintAction
from bot.services.asset_search import is_clear_winner, plausible
from bot.services.onboarding import UserView
from bot.services.print_analysis import PrintDocument, PrintRejected
from bot.services.prints import PrintGone, PrintInfo, PrintService, PrintStage
from bot.states import PrintChat
from handlers.billing import answer_refusal
from handlers.gates import takes
from handlers.work_orders import show_asset_card
from integrations.cmms.port import CmmsError, CmmsPort

log = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 4096
MAX_SUMMARY_CHARS = 2500
MAX_ANSWER_CHARS = 3500
DONE_WORDS = frozenset({"done", "stop", "end", "close", "finish"})
KEPT_DATA = ("last_asset",)  # the work-order flow's memory survives a print session


@dataclass(frozen=True, slots=True)
class Upload:
    """A file a message carries, as Telegram describes it (nothing downloaded yet)."""

    file_id: str
    file_name: str | None
    mime_type: str | None
    size: int | None

    @classmethod
    def of(cls, message: Message) -> Upload | None:
        if message.document is not None:
            document = message.document
            return cls(document.file_id, document.file_name, document.mime_type, document.file_size)
        if message.photo:
            largest = message.photo[-1]
            return cls(largest.file_id, None, "image/jpeg", largest.file_size)
        return None


# --- session state ---------------------------------------------------------------------------
async def set_print_state(state: FSMContext, new_state: State | None, **values: Any) -> None:
    data = await state.get_data()
    await state.set_state(new_state)
    await state.set_data({**{k: v for k, v in data.items() if k in KEPT_DATA}, **values})


async def open_print(state: FSMContext, print_id: int) -> None:
    await set_print_state(state, PrintChat.active, print_id=print_id)


async def end_session(message: Message, state: FSMContext) -> None:
    current = await state.get_state()
    if current not in {s.state for s in PrintChat.__states__}:
        await message.answer(texts.PRINT_NONE_OPEN)
        return
    await set_print_state(state, None)
    await message.answer(texts.PRINT_DONE)


async def edit(message: Message, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    with suppress(TelegramBadRequest):  # "message is not modified"
        await message.edit_text(text[:MAX_MESSAGE_CHARS], reply_markup=markup)


# --- upload ----------------------------------------------------------------------------------
async def print_command(
    message: Message,
    command: CommandObject,
    state: FSMContext,
    user: UserView,
    bot: Bot,
    prints: PrintService,
    cmms: CmmsPort,
) -> None:
    args = (command.args or "").strip()
    if args.lower() in DONE_WORDS:
        await end_session(message, state)
        return
    upload = Upload.of(message)
    if upload is not None:  # /print as the caption of the file
        await receive(message, state, user, bot, prints, cmms, upload, asset_query=args or None)
        return
    refusal = await prints.may_upload(user.id, user.tier)
    if refusal is not None:
        await answer_refusal(message, refusal)
        return
    await set_print_state(state, PrintChat.waiting_file, asset_query=args or None)
    await message.answer(texts.PRINT_SEND_FILE)


async def file_after_command(
    message: Message,
    state: FSMContext,
    user: UserView,
    bot: Bot,
    prints: PrintService,
    cmms: CmmsPort,
) -> None:
    upload = Upload.of(message)
    assert upload is not None
    query = (await state.get_data()).get("asset_query")
    await receive(message, state, user, bot, prints, cmms, upload, asset_query=query)


async def still_waiting(message: Message) -> None:
    await message.answer(texts.PRINT_SEND_FILE)


async def is_it_a_print(message: Message, state: FSMContext) -> None:
    """A document (or a photo during a session) without /print: ask before doing anything."""
    upload = Upload.of(message)
    assert upload is not None
    await state.update_data(pending_print=asdict(upload))
    await message.answer(texts.PRINT_IS_IT_A_PRINT, reply_markup=keyboards.print_question())


async def receive(
    message: Message,
    state: FSMContext,
    user: UserView,
    bot: Bot,
    prints: PrintService,
    cmms: CmmsPort,
    upload: Upload,
    *,
    asset_query: str | None,
    progress: Message | None = None,
) -> None:
    """Gate, download, read, analyze and keep one print, showing progress in one message."""
    refusal = await prints.may_upload(user.id, user.tier)
    if refusal is not None:
        await answer_refusal(message, refusal)
        return
    if prints.too_big(upload.size):
        too_big = texts.print_rejected(texts.print_too_big(prints.max_bytes // (1024 * 1024)))
        if progress is not None:
            await edit(progress, too_big)
        else:
            await message.answer(too_big)
        return
    if progress is not None:
        await edit(progress, texts.PRINT_READING)
    else:
        progress = await message.answer(texts.PRINT_READING)
    try:
        downloaded = await bot.download(upload.file_id)
    except TelegramAPIError:
        log.warning("print download failed", exc_info=True)
        await edit(progress, texts.PRINT_DOWNLOAD_FAILED)
        return
    assert downloaded is not None
    data = downloaded.read()

    async def show_stage(stage: PrintStage, document: PrintDocument | None) -> None:
        if stage is PrintStage.ANALYZING and document is not None:
            await edit(
                progress,
                texts.print_analyzing(len(document.pages), prints.analyzer.vision_enabled),
            )
        elif stage is PrintStage.SAVING:
            await edit(progress, texts.PRINT_SAVING)

    try:
        result = await prints.ingest(
            owner_id=user.id,
            data=data,
            file_name=upload.file_name,
            mime_type=upload.mime_type,
            progress=show_stage,
        )
    except PrintRejected as rejected:
        await edit(progress, texts.print_rejected(rejected.message))
        return
    analysis = result.analysis
    await edit(
        progress,
        texts.print_analysis(
            result.print.file_name,
            analysis.summary[:MAX_SUMMARY_CHARS],
            analysis.components,
            analysis.ratings,
            analysis.note,
            listed=not analysis.used_vision,
        ),
        keyboards.print_card(result.print.id, can_file=not asset_query),
    )
    await open_print(state, result.print.id)
    if asset_query:
        await find_asset(message, state, prints, cmms, result.print, asset_query)


async def pending_answer(
    callback: CallbackQuery,
    callback_data: PrintAction,
    state: FSMContext,
    user: UserView,
    bot: Bot,
    prints: PrintService,
    cmms: CmmsPort,
) -> None:
    message = callback.message
    raw = (await state.get_data()).get("pending_print")
    if not isinstance(message, Message) or raw is None:
        await callback.answer(texts.STALE_BUTTON)
        return
    await callback.answer()
    await state.update_data(pending_print=None)
    if callback_data.action == "no":
        await edit(message, texts.PRINT_NOT_A_PRINT)
        return
    upload = Upload(**raw)
    await receive(
        message, state, user, bot, prints, cmms, upload, asset_query=None, progress=message
    )


# --- the asset a print belongs to -------------------------------------------------------------
async def find_asset(
    message: Message,
    state: FSMContext,
    prints: PrintService,
    cmms: CmmsPort,
    info: PrintInfo,
    query: str,
) -> None:
    try:
        candidates = await cmms.search_assets(query)
    except CmmsError:
        await message.answer(texts.CMMS_DOWN)
        return
    if is_clear_winner(candidates):
        await file_on(message, state, prints, cmms, info.id, candidates[0].asset_id)
        return
    shown = plausible(candidates)
    if shown:
        await open_print(state, info.id)
        await message.answer(
            texts.PRINT_WHICH_ASSET, reply_markup=keyboards.print_asset_choice(info.id, shown)
        )
        return
    await set_print_state(state, PrintChat.typing_asset, print_id=info.id)
    await message.answer(
        texts.print_no_asset_match(query), reply_markup=keyboards.print_asset_choice(info.id, [])
    )


async def file_on(
    message: Message,
    state: FSMContext,
    prints: PrintService,
    cmms: CmmsPort,
    print_id: int,
    asset_id: str,
) -> None:
    """Tie the print to the asset, attach it in the CMMS, and show the asset's card."""
    try:
        asset = await cmms.get_asset(asset_id)
        result = await prints.attach_to_asset(print_id, asset.id, asset.name)
    except CmmsError:
        await message.answer(texts.CMMS_DOWN)
        return
    except PrintGone:
        await set_print_state(state, None)
        await message.answer(texts.PRINT_GONE)
        return
    await open_print(state, print_id)
    if result.will_retry:
        await message.answer(texts.print_attach_later(asset.name, result.problem))
        return
    if result.problem is not None:
        await message.answer(texts.print_attach_failed(asset.name, result.problem))
        return
    await message.answer(texts.print_attached(result.print.file_name, asset.name))
    with suppress(CmmsError):
        await show_asset_card(message, cmms, asset.id)


async def asset_typed(
    message: Message, state: FSMContext, prints: PrintService, cmms: CmmsPort, user: UserView
) -> None:
    assert message.text is not None
    print_id = (await state.get_data()).get("print_id")
    try:
        info = await prints.get(int(print_id or 0), user.id)
    except PrintGone:
        await set_print_state(state, None)
        await message.answer(texts.PRINT_GONE)
        return
    await find_asset(message, state, prints, cmms, info, message.text)


# --- questions -------------------------------------------------------------------------------
async def question(
    message: Message, state: FSMContext, user: UserView, bot: Bot, prints: PrintService
) -> None:
    assert message.text is not None
    refusal = prints.may_ask(user.tier)
    if refusal is not None:
        await answer_refusal(message, refusal)
        return
    print_id = (await state.get_data()).get("print_id")
    if print_id is None:
        await set_print_state(state, None)
        await message.answer(texts.PRINT_NONE_OPEN)
        return
    await bot.send_chat_action(message.chat.id, ChatAction.TYPING)
    try:
        answer = await prints.ask(int(print_id), user.id, message.text)
    except (PrintGone, PrintRejected):
        await set_print_state(state, None)
        await message.answer(texts.PRINT_GONE)
        return
    await message.answer(
        texts.print_answer(answer.text[:MAX_ANSWER_CHARS], answer.pages, answer.safety_reminder)
    )


# --- lists and buttons -----------------------------------------------------------------------
def _listing(infos: list[PrintInfo]) -> InlineKeyboardMarkup:
    return keyboards.print_list(
        [
            (info.id, texts.print_button(info.file_name, info.created_at, info.asset_name))
            for info in infos
        ]
    )


async def my_prints(message: Message, user: UserView, prints: PrintService) -> None:
    refusal = prints.may_ask(user.tier)
    if refusal is not None:
        await answer_refusal(message, refusal)
        return
    mine = await prints.mine(user.id)
    if not mine:
        await message.answer(texts.NO_PRINTS)
        return
    await message.answer(texts.my_prints_header(len(mine)), reply_markup=_listing(mine))


async def asset_prints(
    callback: CallbackQuery, callback_data: AssetAction, cmms: CmmsPort, prints: PrintService
) -> None:
    message = callback.message
    if not isinstance(message, Message):
        await callback.answer(texts.STALE_BUTTON)
        return
    await callback.answer()
    try:
        asset = await cmms.get_asset(callback_data.asset_id)
    except CmmsError:
        await message.answer(texts.CMMS_DOWN)
        return
    filed = await prints.for_asset(asset.id)
    await message.answer(
        texts.asset_prints(asset.name, len(filed)), reply_markup=_listing(filed) if filed else None
    )


async def print_button(
    callback: CallbackQuery,
    callback_data: PrintAction,
    state: FSMContext,
    user: UserView,
    prints: PrintService,
    cmms: CmmsPort,
) -> None:
    message = callback.message
    if not isinstance(message, Message):
        await callback.answer(texts.STALE_BUTTON)
        return
    action = callback_data.action
    if action == "done":
        await callback.answer()
        await end_session(message, state)
        return
    refusal = prints.may_ask(user.tier)
    if refusal is not None:
        await callback.answer()
        await answer_refusal(message, refusal)
        return
    try:
        info = await prints.get(callback_data.print_id, user.id)
    except PrintGone:
        await callback.answer(texts.PRINT_GONE, show_alert=True)
        return
    await callback.answer()
    if action == "open":
        await open_print(state, info.id)
        await message.answer(
            texts.print_opened(info.file_name, info.summary[:MAX_SUMMARY_CHARS]),
            reply_markup=keyboards.print_card(info.id, can_file=info.asset_id is None),
        )
    elif action == "asset":
        await set_print_state(state, PrintChat.typing_asset, print_id=info.id)
        await message.answer(texts.PRINT_TYPE_ASSET)
    elif action == "pick":
        if callback_data.asset_id == keyboards.NONE_OF_THESE:
            await open_print(state, info.id)
            await edit(message, texts.PRINT_NOT_FILED)
            return
        await edit(message, texts.PRINT_WHICH_ASSET)  # the buttons go: one choice per print
        await file_on(message, state, prints, cmms, info.id, callback_data.asset_id)


# --- wiring ----------------------------------------------------------------------------------
def create_router() -> Router:
    router = Router(name=__name__)
    # Only linked technicians reach these handlers; strangers fall through to the fallback.
    router.message.filter(_linked_user, takes(PrintChat, documents=True))
    router.callback_query.filter(_linked_user)
    free_text = F.text & ~F.text.startswith("/")
    router.message.register(print_command, Command("print"))
    router.message.register(my_prints, Command("prints"))
    router.message.register(file_after_command, PrintChat.waiting_file, F.document | F.photo)
    router.message.register(still_waiting, PrintChat.waiting_file, free_text)
    router.message.register(is_it_a_print, F.document)
    router.message.register(is_it_a_print, PrintChat.active, F.photo)
    router.message.register(asset_typed, PrintChat.typing_asset, free_text)
    router.message.register(question, PrintChat.active, free_text)
    router.callback_query.register(pending_answer, PrintAction.filter(F.action.in_({"yes", "no"})))
    router.callback_query.register(print_button, PrintAction.filter())
    router.callback_query.register(asset_prints, AssetAction.filter(F.action == "prints"))
    return router


async def _linked_user(_: object, user: UserView | None) -> bool:
    return user is not None
