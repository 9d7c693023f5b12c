from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import OutboxMessage, utcnow
from storage.repositories.pending import PendingInserts


class OutboxRepository:
    def __init__(self, session: AsyncSession, pending: PendingInserts) -> None:
        self.session = session
        self._pending = pending

    async def enqueue(
        self, *, dedup_key: str, chat_id: int, text: str, reply_markup: dict[str, Any] | None = None
    ) -> bool:
        """Queue a message unless one with this key exists already (then return False). The
        row is written at commit, with the unit of work's other appended rows."""
        if any(row["dedup_key"] == dedup_key for row in self._pending.pending(OutboxMessage)):
            return False
        # Outbox rows come only from here, so other pending changes need not be flushed first.
        with self.session.no_autoflush:
            existing = await self.session.scalar(
                select(OutboxMessage.id).where(OutboxMessage.dedup_key == dedup_key)
            )
        if existing is not None:
            return False
        self._pending.add(
            OutboxMessage,
            dedup_key=dedup_key,
            chat_id=chat_id,
            text=text,
            reply_markup=reply_markup,
            next_attempt_at=utcnow(),
        )
        return True

    async def due(self, now: datetime, limit: int = 50) -> list[OutboxMessage]:
        query = (
            select(OutboxMessage)
            .where(
                OutboxMessage.sent_at.is_(None),
                OutboxMessage.failed_at.is_(None),
                OutboxMessage.next_attempt_at <= now,
            )
            .order_by(OutboxMessage.id)
            .limit(limit)
        )
        if self.session.bind is not None and self.session.bind.dialect.name == "postgresql":
            # Several instances may run the delivery job: each row goes to one of them.
            query = query.with_for_update(skip_locked=True)
        return list(await self.session.scalars(query))

    async def pending_count(self) -> int:
        rows = await self.session.scalars(
            select(OutboxMessage.id).where(
                OutboxMessage.sent_at.is_(None), OutboxMessage.failed_at.is_(None)
            )
        )
        return len(list(rows))
