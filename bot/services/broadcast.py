"""Admin broadcasts: draft → confirm → send at Telegram's limits, resumable, at most once each.

Durability: a confirmed broadcast has one ``broadcast_deliveries`` row per recipient. Each row is
claimed (``pending → sending``) in its own commit before the Bot API call and settled
(``sent``/``skipped``/``failed``) in its own commit right after the answer. A runner that dies
leaves at most the rows it was sending in ``sending``; the next runner turns them into
``unknown`` and never sends them again, so nobody gets the same broadcast twice.

One runner per broadcast, across instances: the runner holds a lease on the broadcast row and
renews it; a scheduler job (and start-up) resumes any ``sending`` broadcast whose lease is free.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot import texts
from bot.domain import Tier
from bot.services.messaging import RateLimited, RecipientBlocked, Sender, SendError, describe
from bot.services.rate_limit import SendLimiter
from storage.models import Broadcast, utcnow
from storage.uow import UnitOfWorkFactory

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=20)
BATCH = 200
MAX_ATTEMPTS = 3
STOP_GRACE_S = 5.0


@dataclass(frozen=True, slots=True)
class BroadcastDraft:
    id: int
    recipients: int
    tier: Tier | None


@dataclass(slots=True)
class Progress:
    total: int
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, state: str) -> None:
        self.counts[state] = self.counts.get(state, 0) + 1

    def get(self, state: str) -> int:
        return self.counts.get(state, 0)

    @property
    def settled(self) -> int:
        return sum(n for state, n in self.counts.items() if state not in ("pending", "sending"))


@dataclass(frozen=True, slots=True)
class _Snapshot:
    """What a runner needs of the broadcast row (ORM rows expire when their session ends)."""

    id: int
    text: str
    admin_chat_id: int
    progress_message_id: int | None
    total: int


@dataclass(frozen=True, slots=True)
class _Job:
    delivery_id: int
    chat_id: int


class BroadcastService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        sender: Sender,
        limiter: SendLimiter,
        *,
        workers: int = 6,
        progress_interval_s: float = 3.0,
        lease: timedelta = LEASE,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._uow = uow
        self._sender = sender
        self._limiter = limiter
        self._workers = workers
        self._progress_interval_s = progress_interval_s
        self._lease = lease
        self._clock = clock
        self._owner = uuid.uuid4().hex
        self._runners: dict[int, asyncio.Task[None]] = {}
        self._stopping = asyncio.Event()

    # ------------------------------------------------------------------ admin actions
    async def draft(
        self, text: str, *, tier: Tier | None, actor: str, admin_chat_id: int
    ) -> BroadcastDraft:
        async with self._uow() as uow:
            recipients = len(await uow.users.linked(tier.value if tier else None))
            broadcast = await uow.broadcasts.add(
                Broadcast(
                    text=text,
                    tier=tier.value if tier else None,
                    created_by=actor,
                    admin_chat_id=admin_chat_id,
                    status="draft",
                    total=recipients,
                )
            )
            uow.audit.record(
                actor,
                "broadcast.drafted",
                f"broadcast:{broadcast.id}",
                tier=broadcast.tier,
                recipients=recipients,
            )
            await uow.commit()
            return BroadcastDraft(broadcast.id, recipients, tier)

    async def confirm(
        self, broadcast_id: int, *, actor: str, progress_message_id: int
    ) -> int | None:
        """Snapshot the recipients and start sending; None if it was not a draft any more."""
        async with self._uow() as uow:
            broadcast = await uow.broadcasts.get(broadcast_id)
            if broadcast is None or broadcast.status != "draft":
                return None
            recipients = [
                (user.id, user.telegram_chat_id)
                for user in await uow.users.linked(broadcast.tier)
                if user.telegram_chat_id is not None
            ]
            if not await uow.broadcasts.transition(
                broadcast_id,
                "draft",
                status="sending",
                total=len(recipients),
                progress_message_id=progress_message_id,
                started_at=self._clock(),
            ):
                return None
            uow.broadcasts.add_deliveries(broadcast_id, recipients)
            uow.audit.record(
                actor,
                "broadcast.confirmed",
                f"broadcast:{broadcast_id}",
                recipients=len(recipients),
            )
            await uow.commit()
        self.start(broadcast_id)
        return len(recipients)

    async def cancel(self, broadcast_id: int, *, actor: str) -> bool:
        async with self._uow() as uow:
            if not await uow.broadcasts.transition(
                broadcast_id, "draft", status="cancelled", finished_at=self._clock()
            ):
                return False
            uow.audit.record(actor, "broadcast.cancelled", f"broadcast:{broadcast_id}")
            await uow.commit()
            return True

    # ------------------------------------------------------------------ runners
    def start(self, broadcast_id: int) -> None:
        if self._stopping.is_set():
            return
        running = self._runners.get(broadcast_id)
        if running is not None and not running.done():
            return
        task = asyncio.create_task(self._run(broadcast_id), name=f"broadcast-{broadcast_id}")
        self._runners[broadcast_id] = task
        task.add_done_callback(lambda t: self._runner_done(broadcast_id, t))

    def _runner_done(self, broadcast_id: int, task: asyncio.Task[None]) -> None:
        if self._runners.get(broadcast_id) is task:
            del self._runners[broadcast_id]
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("broadcast %s runner failed", broadcast_id, exc_info=exc)

    async def resume_unfinished(self) -> int:
        """Start a runner for every broadcast still sending (start-up and a scheduler job)."""
        async with self._uow() as uow:
            ids = await uow.broadcasts.unfinished_ids()
        for broadcast_id in ids:
            self.start(broadcast_id)
        return len(ids)

    async def wait_finished(self, broadcast_id: int) -> None:
        task = self._runners.get(broadcast_id)
        if task is not None:
            await asyncio.shield(task)

    async def stop(self) -> None:
        """Let runners finish the message in hand, release their leases, then return."""
        self._stopping.set()
        tasks = list(self._runners.values())
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=STOP_GRACE_S)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _claim_lease(self, broadcast_id: int) -> bool:
        now = self._clock()
        async with self._uow() as uow:
            claimed = await uow.broadcasts.claim(broadcast_id, self._owner, now, now + self._lease)
            await uow.commit()
            return claimed

    async def _run(self, broadcast_id: int) -> None:
        if not await self._claim_lease(broadcast_id):
            return
        async with self._uow() as uow:
            orphans = await uow.broadcasts.orphaned_to_unknown(broadcast_id)
            await uow.commit()
            row = await uow.broadcasts.get(broadcast_id)
            assert row is not None
            broadcast = _Snapshot(
                row.id, row.text, row.admin_chat_id, row.progress_message_id, row.total
            )
            counts = await uow.broadcasts.counts(broadcast_id)
        if orphans:
            log.warning("broadcast %s: %s deliveries of unknown outcome", broadcast_id, orphans)
        progress = Progress(total=broadcast.total, counts=counts)
        body = texts.broadcast_body(broadcast.text)
        lost_lease = asyncio.Event()
        progress_changed = asyncio.Event()
        helpers = [
            asyncio.create_task(self._keep_lease(broadcast_id, lost_lease)),
            asyncio.create_task(
                self._report_progress(broadcast, progress, progress_changed, lost_lease)
            ),
        ]
        finished = False
        try:
            finished = await self._send_all(
                broadcast_id, body, progress, progress_changed, lost_lease
            )
        finally:
            for helper in helpers:
                helper.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            await asyncio.shield(self._finish(broadcast, progress, finished))

    async def _send_all(
        self,
        broadcast_id: int,
        body: str,
        progress: Progress,
        progress_changed: asyncio.Event,
        lost_lease: asyncio.Event,
    ) -> bool:
        """True when every delivery is settled."""

        def halted() -> bool:
            return self._stopping.is_set() or lost_lease.is_set()

        while not halted():
            async with self._uow() as uow:
                batch = [
                    _Job(row.id, row.chat_id)
                    for row in await uow.broadcasts.pending_deliveries(broadcast_id, BATCH)
                ]
            if not batch:
                return True
            queue: asyncio.Queue[_Job] = asyncio.Queue()
            for job in batch:
                queue.put_nowait(job)

            async def worker(queue: asyncio.Queue[_Job] = queue) -> None:
                while not halted():
                    try:
                        job = queue.get_nowait()
                    except asyncio.QueueEmpty:
                        return
                    state = await self._deliver(job, body)
                    if state is not None:
                        progress.add(state)
                        progress_changed.set()

            await asyncio.gather(*(worker() for _ in range(self._workers)))
        return False

    async def _deliver(self, job: _Job, body: str) -> str | None:
        """Send one delivery; the state it settled in, or None if it stays pending."""
        async with self._limiter.slot(job.chat_id):
            async with self._uow() as uow:
                row = await uow.broadcasts.delivery(job.delivery_id)
                if row is None or row.state != "pending":
                    return None
                attempts = row.attempts + 1
                if not await uow.broadcasts.set_delivery_state(
                    job.delivery_id, "pending", "sending", attempts=attempts
                ):
                    return None
                await uow.commit()
            error: SendError | None = None
            try:
                await self._sender.send_text(job.chat_id, body)
            except SendError as exc:
                error = exc
        if error is None:
            state, detail = "sent", None
        elif isinstance(error, RecipientBlocked):
            state, detail = "skipped", "blocked the bot"
        elif isinstance(error, RateLimited):
            self._limiter.pause(error.retry_after)
            state, detail = "pending", "rate limited"
            attempts -= 1  # Telegram refused before sending: not an attempt
        elif error.permanent or attempts >= MAX_ATTEMPTS:
            state, detail = "failed", describe(error)
        else:
            state, detail = "pending", describe(error)
        async with self._uow() as uow:
            await uow.broadcasts.set_delivery_state(
                job.delivery_id, "sending", state, attempts=attempts, error=detail
            )
            await uow.commit()
        return None if state == "pending" else state

    async def _keep_lease(self, broadcast_id: int, lost: asyncio.Event) -> None:
        while True:
            await asyncio.sleep(self._lease.total_seconds() / 3)
            if not await self._claim_lease(broadcast_id):
                log.warning("broadcast %s: lease lost to another runner", broadcast_id)
                lost.set()
                return

    async def _report_progress(
        self,
        broadcast: _Snapshot,
        progress: Progress,
        changed: asyncio.Event,
        lost_lease: asyncio.Event,
    ) -> None:
        shown = -1
        while not lost_lease.is_set():
            if progress.settled != shown:
                shown = progress.settled
                await self._show(
                    broadcast, texts.broadcast_progress(progress.total, progress.counts)
                )
            changed.clear()
            await asyncio.sleep(self._progress_interval_s)
            await changed.wait()

    async def _show(self, broadcast: _Snapshot, text: str) -> None:
        if broadcast.progress_message_id is None:
            return
        try:
            async with self._limiter.slot(broadcast.admin_chat_id):
                await self._sender.edit_text(
                    broadcast.admin_chat_id, broadcast.progress_message_id, text
                )
        except RateLimited as exc:
            self._limiter.pause(exc.retry_after)
        except SendError as exc:
            log.info("broadcast %s: progress not shown: %s", broadcast.id, describe(exc))

    async def _finish(self, broadcast: _Snapshot, progress: Progress, finished: bool) -> None:
        async with self._uow() as uow:
            if finished:
                counts = await uow.broadcasts.counts(broadcast.id)
                progress.counts = counts
                done = await uow.broadcasts.transition(
                    broadcast.id, "sending", status="done", finished_at=self._clock()
                )
                if done:
                    uow.audit.record(
                        "system", "broadcast.finished", f"broadcast:{broadcast.id}", **counts
                    )
            await uow.broadcasts.release(broadcast.id, self._owner)
            await uow.commit()
        if finished:
            with contextlib.suppress(Exception):
                await self._show(broadcast, texts.broadcast_done(progress.total, progress.counts))
