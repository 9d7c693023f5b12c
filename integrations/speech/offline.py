"""Offline transcription: PyAV decoding + pocketsphinx with a maintenance language model."""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

from integrations.speech import _worker
from integrations.speech.errors import TranscriptionFailed
from integrations.speech.vocabulary import spoken_numbers_to_digits

DEFAULT_MAX_SECONDS = 300.0

_Result = TypeVar("_Result")


class OfflineTranscriber:
    """Recognises English maintenance reports without network access.

    ``vocabulary`` (asset catalog names, site phrases) is added to the built-in maintenance
    language model so that those names are recognised. The work runs in one worker process,
    started on first use (or by ``warm_up``) and stopped by ``close``; calls queue for it.
    """

    name = "offline"

    def __init__(
        self, vocabulary: Sequence[str] = (), *, max_seconds: float = DEFAULT_MAX_SECONDS
    ) -> None:
        self._vocabulary = tuple(vocabulary)
        self._max_seconds = max_seconds
        self._pool: ProcessPoolExecutor | None = None

    async def warm_up(self) -> None:
        """Start the worker and load the models now rather than on the first voice note."""
        await self._run(_worker.ready)

    async def transcribe(self, audio: bytes, *, mime_type: str | None = None) -> str:
        # mime_type is not needed: FFmpeg identifies the container from the bytes.
        if not audio:
            return ""
        text = await self._run(_worker.transcribe, audio, self._max_seconds)
        return spoken_numbers_to_digits(text)

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)

    async def _run(self, function: Callable[..., _Result], *args: object) -> _Result:
        try:
            # submit() starts the worker process on first use; doing that in a thread keeps the
            # fork/exec (~20 ms) off the event loop.
            job = await asyncio.to_thread(self._worker_pool().submit, function, *args)
            return await asyncio.wrap_future(job)
        except BrokenProcessPool:
            # The worker died (crash, OOM kill, failed model load); the next call starts afresh.
            broken, self._pool = self._pool, None
            if broken is not None:
                broken.shutdown(wait=False, cancel_futures=True)
            raise TranscriptionFailed("offline speech recogniser stopped unexpectedly") from None

    def _worker_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=1,
                # "spawn": forking a process that runs an event loop and threads is unsafe.
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_worker.init_worker,
                initargs=(self._vocabulary,),
            )
        return self._pool
