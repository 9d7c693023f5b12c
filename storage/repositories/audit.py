from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AuditEntry


class AuditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def record(
        self, actor: str, action: str, subject: str | None = None, **details: Any
    ) -> AuditEntry:
        entry = AuditEntry(actor=actor, action=action, subject=subject, details=details)
        self.session.add(entry)
        return entry

    async def list(self, action: str | None = None, limit: int = 100) -> list[AuditEntry]:
        query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
        if action:
            query = query.where(AuditEntry.action == action)
        return list(await self.session.scalars(query))
