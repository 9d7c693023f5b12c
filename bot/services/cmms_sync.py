"""The CMMS write outbox: every write is recorded first, then attempted, then retried.

A write (create, status change, note) becomes a ``work_order_requests`` row in its own
transaction before the CMMS is called, so nothing a technician reported is lost when the CMMS is
down, slow, rate-limiting or capped. The row is then attempted at once; the outcome decides:

* synced — the CMMS id, number and URL are kept with the row;
* CmmsUnavailable (or no answer in time) — stays ``pending``; the scheduler retries it with
  exponential backoff and the user hears "synced as WO-…" through the Telegram outbox later;
* CmmsLimitReached — ``blocked_by_limit``: the user and the admins are told, the row is kept and
  retried at a slow cadence until the cap is lifted;
* CmmsRejected / CmmsNotFound — ``failed`` with the CMMS's reason.

Never two work orders for one request: the request's idempotency key is the CMMS's, and every
attempt after the first (whose outcome may be unknown) looks the key up before creating again.
Several workers (the immediate attempt, the scheduler, other instances) never attempt one row at
the same time: an attempt first claims the row with a conditional UPDATE that also leases it.

No aiogram here: users are told through ``WriteOutcome`` (immediate answers, rendered by the
conversation) and the durable Telegram outbox (everything decided later, and the admins).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError

from bot import texts
from bot.domain import Priority, Role, WorkOrderSource, WorkOrderStatus
from bot.services.work_orders import PendingFile, WriteOutcome
from integrations.cmms.port import (
    CmmsError,
    CmmsLimitReached,
    CmmsNotFound,
    CmmsPort,
    CmmsRejected,
    CmmsUnavailable,
    NewWorkOrder,
    WorkOrder,
)
from storage.models import WorkOrderRequest, utcnow
from storage.uow import UnitOfWork, UnitOfWorkFactory

logger = logging.getLogger(__name__)


class RequestState(StrEnum):
    PENDING = "pending"
    SYNCED = "synced"
    FAILED = "failed"
    BLOCKED_BY_LIMIT = "blocked_by_limit"


class RequestKind(StrEnum):
    CREATE = "create"
    STATUS = "status"
    NOTE = "note"


RETRYABLE_STATES = (RequestState.PENDING.value, RequestState.BLOCKED_BY_LIMIT.value)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    first_delay: timedelta = timedelta(seconds=30)
    max_delay: timedelta = timedelta(minutes=30)
    # A capped CMMS needs a person to act; checking every quarter hour is enough.
    limit_delay: timedelta = timedelta(minutes=15)
    # How long an attempt holds its row; a crash mid-attempt is retried after this.
    lease: timedelta = timedelta(minutes=5)
    # The immediate attempt keeps the technician waiting at most this long.
    immediate_timeout_s: float = 20.0

    def backoff(self, attempts: int) -> timedelta:
        delay = self.first_delay * (2 ** max(0, attempts - 1))
        return min(delay, self.max_delay)


@dataclass(frozen=True, slots=True)
class _Claimed:
    id: int
    key: str
    kind: RequestKind
    payload: dict[str, Any]
    attempts_before: int  # > 0: an earlier attempt may have reached the CMMS


class CmmsSync:
    """Records, attempts and retries CMMS writes; the conversation's ``WorkOrderWriter``."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        cmms: CmmsPort,
        *,
        admin_telegram_ids: Iterable[int] = (),
        policy: RetryPolicy | None = None,
        clock: Callable[[], datetime] = utcnow,
        files_dir: Path | None = None,
    ) -> None:
        self._uow = uow
        self._files_dir = files_dir
        self._cmms = cmms
        self._admin_ids = frozenset(admin_telegram_ids)
        self._policy = policy or RetryPolicy()
        self._clock = clock
        # Work orders of immediate attempts, handed to ``_outcome`` without a second read.
        self._synced: dict[int, WorkOrder] = {}

    # ------------------------------------------------------------------ the conversation's API

    async def submit_create(
        self,
        new: NewWorkOrder,
        *,
        user_id: int | None,
        chat_id: int | None,
        message_id: int | None = None,
        attachments: Sequence[PendingFile] = (),
    ) -> WriteOutcome:
        payload: dict[str, Any] = {
            "title": new.title,
            "description": new.description,
            "priority": new.priority.value,
            "source": new.source.value,
            "asset_id": new.asset_id,
            "location": new.location,
            "created_by_email": new.created_by_email,
            "assigned_to_email": new.assigned_to_email,
            "attachments": self._keep_files(attachments),
        }
        return await self._submit(
            new.idempotency_key, RequestKind.CREATE, payload, user_id, chat_id, message_id
        )

    def _keep_files(self, files: Sequence[PendingFile]) -> list[dict[str, str | None]]:
        """Files wait on disk (server-chosen names) until the work order exists in the CMMS,
        so a report's photos survive a CMMS outage and a restart like the report itself."""
        if not files:
            return []
        if self._files_dir is None:
            raise RuntimeError("CmmsSync needs files_dir to keep attachments")
        self._files_dir.mkdir(parents=True, exist_ok=True)
        kept: list[dict[str, str | None]] = []
        for file in files:
            name = uuid.uuid4().hex
            (self._files_dir / name).write_bytes(file.data)
            kept.append({"stored": name, "file_name": file.file_name, "mime_type": file.mime_type})
        return kept

    async def _attach_kept_files(
        self, work_order: WorkOrder, files: list[dict[str, Any]]
    ) -> WorkOrder:
        """Attach what is not attached yet (a retry after a partial attempt skips the rest)."""
        assert self._files_dir is not None
        present = {attachment.file_name for attachment in work_order.attachments}
        attached = False
        for file in files:
            path = self._files_dir / str(file["stored"])
            if file["file_name"] not in present and path.exists():
                await self._cmms.attach_file(
                    data=path.read_bytes(),
                    file_name=str(file["file_name"]),
                    mime_type=file.get("mime_type"),
                    work_order_id=work_order.id,
                )
                attached = True
        for file in files:
            (self._files_dir / str(file["stored"])).unlink(missing_ok=True)
        return await self._cmms.get_work_order(work_order.id) if attached else work_order

    async def submit_status(
        self,
        work_order_id: str,
        status: WorkOrderStatus,
        *,
        note: str | None,
        user_id: int | None,
        chat_id: int | None,
        idempotency_key: str | None = None,
    ) -> WriteOutcome:
        payload = {"work_order_id": work_order_id, "status": status.value, "note": note}
        key = idempotency_key or f"status:{work_order_id}:{uuid.uuid4().hex}"
        return await self._submit(key, RequestKind.STATUS, payload, user_id, chat_id, None)

    async def submit_note(
        self,
        work_order_id: str,
        text: str,
        *,
        author_email: str | None,
        user_id: int | None,
        chat_id: int | None,
        idempotency_key: str | None = None,
    ) -> WriteOutcome:
        payload = {"work_order_id": work_order_id, "text": text, "author_email": author_email}
        key = idempotency_key or f"note:{work_order_id}:{uuid.uuid4().hex}"
        return await self._submit(key, RequestKind.NOTE, payload, user_id, chat_id, None)

    async def retry_due(self, limit: int = 100) -> int:
        """Attempt the writes whose time has come (the scheduler's job); returns how many synced.

        While the CMMS is unavailable one attempt per run is enough to find out: the rest wait.
        """
        async with self._uow() as uow:
            due = await uow.work_order_requests.due_ids(self._clock(), RETRYABLE_STATES, limit)
        synced = 0
        for request_id in due:
            state = await self._attempt(request_id, immediate=False)
            if state is None:
                continue
            if state is RequestState.SYNCED:
                synced += 1
            elif state is RequestState.PENDING:
                break
        return synced

    async def queue_counts(self) -> dict[str, int]:
        async with self._uow() as uow:
            return await uow.work_order_requests.count_by_state()

    # ------------------------------------------------------------------ recording

    async def _submit(
        self,
        key: str,
        kind: RequestKind,
        payload: dict[str, Any],
        user_id: int | None,
        chat_id: int | None,
        message_id: int | None,
    ) -> WriteOutcome:
        request_id, fresh = await self._record(key, kind, payload, user_id, chat_id, message_id)
        if fresh:
            await self._attempt(request_id, immediate=True)
        elif self._files_dir is not None:
            for file in payload.get("attachments") or []:  # the first submit kept its own
                (self._files_dir / str(file["stored"])).unlink(missing_ok=True)
        # Otherwise a repeated submit (a double tap, a redelivered update): report its state.
        return await self._outcome(request_id)

    async def _record(
        self,
        key: str,
        kind: RequestKind,
        payload: dict[str, Any],
        user_id: int | None,
        chat_id: int | None,
        message_id: int | None,
    ) -> tuple[int, bool]:
        async with self._uow() as uow:
            existing = await uow.work_order_requests.by_key(key)
            if existing is not None:
                return existing.id, False
            request = await uow.work_order_requests.add(
                WorkOrderRequest(
                    idempotency_key=key,
                    kind=kind.value,
                    user_id=user_id,
                    chat_id=chat_id,
                    message_id=message_id,
                    payload=payload,
                    state=RequestState.PENDING.value,
                    attempts=0,
                    next_attempt_at=self._clock(),
                    cmms_backend=self._cmms.backend,
                )
            )
            try:
                await uow.commit()
            except IntegrityError:
                await uow.session.rollback()
                existing = await uow.work_order_requests.by_key(key)
                if existing is None:
                    raise
                return existing.id, False  # the same request, recorded concurrently
            return request.id, True

    async def _outcome(self, request_id: int) -> WriteOutcome:
        async with self._uow() as uow:
            row = await uow.work_order_requests.get(request_id)
            assert row is not None
            state, kind, cmms_id, error = row.state, row.kind, row.cmms_id, row.last_error
        if state == RequestState.SYNCED and cmms_id is not None:
            work_order = self._synced.pop(request_id, None)
            if work_order is None:
                try:
                    work_order = await self._cmms.get_work_order(cmms_id)
                except CmmsError:
                    return WriteOutcome(work_order=None, queued=False, problem=None)
            return WriteOutcome(work_order=work_order)
        if state == RequestState.BLOCKED_BY_LIMIT:
            return WriteOutcome(None, queued=True, problem=texts.cmms_limit_user(error or ""))
        if state == RequestState.FAILED:
            return WriteOutcome(None, queued=False, problem=texts.cmms_rejected(error or ""))
        if kind != RequestKind.CREATE:
            return WriteOutcome(None, queued=True, problem=texts.CMMS_UPDATE_SAVED_WILL_SYNC)
        return WriteOutcome(None, queued=True)

    # ------------------------------------------------------------------ attempting

    async def _attempt(self, request_id: int, *, immediate: bool) -> RequestState | None:
        """One attempt at one row; None when another worker holds it or it is settled."""
        claimed = await self._claim(request_id)
        if claimed is None:
            return None
        work_order: WorkOrder | None = None
        error: CmmsError | None = None
        try:
            if immediate:
                work_order = await asyncio.wait_for(
                    self._perform(claimed), self._policy.immediate_timeout_s
                )
            else:
                work_order = await self._perform(claimed)
        except CmmsError as raised:
            error = raised
        except TimeoutError:
            error = CmmsUnavailable(
                f"The {self._cmms.backend} CMMS did not answer within "
                f"{self._policy.immediate_timeout_s:g} s."
            )
        except Exception as unexpected:  # a bug must not lose the request: retry later
            logger.exception("CMMS write %s failed unexpectedly", claimed.key)
            error = CmmsUnavailable(f"Unexpected {type(unexpected).__name__}")
        return await self._settle(claimed, work_order, error, immediate=immediate)

    async def _claim(self, request_id: int) -> _Claimed | None:
        now = self._clock()
        async with self._uow() as uow:
            row = await uow.work_order_requests.get(request_id)
            if row is None or row.state not in RETRYABLE_STATES:
                return None
            claimed = _Claimed(
                id=row.id,
                key=row.idempotency_key,
                kind=RequestKind(row.kind),
                payload=dict(row.payload),
                attempts_before=row.attempts,
            )
            taken = await uow.work_order_requests.claim(
                row.id, attempts_seen=row.attempts, lease_until=now + self._policy.lease
            )
            await uow.commit()
        return claimed if taken else None

    async def _perform(self, request: _Claimed) -> WorkOrder:
        payload = request.payload
        if request.kind is RequestKind.CREATE:
            found = None
            if request.attempts_before > 0:
                # The last attempt may have created it before its answer was lost.
                found = await self._cmms.find_by_idempotency_key(request.key)
            created = found or await self._cmms.create_work_order(
                _new_work_order(request.key, payload)
            )
            files = payload.get("attachments") or []
            return await self._attach_kept_files(created, files) if files else created
        work_order_id = str(payload["work_order_id"])
        if request.kind is RequestKind.STATUS:
            status = WorkOrderStatus(payload["status"])
            note = payload.get("note") or None
            if request.attempts_before > 0:
                current = await self._cmms.get_work_order(work_order_id)
                if current.status is status and (
                    note is None or any(n.text == note.strip() for n in current.notes)
                ):
                    return current
            return await self._cmms.change_status(work_order_id, status, note)
        text = str(payload["text"])
        author = payload.get("author_email")
        if request.attempts_before > 0:
            current = await self._cmms.get_work_order(work_order_id)
            if any(n.text == text.strip() for n in current.notes):
                return current
        return await self._cmms.add_note(work_order_id, text, author)

    async def _settle(
        self,
        request: _Claimed,
        work_order: WorkOrder | None,
        error: CmmsError | None,
        *,
        immediate: bool,
    ) -> RequestState:
        now = self._clock()
        async with self._uow() as uow:
            row = await uow.work_order_requests.get(request.id)
            assert row is not None
            was_blocked = row.state == RequestState.BLOCKED_BY_LIMIT
            if work_order is not None:
                state = RequestState.SYNCED
                row.cmms_backend = self._cmms.backend
                row.cmms_id, row.cmms_number, row.cmms_url = (
                    work_order.id,
                    work_order.number,
                    work_order.url,
                )
                row.synced_at = now
                row.last_error = None
                if not immediate:
                    await self._tell_user(uow, row, "synced", _synced_text(row, work_order))
                else:
                    self._synced[request.id] = work_order
                logger.info(
                    "CMMS write %s synced as %s after %d attempt(s)",
                    row.idempotency_key,
                    work_order.number,
                    row.attempts,
                )
            elif isinstance(error, CmmsLimitReached):
                state = RequestState.BLOCKED_BY_LIMIT
                row.next_attempt_at = now + self._policy.limit_delay
                row.last_error = error.message[:500]
                if not was_blocked:
                    logger.warning("CMMS write %s blocked: %s", row.idempotency_key, error.message)
                    if not immediate:
                        text = texts.cmms_limit_user(error.message)
                        await self._tell_user(uow, row, "blocked", text)
                    await self._tell_admins(uow, row, error.message)
                row.user_notified = True
            elif isinstance(error, CmmsRejected | CmmsNotFound):
                state = RequestState.FAILED
                row.last_error = error.message[:500]
                logger.warning("CMMS write %s rejected: %s", row.idempotency_key, error.message)
                if not immediate:
                    await self._tell_user(uow, row, "failed", texts.cmms_rejected(error.message))
            else:
                state = RequestState.PENDING
                message = error.message if error is not None else "no answer"
                row.next_attempt_at = now + self._policy.backoff(row.attempts)
                row.last_error = message[:500]
                logger.warning(
                    "CMMS unavailable; write %s kept for retry %d: %s",
                    row.idempotency_key,
                    row.attempts,
                    message,
                )
                if immediate:
                    row.user_notified = True
            row.state = state.value
            await uow.commit()
        return state

    async def _tell_user(
        self, uow: UnitOfWork, row: WorkOrderRequest, what: str, text: str
    ) -> None:
        if row.chat_id is None:
            return
        await uow.outbox.enqueue(dedup_key=f"cmms:{row.id}:{what}", chat_id=row.chat_id, text=text)

    async def _tell_admins(self, uow: UnitOfWork, row: WorkOrderRequest, reason: str) -> None:
        chats = set(self._admin_ids)
        reporter: str | None = None
        for user in await uow.users.linked():
            if user.role == Role.ADMIN.value and user.telegram_chat_id:
                chats.add(user.telegram_chat_id)
            if user.id == row.user_id:
                reporter = user.display_name or user.email
        title = str(row.payload.get("title") or row.payload.get("text") or row.idempotency_key)
        text = texts.cmms_limit_admin(reason, title, reporter)
        for chat_id in sorted(chats):
            await uow.outbox.enqueue(
                dedup_key=f"cmms:{row.id}:admin:{chat_id}", chat_id=chat_id, text=text
            )


def _new_work_order(key: str, payload: dict[str, Any]) -> NewWorkOrder:
    return NewWorkOrder(
        title=str(payload["title"]),
        description=str(payload.get("description") or ""),
        priority=Priority(payload["priority"]),
        idempotency_key=key,
        source=WorkOrderSource(payload["source"]),
        asset_id=payload.get("asset_id"),
        location=payload.get("location"),
        created_by_email=payload.get("created_by_email"),
        assigned_to_email=payload.get("assigned_to_email"),
    )


def _synced_text(row: WorkOrderRequest, work_order: WorkOrder) -> str:
    if row.kind == RequestKind.CREATE:
        return texts.synced_as(work_order.number, work_order.url)
    return texts.cmms_update_synced(work_order.number)
