"""Append-only rows written together just before the unit of work commits."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Base


class PendingInserts:
    """Rows that nobody reads back in the same transaction (audit entries, event records) are
    kept here and written with one executemany per table at commit. As ORM objects each would
    cost its own flush work, and on SQLite its own INSERT (to fetch an id nobody reads)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._rows: dict[type[Base], list[dict[str, Any]]] = {}

    def add(self, model: type[Base], **values: Any) -> None:
        self._rows.setdefault(model, []).append(values)

    def pending(self, model: type[Base]) -> list[dict[str, Any]]:
        return self._rows.get(model, [])

    async def write(self) -> None:
        rows, self._rows = self._rows, {}
        if not rows:
            return
        # Core inserts on the session's connection: the ORM's bulk path adds nothing for rows
        # that never become objects. The ORM's own changes go first, as its autoflush would.
        await self._session.flush()
        connection = await self._session.connection()
        for model, values in rows.items():
            await connection.execute(insert(cast(Table, model.__table__)), values)
