from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AuditEntry, utcnow
from storage.repositories.pending import PendingInserts


class AuditRepository:
    """Append-only; entries are written when the unit of work commits."""

    def __init__(self, session: AsyncSession, pending: PendingInserts) -> None:
        self.session = session
        self._pending = pending

    def record(self, actor: str, action: str, subject: str | None = None, **details: Any) -> None:
        self._pending.add(
            AuditEntry,
            actor=actor,
            action=action,
            subject=subject,
            details=details,
            created_at=utcnow(),
        )

    async def list(self, action: str | None = None, limit: int = 100) -> list[AuditEntry]:
        await self._pending.write()
        query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
        if action:
            query = query.where(AuditEntry.action == action)
        return list(await self.session.scalars(query))
