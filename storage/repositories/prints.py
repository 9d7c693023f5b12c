"""Queries of the prints and their questions. They never commit."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models.prints import PrintFile, PrintQuestion


class PrintRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, row: PrintFile) -> PrintFile:
        self.session.add(row)
        await self.session.flush()
        return row

    async def get(self, print_id: int) -> PrintFile | None:
        return await self.session.get(PrintFile, print_id)

    async def awaiting_attachment(self, now: datetime, limit: int) -> list[int]:
        """Prints filed on an asset that the CMMS has not taken yet (nor refused), oldest first."""
        query = (
            select(PrintFile.id)
            .where(_awaiting_attachment(now))
            .order_by(PrintFile.id)
            .limit(limit)
        )
        return list(await self.session.scalars(query))

    async def claim_attachment(self, print_id: int, now: datetime, until: datetime) -> bool:
        """Take the print's hand-over to the CMMS until `until`, unless another worker has it."""
        result = await self.session.execute(
            update(PrintFile)
            .where(PrintFile.id == print_id, _awaiting_attachment(now))
            .values(cmms_attach_lease_until=until)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def for_user(self, user_id: int, limit: int) -> list[PrintFile]:
        query = (
            select(PrintFile)
            .where(PrintFile.user_id == user_id)
            .order_by(PrintFile.created_at.desc(), PrintFile.id.desc())
            .limit(limit)
        )
        return list(await self.session.scalars(query))

    async def for_asset(self, asset_id: str, limit: int) -> list[PrintFile]:
        query = (
            select(PrintFile)
            .where(PrintFile.asset_id == asset_id)
            .order_by(PrintFile.created_at.desc(), PrintFile.id.desc())
            .limit(limit)
        )
        return list(await self.session.scalars(query))

    async def count_since(self, user_id: int, since: datetime) -> int:
        query = select(func.count(PrintFile.id)).where(
            PrintFile.user_id == user_id, PrintFile.created_at >= since
        )
        return int(await self.session.scalar(query) or 0)

    def add_question(self, row: PrintQuestion) -> None:
        self.session.add(row)

    async def recent_questions(
        self, print_id: int, user_id: int, limit: int
    ) -> list[PrintQuestion]:
        """The user's latest questions on this print, oldest first."""
        query = (
            select(PrintQuestion)
            .where(PrintQuestion.print_id == print_id, PrintQuestion.user_id == user_id)
            .order_by(PrintQuestion.id.desc())
            .limit(limit)
        )
        return list(reversed(list(await self.session.scalars(query))))


def _awaiting_attachment(now: datetime) -> ColumnElement[bool]:
    return and_(
        PrintFile.asset_id.is_not(None),
        PrintFile.cmms_attachment_id.is_(None),
        PrintFile.cmms_refusal.is_(None),
        or_(PrintFile.cmms_attach_lease_until.is_(None), PrintFile.cmms_attach_lease_until < now),
    )
