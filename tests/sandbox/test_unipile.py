"""The Unipile stand-in: token hand-off, hosted auth v1 and v2, and scripted faults."""

from __future__ import annotations

import queue
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from oauth_service.sandbox import Fault, Sandbox
from oauth_service.sandbox.driver import hosted_wizard
from oauth_service.sandbox.loopback import LoopbackServer

from .oauth_client import UNIPILE_KEY, OAuthClient

APP = "https://app.example"


def expires_on(**delta: float) -> str:
    moment = datetime.now(UTC) + timedelta(**(delta or {"hours": 1}))
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def post(http: httpx2.Client, path: str, body: Any, **kwargs: Any) -> httpx2.Response:
    return http.post(f"/unipile{path}", json=body, headers=UNIPILE_KEY, **kwargs)


def google_body(oauth: OAuthClient, **fields: Any) -> dict[str, Any]:
    tokens = oauth.tokens("google")
    body = {"provider": "GOOGLE_OAUTH", "access_token": tokens["access_token"]}
    return {**body, "refresh_token": tokens["refresh_token"], **fields}


def outlook_body(
    oauth: OAuthClient, sandbox: Sandbox, email: str = "grace@contoso.example"
) -> dict[str, Any]:
    tokens = oauth.tokens("microsoft", email=email)
    user = sandbox.microsoft.user(email)
    assert user is not None
    return {
        "provider": "OUTLOOK",
        "access_token": tokens["access_token"],
        "refresh_token": tokens["refresh_token"],
        "id": user.oid,
        "username": user.mail or user.upn,
    }


def test_every_call_needs_the_api_key(http: httpx2.Client) -> None:
    for headers in ({}, {"X-API-KEY": "wrong"}):
        response = http.get("/unipile/api/v1/accounts", headers=headers)
        assert response.status_code == 401 and response.json()["status"] == 401


def test_create_list_get_and_reconnect(oauth: OAuthClient, http: httpx2.Client, sandbox: Sandbox) -> None:
    created = post(http, "/api/v1/accounts", google_body(oauth, sync_limit="NO_HISTORY_SYNC"))
    assert created.status_code == 201 and created.json()["object"] == "AccountCreated"
    google_id = created.json()["account_id"]
    outlook = post(http, "/api/v1/accounts", outlook_body(oauth, sandbox))
    assert outlook.status_code == 201

    listed = http.get("/unipile/api/v1/accounts", headers=UNIPILE_KEY).json()
    assert listed["object"] == "AccountList" and listed["cursor"] is None
    assert [(a["type"], a["name"]) for a in listed["items"]] == [
        ("GOOGLE_OAUTH", "ada@example.com"),
        ("OUTLOOK", "grace@contoso.example"),
    ]
    first = http.get("/unipile/api/v1/accounts?limit=1", headers=UNIPILE_KEY).json()
    assert len(first["items"]) == 1 and first["cursor"] == "1"
    one = http.get(f"/unipile/api/v1/accounts/{google_id}", headers=UNIPILE_KEY).json()
    assert one["connection_params"]["mail"]["username"] == "ada@example.com"

    reconnected = post(http, f"/api/v1/accounts/{google_id}", google_body(oauth))
    assert reconnected.status_code == 200
    assert reconnected.json() == {"object": "AccountReconnected", "account_id": google_id}
    assert sandbox.unipile.accounts[google_id].reconnected_at is not None
    missing = post(http, "/api/v1/accounts/nope", google_body(oauth))
    assert missing.status_code == 404 and missing.json()["type"] == "errors/resource_not_found"
    assert len(sandbox.unipile.accounts) == 2
    assert "ya29" not in repr(sandbox.unipile.requests) and "sandbox-unipile-key" not in repr(
        sandbox.unipile.requests
    )


def test_tokens_the_providers_never_issued_are_refused(oauth: OAuthClient, http, sandbox) -> None:
    fake = {"provider": "GOOGLE_OAUTH", "access_token": "ya29.fake", "refresh_token": "1//fake"}
    refused = post(http, "/api/v1/accounts", fake)
    assert refused.status_code == 400
    assert refused.json()["type"] == "errors/invalid_credentials"
    assert refused.json()["title"] == "Invalid credentials"
    wrong_id = {**outlook_body(oauth, sandbox), "id": "someone-else"}
    assert post(http, "/api/v1/accounts", wrong_id).json()["type"] == "errors/invalid_credentials"
    no_id = outlook_body(oauth, sandbox)
    del no_id["id"]
    assert post(http, "/api/v1/accounts", no_id).json()["type"] == "errors/invalid_parameters"
    assert not sandbox.unipile.accounts


@pytest.fixture(scope="module")
def receiver() -> Any:
    """A tiny app that takes notify calls and hands them to the test."""
    received: queue.Queue[tuple[str, Any]] = queue.Queue()

    async def notify(request: Request) -> Response:
        received.put((request.url.path, await request.json()))
        return Response(status_code=200)

    app = Starlette(routes=[Route("/notify/{token}", notify, methods=["POST"])])
    with LoopbackServer(lambda url: app) as server:
        server.received = received  # type: ignore[attr-defined]
        yield server


def test_hosted_v1_notifies_and_redirects(http: httpx2.Client, sandbox: Sandbox, receiver) -> None:
    body = {
        "type": "create",
        "providers": ["GOOGLE", "OUTLOOK"],
        "api_url": f"{http.base_url}unipile",
        "expiresOn": expires_on(),
        "success_redirect_url": f"{APP}/ok",
        "failure_redirect_url": f"{APP}/ko",
        "notify_url": f"{receiver.url}/notify/secret-token",
        "name": "user-42",
    }
    assert post(http, "/api/v1/hosted/accounts/link", {**body, "expiresOn": "2030-01-01"}).status_code == 400
    created = post(http, "/api/v1/hosted/accounts/link", body)
    assert created.status_code == 201 and created.json()["object"] == "HostedAuthUrl"
    url = created.json()["url"]
    page = http.get(url)
    assert "SANDBOX" in page.text and "Unipile hosted auth" in page.text and "Connect Outlook" in page.text

    finished = hosted_wizard(http, url, action="outlook")
    assert finished.status_code == 302 and finished.headers["location"] == f"{APP}/ok"
    path, payload = receiver.received.get(timeout=5)
    assert path == "/notify/secret-token"
    assert payload["status"] == "CREATION_SUCCESS" and payload["name"] == "user-42"
    assert sandbox.unipile.accounts[payload["account_id"]].type == "OUTLOOK"
    assert http.get(url).status_code == 410  # one run per link

    again = post(
        http,
        "/api/v1/hosted/accounts/link",
        {**body, "type": "reconnect", "reconnect_account": payload["account_id"]},
    )
    assert hosted_wizard(http, again.json()["url"], action="outlook").status_code == 302
    assert receiver.received.get(timeout=5)[1]["status"] == "RECONNECTED"

    failing = post(http, "/api/v1/hosted/accounts/link", body).json()["url"]
    assert hosted_wizard(http, failing, action="fail").headers["location"] == f"{APP}/ko"


def test_hosted_v2_redirects_with_account_and_state(http: httpx2.Client, sandbox: Sandbox) -> None:
    body = {
        "providers": "*:CALENDAR",
        "redirect_uri": f"{APP}/back?x=1",
        "expires_on": expires_on(),
        "state": "s-1",
    }
    created = post(http, "/v2/auth/link", body)
    assert created.status_code == 201 and created.json()["object"] == "AuthLink"
    location = hosted_wizard(http, created.json()["link"], action="google").headers["location"]
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    assert location.startswith(f"{APP}/back?")
    assert query["provider"] == "GOOGLE" and query["state"] == "s-1" and query["x"] == "1"
    assert query["account_id"] in sandbox.unipile.accounts

    failing = post(http, "/v2/auth/link", body).json()["link"]
    query = parse_qs(urlsplit(hosted_wizard(http, failing, action="fail").headers["location"]).query)
    assert query["error_title"] and query["state"] == ["s-1"]
    assert (
        post(http, "/v2/auth/link", {**body, "redirect_uri": "nope"}).json()["type"]
        == "api/invalid_parameters"
    )


def test_503_then_success_and_429_with_retry_after(oauth: OAuthClient, http, sandbox: Sandbox) -> None:
    body = google_body(oauth)
    sandbox.unipile.enqueue(Fault.status(503), Fault.status(429, retry_after=2))
    first = post(http, "/api/v1/accounts", body)
    assert first.status_code == 503 and first.json()["type"] == "errors/service_unavailable"
    second = post(http, "/api/v1/accounts", body)
    assert second.status_code == 429 and second.headers["retry-after"] == "2"
    assert post(http, "/api/v1/accounts", body).status_code == 201
    assert len(sandbox.unipile.accounts) == 1 and len(sandbox.unipile.requests) == 3


def test_scripted_refusal_body(oauth: OAuthClient, http, sandbox: Sandbox) -> None:
    sandbox.unipile.enqueue(Fault.status(400, body={"status": 400, "detail": "no"}))
    refused = post(http, "/api/v1/accounts", google_body(oauth))
    assert refused.status_code == 400 and refused.json() == {"status": 400, "detail": "no"}


def test_drop_and_succeed_then_drop(oauth: OAuthClient, http, sandbox: Sandbox) -> None:
    body = google_body(oauth)
    sandbox.unipile.enqueue(Fault.drop(), Fault.succeed_then_drop())
    with pytest.raises(httpx2.RemoteProtocolError):
        post(http, "/api/v1/accounts", body)
    assert not sandbox.unipile.accounts
    with pytest.raises(httpx2.RemoteProtocolError):
        post(http, "/api/v1/accounts", body)
    assert len(sandbox.unipile.accounts) == 1


def test_hang_past_the_client_timeout_creates_nothing(oauth: OAuthClient, http, sandbox: Sandbox) -> None:
    body = google_body(oauth)
    sandbox.unipile.enqueue(Fault.hang())
    with pytest.raises(httpx2.ReadTimeout):
        post(http, "/api/v1/accounts", body, timeout=0.3)
    time.sleep(0.2)
    assert not sandbox.unipile.accounts
    sandbox.unipile.enqueue(Fault.hang(0.2))
    started = time.monotonic()
    assert post(http, "/api/v1/accounts", body).status_code == 201
    assert time.monotonic() - started >= 0.2


def test_failure_rate_and_path_filter(oauth: OAuthClient, http, sandbox: Sandbox) -> None:
    body = google_body(oauth)
    sandbox.unipile.failure_rate = 1.0
    assert post(http, "/api/v1/accounts", body).status_code == 503
    assert http.get("/unipile/api/v1/accounts", headers=UNIPILE_KEY).status_code == 200
    sandbox.unipile.failure_rate = 0.0
    sandbox.unipile.enqueue(Fault.status(502), method="GET", path="/api/v1/accounts")
    assert http.get("/unipile/api/v1/accounts", headers=UNIPILE_KEY).status_code == 502
    assert post(http, "/api/v1/accounts", body).status_code == 201
