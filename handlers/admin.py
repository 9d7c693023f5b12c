"""Admin commands in chat: /stats, /users, /user, /invite, /broadcast, /status, /labels.

Two routers: the refusal router answers "not allowed" to anyone else who sends an admin command
or presses an admin button (before the work-order router could take the text), and the command
router, filtered on ``is_admin`` (ADMIN_TELEGRAM_IDS or role admin), does the work. Every admin
action is recorded in the audit log by the services it calls."""

from __future__ import annotations

import logging

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardMarkup, Message, User

from bot import keyboards, texts
from bot.admin_runtime import AdminTools
from bot.domain import Role, Tier, UserStatus
from bot.keyboards import AdminUserAction, BroadcastAction
from bot.services.asset_labels import Label, asset_link, sheet_pdf
from bot.services.asset_search import PLAUSIBLE_MAX_BEHIND, PLAUSIBLE_MIN_SCORE
from bot.services.onboarding import UserView, deep_link
from bot.services.stats import chart_png
from bot.services.status import StatusService
from integrations.cmms.port import CmmsError, CmmsPort

log = logging.getLogger(__name__)

ADMIN_COMMANDS = ("stats", "users", "user", "invite", "broadcast", "status", "labels")
MAX_LABELS = 300
TIER_PREFIX = "tier:"


def actor_of(from_user: User | None) -> str:
    return f"telegram:{from_user.id}" if from_user else "telegram:?"


# --- refusal --------------------------------------------------------------------------------
async def not_allowed(message: Message) -> None:
    await message.answer(texts.NOT_ALLOWED)


async def not_allowed_button(callback: CallbackQuery) -> None:
    await callback.answer(texts.NOT_ALLOWED, show_alert=True)


async def _not_admin(_: object, is_admin: bool) -> bool:
    return not is_admin


async def _admin(_: object, is_admin: bool) -> bool:
    return is_admin


# --- people ---------------------------------------------------------------------------------
async def invite_command(message: Message, command: CommandObject, admin_tools: AdminTools) -> None:
    tier, role = Tier.BASIC, Role.TECHNICIAN
    for word in (command.args or "").lower().split():
        if word in Tier._value2member_map_:
            tier = Tier(word)
        elif word in Role._value2member_map_:
            role = Role(word)
        else:
            await message.answer(texts.INVITE_USAGE)
            return
    _, token = await admin_tools.users.invite(
        tier=tier, role=role, actor=actor_of(message.from_user)
    )
    link = deep_link(admin_tools.bot_username, token)
    await message.answer(texts.invite_created(tier, role.value, link, admin_tools.token_ttl_days))


def _label(user: UserView) -> str:
    linked = "" if user.telegram_user_id else " · not linked"
    return f"#{user.id} {user.name} · {user.tier.label}{linked}"


async def users_command(message: Message, command: CommandObject, admin_tools: AdminTools) -> None:
    users = await admin_tools.users.search(command.args, actor=actor_of(message.from_user))
    if not users:
        await message.answer(texts.NO_USERS)
        return
    lines = [texts.users_header(len(users), command.args)]
    lines += [
        texts.user_line(u.id, u.name, u.email, u.tier, u.telegram_user_id is not None)
        for u in users
    ]
    await message.answer(
        "\n".join(lines),
        reply_markup=keyboards.admin_user_list([(u.id, _label(u)) for u in users]),
    )


def _card(user: UserView) -> tuple[str, InlineKeyboardMarkup]:
    text = texts.user_card(
        user.id,
        user.name,
        user.email,
        user.role.value,
        user.tier,
        user.status.value,
        user.telegram_user_id is not None,
    )
    markup = keyboards.admin_user_card(
        user.id, user.tier, user.is_admin, user.status is UserStatus.ACTIVE
    )
    return text, markup


async def user_command(message: Message, command: CommandObject, admin_tools: AdminTools) -> None:
    if not command.args:
        await message.answer(texts.USER_USAGE)
        return
    user = await admin_tools.users.find(command.args, actor=actor_of(message.from_user))
    if user is None:
        await message.answer(texts.USER_NOT_FOUND)
        return
    text, markup = _card(user)
    await message.answer(text, reply_markup=markup)


async def user_action(
    callback: CallbackQuery, callback_data: AdminUserAction, admin_tools: AdminTools
) -> None:
    users = admin_tools.users
    actor = actor_of(callback.from_user)
    user_id, action, value = callback_data.user_id, callback_data.action, callback_data.value
    message = callback.message if isinstance(callback.message, Message) else None
    updated: UserView | None
    if action == "open":
        updated = await users.find(str(user_id), actor=actor)
        await callback.answer()
        if updated is not None and message is not None:
            text, markup = _card(updated)
            await message.answer(text, reply_markup=markup)
        return
    if action == "link":
        issued = await users.reissue_link(user_id, actor=actor)
        await callback.answer()
        if issued is not None and message is not None:
            link = deep_link(admin_tools.bot_username, issued[1])
            await message.answer(
                texts.new_link_for(issued[0].name, link, admin_tools.token_ttl_days)
            )
        return
    if action == "tier" and value in Tier._value2member_map_:
        updated = await users.set_tier(user_id, Tier(value), actor=actor)
    elif action == "role" and value in Role._value2member_map_:
        updated = await users.set_role(user_id, Role(value), actor=actor)
    elif action in ("disable", "enable"):
        status = UserStatus.DISABLED if action == "disable" else UserStatus.ACTIVE
        updated = await users.set_status(user_id, status, actor=actor)
    else:
        await callback.answer(texts.STALE_BUTTON)
        return
    await callback.answer()
    if updated is not None and message is not None:
        text, markup = _card(updated)
        await message.edit_text(text, reply_markup=markup)


# --- status and stats -----------------------------------------------------------------------
async def status_command(
    message: Message, admin_tools: AdminTools, status: StatusService | None = None
) -> None:
    await admin_tools.users.record(actor_of(message.from_user), "admin.status_viewed")
    if status is None:
        await message.answer(texts.SOMETHING_WENT_WRONG)
        return
    checks = await status.checks()
    metrics = await status.metrics()
    await message.answer(
        texts.service_status(
            {name: (check.status, check.detail) for name, check in checks.items()}, metrics
        )
    )


async def stats_command(message: Message, admin_tools: AdminTools) -> None:
    await admin_tools.users.record(actor_of(message.from_user), "admin.stats_viewed")
    stats = await admin_tools.stats.collect()
    await message.answer(
        texts.stats_summary(
            source=stats.source,
            opened_today=stats.opened_today,
            opened_week=stats.opened_week,
            closed_today=stats.closed_today,
            closed_week=stats.closed_week,
            backlog=stats.backlog,
            mean_ack=stats.mean_ack,
            mean_complete=stats.mean_complete,
            active_24h=stats.active_24h,
            active_7d=stats.active_7d,
            top_assets=stats.top_assets,
        )
    )
    png = await chart_png(stats.daily)
    await message.answer_photo(
        BufferedInputFile(png, filename="work-orders-30-days.png"),
        caption=texts.STATS_CHART_CAPTION,
    )


# --- broadcast ------------------------------------------------------------------------------
async def broadcast_command(
    message: Message, command: CommandObject, admin_tools: AdminTools
) -> None:
    args = (command.args or "").strip()
    tier: Tier | None = None
    first, _, rest = args.partition(" ")
    if first.lower().startswith(TIER_PREFIX):
        name = first[len(TIER_PREFIX) :].lower()
        if name not in Tier._value2member_map_:
            await message.answer(texts.BROADCAST_USAGE)
            return
        tier, args = Tier(name), rest.strip()
    if not args:
        await message.answer(texts.BROADCAST_USAGE)
        return
    actor = actor_of(message.from_user)
    draft = await admin_tools.broadcasts.draft(
        args, tier=tier, actor=actor, admin_chat_id=message.chat.id
    )
    if not draft.recipients:
        await admin_tools.broadcasts.cancel(draft.id, actor=actor)
        await message.answer(texts.BROADCAST_NOBODY)
        return
    await message.answer(
        texts.broadcast_preview(args, draft.recipients, tier),
        reply_markup=keyboards.broadcast_confirmation(draft.id),
    )


async def broadcast_action(
    callback: CallbackQuery, callback_data: BroadcastAction, admin_tools: AdminTools
) -> None:
    actor = actor_of(callback.from_user)
    message = callback.message if isinstance(callback.message, Message) else None
    if callback_data.action == "cancel":
        if await admin_tools.broadcasts.cancel(callback_data.broadcast_id, actor=actor):
            await callback.answer()
            if message is not None:
                await message.edit_text(texts.BROADCAST_CANCELLED)
        else:
            await callback.answer(texts.BROADCAST_ALREADY)
        return
    if message is None:
        await callback.answer(texts.STALE_BUTTON)
        return
    # The preview becomes the progress message, edited by the broadcast runner as it goes.
    total = await admin_tools.broadcasts.confirm(
        callback_data.broadcast_id, actor=actor, progress_message_id=message.message_id
    )
    await callback.answer(None if total is not None else texts.BROADCAST_ALREADY)


# --- labels ---------------------------------------------------------------------------------
async def labels_command(
    message: Message, command: CommandObject, admin_tools: AdminTools, cmms: CmmsPort
) -> None:
    words = (command.args or "").strip()
    try:
        if words:
            candidates = await cmms.search_assets(words, limit=MAX_LABELS)
            floor = max(
                PLAUSIBLE_MIN_SCORE,
                (candidates[0].score if candidates else 0) - PLAUSIBLE_MAX_BEHIND,
            )
            assets = [(c.asset_id, c.name, c.tag) for c in candidates if c.score >= floor]
        else:
            assets = [(a.id, a.name, a.tag) for a in await cmms.list_assets(0, MAX_LABELS)]
    except CmmsError:
        await message.answer(texts.CMMS_DOWN)
        return
    await admin_tools.users.record(
        actor_of(message.from_user), "admin.labels_printed", words=words, count=len(assets)
    )
    if not assets:
        await message.answer(texts.LABELS_NONE)
        return
    tokens = await admin_tools.links.tokens_for([asset_id for asset_id, _, _ in assets])
    labels = [
        Label(name, tag, asset_link(admin_tools.bot_username, tokens[asset_id]))
        for asset_id, name, tag in assets
    ]
    pdf = await sheet_pdf(labels)
    await message.answer_document(
        BufferedInputFile(pdf, filename="asset-labels.pdf"),
        caption=texts.labels_caption(len(labels), None),
    )


def create_router() -> Router:
    router = Router(name=__name__)

    refusal = Router(name=f"{__name__}.refusal")
    refusal.message.register(not_allowed, Command(*ADMIN_COMMANDS), _not_admin)
    refusal.callback_query.register(not_allowed_button, AdminUserAction.filter(), _not_admin)
    refusal.callback_query.register(not_allowed_button, BroadcastAction.filter(), _not_admin)

    commands = Router(name=f"{__name__}.commands")
    commands.message.filter(_admin)
    commands.callback_query.filter(_admin)
    commands.message.register(invite_command, Command("invite"))
    commands.message.register(users_command, Command("users"))
    commands.message.register(user_command, Command("user"))
    commands.message.register(status_command, Command("status"))
    commands.message.register(stats_command, Command("stats"))
    commands.message.register(broadcast_command, Command("broadcast"))
    commands.message.register(labels_command, Command("labels"))
    commands.callback_query.register(user_action, AdminUserAction.filter())
    commands.callback_query.register(broadcast_action, BroadcastAction.filter())

    router.include_routers(refusal, commands)
    return router
