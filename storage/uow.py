"""Unit of work: one transaction, the repositories that share it, one commit at the end."""

from __future__ import annotations

from functools import cached_property
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
        return self

    # Repositories are made on first use: most units of work touch one or two of them, and
    # one opens for every update.
    @cached_property
    def pending(self) -> PendingInserts:
        return PendingInserts(self.session)

    @cached_property
    def users(self) -> UserRepository:
        return UserRepository(self.session)

    @cached_property
    def tokens(self) -> OnboardingTokenRepository:
        return OnboardingTokenRepository(self.session)

    @cached_property
    def audit(self) -> AuditRepository:
        return AuditRepository(self.session, self.pending)

    @cached_property
    def outbox(self) -> OutboxRepository:
        return OutboxRepository(self.session, self.pending)

    @cached_property
    def cmms(self) -> CmmsRepository:
        return CmmsRepository(self.session)

    @cached_property
    def work_order_requests(self) -> WorkOrderRequestRepository:
        return WorkOrderRequestRepository(self.session)

    @cached_property
    def billing(self) -> BillingRepository:
        return BillingRepository(self.session, self.pending)

    @cached_property
    def prints(self) -> PrintRepository:
        return PrintRepository(self.session)

    @cached_property
    def broadcasts(self) -> BroadcastRepository:
        return BroadcastRepository(self.session)

    @cached_property
    def asset_links(self) -> AssetLinkRepository:
        return AssetLinkRepository(self.session)

    @cached_property
    def alerts(self) -> AlertRepository:
        return AlertRepository(self.session)

    @cached_property
    def admin_stats(self) -> AdminStatsRepository:
        return AdminStatsRepository(self.session)

    @cached_property
    def jobs(self) -> JobsRepository:
        return JobsRepository(self.session)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # close() rolls back whatever was not committed and hands the connection back.
        await self.session.close()

    async def commit(self) -> None:
        if "pending" in self.__dict__:  # nothing can be pending before a repository needed it
            await self.pending.write()
        await self.session.commit()


class UnitOfWorkFactory:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker

    def __call__(self) -> UnitOfWork:
        return UnitOfWork(self.sessionmaker)
