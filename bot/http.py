"""HTTP conventions shared by every route: the JSON error envelope and bearer-key auth."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


def json_error(
    status: int,
    message: str,
    code: str | None = None,
    *,
    headers: dict[str, str] | None = None,
    **extra: object,
) -> web.Response:
    body: dict[str, object] = {
        "code": code or STATUS_CODES.get(status, "error"),
        "message": message,
        **extra,
    }
    return web.json_response({"error": body}, status=status, headers=headers)


@web.middleware
async def error_envelope(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error leaves as `{"error": {"code", "message"}}`, never an HTML traceback."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = (
            exc.reason if exc.text is None or exc.text.startswith(str(exc.status)) else exc.text
        )
        return json_error(exc.status, message or exc.reason)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return json_error(500, "Something went wrong on our side.")


def bearer_matches(request: web.Request, expected: str | None) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, supplied = header.partition(" ")
    if expected is None or scheme.lower() != "bearer" or not supplied:
        return False
    return hmac.compare_digest(supplied.strip().encode(), expected.encode())
