"""aiosqlite with SQLite's calls run on the event loop; only a wait for a lock goes to a thread.

A SQLite call on a local file takes microseconds, but a round trip to aiosqlite's worker thread
costs about 0.1 ms each way on a small VM, and SQLAlchemy makes four of them per SELECT. Those
hops were most of the time Rivet spent per chat update and per Stripe event. So calls run inline,
with SQLite's busy handler off; a call that meets another connection's write lock (another
process: the CLI, a second instance during a deploy) fails at once with SQLITE_BUSY, which means
it did nothing, and is run again in aiosqlite's thread with the busy timeout, so the loop goes on
while it waits. What still blocks the loop: a WAL checkpoint's fsync every ~4 MB written."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

import aiosqlite

log = logging.getLogger(__name__)

_Result = TypeVar("_Result")

# aiosqlite's default number of rows fetched per thread round trip when iterating a cursor.
ITER_CHUNK_SIZE = 64


class LoopSqliteConnection(aiosqlite.Connection):
    """Every aiosqlite call funnels through `_execute` (pinned aiosqlite 0.22): it runs here."""

    def __init__(
        self, connector: Callable[[], sqlite3.Connection], *, busy_timeout_ms: int
    ) -> None:
        super().__init__(connector, ITER_CHUNK_SIZE)
        self._busy_timeout_ms = busy_timeout_ms
        # A call handed to the thread runs to its end even if its caller is cancelled; until
        # it has, later calls queue behind it there, so two threads never share the sqlite3
        # connection (closing it under a running statement crashes the process).
        self._in_thread: asyncio.Future[Any] | None = None

    async def _execute(self, fn: Callable[..., _Result], *args: Any, **kwargs: Any) -> _Result:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        if self._in_thread is not None and not self._in_thread.done():
            return await self._via_thread(fn, *args, **kwargs)
        try:
            return fn(*args, **kwargs)
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
                raise
        log.debug("sqlite is locked by another connection; waiting for it off the loop")
        return await self._via_thread(self._waiting_for_lock, fn, *args, **kwargs)

    async def _via_thread(self, fn: Callable[..., _Result], *args: Any, **kwargs: Any) -> _Result:
        call: asyncio.Future[_Result] = asyncio.ensure_future(super()._execute(fn, *args, **kwargs))
        call.add_done_callback(_retrieve)  # a cancelled caller leaves nobody to read it
        self._in_thread = call
        return await asyncio.shield(call)

    def _waiting_for_lock(self, fn: Callable[..., _Result], *args: Any, **kwargs: Any) -> _Result:
        self._conn.execute(f"PRAGMA busy_timeout={self._busy_timeout_ms}")
        try:
            return fn(*args, **kwargs)
        finally:
            self._conn.execute("PRAGMA busy_timeout=0")


def _retrieve(call: asyncio.Future[Any]) -> None:
    if not call.cancelled():
        call.exception()


def loop_connection_factory(busy_timeout_ms: int) -> Callable[..., LoopSqliteConnection]:
    """For SQLAlchemy's aiosqlite dialect (`async_creator_fn`): takes the connect arguments the
    dialect derived from the URL, as `aiosqlite.connect` would."""

    def connect(database: str, **kwargs: Any) -> LoopSqliteConnection:
        # Busy wait off on the loop; both threads use the connection (never at the same time).
        kwargs.update(timeout=0, check_same_thread=False)
        connector = partial(sqlite3.connect, database, **kwargs)
        connection = LoopSqliteConnection(connector, busy_timeout_ms=busy_timeout_ms)
        # As SQLAlchemy does for the connections it makes: a connection left open must not
        # keep the process from exiting.
        connection._thread.daemon = True
        return connection

    return connect
