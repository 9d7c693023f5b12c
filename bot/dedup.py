"""Remember which Telegram update ids were handled, so a redelivered update runs once."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from redis.asyncio import Redis
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import ProcessedUpdate

# Telegram keeps undelivered updates for 24 hours; remembering ids for two days is enough.
REMEMBER_SECONDS = 2 * 24 * 3600


class UpdateDeduplicator(Protocol):
    async def claim(self, bot_id: int, update_id: int) -> bool:
        """True the first time an update id is seen; False for a redelivery."""

    async def release(self, bot_id: int, update_id: int) -> None:
        """Forget a claim whose handling failed, so Telegram's redelivery is processed."""


class DatabaseDeduplicator:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    async def claim(self, bot_id: int, update_id: int) -> bool:
        async with self._sessionmaker() as session:
            session.add(ProcessedUpdate(bot_id=bot_id, update_id=update_id))
            try:
                await session.commit()
            except IntegrityError:
                return False
            return True

    async def release(self, bot_id: int, update_id: int) -> None:
        async with self._sessionmaker() as session:
            await session.execute(
                delete(ProcessedUpdate).where(
                    ProcessedUpdate.bot_id == bot_id, ProcessedUpdate.update_id == update_id
                )
            )
            await session.commit()

    async def seen(self, bot_id: int, update_id: int) -> bool:
        async with self._sessionmaker() as session:
            found = await session.scalar(
                select(ProcessedUpdate.id).where(
                    ProcessedUpdate.bot_id == bot_id, ProcessedUpdate.update_id == update_id
                )
            )
            return found is not None

    async def forget_before(self, before: datetime) -> int:
        async with self._sessionmaker() as session:
            result = await session.execute(
                delete(ProcessedUpdate).where(ProcessedUpdate.received_at < before)
            )
            await session.commit()
            return int(result.rowcount or 0)  # type: ignore[attr-defined]


class RedisDeduplicator:
    """SET NX with a TTL: shared by every instance in webhook mode."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    @staticmethod
    def _key(bot_id: int, update_id: int) -> str:
        return f"rivet:update:{bot_id}:{update_id}"

    async def claim(self, bot_id: int, update_id: int) -> bool:
        return bool(
            await self._redis.set(self._key(bot_id, update_id), 1, nx=True, ex=REMEMBER_SECONDS)
        )

    async def release(self, bot_id: int, update_id: int) -> None:
        await self._redis.delete(self._key(bot_id, update_id))
