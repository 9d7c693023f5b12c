"""Engine and session factory for SQLite (aiosqlite) and PostgreSQL (asyncpg)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Dialect, Executable, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from storage.sqlite_loop import SqliteOnLoop, loop_connection_factory

SQLITE_BUSY_TIMEOUT_MS = 5000


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        # One connection: SQLite takes one writer at a time anyway, and queueing in the pool is
        # far cheaper than connections spinning in SQLite's busy handler (long latency tails).
        engine = create_async_engine(
            url,
            echo=echo,
            pool_size=1,
            max_overflow=0,
            pool_timeout=30,
            # Sessions and connections always end their transaction themselves (commit, or
            # rollback on close); the pool's extra ROLLBACK on return would only add a round
            # trip to aiosqlite's thread.
            pool_reset_on_return=None,
        )
        event.listen(engine.sync_engine, "do_connect", _connect_on_loop)
        event.listen(engine.sync_engine, "connect", _configure_sqlite)
        return engine
    return create_async_engine(
        url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=10, pool_timeout=10
    )


_loop_connection = loop_connection_factory(SQLITE_BUSY_TIMEOUT_MS)


def _connect_on_loop(
    dialect: Dialect, _record: Any, cargs: list[Any], cparams: dict[str, Any]
) -> Any:
    return dialect.loaded_dbapi.connect(*cargs, async_creator_fn=_loop_connection, **cparams)


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class Database:
    """Owns the engine; hands out sessions, and runs the update path's single statements
    (`read`, `write`). One per process."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_engine(url)
        self.sessionmaker: async_sessionmaker[AsyncSession] = async_sessionmaker(
            self.engine, expire_on_commit=False
        )
        database = make_url(url).database
        file_sqlite = is_sqlite(url) and database not in (None, "", ":memory:")
        self._on_loop = (
            SqliteOnLoop(database, self.engine.dialect, _configure_sqlite)
            if file_sqlite and database
            else None
        )

    async def read(
        self, statement: Executable, params: Mapping[str, Any] | None = None
    ) -> Sequence[Any]:
        """Rows (columns as attributes) of one read-only statement, outside any unit of work:
        committed data."""
        if self._on_loop is not None:
            rows = self._on_loop.read(statement, params or {})
            if rows is not None:
                return rows
        connection = await self.engine.connect()
        try:
            return (await connection.execute(statement, params)).all()
        finally:
            await connection.close()

    async def write(self, statement: Executable, params: Mapping[str, Any]) -> None:
        """One statement in a transaction of its own, committed."""
        if self._on_loop is not None and self._on_loop.write(statement, params):
            return
        connection = await self.engine.connect()
        try:
            await connection.execute(statement, params)
            await connection.commit()
        finally:
            await connection.close()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    async def ping(self, timeout: float = 2.0) -> None:
        """Raise if the database does not answer a trivial query within `timeout` seconds."""

        async def _probe() -> None:
            async with self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))

        await asyncio.wait_for(_probe(), timeout)

    async def close(self) -> None:
        if self._on_loop is not None:
            self._on_loop.close()
        await self.engine.dispose()
