"""Unit of work: one transaction, the repositories that share it, one commit at the end."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from types import TracebackType
from typing import Any

from sqlalchemy import Executable
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
from storage.repositories.reads import Reader, UpdateReads


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
    pending = cached_property(lambda uow: PendingInserts(uow.session))
    users = cached_property(lambda uow: UserRepository(uow.session))
    tokens = cached_property(lambda uow: OnboardingTokenRepository(uow.session))
    audit = cached_property(lambda uow: AuditRepository(uow.session, uow.pending))
    outbox = cached_property(lambda uow: OutboxRepository(uow.session, uow.pending))
    cmms = cached_property(lambda uow: CmmsRepository(uow.session))
    work_order_requests = cached_property(lambda uow: WorkOrderRequestRepository(uow.session))
    billing = cached_property(lambda uow: BillingRepository(uow.session, uow.pending))
    prints = cached_property(lambda uow: PrintRepository(uow.session))
    broadcasts = cached_property(lambda uow: BroadcastRepository(uow.session))
    asset_links = cached_property(lambda uow: AssetLinkRepository(uow.session))
    alerts = cached_property(lambda uow: AlertRepository(uow.session))
    admin_stats = cached_property(lambda uow: AdminStatsRepository(uow.session))
    jobs = cached_property(lambda uow: JobsRepository(uow.session))

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
    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], *, reader: Reader | None = None
    ) -> None:
        self.sessionmaker = sessionmaker
        # Look-ups made on every update, outside any unit of work.
        self.reads = UpdateReads(reader or self._read_in_session)

    def __call__(self) -> UnitOfWork:
        return UnitOfWork(self.sessionmaker)

    async def _read_in_session(
        self, statement: Executable, params: Mapping[str, Any]
    ) -> Sequence[Any]:
        async with self.sessionmaker() as session:
            return (await session.execute(statement, params)).all()
