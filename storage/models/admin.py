"""Admin tables: broadcasts with per-recipient deliveries, QR asset links, work-order alerts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UtcDateTime, utcnow


class Broadcast(Base):
    """One admin message to many users.

    ``status``: draft (waiting for the admin's confirmation) → sending → done, or cancelled.
    A runner holds ``lease_owner``/``lease_until`` while it sends, so after a crash another
    process (or the restarted one) resumes it once the lease has run out."""

    __tablename__ = "broadcasts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    tier: Mapped[str | None] = mapped_column(String(20))
    created_by: Mapped[str] = mapped_column(String(100))
    admin_chat_id: Mapped[int] = mapped_column(BigInteger)
    progress_message_id: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(20), default="draft", index=True)
    total: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class BroadcastDelivery(Base):
    """One recipient of a broadcast.

    ``state``: pending → sending (committed before the Bot API call) → sent | skipped (blocked
    the bot) | failed; a row found in ``sending`` after a crash becomes ``unknown`` and is never
    sent again (at most once: nobody gets a broadcast twice)."""

    __tablename__ = "broadcast_deliveries"
    __table_args__ = (
        UniqueConstraint("broadcast_id", "chat_id"),
        Index("ix_broadcast_deliveries_state", "broadcast_id", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(Integer)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


class AssetLink(Base):
    """The random token behind an asset's QR deep link (``/start a_<token>``); stable."""

    __tablename__ = "asset_links"
    __table_args__ = (UniqueConstraint("cmms_backend", "asset_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cmms_backend: Mapped[str] = mapped_column(String(20))
    asset_id: Mapped[str] = mapped_column(String(100))
    token: Mapped[str] = mapped_column(String(40), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class WorkOrderAlert(Base):
    """A CRITICAL/HIGH work order being chased until someone acknowledges it.

    ``stage``: 0 = first notice sent, 1 = re-sent, 2 = escalated to admins."""

    __tablename__ = "work_order_alerts"
    __table_args__ = (UniqueConstraint("cmms_backend", "work_order_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cmms_backend: Mapped[str] = mapped_column(String(20))
    work_order_id: Mapped[str] = mapped_column(String(100))
    number: Mapped[str] = mapped_column(String(100))
    priority: Mapped[str] = mapped_column(String(20))
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime())
    stage: Mapped[int] = mapped_column(Integer, default=0)
    next_action_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    acknowledged_by: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
