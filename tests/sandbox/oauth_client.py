"""The relying party's side of the code flow, played against the sandbox providers."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx2

from oauth_service.sandbox.driver import consent

REDIRECT_URI = "http://app.example/callback"
CLIENTS = {"google": ("g-client", "g-secret"), "microsoft": ("m-client", "m-secret")}
SCOPES = {
    "google": "openid email profile https://www.googleapis.com/auth/calendar",
    "microsoft": "openid email profile offline_access https://graph.microsoft.com/User.Read "
    "https://graph.microsoft.com/Calendars.ReadWrite",
}
UNIPILE_KEY = {"X-API-KEY": "sandbox-unipile-key"}


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def query_of(response: httpx2.Response) -> dict[str, str]:
    """The query of a redirect's Location, one value per name."""
    assert response.status_code == 302, response.text[:300]
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["location"]).query).items()}


@dataclass
class Authorization:
    url: str
    verifier: str
    state: str
    nonce: str


class OAuthClient:
    """The relying party's side of the code flow, against one sandbox provider."""

    def __init__(self, http: httpx2.Client, base_url: str) -> None:
        self.http = http
        self.base_url = base_url

    def root(self, provider: str, tenant: str = "common") -> str:
        return f"{self.base_url}/google" if provider == "google" else f"{self.base_url}/microsoft/{tenant}"

    def authorize(self, provider: str, tenant: str = "common", **params: Any) -> Authorization:
        verifier, challenge = pkce()
        state, nonce = secrets.token_urlsafe(8), secrets.token_urlsafe(8)
        query = {
            "response_type": "code",
            "client_id": CLIENTS[provider][0],
            "redirect_uri": REDIRECT_URI,
            "scope": SCOPES[provider],
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        if provider == "google":
            query.update(access_type="offline", prompt="consent")
        query.update(params)
        path = "/o/oauth2/v2/auth" if provider == "google" else "/oauth2/v2.0/authorize"
        given = {name: value for name, value in query.items() if value is not None}
        url = f"{self.root(provider, tenant)}{path}?{urlencode(given)}"
        return Authorization(url, verifier, state, nonce)

    def token_url(self, provider: str, tenant: str = "common") -> str:
        path = "/token" if provider == "google" else "/oauth2/v2.0/token"
        return self.root(provider, tenant) + path

    def exchange(
        self,
        provider: str,
        code: str,
        verifier: str | None,
        *,
        tenant: str = "common",
        basic: bool = False,
        **overrides: str,
    ) -> httpx2.Response:
        client_id, secret = CLIENTS[provider]
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}
        if verifier is not None:
            form["code_verifier"] = verifier
        auth = None
        if basic:
            auth = (client_id, secret)
        else:
            form.update(client_id=client_id, client_secret=secret)
        form.update(overrides)
        return self.http.post(self.token_url(provider, tenant), data=form, auth=auth)

    def tokens(
        self,
        provider: str,
        *,
        email: str | None = None,
        tenant: str = "common",
        untick: tuple[str, ...] = (),
        **params: Any,
    ) -> dict[str, Any]:
        """The whole flow: authorize, allow, exchange; returns the token response."""
        authorization = self.authorize(provider, tenant, **params)
        answer = query_of(consent(self.http, authorization.url, email=email, untick=untick))
        assert answer["state"] == authorization.state
        response = self.exchange(provider, answer["code"], authorization.verifier, tenant=tenant)
        assert response.status_code == 200, response.text
        return {**response.json(), "nonce": authorization.nonce}
