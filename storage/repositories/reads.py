"""Look-ups made on every update, outside any unit of work: committed data, read through the
database's fast reader when it has one (storage/sqlite_loop.py: SqliteOnLoop)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Executable

from storage.repositories.cmms import open_work_orders_query
from storage.repositories.users import SENDER

# Rows with the columns as attributes (SQLAlchemy rows, or named tuples from SQLite directly).
Reader = Callable[[Executable, Mapping[str, Any]], Awaitable[Sequence[Any]]]


class UpdateReads:
    def __init__(self, read: Reader) -> None:
        self._read = read

    async def sender(self, telegram_user_id: int) -> Any | None:
        """The row of UserView's columns (and `last_seen_at`) of a Telegram account's user."""
        rows = await self._read(SENDER, {"telegram_user_id": telegram_user_id})
        return rows[0] if rows else None

    async def open_work_orders(
        self,
        *,
        assigned_to_email: str | None,
        created_by_email: str | None,
        asset_id: int | None,
        limit: int,
    ) -> Sequence[Any]:
        """Rows of the work-order table, newest first."""
        query, params = open_work_orders_query(
            assigned_to_email=assigned_to_email,
            created_by_email=created_by_email,
            asset_id=asset_id,
            limit=limit,
        )
        return await self._read(query, params)
