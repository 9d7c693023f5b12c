"""Stripe: the async API client (Checkout and Customer Portal) and webhook signature checks."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import stripe

log = logging.getLogger(__name__)

STRIPE_TIMEOUT_S = 10.0
SIGNATURE_TOLERANCE_S = 300


class StripeUnavailableError(Exception):
    """Stripe did not answer or refused; the message is safe to log (no secrets)."""


class StripeGateway:
    """The few Stripe calls Rivet makes, through the async client (`*_async` only)."""

    def __init__(
        self,
        api_key: str,
        *,
        api_base: str | None = None,
        timeout: float = STRIPE_TIMEOUT_S,
        max_network_retries: int = 1,
    ) -> None:
        self._http = stripe.AIOHTTPClient(timeout=timeout)
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base} if api_base else None,
            http_client=self._http,
            max_network_retries=max_network_retries,
        )

    async def create_checkout_session(
        self,
        *,
        price: str,
        success_url: str,
        cancel_url: str,
        metadata: dict[str, str],
        client_reference_id: str | None = None,
        customer: str | None = None,
        customer_email: str | None = None,
    ) -> str:
        params: dict[str, Any] = {
            "mode": "subscription",
            "line_items": [{"price": price, "quantity": 1}],
            "success_url": success_url,
            "cancel_url": cancel_url,
            "metadata": metadata,
            "subscription_data": {"metadata": metadata},
        }
        if client_reference_id:
            params["client_reference_id"] = client_reference_id
        if customer:
            params["customer"] = customer
        elif customer_email:
            params["customer_email"] = customer_email
        try:
            session = await self._client.v1.checkout.sessions.create_async(params=params)  # type: ignore[arg-type]
        except stripe.StripeError as exc:
            raise StripeUnavailableError(_describe(exc)) from None
        if not session.url:
            raise StripeUnavailableError("Checkout Session without a URL")
        return str(session.url)

    async def create_portal_session(self, *, customer: str, return_url: str) -> str:
        try:
            session = await self._client.v1.billing_portal.sessions.create_async(
                params={"customer": customer, "return_url": return_url}
            )
        except stripe.StripeError as exc:
            raise StripeUnavailableError(_describe(exc)) from None
        return str(session.url)

    async def probe(self) -> str:
        """For /api/status: configured means "ok"; no network call (it would cost latency)."""
        return "configured"

    async def close(self) -> None:
        await self._http.close_async()


def _describe(exc: stripe.StripeError) -> str:
    # Never the request (it carries the key in headers); the class and Stripe's own message.
    return f"{type(exc).__name__}: {(exc.user_message or '')[:200]}"


class InvalidWebhookError(Exception):
    """The body is not a verified Stripe event; the message is safe to show the sender."""


@dataclass(frozen=True, slots=True)
class WebhookVerifier:
    secrets: tuple[str, ...]
    tolerance_s: int = SIGNATURE_TOLERANCE_S

    @classmethod
    def from_setting(cls, value: str) -> WebhookVerifier:
        """STRIPE_WEBHOOK_SECRET may list several secrets (comma-separated) during rotation."""
        return cls(tuple(part.strip() for part in value.split(",") if part.strip()))

    def verify(self, body: bytes, header: str | None) -> dict[str, Any]:
        """The verified event as plain JSON, or InvalidWebhookError. Verify before parsing."""
        if not header:
            raise InvalidWebhookError("Missing Stripe-Signature header.")
        if not self.secrets:
            raise InvalidWebhookError("No webhook secret is configured.")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidWebhookError("The body is not UTF-8.") from None
        for secret in self.secrets:
            try:
                stripe.WebhookSignature.verify_header(text, header, secret, self.tolerance_s)
                break
            except stripe.SignatureVerificationError as exc:
                reason = str(exc.user_message or "signature mismatch")
        else:
            if "tolerance" in reason:
                raise InvalidWebhookError("The signature timestamp is too old.")
            raise InvalidWebhookError("The Stripe signature does not match.")
        try:
            event = json.loads(text)
        except ValueError:
            raise InvalidWebhookError("The body is not JSON.") from None
        if not (
            isinstance(event, dict)
            and event.get("object") == "event"
            and isinstance(event.get("id"), str)
            and isinstance(event.get("type"), str)
            and isinstance(event.get("created"), int)
            and isinstance(event.get("data"), dict)
            and isinstance(event["data"].get("object"), dict)
        ):
            raise InvalidWebhookError("The body is not a Stripe event.")
        return event
