"""Clean-up: spent onboarding tokens, old processed update ids and settled Stripe events.

Deleting is idempotent, so several instances may run it at the same time."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from bot.dedup import REMEMBER_SECONDS
from storage.models import utcnow
from storage.uow import UnitOfWorkFactory

logger = logging.getLogger(__name__)

# Stripe retries an event for up to three days; its id must be remembered well beyond that.
STRIPE_EVENT_RETENTION = timedelta(days=30)


class Cleanup:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        token_retention: timedelta = timedelta(days=7),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._uow = uow
        self._token_retention = token_retention
        self.clock = clock

    async def run(self) -> dict[str, int]:
        now = self.clock()
        async with self._uow() as uow:
            removed = {
                "onboarding_tokens": await uow.jobs.delete_spent_tokens(
                    now - self._token_retention
                ),
                "processed_updates": await uow.jobs.delete_processed_updates(
                    now - timedelta(seconds=REMEMBER_SECONDS)
                ),
                "stripe_events": await uow.jobs.delete_stripe_events(now - STRIPE_EVENT_RETENTION),
            }
            await uow.commit()
        if any(removed.values()):
            logger.info("Clean-up removed %s", removed)
        return removed
