"""Every sentence a user sees. Handlers and services take their words from here.

Texts are HTML (the bot's default parse mode): values from users go through `html.escape`."""

from __future__ import annotations

from html import escape

from bot.domain import Tier

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
