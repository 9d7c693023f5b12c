"""CMMS accounts for paying users: provisioning gives each one a user in Atlas.

Atlas may be down or slow when someone pays, and paying must not wait for it. The users table
is the record of what is missing (an active, paying user with an e-mail, no CMMS id and no
refusal from the CMMS), so nothing else needs queueing: provisioning tries once, and a scheduler
job asks again for those still missing. Atlas's side is idempotent by e-mail (`ensure_user`
finds before it invites)."""

from __future__ import annotations

import asyncio
import logging
from enum import StrEnum

from integrations.cmms.port import (
    CmmsError,
    CmmsLimitReached,
    CmmsPort,
    CmmsRejected,
    CmmsUnavailable,
)
from storage.uow import UnitOfWorkFactory

log = logging.getLogger(__name__)

ACTOR = "cmms"


class AccountOutcome(StrEnum):
    LINKED = "linked"
    NOT_APPLICABLE = "not_applicable"  # no Atlas, no such user, or no e-mail
    REFUSED = "refused"  # Atlas refused this user (e.g. the e-mail); others may still work
    UNAVAILABLE = "unavailable"  # down or at its seat limit: try everyone later
    FAILED = "failed"  # this user's request timed out or broke: try them later, others now


def atlas_user_id(cmms_user_id: str | None) -> int | str | None:
    """As the API shows it: Atlas's ids are numbers."""
    if cmms_user_id is not None and cmms_user_id.isdigit():
        return int(cmms_user_id)
    return cmms_user_id


class CmmsAccounts:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        cmms: CmmsPort,
        *,
        request_timeout_s: float = 10.0,
        job_timeout_s: float = 60.0,
    ) -> None:
        self._uow = uow
        self._cmms = cmms
        # An API caller waits for the answer; the job has time for a slow Atlas (the account
        # takes several calls: search, roles, invite, sign-up).
        self._request_timeout_s = request_timeout_s
        self._job_timeout_s = job_timeout_s

    @property
    def enabled(self) -> bool:
        """The local CMMS knows people by e-mail: it needs no accounts."""
        return self._cmms.backend == "atlas"

    async def account_of(self, user_id: int) -> str | None:
        """The user's CMMS account, created now if it is missing and the CMMS answers in time.
        An explicit request tries again even where the CMMS refused before."""
        outcome = await self.ensure(user_id, timeout_s=self._request_timeout_s)
        if outcome is not AccountOutcome.LINKED:
            return None
        async with self._uow() as uow:
            user = await uow.users.get(user_id)
            return user.cmms_user_id if user else None

    async def ensure(self, user_id: int, *, timeout_s: float) -> AccountOutcome:
        if not self.enabled:
            return AccountOutcome.NOT_APPLICABLE
        async with self._uow() as uow:
            user = await uow.users.get(user_id)
            if user is None or not user.email:
                return AccountOutcome.NOT_APPLICABLE
            if user.cmms_user_id:
                return AccountOutcome.LINKED
            email, name = user.email, user.display_name
        try:
            account = await asyncio.wait_for(self._cmms.ensure_user(email, name), timeout_s)
        except CmmsRejected as error:
            log.warning("the CMMS refused an account for user %s: %s", user_id, error.message)
            await self._record(user_id, refusal=error.message)
            return AccountOutcome.REFUSED
        except (CmmsUnavailable, CmmsLimitReached) as error:
            log.warning(
                "no CMMS account for user %s yet (%s); retried later", user_id, error.message
            )
            return AccountOutcome.UNAVAILABLE
        except (CmmsError, TimeoutError) as error:
            reason = error.message if isinstance(error, CmmsError) else "no answer in time"
            log.warning("no CMMS account for user %s yet (%s); retried later", user_id, reason)
            return AccountOutcome.FAILED
        except Exception:  # a bug must not fail the provisioning around it: retried later
            log.exception("creating the CMMS account of user %s failed unexpectedly", user_id)
            return AccountOutcome.FAILED
        await self._record(user_id, account_id=account.id)
        return AccountOutcome.LINKED

    async def _record(
        self, user_id: int, *, account_id: str | None = None, refusal: str | None = None
    ) -> None:
        async with self._uow() as uow:
            user = await uow.users.get(user_id)
            if user is None:
                return
            user.cmms_user_id = account_id
            user.cmms_account_refusal = refusal[:500] if refusal else None
            action = "cmms.account_linked" if account_id else "cmms.account_refused"
            details = {"cmms_user": account_id} if account_id else {"reason": refusal}
            uow.audit.record(ACTOR, action, f"user:{user_id}", **details)
            await uow.commit()

    async def link_missing(self, limit: int = 50) -> int:
        """Scheduler job: accounts for the paying users still without one (and not refused).
        Returns how many it created."""
        if not self.enabled:
            return 0
        async with self._uow() as uow:
            missing = await uow.users.without_cmms_account(limit)
        linked = 0
        for user_id in missing:
            outcome = await self.ensure(user_id, timeout_s=self._job_timeout_s)
            if outcome is AccountOutcome.LINKED:
                linked += 1
            elif outcome is AccountOutcome.UNAVAILABLE:
                break  # the CMMS is down or full for everyone; the next run tries again
            # FAILED (one user's request): go on with the others; the next run retries them
        return linked
