"""The Unipile stand-in: the v1 (DSN) and v2 APIs, under ``/unipile``.

It accepts tokens only if the sandbox providers really issued them, keeps accounts in memory,
records every API request and fails on command (see :class:`~.faults.Fault`).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import random
import re
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any, Literal
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from .faults import Fault, FaultQueue, apply_fault
from .google import GoogleProvider
from .hosted import HostedAuth, HostedLink, Notification
from .microsoft import MicrosoftProvider
from .oidc import OpenIDProvider
from .users import SandboxUser

AccountType = Literal["GOOGLE_OAUTH", "OUTLOOK"]
LinkedVia = Literal["tokens", "hosted_v1", "hosted_v2"]
Generation = Literal[1, 2]

_SECRET_FIELDS = frozenset({"access_token", "refresh_token", "x-api-key", "authorization"})
_EXPIRES_ON_V1 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
_EXPIRES_ON_V2 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z")
_TITLES = {
    400: "Invalid parameters",
    401: "Unauthorized",
    404: "Resource not found",
    429: "Too many requests",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Gateway timeout",
}
_TYPES = {
    400: "invalid_parameters",
    401: "unauthorized",
    404: "resource_not_found",
    429: "too_many_requests",
    503: "service_unavailable",
}


def problem(
    status: int,
    detail: str = "",
    *,
    kind: str | None = None,
    title: str | None = None,
    generation: Generation = 1,
) -> dict[str, Any]:
    """A problem-details body as the given API generation spells it."""
    name = kind or _TYPES.get(status, "unexpected_error")
    body: dict[str, Any] = {
        "status": status,
        "type": f"errors/{name}" if generation == 1 else f"api/{name}",
        "title": title or _TITLES.get(status, "Error"),
        "detail": detail or f"Sandbox answer: HTTP {status}.",
    }
    if generation == 2:
        body = {"object": "Error", **body, "req_id": secrets.token_hex(8)}
    return body


class UnipileError(Exception):
    """A refusal, answered as problem JSON."""

    def __init__(self, status: int, detail: str, kind: str | None = None, title: str | None = None):
        super().__init__(detail)
        self.status, self.detail, self.kind, self.title = status, detail, kind, title


def _invalid(detail: str) -> UnipileError:
    return UnipileError(400, detail)


def _bad_credentials(detail: str) -> UnipileError:
    return UnipileError(400, detail, kind="invalid_credentials", title="Invalid credentials")


def _redact(data: Any) -> Any:
    if isinstance(data, Mapping):
        return {k: "***" if k.lower() in _SECRET_FIELDS else _redact(v) for k, v in data.items()}
    return data


@dataclass(frozen=True)
class RecordedRequest:
    """One API request as Unipile received it; its repr hides tokens and the API key."""

    method: str
    path: str
    json: Any
    headers: Mapping[str, str]
    received_at: float = field(default_factory=time.monotonic)

    def __repr__(self) -> str:
        return (
            f"RecordedRequest({self.method} {self.path}, json={_redact(self.json)!r}, "
            f"headers={_redact(dict(self.headers))!r})"
        )


@dataclass
class UnipileAccount:
    """A linked account; ``user_key`` is the provider's stable id (Google ``sub``, Graph ``id``)."""

    id: str
    type: AccountType
    username: str
    user_key: str
    created_at: datetime
    linked_via: LinkedVia = "tokens"
    access_token: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    reconnected_at: datetime | None = None

    @property
    def provider(self) -> AccountType:
        return self.type

    def as_json(self) -> dict[str, Any]:
        return {
            "object": "Account",
            "id": self.id,
            "type": self.type,
            "name": self.username,
            "created_at": iso(self.created_at),
            "connection_params": {"mail": {"id": self.user_key, "username": self.username}},
            "sources": [{"id": f"{self.id}_MAILS", "status": "OK"}],
            "groups": [],
        }


@dataclass(frozen=True)
class _Credentials:
    type: AccountType
    username: str
    user: SandboxUser
    access_token: str
    refresh_token: str


def mailbox_name(type: AccountType, user: SandboxUser) -> str:
    """The address an account is known by: Google's email, Graph's mail or else its UPN."""
    return user.email if type == "GOOGLE_OAUTH" else user.mail or user.upn


def iso(moment: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.sssZ``, the timestamp spelling Unipile uses."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_expiry(value: Any, pattern: re.Pattern[str], name: str) -> datetime:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise _invalid(f"{name} must be a UTC timestamp like 2026-12-04T16:00:00.000Z.")
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment <= datetime.now(UTC):
        raise _invalid(f"{name} is in the past.")
    return moment


def _url(body: Mapping[str, Any], name: str, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or urlsplit(value).scheme not in ("http", "https"):
        raise _invalid(f"{name} must be an http(s) URL.")
    return value


def _providers(value: Any) -> tuple[str, ...]:
    if isinstance(value, str) and value:
        return (value,)
    if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
        return tuple(value)
    raise _invalid("providers must be a provider name, a pattern like '*:CALENDAR', or a list.")


Handler = Callable[[Request, Any], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


class UnipileStandIn:
    """Control handle and routes of the Unipile stand-in.

    Controls: ``api_key``; ``latency`` (seconds before every API answer); ``failure_rate``
    (probability of a 503 for account creation and reconnection); ``enqueue(*faults)``;
    ``notify_enabled`` and ``notify_delay`` for hosted-auth notify calls; ``restart()``.
    Records: ``requests``, ``accounts``, ``notifications``, ``hosted_links``.
    """

    def __init__(
        self,
        base_url: str,
        google: GoogleProvider,
        microsoft: MicrosoftProvider,
        api_key: str = "sandbox-unipile-key",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.google = google
        self.microsoft = microsoft
        self.faults = FaultQueue(default_path=r"/api/v1/accounts(/[^/]+)?", default_method="POST")
        self._lock = threading.Lock()
        self.hosted = HostedAuth(self)
        self._forget()

    def _forget(self) -> None:
        with self._lock:
            self.latency = 0.0
            self.failure_rate = 0.0
            self.notify_enabled = True
            self.notify_delay = 0.0
            self._accounts: dict[str, UnipileAccount] = {}
            self._requests: list[RecordedRequest] = []
        self.faults.clear()
        self.hosted.forget()

    # -- control handle ------------------------------------------------------------------

    def enqueue(self, *faults: Fault, method: str | None = None, path: str | None = None) -> None:
        """Fail the next matching requests, one fault each.

        By default faults apply to ``POST /api/v1/accounts`` and ``POST /api/v1/accounts/{id}``;
        ``path`` (a regex on the path below ``/unipile``) and ``method`` (or ``"*"``) widen it.
        """
        self.faults.enqueue(*faults, method=method, path=path)

    @property
    def accounts(self) -> dict[str, UnipileAccount]:
        """The linked accounts by id (a copy)."""
        with self._lock:
            return dict(self._accounts)

    def account(self, account_id: str) -> UnipileAccount | None:
        with self._lock:
            return self._accounts.get(account_id)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def notifications(self) -> list[Notification]:
        return self.hosted.notifications

    @property
    def hosted_links(self) -> list[HostedLink]:
        return self.hosted.links

    def add_account(self, type: AccountType, user: SandboxUser) -> UnipileAccount:
        """An account that exists already, for reconnection tests."""
        return self._store(type, user, mailbox_name(type, user), "tokens")

    def account_alive(self, account_id: str) -> bool:
        """Whether the account's refresh token still works, as Unipile finds at its next refresh."""
        account = self.account(account_id)
        if account is None or account.refresh_token is None:
            return False
        return self._issuer(account.type).is_valid_refresh_token(account.refresh_token)

    def restart(self) -> None:
        """Unipile's daily restart: every hosted-auth link dies."""
        self.hosted.forget_links()

    def reset(self) -> None:
        """Forget accounts, records, faults, links and controls; keep the API key."""
        self._forget()

    async def aclose(self) -> None:
        await self.hosted.aclose()

    # -- plumbing ------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        api = self._api
        return [
            Route("/api/v1/accounts", api(1, self.list_accounts), methods=["GET"]),
            Route("/api/v1/accounts", api(1, self.create_account), methods=["POST"]),
            Route("/api/v1/accounts/{account_id}", api(1, self.get_account), methods=["GET"]),
            Route("/api/v1/accounts/{account_id}", api(1, self.reconnect_account), methods=["POST"]),
            Route("/api/v1/accounts/{account_id}", api(1, self.delete_account), methods=["DELETE"]),
            Route("/api/v1/hosted/accounts/link", api(1, self.hosted_link_v1), methods=["POST"]),
            Route("/v2/auth/link", api(2, self.auth_link_v2), methods=["POST"]),
            *self.hosted.routes(),
        ]

    def _api(self, generation: Generation, handler: Handler) -> Endpoint:
        """Serve ``handler`` as every API call is served: recorded, delayed, faulted, checked."""

        async def endpoint(request: Request) -> Response:
            raw = await request.body()
            try:
                body, bad_json = (json.loads(raw) if raw else None), False
            except ValueError:
                body, bad_json = None, True
            path = request.url.path.partition("/unipile")[2]
            with self._lock:
                self._requests.append(RecordedRequest(request.method, path, body, dict(request.headers)))
            if self.latency:
                await asyncio.sleep(self.latency)

            async def answer(request: Request) -> Response:
                try:
                    if not self._authorized(request):
                        raise UnipileError(401, "Missing or invalid X-API-KEY header.")
                    if bad_json:
                        raise _invalid("The body is not valid JSON.")
                    return await handler(request, body)
                except UnipileError as exc:
                    detail = problem(
                        exc.status, exc.detail, kind=exc.kind, title=exc.title, generation=generation
                    )
                    return JSONResponse(detail, status_code=exc.status)

            fault = self._next_fault(request.method, path)
            return await apply_fault(fault, request, answer, partial(problem, generation=generation))

        return endpoint

    def _next_fault(self, method: str, path: str) -> Fault | None:
        """The queued fault for this call, else a random 503 at ``failure_rate``."""
        fault = self.faults.take(method, path)
        if fault is None and self.faults.matches_default(method, path):
            if self.failure_rate and random.random() < self.failure_rate:
                return Fault.status(503)
        return fault

    def _authorized(self, request: Request) -> bool:
        given = request.headers.get("x-api-key", "")
        return bool(given) and hmac.compare_digest(given.encode(), self.api_key.encode())

    def _issuer(self, type: AccountType) -> OpenIDProvider:
        return self.google if type == "GOOGLE_OAUTH" else self.microsoft

    def _store(
        self,
        type: AccountType,
        user: SandboxUser,
        username: str,
        via: LinkedVia,
        credentials: _Credentials | None = None,
    ) -> UnipileAccount:
        account = UnipileAccount(
            id=secrets.token_urlsafe(16)[:22],
            type=type,
            username=username,
            user_key=user.sub if type == "GOOGLE_OAUTH" else user.oid,
            created_at=datetime.now(UTC),
            linked_via=via,
            access_token=credentials.access_token if credentials else None,
            refresh_token=credentials.refresh_token if credentials else None,
        )
        with self._lock:
            self._accounts[account.id] = account
        return account

    def _existing(self, account_id: str) -> UnipileAccount:
        account = self.account(account_id)
        if account is None:
            raise UnipileError(404, f"Account {account_id!r} not found.")
        return account

    def _credentials(self, body: Any) -> _Credentials:
        """The body of ``POST /api/v1/accounts``, checked against what the providers issued."""
        if not isinstance(body, dict):
            raise _invalid("The body must be a JSON object.")
        kind = body.get("provider")
        if kind not in ("GOOGLE_OAUTH", "OUTLOOK"):
            raise _invalid("provider must be GOOGLE_OAUTH or OUTLOOK for OAuth token accounts.")
        required = ["access_token", "refresh_token"] + (["id", "username"] if kind == "OUTLOOK" else [])
        for name in required:
            if not isinstance(body.get(name), str) or not body[name]:
                raise _invalid(f"{name} is required for provider {kind}.")
        issuer = self._issuer(kind)
        access = issuer.token_info(body["access_token"])
        refresh = issuer.token_info(body["refresh_token"])
        label = issuer.display_name
        if access is None or not issuer.is_valid_access_token(body["access_token"]):
            raise _bad_credentials(f"The access token is not a live {label} access token.")
        if refresh is None or not issuer.is_valid_refresh_token(body["refresh_token"]):
            raise _bad_credentials(f"The refresh token is not a live {label} refresh token.")
        if access.user.email != refresh.user.email:
            raise _bad_credentials("The access and refresh tokens belong to different users.")
        user = access.user
        if kind == "GOOGLE_OAUTH":
            return _Credentials(kind, user.email, user, body["access_token"], body["refresh_token"])
        if body["id"] != user.oid:
            raise _bad_credentials("id is not the Microsoft Graph id of the token's user.")
        mailbox = {name.lower() for name in (user.mail, user.upn) if name}
        if body["username"].lower() not in mailbox:
            raise _bad_credentials(
                "username is neither the mail nor the userPrincipalName of the token's user."
            )
        return _Credentials(kind, body["username"], user, body["access_token"], body["refresh_token"])

    def _check_sync_limit(self, body: Mapping[str, Any]) -> None:
        value = body.get("sync_limit")
        if value is not None and not isinstance(value, (str, dict)):
            raise _invalid("sync_limit must be NO_HISTORY_SYNC, a date or an object.")

    # -- v1 ------------------------------------------------------------------------------

    async def create_account(self, request: Request, body: Any) -> Response:
        credentials = self._credentials(body)
        self._check_sync_limit(body)
        account = self._store(credentials.type, credentials.user, credentials.username, "tokens", credentials)
        return JSONResponse({"object": "AccountCreated", "account_id": account.id}, status_code=201)

    async def reconnect_account(self, request: Request, body: Any) -> Response:
        account = self._existing(request.path_params["account_id"])
        credentials = self._credentials(body)
        if credentials.type != account.type:
            raise _invalid(f"Account {account.id} is a {account.type} account.")
        key = credentials.user.sub if account.type == "GOOGLE_OAUTH" else credentials.user.oid
        if key != account.user_key:
            raise _invalid("The tokens belong to another mailbox than the account's.")
        with self._lock:
            account.access_token = credentials.access_token
            account.refresh_token = credentials.refresh_token
            account.reconnected_at = datetime.now(UTC)
        return JSONResponse({"object": "AccountReconnected", "account_id": account.id})

    async def list_accounts(self, request: Request, body: Any) -> Response:
        try:
            limit = int(request.query_params.get("limit", "100"))
            start = int(request.query_params.get("cursor") or 0)
        except ValueError as exc:
            raise _invalid("limit and cursor must be integers.") from exc
        if not 1 <= limit <= 250 or start < 0:
            raise _invalid("limit must be between 1 and 250.")
        accounts = list(self.accounts.values())
        items = [account.as_json() for account in accounts[start : start + limit]]
        cursor = str(start + limit) if start + limit < len(accounts) else None
        return JSONResponse({"object": "AccountList", "items": items, "cursor": cursor})

    async def get_account(self, request: Request, body: Any) -> Response:
        return JSONResponse(self._existing(request.path_params["account_id"]).as_json())

    async def delete_account(self, request: Request, body: Any) -> Response:
        account = self._existing(request.path_params["account_id"])
        with self._lock:
            self._accounts.pop(account.id, None)
        return JSONResponse({"object": "AccountDeleted"})

    async def hosted_link_v1(self, request: Request, body: Any) -> Response:
        if not isinstance(body, dict):
            raise _invalid("The body must be a JSON object.")
        link_type = body.get("type")
        if link_type not in ("create", "reconnect"):
            raise _invalid("type must be 'create' or 'reconnect'.")
        reconnect = None
        if link_type == "reconnect":
            if not isinstance(body.get("reconnect_account"), str):
                raise _invalid("reconnect_account is required when type is 'reconnect'.")
            reconnect = self._existing(body["reconnect_account"]).id
        name = body.get("name")
        if name is not None and not isinstance(name, str):
            raise _invalid("name must be a string.")
        link = self.hosted.create(
            generation=1,
            providers=_providers(body.get("providers")),
            expires_at=parse_expiry(body.get("expiresOn"), _EXPIRES_ON_V1, "expiresOn"),
            account_id=reconnect,
            name=name,
            api_url=_url(body, "api_url", required=True),
            success_url=_url(body, "success_redirect_url"),
            failure_url=_url(body, "failure_redirect_url"),
            notify_url=_url(body, "notify_url"),
        )
        return JSONResponse({"object": "HostedAuthUrl", "url": link.url}, status_code=201)

    # -- v2 ------------------------------------------------------------------------------

    async def auth_link_v2(self, request: Request, body: Any) -> Response:
        if not isinstance(body, dict):
            raise _invalid("The body must be a JSON object.")
        account_id = body.get("account_id")
        if account_id is not None:
            if not isinstance(account_id, str):
                raise _invalid("account_id must be a string.")
            self._existing(account_id)
        state, config = body.get("state"), body.get("config")
        if state is not None and not isinstance(state, str):
            raise _invalid("state must be a string.")
        if config is not None and not isinstance(config, dict):
            raise _invalid("config must be an object.")
        link = self.hosted.create(
            generation=2,
            providers=_providers(body.get("providers")),
            expires_at=parse_expiry(body.get("expires_on"), _EXPIRES_ON_V2, "expires_on"),
            account_id=account_id,
            redirect_uri=_url(body, "redirect_uri", required=True),
            state=state,
            config=config,
        )
        return JSONResponse({"object": "AuthLink", "link": link.url}, status_code=201)

    # -- used by the hosted wizard -------------------------------------------------------

    def link_account(
        self,
        type: AccountType,
        user: SandboxUser,
        via: Literal["hosted_v1", "hosted_v2"],
        reconnect: str | None,
    ) -> tuple[UnipileAccount, bool]:
        """Create the account a wizard run ends with, or reconnect ``reconnect``."""
        if reconnect is not None:
            account = self._existing(reconnect)
            with self._lock:
                account.reconnected_at = datetime.now(UTC)
            return account, True
        return self._store(type, user, mailbox_name(type, user), via), False
