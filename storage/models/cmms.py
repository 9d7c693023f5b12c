"""The embedded local CMMS (assets, work orders, notes, files) and the CMMS write outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UtcDateTime, utcnow


class CmmsAsset(Base):
    """An asset of the local CMMS; ``tag`` (e.g. "P-003") is the import's identity."""

    __tablename__ = "cmms_assets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    tag: Mapped[str | None] = mapped_column(String(100), unique=True)
    location: Mapped[str | None] = mapped_column(String(200))
    category: Mapped[str | None] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("cmms_assets.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[str] = mapped_column(String(30), default="OPERATIONAL")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        UtcDateTime(), default=utcnow, onupdate=utcnow, index=True
    )


class CmmsWorkOrder(Base):
    __tablename__ = "cmms_work_orders"
    __table_args__ = (Index("ix_cmms_work_orders_open", "status", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # "WO-000123", derived from the id right after the insert (hence nullable).
    number: Mapped[str | None] = mapped_column(String(20), unique=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    priority: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="OPEN")
    asset_id: Mapped[int | None] = mapped_column(
        ForeignKey("cmms_assets.id", ondelete="SET NULL"), index=True
    )
    location: Mapped[str | None] = mapped_column(String(200))
    created_by_email: Mapped[str | None] = mapped_column(String(320), index=True)
    assigned_to_email: Mapped[str | None] = mapped_column(String(320), index=True)
    source: Mapped[str | None] = mapped_column(String(30))
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


class CmmsNote(Base):
    """A note or history line on a local work order (status changes carry their note here)."""

    __tablename__ = "cmms_work_order_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    work_order_id: Mapped[int] = mapped_column(
        ForeignKey("cmms_work_orders.id", ondelete="CASCADE"), index=True
    )
    author_email: Mapped[str | None] = mapped_column(String(320))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class CmmsAttachment(Base):
    """A file kept under RIVET_DATA_DIR/files as ``stored_name`` (server-generated)."""

    __tablename__ = "cmms_attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    stored_name: Mapped[str] = mapped_column(String(100), unique=True)
    file_name: Mapped[str] = mapped_column(String(255))
    mime_type: Mapped[str | None] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    work_order_id: Mapped[int | None] = mapped_column(
        ForeignKey("cmms_work_orders.id", ondelete="CASCADE"), index=True
    )
    asset_id: Mapped[int | None] = mapped_column(
        ForeignKey("cmms_assets.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class WorkOrderRequest(Base):
    """One CMMS write (create, status change, note), recorded before it is attempted.

    ``state``: pending → synced, or failed (rejected), or blocked_by_limit (retried slowly).
    The idempotency key is the CMMS's too, so a retry after an unknown outcome finds the
    work order instead of creating a second one."""

    __tablename__ = "work_order_requests"
    __table_args__ = (Index("ix_work_order_requests_due", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(20))  # create | status | note
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    chat_id: Mapped[int | None] = mapped_column(BigInteger)
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    last_error: Mapped[str | None] = mapped_column(String(500))
    user_notified: Mapped[bool] = mapped_column(default=False)  # told "saved — will sync"
    cmms_backend: Mapped[str | None] = mapped_column(String(20))
    cmms_id: Mapped[str | None] = mapped_column(String(100))
    cmms_number: Mapped[str | None] = mapped_column(String(100))
    cmms_url: Mapped[str | None] = mapped_column(String(500))
    synced_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)
