"""SQLite calls run on the event loop; a wait for another connection's lock does not block it."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import text

from storage.db import Database
from storage.sqlite_loop import loop_connection_factory


@contextmanager
def write_lock_held_elsewhere(path: Path) -> Iterator[sqlite3.Connection]:
    """Another process (here: another connection) holds SQLite's write lock."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield other
    finally:
        other.close()


async def ticks_while(task: asyncio.Task[object], seconds: float) -> int:
    """How often a 10 ms ticker ran during `seconds` while `task` was under way."""
    ticks = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        await asyncio.sleep(0.01)
        ticks += 1
    assert not task.done(), "the write should still be waiting for the lock"
    return ticks


async def test_a_write_waits_for_a_lock_held_elsewhere_and_the_loop_goes_on(tmp_path: Path):
    path = tmp_path / "rivet.db"
    database = Database(f"sqlite+aiosqlite:///{path}")
    try:
        async with database.engine.begin() as connection:
            await connection.execute(text("CREATE TABLE readings (value INTEGER)"))
        with write_lock_held_elsewhere(path) as other:

            async def write() -> None:
                async with database.engine.begin() as connection:
                    await connection.execute(text("INSERT INTO readings VALUES (42)"))

            task: asyncio.Task[object] = asyncio.create_task(write())
            assert await ticks_while(task, 0.3) >= 10  # not one long block of the loop
            other.execute("COMMIT")
            await asyncio.wait_for(task, 5)
        async with database.engine.connect() as connection:
            values = (await connection.execute(text("SELECT value FROM readings"))).scalars()
            assert list(values) == [42]
    finally:
        await database.close()


async def test_a_write_cancelled_while_it_waits_for_the_lock_leaves_the_database_usable(
    tmp_path: Path,
) -> None:
    """SQLAlchemy closes a connection whose call was cancelled; that close must wait for the
    thread still running the call (two threads in one sqlite3 connection crash the process)."""
    path = tmp_path / "rivet.db"
    database = Database(f"sqlite+aiosqlite:///{path}")

    async def write(value: int) -> None:
        async with database.engine.begin() as connection:
            await connection.execute(text("INSERT INTO readings VALUES (:v)"), {"v": value})

    try:
        async with database.engine.begin() as connection:
            await connection.execute(text("CREATE TABLE readings (value INTEGER)"))
        with write_lock_held_elsewhere(path) as other:
            task = asyncio.create_task(write(41))
            await asyncio.sleep(0.3)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await asyncio.sleep(0.1)
            other.execute("COMMIT")
        await asyncio.wait_for(write(42), 5)
        async with database.engine.connect() as connection:
            values = (await connection.execute(text("SELECT value FROM readings"))).scalars()
            assert 42 in list(values)
    finally:
        await database.close()


async def test_a_lock_held_past_the_busy_timeout_fails_the_call_cleanly(tmp_path: Path):
    path = tmp_path / "rivet.db"
    connection = await loop_connection_factory(busy_timeout_ms=200)(str(path))
    try:
        await connection.execute("CREATE TABLE readings (value INTEGER)")
        await connection.commit()
        with write_lock_held_elsewhere(path):
            started = time.monotonic()
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                await connection.execute("INSERT INTO readings VALUES (1)")
            assert 0.15 <= time.monotonic() - started < 3
        # The lock is gone: the same connection works again, with the busy wait off.
        await connection.execute("INSERT INTO readings VALUES (2)")
        await connection.commit()
        rows = await connection.execute_fetchall("SELECT value FROM readings")
        assert [tuple(row) for row in rows] == [(2,)]
    finally:
        await connection.close()


def test_a_connection_left_open_does_not_keep_the_process_alive(tmp_path: Path) -> None:
    script = f"""
import asyncio
from sqlalchemy import text
from storage.db import Database

async def main():
    database = Database("sqlite+aiosqlite:///{tmp_path / "rivet.db"}")
    connection = await database.engine.connect()
    await connection.execute(text("SELECT 1"))  # checked out, never closed

asyncio.run(main())
"""
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-c", script], cwd=root, timeout=30, check=False)
    assert done.returncode == 0


READ = text("SELECT value FROM readings ORDER BY value")
INSERT = text("INSERT INTO readings (value) VALUES (:value)")


async def readings_table(path: Path) -> Database:
    database = Database(f"sqlite+aiosqlite:///{path}")
    async with database.engine.begin() as connection:
        await connection.execute(text("CREATE TABLE readings (value INTEGER)"))
    return database


async def test_reads_and_writes_outside_a_unit_of_work_see_every_commit(tmp_path: Path):
    database = await readings_table(tmp_path / "rivet.db")
    try:
        assert await database.read(READ) == []
        async with database.engine.begin() as connection:
            await connection.execute(INSERT, {"value": 1})
        assert [row.value for row in await database.read(READ)] == [1]  # at once
        await database.write(INSERT, {"value": 2})
        async with database.engine.connect() as connection:
            assert (await connection.execute(READ)).scalars().all() == [1, 2]
    finally:
        await database.close()


async def test_a_single_write_meeting_a_lock_waits_for_it_and_is_not_lost(tmp_path: Path):
    path = tmp_path / "rivet.db"
    database = await readings_table(path)
    try:
        with write_lock_held_elsewhere(path) as other:
            # Reads go on meanwhile (WAL); the write waits, off the loop, for the lock.
            write = asyncio.create_task(database.write(INSERT, {"value": 7}))
            assert await ticks_while(write, 0.3) >= 10
            assert await database.read(READ) == []
            other.execute("COMMIT")
            await asyncio.wait_for(write, 5)
        assert [row.value for row in await database.read(READ)] == [7]
    finally:
        await database.close()
