"""What the tests drive the service with: a running service on loopback and a browser.

The browser is an HTTP client with its own cookie jar that follows redirects across the
service and the sandbox providers the way a real one would, and stops at the app's URLs.
"""

from __future__ import annotations

import html
import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx2

from oauth_service.app import create_app
from oauth_service.sandbox.loopback import LoopbackServer
from oauth_service.settings import load_settings

APP_ORIGIN = "https://app.example.com"
META_REFRESH = 'http-equiv="refresh"'
API_KEY = "test-api-key-0123456789"
CLIENTS = {
    "google": ("sandbox-google-client", "sandbox-google-secret"),
    "microsoft": ("sandbox-microsoft-client", "sandbox-microsoft-secret"),
}


def service_env(service_url: str, sandbox_url: str, database_url: str, **overrides: str) -> dict[str, str]:
    env = {
        "PUBLIC_URL": service_url,
        "SECRET_KEYS": "test-secret-key-number-one,test-secret-key-number-two",
        "API_KEYS": API_KEY,
        "ALLOWED_REDIRECT_ORIGINS": APP_ORIGIN,
        "DATABASE_URL": database_url,
        "GOOGLE_CLIENT_ID": CLIENTS["google"][0],
        "GOOGLE_CLIENT_SECRET": CLIENTS["google"][1],
        "GOOGLE_METADATA_URL": f"{sandbox_url}/google/.well-known/openid-configuration",
        "MICROSOFT_CLIENT_ID": CLIENTS["microsoft"][0],
        "MICROSOFT_CLIENT_SECRET": CLIENTS["microsoft"][1],
        "MICROSOFT_AUTHORITY": f"{sandbox_url}/microsoft",
        "MICROSOFT_GRAPH_URL": f"{sandbox_url}/graph",
        "UNIPILE_DSN": f"{sandbox_url}/unipile",
        "UNIPILE_API_KEY": "sandbox-unipile-key",
        "UNIPILE_API_URL": f"{sandbox_url}/unipile",
        "APP_NAME": "Acme Calendar",
        "UPSTREAM_TIMEOUT_SECONDS": "3",
        # Retries within a test's patience: first after ~0.2 s, the worker looking every 0.1 s.
        "HANDOFF_RETRY_BASE_SECONDS": "0.2",
        "HANDOFF_RETRY_CAP_SECONDS": "1",
        "WORKER_POLL_SECONDS": "0.1",
    }
    env.update(overrides)
    return {k: v for k, v in env.items() if v is not None}


@dataclass
class Outcome:
    """Where the browser ended: the app's URL and its query parameters."""

    url: str
    params: dict[str, str]
    response: httpx2.Response

    @property
    def ok(self) -> bool:
        return self.url.startswith(f"{APP_ORIGIN}/success")


class Browser:
    """A person's browser: one cookie jar, redirects followed, stopping at the app."""

    def __init__(self) -> None:
        self.http = httpx2.Client(follow_redirects=False, timeout=20)
        self.visited: list[str] = []

    def close(self) -> None:
        self.http.close()

    def get(self, url: str, **kwargs: Any) -> httpx2.Response:
        self.visited.append(url)
        return self.http.get(url, **kwargs)

    def follow(
        self, response: httpx2.Response, limit: int = 10, refresh_for: float = 30.0
    ) -> httpx2.Response:
        """Follow redirects (and meta refreshes, as a browser does) until a page or the app."""
        deadline = time.monotonic() + refresh_for
        hops = 0
        while True:
            if response.status_code == 200 and META_REFRESH in response.text:
                if time.monotonic() > deadline:
                    return response
                time.sleep(0.1)  # a browser waits the page's 2 s; the outcome is the same
                response = self.get(str(response.url))
                continue
            if response.status_code not in (301, 302, 303, 307, 308):
                return response
            location = urljoin(str(response.url), response.headers["location"])
            if location.startswith(APP_ORIGIN):
                return response
            hops += 1
            if hops > limit:
                raise AssertionError("too many redirects")
            response = self.get(location)

    def open_link(self, url: str) -> httpx2.Response:
        response = self.get(url)
        assert response.status_code == 200, response.text
        return response

    def click(self, page: httpx2.Response, provider: str, **kwargs: Any) -> httpx2.Response:
        """Click the `data-provider` link on a page; answers our own first response."""
        return self.get(urljoin(str(page.url), provider_href(page.text, provider)), **kwargs)

    def choose(self, page: httpx2.Response, provider: str) -> httpx2.Response:
        """Click the `data-provider` link on a page; answers what the click led to."""
        return self.follow(self.click(page, provider))

    def consent(
        self, page: httpx2.Response, *, allow: bool = True, untick: tuple[str, ...] = (),
        email: str | None = None,
    ) -> httpx2.Response:
        """Answer a sandbox consent page; returns the provider's redirect (to our callback)."""
        form = parse_form(page.text)
        data: dict[str, list[str]] = {}
        for k, v in form.fields:
            if k not in ("scope", "email", "decision"):
                data.setdefault(k, []).append(v)
        data["scope"] = [s for s in form.scopes if not any(u in s for u in untick)]
        data["email"] = [email or form.value("email")]
        data["decision"] = ["allow" if allow else "deny"]
        self.visited.append(form.action)
        return self.http.post(urljoin(str(page.url), form.action), data=data)

    def finish(self, redirect: httpx2.Response) -> Outcome:
        """Follow our callback to the app; the Outcome holds the app URL reached."""
        final = self.follow(redirect)
        assert final.status_code in (302, 303), f"ended on a page ({final.status_code}): {final.text[:500]}"
        location = final.headers["location"]
        query = parse_qs(urlsplit(location).query)
        return Outcome(location, {k: v[0] for k, v in query.items()}, final)


@dataclass
class Form:
    action: str
    fields: list[tuple[str, str]] = field(default_factory=list)
    scopes: list[str] = field(default_factory=list)

    def value(self, name: str) -> str:
        return next((v for k, v in self.fields if k == name), "")


def parse_form(page: str) -> Form:
    action = re.search(r'<form[^>]*action="([^"]*)"', page)
    assert action, "no form on the page"
    form = Form(html.unescape(action.group(1)))
    for tag in re.findall(r"<input[^>]*>", page):
        name = re.search(r'name="([^"]*)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if not name:
            continue
        key, val = html.unescape(name.group(1)), html.unescape(value.group(1)) if value else ""
        if key == "scope":
            form.scopes.append(val)
        form.fields.append((key, val))
    return form


def provider_href(page: str, provider: str) -> str:
    for tag in re.findall(r"<a [^>]*>", page):
        if f'data-provider="{provider}"' in tag:
            return html.unescape(re.search(r'href="([^"]*)"', tag).group(1))
    title = re.search(r"<title>(.*?)</title>", page, re.S)
    shown = title.group(1) if title else page[:200]
    raise AssertionError(f"no data-provider={provider!r} link on the page {shown!r}")


class RunningService:
    """The real service on a loopback port, configured against the sandbox."""

    def __init__(self, sandbox: Any, sandbox_url: str, database_url: str, **env: str) -> None:
        self.sandbox = sandbox
        self.env: dict[str, str] = {}

        def factory(url: str) -> Any:
            self.env = service_env(url, sandbox_url, database_url, **env)
            self.settings = load_settings(self.env, env_file=None)
            for name, (client_id, secret) in CLIENTS.items():
                getattr(sandbox, name).register_client(
                    client_id, secret, [f"{url}/oauth/{name}/callback"]
                )
            return create_app(self.settings)

        # The service on "localhost", the providers on "127.0.0.1": different sites, as in life.
        self.server = LoopbackServer(factory, url_host="localhost").start()
        self.url = self.server.url
        self.api = httpx2.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=20
        )

    @property
    def services(self) -> Any:
        return self.server.app.state.services

    def create_session(self, **fields: Any) -> dict[str, Any]:
        body = {
            "name": "user-42",
            "success_redirect_url": f"{APP_ORIGIN}/success",
            "failure_redirect_url": f"{APP_ORIGIN}/failure",
            "state": "app-state-xyz",
        }
        body.update(fields)
        response = self.api.post("/api/link-sessions", json=body)
        assert response.status_code == 201, response.text
        return response.json()

    def session(self, session_id: str) -> dict[str, Any]:
        response = self.api.get(f"/api/link-sessions/{session_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def stop(self) -> None:
        self.api.close()
        self.server.stop()


def link(
    service: RunningService, browser: Browser, provider: str, *, allow: bool = True,
    untick: tuple[str, ...] = (), email: str | None = None, **session_fields: Any,
) -> tuple[dict[str, Any], Outcome]:
    """One whole link, as a person would do it: open, choose, consent, come back."""
    created = service.create_session(**session_fields)
    page = browser.open_link(created["url"])
    consent = browser.choose(page, provider)
    assert consent.status_code == 200, consent.text[:500]
    return created, browser.finish(browser.consent(consent, allow=allow, untick=untick, email=email))


def wait_for(predicate: Any, timeout: float = 30.0) -> Any:
    """Poll `predicate` until it answers something true (which is returned), or fail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out waiting")


def sql(service: RunningService, statement: str, **params: Any) -> list[dict[str, Any]]:
    """Run one SQL statement against a service's database (SQLite or PostgreSQL), as a DBA would."""
    import asyncio

    import sqlalchemy as sa

    from oauth_service.store import create_engine

    async def run() -> list[dict[str, Any]]:
        engine = create_engine(service.env["DATABASE_URL"])
        try:
            async with engine.begin() as conn:
                result = await conn.execute(sa.text(statement), params)
                return [dict(r._mapping) for r in result] if result.returns_rows else []
        finally:
            await engine.dispose()

    return asyncio.run(run())
