"""Group commit: apply the writes that queue up behind a single writer in one transaction.

SQLite takes one writer at a time, so concurrent requests wait for it anyway. Instead of one
transaction each (a commit and a handful of thread round trips per item), whoever waits while a
batch is being written goes into the next batch together. If a batch fails, its items are applied
one by one, so an item's failure is its own and never takes the others down with it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

log = logging.getLogger(__name__)


class GroupCommit(Generic[Item, Result]):
    def __init__(
        self,
        apply_batch: Callable[[Sequence[Item]], Awaitable[Sequence[Result]]],
        apply_one: Callable[[Item], Awaitable[Result]],
        *,
        max_batch: int = 64,
    ) -> None:
        self._apply_batch = apply_batch
        self._apply_one = apply_one
        self._max_batch = max_batch
        self._waiting: list[tuple[Item, asyncio.Future[Result]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> Result:
        """Apply `item` (in whichever batch it lands) and return its result or raise its error."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Result] = loop.create_future()
        self._waiting.append((item, future))
        if self._writer is None or self._writer.done() or self._writer.get_loop() is not loop:
            self._writer = asyncio.create_task(self._write_all(), name="group-commit")
        # The write goes on if the caller is cancelled: it was accepted, it gets written.
        return await asyncio.shield(future)

    async def _write_all(self) -> None:
        batch: list[tuple[Item, asyncio.Future[Result]]] = []
        try:
            while self._waiting:
                batch = self._waiting[: self._max_batch]
                del self._waiting[: self._max_batch]
                await self._write(batch)
        except asyncio.CancelledError:
            # Shutting down: nobody may wait forever for a write that will not happen.
            for _, future in batch + self._waiting:
                future.cancel()
            self._waiting.clear()
            raise

    async def _write(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        if len(batch) > 1:
            try:
                results = await self._apply_batch([item for item, _ in batch])
            except Exception as exc:
                # Reported where it belongs: to the one item that fails again on its own.
                log.info("a batch of %d failed (%s); applying one by one", len(batch), type(exc))
            else:
                for (_, future), result in zip(batch, results, strict=True):
                    future.set_result(result)
                return
        for item, future in batch:
            try:
                future.set_result(await self._apply_one(item))
            except Exception as exc:  # handed to the caller that submitted it
                future.set_exception(exc)
