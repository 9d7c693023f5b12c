"""The daily digest: each technician's open work, each admin's backlog, once a day.

The scheduler calls ``Digest.send`` at DIGEST_TIME in DIGEST_TIMEZONE. Messages go through the
durable outbox with a key naming the local day and the chat, so a second run (another instance,
a restart, a catch-up) queues nothing new.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError

from bot import texts
from bot.domain import Role
from integrations.cmms.port import CmmsError, CmmsPort, WorkOrder
from storage.models import utcnow
from storage.uow import UnitOfWorkFactory

logger = logging.getLogger(__name__)

BACKLOG_LIMIT = 500


class Digest:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        cmms: CmmsPort,
        *,
        timezone: str = "UTC",
        admin_telegram_ids: Iterable[int] = (),
        clock: Callable[[], datetime] = utcnow,
        after_commit: Callable[[], None] | None = None,
    ) -> None:
        self._uow = uow
        self._cmms = cmms
        self.timezone = ZoneInfo(timezone)
        self._admin_ids = frozenset(admin_telegram_ids)
        self.clock = clock
        self._after_commit = after_commit

    async def send(self, day: date | None = None) -> int:
        """Queue today's digests (``day`` in the digest's time zone); returns how many."""
        day = day or self.clock().astimezone(self.timezone).date()
        async with self._uow() as uow:
            people = [
                (user.telegram_chat_id, user.email, user.role == Role.ADMIN.value)
                for user in await uow.users.linked()
                if user.telegram_chat_id
            ]
        admin_chats = set(self._admin_ids)
        recipients: dict[int, tuple[str | None, bool]] = {}
        for chat_id, email, is_admin in people:
            assert chat_id is not None
            recipients[chat_id] = (email, is_admin or chat_id in admin_chats)
        for chat_id in admin_chats:
            recipients.setdefault(chat_id, (None, True))
        try:
            backlog: list[WorkOrder] | None = None
            if any(is_admin for _, is_admin in recipients.values()):
                backlog = await self._cmms.list_open_work_orders(limit=BACKLOG_LIMIT)
            queued = 0
            for chat_id, (email, is_admin) in sorted(recipients.items()):
                own = (
                    await self._cmms.list_open_work_orders(assigned_to_email=email) if email else []
                )
                if not own and not is_admin:
                    continue  # nothing to tell a technician with no open work
                text = texts.daily_digest(day.isoformat(), own, backlog if is_admin else None)
                queued += await self._queue(f"digest:{day.isoformat()}:{chat_id}", chat_id, text)
        except CmmsError as exc:
            logger.warning("Daily digest incomplete, the CMMS is unavailable: %s", exc.message)
            return 0
        finally:
            if self._after_commit is not None:
                self._after_commit()
        logger.info("Daily digest for %s: %d message(s) queued", day, queued)
        return queued

    async def _queue(self, key: str, chat_id: int, text: str) -> int:
        async with self._uow() as uow:
            queued = await uow.outbox.enqueue(dedup_key=key, chat_id=chat_id, text=text)
            try:
                await uow.commit()
            except IntegrityError:
                return 0  # queued by another instance a moment ago
        return int(queued)
