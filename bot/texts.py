"""Every sentence a user sees. Handlers and services take their words from here.

Texts are HTML (the bot's default parse mode): values from users go through `html.escape`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
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
    "/status — service health\n"
    "/labels — QR labels for assets"
)

CANCELLED = "Okay, cancelled."
NOTHING_TO_CANCEL = "There's nothing to cancel."
SOMETHING_WENT_WRONG = "Sorry, something went wrong on my side. Please try again in a minute."
NOT_ALLOWED = "Sorry, that's not allowed for your account."

COMMANDS_TECHNICIAN: list[tuple[str, str]] = [
    ("mywork", "My open work orders"),
    ("asset", "Look up a machine"),
    ("print", "Ask about a drawing (Pro)"),
    ("prints", "My prints (Pro)"),
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
    ("labels", "QR labels for assets"),
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

# --- CMMS write outbox (bot.services.cmms_sync) ----------------------------------------------
CMMS_UPDATE_SAVED_WILL_SYNC = (
    "💾 Saved — the work-order system isn't answering, so I'll apply this as soon as it's back."
)


def cmms_update_synced(number: str) -> str:
    return f"🔄 Your update to <b>{escape(number)}</b> is now in the work-order system."


def cmms_limit_user(reason: str) -> str:
    return (
        f"⚠️ Saved, but the work-order system can't take it yet: {escape(reason)}\n"
        "Your admin has been told. I'm keeping your report and will file it once that's fixed."
    )


def cmms_limit_admin(reason: str, title: str, reporter: str | None) -> str:
    who = f" from {escape(reporter)}" if reporter else ""
    return (
        f"⚠️ <b>The work-order system refused a report{who}</b>: {escape(reason)}\n"
        f"Report: <i>{escape(title)}</i>\n"
        "Rivet keeps it and retries every few minutes until it goes through."
    )


def cmms_rejected(reason: str) -> str:
    return f"❌ The work-order system rejected this: {escape(reason)}"


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


# --- Billing ---------------------------------------------------------------------------------
BILLING_NOT_CONFIGURED = "Billing is not configured here. Ask your admin about your plan."
BILLING_UNAVAILABLE = "I couldn't reach the payment service just now. Please try again in a minute."
SUBSCRIBE_PICK_TIER = "Pick a plan. You'll pay securely on Stripe's checkout page."
SUBSCRIBE_NO_PRICES = "No plans are on sale here yet. Ask your admin."
BUTTON_MANAGE_BILLING = "Manage billing"
BUTTON_FIX_PAYMENT = "Update payment method"
NO_BILLING_ACCOUNT = "Stripe doesn't know you yet, so there is nothing to manage. /subscribe"
NO_SUBSCRIPTION = "You have no subscription yet. /subscribe to pick a plan."
PAYMENT_PROCESSING = "✅ Payment received — your plan is being set up. /billing shows it."
PAYMENT_RECOVERED = "✅ Your payment went through. Thanks — everything is back to normal."
OPEN_PORTAL = "Update your card or pay the open invoice in the billing portal:"
ALREADY_SUBSCRIBED = (
    "You already have a subscription. Change your plan, payment method or cancel in the "
    "billing portal:"
)
TIER_BLURBS: dict[Tier, str] = {
    Tier.BASIC: "work orders by text and voice",
    Tier.PRO: "adds Chat with Print",
    Tier.ENTERPRISE: "team limits and priority support",
}
BILLING_STATUS_LABELS: dict[str, str] = {
    "active": "active",
    "trialing": "trial",
    "past_due": "payment overdue",
    "unpaid": "unpaid",
    "canceled": "cancelled",
    "incomplete": "awaiting first payment",
    "incomplete_expired": "expired",
    "paused": "paused",
}


def tier_button(tier: Tier) -> str:
    return f"{tier.label} — {TIER_BLURBS.get(tier, '')}".rstrip(" —")


def checkout_ready(tier: Tier) -> str:
    return f"Here's your checkout for <b>{tier.label}</b>. The link is valid for 24 hours."


def pay_button(tier: Tier) -> str:
    return f"Pay for {tier.label}"


def plan_is_now(tier: Tier) -> str:
    if tier is Tier.NONE:
        return "Your plan has ended. /subscribe to pick one again."
    return f"🎉 Your plan is now <b>{tier.label}</b>.\n\n{TIER_ABILITIES[tier]}"


def subscription_ended(tier: Tier) -> str:
    if tier is Tier.NONE:
        return "Your subscription has ended, so paid features are off. /subscribe to come back."
    return f"One of your subscriptions has ended. Your plan is now <b>{tier.label}</b>."


def grace_ended(tier: Tier) -> str:
    return (
        "Your payment is still overdue, so your plan is paused "
        f"(now <b>{tier.label}</b>). /billing to fix it."
    )


def payment_failed(amount: str, next_attempt: datetime | None) -> str:
    lines = [f"⚠️ Your payment of <b>{escape(amount or 'your plan')}</b> didn't go through."]
    if next_attempt is not None:
        lines.append(f"We'll try again on {next_attempt:%d %b %Y}.")
    else:
        lines.append("There will be no further automatic attempts.")
    lines.append("Tap the button below to update your payment method.")
    return "\n".join(lines)


def billing_summary(
    tier: Tier, status: str, period_end: datetime | None, cancel_at_period_end: bool
) -> str:
    lines = [
        f"<b>Your plan:</b> {tier.label}",
        f"<b>Status:</b> {BILLING_STATUS_LABELS.get(status, escape(status))}",
    ]
    if period_end is not None:
        ends = cancel_at_period_end or status in ("canceled", "incomplete_expired")
        lines.append(f"<b>{'Ends' if ends else 'Renews'} on:</b> {period_end:%d %b %Y}")
    return "\n".join(lines)


def upgrade_required(feature: str, required: Tier) -> str:
    return f"⭐ Upgrade to {required.label} for {feature}."


def quota_reached(feature: str, quota: int, current: Tier, required: Tier) -> str:
    return (
        f"You've used all {quota} {feature} included in {current.label} this month. "
        f"Upgrade to {required.label} for more."
    )


def upgrade_button(required: Tier) -> str:
    return f"Upgrade to {required.label}"


SUCCESS_PAGE_TITLE = "Payment received — Rivet"
SUCCESS_PAGE_READY = "Payment received. Thank you!"
SUCCESS_PAGE_READY_DETAIL = (
    "Open Rivet in Telegram to start. On a computer? Scan the code with your phone."
)
SUCCESS_PAGE_WAITING = "Payment received — we're setting up your account."
SUCCESS_PAGE_WAITING_DETAIL = "This page refreshes by itself in a few seconds."
SUCCESS_PAGE_OPEN = "Open in Telegram"
SUCCESS_PAGE_BAD_LINK = "This link is not a checkout confirmation."

# --- Chat with Print (handlers/prints.py) ----------------------------------------------------
PRINT_SEND_FILE = "Send me the print as a PDF or a photo. /cancel to stop."
PRINT_IS_IT_A_PRINT = "Is this a print — a drawing or schematic you want to ask me about?"
BUTTON_PRINT_YES = "📐 Yes, it's a print"
BUTTON_PRINT_NO = "No"
PRINT_NOT_A_PRINT = "Okay, I'll leave it."
PRINT_READING = "📄 Got it — reading the print…"
PRINT_SAVING = "💾 Saving the print…"
PRINT_SAFETY_REMINDER = "⚠️ Verify on site and follow lock-out/tag-out before touching anything."
PRINT_ASK_HINT = (
    "Ask me anything about it, e.g. <i>what is CB-12?</i> — /print done when you're finished."
)
PRINT_DONE = "📐 Print closed. Send /print with another drawing any time, or /prints for yours."
PRINT_NONE_OPEN = "No print is open. Send a PDF or photo with the caption /print, or use /prints."
PRINT_GONE = "I can't find that print any more. Send it again with the caption /print."
PRINT_DOWNLOAD_FAILED = "I couldn't download that file from Telegram. Please send it again."
PRINT_TYPE_ASSET = "Which equipment is this print for? Type its name or tag."
PRINT_WHICH_ASSET = "Which equipment is this print for?"
PRINT_NOT_FILED = "Okay — the print isn't filed on any equipment. Ask away."
NO_PRINTS = "You haven't sent any prints yet. Send a PDF or photo with the caption /print."
BUTTON_PRINT_ATTACH = "📎 File it on equipment"
BUTTON_PRINT_DONE = "✅ Done"
BUTTON_ASSET_PRINTS = "📐 Prints"


def print_too_big(limit_mb: int) -> str:
    return (
        f"That file is over {limit_mb} MB — Telegram won't let me download it. "
        "Send a smaller PDF or a photo of the sheet you need."
    )


def print_rejected(sentence: str) -> str:
    return f"❌ {escape(sentence)}"


def print_analyzing(pages: int, vision: bool) -> str:
    read = f"Read {pages} page{'s' if pages != 1 else ''}"
    return f"🔎 {read} — analysing{' the drawing' if vision else ' the text'}…"


def print_analysis(
    file_name: str,
    summary: str,
    components: Sequence[str],
    ratings: Sequence[str],
    note: str | None,
    listed: bool,
) -> str:
    """The first reply to a print; `listed` = the summary already names devices and ratings."""
    lines = [f"📐 <b>{escape(file_name)}</b>", escape(summary)]
    if not listed and components:
        lines.append(f"<b>Devices:</b> {escape(', '.join(components[:15]))}")
    if not listed and ratings:
        lines.append(f"<b>Ratings:</b> {escape(', '.join(ratings[:10]))}")
    if note:
        lines.append(f"<i>{escape(note)}</i>")
    lines.append("")
    lines.append(PRINT_ASK_HINT)
    return "\n".join(lines)


def print_answer(text: str, pages: Sequence[int], safety: bool) -> str:
    lines = [escape(text)]
    if pages:
        cited = ", ".join(str(page) for page in pages)
        lines.append(f"📄 {'Pages' if len(pages) > 1 else 'Page'} {cited}")
    if safety:
        lines.append(PRINT_SAFETY_REMINDER)
    return "\n\n".join(lines)


def print_opened(file_name: str, summary: str) -> str:
    return f"📐 <b>{escape(file_name)}</b> is open.\n{escape(summary)}\n\n{PRINT_ASK_HINT}"


def print_button(file_name: str, created: datetime, asset_name: str | None) -> str:
    on = f" · {asset_name}" if asset_name else ""
    return f"{file_name} · {created:%d %b}{on}"


def my_prints_header(count: int) -> str:
    return f"<b>Your prints</b> ({count}) — tap one to ask about it:"


def asset_prints(asset_name: str, count: int) -> str:
    if not count:
        return f"No prints on file for <b>{escape(asset_name)}</b> yet."
    return f"<b>Prints for {escape(asset_name)}</b> ({count}) — tap one to ask about it:"


def print_no_asset_match(query: str) -> str:
    return f"I couldn't find <b>{escape(query)}</b> in the asset list. Type its name or tag."


def print_attached(file_name: str, asset_name: str) -> str:
    return f"📎 <b>{escape(file_name)}</b> is filed on <b>{escape(asset_name)}</b>."


# Reasons a print did not reach the work-order system, shown inside the messages below.
PRINT_FILE_MISSING = "the stored file is missing"
CMMS_NO_ANSWER = "no answer in time"


def print_attach_later(asset_name: str, problem: str | None) -> str:
    if problem is None:  # an earlier attempt is still under way
        return (
            f"📎 Filed on <b>{escape(asset_name)}</b>. The file is on its way to the "
            "work-order system."
        )
    return (
        f"📎 Filed on <b>{escape(asset_name)}</b>. The work-order system isn't taking files "
        f"right now ({escape(problem)}); I'll attach it there once it does and let you know."
    )


def print_attached_later(file_name: str, asset_name: str) -> str:
    return (
        f"📎 <b>{escape(file_name)}</b> is now attached to <b>{escape(asset_name)}</b> "
        "in the work-order system."
    )


def print_attach_failed(asset_name: str, problem: str) -> str:
    return (
        f"📎 I noted this print is for <b>{escape(asset_name)}</b>, but the work-order system "
        f"didn't take the file: {escape(problem)}"
    )


# --- Admin (handlers/admin.py, bot/services/broadcast.py, stats, labels) -------------------
INVITE_USAGE = "Usage: <code>/invite [basic|pro|enterprise|none] [technician|admin]</code>"
USER_USAGE = "Usage: <code>/user &lt;email or id&gt;</code>"
USER_NOT_FOUND = "No user matches that."
NO_USERS = "No users match."
BROADCAST_USAGE = (
    "Usage: <code>/broadcast [tier:basic|pro|enterprise] your message</code>\n"
    "It goes to every linked, active user (or one tier) after you confirm."
)
BROADCAST_NOBODY = "Nobody would receive that: no linked users (in that tier)."
BROADCAST_CANCELLED = "Broadcast cancelled — nothing was sent."
BROADCAST_ALREADY = "This broadcast was already confirmed or cancelled."
BUTTON_SEND = "📢 Send"
BUTTON_DISABLE = "🚫 Disable"
BUTTON_ENABLE = "✅ Enable"
BUTTON_NEW_LINK = "🔗 New invite link"
BUTTON_MAKE_ADMIN = "Make admin"
BUTTON_MAKE_TECHNICIAN = "Make technician"
LABELS_NONE = "No assets match. Try other words, or /labels alone for every asset."
STATS_CHART_CAPTION = "Work orders opened and closed per day, last 30 days."
USER_STATUS_LABELS = {"active": "active", "disabled": "disabled"}


def invite_created(tier: Tier, role: str, link: str, ttl_days: float) -> str:
    return (
        f"🔗 Invite for a new {escape(role)} on <b>{tier.label}</b> — single use, valid "
        f"{ttl_days:g} days:\n{escape(link)}"
    )


def user_line(user_id: int, name: str, email: str | None, tier: Tier, linked: bool) -> str:
    who = escape(email) if email else "no e-mail"
    state = "" if linked else " · not linked yet"
    return f"#{user_id} {escape(name)} ({who}) · {tier.label}{state}"


def users_header(count: int, words: str | None) -> str:
    matching = f" matching <i>{escape(words)}</i>" if words else ""
    return f"<b>Users</b>{matching} ({count}):"


def user_card(
    user_id: int,
    name: str,
    email: str | None,
    role: str,
    tier: Tier,
    status: str,
    linked: bool,
) -> str:
    return "\n".join(
        [
            f"<b>#{user_id} {escape(name)}</b>",
            f"<b>E-mail:</b> {escape(email) if email else '—'}",
            f"<b>Role:</b> {escape(role)}",
            f"<b>Plan:</b> {tier.label}",
            f"<b>Status:</b> {USER_STATUS_LABELS.get(status, escape(status))}",
            f"<b>Telegram:</b> {'linked' if linked else 'not linked'}",
        ]
    )


def new_link_for(name: str, link: str, ttl_days: float) -> str:
    return f"🔗 New single-use link for {escape(name)} (valid {ttl_days:g} days):\n{escape(link)}"


def broadcast_preview(text: str, recipients: int, tier: Tier | None) -> str:
    audience = f"{tier.label} users" if tier else "all linked users"
    return (
        f"<b>Broadcast to {recipients} {audience}</b> — check it, then send:\n\n"
        f"{broadcast_body(text)}"
    )


def broadcast_body(text: str) -> str:
    return f"📢 {escape(text)}"


def _broadcast_counts(total: int, counts: dict[str, int]) -> str:
    parts = [f"sent {counts.get('sent', 0)}/{total}"]
    for state, label in (("skipped", "blocked the bot"), ("failed", "failed"),
                         ("unknown", "unknown after a restart")):  # fmt: skip
        if counts.get(state):
            parts.append(f"{counts[state]} {label}")
    return ", ".join(parts)


def broadcast_progress(total: int, counts: dict[str, int]) -> str:
    return f"📤 Sending… {_broadcast_counts(total, counts)}"


def broadcast_done(total: int, counts: dict[str, int]) -> str:
    return f"✅ Broadcast finished: {_broadcast_counts(total, counts)}."


STATUS_ICONS = {"ok": "✅", "error": "❌", "not configured": "➖"}


def service_status(checks: dict[str, tuple[str, str]], metrics: dict[str, object]) -> str:
    lines = ["<b>Service status</b>"]
    for name, (status, detail) in checks.items():
        more = f" — {escape(detail)}" if detail else ""
        lines.append(f"{STATUS_ICONS.get(status, '•')} {escape(name)}: {escape(status)}{more}")
    lines.append("")
    users, active = metrics.get("users", 0), metrics.get("users_active_24h", 0)
    lines.append(f"Users: {users}, active 24 h: {active}")
    latency = metrics.get("update_latency_ms")
    if isinstance(latency, dict) and latency:
        shown = ", ".join(f"{escape(str(k))} {v} ms" for k, v in latency.items())
        lines.append(f"Update handling: {shown}")
    return "\n".join(lines)


def _duration(value: timedelta | None) -> str:
    if value is None:
        return "—"
    minutes = int(value.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    return f"{hours // 24} d {hours % 24} h"


def _count(value: int | None) -> str:
    return "—" if value is None else str(value)


def stats_summary(
    *,
    source: str,
    opened_today: int | None,
    opened_week: int | None,
    closed_today: int | None,
    closed_week: int | None,
    backlog: dict[Priority, int],
    mean_ack: timedelta | None,
    mean_complete: timedelta | None,
    active_24h: int,
    active_7d: int,
    top_assets: Sequence[tuple[str, int]],
) -> str:
    lines = [
        "<b>Work orders</b> (UTC)",
        f"Opened: today {_count(opened_today)}, this week {_count(opened_week)}",
        f"Closed: today {_count(closed_today)}, this week {_count(closed_week)}",
        f"<b>Open backlog:</b> {sum(backlog.values())}",
    ]
    for priority in reversed(list(Priority)):
        lines.append(f"  {PRIORITY_LABELS[priority]}: {backlog.get(priority, 0)}")
    lines.append(f"Mean time to acknowledge: {_duration(mean_ack)}")
    lines.append(f"Mean time to complete: {_duration(mean_complete)}")
    lines.append(f"<b>Active users:</b> 24 h {active_24h}, 7 days {active_7d}")
    if top_assets:
        lines.append("<b>Top assets</b> (30 days):")
        lines.extend(f"  {escape(name)}: {n}" for name, n in top_assets)
    if source != "local":
        lines.append(f"<i>From {escape(source)}: closed counts and times are not available.</i>")
    return "\n".join(lines)


def labels_caption(count: int, link: str | None) -> str:
    first = f"\nFirst one opens {escape(link)}" if link else ""
    return f"🏷 {count} QR label{'s' if count != 1 else ''} — print on A4.{first}"


# --- scheduled jobs: CMMS status sync, escalation, daily digest ------------------------------
ACK_BUTTON = "✅ Ack"
ALERT_ALREADY_ACKNOWLEDGED = "Already acknowledged."
ALERT_UNKNOWN = "This alert no longer exists."
DIGEST_NOTHING_OPEN = "No open work orders. 🎉"


def work_order_changed(
    number: str,
    title: str,
    new_status: WorkOrderStatus | None,
    notes: Sequence[str],
    url: str | None,
) -> str:
    """To the creator of a work order changed in the CMMS (status, notes or comments)."""
    lines = [f"🔔 <b>{escape(number)}</b> · {escape(title)}"]
    if new_status is not None:
        lines.append(f"Status is now <b>{STATUS_LABELS[new_status]}</b>.")
    for note in notes:
        lines.append(f"📝 {escape(note)}")
    if url:
        lines.append(escape(url))
    return "\n".join(lines)


def alert_notice(order: WorkOrder, *, stage: int, ack_minutes: float) -> str:
    """Stage 0: first notice; 1: reminder; 2: escalated to the admins."""
    heading = {
        0: "🚨 Needs acknowledging",
        1: "🚨 Reminder — still not acknowledged",
        2: "⏫ Escalated — nobody acknowledged",
    }[min(stage, 2)]
    lines = [
        f"<b>{heading}</b>",
        f"<b>{escape(order.number)}</b> · {PRIORITY_LABELS[order.priority]}",
        escape(order.title),
    ]
    if order.asset_name:
        lines.append(f"<b>Asset:</b> {escape(order.asset_name)}")
    if order.location:
        lines.append(f"<b>Location:</b> {escape(order.location)}")
    if stage >= 2:
        assignee = order.assigned_to_email or "nobody"
        lines.append(f"<b>Assigned to:</b> {escape(assignee)}")
    else:
        lines.append(f"Press Ack within {_duration(timedelta(minutes=ack_minutes))}.")
    return "\n".join(lines)


def alert_acknowledged(number: str, who: str, after: timedelta) -> str:
    return f"✅ <b>{escape(number)}</b> acknowledged by {escape(who)} after {_duration(after)}."


def daily_digest(
    day: str,
    own: Sequence[WorkOrder],
    backlog: Sequence[WorkOrder] | None,
    *,
    show: int = 10,
) -> str:
    """A technician's open work, and for admins (``backlog`` given) the whole open backlog."""
    lines = [f"☀️ <b>Daily digest</b> · {escape(day)}"]
    if own:
        lines.append(f"<b>Your open work</b> ({len(own)}):")
        lines.extend(f"  • {escape(work_order_button(order))}" for order in own[:show])
        if len(own) > show:
            lines.append(f"  … and {len(own) - show} more")
    if backlog is not None:
        lines.append(f"<b>Open backlog:</b> {len(backlog)}")
        for priority in reversed(list(Priority)):
            count = sum(1 for order in backlog if order.priority is priority)
            if count:
                lines.append(f"  {PRIORITY_LABELS[priority]}: {count}")
        oldest = sorted(backlog, key=lambda order: order.created_at)[:show]
        if oldest:
            lines.append("<b>Oldest:</b>")
            lines.extend(f"  • {escape(work_order_button(order))}" for order in oldest)
    if not own and not backlog:
        lines.append(DIGEST_NOTHING_OPEN)
    return "\n".join(lines)
