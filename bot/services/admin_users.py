"""What admins do to people from chat: invite, look up, change tier/role, disable, re-link.

Every action, reads included, is written to the audit log with the acting admin.

Invites without an e-mail: ``/invite`` creates a user row with no e-mail (``users.email`` is
nullable) and a single-use onboarding token for it. Redeeming the link links that row to the
technician's Telegram account exactly like an e-mail invite; the profile questions that follow
ask for the name. An admin can add the e-mail later through the CLI (``rivet users add``)."""

from __future__ import annotations

from bot.domain import Role, Tier, UserStatus
from bot.services.onboarding import OnboardingService, UserView
from storage.models import User
from storage.uow import UnitOfWorkFactory

SEARCH_LIMIT = 20


class AdminUsers:
    def __init__(self, uow: UnitOfWorkFactory, onboarding: OnboardingService) -> None:
        self._uow = uow
        self._onboarding = onboarding

    async def record(
        self, actor: str, action: str, subject: str | None = None, **details: object
    ) -> None:
        """Audit an admin action that changes nothing (views, reports)."""
        async with self._uow() as uow:
            uow.audit.record(actor, action, subject, **details)
            await uow.commit()

    async def invite(self, *, tier: Tier, role: Role, actor: str) -> tuple[UserView, str]:
        async with self._uow() as uow:
            user = await uow.users.add(
                User(
                    email=None,
                    display_name=None,
                    tier=tier.value,
                    role=role.value,
                    status=UserStatus.ACTIVE.value,
                )
            )
            uow.audit.record(
                actor, "user.invited", f"user:{user.id}", tier=tier.value, role=role.value
            )
            token = await self._onboarding.issue_token(uow, user, actor=actor)
            await uow.commit()
            return UserView.of(user), token

    async def search(self, words: str | None, *, actor: str) -> list[UserView]:
        async with self._uow() as uow:
            users = await uow.users.search(words.strip() if words else None, SEARCH_LIMIT)
            uow.audit.record(actor, "admin.users_listed", None, words=words or "")
            await uow.commit()
            return [UserView.of(user) for user in users]

    async def find(self, reference: str, *, actor: str) -> UserView | None:
        """By e-mail or by Rivet id (``42`` or ``#42``)."""
        reference = reference.strip()
        async with self._uow() as uow:
            number = reference.removeprefix("#")
            user = (
                await uow.users.get(int(number))
                if number.isdigit()
                else await uow.users.by_email(reference)
            )
            uow.audit.record(actor, "admin.user_viewed", f"user:{user.id}" if user else reference)
            await uow.commit()
            return UserView.of(user) if user else None

    async def set_tier(self, user_id: int, tier: Tier, *, actor: str) -> UserView | None:
        return await self._change(user_id, actor, "user.tier_changed", tier=tier.value)

    async def set_role(self, user_id: int, role: Role, *, actor: str) -> UserView | None:
        return await self._change(user_id, actor, "user.role_changed", role=role.value)

    async def set_status(self, user_id: int, status: UserStatus, *, actor: str) -> UserView | None:
        action = "user.enabled" if status is UserStatus.ACTIVE else "user.disabled"
        return await self._change(user_id, actor, action, status=status.value)

    async def reissue_link(self, user_id: int, *, actor: str) -> tuple[UserView, str] | None:
        async with self._uow() as uow:
            user = await uow.users.get(user_id)
            if user is None:
                return None
            token = await self._onboarding.issue_token(uow, user, actor=actor)
            uow.audit.record(actor, "user.link_reissued", f"user:{user.id}")
            await uow.commit()
            return UserView.of(user), token

    async def _change(
        self, user_id: int, actor: str, action: str, **values: str
    ) -> UserView | None:
        async with self._uow() as uow:
            user = await uow.users.get(user_id)
            if user is None:
                return None
            before = {name: getattr(user, name) for name in values}
            for name, value in values.items():
                setattr(user, name, value)
            uow.audit.record(actor, action, f"user:{user.id}", before=before, after=values)
            await uow.commit()
            return UserView.of(user)
