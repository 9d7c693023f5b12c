"""The embedded CMMS: Rivet's own tables behind the CMMS port (CMMS_BACKEND=local, the default).

Asset search runs on the in-memory ``AssetIndex``, loaded from the database at start, updated
on every write made through this object, and refreshed when another process (``rivet assets
import``) changed the assets. Files live under ``files_dir`` with server-generated names.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError

from bot.domain import AssetCandidate, Priority, WorkOrderSource, WorkOrderStatus
from bot.services.asset_csv import AssetCsvRow
from bot.services.asset_import import ImportReport, check_rows
from bot.services.asset_search import AssetIndex, AssetRecord
from integrations.cmms.port import (
    Asset,
    Attachment,
    CmmsHealth,
    CmmsNotFound,
    CmmsRejected,
    CmmsUser,
    NewWorkOrder,
    Note,
    WorkOrder,
    WorkOrderChanges,
)
from storage.models import CmmsAsset, CmmsAttachment, CmmsNote, CmmsWorkOrder, utcnow
from storage.uow import UnitOfWork, UnitOfWorkFactory

logger = logging.getLogger(__name__)

MAX_TITLE_CHARS = 200
MAX_FILE_NAME_CHARS = 255
_SAFE_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,8}")
_UNSAFE_IN_NAME = re.compile(r"[\x00-\x1f\x7f/\\]")
_IMPORT_CHUNK = 1000


class LocalCmms:
    """CmmsPort on Rivet's own database."""

    backend = "local"

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        files_dir: Path,
        asset_index: AssetIndex | None = None,
        files_base_url: str | None = None,
    ) -> None:
        self._uow = uow
        self._files_dir = files_dir
        self._files_base_url = files_base_url.rstrip("/") if files_base_url else None
        self._index = asset_index if asset_index is not None else AssetIndex()
        self._index_lock = asyncio.Lock()
        self._fingerprint: tuple[Any, ...] | None = None

    async def close(self) -> None:
        """Nothing to release: the database belongs to the application."""

    # ------------------------------------------------------------------ health and users

    async def health(self) -> CmmsHealth:
        async with self._uow() as uow:
            assets = await uow.cmms.count_assets()
            open_orders = await uow.cmms.count_open_work_orders()
        detail = f"Rivet's built-in CMMS: {assets} assets, {open_orders} open work orders."
        return CmmsHealth(ok=True, backend=self.backend, detail=detail, licensed=None)

    async def ensure_user(self, email: str, name: str | None = None) -> CmmsUser:
        """The local CMMS knows people by e-mail; nothing to create."""
        email = email.strip().lower()
        if "@" not in email:
            raise CmmsRejected(f"{email} is not an e-mail address.")
        if name is None:
            async with self._uow() as uow:
                user = await uow.users.by_email(email)
                name = user.display_name if user is not None else None
        return CmmsUser(id=email, email=email, name=name)

    # ------------------------------------------------------------------ assets

    async def refresh_asset_index(self) -> int:
        """Reload the index if the assets changed since it was built; returns how many."""
        async with self._index_lock:
            async with self._uow() as uow:
                fingerprint = await uow.cmms.asset_fingerprint()
                if fingerprint == self._fingerprint:
                    return len(self._index)
                rows = await uow.cmms.index_rows()
            index = AssetIndex()
            index.upsert(
                _record(row.id, row.name, row.tag, row.location, row.category, row.description)
                for row in rows
            )
            self._index = index
            self._fingerprint = fingerprint
            logger.info("Local asset index loaded: %d assets", len(rows))
            return len(rows)

    async def _ensure_index(self) -> None:
        if self._fingerprint is None:
            await self.refresh_asset_index()

    async def search_assets(self, query: str, limit: int = 5) -> list[AssetCandidate]:
        await self._ensure_index()
        return self._index.search(query, limit)

    async def find_assets_in_text(self, text: str, limit: int = 5) -> list[AssetCandidate]:
        await self._ensure_index()
        return self._index.find_in_text(text, limit)

    async def get_asset(self, asset_id: str) -> Asset:
        async with self._uow() as uow:
            return _asset(await self._asset_row(uow, asset_id))

    async def list_assets(self, offset: int = 0, limit: int = 100) -> list[Asset]:
        if limit <= 0:
            return []
        async with self._uow() as uow:
            return [_asset(row) for row in await uow.cmms.assets_page(max(offset, 0), limit)]

    async def asset_files(self, asset_id: str) -> list[Attachment]:
        async with self._uow() as uow:
            asset = await self._asset_row(uow, asset_id)
            rows = await uow.cmms.attachments(asset_id=asset.id)
            return [self._attachment(row) for row in rows]

    async def add_asset(
        self,
        name: str,
        *,
        tag: str | None = None,
        location: str | None = None,
        category: str | None = None,
        description: str | None = None,
        parent_id: str | None = None,
    ) -> Asset:
        """Create one asset (the import does many at once)."""
        if not name.strip():
            raise CmmsRejected("An asset needs a name.")
        async with self._uow() as uow:
            parent = await self._asset_row(uow, parent_id) if parent_id else None
            row = CmmsAsset(
                name=name.strip(),
                tag=tag.strip() if tag else None,
                location=location,
                category=category,
                description=description,
                parent_id=parent.id if parent else None,
            )
            uow.session.add(row)
            try:
                await uow.session.flush()
            except IntegrityError:
                raise CmmsRejected(f"An asset with tag {tag} exists already.") from None
            await uow.commit()
            asset = _asset(row)
        await self._index_upsert(
            [_record(int(asset.id), asset.name, asset.tag, location, category, description)]
        )
        return asset

    async def import_assets(self, rows: Sequence[AssetCsvRow]) -> ImportReport:
        """Add or update assets by tag (case-insensitive); one transaction for the whole file."""
        report = ImportReport()
        async with self._uow() as uow:
            existing = {row.tag.casefold(): row for row in await uow.cmms.tagged_assets()}
            accepted, report.rejected = check_rows(rows, set(existing))
            inserts: list[dict[str, Any]] = []
            updates: list[dict[str, Any]] = []
            now = utcnow()
            for row in accepted:
                values = {
                    "name": row.name,
                    "location": row.location,
                    "category": row.category,
                    "description": row.description,
                }
                current = existing.get(row.tag.casefold())
                if current is None:
                    inserts.append(
                        {
                            **values,
                            "tag": row.tag,
                            "status": "OPERATIONAL",
                            "created_at": now,
                            "updated_at": now,
                        }
                    )
                    report.added.append(row)
                elif any(getattr(current, key) != value for key, value in values.items()):
                    updates.append({**values, "id": current.id, "updated_at": now})
                    report.updated.append(row)
            ids = {row.tag.casefold(): row.id for row in existing.values()}
            for start in range(0, len(inserts), _IMPORT_CHUNK):
                added = await uow.cmms.insert_assets(inserts[start : start + _IMPORT_CHUNK])
                ids.update((tag.casefold(), asset_id) for tag, asset_id in added.items())
            # Parents are resolved once every row of the file has an id.
            changed = {row.tag.casefold() for row in (*report.added, *report.updated)}
            by_id = {update["id"]: update for update in updates}
            for row in accepted:
                key = row.tag.casefold()
                parent_id = ids[row.parent_tag.casefold()] if row.parent_tag else None
                current = existing.get(key)
                if current is not None and current.parent_id == parent_id:
                    continue
                if current is None and parent_id is None:
                    continue
                if current is not None and key not in changed:
                    report.updated.append(row)
                    changed.add(key)
                entry = by_id.setdefault(ids[key], {"id": ids[key], "updated_at": now})
                entry["parent_id"] = parent_id
            await uow.cmms.update_assets(list(by_id.values()))
            await uow.commit()
        report.unchanged = [row for row in accepted if row.tag.casefold() not in changed]
        await self._index_upsert(
            _record(
                ids[row.tag.casefold()],
                row.name,
                row.tag,
                row.location,
                row.category,
                row.description,
            )
            for row in (*report.added, *report.updated)
        )
        return report

    async def _index_upsert(self, records: Any) -> None:
        async with self._index_lock:
            if self._fingerprint is None:
                return  # loaded on first use, with these rows
            self._index.upsert(records)
            async with self._uow() as uow:
                self._fingerprint = await uow.cmms.asset_fingerprint()

    async def _asset_row(self, uow: UnitOfWork, asset_id: str) -> CmmsAsset:
        row = await uow.cmms.asset(_int_id(asset_id, "Asset"))
        if row is None:
            raise CmmsNotFound(f"Asset {asset_id} does not exist.")
        return row

    # ------------------------------------------------------------------ work orders

    async def create_work_order(self, new: NewWorkOrder) -> WorkOrder:
        existing = await self.find_by_idempotency_key(new.idempotency_key)
        if existing is not None:
            return existing
        title = " ".join(new.title.split())
        if not title:
            raise CmmsRejected("A work order needs a title.")
        try:
            async with self._uow() as uow:
                asset = await self._asset_row(uow, new.asset_id) if new.asset_id else None
                row = await uow.cmms.add_work_order(
                    CmmsWorkOrder(
                        idempotency_key=new.idempotency_key,
                        title=title[:MAX_TITLE_CHARS],
                        description=new.description.strip(),
                        priority=new.priority.value,
                        status=WorkOrderStatus.OPEN.value,
                        asset_id=asset.id if asset else None,
                        location=new.location or (asset.location if asset else None),
                        created_by_email=_email(new.created_by_email),
                        assigned_to_email=_email(new.assigned_to_email),
                        source=new.source.value,
                    )
                )
                await uow.commit()
                work_order_id = row.id
        except IntegrityError:
            # Another call with the same key won the race: that one is the work order.
            found = await self.find_by_idempotency_key(new.idempotency_key)
            if found is None:
                raise
            return found
        logger.info("Created local work order WO-%06d", work_order_id)
        return await self.get_work_order(str(work_order_id))

    async def find_by_idempotency_key(self, key: str) -> WorkOrder | None:
        async with self._uow() as uow:
            row = await uow.cmms.work_order_by_key(key)
            if row is None:
                return None
            return (await self._work_orders(uow, [row]))[0]

    async def get_work_order(self, work_order_id: str) -> WorkOrder:
        async with self._uow() as uow:
            row = await self._work_order_row(uow, work_order_id)
            return (await self._work_orders(uow, [row]))[0]

    async def update_work_order(self, work_order_id: str, changes: WorkOrderChanges) -> WorkOrder:
        async with self._uow() as uow:
            row = await self._work_order_row(uow, work_order_id)
            if changes.title is not None:
                title = " ".join(changes.title.split())
                if not title:
                    raise CmmsRejected("A work order needs a title.")
                row.title = title[:MAX_TITLE_CHARS]
            if changes.description is not None:
                row.description = changes.description.strip()
            if changes.priority is not None:
                row.priority = changes.priority.value
            if changes.asset_id is not None:
                row.asset_id = (await self._asset_row(uow, changes.asset_id)).id
            if changes.assigned_to_email is not None:
                row.assigned_to_email = _email(changes.assigned_to_email)
            row.updated_at = utcnow()
            await uow.commit()
        return await self.get_work_order(work_order_id)

    async def change_status(
        self, work_order_id: str, status: WorkOrderStatus, note: str | None = None
    ) -> WorkOrder:
        async with self._uow() as uow:
            row = await self._work_order_row(uow, work_order_id)
            now = utcnow()
            row.status = status.value
            row.completed_at = now if status is WorkOrderStatus.COMPLETE else None
            row.updated_at = now
            if note and note.strip():
                uow.cmms.add_note(
                    CmmsNote(
                        work_order_id=row.id, author_email=None, text=note.strip(), created_at=now
                    )
                )
            await uow.commit()
        return await self.get_work_order(work_order_id)

    async def add_note(self, work_order_id: str, text: str, author_email: str | None) -> WorkOrder:
        if not text.strip():
            raise CmmsRejected("The note is empty.")
        async with self._uow() as uow:
            row = await self._work_order_row(uow, work_order_id)
            now = utcnow()
            uow.cmms.add_note(
                CmmsNote(
                    work_order_id=row.id,
                    author_email=_email(author_email),
                    text=text.strip(),
                    created_at=now,
                )
            )
            row.updated_at = now
            await uow.commit()
        return await self.get_work_order(work_order_id)

    async def list_open_work_orders(
        self,
        *,
        assigned_to_email: str | None = None,
        created_by_email: str | None = None,
        asset_id: str | None = None,
        limit: int = 50,
    ) -> list[WorkOrder]:
        if asset_id is not None and not asset_id.strip().isdigit():
            return []
        rows = await self._uow.reads.open_work_orders(
            assigned_to_email=_email(assigned_to_email),
            created_by_email=_email(created_by_email),
            asset_id=int(asset_id) if asset_id is not None else None,
            limit=max(limit, 0),
        )
        if not rows:
            return []  # the duplicate check's usual answer: no unit of work needed
        async with self._uow() as uow:
            return await self._work_orders(uow, rows)

    async def _work_order_row(self, uow: UnitOfWork, work_order_id: str) -> CmmsWorkOrder:
        row = await uow.cmms.work_order(_int_id(work_order_id, "Work order"))
        if row is None:
            raise CmmsNotFound(f"Work order {work_order_id} does not exist.")
        return row

    async def _work_orders(
        self, uow: UnitOfWork, rows: Sequence[CmmsWorkOrder] | Sequence[Any]
    ) -> list[WorkOrder]:
        """From ORM objects or plain rows of the work-order table (same attribute names)."""
        ids = [row.id for row in rows]
        notes: dict[int, list[Note]] = {}
        for note in await uow.cmms.notes(ids):
            notes.setdefault(note.work_order_id, []).append(
                Note(author=note.author_email, text=note.text, created_at=note.created_at)
            )
        files: dict[int, list[Attachment]] = {}
        for attachment in await uow.cmms.attachments(work_order_ids=ids):
            assert attachment.work_order_id is not None
            files.setdefault(attachment.work_order_id, []).append(self._attachment(attachment))
        asset_ids = sorted({row.asset_id for row in rows if row.asset_id is not None})
        names = {asset.id: asset.name for asset in await uow.cmms.assets_by_ids(asset_ids)}
        return [
            WorkOrder(
                id=str(row.id),
                number=row.number or f"WO-{row.id:06d}",
                title=row.title,
                description=row.description,
                priority=Priority(row.priority),
                status=WorkOrderStatus(row.status),
                asset_id=str(row.asset_id) if row.asset_id is not None else None,
                asset_name=names.get(row.asset_id) if row.asset_id is not None else None,
                location=row.location,
                created_by_email=row.created_by_email,
                assigned_to_email=row.assigned_to_email,
                source=_source(row.source),
                created_at=row.created_at,
                updated_at=row.updated_at,
                url=None,  # the local CMMS has no web UI of its own
                notes=tuple(notes.get(row.id, ())),
                attachments=tuple(files.get(row.id, ())),
            )
            for row in rows
        ]

    # ------------------------------------------------------------------ files

    async def attach_file(
        self,
        *,
        data: bytes,
        file_name: str,
        mime_type: str | None,
        work_order_id: str | None = None,
        asset_id: str | None = None,
    ) -> Attachment:
        if not data:
            raise CmmsRejected("The file is empty.")
        if work_order_id is None and asset_id is None:
            raise CmmsRejected("A file must belong to a work order or an asset.")
        suffix = Path(file_name).suffix
        # The stored name is Rivet's own; the client's name is only ever displayed.
        stored_name = uuid.uuid4().hex + (suffix.lower() if _SAFE_SUFFIX.fullmatch(suffix) else "")
        path = self._files_dir / stored_name
        async with self._uow() as uow:
            work_order = await self._work_order_row(uow, work_order_id) if work_order_id else None
            asset = await self._asset_row(uow, asset_id) if asset_id else None
            await asyncio.to_thread(_write_file, path, data)
            try:
                row = await uow.cmms.add_attachment(
                    CmmsAttachment(
                        stored_name=stored_name,
                        file_name=_display_name(file_name),
                        mime_type=mime_type,
                        size=len(data),
                        work_order_id=work_order.id if work_order else None,
                        asset_id=asset.id if asset else None,
                    )
                )
                await uow.commit()
            except BaseException:
                await asyncio.to_thread(path.unlink, missing_ok=True)
                raise
            return self._attachment(row)

    def _attachment(self, row: CmmsAttachment) -> Attachment:
        return Attachment(
            id=row.stored_name,
            file_name=row.file_name,
            mime_type=row.mime_type,
            url=f"{self._files_base_url}/{row.stored_name}" if self._files_base_url else None,
            size=row.size,
        )

    def file_path(self, attachment_id: str) -> Path | None:
        """Where a stored file is, for serving it; None for names Rivet never generated."""
        if not re.fullmatch(r"[0-9a-f]{32}(\.[a-z0-9]{1,8})?", attachment_id):
            return None
        path = self._files_dir / attachment_id
        return path if path.is_file() else None


# ---------------------------------------------------------------------- helpers


def _record(
    asset_id: int,
    name: str,
    tag: str | None,
    location: str | None,
    category: str | None,
    description: str | None,
) -> AssetRecord:
    return AssetRecord(
        asset_id=str(asset_id),
        name=name,
        tag=tag,
        location=location,
        category=category,
        description=description,
    )


def _asset(row: CmmsAsset) -> Asset:
    return Asset(
        id=str(row.id),
        name=row.name,
        tag=row.tag,
        location=row.location,
        category=row.category,
        description=row.description,
        parent_id=str(row.parent_id) if row.parent_id is not None else None,
        status=row.status,
    )


def _int_id(value: str, kind: str) -> int:
    value = value.strip()
    if not value.isdigit() or len(value) > 18:
        raise CmmsNotFound(f"{kind} {value} does not exist.")
    return int(value)


def _email(value: str | None) -> str | None:
    return value.strip().lower() if value and value.strip() else None


def _source(value: str | None) -> WorkOrderSource | None:
    try:
        return WorkOrderSource(value) if value else None
    except ValueError:
        return None


def _display_name(file_name: str) -> str:
    name = " ".join(_UNSAFE_IN_NAME.sub(" ", Path(file_name).name).split())
    return name[:MAX_FILE_NAME_CHARS] or "file"


def _write_file(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
