"""Router tree, built fresh per dispatcher. Order matters: the first router whose filters
match handles the update; the fallback router stays last."""

from __future__ import annotations

from aiogram import Router

from bot.states import Profile
from handlers import admin, billing, common, escalation, fallback, prints, start, work_orders
from handlers.gates import takes


def get_routers() -> list[Router]:
    return [
        _commands(),
        # Before the work-order router: /print files, print sessions and documents.
        prints.create_router(),
        work_orders.create_router(),
        fallback.create_router(),
    ]


def _commands() -> Router:
    """The routers whose messages are commands or the onboarding conversation. A problem
    report, the most common message, skips all of them with one check."""
    group = Router(name=f"{__name__}.commands")
    group.message.filter(takes(Profile))
    group.include_routers(
        start.create_router(),
        common.create_router(),
        # Before anything that takes free text: non-admins get "not allowed" for admin commands.
        admin.create_router(),
        escalation.create_router(),  # the Ack button on escalation notices
        billing.create_router(),
    )
    return group
