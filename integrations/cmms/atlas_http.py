"""Rivet's HTTP session with Atlas CMMS: sign-in, token renewal, backoff and error mapping.

Contract: /work/shared/docs/atlas-api.md — §1 (sign-in, JWT, what 401/403 look like),
§2 (error bodies, 406 business errors, 429 without Retry-After, free-tier caps).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import math
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx
from pydantic import SecretStr
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)

from integrations.cmms.port import (
    CmmsError,
    CmmsLimitReached,
    CmmsNotFound,
    CmmsRejected,
    CmmsUnavailable,
)

logger = logging.getLogger(__name__)

# Renew this long before the JWT's exp (capped at a fifth of the lifetime for short tokens).
RENEW_AHEAD_SECONDS = 60.0
MAX_SERVER_MESSAGE_CHARS = 300
EXPIRED_JWT_MESSAGE = "expired or invalid jwt token"


class AtlasConflict(CmmsRejected):
    """409: someone else changed the record in between (HEAD's optimistic locking)."""


class _RateLimited(Exception):
    """Atlas answered 429; retried with exponential backoff since it sends no Retry-After."""


class AtlasHttp:
    """One pooled httpx client and one bearer token shared by every call.

    Only one sign-in runs at a time; a request whose token was rejected signs in again once.
    """

    def __init__(
        self,
        base_url: str,
        email: str,
        password: SecretStr | str,
        *,
        timeout: float = 10.0,
        http: httpx.AsyncClient | None = None,
        rate_limit_attempts: int = 5,
        backoff_initial: float = 0.5,
        backoff_max: float = 8.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.email = email
        self._password = password if isinstance(password, SecretStr) else SecretStr(password)
        self._timeout = timeout
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
        )
        self._rate_limit_attempts = rate_limit_attempts
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._clock = clock
        self._auth_lock = asyncio.Lock()
        self._access_token: str | None = None
        self._renew_at = 0.0

    async def close(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        files: Sequence[tuple[str, tuple[str, bytes, str]]] | None = None,
        form: dict[str, str] | None = None,
        authenticated: bool = True,
        subject: str = "That record",
        redact: Sequence[str] = (),
    ) -> Any:
        """Send one call and return its JSON (None for an empty body) or raise a CmmsError.

        ``subject`` names the record in a not-found message; ``redact`` lists secrets that must
        not reach an error message even if Atlas echoes them back.
        """
        response = await self._send_with_backoff(
            method, path, json_body=json_body, files=files, form=form, authenticated=authenticated
        )
        if response.is_success:
            return _json_or_none(response)
        raise error_for(response, subject=subject, redact=redact)

    async def _send_with_backoff(
        self,
        method: str,
        path: str,
        *,
        json_body: Any,
        files: Sequence[tuple[str, tuple[str, bytes, str]]] | None,
        form: dict[str, str] | None,
        authenticated: bool,
    ) -> httpx.Response:
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(_RateLimited),
            stop=stop_after_attempt(self._rate_limit_attempts),
            # Jitter so that concurrent callers do not come back in lock-step.
            wait=wait_exponential(multiplier=self._backoff_initial, max=self._backoff_max)
            + wait_random(0, self._backoff_initial),
            reraise=True,
        )
        try:
            response: httpx.Response = await retrying(
                self._send_once, method, path, json_body, files, form, authenticated
            )
        except _RateLimited:
            raise CmmsUnavailable(
                "Atlas is rate-limiting Rivet (HTTP 429) and kept doing so after "
                f"{self._rate_limit_attempts} attempts; try again in a minute."
            ) from None
        return response

    async def _send_once(
        self,
        method: str,
        path: str,
        json_body: Any,
        files: Sequence[tuple[str, tuple[str, bytes, str]]] | None,
        form: dict[str, str] | None,
        authenticated: bool,
    ) -> httpx.Response:
        token = await self._valid_token() if authenticated else None
        response = await self._send(method, path, json_body, files, form, token)
        if token is not None and _is_token_rejection(response):
            logger.info("Atlas rejected the session token on %s %s; signing in again", method, path)
            token = await self._valid_token(rejected=token)
            response = await self._send(method, path, json_body, files, form, token)
        if response.status_code == 429:
            logger.warning("Atlas rate-limited %s %s; backing off", method, path)
            raise _RateLimited
        return response

    async def _send(
        self,
        method: str,
        path: str,
        json_body: Any,
        files: Sequence[tuple[str, tuple[str, bytes, str]]] | None,
        form: dict[str, str] | None,
        token: str | None,
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            response = await self._http.request(
                method,
                self.base_url + path,
                json=json_body,
                files=files,
                data=form,
                headers=headers,
            )
        except httpx.TimeoutException as error:
            raise CmmsUnavailable(
                f"Atlas did not answer {method} {path} within {self._timeout:g} s."
            ) from error
        except httpx.HTTPError as error:
            raise CmmsUnavailable(
                f"Atlas cannot be reached at {self.base_url} ({type(error).__name__})."
            ) from error
        logger.debug("Atlas %s %s -> %s", method, path, response.status_code)
        return response

    # ------------------------------------------------------------------ token

    async def _valid_token(self, rejected: str | None = None) -> str:
        token = self._usable_token(rejected)
        if token is not None:
            return token
        async with self._auth_lock:
            # Another task may have signed in while this one waited for the lock.
            token = self._usable_token(rejected)
            if token is None:
                token = await self._sign_in()
            return token

    def _usable_token(self, rejected: str | None) -> str | None:
        token = self._access_token
        if token is None or token == rejected or self._clock() >= self._renew_at:
            return None
        return token

    async def _sign_in(self) -> str:
        password = self._password.get_secret_value()
        response = await self._send_with_backoff(
            "POST",
            "/auth/signin",
            # type is optional since v1.5.0 but required before; "CLIENT" works everywhere (§1.1).
            json_body={"email": self.email, "password": password, "type": "CLIENT"},
            files=None,
            form=None,
            authenticated=False,
        )
        if response.status_code in (400, 401, 403):
            raise CmmsUnavailable(
                f"Atlas rejected Rivet's credentials for {self.email} "
                f"(HTTP {response.status_code}); check the Atlas e-mail and password in "
                "Rivet's settings."
            )
        if not response.is_success:
            raise error_for(response, subject="Atlas sign-in", redact=(password,))
        answer = _json_or_none(response)
        token = answer.get("accessToken") if isinstance(answer, dict) else None
        if not isinstance(token, str) or not token:
            raise CmmsUnavailable("Atlas's sign-in answer carried no accessToken.")
        self._access_token = token
        self._renew_at = self._renewal_time(token)
        logger.info("Signed in to Atlas at %s as %s", self.base_url, self.email)
        return token

    def _renewal_time(self, token: str) -> float:
        claims = _jwt_claims(token)
        expires = claims.get("exp")
        if not isinstance(expires, int | float):
            return math.inf  # no usable exp: rely on Atlas rejecting the token
        issued = claims.get("iat")
        lifetime = expires - issued if isinstance(issued, int | float) else RENEW_AHEAD_SECONDS
        return float(expires) - min(RENEW_AHEAD_SECONDS, max(lifetime, 0) / 5)


def error_for(response: httpx.Response, *, subject: str, redact: Sequence[str] = ()) -> CmmsError:
    """Map an Atlas failure to the port's errors with a sentence a person can act on."""
    status = response.status_code
    body = _json_object(response)
    message = _server_message(body, redact)
    lowered = message.lower()
    if status == 404:
        return CmmsNotFound(f"{subject} does not exist in Atlas.")
    if status == 403:
        if body is None or "success" not in body:
            return CmmsUnavailable(
                "Atlas refused Rivet's session even after a fresh sign-in; check that the "
                "Atlas account is enabled."
            )
        if "need a license" in lowered:
            return CmmsLimitReached(_licence_sentence(message))
        return CmmsRejected(
            f"Atlas refused the request ({message or 'access denied'}); the Atlas account "
            "Rivet uses may lack a permission."
        )
    if status == 409:
        return AtlasConflict(f"Atlas reports a concurrent change: {message}")
    if status in (400, 405, 406, 422):
        return CmmsRejected(f"Atlas rejected the request: {message or f'HTTP {status}'}")
    if status == 500:
        if "no value present" in lowered:
            return CmmsNotFound(f"{subject} does not exist in Atlas.")
        if "free license allows" in lowered:
            return CmmsLimitReached(_licence_sentence(message))
        if "json parse error" in lowered:
            return CmmsRejected(f"Atlas could not read Rivet's request: {message}")
        return CmmsUnavailable(f"Atlas failed with an internal error: {message or 'no details'}")
    if status >= 500:
        return CmmsUnavailable(f"Atlas is unavailable (HTTP {status}).")
    return CmmsRejected(f"Atlas answered HTTP {status}: {message or 'no details'}")


def _licence_sentence(message: str) -> str:
    lowered = message.lower()
    numbers = re.findall(r"\d+", message)
    cap = numbers[0] if numbers else None
    if "work order" in lowered:
        return (
            f"Atlas runs without a licence and already has {cap or 30} open work orders, its "
            "free limit: complete some in Atlas or add a licence before Rivet can create more."
        )
    if "asset" in lowered:
        return (
            f"Atlas runs without a licence and already has {cap or 50} assets, its free limit: "
            "add a licence in Atlas before more assets can be created."
        )
    if "users" in lowered:
        return (
            f"Atlas runs without a licence and already has {cap or 5} paid users, its free "
            "limit: add a licence in Atlas before Rivet can add technicians."
        )
    if "file" in lowered:
        return "Atlas runs without a licence and so cannot store files."
    return f"Atlas's free tier does not allow this: {message}"


def _jwt_claims(token: str) -> dict[str, Any]:
    """The JWT payload, decoded without verifying the signature (only to read exp)."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        payload = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        claims = json.loads(payload)
    except (binascii.Error, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


def _is_token_rejection(response: httpx.Response) -> bool:
    """401, a 403 without Atlas's JSON error body, or the raw JWT-filter 500 (§1.3)."""
    if response.status_code == 401:
        return True
    body = _json_object(response)
    if response.status_code == 403:
        return body is None or "success" not in body
    if response.status_code == 500 and body is not None:
        return str(body.get("message", "")).lower() == EXPIRED_JWT_MESSAGE
    return False


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    if not response.content:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _json_or_none(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        raise CmmsUnavailable(
            f"Atlas answered HTTP {response.status_code} with something that is not JSON; "
            "check the Atlas base URL."
        ) from None


def _server_message(body: dict[str, Any] | None, redact: Sequence[str]) -> str:
    if body is None:
        return ""
    raw = body.get("message") or body.get("error") or ""
    message = " ".join(str(raw).split())
    for secret in redact:
        if secret:
            message = message.replace(secret, "***")
    return message[:MAX_SERVER_MESSAGE_CHARS]
