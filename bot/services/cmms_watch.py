"""CMMS status sync: the creator of a work order made through Rivet hears about its changes.

The scheduler runs ``CmmsWatch.run``. Every synced create request (with a chat to tell) gets a
``work_order_watches`` row holding what its creator was last told: status, the notes seen and
the description. A run reads the due work orders from the CMMS (local or Atlas, so changes made
in either UI are seen) and queues one Telegram message per change through the durable outbox.

Safe on several instances: a watch is claimed by a conditional UPDATE of its ``version`` before
the CMMS is read, and a change is recorded (with its message, in one transaction) only if the
version is still the claimed one — so a change is told once, whoever sees it. Changes the creator
made through Rivet themselves (their own status changes and notes) are not echoed back.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError

from bot import texts
from bot.domain import WorkOrderStatus
from integrations.cmms.port import CmmsError, CmmsNotFound, CmmsPort, Note, WorkOrder
from storage.models import WorkOrderRequest, WorkOrderWatch, utcnow
from storage.uow import UnitOfWorkFactory

logger = logging.getLogger(__name__)


def note_key(note: Note) -> str:
    """Identity of a note across reads (Atlas's feedback note has no stable time)."""
    raw = f"{(note.author or '').strip().lower()}\n{' '.join(note.text.split())}"
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def _norm(text: str | None) -> str:
    return "\n".join(line.rstrip() for line in (text or "").strip().splitlines())


@dataclass(frozen=True, slots=True)
class WatchPolicy:
    interval: timedelta = timedelta(seconds=60)
    # A create synced this recently is compared with what Rivet created (OPEN, no notes), so a
    # change made before the first check is told too; older ones start from what the CMMS says.
    recent: timedelta = timedelta(days=1)
    # Completed work orders are watched a while longer (they may be reopened).
    keep_closed: timedelta = timedelta(days=7)
    # How far back the creator's own writes are looked up to avoid echoing them.
    own_writes: timedelta = timedelta(days=2)
    batch: int = 100


@dataclass(frozen=True, slots=True)
class _Seen:
    id: int
    version: int
    cmms_id: str
    user_id: int | None
    chat_id: int
    status: str
    note_keys: frozenset[str]
    description: str
    closed_at: datetime | None


class CmmsWatch:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        cmms: CmmsPort,
        *,
        policy: WatchPolicy | None = None,
        clock: Callable[[], datetime] = utcnow,
        after_commit: Callable[[], None] | None = None,
    ) -> None:
        self._uow = uow
        self._cmms = cmms
        self.policy = policy or WatchPolicy()
        self.clock = clock
        self._after_commit = after_commit

    async def run(self) -> int:
        """One pass (the scheduler's job); returns how many messages were queued."""
        await self.adopt_new()
        now = self.clock()
        async with self._uow() as uow:
            due = [
                _seen(watch)
                for watch in await uow.jobs.due_watches(self._cmms.backend, now, self.policy.batch)
            ]
            own = _OwnWrites(
                await uow.jobs.writes_since(self._cmms.backend, now - self.policy.own_writes)
            )
        queued = 0
        for seen in due:
            claimed = await self._claim(seen, now)
            if claimed is None:
                continue
            try:
                order = await self._cmms.get_work_order(seen.cmms_id)
            except CmmsNotFound:
                await self._stop(claimed)
                continue
            except CmmsError as exc:
                logger.info("CMMS status sync paused: %s", exc.message)
                break  # the CMMS is down: the rest wait for the next run
            if await self._compare(claimed, order, own, now):
                queued += 1
        if queued and self._after_commit is not None:
            self._after_commit()
        return queued

    async def adopt_new(self) -> int:
        """Start watching the work orders created through Rivet since the last pass."""
        async with self._uow() as uow:
            requests = await uow.jobs.unwatched_creates(self._cmms.backend, self.policy.batch)
            fresh = [
                (r.id, r.cmms_id, r.cmms_number, r.user_id, r.chat_id, r.synced_at, r.payload)
                for r in requests
            ]
        adopted = 0
        now = self.clock()
        for request_id, cmms_id, number, user_id, chat_id, synced_at, payload in fresh:
            assert cmms_id is not None and chat_id is not None
            if synced_at is not None and synced_at >= now - self.policy.recent:
                status, keys, description = (
                    WorkOrderStatus.OPEN.value,
                    [],
                    payload.get("description"),
                )
            else:
                try:
                    order = await self._cmms.get_work_order(cmms_id)
                except CmmsError:
                    continue  # adopted on a later pass
                status = order.status.value
                keys = sorted({note_key(n) for n in order.notes})
                description = order.description
            watch = WorkOrderWatch(
                request_id=request_id,
                cmms_backend=self._cmms.backend,
                cmms_id=cmms_id,
                number=number or cmms_id,
                user_id=user_id,
                chat_id=chat_id,
                status=status,
                note_keys=keys,
                description=_norm(description),
                active=True,
                version=0,
                next_check_at=now,
            )
            async with self._uow() as uow:
                uow.jobs.add_watch(watch)
                try:
                    await uow.commit()
                    adopted += 1
                except IntegrityError:
                    pass  # another instance adopted it
        return adopted

    async def _claim(self, seen: _Seen, now: datetime) -> _Seen | None:
        async with self._uow() as uow:
            taken = await uow.jobs.update_watch(
                seen.id, seen.version, next_check_at=now + self.policy.interval
            )
            await uow.commit()
        if not taken:
            return None
        return dataclasses.replace(seen, version=seen.version + 1)

    async def _stop(self, seen: _Seen) -> None:
        async with self._uow() as uow:
            await uow.jobs.update_watch(seen.id, seen.version, active=False)
            await uow.commit()

    async def _compare(self, seen: _Seen, order: WorkOrder, own: _OwnWrites, now: datetime) -> bool:
        """Record what changed and queue the creator's message; True when one was queued."""
        new_status: WorkOrderStatus | None = None
        if order.status.value != seen.status and not own.made_status(
            seen.cmms_id, seen.user_id, order.status
        ):
            new_status = order.status
        mine = own.note_texts(seen.cmms_id, seen.user_id)
        current_keys = {note_key(note) for note in order.notes}
        notes = [
            note.text
            for note in order.notes
            if note_key(note) not in seen.note_keys and _norm(note.text) not in mine
        ]
        description = _norm(order.description)
        if description != seen.description and description.startswith(seen.description):
            # A remark appended in the CMMS's UI (Atlas keeps them in the description).
            added = description[len(seen.description) :].strip()
            if added and _norm(added) not in mine:
                notes.append(added)
        complete = order.status is WorkOrderStatus.COMPLETE
        closed_at = (seen.closed_at or now) if complete else None
        values = {
            "status": order.status.value,
            "note_keys": sorted(current_keys | seen.note_keys),
            "description": description,
            "number": order.number,
            "closed_at": closed_at,
            "active": closed_at is None or closed_at > now - self.policy.keep_closed,
        }
        async with self._uow() as uow:
            if not await uow.jobs.update_watch(seen.id, seen.version, **values):
                return False  # another worker took the row meanwhile: it tells
            told = False
            if new_status is not None or notes:
                await uow.outbox.enqueue(
                    dedup_key=f"wo-watch:{seen.id}:{seen.version + 1}",
                    chat_id=seen.chat_id,
                    text=texts.work_order_changed(
                        order.number, order.title, new_status, notes, order.url
                    ),
                )
                told = True
            await uow.commit()
        if told:
            logger.info("Told the creator of %s about a change in the CMMS", order.number)
        return told


@dataclass(frozen=True, slots=True)
class _Write:
    kind: str
    user_id: int | None
    status: str | None
    text: str | None


class _OwnWrites:
    """Status changes and notes written through Rivet, by work order (copied out of the rows)."""

    def __init__(self, requests: Iterable[WorkOrderRequest]) -> None:
        self._by_order: dict[str, list[_Write]] = {}
        for request in requests:
            payload = dict(request.payload or {})
            text = payload.get("text") or payload.get("note")
            write = _Write(
                kind=request.kind,
                user_id=request.user_id,
                status=payload.get("status"),
                text=_norm(str(text)) if text else None,
            )
            self._by_order.setdefault(str(payload.get("work_order_id") or ""), []).append(write)

    def made_status(self, work_order_id: str, user_id: int | None, status: WorkOrderStatus) -> bool:
        """The latest status change through Rivet was the creator's own, to this status."""
        changes = [w for w in self._by_order.get(work_order_id, []) if w.kind == "status"]
        if not changes or user_id is None:
            return False
        latest = changes[-1]
        return latest.user_id == user_id and latest.status == status.value

    def note_texts(self, work_order_id: str, user_id: int | None) -> set[str]:
        if user_id is None:
            return set()
        return {
            write.text
            for write in self._by_order.get(work_order_id, [])
            if write.user_id == user_id and write.text
        }


def _seen(watch: WorkOrderWatch) -> _Seen:
    return _Seen(
        id=watch.id,
        version=watch.version,
        cmms_id=watch.cmms_id,
        user_id=watch.user_id,
        chat_id=watch.chat_id,
        status=watch.status,
        note_keys=frozenset(str(key) for key in watch.note_keys or ()),
        description=watch.description or "",
        closed_at=watch.closed_at,
    )
