"""Atlas CMMS (Grashjs/cmms) behind Rivet's CMMS port, over its REST API.

Contract: /work/shared/docs/atlas-api.md. What Atlas has no field for (notes, CRITICAL,
idempotency key, reporter, unlicensed files) lives in tagged description lines, see
``integrations.cmms.atlas_text``. Asset search runs on a local index refreshed from Atlas,
because Atlas only filters by substring and search must keep working while Atlas is down.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
import secrets
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from bot.domain import AssetCandidate, Priority, WorkOrderSource, WorkOrderStatus
from bot.services.asset_search import AssetIndex, AssetRecord
from integrations.cmms.atlas_http import AtlasConflict, AtlasHttp
from integrations.cmms.atlas_text import (
    LinkedFile,
    RivetRef,
    TaggedText,
    display_file_name,
    key_marker,
    parse,
    reporter_marker,
    storable_key,
)
from integrations.cmms.port import (
    Asset,
    Attachment,
    CmmsError,
    CmmsHealth,
    CmmsLimitReached,
    CmmsNotFound,
    CmmsRejected,
    CmmsUnavailable,
    CmmsUser,
    NewWorkOrder,
    Note,
    WorkOrder,
    WorkOrderChanges,
)

logger = logging.getLogger(__name__)

# Free-tier caps of an unlicensed Atlas (§2.4).
FREE_TIER_LIMITS = {"open_work_orders": 30, "assets": 50, "locations": 10, "paid_users": 5}
MAX_DESCRIPTION_CHARS = 10000  # WorkOrderBase.description @Length (§4.3)
ASSET_PAGE_SIZE = 200
MAX_ASSET_PAGES = 500
LICENCE_CACHE_SECONDS = 300.0
TECHNICIAN_ROLE_CODE = "TECHNICIAN"
OPEN_STATUSES = [
    WorkOrderStatus.OPEN.value,
    WorkOrderStatus.IN_PROGRESS.value,
    WorkOrderStatus.ON_HOLD.value,
]
_TO_ATLAS_PRIORITY = {
    Priority.LOW: "LOW",
    Priority.MEDIUM: "MEDIUM",
    Priority.HIGH: "HIGH",
    Priority.CRITICAL: "HIGH",  # Atlas stops at HIGH; CRITICAL is kept in Rivet's ref line
}
_FROM_ATLAS_PRIORITY = {
    "NONE": Priority.LOW,
    "LOW": Priority.LOW,
    "MEDIUM": Priority.MEDIUM,
    "HIGH": Priority.HIGH,
}
# Fields of WorkOrderPatchDTO (§4.4): a PATCH must carry all of them or they are nulled.
WORK_ORDER_PATCH_FIELDS = (
    "title",
    "description",
    "priority",
    "dueDate",
    "estimatedDuration",
    "estimatedStartDate",
    "requiredSignature",
    "image",
    "category",
    "location",
    "team",
    "primaryUser",
    "assignedTo",
    "customers",
    "files",
    "asset",
    "completedBy",
    "completedOn",
    "archived",
)
# Fields of AssetPatchDTO (§6), likewise replaced as a whole.
ASSET_PATCH_FIELDS = (
    "name",
    "description",
    "status",
    "location",
    "parentAsset",
    "category",
    "area",
    "barCode",
    "nfcId",
    "serialNumber",
    "model",
    "manufacturer",
    "power",
    "additionalInfos",
    "acquisitionCost",
    "inServiceDate",
    "warrantyExpirationDate",
    "primaryUser",
    "assignedTo",
    "teams",
    "vendors",
    "customers",
    "parts",
    "files",
    "image",
    "archived",
)
_SAFE_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,8}")


@dataclass(frozen=True, slots=True)
class _LicenceState:
    licensed: bool
    files_allowed: bool
    plan: str | None


class AtlasCmms:
    """CmmsPort over Atlas's REST API; one pooled HTTP client, closed by ``close()``."""

    backend = "atlas"

    def __init__(
        self,
        base_url: str,
        email: str,
        password: SecretStr | str,
        *,
        files_dir: Path,
        timeout: float = 10.0,
        http: httpx.AsyncClient | None = None,
        frontend_url: str | None = None,
        files_base_url: str | None = None,
        asset_index: AssetIndex | None = None,
        rate_limit_attempts: int = 5,
        backoff_initial: float = 0.5,
        backoff_max: float = 8.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``frontend_url`` is the Atlas web UI (default: the API URL without a trailing /api,
        as behind the repo's nginx). ``files_base_url`` is where Rivet serves the files it keeps
        for an unlicensed Atlas; without it the description names the stored file only."""
        self._http = AtlasHttp(
            base_url,
            email.strip().lower(),
            password,
            timeout=timeout,
            http=http,
            rate_limit_attempts=rate_limit_attempts,
            backoff_initial=backoff_initial,
            backoff_max=backoff_max,
            clock=clock,
        )
        api_base = self._http.base_url
        self._frontend_url = (frontend_url or api_base.removesuffix("/api")).rstrip("/")
        self._files_dir = files_dir
        self._files_base_url = files_base_url.rstrip("/") if files_base_url else None
        self._index = asset_index if asset_index is not None else AssetIndex()
        self._clock = clock
        # Last good copy of Atlas's assets, so get/list keep working while Atlas is down.
        self._asset_snapshot: dict[str, Asset] = {}
        self._index_loaded = False
        self._refresh_lock = asyncio.Lock()
        self._licence: _LicenceState | None = None
        self._licence_checked_at = 0.0
        self._company_id: int | None = None
        self._role_ids: dict[str, int] = {}
        self._emails_by_user_id: dict[int, str | None] = {}

    async def close(self) -> None:
        await self._http.close()

    # ------------------------------------------------------------------ health and users

    async def health(self) -> CmmsHealth:
        try:
            await self._http.request("GET", "/health-check", authenticated=False)
            licence = await self._licence_state(refresh=True)
            # /health-check only proves the web server; /auth/me proves credentials and DB (§9).
            await self._http.request("GET", "/auth/me")
        except CmmsError as error:
            return CmmsHealth(ok=False, backend=self.backend, detail=error.message)
        if licence.licensed:
            detail = f"Atlas is up; licensed ({licence.plan or 'plan unknown'})."
            return CmmsHealth(ok=True, backend=self.backend, detail=detail, licensed=True)
        detail = (
            "Atlas is up; no licence: at most 30 open work orders and 50 assets, and files are "
            "kept by Rivet."
        )
        return CmmsHealth(
            ok=True,
            backend=self.backend,
            detail=detail,
            licensed=False,
            limits=dict(FREE_TIER_LIMITS),
        )

    async def ensure_user(self, email: str, name: str | None = None) -> CmmsUser:
        """The Atlas user with this e-mail, invited and signed up as a technician if missing.

        Atlas has no "create user" call: an admin invites, then the person signs up (§5.2).
        Rivet signs up on their behalf with a random password it does not keep; the person
        sets their own through Atlas's password reset.
        """
        email = email.strip().lower()
        found = await self._find_user(email)
        if found is not None:
            return found
        role_id = await self._role_id(TECHNICIAN_ROLE_CODE)
        try:
            await self._http.request(
                "POST",
                "/users/invite",
                json_body={"role": {"id": role_id}, "emails": [email], "disableSendingEmail": True},
            )
        except CmmsRejected as error:
            # 406 "Email already in use" also covers a registered but disabled user.
            found = await self._find_user(email)
            if found is not None:
                return found
            raise CmmsRejected(f"Atlas refused to invite {email}: {error.message}") from error
        first_name, last_name = _split_name(name, email)
        password = secrets.token_urlsafe(24)
        answer = await self._http.request(
            "POST",
            "/auth/signup",
            json_body={
                "email": email,
                "password": password,
                "firstName": first_name,
                "lastName": last_name,
                "phone": "",
                "role": {"id": role_id},
            },
            authenticated=False,
            redact=(password,),
        )
        user = answer.get("user") if isinstance(answer, dict) else None
        if isinstance(user, dict) and isinstance(user.get("id"), int):
            return self._remember_user(user)
        # With e-mail activation on, signup answers without the user (§1.5).
        found = await self._find_user(email)
        if found is None:
            raise CmmsUnavailable(f"Atlas accepted {email} but does not list the user yet.")
        return found

    async def _find_user(self, email: str) -> CmmsUser | None:
        criteria = _criteria([{"field": "email", "operation": "eq", "value": email}], size=1)
        page = await self._http.request("POST", "/users/search", json_body=criteria)
        for user in _content(page):
            if str(user.get("email", "")).lower() == email:
                return self._remember_user(user)
        return None

    def _remember_user(self, user: dict[str, Any]) -> CmmsUser:
        email = str(user["email"]).lower()
        self._emails_by_user_id[user["id"]] = email
        full_name = " ".join(filter(None, [user.get("firstName"), user.get("lastName")]))
        return CmmsUser(id=str(user["id"]), email=email, name=full_name or None)

    async def _role_id(self, code: str) -> int:
        if code not in self._role_ids:
            roles = await self._http.request("GET", "/roles")
            self._role_ids = {
                role["code"]: role["id"]
                for role in roles or []
                if isinstance(role, dict) and "code" in role
            }
        if code not in self._role_ids:
            raise CmmsRejected(f"Atlas has no {code} role to give new users.")
        return self._role_ids[code]

    async def _email_for_user(self, user_id: Any) -> str | None:
        """UserMiniDTO carries no e-mail (§4.6), so ids are resolved once and remembered."""
        if not isinstance(user_id, int):
            return None
        if user_id not in self._emails_by_user_id:
            try:
                user = await self._http.request(
                    "GET", f"/users/{user_id}", subject=f"Atlas user {user_id}"
                )
            except CmmsUnavailable:
                return None  # not remembered: try again next time
            except CmmsError:
                user = None
            email = user.get("email") if isinstance(user, dict) else None
            self._emails_by_user_id[user_id] = str(email).lower() if email else None
        return self._emails_by_user_id[user_id]

    # ------------------------------------------------------------------ assets

    async def refresh_asset_index(self) -> int:
        """Reload every active Atlas asset into the local index; returns how many there are.

        Called at start-up and periodically, so search keeps working while Atlas is down.
        """
        async with self._refresh_lock:
            fetched: dict[str, Asset] = {}
            records: list[AssetRecord] = []
            for page_num in range(MAX_ASSET_PAGES):
                criteria = _criteria(
                    [{"field": "archived", "operation": "eq", "value": False}],
                    size=ASSET_PAGE_SIZE,
                    page=page_num,
                )
                page = await self._http.request("POST", "/assets/search", json_body=criteria)
                for dto in _content(page):
                    asset = _asset_from(dto)
                    fetched[asset.id] = asset
                    records.append(_asset_record(asset, dto))
                if not isinstance(page, dict) or page.get("last", True) or not _content(page):
                    break
            for stale_id in self._asset_snapshot.keys() - fetched.keys():
                self._index.remove(stale_id)
            self._index.upsert(records)
            self._asset_snapshot = fetched
            self._index_loaded = True
            logger.info("Atlas asset index refreshed: %d assets", len(fetched))
            return len(fetched)

    async def search_assets(self, query: str, limit: int = 5) -> list[AssetCandidate]:
        await self._load_index_once()
        return self._index.search(query, limit)

    async def find_assets_in_text(self, text: str, limit: int = 5) -> list[AssetCandidate]:
        await self._load_index_once()
        return self._index.find_in_text(text, limit)

    async def _load_index_once(self) -> None:
        if self._index_loaded:
            return
        try:
            await self.refresh_asset_index()
        except CmmsUnavailable as error:
            logger.warning("Atlas asset index not loaded yet: %s", error.message)

    async def get_asset(self, asset_id: str) -> Asset:
        try:
            dto = await self._http.request(
                "GET", f"/assets/{_atlas_id(asset_id, 'Asset')}", subject=f"Asset {asset_id}"
            )
        except CmmsUnavailable:
            if asset_id in self._asset_snapshot:
                return self._asset_snapshot[asset_id]
            raise
        return _asset_from(dto)

    async def list_assets(self, offset: int = 0, limit: int = 100) -> list[Asset]:
        if limit <= 0:
            return []
        aligned = offset % limit == 0
        criteria = _criteria(
            [{"field": "archived", "operation": "eq", "value": False}],
            size=limit if aligned else offset + limit,
            page=offset // limit if aligned else 0,
        )
        try:
            page = await self._http.request("POST", "/assets/search", json_body=criteria)
        except CmmsUnavailable:
            if not self._asset_snapshot:
                raise
            return list(self._asset_snapshot.values())[offset : offset + limit]
        assets = [_asset_from(dto) for dto in _content(page)]
        return assets if aligned else assets[offset:]

    async def asset_files(self, asset_id: str) -> list[Attachment]:
        dto = await self._http.request(
            "GET", f"/assets/{_atlas_id(asset_id, 'Asset')}", subject=f"Asset {asset_id}"
        )
        text = parse(dto.get("description"))
        return [*_atlas_files(dto), *(_linked_attachment(f) for f in text.files)]

    # ------------------------------------------------------------------ work orders

    async def create_work_order(self, new: NewWorkOrder) -> WorkOrder:
        # A retry after an unknown outcome (timeout, crash) must not create a second one.
        existing = await self.find_by_idempotency_key(new.idempotency_key)
        if existing is not None:
            return existing
        ref = RivetRef(
            key=storable_key(new.idempotency_key),
            source=new.source.value,
            reporter=new.created_by_email.strip().lower() if new.created_by_email else None,
            priority=Priority.CRITICAL.value if new.priority is Priority.CRITICAL else None,
        )
        body: dict[str, Any] = {
            "title": new.title,
            "priority": _TO_ATLAS_PRIORITY[new.priority],
        }
        if new.asset_id:
            body["asset"] = {"id": _atlas_id(new.asset_id, "Asset")}
        if new.location:
            location_id = await self._location_id(new.location)
            if location_id is None:
                ref = replace(ref, location=new.location)
            else:
                body["location"] = {"id": location_id}
        if new.assigned_to_email:
            try:
                assignee = await self.ensure_user(new.assigned_to_email)
            except (CmmsRejected, CmmsLimitReached) as error:
                # The fault report matters more than its assignment: create it unassigned.
                logger.warning("Atlas work order left unassigned: %s", error.message)
            else:
                body["primaryUser"] = {"id": int(assignee.id)}
                body["assignedTo"] = [{"id": int(assignee.id)}]
        body["description"] = _description(TaggedText(body=new.description.strip(), ref=ref))
        dto = await self._http.request("POST", "/work-orders", json_body=body)
        logger.info("Created Atlas work order %s (%s)", dto.get("customId"), dto.get("id"))
        return await self._work_order_from(dto)

    async def find_by_idempotency_key(self, key: str) -> WorkOrder | None:
        stored_key = storable_key(key)
        # No archived filter: an archived work order still means the key was used.
        criteria = _criteria(
            [{"field": "description", "operation": "cn", "value": key_marker(stored_key)}],
            size=10,
        )
        page = await self._http.request("POST", "/work-orders/search", json_body=criteria)
        for dto in _content(page):
            # cn is case-insensitive; the key itself is not.
            if parse(dto.get("description")).ref.key == stored_key:
                return await self._work_order_from(dto)
        return None

    async def get_work_order(self, work_order_id: str) -> WorkOrder:
        return await self._work_order_from(await self._get_work_order_dto(work_order_id))

    async def update_work_order(self, work_order_id: str, changes: WorkOrderChanges) -> WorkOrder:
        assignee_id: int | None = None
        if changes.assigned_to_email:
            assignee_id = int((await self.ensure_user(changes.assigned_to_email)).id)

        def apply(body: dict[str, Any], text: TaggedText) -> TaggedText:
            if changes.title is not None:
                body["title"] = changes.title
            if changes.priority is not None:
                body["priority"] = _TO_ATLAS_PRIORITY[changes.priority]
                critical = changes.priority is Priority.CRITICAL
                text = text.with_ref(
                    replace(text.ref, priority=Priority.CRITICAL.value if critical else None)
                )
            if changes.asset_id is not None:
                body["asset"] = {"id": _atlas_id(changes.asset_id, "Asset")}
            if assignee_id is not None:
                body["primaryUser"] = {"id": assignee_id}
                body["assignedTo"] = [{"id": assignee_id}]
            if changes.description is not None:
                text = text.with_body(changes.description)
            return text

        return await self._patch_work_order(work_order_id, apply)

    async def change_status(
        self, work_order_id: str, status: WorkOrderStatus, note: str | None = None
    ) -> WorkOrder:
        if note:
            # feedback is overwritten by the next status change, the description keeps history.
            await self.add_note(work_order_id, note, author_email=None)
        body: dict[str, Any] = {"status": status.value}
        if note:
            body["feedback"] = note
        dto = await self._http.request(
            "PATCH",
            f"/work-orders/{_atlas_id(work_order_id, 'Work order')}/change-status",
            json_body=body,
            subject=f"Work order {work_order_id}",
        )
        return await self._work_order_from(dto)

    async def add_note(self, work_order_id: str, text: str, author_email: str | None) -> WorkOrder:
        note = Note(
            author=author_email.strip().lower() if author_email else None,
            text=text.strip(),
            created_at=datetime.now(UTC),
        )
        return await self._patch_work_order(
            work_order_id, lambda _body, tagged: tagged.with_note(note)
        )

    async def list_open_work_orders(
        self,
        *,
        assigned_to_email: str | None = None,
        created_by_email: str | None = None,
        asset_id: str | None = None,
        limit: int = 50,
    ) -> list[WorkOrder]:
        filters: list[dict[str, Any]] = [
            {"field": "archived", "operation": "eq", "value": False},
            {
                "field": "status",
                "operation": "in",
                "value": "",
                "values": OPEN_STATUSES,
                "enumName": "STATUS",
            },
        ]
        if asset_id is not None:
            filters.append(
                {"field": "asset", "operation": "in", "value": "", "values": [_atlas_id(asset_id)]}
            )
        if assigned_to_email:
            assignee = await self._find_user(assigned_to_email.strip().lower())
            if assignee is None:
                return []
            user_id = int(assignee.id)
            filters.append(
                {
                    "field": "assignedTo",
                    "operation": "inm",
                    "joinType": "LEFT",
                    "value": "",
                    "values": [user_id],
                    "alternatives": [
                        {
                            "field": "primaryUser",
                            "operation": "in",
                            "value": "",
                            "values": [user_id],
                        }
                    ],
                }
            )
        reporter = created_by_email.strip().lower() if created_by_email else None
        if reporter:
            filters.append(
                {"field": "description", "operation": "cn", "value": reporter_marker(reporter)}
            )
        criteria = _criteria(filters, size=limit, sort="createdAt", direction="DESC")
        page = await self._http.request("POST", "/work-orders/search", json_body=criteria)
        work_orders = [await self._work_order_from(dto) for dto in _content(page)]
        if reporter:
            work_orders = [wo for wo in work_orders if wo.created_by_email == reporter]
        return work_orders

    async def _get_work_order_dto(self, work_order_id: str) -> dict[str, Any]:
        dto: dict[str, Any] = await self._http.request(
            "GET",
            f"/work-orders/{_atlas_id(work_order_id, 'Work order')}",
            subject=f"Work order {work_order_id}",
        )
        return dto

    async def _patch_work_order(
        self,
        work_order_id: str,
        apply: Callable[[dict[str, Any], TaggedText], TaggedText],
    ) -> WorkOrder:
        """GET, change, PATCH the whole object: Atlas nulls whatever a PATCH leaves out (§4.4).

        One retry when Atlas reports that someone else changed the work order in between.
        """
        for attempt in (1, 2):
            dto = await self._get_work_order_dto(work_order_id)
            body = _patch_body(dto, WORK_ORDER_PATCH_FIELDS)
            body["description"] = _description(apply(body, parse(dto.get("description"))))
            try:
                patched = await self._http.request(
                    "PATCH",
                    f"/work-orders/{dto['id']}",
                    json_body=body,
                    subject=f"Work order {work_order_id}",
                )
            except AtlasConflict:
                if attempt == 2:
                    raise
                continue
            return await self._work_order_from(patched)
        raise AssertionError("unreachable: the loop returns or raises")

    async def _location_id(self, name: str) -> int | None:
        locations = await self._http.request("GET", "/locations/mini")
        wanted = name.strip().casefold()
        for location in locations or []:
            if str(location.get("name", "")).strip().casefold() == wanted:
                return int(location["id"])
        return None

    async def _work_order_from(self, dto: dict[str, Any]) -> WorkOrder:
        text = parse(dto.get("description"))
        ref = text.ref
        atlas_priority = dto.get("priority") or "NONE"
        priority = _FROM_ATLAS_PRIORITY.get(atlas_priority, Priority.LOW)
        # CRITICAL holds only while Atlas still says HIGH: a change in the Atlas UI wins.
        if priority is Priority.HIGH and ref.priority == Priority.CRITICAL.value:
            priority = Priority.CRITICAL
        asset = dto.get("asset") or {}
        location = (dto.get("location") or {}).get("name") or ref.location
        # Rivet-created work orders are all created by Rivet's account: the ref names the reporter.
        reporter = ref.reporter if ref.key else await self._email_for_user(dto.get("createdBy"))
        assignee = dto.get("primaryUser") or next(iter(dto.get("assignedTo") or []), None) or {}
        notes = list(text.notes)
        feedback = html.unescape(dto.get("feedback") or "").strip()
        if feedback and all(note.text != feedback for note in notes):
            when = _parse_time(dto.get("completedOn") or dto.get("updatedAt"))
            notes.append(Note(author=None, text=feedback, created_at=when))
        created_at = _parse_time(dto.get("createdAt"))
        return WorkOrder(
            id=str(dto["id"]),
            number=str(dto.get("customId") or dto["id"]),
            title=html.unescape(dto.get("title") or ""),
            description=text.body,
            priority=priority,
            status=_status(dto.get("status")),
            asset_id=str(asset["id"]) if asset.get("id") is not None else None,
            asset_name=asset.get("name"),
            location=location,
            created_by_email=reporter,
            assigned_to_email=await self._email_for_user(assignee.get("id")),
            source=_source(ref.source),
            created_at=created_at,
            updated_at=_parse_time(dto.get("updatedAt")) if dto.get("updatedAt") else created_at,
            url=f"{self._frontend_url}/app/work-orders/{dto['id']}",
            notes=tuple(notes),
            attachments=(*_atlas_files(dto), *(_linked_attachment(f) for f in text.files)),
        )

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
        """Upload to Atlas when it is licensed for files; otherwise Rivet keeps the bytes under
        ``files_dir`` and links them in the work order's (or asset's) description."""
        if not data:
            raise CmmsRejected("The file is empty.")
        licence = await self._licence_state()
        if licence.files_allowed:
            try:
                return await self._upload(data, file_name, mime_type, work_order_id, asset_id)
            except CmmsLimitReached:
                self._licence = replace(licence, files_allowed=False)  # the licence lapsed
        return await self._keep_locally(data, file_name, mime_type, work_order_id, asset_id)

    async def _upload(
        self,
        data: bytes,
        file_name: str,
        mime_type: str | None,
        work_order_id: str | None,
        asset_id: str | None,
    ) -> Attachment:
        name = display_file_name(file_name)
        mime = mime_type or "application/octet-stream"
        uploaded = await self._http.request(
            "POST",
            "/files/upload",
            files=[("files", (name, data, mime))],
            form={
                "folder": f"company {await self._company()}",
                "hidden": "false",
                "type": "IMAGE" if mime.startswith("image/") else "OTHER",
            },
        )
        file_dto = _content_list(uploaded)[0]
        file_ref = {"id": file_dto["id"]}
        if work_order_id is not None:
            await self._http.request(
                "PATCH",
                f"/work-orders/files/{_atlas_id(work_order_id, 'Work order')}/add",
                json_body=[file_ref],
                subject=f"Work order {work_order_id}",
            )
        if asset_id is not None:
            # No /assets/files/{id}/add: the asset is patched whole with the file appended (§6).
            def add_file(body: dict[str, Any], text: TaggedText) -> TaggedText:
                body["files"] = [*body["files"], file_ref]
                return text

            await self._patch_asset(asset_id, add_file)
        return Attachment(
            id=str(file_dto["id"]),
            file_name=str(file_dto.get("name") or name),
            mime_type=mime_type,
            url=file_dto.get("url"),
            size=len(data),
        )

    async def _keep_locally(
        self,
        data: bytes,
        file_name: str,
        mime_type: str | None,
        work_order_id: str | None,
        asset_id: str | None,
    ) -> Attachment:
        suffix = Path(file_name).suffix
        # The stored name is Rivet's own; the client's name is only ever displayed.
        stored_name = uuid.uuid4().hex + (suffix.lower() if _SAFE_SUFFIX.fullmatch(suffix) else "")
        path = self._files_dir / stored_name
        await asyncio.to_thread(_write_file, path, data)
        linked = LinkedFile(
            stored_name=stored_name,
            size=len(data),
            mime_type=mime_type,
            file_name=display_file_name(file_name),
            url=f"{self._files_base_url}/{stored_name}" if self._files_base_url else None,
        )
        try:
            if work_order_id is not None:
                await self._patch_work_order(
                    work_order_id, lambda _body, text: text.with_file(linked)
                )
            if asset_id is not None:
                await self._patch_asset(asset_id, lambda _body, text: text.with_file(linked))
        except CmmsError:
            await asyncio.to_thread(path.unlink, missing_ok=True)
            raise
        logger.info("Atlas has no file licence; kept %s under %s", stored_name, self._files_dir)
        return _linked_attachment(linked)

    async def _patch_asset(
        self, asset_id: str, apply: Callable[[dict[str, Any], TaggedText], TaggedText]
    ) -> None:
        atlas_asset_id = _atlas_id(asset_id, "Asset")
        dto = await self._http.request(
            "GET", f"/assets/{atlas_asset_id}", subject=f"Asset {asset_id}"
        )
        # Full object, status included: a PATCH without status is a 500 in Atlas (§6).
        body = _patch_body(dto, ASSET_PATCH_FIELDS)
        body["description"] = _description(apply(body, parse(dto.get("description"))))
        await self._http.request(
            "PATCH", f"/assets/{atlas_asset_id}", json_body=body, subject=f"Asset {asset_id}"
        )

    async def _licence_state(self, *, refresh: bool = False) -> _LicenceState:
        stale = self._clock() - self._licence_checked_at > LICENCE_CACHE_SECONDS
        if self._licence is None or stale or refresh:
            state = await self._http.request("GET", "/license/state", authenticated=False)
            state = state if isinstance(state, dict) else {}
            licensed = bool(state.get("hasLicense")) and bool(state.get("valid"))
            self._licence = _LicenceState(
                licensed=licensed,
                files_allowed=licensed and "FILE_ATTACHMENTS" in (state.get("entitlements") or []),
                plan=state.get("planName"),
            )
            self._licence_checked_at = self._clock()
        return self._licence

    async def _company(self) -> int:
        if self._company_id is None:
            me = await self._http.request("GET", "/auth/me")
            self._company_id = int(me["companyId"])
        return self._company_id


# ---------------------------------------------------------------------- helpers


def _criteria(
    filters: list[dict[str, Any]],
    *,
    size: int,
    page: int = 0,
    sort: str = "id",
    direction: str = "ASC",
) -> dict[str, Any]:
    """SearchCriteria (§3.1); filterFields is never null (a null is a 500 in Atlas)."""
    return {
        "filterFields": filters,
        "pageNum": page,
        "pageSize": max(size, 1),
        "sortField": sort,
        "direction": direction,
    }


def _content(page: Any) -> list[dict[str, Any]]:
    content = page.get("content") if isinstance(page, dict) else None
    return [item for item in content or [] if isinstance(item, dict)]


def _content_list(answer: Any) -> list[dict[str, Any]]:
    items = [item for item in answer or [] if isinstance(item, dict)]
    if not items:
        raise CmmsUnavailable("Atlas accepted the upload but returned no file.")
    return items


def _atlas_id(value: str, kind: str = "Record") -> int:
    """Atlas ids are integers; anything else cannot exist there (and would be a 500)."""
    if not value.strip().isdigit():
        raise CmmsNotFound(f"{kind} {value} does not exist in Atlas.")
    return int(value)


def _as_reference(value: Any) -> Any:
    """Show-DTO objects back to {"id"} references, which is all a PATCH reads of them."""
    if isinstance(value, dict) and "id" in value:
        return {"id": value["id"]}
    if isinstance(value, list):
        return [_as_reference(item) for item in value]
    return value


def _patch_body(dto: dict[str, Any], fields: Iterable[str]) -> dict[str, Any]:
    body = {field: _as_reference(dto.get(field)) for field in fields}
    for field, value in body.items():
        if isinstance(value, str):
            body[field] = html.unescape(value)  # Atlas HEAD escapes free text; not twice
    for field in ("assignedTo", "customers", "files", "teams", "vendors", "parts"):
        if field in body and body[field] is None:
            body[field] = []
    body["customFields"] = [
        {"id": value["customField"]["id"], "value": value.get("value")}
        for value in dto.get("customFieldValues") or []
        if isinstance(value, dict) and isinstance(value.get("customField"), dict)
    ]
    return body


def _description(text: TaggedText) -> str:
    rendered = text.render()
    if len(rendered) > MAX_DESCRIPTION_CHARS:
        raise CmmsRejected(
            f"The work order text would exceed Atlas's {MAX_DESCRIPTION_CHARS} characters; "
            "shorten the description or add further notes in Atlas."
        )
    return rendered


def _asset_from(dto: dict[str, Any]) -> Asset:
    text = parse(dto.get("description"))
    return Asset(
        id=str(dto["id"]),
        name=html.unescape(dto.get("name") or ""),
        tag=dto.get("customId"),
        location=(dto.get("location") or {}).get("name"),
        category=(dto.get("category") or {}).get("name"),
        description=text.body or None,
        parent_id=str(dto["parentAsset"]["id"]) if dto.get("parentAsset") else None,
        status=dto.get("status") or "OPERATIONAL",
    )


def _asset_record(asset: Asset, dto: dict[str, Any]) -> AssetRecord:
    # Model, maker and serial number are how technicians often name a machine.
    extra = [dto.get(field) for field in ("model", "manufacturer", "serialNumber", "area")]
    description = " ".join(html.unescape(str(part)) for part in [asset.description, *extra] if part)
    return AssetRecord(
        asset_id=asset.id,
        name=asset.name,
        tag=asset.tag,
        location=asset.location,
        category=asset.category,
        description=description or None,
    )


def _atlas_files(dto: dict[str, Any]) -> list[Attachment]:
    return [
        Attachment(
            id=str(f["id"]), file_name=str(f.get("name") or ""), mime_type=None, url=f.get("url")
        )
        for f in dto.get("files") or []
        if isinstance(f, dict) and "id" in f
    ]


def _linked_attachment(linked: LinkedFile) -> Attachment:
    return Attachment(
        id=linked.stored_name,
        file_name=linked.file_name,
        mime_type=linked.mime_type,
        url=linked.url,
        size=linked.size,
    )


def _status(value: Any) -> WorkOrderStatus:
    try:
        return WorkOrderStatus(value)
    except ValueError:
        return WorkOrderStatus.OPEN


def _source(value: str | None) -> WorkOrderSource | None:
    try:
        return WorkOrderSource(value) if value else None
    except ValueError:
        return None


def _parse_time(value: Any) -> datetime:
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return datetime.now(UTC)


def _split_name(name: str | None, email: str) -> tuple[str, str]:
    parts = (name or "").split()
    if not parts:
        return email.split("@", 1)[0], ""
    return parts[0], " ".join(parts[1:])


def _write_file(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
