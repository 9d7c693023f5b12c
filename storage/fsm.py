"""aiogram FSM storage in Rivet's own database, so conversations survive restarts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder, StateType, StorageKey
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import FsmRecord


class DatabaseStorage(BaseStorage):
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker
        self._keys = DefaultKeyBuilder(with_bot_id=True, with_destiny=True)

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        value = state.state if isinstance(state, State) else state
        await self._write(key, state=value)

    async def get_state(self, key: StorageKey) -> str | None:
        record = await self._read(key)
        return record.state if record else None

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        await self._write(key, data=dict(data))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        record = await self._read(key)
        return dict(record.data) if record else {}

    async def close(self) -> None:
        """The database is closed by its owner, not by the dispatcher."""

    async def _read(self, key: StorageKey) -> FsmRecord | None:
        async with self._sessionmaker() as session:
            return await session.get(FsmRecord, self._keys.build(key))

    async def _write(self, key: StorageKey, **fields: Any) -> None:
        async with self._sessionmaker() as session, session.begin():
            storage_key = self._keys.build(key)
            record = await session.get(FsmRecord, storage_key, with_for_update=True)
            if record is None:
                record = FsmRecord(key=storage_key, state=None, data={})
                session.add(record)
            for name, value in fields.items():
                setattr(record, name, value)
