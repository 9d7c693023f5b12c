"""The CMMS port: what Rivet's services need from a CMMS, whichever one is behind it.

Implementations: ``integrations.cmms.local.LocalCmms`` (embedded, default) and
``integrations.cmms.atlas.AtlasCmms`` (Atlas CMMS over its REST API). Ids are strings so
that both the local integer ids and Atlas's ids fit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from bot.domain import AssetCandidate, Priority, WorkOrderSource, WorkOrderStatus


class CmmsError(Exception):
    """Base of every CMMS failure; ``message`` is safe to show to a user or an admin."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class CmmsUnavailable(CmmsError):
    """The CMMS cannot be reached, timed out, rate-limited or rejected our credentials.

    The write may be retried later (the outbox does that)."""


class CmmsLimitReached(CmmsError):
    """A business cap was hit (e.g. an unlicensed Atlas's open work-order or asset cap).

    Retrying will not help until someone acts; users and admins must be told."""


class CmmsRejected(CmmsError):
    """The CMMS refused the request as invalid (Atlas's 406 and similar). Not retryable."""


class CmmsNotFound(CmmsError):
    """The asset or work order does not exist in the CMMS."""


@dataclass(frozen=True, slots=True)
class CmmsUser:
    id: str
    email: str
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Asset:
    id: str
    name: str
    tag: str | None = None
    location: str | None = None
    category: str | None = None
    description: str | None = None
    parent_id: str | None = None
    status: str = "OPERATIONAL"


@dataclass(frozen=True, slots=True)
class Attachment:
    id: str
    file_name: str
    mime_type: str | None
    url: str | None = None
    size: int | None = None


@dataclass(frozen=True, slots=True)
class Note:
    author: str | None
    text: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class NewWorkOrder:
    title: str
    description: str
    priority: Priority
    idempotency_key: str
    source: WorkOrderSource
    asset_id: str | None = None
    location: str | None = None
    created_by_email: str | None = None
    assigned_to_email: str | None = None


@dataclass(frozen=True, slots=True)
class WorkOrder:
    id: str
    number: str  # human reference, e.g. "WO-000123"
    title: str
    description: str
    priority: Priority
    status: WorkOrderStatus
    asset_id: str | None
    asset_name: str | None
    location: str | None
    created_by_email: str | None
    assigned_to_email: str | None
    source: WorkOrderSource | None
    created_at: datetime
    updated_at: datetime
    url: str | None = None  # deep link into the CMMS's own UI, when it has one
    notes: tuple[Note, ...] = ()
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True, slots=True)
class WorkOrderChanges:
    """Fields to change; None means "leave as is"."""

    title: str | None = None
    description: str | None = None
    priority: Priority | None = None
    asset_id: str | None = None
    assigned_to_email: str | None = None


@dataclass(frozen=True, slots=True)
class CmmsHealth:
    ok: bool
    backend: str
    detail: str
    licensed: bool | None = None
    limits: dict[str, int] = field(default_factory=dict)


@runtime_checkable
class CmmsPort(Protocol):
    backend: str

    async def health(self) -> CmmsHealth: ...

    async def ensure_user(self, email: str, name: str | None = None) -> CmmsUser: ...

    # Assets
    async def search_assets(self, query: str, limit: int = 5) -> list[AssetCandidate]: ...
    async def find_assets_in_text(self, text: str, limit: int = 5) -> list[AssetCandidate]: ...
    async def get_asset(self, asset_id: str) -> Asset: ...
    async def list_assets(self, offset: int = 0, limit: int = 100) -> list[Asset]: ...
    async def asset_files(self, asset_id: str) -> list[Attachment]: ...

    # Work orders
    async def create_work_order(self, new: NewWorkOrder) -> WorkOrder: ...
    async def find_by_idempotency_key(self, key: str) -> WorkOrder | None: ...
    async def get_work_order(self, work_order_id: str) -> WorkOrder: ...
    async def update_work_order(
        self, work_order_id: str, changes: WorkOrderChanges
    ) -> WorkOrder: ...
    async def change_status(
        self, work_order_id: str, status: WorkOrderStatus, note: str | None = None
    ) -> WorkOrder: ...
    async def add_note(
        self, work_order_id: str, text: str, author_email: str | None
    ) -> WorkOrder: ...
    async def list_open_work_orders(
        self,
        *,
        assigned_to_email: str | None = None,
        created_by_email: str | None = None,
        asset_id: str | None = None,
        limit: int = 50,
    ) -> list[WorkOrder]: ...

    # Attachments
    async def attach_file(
        self,
        *,
        data: bytes,
        file_name: str,
        mime_type: str | None,
        work_order_id: str | None = None,
        asset_id: str | None = None,
    ) -> Attachment: ...

    async def close(self) -> None: ...


__all__: Sequence[str] = [
    "Asset",
    "Attachment",
    "CmmsError",
    "CmmsHealth",
    "CmmsLimitReached",
    "CmmsNotFound",
    "CmmsPort",
    "CmmsRejected",
    "CmmsUnavailable",
    "CmmsUser",
    "NewWorkOrder",
    "Note",
    "WorkOrder",
    "WorkOrderChanges",
]
