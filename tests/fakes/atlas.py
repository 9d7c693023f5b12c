"""A fake Atlas CMMS (Grashjs/cmms) on 127.0.0.1, faithful to /work/shared/docs/atlas-api.md.

It serves the routes of the contract's §11 at its root, with the quirks a client must survive:
403 with an empty body for a missing/expired token, 403 JSON for bad credentials and licence
refusals, 406 business errors, 500 for unreadable JSON (bad enum values), PATCH as a full
replacement (missing fields become null), ``change-status`` as the only way to change a status,
the Spring page shape for searches, server-generated ``customId``s, HTML-stripped and
entity-escaped free text (HEAD's Jsoup sanitizer), free-tier caps and 429s without Retry-After.

Usage::

    async with FakeAtlas(licensed=False) as fake:
        client = AtlasCmms(fake.base_url, FAKE_ADMIN_EMAIL, FAKE_ADMIN_PASSWORD, files_dir=tmp)
        fake.expire_tokens()  # every token issued so far now gets 403 with no body

Switches (set between requests): ``licensed``, ``down`` (a reverse proxy answering 502;
``stop()`` refuses connections instead), ``answer_delay``, ``burst_429(n)``,
``fail_next(status, message)``, ``expire_tokens()``, ``token_lifetime``.
Seeding: ``add_user``, ``add_asset``, ``add_location``, ``add_work_order``; changes made in the
Atlas UI: ``set_status``, ``add_comment``.
Inspection: ``work_orders``, ``assets``, ``users``, ``files``, ``signin_count``, ``requests``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import html
import itertools
import json
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from aiohttp import web
from pydantic import SecretStr

from integrations.cmms.atlas import AtlasCmms

FAKE_ADMIN_EMAIL = "bot@plant.example"
FAKE_ADMIN_PASSWORD = "a-long-unique-passphrase"
FAKE_TECHNICIAN_EMAIL = "ana.diaz@plant.example"
FAKE_TECHNICIAN_PASSWORD = "ana-long-unique-passphrase"

FREE_OPEN_WORK_ORDER_LIMIT = 30
FREE_ASSET_LIMIT = 50
FREE_PAID_USER_LIMIT = 5

PRIORITIES = ("NONE", "LOW", "MEDIUM", "HIGH")
STATUSES = ("OPEN", "IN_PROGRESS", "ON_HOLD", "COMPLETE")
ASSET_STATUSES = (
    "OPERATIONAL",
    "DOWN",
    "MODERNIZATION",
    "STANDBY",
    "INSPECTION_SCHEDULED",
    "COMMISSIONING",
    "EMERGENCY_SHUTDOWN",
)
# Global default roles (§5.1): ids are per instance, clients must pick them by code.
DEFAULT_ROLES = (
    (11, "ADMIN", "Administrator", True),
    (12, "LIMITED_ADMIN", "Limited Administrator", True),
    (13, "TECHNICIAN", "Technician", True),
    (14, "LIMITED_TECHNICIAN", "Limited Technician", True),
    (15, "VIEW_ONLY", "View Only", False),
    (16, "REQUESTER", "Requester", False),
)
ROLES_WITH_PEOPLE_ADMIN = {"ADMIN", "LIMITED_ADMIN"}
PUBLIC_PATHS = {"/auth/signin", "/auth/signup", "/auth/refresh", "/health-check", "/license/state"}

WORK_ORDER_PATCHABLE = (
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
ASSET_PATCHABLE = (
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
WORK_ORDER_REFERENCES = {
    "image",
    "category",
    "location",
    "team",
    "primaryUser",
    "asset",
    "completedBy",
}
ASSET_REFERENCES = {"location", "parentAsset", "category", "primaryUser", "image"}
ASSET_FREE_TEXT = (
    "name",
    "description",
    "area",
    "additionalInfos",
    "model",
    "power",
    "manufacturer",
    "serialNumber",
)
LIST_FIELDS = {"assignedTo", "customers", "files", "teams", "vendors", "parts"}
# DTO defaults a full-replacement PATCH falls back to for fields left out of the body (§4.4).
PATCH_DEFAULTS: dict[str, Any] = {
    "priority": "NONE",
    "estimatedDuration": 0.0,
    "requiredSignature": False,
    "archived": False,
}
# Per-request storage: the signed-in Atlas user and the body as recorded for tests.
CALLER = web.RequestKey("caller", dict)
RECORDED_BODY = web.RequestKey("recorded_body", object)
_TAG = re.compile(r"<[A-Za-z/!][^>]*>")


class AtlasError(Exception):
    """Raised inside handlers; rendered as Atlas renders its errors."""

    def __init__(self, status: int, message: str | None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message  # None → empty body (Spring Security's bare 403)


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    path: str
    body: Any  # parsed JSON (passwords replaced by "***"), form field names, or None
    status: int
    authenticated: bool


def _now_instant() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _now_date() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+00:00"


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _sanitize(text: Any) -> Any:
    """HEAD's Jsoup ``cleanText``: tags stripped, ``& < >`` entity-escaped, newlines kept."""
    if not isinstance(text, str) or not text:
        return text
    return html.escape(_TAG.sub("", text), quote=False)


def _sort_key(value: Any) -> tuple[int, int, Any]:
    """Orders mixed column values the way a database would: numbers, then text, nulls last."""
    if value is None:
        return (1, 0, 0)
    if isinstance(value, int | float):
        return (0, 0, value)
    return (0, 1, str(value))


def _parse_error(type_name: str, value: Any) -> AtlasError:
    return AtlasError(
        500,
        f"JSON parse error: Cannot deserialize value of type `{type_name}` from String "
        f'"{value}": not one of the values accepted for Enum class',
    )


def _ref(value: Any, field: str) -> dict[str, int] | None:
    """A reference must be an object with an integer id, as Jackson maps it to an entity."""
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("id"), int):
        raise AtlasError(
            500, f"JSON parse error: Cannot construct instance of `{field}` from {value!r}"
        )
    return {"id": value["id"]}


def _refs(value: Any, field: str) -> list[dict[str, int]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise AtlasError(500, f"JSON parse error: Cannot deserialize `{field}` from {value!r}")
    return [ref for item in value if (ref := _ref(item, field)) is not None]


def _enum(value: Any, allowed: tuple[str, ...], type_name: str) -> Any:
    if value is not None and value not in allowed:
        raise _parse_error(type_name, value)
    return value


class FakeAtlas:
    """In-process Atlas CMMS; one seeded company with an admin bot account and a technician."""

    def __init__(
        self,
        *,
        licensed: bool = False,
        token_lifetime: float = 1800.0,
        sanitize_html: bool = True,
        open_work_order_limit: int = FREE_OPEN_WORK_ORDER_LIMIT,
        asset_limit: int = FREE_ASSET_LIMIT,
    ) -> None:
        self.licensed = licensed
        self.token_lifetime = token_lifetime
        self.sanitize_html = sanitize_html
        self.open_work_order_limit = open_work_order_limit
        self.asset_limit = asset_limit
        self.down = False
        self.answer_delay = 0.0  # seconds every answer is held, to exceed a client's timeout
        self.signin_count = 0
        self.requests: list[RecordedRequest] = []
        self.users: dict[int, dict[str, Any]] = {}
        self.work_orders: dict[int, dict[str, Any]] = {}
        self.assets: dict[int, dict[str, Any]] = {}
        self.locations: dict[int, dict[str, Any]] = {}
        self.files: dict[int, dict[str, Any]] = {}
        self.file_bytes: dict[int, bytes] = {}
        self.invitations: list[tuple[str, int]] = []
        self.categories: dict[int, dict[str, Any]] = {
            1: {"id": 1, "name": "Electrical", "description": None}
        }
        self._ids = itertools.count(1)
        self._custom_ids: dict[tuple[int, str], itertools.count[int]] = {}
        self._secret = secrets.token_bytes(32)
        self._live_tokens: set[str] = set()
        self._pending_429 = 0
        self._pending_failures: list[tuple[int, str]] = []
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self.add_user(FAKE_ADMIN_EMAIL, FAKE_ADMIN_PASSWORD, "Rivet", "Bot", role_code="ADMIN")
        self.add_user(FAKE_TECHNICIAN_EMAIL, FAKE_TECHNICIAN_PASSWORD, "Ana", "Diaz")

    # ------------------------------------------------------------------ lifecycle

    @property
    def base_url(self) -> str:
        if self._port is None:
            raise RuntimeError("FakeAtlas is not started")
        return f"http://127.0.0.1:{self._port}"

    async def start(self) -> None:
        app = web.Application(middlewares=[self._middleware], client_max_size=100 * 1024**2)
        self._add_routes(app)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        # Reuse the port after a stop()/start() cycle so a client keeps its base URL.
        site = web.TCPSite(self._runner, "127.0.0.1", self._port or 0)
        await site.start()
        if self._port is None:
            self._port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        """Close the listener: clients then get "connection refused" until ``start()``."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # ------------------------------------------------------------------ switches and seeding

    def expire_tokens(self) -> None:
        """Every token issued so far is now rejected with 403 and an empty body."""
        self._live_tokens.clear()

    def burst_429(self, count: int) -> None:
        """The next ``count`` requests get Atlas's 429 body (no Retry-After)."""
        self._pending_429 += count

    def fail_next(self, status: int, message: str) -> None:
        """The next authenticated request fails with ``{"success":false,"message":...}``."""
        self._pending_failures.append((status, message))

    def add_user(
        self,
        email: str,
        password: str,
        first_name: str,
        last_name: str,
        *,
        role_code: str = "TECHNICIAN",
        company_id: int = 1,
    ) -> int:
        user_id = next(self._ids)
        self.users[user_id] = {
            "id": user_id,
            "email": email.lower(),
            "password": password,
            "firstName": first_name,
            "lastName": last_name,
            "phone": "",
            "role_id": self._role_id(role_code),
            "companyId": company_id,
            "enabled": True,
            "createdAt": _now_date(),
        }
        return user_id

    def add_location(self, name: str, *, company_id: int = 1) -> int:
        location_id = next(self._ids)
        self.locations[location_id] = {
            "id": location_id,
            "name": name,
            "address": None,
            "customId": self._custom_id(company_id, "L"),
            "parentId": None,
            "companyId": company_id,
        }
        return location_id

    def add_asset(
        self,
        name: str,
        *,
        description: str | None = None,
        location_id: int | None = None,
        category_id: int | None = None,
        model: str | None = None,
        manufacturer: str | None = None,
        serial_number: str | None = None,
        status: str = "OPERATIONAL",
        company_id: int = 1,
    ) -> int:
        """Seed an asset directly (no cap applies, as if created before the licence lapsed)."""
        body = {
            "name": name,
            "description": description,
            "location": {"id": location_id} if location_id else None,
            "category": {"id": category_id} if category_id else None,
            "model": model,
            "manufacturer": manufacturer,
            "serialNumber": serial_number,
            "status": status,
        }
        return self._store_asset(body, company_id=company_id, user_id=self._admin_id())["id"]

    def add_work_order(self, title: str, *, status: str = "OPEN", **fields: Any) -> int:
        """Seed a work order directly, as if created in the Atlas UI."""
        body = {"title": title, "status": status, **fields}
        return self._store_work_order(body, company_id=1, user_id=self._admin_id())["id"]

    def set_status(self, work_order_id: int, status: str) -> None:
        """A status change made in the Atlas UI."""
        stored = self.work_orders[work_order_id]
        self._apply_status(stored, status, feedback=stored.get("feedback"), user_id=None)

    def add_comment(self, work_order_id: int, text: str) -> None:
        """A remark typed in the Atlas UI: Atlas has no notes field, so it lands in the
        description (§12 row 10), as a person editing the work order would write it."""
        stored = self.work_orders[work_order_id]
        description = html.unescape(stored.get("description") or "")
        stored["description"] = self._clean(f"{description}\n\n{text}".strip())
        stored["updatedAt"] = _now_instant()

    # ------------------------------------------------------------------ plumbing

    def _add_routes(self, app: web.Application) -> None:
        routes: list[tuple[str, str, Callable[[web.Request], Awaitable[Any]]]] = [
            ("POST", "/auth/signin", self._signin),
            ("POST", "/auth/signup", self._signup),
            ("GET", "/auth/me", self._me),
            ("GET", "/health-check", self._health),
            ("GET", "/license/state", self._license_state),
            ("POST", "/work-orders", self._create_work_order),
            ("POST", "/work-orders/search", self._search_work_orders),
            ("PATCH", "/work-orders/files/{id}/add", self._add_work_order_files),
            ("GET", "/work-orders/{id}", self._get_work_order),
            ("PATCH", "/work-orders/{id}", self._patch_work_order),
            ("DELETE", "/work-orders/{id}", self._delete_work_order),
            ("PATCH", "/work-orders/{id}/change-status", self._change_status),
            ("GET", "/work-order-categories", self._categories),
            ("POST", "/assets", self._create_asset),
            ("POST", "/assets/search", self._search_assets),
            ("GET", "/assets/mini", self._assets_mini),
            ("GET", "/assets/{id}", self._get_asset),
            ("PATCH", "/assets/{id}", self._patch_asset),
            ("GET", "/locations/mini", self._locations_mini),
            ("POST", "/locations/search", self._search_locations),
            ("GET", "/roles", self._roles),
            ("POST", "/users/invite", self._invite),
            ("POST", "/users/search", self._search_users),
            ("GET", "/users/mini", self._users_mini),
            ("GET", "/users/{id}", self._get_user),
            ("POST", "/files/upload", self._upload),
            ("GET", "/files/{id}", self._get_file),
            ("GET", "/storage/{key}", self._download),
        ]
        for method, path, handler in routes:
            app.router.add_route(method, path, self._json_handler(handler))

    def _json_handler(
        self, handler: Callable[[web.Request], Awaitable[Any]]
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            result = await handler(request)
            if isinstance(result, web.StreamResponse):
                return result
            return web.json_response(result)

        return wrapped

    @web.middleware
    async def _middleware(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        response = await self._answer(request, handler)
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=request.path,
                body=request.get(RECORDED_BODY),
                status=response.status,
                authenticated=CALLER in request,
            )
        )
        return response

    async def _answer(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        if self.answer_delay:
            await asyncio.sleep(self.answer_delay)
        if self.down:
            # What the reverse proxy in front of Atlas answers while the backend is down.
            return web.Response(status=502, text="<html><body>502 Bad Gateway</body></html>")
        if self._pending_429 > 0:
            self._pending_429 -= 1
            return web.json_response(
                {
                    "error": "Rate limit exceeded",
                    "message": "Too many requests. Please try again later.",
                },
                status=429,
            )
        try:
            if request.path not in PUBLIC_PATHS and not request.path.startswith("/storage/"):
                request[CALLER] = self._authenticate(request)
                if self._pending_failures:
                    status, message = self._pending_failures.pop(0)
                    raise AtlasError(status, message)
            return await handler(request)
        except AtlasError as error:
            if error.message is None:
                return web.Response(status=error.status)
            return web.json_response(
                {"success": False, "message": error.message}, status=error.status
            )
        except web.HTTPMethodNotAllowed:
            return web.json_response(
                {
                    "success": False,
                    "message": f"Request method '{request.method}' is not supported",
                },
                status=405,
            )
        except web.HTTPNotFound:
            return web.json_response(
                {"success": False, "message": f"No static resource {request.path.lstrip('/')}."},
                status=500,
            )

    async def _body(self, request: web.Request) -> Any:
        if request.content_type != "application/json":
            raise AtlasError(500, f"Content-Type '{request.content_type}' is not supported")
        raw = await request.read()
        if not raw:
            raise AtlasError(500, "Required request body is missing")
        try:
            body = json.loads(raw)
        except ValueError as error:
            raise AtlasError(500, f"JSON parse error: {error}") from error
        recorded = dict(body) if isinstance(body, dict) else body
        if isinstance(recorded, dict) and "password" in recorded:
            recorded["password"] = "***"
        request[RECORDED_BODY] = recorded
        return body

    def _clean(self, text: Any) -> Any:
        return _sanitize(text) if self.sanitize_html else text

    def _custom_id(self, company_id: int, prefix: str) -> str:
        counter = self._custom_ids.setdefault((company_id, prefix), itertools.count(1))
        return f"{prefix}{next(counter):06d}"

    def _role_id(self, code: str) -> int:
        return next(role_id for role_id, role_code, _, _ in DEFAULT_ROLES if role_code == code)

    def _role_code(self, role_id: int) -> str:
        return next(code for rid, code, _, _ in DEFAULT_ROLES if rid == role_id)

    def _admin_id(self) -> int:
        return next(u["id"] for u in self.users.values() if u["email"] == FAKE_ADMIN_EMAIL)

    def _entitlements(self) -> list[str]:
        if not self.licensed:
            return []
        return ["FILE_ATTACHMENTS", "API_ACCESS", "ASSET_HIERARCHY", "NFC_BARCODE"]

    # ------------------------------------------------------------------ auth

    def _issue_token(self, email: str) -> tuple[str, int]:
        issued = int(time.time())
        expires = int(issued + self.token_lifetime)
        header = _b64url(json.dumps({"alg": "HS256"}).encode())
        payload = _b64url(
            json.dumps(
                {
                    "sub": email,
                    "iat": issued,
                    "exp": expires,
                    "jti": secrets.token_hex(8),
                    "auth": [{"authority": "ROLE_CLIENT"}],
                }
            ).encode()
        )
        signature = hmac.new(self._secret, f"{header}.{payload}".encode(), hashlib.sha256)
        token = f"{header}.{payload}.{_b64url(signature.digest())}"
        self._live_tokens.add(token)
        return token, expires

    def _authenticate(self, request: web.Request) -> dict[str, Any]:
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ") if header.startswith("Bearer ") else ""
        # Missing, garbled, expired or revoked: Spring Security's bare 403 (§1.3).
        if token not in self._live_tokens:
            raise AtlasError(403, None)
        payload_part = token.split(".")[1]
        payload = json.loads(
            base64.urlsafe_b64decode(payload_part + "=" * (-len(payload_part) % 4))
        )
        if payload["exp"] <= time.time():
            raise AtlasError(403, None)
        user = next((u for u in self.users.values() if u["email"] == payload["sub"]), None)
        if user is None or not user["enabled"]:
            raise AtlasError(403, None)
        return user

    async def _signin(self, request: web.Request) -> Any:
        body = await self._body(request)
        email, password = body.get("email"), body.get("password")
        if email is None or password is None or ("type" in body and body["type"] is None):
            raise AtlasError(400, "must not be null")
        login_type = str(body.get("type", "CLIENT")).upper()
        user = next((u for u in self.users.values() if u["email"] == str(email).lower()), None)
        if (
            user is None
            or not user["enabled"]
            or not hmac.compare_digest(user["password"], str(password))
            or login_type != "CLIENT"
        ):
            raise AtlasError(403, "Invalid credentials")
        self.signin_count += 1
        token, expires = self._issue_token(user["email"])
        return {
            "accessToken": token,
            "refreshToken": f"{secrets.token_hex(8)}.{secrets.token_hex(8)}",
            "tokenType": "Bearer",
            "expiresAt": datetime.fromtimestamp(expires, UTC).isoformat(),
        }

    async def _signup(self, request: web.Request) -> Any:
        body = await self._body(request)
        for field in ("email", "password", "firstName", "lastName", "phone"):
            if body.get(field) is None:
                raise AtlasError(400, "must not be null")
        email = str(body["email"]).lower()
        if any(u["email"] == email for u in self.users.values()):
            raise AtlasError(422, "Email is already in use")
        if len(body["password"]) < 12:
            raise AtlasError(400, "Password must be at least 12 characters long")
        role = _ref(body.get("role"), "Role")
        if role is None:
            company_id = max(u["companyId"] for u in self.users.values()) + 1
            role_code = "ADMIN"
        else:
            invitation = next(
                (inv for inv in reversed(self.invitations) if inv == (email, role["id"])), None
            )
            if invitation is None:
                raise AtlasError(500, "Index 0 out of bounds for length 0")
            self.invitations.remove(invitation)
            company_id = 1
            role_code = self._role_code(role["id"])
        user_id = self.add_user(
            email,
            body["password"],
            body["firstName"],
            body["lastName"],
            role_code=role_code,
            company_id=company_id,
        )
        self.users[user_id]["phone"] = body["phone"]
        token, _ = self._issue_token(email)
        return {
            "success": True,
            "message": token,
            "user": self._user_dto(self.users[user_id]),
            "refreshToken": secrets.token_hex(16),
        }

    async def _me(self, request: web.Request) -> Any:
        return self._user_dto(request[CALLER])

    async def _health(self, request: web.Request) -> Any:
        return {"success": True, "message": "Service is up and running"}

    async def _license_state(self, request: web.Request) -> Any:
        return {
            "hasLicense": self.licensed,
            "valid": self.licensed,
            "planName": "Business" if self.licensed else None,
            "entitlements": self._entitlements(),
            "expirationDate": None,
            "usersCount": len(self.users),
        }

    # ------------------------------------------------------------------ users and roles

    def _role_dto(self, role_id: int) -> dict[str, Any]:
        rid, code, name, paid = next(r for r in DEFAULT_ROLES if r[0] == role_id)
        return {"id": rid, "roleType": "ROLE_CLIENT", "code": code, "paid": paid, "name": name}

    def _user_dto(self, user: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": user["id"],
            "username": f"U{user['id']:07d}",
            "email": user["email"],
            "role": self._role_dto(user["role_id"]),
            "rate": 0,
            "jobTitle": None,
            "firstName": user["firstName"],
            "lastName": user["lastName"],
            "phone": user["phone"],
            "ownsCompany": False,
            "companyId": user["companyId"],
            "enabled": user["enabled"],
            "createdAt": user["createdAt"],
        }

    def _user_mini(self, ref: dict[str, Any] | None) -> dict[str, Any] | None:
        if ref is None or ref["id"] not in self.users:
            return None
        user = self.users[ref["id"]]
        return {
            "id": user["id"],
            "firstName": user["firstName"],
            "lastName": user["lastName"],
            "image": None,
            "phone": user["phone"],
        }

    def _require_people_admin(self, user: dict[str, Any]) -> None:
        if self._role_code(user["role_id"]) not in ROLES_WITH_PEOPLE_ADMIN:
            raise AtlasError(403, "Access denied")

    async def _roles(self, request: web.Request) -> Any:
        if self._role_code(request[CALLER]["role_id"]) != "ADMIN":
            raise AtlasError(403, "Forbidden")
        return [self._role_dto(role[0]) for role in DEFAULT_ROLES]

    async def _invite(self, request: web.Request) -> Any:
        user = request[CALLER]
        self._require_people_admin(user)
        body = await self._body(request)
        role = _ref(body.get("role"), "Role")
        if role is None:
            raise AtlasError(400, "must not be null")
        if role["id"] not in {r[0] for r in DEFAULT_ROLES}:
            raise AtlasError(404, "Not found")
        emails = [str(e).lower() for e in body.get("emails") or []]
        for email in emails:
            registered = any(u["email"] == email for u in self.users.values())
            if registered or "@" not in email:
                raise AtlasError(406, "Email already in use")
        paid_role = next(r[3] for r in DEFAULT_ROLES if r[0] == role["id"])
        if paid_role and not self.licensed:
            paid_users = sum(
                1
                for u in self.users.values()
                if u["companyId"] == user["companyId"]
                and next(r[3] for r in DEFAULT_ROLES if r[0] == u["role_id"])
            )
            if paid_users + len(emails) > FREE_PAID_USER_LIMIT:
                raise AtlasError(
                    500,
                    f"Cannot create more users than the free license allows: "
                    f"{FREE_PAID_USER_LIMIT}. Refer to https://atlas-cmms.com/pricing",
                )
        self.invitations.extend((email, role["id"]) for email in emails)
        return {"success": True, "message": "Users have been invited"}

    async def _search_users(self, request: web.Request) -> Any:
        user = request[CALLER]
        self._require_people_admin(user)
        criteria = await self._body(request)
        enabled_only = request.query.get("enabledOnly") == "true"
        rows = [
            self._user_dto(u)
            for u in self.users.values()
            if u["companyId"] == user["companyId"] and (u["enabled"] or not enabled_only)
        ]
        return self._page(rows, criteria)

    async def _users_mini(self, request: web.Request) -> Any:
        company_id = request[CALLER]["companyId"]
        return [
            self._user_mini({"id": u["id"]})
            for u in self.users.values()
            if u["companyId"] == company_id and u["enabled"]
        ]

    async def _get_user(self, request: web.Request) -> Any:
        user_id = self._path_id(request)
        user = self.users.get(user_id)
        if user is None:
            raise AtlasError(404, "Not found")
        if user["companyId"] != request[CALLER]["companyId"]:
            raise AtlasError(403, "Access denied")
        return self._user_dto(user)

    # ------------------------------------------------------------------ search and pages

    def _page(self, rows: list[dict[str, Any]], criteria: Any) -> dict[str, Any]:
        if not isinstance(criteria, dict):
            raise AtlasError(500, "Required request body is missing")
        filters = criteria.get("filterFields", [])
        if filters is None:
            raise AtlasError(500, 'Cannot invoke "java.util.List.iterator()" because it is null')
        page_num = criteria.get("pageNum", 0)
        page_size = criteria.get("pageSize", 10)
        if page_size <= 0 or page_num < 0:
            raise AtlasError(500, "Page size must not be less than one")
        sort_field = criteria.get("sortField", "id")
        direction = criteria.get("direction", "ASC")
        if direction not in ("ASC", "DESC"):
            raise _parse_error("org.springframework.data.domain.Sort$Direction", direction)
        matching = [row for row in rows if all(self._matches(row, ff) for ff in filters)]
        if matching and sort_field not in matching[0]:
            raise AtlasError(500, f"Could not resolve attribute '{sort_field}'")
        matching.sort(key=lambda row: _sort_key(row.get(sort_field)), reverse=direction == "DESC")
        start = page_num * page_size
        content = matching[start : start + page_size]
        total_pages = -(-len(matching) // page_size)
        sort = {"empty": False, "sorted": True, "unsorted": False}
        return {
            "content": content,
            "pageable": {
                "pageNumber": page_num,
                "pageSize": page_size,
                "sort": sort,
                "offset": start,
                "paged": True,
                "unpaged": False,
            },
            "last": page_num >= total_pages - 1,
            "totalPages": total_pages,
            "totalElements": len(matching),
            "size": page_size,
            "number": page_num,
            "sort": sort,
            "first": page_num == 0,
            "numberOfElements": len(content),
            "empty": not content,
        }

    def _matches(self, row: dict[str, Any], ff: dict[str, Any]) -> bool:
        if self._matches_one(row, ff):
            return True
        return any(self._matches_one(row, alt) for alt in ff.get("alternatives") or [])

    def _matches_one(self, row: dict[str, Any], ff: dict[str, Any]) -> bool:
        field, operation = ff.get("field"), ff.get("operation")
        if not isinstance(field, str):
            raise AtlasError(400, "Invalid search field")
        if field == "assignedToUser":
            return self._assigned_to_me(row)
        value: Any = row
        for segment in field.split("."):
            if not isinstance(value, dict) or segment not in value:
                raise AtlasError(400, "Invalid search field")
            value = value[segment]
        operand = ff.get("value")
        values = list(ff.get("values") or [])
        enum_name = ff.get("enumName")
        if enum_name in ("STATUS", "PRIORITY"):
            allowed = STATUSES if enum_name == "STATUS" else PRIORITIES
            for item in values:
                _enum(item, allowed, f"com.grash.model.enums.{enum_name.title()}")
        if isinstance(value, dict) and operation in ("eq", "ne", "in"):
            value = value.get("id")
        match operation:
            case "eq":
                return bool(value == operand)
            case "ne":
                return bool(value != operand)
            case "cn" | "nc":
                found = value is not None and str(operand).lower() in str(value).lower()
                return found if operation == "cn" else not found
            case "bw":
                return value is not None and str(value).lower().startswith(str(operand).lower())
            case "ew":
                return value is not None and str(value).lower().endswith(str(operand).lower())
            case "in":
                return value in values
            case "inm":
                return any(item and item.get("id") in values for item in value or [])
            case "nu":
                return value is None
            case "nn":
                return value is not None
            case "ge" | "le":
                if enum_name != "JS_DATE":
                    raise AtlasError(500, "Unsupported comparison without enumName JS_DATE")
                try:
                    bound = datetime.strptime(str(operand), "%Y-%m-%dT%H:%M:%S.%fZ").replace(
                        tzinfo=UTC
                    )
                except ValueError as error:
                    raise AtlasError(500, f'Unparseable date: "{operand}"') from error
                if value is None:
                    return False
                actual = datetime.fromisoformat(str(value))
                return actual >= bound if operation == "ge" else actual <= bound
            case _:
                raise _parse_error("com.grash.advancedsearch.SearchOperation", operation)

    def _assigned_to_me(self, row: dict[str, Any]) -> bool:
        me = row.get("_caller")
        assigned = [u["id"] for u in row.get("assignedTo") or [] if u]
        primary = row.get("primaryUser")
        return me in assigned or (primary is not None and primary["id"] == me)

    # ------------------------------------------------------------------ work orders

    def _path_id(self, request: web.Request) -> int:
        raw = request.match_info["id"]
        if not raw.isdigit():
            raise AtlasError(
                500,
                "Failed to convert value of type 'java.lang.String' to required type "
                f"'java.lang.Long'; For input string: \"{raw}\"",
            )
        return int(raw)

    def _incomplete_work_orders(self, company_id: int) -> int:
        return sum(
            1
            for wo in self.work_orders.values()
            if wo["companyId"] == company_id and wo["status"] != "COMPLETE"
        )

    def _work_order_fields(self, body: dict[str, Any]) -> dict[str, Any]:
        """Every patchable field read from ``body``; missing ones become null or DTO defaults."""
        if body.get("title") is None:
            raise AtlasError(400, "must not be null")
        description = body.get("description")
        if description is not None and len(description) > 10000:
            raise AtlasError(400, "size must be between 0 and 10000")
        duration = body.get("estimatedDuration")
        if duration is not None and duration < 0:
            raise AtlasError(406, "Estimated duration must be positive")
        fields: dict[str, Any] = {}
        for name in WORK_ORDER_PATCHABLE:
            value = body.get(name)
            if name in LIST_FIELDS:
                value = _refs(value, name)
            elif name in WORK_ORDER_REFERENCES:
                value = _ref(value, name)
            elif value is None:
                value = PATCH_DEFAULTS.get(name)
            fields[name] = value
        _enum(fields["priority"], PRIORITIES, "com.grash.model.enums.Priority")
        fields["title"] = self._clean(fields["title"])
        fields["description"] = self._clean(fields["description"])
        fields["customFieldValues"] = [
            {"customField": {"id": cf.get("id")}, "value": cf.get("value")}
            for cf in body.get("customFields") or []
        ]
        self._check_references(fields)
        return fields

    def _check_references(self, fields: dict[str, Any]) -> None:
        stores: dict[str, dict[int, Any]] = {
            "asset": self.assets,
            "location": self.locations,
            "primaryUser": self.users,
            "category": self.categories,
            "parentAsset": self.assets,
        }
        for name, store in stores.items():
            ref = fields.get(name)
            if ref is not None and ref["id"] not in store:
                raise AtlasError(404, "Not found")
        for user_ref in fields.get("assignedTo") or []:
            if user_ref["id"] not in self.users:
                raise AtlasError(404, "Not found")
        for file_ref in fields.get("files") or []:
            if file_ref["id"] not in self.files:
                raise AtlasError(404, "Not found")

    def _store_work_order(self, body: Any, *, company_id: int, user_id: int) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise AtlasError(500, "JSON parse error: expected an object")
        fields = self._work_order_fields(body)
        status = _enum(body.get("status") or "OPEN", STATUSES, "com.grash.model.enums.Status")
        asset_status = _enum(
            body.get("assetStatus"), ASSET_STATUSES, "com.grash.model.enums.AssetStatus"
        )
        at_cap = self._incomplete_work_orders(company_id) >= self.open_work_order_limit
        if not self.licensed and status != "COMPLETE" and at_cap:
            raise AtlasError(
                403,
                "You need a license to add a new work order. Free Limit of "
                f"{self.open_work_order_limit} incomplete work orders reached",
            )
        now = _now_instant()
        work_order_id = next(self._ids)
        stored = {
            "id": work_order_id,
            "customId": self._custom_id(company_id, "WO"),
            "companyId": company_id,
            "createdBy": user_id,
            "updatedBy": user_id,
            "createdAt": now,
            "updatedAt": now,
            **fields,
            "status": status,
            "feedback": None,
            "signature": None,
            "parentRequest": None,
            "parentPreventiveMaintenance": None,
            "audioDescription": None,
        }
        if asset_status is not None and fields["asset"] is not None:
            self.assets[fields["asset"]["id"]]["status"] = asset_status
        self.work_orders[work_order_id] = stored
        return stored

    def _work_order_dto(self, stored: dict[str, Any]) -> dict[str, Any]:
        dto = {k: v for k, v in stored.items() if k != "companyId"}
        asset_ref = stored.get("asset")
        asset = self.assets.get(asset_ref["id"]) if asset_ref else None
        dto["asset"] = (
            {
                "id": asset["id"],
                "name": asset["name"],
                "customId": asset["customId"],
                "parentId": (asset.get("parentAsset") or {}).get("id"),
                "locationId": (asset.get("location") or {}).get("id"),
            }
            if asset
            else None
        )
        self._add_location_and_category(dto, stored)
        dto["primaryUser"] = self._user_mini(stored.get("primaryUser"))
        dto["completedBy"] = self._user_mini(stored.get("completedBy"))
        dto["assignedTo"] = [self._user_mini(ref) for ref in stored.get("assignedTo") or []]
        dto["files"] = [self._file_mini(ref["id"]) for ref in stored.get("files") or []]
        return dto

    def _visible_work_order(self, request: web.Request) -> dict[str, Any]:
        work_order_id = self._path_id(request)
        stored = self.work_orders.get(work_order_id)
        if stored is None:
            raise AtlasError(404, "Work Order not found")
        user = request[CALLER]
        if stored["companyId"] != user["companyId"]:
            raise AtlasError(
                403,
                f"afterLoad: the user (id={user['id']}) is not authorized to load this object "
                f"(WorkOrder) with id {work_order_id}",
            )
        return stored

    async def _create_work_order(self, request: web.Request) -> Any:
        user = request[CALLER]
        body = await self._body(request)
        return self._work_order_dto(
            self._store_work_order(body, company_id=user["companyId"], user_id=user["id"])
        )

    async def _get_work_order(self, request: web.Request) -> Any:
        return self._work_order_dto(self._visible_work_order(request))

    async def _patch_work_order(self, request: web.Request) -> Any:
        try:
            stored = self._visible_work_order(request)
        except AtlasError as error:
            if error.status == 404:
                raise AtlasError(404, "WorkOrder not found") from error
            raise
        body = await self._body(request)
        if not isinstance(body, dict):
            raise AtlasError(500, "JSON parse error: expected an object")
        # MapStruct SET_TO_NULL: every patchable field is overwritten; status is not patchable.
        stored.update(self._work_order_fields(body))
        stored["updatedBy"] = request[CALLER]["id"]
        stored["updatedAt"] = _now_instant()
        return self._work_order_dto(stored)

    async def _delete_work_order(self, request: web.Request) -> Any:
        stored = self._visible_work_order(request)
        del self.work_orders[stored["id"]]
        return {"success": True, "message": "Deleted successfully"}

    def _apply_status(
        self, stored: dict[str, Any], status: str, *, feedback: Any, user_id: int | None
    ) -> None:
        stored["status"] = status
        stored["feedback"] = self._clean(feedback)
        stored["signature"] = None
        if status == "COMPLETE":
            stored["completedBy"] = {"id": user_id or self._admin_id()}
            stored["completedOn"] = _now_date()
        else:
            stored["completedBy"] = None
            stored["completedOn"] = None
        stored["updatedAt"] = _now_instant()

    async def _change_status(self, request: web.Request) -> Any:
        work_order_id = self._path_id(request)
        body = await self._body(request)
        stored = self.work_orders.get(work_order_id)
        if stored is None:  # Optional.get() on a missing id (§2.1)
            raise AtlasError(500, "No value present")
        if stored["companyId"] != request[CALLER]["companyId"]:
            raise AtlasError(403, "Forbidden")
        status = body.get("status") if isinstance(body, dict) else None
        if status is None:
            raise AtlasError(406, "Status can't be null")
        _enum(status, STATUSES, "com.grash.model.enums.Status")
        self._apply_status(
            stored, status, feedback=body.get("feedback"), user_id=request[CALLER]["id"]
        )
        return self._work_order_dto(stored)

    async def _search_work_orders(self, request: web.Request) -> Any:
        user = request[CALLER]
        criteria = await self._body(request)
        rows = [
            {**self._work_order_dto(wo), "_caller": user["id"]}
            for wo in self.work_orders.values()
            if wo["companyId"] == user["companyId"]
        ]
        page = self._page(rows, criteria)
        for row in page["content"]:
            del row["_caller"]
        return page

    async def _add_work_order_files(self, request: web.Request) -> Any:
        stored = self._visible_work_order(request)
        body = await self._body(request)
        new_refs = _refs(body, "File")
        self._check_references({"files": new_refs})
        known = {ref["id"] for ref in stored["files"]}
        stored["files"] = stored["files"] + [ref for ref in new_refs if ref["id"] not in known]
        stored["updatedAt"] = _now_instant()
        return [self.files[ref["id"]] for ref in stored["files"]]

    async def _categories(self, request: web.Request) -> Any:
        return list(self.categories.values())

    # ------------------------------------------------------------------ assets and locations

    def _add_location_and_category(self, dto: dict[str, Any], stored: dict[str, Any]) -> None:
        """The references a work order and an asset DTO both expand the same way."""
        location_ref = stored.get("location")
        dto["location"] = (
            self._location_mini(self.locations[location_ref["id"]]) if location_ref else None
        )
        category_ref = stored.get("category")
        dto["category"] = (
            {"id": category_ref["id"], "name": self.categories[category_ref["id"]]["name"]}
            if category_ref
            else None
        )

    def _location_mini(self, location: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in location.items() if k != "companyId"}

    def _asset_fields(self, body: dict[str, Any]) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        for name in ASSET_PATCHABLE:
            value = body.get(name)
            if name in LIST_FIELDS:
                value = _refs(value, name)
            elif name in ASSET_REFERENCES:
                value = _ref(value, name)
            elif name == "archived":
                value = bool(value)
            fields[name] = value
        _enum(fields["status"], ASSET_STATUSES, "com.grash.model.enums.AssetStatus")
        for name in ASSET_FREE_TEXT:
            fields[name] = self._clean(fields[name])
        self._check_references(fields)
        return fields

    def _store_asset(self, body: Any, *, company_id: int, user_id: int) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise AtlasError(500, "JSON parse error: expected an object")
        if body.get("name") is None:
            raise AtlasError(400, "must not be null")
        fields = self._asset_fields({**body, "status": body.get("status") or "OPERATIONAL"})
        bar_code = fields.get("barCode")
        if bar_code and any(
            a["barCode"] == bar_code and a["companyId"] == company_id for a in self.assets.values()
        ):
            raise AtlasError(406, "Asset with same barCode exists")
        now = _now_instant()
        asset_id = next(self._ids)
        stored = {
            "id": asset_id,
            "customId": self._custom_id(company_id, "A"),
            "companyId": company_id,
            "createdBy": user_id,
            "updatedBy": user_id,
            "createdAt": now,
            "updatedAt": now,
            **fields,
        }
        self.assets[asset_id] = stored
        return stored

    def _asset_dto(self, stored: dict[str, Any]) -> dict[str, Any]:
        dto = {k: v for k, v in stored.items() if k != "companyId"}
        dto["hasChildren"] = any(
            (a.get("parentAsset") or {}).get("id") == stored["id"] for a in self.assets.values()
        )
        self._add_location_and_category(dto, stored)
        parent_ref = stored.get("parentAsset")
        dto["parentAsset"] = (
            {"id": parent_ref["id"], "name": self.assets[parent_ref["id"]]["name"]}
            if parent_ref
            else None
        )
        dto["primaryUser"] = self._user_mini(stored.get("primaryUser"))
        dto["assignedTo"] = [self._user_mini(ref) for ref in stored.get("assignedTo") or []]
        dto["files"] = [self._file_mini(ref["id"]) for ref in stored.get("files") or []]
        dto["customFieldValues"] = []
        return dto

    def _visible_asset(self, request: web.Request) -> dict[str, Any]:
        asset_id = self._path_id(request)
        stored = self.assets.get(asset_id)
        if stored is None:
            raise AtlasError(404, "Not found")
        if stored["companyId"] != request[CALLER]["companyId"]:
            raise AtlasError(403, "Access denied")
        return stored

    async def _create_asset(self, request: web.Request) -> Any:
        user = request[CALLER]
        body = await self._body(request)
        company_assets = sum(1 for a in self.assets.values() if a["companyId"] == user["companyId"])
        if not self.licensed and company_assets >= self.asset_limit:
            raise AtlasError(
                403,
                f"You need a license to add a new asset. Free Limit reached: {self.asset_limit}",
            )
        return self._asset_dto(
            self._store_asset(body, company_id=user["companyId"], user_id=user["id"])
        )

    async def _get_asset(self, request: web.Request) -> Any:
        return self._asset_dto(self._visible_asset(request))

    async def _patch_asset(self, request: web.Request) -> Any:
        stored = self._visible_asset(request)
        body = await self._body(request)
        if not isinstance(body, dict):
            raise AtlasError(500, "JSON parse error: expected an object")
        if body.get("status") is None:  # AssetService#patch dereferences the status (§6)
            raise AtlasError(
                500,
                'Cannot invoke "com.grash.model.enums.AssetStatus.isReallyDown()" because the '
                'return value of "com.grash.model.Asset.getStatus()" is null',
            )
        if (body.get("parentAsset") or {}).get("id") == stored["id"]:
            raise AtlasError(406, "Parent asset cannot be the asset itself")
        stored.update(self._asset_fields(body))
        stored["updatedBy"] = request[CALLER]["id"]
        stored["updatedAt"] = _now_instant()
        return self._asset_dto(stored)

    async def _search_assets(self, request: web.Request) -> Any:
        user = request[CALLER]
        criteria = await self._body(request)
        rows = [
            self._asset_dto(a) for a in self.assets.values() if a["companyId"] == user["companyId"]
        ]
        return self._page(rows, criteria)

    async def _assets_mini(self, request: web.Request) -> Any:
        company_id = request[CALLER]["companyId"]
        location_id = request.query.get("locationId")
        return [
            {
                "id": a["id"],
                "name": a["name"],
                "customId": a["customId"],
                "parentId": (a.get("parentAsset") or {}).get("id"),
                "locationId": (a.get("location") or {}).get("id"),
            }
            for a in self.assets.values()
            if a["companyId"] == company_id
            and (location_id is None or str((a.get("location") or {}).get("id")) == location_id)
        ]

    async def _locations_mini(self, request: web.Request) -> Any:
        company_id = request[CALLER]["companyId"]
        return [
            self._location_mini(loc)
            for loc in self.locations.values()
            if loc["companyId"] == company_id
        ]

    async def _search_locations(self, request: web.Request) -> Any:
        company_id = request[CALLER]["companyId"]
        criteria = await self._body(request)
        rows = [
            self._location_mini(loc)
            for loc in self.locations.values()
            if loc["companyId"] == company_id
        ]
        return self._page(rows, criteria)

    # ------------------------------------------------------------------ files

    def _file_mini(self, file_id: int) -> dict[str, Any]:
        stored = self.files[file_id]
        return {"id": stored["id"], "name": stored["name"], "url": stored["url"]}

    async def _upload(self, request: web.Request) -> Any:
        user = request[CALLER]
        if not request.content_type.startswith("multipart/"):
            raise AtlasError(500, "Current request is not a multipart request")
        form = await request.post()
        request[RECORDED_BODY] = sorted(form.keys())
        for part in ("folder", "hidden", "type"):
            if part not in form:
                raise AtlasError(
                    500,
                    f"Required request parameter '{part}' for method parameter type String "
                    "is not present",
                )
        if not self.licensed:
            raise AtlasError(403, "You need a license to add a file")
        if form["type"] not in ("IMAGE", "OTHER"):
            raise _parse_error("com.grash.model.enums.FileType", form["type"])
        uploads = [field for field in form.getall("files", []) if isinstance(field, web.FileField)]
        if not uploads:
            raise AtlasError(500, "Required part 'files' is not present.")
        created = []
        for upload in uploads:
            data = upload.file.read()
            if not data:
                raise AtlasError(400, "Uploaded file is empty.")
            file_id = next(self._ids)
            key = f"company_{user['companyId']}_{secrets.token_hex(8)}_{upload.filename}"
            now = _now_instant()
            stored = {
                "id": file_id,
                "createdBy": user["id"],
                "updatedBy": user["id"],
                "createdAt": now,
                "updatedAt": now,
                "name": upload.filename,
                "url": f"{self.base_url}/storage/{key}?X-Amz-Expires=10800&X-Amz-Signature=fake",
                "type": form["type"],
                "hidden": form["hidden"] == "true",
                "key": key,
            }
            self.files[file_id] = stored
            self.file_bytes[file_id] = data
            created.append({k: v for k, v in stored.items() if k != "key"})
        return created

    async def _get_file(self, request: web.Request) -> Any:
        stored = self.files.get(self._path_id(request))
        if stored is None:
            raise AtlasError(404, "Not found")
        return {k: v for k, v in stored.items() if k != "key"}

    async def _download(self, request: web.Request) -> web.StreamResponse:
        # Presigned object-storage URL: a second auth mechanism is refused, as S3/MinIO do.
        if "Authorization" in request.headers:
            return web.Response(status=400, text="Only one auth mechanism allowed")
        key = request.match_info["key"]
        for file_id, stored in self.files.items():
            if stored["key"] == key:
                return web.Response(body=self.file_bytes[file_id])
        return web.Response(status=404, text="NoSuchKey")


def rivet_settings(fake: FakeAtlas, password: str = FAKE_ADMIN_PASSWORD) -> dict[str, Any]:
    """Settings overrides that make Rivet's runtime use this fake as its CMMS."""
    return {
        "cmms_backend": "atlas",
        "atlas_url": fake.base_url,
        "atlas_email": FAKE_ADMIN_EMAIL,
        "atlas_password": password,
    }


def rivet_client(fake: FakeAtlas, files_dir: Path, **overrides: Any) -> AtlasCmms:
    """Rivet's Atlas adapter signed in as the seeded admin, with test-speed backoff."""
    options: dict[str, Any] = {
        "password": SecretStr(FAKE_ADMIN_PASSWORD),
        "files_dir": files_dir,
        "timeout": 5.0,
        "backoff_initial": 0.01,
        "backoff_max": 0.02,
        **overrides,
    }
    return AtlasCmms(fake.base_url, FAKE_ADMIN_EMAIL, **options)
