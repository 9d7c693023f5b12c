"""Unit of work: one transaction, the repositories that share it, one commit at the end."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.repositories import (
    AuditRepository,
    OnboardingTokenRepository,
    OutboxRepository,
    UserRepository,
)
from storage.repositories.admin import (
    AdminStatsRepository,
    AlertRepository,
    AssetLinkRepository,
    BroadcastRepository,
)
from storage.repositories.billing import BillingRepository
from storage.repositories.cmms import CmmsRepository, WorkOrderRequestRepository
from storage.repositories.jobs import JobsRepository
from storage.repositories.pending import PendingInserts
from storage.repositories.prints import PrintRepository


class UnitOfWork:
    """`async with factory() as uow: ...; await uow.commit()`. Leaving uncommitted rolls back."""

    session: AsyncSession

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    async def __aenter__(self) -> UnitOfWork:
        self.session = self._sessionmaker()
        self.pending = PendingInserts(self.session)
        self.users = UserRepository(self.session)
        self.tokens = OnboardingTokenRepository(self.session)
        self.audit = AuditRepository(self.session, self.pending)
        self.outbox = OutboxRepository(self.session, self.pending)
        self.cmms = CmmsRepository(self.session)
        self.work_order_requests = WorkOrderRequestRepository(self.session)
        self.billing = BillingRepository(self.session, self.pending)
        self.prints = PrintRepository(self.session)
        self.broadcasts = BroadcastRepository(self.session)
        self.asset_links = AssetLinkRepository(self.session)
        self.alerts = AlertRepository(self.session)
        self.admin_stats = AdminStatsRepository(self.session)
        self.jobs = JobsRepository(self.session)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # close() rolls back whatever was not committed and hands the connection back.
        await self.session.close()

    async def commit(self) -> None:
        await self.pending.write()
        await self.session.commit()


class UnitOfWorkFactory:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker

    def __call__(self) -> UnitOfWork:
        return UnitOfWork(self.sessionmaker)
