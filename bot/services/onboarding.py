"""Users and deep-link onboarding: create or update people, issue and redeem single-use links."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from bot.domain import Role, Tier, UserStatus
from storage.models import OnboardingToken, User, utcnow
from storage.uow import UnitOfWork, UnitOfWorkFactory

# Telegram's deep-link payload alphabet and length limit.
PAYLOAD_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
TOKEN_BYTES = 24  # 192 random bits → 32 URL-safe characters


class RedeemOutcome(StrEnum):
    WELCOME = "welcome"
    ALREADY_LINKED = "already_linked"  # this account already belongs to this user
    USED = "used"
    EXPIRED = "expired"
    UNKNOWN = "unknown"
    MALFORMED = "malformed"
    ACCOUNT_TAKEN = "account_taken"  # this Telegram account belongs to someone else
    DISABLED = "disabled"


@dataclass(frozen=True, slots=True)
class UserView:
    id: int
    email: str | None
    display_name: str | None
    role: Role
    tier: Tier
    status: UserStatus
    telegram_user_id: int | None
    telegram_chat_id: int | None
    home_location: str | None = None

    @property
    def name(self) -> str:
        return self.display_name or (self.email.split("@")[0] if self.email else "there")

    @property
    def cmms_identity(self) -> str:
        """The e-mail the CMMS knows this person by; invited people may not have given one."""
        return self.email or f"user-{self.id}@users.rivet.invalid"

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @classmethod
    def of(cls, user: User | Any) -> UserView:
        """From the ORM object or from any row with the same columns as attributes (the
        per-update look-up reads plain rows)."""
        return cls(
            id=user.id,
            email=user.email,
            display_name=user.display_name,
            role=Role(user.role),
            tier=Tier(user.tier),
            status=UserStatus(user.status),
            telegram_user_id=user.telegram_user_id,
            telegram_chat_id=user.telegram_chat_id,
            home_location=user.home_location,
        )


@dataclass(frozen=True, slots=True)
class RedeemResult:
    outcome: RedeemOutcome
    user: UserView | None = None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def deep_link(bot_username: str, payload: str) -> str:
    return f"https://t.me/{bot_username}?start={payload}"


class OnboardingService:
    def __init__(self, uow: UnitOfWorkFactory, *, token_ttl: timedelta) -> None:
        self._uow = uow
        self._token_ttl = token_ttl

    async def upsert_user(
        self,
        uow: UnitOfWork,
        *,
        email: str,
        name: str | None = None,
        tier: Tier | None = None,
        role: Role | None = None,
        actor: str,
    ) -> tuple[User, bool]:
        """Create or update a user inside the caller's transaction; returns (user, created)."""
        email = email.strip().lower()
        user = await uow.users.by_email(email)
        created = user is None
        if user is None:
            user = await uow.users.add(
                User(
                    email=email,
                    display_name=name,
                    tier=(tier or Tier.NONE).value,
                    role=(role or Role.TECHNICIAN).value,
                    status=UserStatus.ACTIVE.value,
                )
            )
        else:
            if name:
                user.display_name = name
            if tier is not None:
                user.tier = tier.value
            if role is not None:
                user.role = role.value
        uow.audit.record(
            actor,
            "user.created" if created else "user.updated",
            f"user:{user.id}",
            email=email,
            tier=user.tier,
            role=user.role,
        )
        return user, created

    async def issue_token(
        self, uow: UnitOfWork, user: User, *, actor: str, token: str | None = None
    ) -> str:
        """A fresh single-use onboarding token for `user`; only its hash is stored.

        `token` lets a caller supply a value it can derive again (billing's checkout link)."""
        token = token or secrets.token_urlsafe(TOKEN_BYTES)
        await uow.tokens.add(
            OnboardingToken(
                token_hash=hash_token(token),
                user_id=user.id,
                expires_at=utcnow() + self._token_ttl,
            )
        )
        uow.audit.record(actor, "onboarding.token_issued", f"user:{user.id}")
        return token

    async def add_user(
        self,
        *,
        email: str,
        name: str | None,
        tier: Tier,
        role: Role = Role.TECHNICIAN,
        actor: str = "cli",
    ) -> tuple[UserView, str]:
        async with self._uow() as uow:
            user, _ = await self.upsert_user(
                uow, email=email, name=name, tier=tier, role=role, actor=actor
            )
            token = await self.issue_token(uow, user, actor=actor)
            await uow.commit()
            return UserView.of(user), token

    async def redeem(
        self, payload: str, *, telegram_user_id: int, chat_id: int, now: datetime | None = None
    ) -> RedeemResult:
        if not PAYLOAD_PATTERN.fullmatch(payload):
            return RedeemResult(RedeemOutcome.MALFORMED)
        now = now or utcnow()
        async with self._uow() as uow:
            token = await uow.tokens.by_hash(hash_token(payload), for_update=True)
            if token is None:
                return RedeemResult(RedeemOutcome.UNKNOWN)
            owner = await uow.users.get(token.user_id)
            assert owner is not None  # FK with cascade: a token never outlives its user
            if token.used_at is not None:
                if owner.telegram_user_id == telegram_user_id:
                    return RedeemResult(RedeemOutcome.ALREADY_LINKED, UserView.of(owner))
                return RedeemResult(RedeemOutcome.USED)
            if token.expires_at <= now:
                return RedeemResult(RedeemOutcome.EXPIRED)
            if owner.status != UserStatus.ACTIVE.value:
                return RedeemResult(RedeemOutcome.DISABLED)
            holder = await uow.users.by_telegram_id(telegram_user_id)
            if holder is not None and holder.id != owner.id:
                return RedeemResult(RedeemOutcome.ACCOUNT_TAKEN, UserView.of(holder))
            token.used_at = now
            owner.telegram_user_id = telegram_user_id
            owner.telegram_chat_id = chat_id
            owner.last_seen_at = now
            uow.audit.record(
                f"telegram:{telegram_user_id}", "onboarding.linked", f"user:{owner.id}"
            )
            await uow.commit()
            return RedeemResult(RedeemOutcome.WELCOME, UserView.of(owner))

    async def user_by_telegram_id(self, telegram_user_id: int) -> UserView | None:
        async with self._uow() as uow:
            user = await uow.users.by_telegram_id(telegram_user_id)
            return UserView.of(user) if user else None

    async def touch(self, telegram_user_id: int, resolution: timedelta) -> UserView | None:
        """The linked, active user, noting when they were last seen (at most once per
        `resolution`). A disabled account gets None: it is treated as having no access."""
        row = await self._uow.reads.sender(telegram_user_id)
        if row is None or row.status != UserStatus.ACTIVE.value:
            return None
        now = utcnow()
        if row.last_seen_at is None or now - row.last_seen_at >= resolution:
            async with self._uow() as uow:
                await uow.users.mark_seen(row.id, now)
                await uow.commit()
        return UserView.of(row)

    async def set_profile(
        self, user_id: int, *, display_name: str | None = None, home_location: str | None = None
    ) -> UserView:
        async with self._uow() as uow:
            user = await uow.users.get(user_id)
            if user is None:
                raise LookupError(f"user {user_id} does not exist")
            if display_name is not None:
                user.display_name = display_name
            if home_location is not None:
                user.home_location = home_location
            uow.audit.record(f"user:{user_id}", "user.profile_updated", f"user:{user_id}")
            await uow.commit()
            return UserView.of(user)
