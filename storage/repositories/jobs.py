"""Queries of the scheduled jobs: work-order watches, escalation alerts, clean-up. Never commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    OnboardingToken,
    ProcessedUpdate,
    StripeEvent,
    WorkOrderAlert,
    WorkOrderRequest,
    WorkOrderWatch,
)


def _rowcount(result: Any) -> int:
    return int(result.rowcount or 0)


class JobsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # -- CMMS status sync -----------------------------------------------------------------
    async def unwatched_creates(self, backend: str, limit: int) -> list[WorkOrderRequest]:
        """Synced create requests (with a chat to tell) that have no watch yet."""
        watched = select(WorkOrderWatch.request_id)
        query = (
            select(WorkOrderRequest)
            .where(
                WorkOrderRequest.kind == "create",
                WorkOrderRequest.state == "synced",
                WorkOrderRequest.cmms_backend == backend,
                WorkOrderRequest.cmms_id.is_not(None),
                WorkOrderRequest.chat_id.is_not(None),
                WorkOrderRequest.id.not_in(watched),
            )
            .order_by(WorkOrderRequest.id)
            .limit(limit)
        )
        return list(await self.session.scalars(query))

    def add_watch(self, watch: WorkOrderWatch) -> None:
        self.session.add(watch)

    async def due_watches(self, backend: str, now: datetime, limit: int) -> list[WorkOrderWatch]:
        query = (
            select(WorkOrderWatch)
            .where(
                WorkOrderWatch.active.is_(True),
                WorkOrderWatch.cmms_backend == backend,
                WorkOrderWatch.next_check_at <= now,
            )
            .order_by(WorkOrderWatch.next_check_at, WorkOrderWatch.id)
            .limit(limit)
        )
        return list(await self.session.scalars(query))

    async def watch(self, watch_id: int) -> WorkOrderWatch | None:
        return await self.session.get(WorkOrderWatch, watch_id)

    async def update_watch(self, watch_id: int, version_seen: int, **values: Any) -> bool:
        """Bump the version (and set ``values``) unless another worker bumped it first."""
        result = await self.session.execute(
            update(WorkOrderWatch)
            .where(WorkOrderWatch.id == watch_id, WorkOrderWatch.version == version_seen)
            .values(version=version_seen + 1, **values)
            .execution_options(synchronize_session=False)
        )
        return _rowcount(result) == 1

    async def writes_since(self, backend: str, since: datetime) -> list[WorkOrderRequest]:
        """Status changes and notes written through Rivet lately (whatever their state)."""
        query = (
            select(WorkOrderRequest)
            .where(
                WorkOrderRequest.kind.in_(("status", "note")),
                WorkOrderRequest.cmms_backend == backend,
                WorkOrderRequest.created_at >= since,
            )
            .order_by(WorkOrderRequest.id)
        )
        return list(await self.session.scalars(query))

    # -- escalation -------------------------------------------------------------------------
    async def alerts_for(self, backend: str, ids: Sequence[str]) -> dict[str, WorkOrderAlert]:
        if not ids:
            return {}
        query = select(WorkOrderAlert).where(
            WorkOrderAlert.cmms_backend == backend, WorkOrderAlert.work_order_id.in_(ids)
        )
        return {alert.work_order_id: alert for alert in await self.session.scalars(query)}

    def add_alert(self, alert: WorkOrderAlert) -> None:
        self.session.add(alert)

    async def due_alerts(self, backend: str, now: datetime, limit: int) -> list[WorkOrderAlert]:
        query = (
            select(WorkOrderAlert)
            .where(
                WorkOrderAlert.cmms_backend == backend,
                WorkOrderAlert.acknowledged_at.is_(None),
                WorkOrderAlert.next_action_at.is_not(None),
                WorkOrderAlert.next_action_at <= now,
            )
            .order_by(WorkOrderAlert.next_action_at, WorkOrderAlert.id)
            .limit(limit)
        )
        return list(await self.session.scalars(query))

    async def alert(self, alert_id: int) -> WorkOrderAlert | None:
        return await self.session.get(WorkOrderAlert, alert_id)

    async def advance_alert(self, alert_id: int, stage_seen: int, **values: Any) -> bool:
        """Move an unacknowledged alert on from ``stage_seen``; False when someone beat us."""
        result = await self.session.execute(
            update(WorkOrderAlert)
            .where(
                WorkOrderAlert.id == alert_id,
                WorkOrderAlert.stage == stage_seen,
                WorkOrderAlert.acknowledged_at.is_(None),
                WorkOrderAlert.next_action_at.is_not(None),
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return _rowcount(result) == 1

    async def acknowledge(self, alert_id: int, at: datetime, by: int | None) -> bool:
        result = await self.session.execute(
            update(WorkOrderAlert)
            .where(WorkOrderAlert.id == alert_id, WorkOrderAlert.acknowledged_at.is_(None))
            .values(acknowledged_at=at, acknowledged_by=by, next_action_at=None)
            .execution_options(synchronize_session=False)
        )
        return _rowcount(result) == 1

    # -- clean-up ---------------------------------------------------------------------------
    async def delete_spent_tokens(self, before: datetime) -> int:
        """Onboarding tokens used, or expired, before ``before``."""
        result = await self.session.execute(
            delete(OnboardingToken).where(
                or_(OnboardingToken.expires_at < before, OnboardingToken.used_at < before)
            )
        )
        return _rowcount(result)

    async def delete_processed_updates(self, before: datetime) -> int:
        result = await self.session.execute(
            delete(ProcessedUpdate).where(ProcessedUpdate.received_at < before)
        )
        return _rowcount(result)

    async def delete_stripe_events(self, before: datetime) -> int:
        """Settled Stripe events received before ``before`` (pending ones are kept)."""
        result = await self.session.execute(
            delete(StripeEvent).where(
                StripeEvent.received_at < before, StripeEvent.outcome != "pending"
            )
        )
        return _rowcount(result)
