"""What every attack test needs: a browser that records what it saw, and the two assertions
that say an attack got nowhere (no token exchange, no Unipile call)."""

from __future__ import annotations

import hashlib
import socket
import time
from base64 import urlsafe_b64encode
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx2

from ..support import APP_ORIGIN, Browser, RunningService, sql


@dataclass
class Seen:
    """One answer the browser received."""

    url: str
    status: int
    headers: httpx2.Headers
    text: str


class RecordingBrowser(Browser):
    """A Browser that keeps every answer it received, to search them for leaks afterwards."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[Seen] = []
        self.http.event_hooks["response"].append(self._record)

    def _record(self, response: httpx2.Response) -> None:
        response.read()
        seen = Seen(str(response.request.url), response.status_code, response.headers, response.text)
        self.seen.append(seen)

    def answers_from(self, base_url: str) -> list[Seen]:
        return [s for s in self.seen if s.url.startswith(base_url)]


def to_callback(
    service: RunningService, browser: Browser, provider: str = "google", **fields: Any
) -> tuple[dict[str, Any], str]:
    """Open a link, choose, consent; answers (session, the provider's redirect to our callback)."""
    created = service.create_session(**fields)
    page = browser.open_link(created["url"])
    consent = browser.choose(page, provider)
    assert consent.status_code == 200, consent.text[:300]
    redirect = browser.consent(consent)
    assert redirect.status_code in (302, 303)
    return created, urljoin(str(redirect.url), redirect.headers["location"])


def unipile_posts(sandbox: Any) -> list[Any]:
    return [r for r in sandbox.unipile.requests if r.method == "POST"]


def assert_no_token_exchange(sandbox: Any) -> None:
    """Neither provider's token endpoint was called: the attack never reached a code exchange."""
    assert not sandbox.google.token_requests, sandbox.google.token_requests
    assert not sandbox.microsoft.token_requests, sandbox.microsoft.token_requests


def assert_no_successful_exchange(sandbox: Any) -> None:
    """Any code presented was refused by the provider: no tokens were issued to us."""
    for provider in (sandbox.google, sandbox.microsoft):
        assert all(r.status_code != 200 for r in provider.token_requests), provider.token_requests


def assert_no_unipile_call(sandbox: Any) -> None:
    assert not unipile_posts(sandbox), unipile_posts(sandbox)


def assert_refused_cleanly(sandbox: Any) -> None:
    """The attack's whole effect: nothing exchanged, nothing handed to Unipile."""
    assert_no_token_exchange(sandbox)
    assert_no_unipile_call(sandbox)


def assert_error_page(response: httpx2.Response, code: str, status: int = 400) -> None:
    assert response.status_code == status, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("text/html")
    assert f'data-error="{code}"' in response.text, response.text[:500]
    assert "Traceback" not in response.text


def assert_failure_redirect(response: httpx2.Response, code: str) -> None:
    """Our answer sent the browser to the app's failure URL with `code`."""
    assert response.status_code in (302, 303), (response.status_code, response.text[:300])
    location = response.headers["location"]
    assert location.startswith(f"{APP_ORIGIN}/failure?"), location
    assert parse_qs(urlsplit(location).query)["error"] == [code], location


def expire_session(service: RunningService, session_id: str) -> None:
    """Move a session's expiry into the past, as the clock would."""
    sql(service, "UPDATE link_sessions SET expires_at = :t WHERE id = :id", t=time.time() - 1, id=session_id)


def code_verifiers(service: RunningService) -> list[str]:
    """The PKCE verifiers the service holds for its flows (read from its database)."""
    return [row["code_verifier"] for row in sql(service, "SELECT code_verifier FROM flows")]


def s256(verifier: str) -> str:
    return urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def cookie_value(browser: Browser, name_part: str = "oauth_binding") -> str:
    return next(c.value for c in browser.http.cookies.jar if name_part in c.name)


def set_binding_cookie(browser: Browser, value: str) -> None:
    """Replace the browser's binding cookie, keeping its domain and path."""
    for c in list(browser.http.cookies.jar):
        if "oauth_binding" in c.name:
            browser.http.cookies.delete(c.name, domain=c.domain, path=c.path)
            browser.http.cookies.set(c.name, value, domain=c.domain, path=c.path)


def raw_request(port: int, head: bytes) -> bytes:
    """Send bytes no HTTP client would, answer what came back (the status line is enough)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        try:
            sock.sendall(head)
        except OSError:
            pass  # the server may close before reading everything: its answer is what counts
        answer = b""
        while len(answer) < 64:
            try:
                chunk = sock.recv(4096)
            except OSError:
                break
            if not chunk:
                break
            answer += chunk
    return answer
