"""Callback data (≤ 64 bytes each) and inline keyboards."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot import texts
from bot.domain import AssetCandidate, Priority, Tier
from integrations.cmms.port import WorkOrder


class AssetPick(CallbackData, prefix="ap"):
    """A choice in the "which asset?" question; `draft` ties it to one report."""

    draft: int
    asset_id: str  # "-" = none of these, "?" = type it again


class DraftAction(CallbackData, prefix="wd"):
    draft: int
    action: str  # create | priority | set | title | cancel | nodupe | addnote
    value: str = ""


class WorkOrderAction(CallbackData, prefix="wo"):
    action: str  # open | start | hold | complete | note | page
    wo: str = ""
    page: int = 0


class AssetAction(CallbackData, prefix="as"):
    action: str  # show | report | prints
    asset_id: str


NONE_OF_THESE = "-"
TYPE_AGAIN = "?"


def asset_choice(draft: int, candidates: Sequence[AssetCandidate]) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for candidate in candidates[:5]:
        label = f"{candidate.name} ({candidate.tag})" if candidate.tag else candidate.name
        builder.button(
            text=label[:60], callback_data=AssetPick(draft=draft, asset_id=candidate.asset_id)
        )
    builder.button(
        text=texts.BUTTON_NONE_OF_THESE,
        callback_data=AssetPick(draft=draft, asset_id=NONE_OF_THESE),
    )
    builder.button(
        text=texts.BUTTON_TYPE_AGAIN, callback_data=AssetPick(draft=draft, asset_id=TYPE_AGAIN)
    )
    builder.adjust(1)
    return builder.as_markup()


def no_asset_found(draft: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(
        text=texts.BUTTON_NO_ASSET, callback_data=AssetPick(draft=draft, asset_id=NONE_OF_THESE)
    )
    return builder.as_markup()


def confirmation(draft: int) -> InlineKeyboardMarkup:
    # Built directly: this card answers every report, and the builder deep-copies its
    # buttons at each step.
    def button(text: str, action: str) -> InlineKeyboardButton:
        data = DraftAction(draft=draft, action=action).pack()
        return InlineKeyboardButton(text=text, callback_data=data)

    return InlineKeyboardMarkup(
        inline_keyboard=[
            [button(texts.BUTTON_CREATE, "create")],
            [button(texts.BUTTON_PRIORITY, "priority"), button(texts.BUTTON_EDIT_TITLE, "title")],
            [button(texts.BUTTON_CANCEL, "cancel")],
        ]
    )


def priorities(draft: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for priority in Priority:
        builder.button(
            text=texts.PRIORITY_LABELS[priority],
            callback_data=DraftAction(draft=draft, action="set", value=priority.value),
        )
    builder.adjust(2)
    return builder.as_markup()


def duplicate_choice(draft: int, existing: WorkOrder) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(
        text=texts.add_note_to(existing.number),
        callback_data=DraftAction(draft=draft, action="addnote", value=existing.id),
    )
    builder.button(
        text=texts.BUTTON_CREATE_NEW, callback_data=DraftAction(draft=draft, action="nodupe")
    )
    builder.adjust(1)
    return builder.as_markup()


def work_order_list(
    orders: Sequence[WorkOrder], page: int, page_size: int, total: int
) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for order in orders:
        builder.button(
            text=texts.work_order_button(order)[:60],
            callback_data=WorkOrderAction(action="open", wo=order.id),
        )
    navigation = []
    if page > 0:
        navigation.append(("‹ Prev", page - 1))
    if (page + 1) * page_size < total:
        navigation.append(("Next ›", page + 1))
    for label, target in navigation:
        builder.button(text=label, callback_data=WorkOrderAction(action="page", page=target))
    builder.adjust(*([1] * len(orders)), max(1, len(navigation)))
    return builder.as_markup()


def work_order_card(order: WorkOrder) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for action, label in texts.WORK_ORDER_ACTIONS:
        builder.button(text=label, callback_data=WorkOrderAction(action=action, wo=order.id))
    builder.adjust(2, 2)
    return builder.as_markup()


def asset_candidates(candidates: Sequence[AssetCandidate]) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for candidate in candidates[:5]:
        label = f"{candidate.name} ({candidate.tag})" if candidate.tag else candidate.name
        builder.button(
            text=label[:60], callback_data=AssetAction(action="show", asset_id=candidate.asset_id)
        )
    builder.adjust(1)
    return builder.as_markup()


def asset_card(asset_id: str, prints: int = 0) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(
        text=texts.BUTTON_REPORT_PROBLEM,
        callback_data=AssetAction(action="report", asset_id=asset_id),
    )
    if prints:  # handlers/prints.py lists them
        builder.button(
            text=texts.BUTTON_ASSET_PRINTS,
            callback_data=AssetAction(action="prints", asset_id=asset_id),
        )
    return builder.as_markup()


# --- Billing ---------------------------------------------------------------------------------
class SubscribeTier(CallbackData, prefix="bt"):
    """A plan button under /subscribe or an upgrade message: start checkout for `tier`."""

    tier: str  # basic | pro | enterprise


def tier_choice(tiers: Sequence[Tier]) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for tier in tiers:
        builder.button(text=texts.tier_button(tier), callback_data=SubscribeTier(tier=tier.value))
    builder.adjust(1)
    return builder.as_markup()


def url_button(text: str, url: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=text, url=url)
    return builder.as_markup()


def upgrade(required: Tier) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(
        text=texts.upgrade_button(required), callback_data=SubscribeTier(tier=required.value)
    )
    return builder.as_markup()


# --- Chat with Print -------------------------------------------------------------------------
class PrintAction(CallbackData, prefix="pr"):
    action: str  # yes | no | open | done | asset | pick
    print_id: int = 0
    asset_id: str = ""  # for pick: the asset, or NONE_OF_THESE


def print_question() -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=texts.BUTTON_PRINT_YES, callback_data=PrintAction(action="yes"))
    builder.button(text=texts.BUTTON_PRINT_NO, callback_data=PrintAction(action="no"))
    builder.adjust(2)
    return builder.as_markup()


def print_card(print_id: int, *, can_file: bool) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    if can_file:
        builder.button(
            text=texts.BUTTON_PRINT_ATTACH,
            callback_data=PrintAction(action="asset", print_id=print_id),
        )
    builder.button(
        text=texts.BUTTON_PRINT_DONE, callback_data=PrintAction(action="done", print_id=print_id)
    )
    builder.adjust(1)
    return builder.as_markup()


def print_asset_choice(print_id: int, candidates: Sequence[AssetCandidate]) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for candidate in candidates[:5]:
        label = f"{candidate.name} ({candidate.tag})" if candidate.tag else candidate.name
        builder.button(
            text=label[:60],
            callback_data=PrintAction(
                action="pick", print_id=print_id, asset_id=candidate.asset_id
            ),
        )
    builder.button(
        text=texts.BUTTON_NONE_OF_THESE,
        callback_data=PrintAction(action="pick", print_id=print_id, asset_id=NONE_OF_THESE),
    )
    builder.button(
        text=texts.BUTTON_TYPE_AGAIN, callback_data=PrintAction(action="asset", print_id=print_id)
    )
    builder.adjust(1)
    return builder.as_markup()


def print_list(prints: Sequence[tuple[int, str]]) -> InlineKeyboardMarkup:
    """(print id, button label) pairs, newest first."""
    builder = InlineKeyboardBuilder()
    for print_id, label in prints:
        builder.button(text=label[:60], callback_data=PrintAction(action="open", print_id=print_id))
    builder.adjust(1)
    return builder.as_markup()


# --- Admin -----------------------------------------------------------------------------------
class AdminUserAction(CallbackData, prefix="au"):
    """Buttons under /users and a /user card (admins only)."""

    user_id: int
    action: str  # open | tier | role | disable | enable | link
    value: str = ""


class BroadcastAction(CallbackData, prefix="bc"):
    broadcast_id: int
    action: str  # send | cancel


def admin_user_list(users: Sequence[tuple[int, str]]) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for user_id, label in users:
        builder.button(
            text=label[:60], callback_data=AdminUserAction(user_id=user_id, action="open")
        )
    builder.adjust(1)
    return builder.as_markup()


def admin_user_card(user_id: int, tier: Tier, is_admin: bool, active: bool) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for option in Tier:
        if option is not tier:
            builder.button(
                text=f"→ {option.label}",
                callback_data=AdminUserAction(user_id=user_id, action="tier", value=option.value),
            )
    builder.button(
        text=texts.BUTTON_MAKE_TECHNICIAN if is_admin else texts.BUTTON_MAKE_ADMIN,
        callback_data=AdminUserAction(
            user_id=user_id, action="role", value="technician" if is_admin else "admin"
        ),
    )
    builder.button(
        text=texts.BUTTON_DISABLE if active else texts.BUTTON_ENABLE,
        callback_data=AdminUserAction(user_id=user_id, action="disable" if active else "enable"),
    )
    builder.button(
        text=texts.BUTTON_NEW_LINK, callback_data=AdminUserAction(user_id=user_id, action="link")
    )
    builder.adjust(3, 1, 1, 1)
    return builder.as_markup()


def broadcast_confirmation(broadcast_id: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(
        text=texts.BUTTON_SEND,
        callback_data=BroadcastAction(broadcast_id=broadcast_id, action="send"),
    )
    builder.button(
        text=texts.BUTTON_CANCEL,
        callback_data=BroadcastAction(broadcast_id=broadcast_id, action="cancel"),
    )
    builder.adjust(2)
    return builder.as_markup()
