"""Problem reports → confirmed work orders (text, voice, photos), and the technician's work."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from aiogram import Bot, F, Router
from aiogram.enums import ChatAction
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from bot import keyboards, texts
from bot.domain import AssetCandidate, Priority, WorkOrderSource, WorkOrderStatus
from bot.keyboards import AssetAction, AssetPick, DraftAction, WorkOrderAction
from bot.services.asset_search import is_clear_winner, plausible
from bot.services.onboarding import UserView
from bot.services.tiers import Feature, TierGate
from bot.services.work_orders import (
    WORK_ORDER_NUMBER,
    Draft,
    PendingFile,
    WorkOrderIntake,
    WorkOrderWriter,
    WriteOutcome,
    completion_note,
    new_work_order,
    order_by_urgency,
)
from bot.settings import Settings
from bot.states import Report, WorkUpdate
from handlers.billing import answer_refusal
from integrations.cmms.port import CmmsError, CmmsPort, WorkOrder
from integrations.speech import Transcriber, TranscriptionFailed

TELEGRAM_DOWNLOAD_LIMIT = 20 * 1024 * 1024
PAGE_SIZE = 5
ALBUM_SETTLE_S = 1.0

Target = Message | CallbackQuery


# --- shared steps ---------------------------------------------------------------------------
async def show(target: Target, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    """Answer a message, or edit the message whose button was pressed (cards change in place)."""
    if isinstance(target, CallbackQuery):
        if isinstance(target.message, Message):
            await target.message.edit_text(text, reply_markup=markup)
        await target.answer()
    else:
        await target.answer(text, reply_markup=markup)


async def load_draft(state: FSMContext, draft_id: int | None = None) -> Draft | None:
    data = await state.get_data()
    raw = data.get("draft")
    if raw is None:
        return None
    draft = Draft.from_state(raw)
    if draft_id is not None and draft.message_id != draft_id:
        return None
    return draft


async def save_draft(state: FSMContext, draft: Draft) -> None:
    await state.update_data(draft=draft.to_state())


def remembered_asset(data: dict[str, Any]) -> AssetCandidate | None:
    raw = data.get("last_asset")
    return AssetCandidate(**raw) if raw else None


async def begin_report(
    target: Message,
    state: FSMContext,
    intake: WorkOrderIntake,
    user: UserView,
    *,
    text: str,
    source: WorkOrderSource,
    transcript: str | None = None,
    photo_file_ids: list[str] | None = None,
) -> None:
    """The one flow every report goes through, whatever it started as."""
    data = await state.get_data()
    preset = data.get("preset_asset")
    understanding = await intake.understand(
        text,
        chat_id=target.chat.id,
        message_id=target.message_id,
        source=source,
        last_asset=remembered_asset(data),
        default_location=user.home_location,
        transcript=transcript,
    )
    draft = understanding.draft
    draft.photo_file_ids.extend(photo_file_ids or data.get("photo_file_ids", []))
    if preset:
        draft = draft.with_asset(AssetCandidate(**preset))
    # A new report replaces whatever was in progress; only the remembered asset stays.
    kept = {k: v for k, v in data.items() if k == "last_asset"}
    data = {**kept, "draft": draft.to_state()}
    if draft.asset_id is None and understanding.candidates:
        await set_state_and_data(state, Report.choosing_asset, data)
        await target.answer(
            texts.WHICH_ASSET,
            reply_markup=keyboards.asset_choice(draft.message_id, understanding.candidates),
        )
    elif draft.asset_id is None and draft.asset_mention:
        await set_state_and_data(state, Report.typing_asset, data)
        await target.answer(
            texts.no_asset_match(draft.asset_mention),
            reply_markup=keyboards.no_asset_found(draft.message_id),
        )
    else:
        await check_duplicate_then_confirm(target, state, intake, draft, data=data)


async def set_state_and_data(state: FSMContext, new_state: State, data: dict[str, Any]) -> None:
    """One storage write where the storage offers it (the database one: one commit), else
    the data then the state, as two writes."""
    combined = getattr(state.storage, "set_state_and_data", None)
    if combined is not None:
        await combined(state.key, new_state, data)
    else:
        await state.set_data(data)
        await state.set_state(new_state)


async def check_duplicate_then_confirm(
    target: Target,
    state: FSMContext,
    intake: WorkOrderIntake,
    draft: Draft,
    *,
    data: dict[str, Any] | None = None,
) -> None:
    """`data`: the FSM data to store with the next state (a new report); None keeps it."""
    existing = await intake.possible_duplicate(draft)
    if existing is not None:
        if data is None:
            await state.set_state(Report.duplicate_check)
        else:
            await set_state_and_data(state, Report.duplicate_check, data)
        created = existing.created_at.strftime("%b %d")
        await show(
            target,
            texts.possible_duplicate(existing.number, existing.title, created),
            keyboards.duplicate_choice(draft.message_id, existing),
        )
        return
    await show_card(target, state, draft, data=data)


async def show_card(
    target: Target, state: FSMContext, draft: Draft, *, data: dict[str, Any] | None = None
) -> None:
    if data is not None:  # holds the draft already
        await set_state_and_data(state, Report.confirming, data)
    else:
        await state.set_state(Report.confirming)
        if await load_draft(state) != draft:  # a read from the cache; writes cost a commit
            await save_draft(state, draft)
    await show(target, card_text(draft), keyboards.confirmation(draft.message_id))


def card_text(draft: Draft) -> str:
    return texts.draft_card(
        draft.title,
        draft.asset_name,
        draft.priority,
        draft.description,
        draft.location,
        len(draft.photo_file_ids),
        draft.safety,
    )


async def finish_report(state: FSMContext, draft: Draft) -> None:
    """Forget the draft, remember the asset so "same pump again" works next time."""
    last = None
    if draft.asset_id and draft.asset_name:
        last = {"asset_id": draft.asset_id, "name": draft.asset_name, "tag": None, "score": 100.0}
    await state.clear()
    if last:
        await state.set_data({"last_asset": last})


def outcome_text(outcome: WriteOutcome, done: Callable[[WorkOrder], str]) -> str:
    if outcome.work_order is not None:
        return done(outcome.work_order)
    if outcome.problem:
        return outcome.problem
    return texts.SAVED_WILL_SYNC


async def refused(message: Message, user: UserView, tiers: TierGate, feature: Feature) -> bool:
    """Tell a user whose plan doesn't include `feature` how to get it; True when refused."""
    refusal = tiers.check(user.tier, feature)
    if refusal is None:
        return False
    await answer_refusal(message, refusal)
    return True


# --- reports --------------------------------------------------------------------------------
async def text_report(
    message: Message, state: FSMContext, intake: WorkOrderIntake, user: UserView, tiers: TierGate
) -> None:
    if await refused(message, user, tiers, Feature.WORK_ORDERS):
        return
    assert message.text is not None
    await begin_report(
        message, state, intake, user, text=message.text, source=WorkOrderSource.TELEGRAM_TEXT
    )


async def voice_report(
    message: Message,
    bot: Bot,
    state: FSMContext,
    intake: WorkOrderIntake,
    user: UserView,
    settings: Settings,
    transcriber: Transcriber | None,
    tiers: TierGate,
) -> None:
    assert message.voice is not None
    if await refused(message, user, tiers, Feature.WORK_ORDERS) or await refused(
        message, user, tiers, Feature.VOICE
    ):
        return
    if transcriber is None:
        await message.answer(texts.VOICE_DISABLED)
        return
    if message.voice.duration > settings.voice_max_duration_s:
        await message.answer(
            texts.VOICE_TOO_LONG.format(minutes=max(1, settings.voice_max_duration_s // 60))
        )
        return
    if (message.voice.file_size or 0) > TELEGRAM_DOWNLOAD_LIMIT:
        await message.answer(texts.FILE_TOO_BIG)
        return
    await bot.send_chat_action(message.chat.id, ChatAction.RECORD_VOICE)
    audio = await bot.download(message.voice)
    assert audio is not None
    try:
        transcript = (
            await transcriber.transcribe(audio.read(), mime_type=message.voice.mime_type)
        ).strip()
    except TranscriptionFailed:
        transcript = ""
    if not transcript:
        await message.answer(texts.VOICE_NOT_UNDERSTOOD)
        return
    await message.answer(texts.heard(transcript))
    await begin_report(
        message,
        state,
        intake,
        user,
        text=transcript,
        source=WorkOrderSource.TELEGRAM_VOICE,
        transcript=transcript,
    )


class AlbumCollector:
    """Telegram sends an album as separate messages; gather them into one report.

    The album is processed by a task after a short settle time, outside the update that
    started it: event isolation serialises a chat's updates, so waiting inside the handler
    would hold back the very messages it waits for."""

    def __init__(self) -> None:
        self._albums: dict[str, list[Message]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def add(self, message: Message, process: Callable[[list[Message]], Awaitable[None]]) -> None:
        assert message.media_group_id is not None
        group = message.media_group_id
        if group in self._albums:
            self._albums[group].append(message)
            return
        self._albums[group] = [message]
        task = asyncio.create_task(self._settle_then(group, process))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _settle_then(
        self, group: str, process: Callable[[list[Message]], Awaitable[None]]
    ) -> None:
        await asyncio.sleep(ALBUM_SETTLE_S)
        parts = sorted(self._albums.pop(group, []), key=lambda m: m.message_id)
        await process(parts)


async def photo_report(
    message: Message,
    state: FSMContext,
    intake: WorkOrderIntake,
    user: UserView,
    albums: AlbumCollector,
    tiers: TierGate,
) -> None:
    if await refused(message, user, tiers, Feature.WORK_ORDERS):
        return

    async def report(parts: list[Message]) -> None:
        photo_ids = [part.photo[-1].file_id for part in parts if part.photo]
        caption = next((part.caption for part in parts if part.caption), None)
        if caption is None:
            await state.set_state(Report.describing)
            await state.update_data(photo_file_ids=photo_ids)
            await parts[0].answer(texts.ASK_WHAT_IS_WRONG)
            return
        await begin_report(
            parts[0],
            state,
            intake,
            user,
            text=caption,
            source=WorkOrderSource.TELEGRAM_TEXT,
            photo_file_ids=photo_ids,
        )

    if message.media_group_id is None:
        await report([message])
    else:
        albums.add(message, report)


async def described(
    message: Message, state: FSMContext, intake: WorkOrderIntake, user: UserView
) -> None:
    assert message.text is not None
    await begin_report(
        message, state, intake, user, text=message.text, source=WorkOrderSource.TELEGRAM_TEXT
    )


# --- asset choice ---------------------------------------------------------------------------
async def asset_picked(
    callback: CallbackQuery,
    callback_data: AssetPick,
    state: FSMContext,
    intake: WorkOrderIntake,
    cmms: CmmsPort,
) -> None:
    draft = await load_draft(state, callback_data.draft)
    if draft is None:
        await callback.answer(texts.STALE_BUTTON)
        return
    if callback_data.asset_id == keyboards.TYPE_AGAIN:
        await state.set_state(Report.typing_asset)
        await show(callback, texts.TYPE_ASSET_NAME)
        return
    if callback_data.asset_id == keyboards.NONE_OF_THESE:
        draft = draft.with_asset(None)
    else:
        asset = await cmms.get_asset(callback_data.asset_id)
        draft = draft.with_asset(
            AssetCandidate(asset.id, asset.name, asset.tag, 100.0, asset.location)
        )
    await save_draft(state, draft)
    await check_duplicate_then_confirm(callback, state, intake, draft)


async def asset_typed(message: Message, state: FSMContext, intake: WorkOrderIntake) -> None:
    draft = await load_draft(state)
    assert message.text is not None and draft is not None
    candidates = await intake.search_assets(message.text)
    if is_clear_winner(candidates):
        draft = draft.with_asset(candidates[0])
        await save_draft(state, draft)
        await check_duplicate_then_confirm(message, state, intake, draft)
    elif candidates:
        await state.set_state(Report.choosing_asset)
        await message.answer(
            texts.WHICH_ASSET,
            reply_markup=keyboards.asset_choice(draft.message_id, plausible(candidates)),
        )
    else:
        await message.answer(
            texts.no_asset_match(message.text),
            reply_markup=keyboards.no_asset_found(draft.message_id),
        )


# --- the confirmation card ------------------------------------------------------------------
async def draft_action(
    callback: CallbackQuery,
    callback_data: DraftAction,
    state: FSMContext,
    user: UserView,
    bot: Bot,
    writer: WorkOrderWriter,
) -> None:
    draft = await load_draft(state, callback_data.draft)
    if draft is None:
        await callback.answer(texts.STALE_BUTTON)
        return
    action = callback_data.action
    if action == "cancel":
        await state.clear()
        await show(callback, texts.DRAFT_CANCELLED)
    elif action == "priority":
        await show(callback, card_text(draft), keyboards.priorities(draft.message_id))
    elif action == "set":
        draft = replace(draft, priority=Priority(callback_data.value))
        await show_card(callback, state, draft)
    elif action == "title":
        await state.set_state(Report.editing_title)
        await callback.answer()
        assert isinstance(callback.message, Message)
        await callback.message.answer(texts.ASK_TITLE)
    elif action == "nodupe":
        await show_card(callback, state, draft)
    elif action == "addnote":
        outcome = await writer.submit_note(
            callback_data.value,
            draft.description,
            author_email=user.cmms_identity,
            user_id=user.id,
            chat_id=draft.chat_id,
        )
        await finish_report(state, draft)
        await show(callback, outcome_text(outcome, lambda wo: texts.note_added(wo.number)))
    elif action == "create":
        await create(callback, state, user, bot, writer, draft)


async def create(
    callback: CallbackQuery,
    state: FSMContext,
    user: UserView,
    bot: Bot,
    writer: WorkOrderWriter,
    draft: Draft,
) -> None:
    photos = []
    for index, file_id in enumerate(draft.photo_file_ids, start=1):
        photo = await bot.download(file_id)
        assert photo is not None
        photos.append(PendingFile(f"photo-{index}-{file_id[-8:]}.jpg", "image/jpeg", photo.read()))
    outcome = await writer.submit_create(
        new_work_order(draft, reporter_email=user.cmms_identity),
        user_id=user.id,
        chat_id=draft.chat_id,
        attachments=photos,
    )
    await finish_report(state, draft)
    await show(
        callback, outcome_text(outcome, lambda wo: texts.work_order_created(wo.number, wo.url))
    )


async def title_edited(message: Message, state: FSMContext) -> None:
    draft = await load_draft(state)
    assert message.text is not None and draft is not None
    draft = replace(draft, title=" ".join(message.text.split())[:80])
    await show_card(message, state, draft)


# --- my work --------------------------------------------------------------------------------
async def my_open_work(cmms: CmmsPort, user: UserView) -> list[WorkOrder]:
    assigned = await cmms.list_open_work_orders(assigned_to_email=user.cmms_identity)
    created = await cmms.list_open_work_orders(created_by_email=user.cmms_identity)
    unique = {order.id: order for order in [*assigned, *created]}
    return order_by_urgency(list(unique.values()))


async def show_my_work(target: Target, cmms: CmmsPort, user: UserView, page: int = 0) -> None:
    try:
        orders = await my_open_work(cmms, user)
    except CmmsError:
        await show(target, texts.CMMS_DOWN)
        return
    if not orders:
        await show(target, texts.NO_OPEN_WORK)
        return
    page = max(0, min(page, (len(orders) - 1) // PAGE_SIZE))
    shown = orders[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
    await show(
        target,
        texts.my_work_header(len(orders)),
        keyboards.work_order_list(shown, page, PAGE_SIZE, len(orders)),
    )


async def my_work_command(message: Message, cmms: CmmsPort, user: UserView) -> None:
    await show_my_work(message, cmms, user)


PROMPTS = {
    "hold": (WorkUpdate.hold_reason, texts.ASK_HOLD_REASON),
    "complete": (WorkUpdate.completion_note, texts.ASK_COMPLETION_NOTE),
    "note": (WorkUpdate.note, texts.ASK_NOTE),
}


async def work_order_action(
    callback: CallbackQuery,
    callback_data: WorkOrderAction,
    state: FSMContext,
    user: UserView,
    cmms: CmmsPort,
    writer: WorkOrderWriter,
) -> None:
    action = callback_data.action
    if action == "page":
        await show_my_work(callback, cmms, user, callback_data.page)
        return
    order = await cmms.get_work_order(callback_data.wo)
    if action == "open":
        await callback.answer()
        assert isinstance(callback.message, Message)
        await callback.message.answer(
            texts.work_order_details(order), reply_markup=keyboards.work_order_card(order)
        )
    elif action == "start":
        outcome = await writer.submit_status(
            order.id,
            WorkOrderStatus.IN_PROGRESS,
            note=None,
            user_id=user.id,
            chat_id=callback.from_user.id,
        )
        await callback.answer()
        assert isinstance(callback.message, Message)
        await callback.message.answer(
            outcome_text(outcome, lambda wo: texts.status_changed(wo.number, wo.status))
        )
    elif action in PROMPTS:
        next_state, prompt = PROMPTS[action]
        await state.set_state(next_state)
        await state.update_data(work_order_id=order.id)
        await callback.answer()
        assert isinstance(callback.message, Message)
        await callback.message.answer(prompt)


async def work_update_text(
    message: Message, state: FSMContext, user: UserView, writer: WorkOrderWriter
) -> None:
    assert message.text is not None
    current = await state.get_state()
    work_order_id = (await state.get_data()).get("work_order_id")
    await state.set_state(None)
    if work_order_id is None:
        return
    await apply_update(message, user, writer, work_order_id, current, message.text)


async def apply_update(
    message: Message,
    user: UserView,
    writer: WorkOrderWriter,
    work_order_id: str,
    step: str | None,
    text: str,
) -> None:
    if step == WorkUpdate.note.state:
        outcome = await writer.submit_note(
            work_order_id,
            text,
            author_email=user.cmms_identity,
            user_id=user.id,
            chat_id=message.chat.id,
        )
        await message.answer(outcome_text(outcome, lambda wo: texts.note_added(wo.number)))
        return
    status = (
        WorkOrderStatus.ON_HOLD
        if step == WorkUpdate.hold_reason.state
        else WorkOrderStatus.COMPLETE
    )
    outcome = await writer.submit_status(
        work_order_id, status, note=text, user_id=user.id, chat_id=message.chat.id
    )
    await message.answer(
        outcome_text(outcome, lambda wo: texts.status_changed(wo.number, wo.status))
    )


async def reply_to_card(
    message: Message, user: UserView, cmms: CmmsPort, writer: WorkOrderWriter
) -> bool:
    """ "done, replaced the seal" in reply to a work-order card completes it with that note."""
    replied = message.reply_to_message
    note = completion_note(message.text or "")
    if replied is None or note is None:
        return False
    number = WORK_ORDER_NUMBER.search(replied.text or "")
    if number is None:
        return False
    orders = await my_open_work(cmms, user)
    order = next((o for o in orders if o.number == number.group(0)), None)
    if order is None:
        return False
    await apply_update(message, user, writer, order.id, WorkUpdate.completion_note.state, note)
    return True


# --- assets ---------------------------------------------------------------------------------
async def asset_command(message: Message, command: CommandObject, intake: WorkOrderIntake) -> None:
    if not command.args:
        await message.answer(texts.ASSET_USAGE)
        return
    candidates = await intake.search_assets(command.args)
    if not candidates:
        await message.answer(texts.ASSET_NOT_FOUND)
        return
    await message.answer(texts.WHICH_ASSET, reply_markup=keyboards.asset_candidates(candidates))


async def asset_action(
    callback: CallbackQuery, callback_data: AssetAction, state: FSMContext, cmms: CmmsPort
) -> None:
    asset = await cmms.get_asset(callback_data.asset_id)
    if callback_data.action == "report":
        await state.set_state(Report.describing)
        await state.update_data(
            preset_asset={
                "asset_id": asset.id,
                "name": asset.name,
                "tag": asset.tag,
                "score": 100.0,
                "location": asset.location,
            }
        )
        await callback.answer()
        assert isinstance(callback.message, Message)
        await callback.message.answer(texts.describe_problem_on(asset.name))
        return
    await show_asset_card(callback, cmms, asset.id)


async def show_asset_card(target: Target, cmms: CmmsPort, asset_id: str) -> None:
    asset = await cmms.get_asset(asset_id)
    open_orders = await cmms.list_open_work_orders(asset_id=asset.id)
    prints = await cmms.asset_files(asset.id)
    await show(
        target,
        texts.asset_details(asset, open_orders, len(prints)),
        keyboards.asset_card(asset.id, len(prints)),
    )


def _free_text() -> Any:
    return F.text & ~F.text.startswith("/")


def create_router() -> Router:
    router = Router(name=__name__)
    # Only linked technicians reach these handlers; strangers fall through to the fallback.
    router.message.filter(_linked_user)
    router.callback_query.filter(_linked_user)
    text = _free_text()
    # First: most messages are new reports. Free text in the other report steps answers them.
    router.message.register(
        _reply_or_report,
        StateFilter(None, Report.choosing_asset, Report.duplicate_check, Report.confirming),
        text,
    )
    router.message.register(my_work_command, Command("mywork"))
    router.message.register(asset_command, Command("asset"))
    router.message.register(title_edited, Report.editing_title, text)
    router.message.register(asset_typed, Report.typing_asset, text)
    router.message.register(described, Report.describing, text)
    router.message.register(
        work_update_text,
        StateFilter(WorkUpdate.hold_reason, WorkUpdate.completion_note, WorkUpdate.note),
        text,
    )
    router.message.register(voice_report, F.voice)
    router.message.register(photo_report, F.photo)
    router.callback_query.register(asset_picked, AssetPick.filter())
    router.callback_query.register(draft_action, DraftAction.filter())
    router.callback_query.register(work_order_action, WorkOrderAction.filter())
    router.callback_query.register(asset_action, AssetAction.filter())
    return router


async def _linked_user(_: object, user: UserView | None) -> bool:
    return user is not None


async def _reply_or_report(
    message: Message,
    state: FSMContext,
    intake: WorkOrderIntake,
    user: UserView,
    cmms: CmmsPort,
    writer: WorkOrderWriter,
    tiers: TierGate,
) -> None:
    if await reply_to_card(message, user, cmms, writer):
        return
    await text_report(message, state, intake, user, tiers)
