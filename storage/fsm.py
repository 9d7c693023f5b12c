"""aiogram FSM storage in Rivet's own database, so conversations survive restarts.

It is the storage of a single instance (several instances use Redis), so this process is the
only writer and may keep a read cache: reads cost nothing, every write goes to the database."""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, cast

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder, StateType, StorageKey
from sqlalchemy import Table, bindparam
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.dml import Insert

from storage.models import FsmRecord, utcnow

CACHE_SIZE = 10_000
Entry = tuple[str | None, dict[str, Any]]


class DatabaseStorage(BaseStorage):
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], dialect: str) -> None:
        self._sessionmaker = sessionmaker
        self._upsert = _upsert_statement(dialect)
        self._keys = DefaultKeyBuilder(with_bot_id=True, with_destiny=True)
        self._cache: OrderedDict[str, Entry] = OrderedDict()

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        value = state.state if isinstance(state, State) else state
        _, data = await self._entry(key)
        await self._write(key, (value, data))

    async def get_state(self, key: StorageKey) -> str | None:
        return (await self._entry(key))[0]

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        state, _ = await self._entry(key)
        await self._write(key, (state, copy.deepcopy(dict(data))))

    async def set_state_and_data(
        self, key: StorageKey, state: StateType, data: Mapping[str, Any]
    ) -> None:
        """Both in one write (one commit instead of two)."""
        value = state.state if isinstance(state, State) else state
        await self._write(key, (value, copy.deepcopy(dict(data))))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        return copy.deepcopy((await self._entry(key))[1])

    async def close(self) -> None:
        """The database is closed by its owner, not by the dispatcher."""

    async def _entry(self, key: StorageKey) -> Entry:
        storage_key = self._keys.build(key)
        entry = self._cache.get(storage_key)
        if entry is None:
            async with self._sessionmaker() as session:
                record = await session.get(FsmRecord, storage_key)
            entry = (record.state, dict(record.data)) if record else (None, {})
            self._remember(storage_key, entry)
        else:
            self._cache.move_to_end(storage_key)
        return entry

    async def _write(self, key: StorageKey, entry: Entry) -> None:
        storage_key = self._keys.build(key)
        state, data = entry
        params = {"key": storage_key, "state": state, "data": data, "updated_at": utcnow()}
        async with self._sessionmaker() as session:
            await session.execute(self._upsert, params)
            await session.commit()
        self._remember(storage_key, entry)

    def _remember(self, storage_key: str, entry: Entry) -> None:
        self._cache[storage_key] = entry
        self._cache.move_to_end(storage_key)
        if len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)


def _upsert_statement(dialect: str) -> Insert:
    """One prepared upsert with bound parameters: compiled once, then served from the cache."""
    table = cast(Table, FsmRecord.__table__)
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    columns = ("key", "state", "data", "updated_at")
    statement = insert(table).values(
        {name: bindparam(name, type_=table.c[name].type) for name in columns}
    )
    return statement.on_conflict_do_update(
        index_elements=[table.c.key],
        set_={name: statement.excluded[name] for name in columns[1:]},
    )
