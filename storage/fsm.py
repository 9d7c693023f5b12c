"""aiogram FSM storage in Rivet's own database, so conversations survive restarts.

It is the storage of a single instance (several instances use Redis), so this process is the
only writer and may keep a read cache: reads cost nothing, every write goes to the database.
The cache holds data as JSON text: a copy per read and per write (callers must not share the
stored dict) is then one C-level call rather than a deep copy in Python."""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, cast

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder, StateType, StorageKey
from sqlalchemy import Table, bindparam, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql.dml import Insert

from storage.db import Database
from storage.models import FsmRecord, utcnow

CACHE_SIZE = 10_000
_TABLE = cast(Table, FsmRecord.__table__)
Entry = tuple[str | None, str]  # state, data as JSON text
NO_DATA = "{}"


class DatabaseStorage(BaseStorage):
    def __init__(self, database: Database) -> None:
        self._database = database
        self._upsert = _upsert_statement(database.dialect)
        self._read = select(_TABLE.c.state, _TABLE.c.data).where(_TABLE.c.key == bindparam("key"))
        self._keys = DefaultKeyBuilder(with_bot_id=True, with_destiny=True)
        self._cache: OrderedDict[str, Entry] = OrderedDict()

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        value = state.state if isinstance(state, State) else state
        _, data = await self._entry(key)
        await self._write(key, value, json.loads(data))

    async def get_state(self, key: StorageKey) -> str | None:
        return (await self._entry(key))[0]

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        state, _ = await self._entry(key)
        await self._write(key, state, dict(data))

    async def set_state_and_data(
        self, key: StorageKey, state: StateType, data: Mapping[str, Any]
    ) -> None:
        """Both in one write (one commit instead of two)."""
        value = state.state if isinstance(state, State) else state
        await self._write(key, value, dict(data))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((await self._entry(key))[1])
        return data

    async def close(self) -> None:
        """The database is closed by its owner, not by the dispatcher."""

    async def _entry(self, key: StorageKey) -> Entry:
        storage_key = self._keys.build(key)
        entry = self._cache.get(storage_key)
        if entry is None:
            rows = await self._database.read(self._read, {"key": storage_key})
            entry = (rows[0].state, json.dumps(rows[0].data)) if rows else (None, NO_DATA)
            self._remember(storage_key, entry)
        else:
            self._cache.move_to_end(storage_key)
        return entry

    async def _write(self, key: StorageKey, state: str | None, data: dict[str, Any]) -> None:
        storage_key = self._keys.build(key)
        text = json.dumps(data)
        params = {"key": storage_key, "state": state, "data": data, "updated_at": utcnow()}
        await self._database.write(self._upsert, params)
        self._remember(storage_key, (state, text))

    def _remember(self, storage_key: str, entry: Entry) -> None:
        self._cache[storage_key] = entry
        self._cache.move_to_end(storage_key)
        if len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)


def _upsert_statement(dialect: str) -> Insert:
    """One prepared upsert with bound parameters: compiled once, then served from the cache."""
    table = _TABLE
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    columns = ("key", "state", "data", "updated_at")
    statement = insert(table).values(
        {name: bindparam(name, type_=table.c[name].type) for name in columns}
    )
    return statement.on_conflict_do_update(
        index_elements=[table.c.key],
        set_={name: statement.excluded[name] for name in columns[1:]},
    )
