"""Signed notifications to the app: `account.linked`, `account.reconnected`, `account.link_failed`.

Events are written to an outbox in the same transaction as the outcome they report, then
delivered (and retried) by the worker. Each delivery is signed the way Stripe popularised:

    Webhook-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, f"{t}.{body}")>

so a receiver can check both who sent it and that it is fresh. `id` is stable across retries.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time

import httpx2

from . import upstream
from .store import QUEUED, LinkSession, WebhookEvent

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "Webhook-Signature"
DELIVERY_DEADLINE = 3 * 24 * 3600


def new_event(
    type_: str,
    session: LinkSession,
    *,
    provider: str | None = None,
    account_id: str | None = None,
    email: str | None = None,
    error: str | None = None,
    error_description: str | None = None,
) -> WebhookEvent:
    now = time.time()
    event_id = "evt_" + secrets.token_urlsafe(18)
    payload = {
        "id": event_id,
        "type": type_,
        "created": int(now),
        "data": {
            "link_session": session.id,
            "name": session.name,
            "provider": provider or session.provider,
            "account_id": account_id,
            "email": email or session.email,
            "state": session.app_state,
            "error": error,
            "error_description": error_description,
        },
    }
    return WebhookEvent(
        id=event_id,
        type=type_,
        payload=json.dumps(payload, separators=(",", ":")),
        status=QUEUED,
        next_attempt_at=now,
        deadline_at=now + DELIVERY_DEADLINE,
        created_at=now,
    )


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, header: str, body: bytes, tolerance: int = 300, now: float | None = None) -> bool:
    """What a receiver does: check the signature and that the timestamp is recent."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((now or time.time()) - timestamp) > tolerance:
        return False
    expected = signature(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


class WebhookSender:
    """POSTs events to WEBHOOK_URL over one pooled client."""

    def __init__(self, url: str, secret: str, timeout: float) -> None:
        self.url = url
        self.secret = secret
        self.http = upstream.client(timeout)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def deliver(self, event: WebhookEvent) -> str | None:
        """Send one event; None when the receiver took it (2xx), else why not."""
        body = event.payload.encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature(self.secret, int(time.time()), body),
            "Webhook-Id": event.id,
        }
        try:
            response = await self.http.post(self.url, content=body, headers=headers)
        except httpx2.HTTPError as exc:
            return f"no answer ({type(exc).__name__})"
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code}"


def linked_event_type(*, reconnect: bool) -> str:
    return "account.reconnected" if reconnect else "account.linked"
