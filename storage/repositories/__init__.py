from storage.repositories.audit import AuditRepository
from storage.repositories.outbox import OutboxRepository
from storage.repositories.users import OnboardingTokenRepository, UserRepository

__all__ = ["AuditRepository", "OnboardingTokenRepository", "OutboxRepository", "UserRepository"]
