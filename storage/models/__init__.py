"""Every table Rivet owns; importing this package registers them all on `Base.metadata`."""

from storage.models.base import Base, UtcDateTime, utcnow
from storage.models.core import (
    AuditEntry,
    FsmRecord,
    OnboardingToken,
    OutboxMessage,
    ProcessedUpdate,
    User,
)

__all__ = [
    "AuditEntry",
    "Base",
    "FsmRecord",
    "OnboardingToken",
    "OutboxMessage",
    "ProcessedUpdate",
    "User",
    "UtcDateTime",
    "utcnow",
]
