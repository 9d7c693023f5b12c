"""In-process measurements reported by /api/status."""

from __future__ import annotations

import statistics
from collections import deque


class LatencyRecorder:
    """Keeps the last `size` update-handling durations (seconds)."""

    def __init__(self, size: int = 2000) -> None:
        self._samples: deque[float] = deque(maxlen=size)

    def record(self, seconds: float) -> None:
        self._samples.append(seconds)

    def percentiles_ms(self) -> dict[str, float | None]:
        if len(self._samples) < 2:
            only = self._samples[0] * 1000 if self._samples else None
            return {"p50": only, "p95": only, "samples": len(self._samples)}
        cuts = statistics.quantiles(self._samples, n=100, method="inclusive")
        return {
            "p50": round(cuts[49] * 1000, 2),
            "p95": round(cuts[94] * 1000, 2),
            "samples": len(self._samples),
        }
