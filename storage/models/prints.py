"""Chat with Print: uploaded prints and the questions asked about them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UtcDateTime, utcnow


class PrintFile(Base):
    """One uploaded print, kept under RIVET_DATA_DIR/prints as ``stored_name`` (server-made)."""

    __tablename__ = "prints"
    __table_args__ = (Index("ix_prints_user_created", "user_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # The CMMS's asset id (a string: local integer ids and Atlas ids both fit).
    asset_id: Mapped[str | None] = mapped_column(String(100), index=True)
    asset_name: Mapped[str | None] = mapped_column(String(200))
    cmms_attachment_id: Mapped[str | None] = mapped_column(String(200))
    # Filed on an asset but not attached yet: retried by a job unless the CMMS refused it.
    cmms_refusal: Mapped[str | None] = mapped_column(String(500))
    cmms_attach_lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    stored_name: Mapped[str] = mapped_column(String(100), unique=True)
    file_name: Mapped[str] = mapped_column(String(255))  # the client's name, display only
    mime_type: Mapped[str | None] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(10))  # pdf | image
    pages: Mapped[int] = mapped_column(Integer)
    labels: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # label -> pages
    summary: Mapped[str] = mapped_column(Text, default="")
    used_vision: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class PrintQuestion(Base):
    """A question asked about a print and the answer given: the session's history."""

    __tablename__ = "print_questions"
    __table_args__ = (Index("ix_print_questions_print_user", "print_id", "user_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    print_id: Mapped[int] = mapped_column(ForeignKey("prints.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    pages: Mapped[list[int]] = mapped_column(JSON, default=list)
    used_vision: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
