"""Every sentence a user sees. Handlers and services take their words from here.

Texts are HTML (the bot's default parse mode): values from users go through `html.escape`."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from bot.domain import Priority, Tier, WorkOrderStatus
from integrations.cmms.port import Asset, WorkOrder

TIER_ABILITIES: dict[Tier, str] = {
    Tier.NONE: "You have no active plan yet. Use /subscribe to pick one.",
    Tier.BASIC: "Tell me about a problem — type it or send a voice note — and I'll file a work "
    "order. /mywork lists your open work.",
    Tier.PRO: "Report problems by text or voice, check /mywork, and ask questions about your "
    "prints with /print.",
    Tier.ENTERPRISE: "Report problems by text or voice, check /mywork, ask about prints with "
    "/print, with your team's enterprise limits.",
}


def welcome(name: str, tier: Tier) -> str:
    return (
        f"Welcome to Rivet, {escape(name)}! 🔧\n"
        f"Your plan: <b>{tier.label}</b>.\n\n{TIER_ABILITIES[tier]}\n\n/help shows everything."
    )


def welcome_back(name: str) -> str:
    return f"You're already set up, {escape(name)}. /help shows what I can do."


def link_reused_by_owner(name: str) -> str:
    return f"This invite link has already been used — by you, {escape(name)}. {welcome_back(name)}"


LINK_USED = "This invite link has already been used. Ask your admin for a new one."
LINK_EXPIRED = "This invite link has expired. Ask your admin for a new one."
LINK_UNKNOWN = (
    "I don't recognise that invite link. Check that you opened the whole link, "
    "or ask your admin for a new one."
)
LINK_MALFORMED = "That doesn't look like a Rivet invite link. Ask your admin for a new one."
LINK_DISABLED = "This account is disabled. Ask your admin to re-enable it."


def account_taken(name: str) -> str:
    return (
        f"This Telegram account is already linked to {escape(name)}'s Rivet account, so I "
        "can't link it to another one. Ask your admin if this is wrong."
    )


HOW_TO_GET_ACCESS = (
    "Hi! I'm Rivet, a maintenance assistant for technicians.\n\n"
    "To use me you need an invite link: your admin can send you one, or you get one "
    "right after subscribing. Open that link and you're in."
)

HELP_TECHNICIAN = (
    "<b>Rivet</b> turns a sentence or a voice note into a work order.\n\n"
    "Just tell me what's wrong, e.g. <i>pump 3 is leaking oil at the seal, urgent</i>.\n\n"
    "/mywork — your open work orders\n"
    "/asset — look up a machine\n"
    "/print — ask questions about a drawing (Pro)\n"
    "/billing — your plan\n"
    "/cancel — stop what we're doing\n"
    "/help — this message"
)

HELP_ADMIN_EXTRA = (
    "\n\n<b>Admin</b>\n"
    "/stats — numbers and a chart\n"
    "/users — people and their plans\n"
    "/invite — a link for a new technician\n"
    "/broadcast — message everyone\n"
    "/status — service health"
)

CANCELLED = "Okay, cancelled."
NOTHING_TO_CANCEL = "There's nothing to cancel."
SOMETHING_WENT_WRONG = "Sorry, something went wrong on my side. Please try again in a minute."
NOT_ALLOWED = "Sorry, that's not allowed for your account."

COMMANDS_TECHNICIAN: list[tuple[str, str]] = [
    ("mywork", "My open work orders"),
    ("asset", "Look up a machine"),
    ("print", "Ask about a drawing (Pro)"),
    ("billing", "My plan"),
    ("cancel", "Stop the current step"),
    ("help", "What I can do"),
]
COMMANDS_ADMIN: list[tuple[str, str]] = [
    ("stats", "Numbers and a chart"),
    ("users", "People and plans"),
    ("invite", "Invite a technician"),
    ("broadcast", "Message everyone"),
    ("status", "Service health"),
]

ASK_NAME = "What should I call you? (Just your first name is fine.)"


def ask_home_location(name: str) -> str:
    return (
        f"Thanks, {escape(name)}. Which area or building do you mostly work in? "
        "I'll use it as the default location on your work orders. /skip if it varies."
    )


PROFILE_DONE = (
    "All set. Tell me about a problem whenever you find one — a sentence or a voice note."
)

NOT_UNDERSTOOD = "I didn't catch that. /help shows what I can do."
STALE_BUTTON = "That button is no longer active."

# Operator-facing lines (logs and the terminal).
NO_BOT_TOKEN = (
    "TELEGRAM_BOT_TOKEN is not set: create a bot with @BotFather in Telegram (/newbot), then "
    "put TELEGRAM_BOT_TOKEN=<token> in .env or the environment"
)
POLLING_CONFLICT = (
    "Another process is polling Telegram with this bot token (409 Conflict); stopping. "
    "Run one poller per token, or use webhook mode (TELEGRAM_WEBHOOK_URL) for several instances."
)

# --- Work orders ----------------------------------------------------------------------------
PRIORITY_LABELS = {
    Priority.LOW: "🟢 Low",
    Priority.MEDIUM: "🟡 Medium",
    Priority.HIGH: "🟠 High",
    Priority.CRITICAL: "🔴 Critical",
}
STATUS_LABELS = {
    WorkOrderStatus.OPEN: "Open",
    WorkOrderStatus.IN_PROGRESS: "In progress",
    WorkOrderStatus.ON_HOLD: "On hold",
    WorkOrderStatus.COMPLETE: "Complete",
}
BUTTON_CREATE = "✅ Create"
BUTTON_PRIORITY = "Priority"
BUTTON_EDIT_TITLE = "Edit title"
BUTTON_CANCEL = "Cancel"
BUTTON_NONE_OF_THESE = "None of these"
BUTTON_TYPE_AGAIN = "Type it again"
BUTTON_NO_ASSET = "Create without an asset"
BUTTON_CREATE_NEW = "Create a new one"
BUTTON_REPORT_PROBLEM = "Report a problem"
WORK_ORDER_ACTIONS = [
    ("start", "▶️ Start"),
    ("hold", "⏸ Hold"),
    ("complete", "✅ Complete"),
    ("note", "📝 Add note"),
]

WHICH_ASSET = "Which equipment is it?"
TYPE_ASSET_NAME = "Type the equipment's name or tag (e.g. <i>pump 3</i> or <i>P-003</i>)."
ASK_TITLE = "Send the new title."
ASK_WHAT_IS_WRONG = "Got the photo. What's wrong? Describe the problem in a sentence."
DRAFT_CANCELLED = "Cancelled — nothing was created."
WORK_ORDERS_NEED_BASIC = "Work orders need an active plan. /subscribe to pick one."
NO_OPEN_WORK = "You have no open work orders. 🎉"
ASK_HOLD_REASON = "Why is it on hold? (e.g. waiting for parts)"
ASK_COMPLETION_NOTE = (
    "What did you do? A short note for the record (e.g. <i>replaced the seal</i>)."
)
ASK_NOTE = "Send your note."
VOICE_TOO_LONG = "That voice note is too long for me. Keep it under {minutes} minutes, or type it."
FILE_TOO_BIG = "That file is over 20 MB — Telegram won't let me download it. Send a smaller one."
VOICE_NOT_UNDERSTOOD = "Sorry, I couldn't make out that voice note. Could you type it instead?"
VOICE_DISABLED = "I can't listen to voice notes here. Please type the problem instead."
ASSET_NOT_FOUND = "I couldn't find equipment matching that. Try its tag or another name."
ASSET_USAGE = "Tell me what to look for, e.g. <code>/asset pump 3</code>."
CMMS_DOWN = "The work-order system isn't answering right now."


def no_asset_match(mention: str | None) -> str:
    if mention:
        return (
            f"I couldn't find <b>{escape(mention)}</b> in the asset list. "
            "Type its name or tag, or create the work order without an asset."
        )
    return "Which equipment is it? Type its name or tag, or create without an asset."


def describe_problem_on(asset_name: str) -> str:
    return f"What's wrong with <b>{escape(asset_name)}</b>? Type it or send a voice note."


def heard(transcript: str) -> str:
    return f"🎙 I heard: <i>{escape(transcript)}</i>"


def draft_card(
    title: str,
    asset_name: str | None,
    priority: Priority,
    description: str,
    location: str | None,
    photos: int,
    safety: bool,
) -> str:
    lines = [
        "<b>New work order</b>",
        f"<b>Title:</b> {escape(title)}",
        f"<b>Asset:</b> {escape(asset_name) if asset_name else '—'}",
        f"<b>Priority:</b> {PRIORITY_LABELS[priority]}",
    ]
    if location:
        lines.append(f"<b>Location:</b> {escape(location)}")
    lines.append(f"<b>Description:</b> {escape(description)}")
    if photos:
        lines.append(f"📷 {photos} photo{'s' if photos > 1 else ''} attached")
    if safety:
        lines.append("⚠️ <b>Safety issue</b> — make the area safe first.")
    return "\n".join(lines)


def possible_duplicate(number: str, title: str, created: str) -> str:
    return (
        f"There's already an open <b>{escape(number)}</b> on this equipment from {created}: "
        f"<i>{escape(title)}</i>.\nIs it the same problem?"
    )


def add_note_to(number: str) -> str:
    return f"Add my note to {number}"


def work_order_created(number: str, url: str | None) -> str:
    link = f'\n<a href="{escape(url)}">Open in the CMMS</a>' if url else ""
    return f"✅ <b>{escape(number)}</b> created.{link}"


def note_added(number: str) -> str:
    return f"📝 Note added to <b>{escape(number)}</b>."


SAVED_WILL_SYNC = (
    "💾 Saved — the work-order system isn't answering, so I'll sync it as soon as it's back "
    "and tell you the number."
)


def synced_as(number: str, url: str | None) -> str:
    link = f' — <a href="{escape(url)}">open</a>' if url else ""
    return f"🔄 Synced as <b>{escape(number)}</b>{link}."


def work_order_button(order: WorkOrder) -> str:
    return f"{order.number} · {PRIORITY_LABELS[order.priority].split()[0]} {order.title}"


def work_order_details(order: WorkOrder) -> str:
    lines = [
        f"<b>{escape(order.number)}</b> — {escape(order.title)}",
        f"<b>Status:</b> {STATUS_LABELS[order.status]}",
        f"<b>Priority:</b> {PRIORITY_LABELS[order.priority]}",
        f"<b>Asset:</b> {escape(order.asset_name) if order.asset_name else '—'}",
    ]
    if order.location:
        lines.append(f"<b>Location:</b> {escape(order.location)}")
    lines.append(f"<b>Description:</b> {escape(order.description)}")
    for note in order.notes[-3:]:
        lines.append(f"📝 {escape(note.text)}")
    lines.append("\nReply to this message with <i>done, …</i> to complete it with a note.")
    return "\n".join(lines)


def my_work_header(total: int) -> str:
    return f"<b>Your open work</b> ({total}):"


def status_changed(number: str, status: WorkOrderStatus) -> str:
    return f"<b>{escape(number)}</b> is now <b>{STATUS_LABELS[status]}</b>."


def asset_details(asset: Asset, open_orders: Sequence[WorkOrder], prints: int) -> str:
    lines = [f"<b>{escape(asset.name)}</b>" + (f" ({escape(asset.tag)})" if asset.tag else "")]
    for label, value in (
        ("Location", asset.location),
        ("Category", asset.category),
        ("Status", asset.status),
        ("About", asset.description),
    ):
        if value:
            lines.append(f"<b>{label}:</b> {escape(value)}")
    if open_orders:
        lines.append(f"\n<b>Open work orders</b> ({len(open_orders)}):")
        lines.extend(f"• {escape(o.number)} {escape(o.title)}" for o in open_orders[:5])
    else:
        lines.append("\nNo open work orders.")
    if prints:
        lines.append(f"📐 {prints} print{'s' if prints > 1 else ''} on file")
    return "\n".join(lines)
