"""Queries of the local CMMS tables and of the CMMS write outbox. They never commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any, cast

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Select,
    Table,
    bindparam,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    CmmsAsset,
    CmmsAttachment,
    CmmsNote,
    CmmsWorkOrder,
    WorkOrderRequest,
)

OPEN_STATUSES = ("OPEN", "IN_PROGRESS", "ON_HOLD")
OPEN_STATUS = CmmsWorkOrder.status.in_(OPEN_STATUSES)
INDEX_COLUMNS = (
    CmmsAsset.id,
    CmmsAsset.name,
    CmmsAsset.tag,
    CmmsAsset.location,
    CmmsAsset.category,
    CmmsAsset.description,
)


class CmmsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # -- assets
    async def asset(self, asset_id: int) -> CmmsAsset | None:
        return await self.session.get(CmmsAsset, asset_id)

    async def assets_page(self, offset: int, limit: int) -> list[CmmsAsset]:
        query = select(CmmsAsset).order_by(CmmsAsset.id).offset(offset).limit(limit)
        return list(await self.session.scalars(query))

    async def assets_by_ids(self, ids: Sequence[int]) -> list[CmmsAsset]:
        if not ids:
            return []
        return list(await self.session.scalars(select(CmmsAsset).where(CmmsAsset.id.in_(ids))))

    async def index_rows(self) -> Sequence[Any]:
        """(id, name, tag, location, category, description) of every asset, for the index."""
        return (await self.session.execute(select(*INDEX_COLUMNS))).all()

    async def tagged_assets(self) -> Sequence[Any]:
        """(id, tag, name, location, category, description, parent_id) of every tagged asset."""
        query = select(*INDEX_COLUMNS, CmmsAsset.parent_id).where(CmmsAsset.tag.is_not(None))
        return (await self.session.execute(query)).all()

    async def asset_fingerprint(self) -> tuple[int, datetime | None, int | None]:
        """Changes whenever an asset is added, updated or removed (cheap to compare)."""
        row = (
            await self.session.execute(
                select(
                    func.count(CmmsAsset.id), func.max(CmmsAsset.updated_at), func.max(CmmsAsset.id)
                )
            )
        ).one()
        updated = row[1]
        if isinstance(updated, str):  # SQLite aggregates bypass the column type
            updated = datetime.fromisoformat(updated)
        return int(row[0] or 0), updated, row[2]

    async def insert_assets(self, values: list[dict[str, Any]]) -> dict[str, int]:
        """Insert many assets at once; returns tag → new id."""
        if not values:
            return {}
        result = await self.session.execute(
            insert(CmmsAsset).returning(CmmsAsset.id, CmmsAsset.tag), values
        )
        return {str(tag): asset_id for asset_id, tag in result.all()}

    async def update_assets(self, values: list[dict[str, Any]]) -> None:
        """Bulk update by primary key: each dict carries ``id`` and the columns to set."""
        if values:
            await self.session.execute(update(CmmsAsset), values)

    async def count_assets(self) -> int:
        return int(await self.session.scalar(select(func.count(CmmsAsset.id))) or 0)

    # -- work orders
    async def work_order(self, work_order_id: int) -> CmmsWorkOrder | None:
        return await self.session.get(CmmsWorkOrder, work_order_id)

    async def work_order_by_key(self, key: str) -> CmmsWorkOrder | None:
        return await self.session.scalar(
            select(CmmsWorkOrder).where(CmmsWorkOrder.idempotency_key == key)
        )

    async def add_work_order(self, work_order: CmmsWorkOrder) -> CmmsWorkOrder:
        self.session.add(work_order)
        await self.session.flush()
        work_order.number = f"WO-{work_order.id:06d}"
        await self.session.flush()
        return work_order

    async def count_open_work_orders(self) -> int:
        query = select(func.count(CmmsWorkOrder.id)).where(OPEN_STATUS)
        return int(await self.session.scalar(query) or 0)

    async def notes(self, work_order_ids: Sequence[int]) -> list[CmmsNote]:
        if not work_order_ids:
            return []
        query = (
            select(CmmsNote)
            .where(CmmsNote.work_order_id.in_(work_order_ids))
            .order_by(CmmsNote.created_at, CmmsNote.id)
        )
        return list(await self.session.scalars(query))

    def add_note(self, note: CmmsNote) -> None:
        self.session.add(note)

    # -- attachments
    async def attachments(
        self, *, work_order_ids: Sequence[int] = (), asset_id: int | None = None
    ) -> list[CmmsAttachment]:
        conditions: list[ColumnElement[bool]] = []
        if work_order_ids:
            conditions.append(CmmsAttachment.work_order_id.in_(work_order_ids))
        if asset_id is not None:
            conditions.append(CmmsAttachment.asset_id == asset_id)
        if not conditions:
            return []
        query = select(CmmsAttachment).where(or_(*conditions)).order_by(CmmsAttachment.id)
        return list(await self.session.scalars(query))

    async def add_attachment(self, attachment: CmmsAttachment) -> CmmsAttachment:
        self.session.add(attachment)
        await self.session.flush()
        return attachment


class WorkOrderRequestRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, request_id: int) -> WorkOrderRequest | None:
        return await self.session.get(WorkOrderRequest, request_id)

    async def by_key(self, key: str) -> WorkOrderRequest | None:
        return await self.session.scalar(
            select(WorkOrderRequest).where(WorkOrderRequest.idempotency_key == key)
        )

    async def add(self, request: WorkOrderRequest) -> WorkOrderRequest:
        self.session.add(request)
        await self.session.flush()
        return request

    async def due_ids(self, now: datetime, states: Sequence[str], limit: int) -> list[int]:
        query = (
            select(WorkOrderRequest.id)
            .where(WorkOrderRequest.state.in_(states), WorkOrderRequest.next_attempt_at <= now)
            .order_by(WorkOrderRequest.id)
            .limit(limit)
        )
        return list(await self.session.scalars(query))

    async def claim(self, request_id: int, *, attempts_seen: int, lease_until: datetime) -> bool:
        """Take the request for one attempt; False when another worker took it first."""
        result = await self.session.execute(
            update(WorkOrderRequest)
            .where(
                WorkOrderRequest.id == request_id,
                WorkOrderRequest.attempts == attempts_seen,
                WorkOrderRequest.state.in_(("pending", "blocked_by_limit")),
            )
            .values(attempts=attempts_seen + 1, next_attempt_at=lease_until)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def count_by_state(self) -> dict[str, int]:
        query = select(WorkOrderRequest.state, func.count(WorkOrderRequest.id)).group_by(
            WorkOrderRequest.state
        )
        return {state: int(count) for state, count in (await self.session.execute(query)).all()}


def open_work_orders_query(
    *,
    assigned_to_email: str | None,
    created_by_email: str | None,
    asset_id: int | None,
    limit: int,
) -> tuple[Select[Any], dict[str, Any]]:
    """Open work orders, newest first, as a Core statement over the table (plain rows with
    the model's attribute names) and its parameters. The duplicate check runs it on every
    report, outside any unit of work."""
    filters = {
        "assigned_to_email": assigned_to_email,
        "created_by_email": created_by_email,
        "asset_id": asset_id,
    }
    given = {name: value for name, value in filters.items() if value is not None}
    return _open_work_orders_query(frozenset(given)), {**given, "limit": limit}


@cache
def _open_work_orders_query(filters: frozenset[str]) -> Select[Any]:
    """Built once per combination of filters, with bound parameters: building a statement
    costs more than SQLite takes to run it."""
    table = cast(Table, CmmsWorkOrder.__table__)
    # One parameter per status rather than an expanding IN, so the SQL is the same every time
    # and can be prepared once.
    statuses: list[BindParameter[str]] = [
        bindparam(f"open_{index}", status) for index, status in enumerate(OPEN_STATUSES)
    ]
    query = select(table).where(table.c.status.in_(statuses))
    for name in sorted(filters):
        query = query.where(table.c[name] == bindparam(name))
    query = query.order_by(table.c.created_at.desc(), table.c.id.desc())
    return query.limit(bindparam("limit"))
