"""Scheduled-job state: what Rivet last saw of each work order it created (CMMS status sync)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UtcDateTime, utcnow


class WorkOrderWatch(Base):
    """A work order created through Rivet, watched for changes made in the CMMS.

    ``status``, ``note_keys`` and ``description`` are the last state its creator was told
    about. ``version`` grows on every claim and every recorded change: a worker claims the row
    with a conditional UPDATE on it, and records a change only if nobody claimed it since, so
    each change is told once even with several instances."""

    __tablename__ = "work_order_watches"
    __table_args__ = (Index("ix_work_order_watches_due", "active", "next_check_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(
        ForeignKey("work_order_requests.id", ondelete="CASCADE"), unique=True
    )
    cmms_backend: Mapped[str] = mapped_column(String(20))
    cmms_id: Mapped[str] = mapped_column(String(100))
    number: Mapped[str] = mapped_column(String(100))
    user_id: Mapped[int | None] = mapped_column(Integer)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(20))
    note_keys: Mapped[list[Any]] = mapped_column(JSON, default=list)
    description: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    version: Mapped[int] = mapped_column(Integer, default=0)
    next_check_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)
