"""Unipile's hosted-auth wizard (v1 and v2 links) and the v1 notify call it makes."""

from __future__ import annotations

import asyncio
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import httpx2
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from .oidc import with_query
from .pages import page

if TYPE_CHECKING:
    from .unipile import UnipileStandIn

_ANY = frozenset({"*", "*:MAILING", "*:CALENDAR", "*:EMAILS"})
_GOOGLE = _ANY | {"GOOGLE", "GOOGLE_OAUTH", "GMAIL"}
_OUTLOOK = _ANY | {"OUTLOOK", "MICROSOFT"}


@dataclass
class HostedLink:
    """A wizard link; v1 links carry redirect and notify URLs, v2 links a ``redirect_uri``."""

    id: str
    generation: Literal[1, 2]
    url: str
    providers: tuple[str, ...]
    expires_at: datetime
    account_id: str | None = None
    name: str | None = None
    api_url: str | None = None
    success_url: str | None = None
    failure_url: str | None = None
    notify_url: str | None = None
    redirect_uri: str | None = None
    state: str | None = None
    config: dict[str, Any] | None = None
    used: bool = False


@dataclass(frozen=True)
class Notification:
    """One notify call made (or attempted) after a v1 wizard succeeded."""

    url: str
    payload: dict[str, Any]
    status_code: int | None
    error: str | None


class HostedAuth:
    """The wizard pages; a link serves one run, which ends in an account or a failure."""

    def __init__(self, unipile: UnipileStandIn) -> None:
        self.unipile = unipile
        self._lock = threading.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self.forget()

    def forget(self) -> None:
        with self._lock:
            self._links: dict[str, HostedLink] = {}
            self._notifications: list[Notification] = []

    def forget_links(self) -> None:
        with self._lock:
            self._links.clear()

    @property
    def links(self) -> list[HostedLink]:
        with self._lock:
            return list(self._links.values())

    @property
    def notifications(self) -> list[Notification]:
        with self._lock:
            return list(self._notifications)

    def create(self, generation: Literal[1, 2], **fields: Any) -> HostedLink:
        link_id = secrets.token_urlsafe(18)
        prefix = "/hosted" if generation == 1 else "/v2/hosted"
        url = f"{self.unipile.base_url}{prefix}/{link_id}"
        link = HostedLink(id=link_id, generation=generation, url=url, **fields)
        with self._lock:
            self._links[link_id] = link
        return link

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/hosted/{link_id}", self.show, methods=["GET"]),
            Route("/hosted/{link_id}", self.finish, methods=["POST"]),
            Route("/v2/hosted/{link_id}", self.show, methods=["GET"]),
            Route("/v2/hosted/{link_id}", self.finish, methods=["POST"]),
        ]

    def _link(self, request: Request) -> HostedLink | Response:
        generation = 2 if request.url.path.partition("/unipile")[2].startswith("/v2/") else 1
        with self._lock:
            link = self._links.get(request.path_params["link_id"])
        if link is None or link.generation != generation:
            return _message("This link does not exist", "Ask the application for a new one.", 404)
        if link.used:
            return _message("This link was already used", "Ask the application for a new one.", 410)
        if link.expires_at <= datetime.now(UTC):
            return _message("This link has expired", "Ask the application for a new one.", 410)
        return link

    def _offers(self, link: HostedLink) -> tuple[bool, bool]:
        if link.account_id is not None:
            account = self.unipile.account(link.account_id)
            kind = account.type if account else None
            return kind == "GOOGLE_OAUTH", kind == "OUTLOOK"
        names = {name.upper() for name in link.providers}
        return bool(names & _GOOGLE), bool(names & _OUTLOOK)

    async def show(self, request: Request) -> Response:
        link = self._link(request)
        if isinstance(link, Response):
            return link
        google, outlook = self._offers(link)
        return page(
            "hosted.html",
            title="Unipile hosted auth",
            stand_in_for="Unipile",
            generation=link.generation,
            reconnect=link.account_id is not None,
            name=link.name,
            action=request.url.path,
            email="",
            offer_google=google,
            offer_outlook=outlook,
        )

    async def finish(self, request: Request) -> Response:
        """Connect Google / Connect Outlook / Fail, answered the way each generation does."""
        form = await request.form()
        link = self._link(request)
        if isinstance(link, Response):
            return link
        action = str(form.get("action", ""))
        google, outlook = self._offers(link)
        if action not in ("fail", "google", "outlook") or (
            (action == "google" and not google) or (action == "outlook" and not outlook)
        ):
            return _message("Not offered", "This link does not offer that choice.", 400)
        with self._lock:
            if link.used:
                return _message("This link was already used", "Ask the application again.", 410)
            link.used = True
        if action == "fail":
            return self._failed(link)
        provider = self.unipile.google if action == "google" else self.unipile.microsoft
        user = provider.user_for(str(form.get("email", "")).strip() or provider.default_email)
        account, reconnected = self.unipile.link_account(
            "GOOGLE_OAUTH" if action == "google" else "OUTLOOK",
            user,
            "hosted_v1" if link.generation == 1 else "hosted_v2",
            link.account_id,
        )
        if link.generation == 2:
            assert link.redirect_uri is not None
            params = {
                "account_id": account.id,
                "provider": "GOOGLE" if action == "google" else "OUTLOOK",
                "state": link.state,
            }
            return RedirectResponse(with_query(link.redirect_uri, params), status_code=302)
        if link.notify_url and self.unipile.notify_enabled:
            status = "RECONNECTED" if reconnected else "CREATION_SUCCESS"
            payload = {"status": status, "account_id": account.id, "name": link.name}
            self._schedule(link.notify_url, payload)
        if link.success_url:
            return RedirectResponse(link.success_url, status_code=302)
        return _message("Account connected", "You can close this window.", 200)

    def _failed(self, link: HostedLink) -> Response:
        if link.generation == 2:
            assert link.redirect_uri is not None
            params = {"error_title": "The account could not be connected.", "state": link.state}
            return RedirectResponse(with_query(link.redirect_uri, params), status_code=302)
        if link.failure_url:
            return RedirectResponse(link.failure_url, status_code=302)
        return _message("The account could not be connected", "You can close this window.", 200)

    def _schedule(self, url: str, payload: dict[str, Any]) -> None:
        task = asyncio.get_running_loop().create_task(self._notify(url, payload))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _notify(self, url: str, payload: dict[str, Any]) -> None:
        if self.unipile.notify_delay:
            await asyncio.sleep(self.unipile.notify_delay)
        status_code, error = None, None
        try:
            async with httpx2.AsyncClient(timeout=10.0, trust_env=False) as client:
                status_code = (await client.post(url, json=payload)).status_code
        except httpx2.HTTPError as exc:
            error = type(exc).__name__
        with self._lock:
            self._notifications.append(Notification(url, payload, status_code, error))

    async def aclose(self) -> None:
        """Cancel notify calls still waiting, at server shutdown."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _message(title: str, message: str, status_code: int) -> Response:
    return page(
        "message.html",
        status_code,
        title=title,
        message=message,
        who="Unipile hosted auth (sandbox)",
        stand_in_for="Unipile",
    )
