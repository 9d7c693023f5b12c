"""Domain vocabulary shared by services, adapters and handlers (no aiogram, no SQLAlchemy)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Tier(StrEnum):
    NONE = "none"
    BASIC = "basic"
    PRO = "pro"
    ENTERPRISE = "enterprise"

    @property
    def rank(self) -> int:
        return list(Tier).index(self)

    @property
    def label(self) -> str:
        return self.value.capitalize()


class Role(StrEnum):
    TECHNICIAN = "technician"
    ADMIN = "admin"


class UserStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


class Priority(StrEnum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"


class WorkOrderStatus(StrEnum):
    OPEN = "OPEN"
    IN_PROGRESS = "IN_PROGRESS"
    ON_HOLD = "ON_HOLD"
    COMPLETE = "COMPLETE"


class WorkOrderSource(StrEnum):
    TELEGRAM_TEXT = "telegram_text"
    TELEGRAM_VOICE = "telegram_voice"
    WEB = "web"
    API = "api"


@dataclass(frozen=True, slots=True)
class AssetCandidate:
    """One ranked answer of an asset search; score is 0..100, higher is better."""

    asset_id: str
    name: str
    tag: str | None
    score: float
    location: str | None = None
