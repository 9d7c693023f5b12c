"""Router tree, built fresh per dispatcher. Order matters: the first router whose filters
match handles the update; the fallback router stays last."""

from __future__ import annotations

from aiogram import Router

from handlers import common, fallback, start


def get_routers() -> list[Router]:
    return [start.create_router(), common.create_router(), fallback.create_router()]
