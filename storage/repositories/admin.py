"""Queries for broadcasts, asset links, work-order alerts and admin statistics. Never commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import User
from storage.models.admin import AssetLink, Broadcast, BroadcastDelivery, WorkOrderAlert
from storage.models.cmms import CmmsAsset, CmmsWorkOrder


class BroadcastRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, broadcast: Broadcast) -> Broadcast:
        self.session.add(broadcast)
        await self.session.flush()
        return broadcast

    async def get(self, broadcast_id: int) -> Broadcast | None:
        return await self.session.get(Broadcast, broadcast_id)

    async def transition(self, broadcast_id: int, from_status: str, **values: Any) -> bool:
        """Conditional status change; False when another actor changed it first."""
        result = await self.session.execute(
            update(Broadcast)
            .where(Broadcast.id == broadcast_id, Broadcast.status == from_status)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def claim(self, broadcast_id: int, owner: str, now: datetime, until: datetime) -> bool:
        """Take (or renew) the sending lease when it is free, expired or already ours."""
        result = await self.session.execute(
            update(Broadcast)
            .where(
                Broadcast.id == broadcast_id,
                Broadcast.status == "sending",
                or_(
                    Broadcast.lease_owner.is_(None),
                    Broadcast.lease_owner == owner,
                    Broadcast.lease_until < now,
                ),
            )
            .values(lease_owner=owner, lease_until=until)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def release(self, broadcast_id: int, owner: str) -> None:
        await self.session.execute(
            update(Broadcast)
            .where(Broadcast.id == broadcast_id, Broadcast.lease_owner == owner)
            .values(lease_owner=None, lease_until=None)
            .execution_options(synchronize_session=False)
        )

    async def unfinished_ids(self) -> list[int]:
        query = select(Broadcast.id).where(Broadcast.status == "sending").order_by(Broadcast.id)
        return list(await self.session.scalars(query))

    def add_deliveries(self, broadcast_id: int, recipients: Sequence[tuple[int, int]]) -> None:
        self.session.add_all(
            BroadcastDelivery(broadcast_id=broadcast_id, user_id=user_id, chat_id=chat_id)
            for user_id, chat_id in recipients
        )

    async def pending_deliveries(self, broadcast_id: int, limit: int) -> list[BroadcastDelivery]:
        query = (
            select(BroadcastDelivery)
            .where(
                BroadcastDelivery.broadcast_id == broadcast_id,
                BroadcastDelivery.state == "pending",
            )
            .order_by(BroadcastDelivery.id)
            .limit(limit)
        )
        return list(await self.session.scalars(query))

    async def delivery(self, delivery_id: int) -> BroadcastDelivery | None:
        return await self.session.get(BroadcastDelivery, delivery_id)

    async def set_delivery_state(
        self, delivery_id: int, from_state: str, to_state: str, **values: Any
    ) -> bool:
        result = await self.session.execute(
            update(BroadcastDelivery)
            .where(BroadcastDelivery.id == delivery_id, BroadcastDelivery.state == from_state)
            .values(state=to_state, **values)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def orphaned_to_unknown(self, broadcast_id: int) -> int:
        """Rows left in ``sending`` by a crashed runner: their outcome is unknown."""
        result = await self.session.execute(
            update(BroadcastDelivery)
            .where(
                BroadcastDelivery.broadcast_id == broadcast_id,
                BroadcastDelivery.state == "sending",
            )
            .values(state="unknown")
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def counts(self, broadcast_id: int) -> dict[str, int]:
        query = (
            select(BroadcastDelivery.state, func.count(BroadcastDelivery.id))
            .where(BroadcastDelivery.broadcast_id == broadcast_id)
            .group_by(BroadcastDelivery.state)
        )
        return {state: int(n) for state, n in (await self.session.execute(query)).all()}


class AssetLinkRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_token(self, token: str) -> AssetLink | None:
        return await self.session.scalar(select(AssetLink).where(AssetLink.token == token))

    async def for_assets(self, backend: str, asset_ids: Sequence[str]) -> dict[str, str]:
        if not asset_ids:
            return {}
        query = select(AssetLink.asset_id, AssetLink.token).where(
            AssetLink.cmms_backend == backend, AssetLink.asset_id.in_(asset_ids)
        )
        return {asset_id: token for asset_id, token in (await self.session.execute(query)).all()}

    def add(self, backend: str, asset_id: str, token: str) -> None:
        self.session.add(AssetLink(cmms_backend=backend, asset_id=asset_id, token=token))


class AlertRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def acknowledged_since(self, since: datetime) -> list[WorkOrderAlert]:
        query = select(WorkOrderAlert).where(
            WorkOrderAlert.acknowledged_at.is_not(None), WorkOrderAlert.opened_at >= since
        )
        return list(await self.session.scalars(query))


class AdminStatsRepository:
    """Raw rows for /stats from the local CMMS tables; the service aggregates them."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def work_orders_touching(self, since: datetime) -> Sequence[Any]:
        """(id, priority, status, asset_id, created_at, completed_at) of every work order
        opened or completed since ``since``, and of every open one."""
        query = select(
            CmmsWorkOrder.id,
            CmmsWorkOrder.priority,
            CmmsWorkOrder.status,
            CmmsWorkOrder.asset_id,
            CmmsWorkOrder.created_at,
            CmmsWorkOrder.completed_at,
        ).where(
            or_(
                CmmsWorkOrder.created_at >= since,
                CmmsWorkOrder.completed_at >= since,
                CmmsWorkOrder.status != "COMPLETE",
            )
        )
        return (await self.session.execute(query)).all()

    async def asset_names(self, ids: Sequence[int]) -> dict[int, str]:
        if not ids:
            return {}
        query = select(CmmsAsset.id, CmmsAsset.name).where(CmmsAsset.id.in_(ids))
        return {asset_id: name for asset_id, name in (await self.session.execute(query)).all()}

    async def active_users_since(self, since: datetime) -> int:
        query = select(func.count(User.id)).where(
            User.last_seen_at >= since, User.telegram_user_id.is_not(None)
        )
        return int(await self.session.scalar(query) or 0)
