"""The Graph stand-in answers /me for Microsoft tokens, and fails on command."""

from __future__ import annotations

import httpx2

from oauth_service.sandbox import Fault, Sandbox, SandboxUser

from .oauth_client import OAuthClient


def me(http: httpx2.Client, token: str) -> httpx2.Response:
    return http.get("/graph/v1.0/me", headers={"Authorization": f"Bearer {token}"})


def test_me_for_a_work_account(oauth: OAuthClient, http: httpx2.Client, sandbox: Sandbox) -> None:
    user = sandbox.microsoft.add_user(SandboxUser("lee@contoso.example", name="Lee Ray"))
    body = me(http, oauth.tokens("microsoft", email=user.email)["access_token"]).json()
    assert body["id"] == user.oid
    assert body["mail"] == "lee@contoso.example"
    assert body["userPrincipalName"] == "lee@contoso.example"
    assert body["displayName"] == "Lee Ray"


def test_me_for_a_personal_account_has_no_mail(oauth: OAuthClient, http: httpx2.Client, sandbox) -> None:
    user = sandbox.microsoft.add_user(SandboxUser.personal("sam@outlook.example"))
    body = me(http, oauth.tokens("microsoft", email=user.email)["access_token"]).json()
    assert body["mail"] is None and body["userPrincipalName"] == "sam@outlook.example"


def test_other_tokens_are_refused(oauth: OAuthClient, http: httpx2.Client) -> None:
    google_token = oauth.tokens("google")["access_token"]
    for response in (me(http, google_token), http.get("/graph/v1.0/me")):
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "InvalidAuthenticationToken"


def test_scripted_fault_then_success(oauth: OAuthClient, http: httpx2.Client, sandbox: Sandbox) -> None:
    token = oauth.tokens("microsoft")["access_token"]
    sandbox.graph.enqueue(Fault.status(503, retry_after=1))
    failed = me(http, token)
    assert failed.status_code == 503 and failed.headers["retry-after"] == "1"
    assert failed.json()["error"]["code"] == "ServiceNotAvailable"
    assert me(http, token).status_code == 200
