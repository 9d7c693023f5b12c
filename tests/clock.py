"""A clock tests move by hand, for services that take `clock: Callable[[], datetime]`."""

from __future__ import annotations

from datetime import datetime, timedelta

from storage.models import utcnow


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta
