"""Escalation: CRITICAL and HIGH work orders are chased until someone presses Ack.

``Escalation.run`` (the scheduler's job) finds open CRITICAL/HIGH work orders in the CMMS and
keeps one ``work_order_alerts`` row per work order:

* stage 0 — first notice, with an Ack button, to the assignee's chat (or the admins when nobody
  is assigned or the assignee has no linked chat);
* stage 1 — not acknowledged within ``ack_after``: the notice is re-sent to the same people;
* stage 2 — still not acknowledged after another ``ack_after``: escalated to every admin.

Ack records ``acknowledged_at`` (``/stats`` reads the mean time to acknowledge from it, measured
from the work order's creation) and stops the chase, as does the work order leaving OPEN or
dropping below HIGH. Every step is a conditional UPDATE (or the alert's unique key) taken in the
same transaction as its outbox messages, whose dedup keys name alert, stage and chat: several
instances never send a stage twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy.exc import IntegrityError

from bot import texts
from bot.domain import Priority, Role, WorkOrderStatus
from integrations.cmms.port import CmmsError, CmmsNotFound, CmmsPort, WorkOrder
from storage.models import WorkOrderAlert, utcnow
from storage.uow import UnitOfWork, UnitOfWorkFactory

logger = logging.getLogger(__name__)

ACK_PREFIX = "woack:"
URGENT = (Priority.CRITICAL, Priority.HIGH)
STAGE_NOTICE, STAGE_RESENT, STAGE_ESCALATED = 0, 1, 2


def ack_markup(alert_id: int) -> dict[str, Any]:
    """The Ack button as Bot API JSON (services build no aiogram objects)."""
    return {
        "inline_keyboard": [
            [{"text": texts.ACK_BUTTON, "callback_data": f"{ACK_PREFIX}{alert_id}"}]
        ]
    }


class AckResult(StrEnum):
    ACKNOWLEDGED = "acknowledged"
    ALREADY = "already"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class AckOutcome:
    result: AckResult
    number: str = ""
    after: timedelta | None = None


class Escalation:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        cmms: CmmsPort,
        *,
        ack_after: timedelta,
        admin_telegram_ids: Iterable[int] = (),
        clock: Callable[[], datetime] = utcnow,
        max_age: timedelta = timedelta(days=7),
        scan_limit: int = 500,
        after_commit: Callable[[], None] | None = None,
    ) -> None:
        self._uow = uow
        self._cmms = cmms
        self.ack_after = ack_after
        self._admin_ids = frozenset(admin_telegram_ids)
        self.clock = clock
        self._max_age = max_age
        self._scan_limit = scan_limit
        self._after_commit = after_commit

    async def run(self) -> int:
        """One pass; returns how many notices (all stages) were queued."""
        try:
            open_orders = await self._cmms.list_open_work_orders(limit=self._scan_limit)
        except CmmsError as exc:
            logger.info("Escalation skipped, the CMMS is unavailable: %s", exc.message)
            return 0
        now = self.clock()
        urgent = {order.id: order for order in open_orders if self._chased(order, now)}
        queued = await self._open_alerts(urgent, now)
        queued += await self._advance_due(urgent, now)
        if queued and self._after_commit is not None:
            self._after_commit()
        return queued

    def _chased(self, order: WorkOrder, now: datetime) -> bool:
        return (
            order.priority in URGENT
            and order.status is WorkOrderStatus.OPEN
            and order.created_at >= now - self._max_age
        )

    async def _open_alerts(self, urgent: dict[str, WorkOrder], now: datetime) -> int:
        async with self._uow() as uow:
            known = await uow.jobs.alerts_for(self._cmms.backend, list(urgent))
        queued = 0
        for order in urgent.values():
            if order.id in known:
                continue
            async with self._uow() as uow:
                alert = WorkOrderAlert(
                    cmms_backend=self._cmms.backend,
                    work_order_id=order.id,
                    number=order.number,
                    priority=order.priority.value,
                    opened_at=order.created_at,
                    stage=STAGE_NOTICE,
                    next_action_at=now + self.ack_after,
                )
                uow.jobs.add_alert(alert)
                try:
                    await uow.session.flush()
                except IntegrityError:
                    continue  # another instance opened it
                chats = await self._first_line(uow, order)
                sent = await self._notify(uow, alert.id, STAGE_NOTICE, order, chats)
                try:
                    await uow.commit()
                except IntegrityError:
                    continue  # lost a race on the alert or an outbox key: nothing was queued
                queued += sent
            logger.info("Chasing %s %s until acknowledged", order.priority.value, order.number)
        return queued

    async def _advance_due(self, urgent: dict[str, WorkOrder], now: datetime) -> int:
        async with self._uow() as uow:
            due = [
                (alert.id, alert.work_order_id, alert.stage)
                for alert in await uow.jobs.due_alerts(self._cmms.backend, now, 100)
            ]
        queued = 0
        for alert_id, work_order_id, stage in due:
            order = urgent.get(work_order_id)
            if order is None:
                try:
                    order = await self._still_chased(work_order_id, now)
                except CmmsError:
                    break  # the CMMS is down: decide on the next run
            async with self._uow() as uow:
                if order is None:  # completed, started, downgraded or gone: stop chasing
                    await uow.jobs.advance_alert(alert_id, stage, next_action_at=None)
                    await uow.commit()
                    continue
                if stage == STAGE_NOTICE:
                    to_stage, next_at = STAGE_RESENT, now + self.ack_after
                    chats = await self._first_line(uow, order)
                else:
                    to_stage, next_at = STAGE_ESCALATED, None
                    chats = await self._admin_chats(uow)
                if not await uow.jobs.advance_alert(
                    alert_id, stage, stage=to_stage, next_action_at=next_at, number=order.number
                ):
                    continue  # acknowledged or advanced by someone else meanwhile
                queued += await self._notify(uow, alert_id, to_stage, order, chats)
                await uow.commit()
        return queued

    async def _still_chased(self, work_order_id: str, now: datetime) -> WorkOrder | None:
        try:
            order = await self._cmms.get_work_order(work_order_id)
        except CmmsNotFound:
            return None
        return order if self._chased(order, now) else None

    async def _first_line(self, uow: UnitOfWork, order: WorkOrder) -> list[int]:
        """The assignee's chat, or the admins' when there is none."""
        if order.assigned_to_email:
            user = await uow.users.by_email(order.assigned_to_email.strip().lower())
            if user is not None and user.telegram_chat_id and user.status == "active":
                return [user.telegram_chat_id]
        return await self._admin_chats(uow)

    async def _admin_chats(self, uow: UnitOfWork) -> list[int]:
        chats = set(self._admin_ids)
        for user in await uow.users.linked():
            if user.role == Role.ADMIN.value and user.telegram_chat_id:
                chats.add(user.telegram_chat_id)
        return sorted(chats)

    async def _notify(
        self, uow: UnitOfWork, alert_id: int, stage: int, order: WorkOrder, chats: list[int]
    ) -> int:
        text = texts.alert_notice(
            order, stage=stage, ack_minutes=self.ack_after.total_seconds() / 60
        )
        queued = 0
        for chat_id in chats:
            queued += await uow.outbox.enqueue(
                dedup_key=f"alert:{alert_id}:{stage}:{chat_id}",
                chat_id=chat_id,
                text=text,
                reply_markup=ack_markup(alert_id),
            )
        return queued

    async def acknowledge(self, alert_id: int, *, user_id: int | None) -> AckOutcome:
        """Ack pressed: record the time to acknowledge and stop the chase (once)."""
        now = self.clock()
        async with self._uow() as uow:
            alert = await uow.jobs.alert(alert_id)
            if alert is None:
                return AckOutcome(AckResult.UNKNOWN)
            number, opened_at = alert.number, alert.opened_at
            if not await uow.jobs.acknowledge(alert_id, now, user_id):
                return AckOutcome(AckResult.ALREADY, number)
            await uow.commit()
        logger.info("%s acknowledged after %s", number, now - opened_at)
        return AckOutcome(AckResult.ACKNOWLEDGED, number, max(now - opened_at, timedelta(0)))
