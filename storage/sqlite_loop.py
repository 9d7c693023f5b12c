"""aiosqlite with SQLite's calls run on the event loop; only a wait for a lock goes to a thread.

A SQLite call on a local file takes microseconds, but a round trip to aiosqlite's worker thread
costs about 0.1 ms each way on a small VM, and SQLAlchemy makes four of them per SELECT. Those
hops were most of the time Rivet spent per chat update and per Stripe event. So calls run inline,
with SQLite's busy handler off; a call that meets another connection's write lock (another
process: the CLI, a second instance during a deploy) fails at once with SQLITE_BUSY, which means
it did nothing, and is run again in aiosqlite's thread with the busy timeout, so the loop goes on
while it waits. What still blocks the loop: a WAL checkpoint's fsync every ~4 MB written."""

from __future__ import annotations

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

    async def _execute(self, fn: Callable[..., _Result], *args: Any, **kwargs: Any) -> _Result:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        try:
            return fn(*args, **kwargs)
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
                raise
        log.debug("sqlite is locked by another connection; waiting for it off the loop")
        result: _Result = await super()._execute(self._waiting_for_lock, fn, *args, **kwargs)
        return result

    def _waiting_for_lock(self, fn: Callable[..., _Result], *args: Any, **kwargs: Any) -> _Result:
        self._conn.execute(f"PRAGMA busy_timeout={self._busy_timeout_ms}")
        try:
            return fn(*args, **kwargs)
        finally:
            self._conn.execute("PRAGMA busy_timeout=0")


def loop_connection_factory(busy_timeout_ms: int) -> Callable[..., LoopSqliteConnection]:
    """For SQLAlchemy's aiosqlite dialect (`async_creator_fn`): takes the connect arguments the
    dialect derived from the URL, as `aiosqlite.connect` would."""

    def connect(database: str, **kwargs: Any) -> LoopSqliteConnection:
        # Busy wait off on the loop; both threads use the connection (never at the same time).
        kwargs.update(timeout=0, check_same_thread=False)
        connector = partial(sqlite3.connect, database, **kwargs)
        return LoopSqliteConnection(connector, busy_timeout_ms=busy_timeout_ms)

    return connect
