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
import threading
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any, TypeVar

import aiosqlite
from sqlalchemy import ClauseElement, Dialect, Executable
from sqlalchemy.sql.compiler import SQLCompiler

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


class SqliteOnLoop:
    """Single statements of the update path (the sender look-up, the duplicate check, the FSM
    row) on a sqlite3 connection of their own, run on the event loop.

    Each update made three such statements, and SQLAlchemy's execution (async layer, pool
    hand-off, execution context, result object) cost 0.15–0.3 ms each on this VM where SQLite
    answers in microseconds. So each statement is compiled by SQLAlchemy once, with its types'
    own bind and result processors, and then run directly. In WAL mode a read never waits for
    the writer; a write is one autocommitted statement, and nothing else runs on the loop
    meanwhile, so it holds no lock past its return. It may meet one: another process's, or an
    engine transaction that has written and not yet committed. Then SQLite answers "busy" at
    once (timeout 0) and the caller goes the usual way (None/False), queueing for the engine."""

    def __init__(self, path: str, dialect: Dialect, configure: Callable[[Any, Any], None]) -> None:
        self._path = path
        self._dialect = dialect
        self._configure = configure
        self._connection: sqlite3.Connection | None = None
        self._thread: int | None = None  # sqlite3 connections stay in the thread that made them
        self._prepared: dict[Executable, _Prepared] = {}

    def read(self, statement: Executable, params: Mapping[str, Any]) -> list[Any] | None:
        """Rows with the columns as attributes, or None when SQLite is busy (or this is not
        the connection's thread). Sees what was committed before it began."""
        connection = self._connection_here()
        if connection is None:
            return None
        prepared = self._prepare(statement)
        try:
            cursor = connection.execute(prepared.sql, prepared.arguments(params))
            rows = cursor.fetchall()
        except sqlite3.OperationalError as exc:
            _raise_unless_busy(exc)
            return None
        return prepared.rows(rows, cursor.description)

    def write(self, statement: Executable, params: Mapping[str, Any]) -> bool:
        """Execute and commit; False (nothing written) when SQLite is busy (or this is not
        the connection's thread)."""
        connection = self._connection_here()
        if connection is None:
            return False
        prepared = self._prepare(statement)
        try:
            connection.execute(prepared.sql, prepared.arguments(params))
        except sqlite3.OperationalError as exc:
            _raise_unless_busy(exc)
            return False
        return True

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _prepare(self, statement: Executable) -> _Prepared:
        prepared = self._prepared.get(statement)
        if prepared is None:
            prepared = self._prepared[statement] = _Prepared(statement, self._dialect)
        return prepared

    def _connection_here(self) -> sqlite3.Connection | None:
        if self._connection is None:
            try:
                # Autocommit: each statement is its own transaction (a read its own snapshot).
                connection = sqlite3.connect(self._path, timeout=0, isolation_level=None)
                self._configure(connection, None)
            except sqlite3.OperationalError as exc:
                _raise_unless_busy(exc)
                return None
            self._connection, self._thread = connection, threading.get_ident()
        elif self._thread != threading.get_ident():
            return None
        return self._connection


class _Prepared:
    """A statement compiled once for SQLite, with its parameters' and columns' processors."""

    def __init__(self, statement: Executable, dialect: Dialect) -> None:
        assert isinstance(statement, ClauseElement)
        compiled = statement.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler)
        self.sql = compiled.string
        if "__[POSTCOMPILE_" in self.sql:
            raise ValueError("an expanding IN changes the SQL per call: use one parameter each")
        self._compiled = compiled
        self._names = list(compiled.positiontup or ())
        self._bind = [
            compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
            for name in self._names
        ]
        columns = list(getattr(statement, "selected_columns", ()))
        self._result = [
            column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns
        ]
        self._row: Any = _row_type([column.key for column in columns]) if columns else None

    def arguments(self, params: Mapping[str, Any]) -> list[Any]:
        values = self._compiled.construct_params(dict(params)) or {}
        return [
            process(values[name]) if process is not None else values[name]
            for name, process in zip(self._names, self._bind, strict=True)
        ]

    def rows(self, rows: list[Any], description: Sequence[Sequence[Any]]) -> list[Any]:
        if self._row is None:  # textual SQL: names from the cursor, values as SQLite gives them
            self._row = _row_type([column[0] for column in description])
            self._result = [None] * len(description)
        return [
            self._row._make(
                process(value) if process is not None else value
                for value, process in zip(values, self._result, strict=True)
            )
            for values in rows
        ]


def _row_type(names: list[str]) -> Any:
    return namedtuple("Row", names, rename=True)


def _raise_unless_busy(exc: sqlite3.OperationalError) -> None:
    if "locked" not in str(exc) and "busy" not in str(exc):
        raise exc
