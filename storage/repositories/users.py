from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import OnboardingToken, User

_USERS = cast(Table, User.__table__)
BY_TELEGRAM_ID = select(User).where(User.telegram_user_id == bindparam("telegram_user_id"))
# Every update looks its sender up. Core statements built once: building one costs more than
# SQLite's answer, and a plain row skips the ORM's object loading and identity map.
SENDER_COLUMNS = (
    "id",
    "email",
    "display_name",
    "role",
    "tier",
    "status",
    "telegram_user_id",
    "telegram_chat_id",
    "home_location",
    "last_seen_at",
)
SENDER = select(*(_USERS.c[name] for name in SENDER_COLUMNS)).where(
    _USERS.c.telegram_user_id == bindparam("telegram_user_id")
)
MARK_SEEN = (
    update(_USERS)
    .where(_USERS.c.id == bindparam("user_id"))
    .values(last_seen_at=bindparam("seen_at", type_=_USERS.c.last_seen_at.type))
)


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: int) -> User | None:
        return await self.session.get(User, user_id)

    async def by_email(self, email: str) -> User | None:
        return await self.session.scalar(select(User).where(User.email == email.lower()))

    async def by_telegram_id(self, telegram_user_id: int) -> User | None:
        return await self.session.scalar(BY_TELEGRAM_ID, {"telegram_user_id": telegram_user_id})

    async def mark_seen(self, user_id: int, seen_at: datetime) -> None:
        await self.session.execute(MARK_SEEN, {"user_id": user_id, "seen_at": seen_at})

    async def add(self, user: User) -> User:
        self.session.add(user)
        await self.session.flush()
        return user

    async def search(self, words: str | None, limit: int = 20) -> list[User]:
        query = select(User).order_by(User.id).limit(limit)
        if words:
            pattern = f"%{words.lower()}%"
            query = query.where(
                or_(
                    func.lower(User.email).like(pattern),
                    func.lower(User.display_name).like(pattern),
                )
            )
        return list(await self.session.scalars(query))

    async def linked(self, tier: str | None = None) -> list[User]:
        query = select(User).where(User.telegram_chat_id.is_not(None), User.status == "active")
        if tier:
            query = query.where(User.tier == tier)
        return list(await self.session.scalars(query.order_by(User.id)))

    async def without_cmms_account(self, limit: int) -> list[int]:
        """Active paying users with an e-mail and no CMMS account yet (nor a refusal)."""
        query = (
            select(User.id)
            .where(
                User.cmms_user_id.is_(None),
                User.cmms_account_refusal.is_(None),
                User.email.is_not(None),
                User.status == "active",
                User.tier != "none",
            )
            .order_by(User.id)
            .limit(limit)
        )
        return list(await self.session.scalars(query))

    async def count(self) -> int:
        return int(await self.session.scalar(select(func.count(User.id))) or 0)

    async def count_active_since(self, since: datetime) -> int:
        query = select(func.count(User.id)).where(User.last_seen_at >= since)
        return int(await self.session.scalar(query) or 0)


class OnboardingTokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, token: OnboardingToken) -> OnboardingToken:
        self.session.add(token)
        await self.session.flush()
        return token

    async def by_hash(self, token_hash: str, *, for_update: bool = False) -> OnboardingToken | None:
        query = select(OnboardingToken).where(OnboardingToken.token_hash == token_hash)
        if for_update:
            query = query.with_for_update()
        return await self.session.scalar(query)

    async def delete_expired(self, before: datetime) -> int:
        from sqlalchemy import delete

        result = await self.session.execute(
            delete(OnboardingToken).where(OnboardingToken.expires_at < before)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
