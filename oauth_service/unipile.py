"""The one way this service talks to Unipile: a pooled client per API generation (the v1 DSN
API, and the v2 API for its hosted-auth link), with the readers of what Unipile answers.

Failures come in two kinds, because they call for opposite reactions: `UnipileRejected`
(a 4xx, or an answer that is not a created account) is final and must not be retried
blindly; `UnipileUnavailable` (5xx, 429, timeouts, refused connections) is transient.
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx2

from . import upstream

logger = logging.getLogger(__name__)

_SUCCESS_OBJECTS = {"AccountCreated", "AccountReconnected"}


class UnipileError(Exception):
    """Unipile did not link the account."""


class UnipileRejected(UnipileError):
    """Unipile refused the request; `title` and `detail` are Unipile's own words."""

    def __init__(self, status: int, title: str, detail: str = "") -> None:
        super().__init__(f"{status} {title}")
        self.status = status
        self.title = title
        self.detail = detail


class UnipileUnavailable(UnipileError):
    """Unipile could not be reached or answered with a transient failure.

    `sent` is True when the request may have reached Unipile (no answer came back), which is
    the case where blindly re-sending could create a second account.
    """

    def __init__(self, reason: str, *, retry_after: float | None = None, sent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.sent = sent


def _retry_after(value: str | None) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds or an HTTP date); None if unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, parsed.timestamp() - time.time())


# How Unipile's account objects name the providers we link.
ACCOUNT_PROVIDERS = {
    "GOOGLE_OAUTH": "google",
    "GOOGLE": "google",
    "OUTLOOK": "microsoft",
    "MICROSOFT": "microsoft",
}


def account_provider(account: dict[str, Any]) -> str | None:
    """`google` or `microsoft` for an account object, None for any other type."""
    return ACCOUNT_PROVIDERS.get(str(account.get("type")))


def account_username(account: dict[str, Any]) -> str:
    """The mailbox an account object is for, lower-cased ('' if it names none)."""
    params = account.get("connection_params") or {}
    mail = params.get("mail") if isinstance(params, dict) else None
    username = (mail or {}).get("username") if isinstance(mail, dict) else None
    return str(username or account.get("name") or "").lower()


def account_created_at(account: dict[str, Any]) -> float | None:
    value = account.get("created_at")
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _wizard_url(data: dict[str, Any], field: str) -> str:
    url = data.get(field)
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        raise UnipileRejected(200, "Unexpected answer", f"no {field} in the hosted-auth answer")
    return url


class UnipileClient:
    """Create or reconnect Unipile accounts from OAuth tokens (POST /api/v1/accounts[/{id}])."""

    def __init__(self, dsn: str, api_key: str, timeout: float) -> None:
        self.dsn = dsn.rstrip("/")
        self.http = upstream.client(
            timeout, base_url=self.dsn, headers={"X-API-KEY": api_key, "Accept": "application/json"}
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    async def create_account(self, body: dict[str, Any]) -> str:
        return await self._link("/api/v1/accounts", body)

    async def reconnect_account(self, account_id: str, body: dict[str, Any]) -> str:
        return await self._link(f"/api/v1/accounts/{account_id}", body)

    async def link(self, body: dict[str, Any], reconnect_account: str | None = None) -> str:
        """Hand tokens over: reconnect the given account, or create a new one."""
        if reconnect_account:
            return await self.reconnect_account(reconnect_account, body)
        return await self.create_account(body)

    async def account(self, account_id: str) -> dict[str, Any]:
        return await self.request("GET", f"/api/v1/accounts/{account_id}")

    async def hosted_link_v1(self, body: dict[str, Any]) -> str:
        """POST /api/v1/hosted/accounts/link → the wizard URL."""
        data = await self.request("POST", "/api/v1/hosted/accounts/link", json=body)
        return _wizard_url(data, "url")

    async def hosted_link_v2(self, body: dict[str, Any]) -> str:
        """POST /v2/auth/link (on the v2 base URL) → the wizard URL."""
        data = await self.request("POST", "/v2/auth/link", json=body)
        return _wizard_url(data, "link")

    async def accounts(self, page_size: int = 100, max_pages: int = 50) -> AsyncIterator[dict[str, Any]]:
        """The accounts Unipile lists (GET /api/v1/accounts), following its cursor for at most
        `max_pages` pages (5,000 accounts by default); past that it says so in the log."""
        cursor: str | None = None
        for _ in range(max_pages):
            params: dict[str, Any] = {"limit": page_size}
            if cursor:
                params["cursor"] = cursor
            data = await self.request("GET", "/api/v1/accounts", params=params)
            for item in data.get("items") or []:
                if isinstance(item, dict) and item.get("id"):
                    yield item
            cursor = data.get("cursor")
            if not cursor:
                return
        logger.warning("unipile: account list longer than %d pages; the rest was not read", max_pages)

    async def _link(self, path: str, body: dict[str, Any]) -> str:
        data = await self.request("POST", path, json=body)
        if data.get("object") not in _SUCCESS_OBJECTS or not isinstance(data.get("account_id"), str):
            # A Checkpoint (or anything else) is not a linked account.
            raise UnipileRejected(200, "Unexpected answer", f"object={data.get('object')!r}")
        return data["account_id"]

    async def request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """One call to Unipile, answering its JSON or raising a UnipileError of the right kind."""
        try:
            response = await self.http.request(method, path, **kwargs)
        except httpx2.ConnectError as exc:
            raise UnipileUnavailable(f"connection failed ({type(exc).__name__})") from None
        except httpx2.ConnectTimeout:
            raise UnipileUnavailable("connection timed out") from None
        except httpx2.TransportError as exc:
            # Read timeouts, dropped connections: the request may have been acted upon.
            raise UnipileUnavailable(f"no answer ({type(exc).__name__})", sent=True) from None
        logger.info("unipile: %s %s -> %s", method, path.split("/accounts/")[0], response.status_code)
        if response.status_code == 429 or response.status_code >= 500:
            raise UnipileUnavailable(
                f"HTTP {response.status_code}",
                retry_after=_retry_after(response.headers.get("Retry-After")),
                sent=response.status_code >= 500,
            )
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code >= 400:
            problem = data if isinstance(data, dict) else {}
            raise UnipileRejected(
                response.status_code,
                str(problem.get("title") or problem.get("type") or f"HTTP {response.status_code}"),
                str(problem.get("detail") or ""),
            )
        if not isinstance(data, dict):
            raise UnipileUnavailable("unreadable answer", sent=True)
        return data
