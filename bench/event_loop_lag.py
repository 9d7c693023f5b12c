"""How late the event loop runs while the offline transcriber works.

Run: ``.venv/bin/python -m bench.event_loop_lag``. A ticker task asks to wake every few
milliseconds and records how late each wake-up is. The idle loop gives the baseline; then the
same ticker runs during the start-up warm-up (worker spawn + model load, which `rivet run` does
before it takes updates; reported, not judged) and during transcriptions afterwards.
Target: worst lag during transcription ≤ 20 ms.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import TypeVar

from integrations.speech import OfflineTranscriber, available_offline

TICK_SECONDS = 0.005
IDLE_SECONDS = 2.0
WARM_ROUNDS = 10
TARGET_LAG_MS = 20.0
VOICE_NOTE = Path(__file__).resolve().parent.parent / "tests" / "data" / "voice_pump_leak.ogg"
VOCABULARY = ("Pump 3", "Compressor CMP-5", "AHU-7 (roof)", "Conveyor CV-2")

_Result = TypeVar("_Result")


async def _tick(lags: list[float], stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        expected = loop.time() + TICK_SECONDS
        await asyncio.sleep(TICK_SECONDS)
        lags.append(max(0.0, loop.time() - expected))


async def measure_lag(work: Awaitable[_Result]) -> tuple[_Result, list[float]]:
    """Run ``work`` while a ticker records how late each wake-up was (seconds)."""
    lags: list[float] = []
    stop = asyncio.Event()
    ticker = asyncio.create_task(_tick(lags, stop))
    await asyncio.sleep(TICK_SECONDS * 2)  # let the ticker start before the work does
    try:
        result = await work
    finally:
        stop.set()
        await ticker
    return result, lags


def _summary(label: str, lags: list[float], seconds: float) -> str:
    lags_ms = sorted(lag * 1000 for lag in lags)
    p99 = lags_ms[min(len(lags_ms) - 1, int(len(lags_ms) * 0.99))]
    return (
        f"{label:<34} {seconds:6.2f} s  ticks {len(lags_ms):5d}  "
        f"median {statistics.median(lags_ms):5.2f} ms  p99 {p99:6.2f} ms  "
        f"max {lags_ms[-1]:6.2f} ms"
    )


async def main() -> None:
    if not available_offline():
        raise SystemExit("pocketsphinx and av are not installed")
    audio = VOICE_NOTE.read_bytes()

    started = time.perf_counter()
    _, idle_lags = await measure_lag(asyncio.sleep(IDLE_SECONDS))
    print(_summary("idle loop (baseline)", idle_lags, time.perf_counter() - started))

    transcriber = OfflineTranscriber(VOCABULARY)
    try:
        started = time.perf_counter()
        _, startup_lags = await measure_lag(transcriber.warm_up())
        print(
            _summary("start-up warm-up (not judged)", startup_lags, time.perf_counter() - started)
        )
        text, first_lags = await measure_lag(transcriber.transcribe(audio))

        async def warm_rounds() -> list[str]:
            return [await transcriber.transcribe(audio) for _ in range(WARM_ROUNDS)]

        started = time.perf_counter()
        _, warm_lags = await measure_lag(warm_rounds())
        elapsed = time.perf_counter() - started
        print(_summary(f"warm: {WARM_ROUNDS} transcriptions", warm_lags, elapsed))
        print(f"per transcription (warm): {elapsed / WARM_ROUNDS * 1000:.0f} ms, text: {text!r}")
    finally:
        await transcriber.close()

    worst_ms = max(first_lags + warm_lags) * 1000
    verdict = "OK" if worst_ms <= TARGET_LAG_MS else "OVER TARGET"
    target = f"target ≤ {TARGET_LAG_MS:.0f} ms"
    print(f"worst lag while transcribing: {worst_ms:.2f} ms ({target}) {verdict}")


if __name__ == "__main__":
    asyncio.run(main())
