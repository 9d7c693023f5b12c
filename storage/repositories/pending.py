"""Append-only rows written together just before the unit of work commits."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert
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
        for model, values in rows.items():
            await self._session.execute(insert(model), values)
