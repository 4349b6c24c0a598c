"""Google: both issuer spellings, granular consent, identity from the ID token."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from ..errors import LinkError
from .base import Identity, Provider

_ADMIN_ERRORS = {"admin_policy_enforced"}


class Google(Provider):
    name = "google"
    unipile_provider = "GOOGLE_OAUTH"

    def accepted_issuers(self, claims: dict[str, Any]) -> set[str]:
        # Google issues both `https://accounts.google.com` and `accounts.google.com`.
        issuer = (self._metadata or {})["issuer"]
        parts = urlsplit(issuer)
        return {issuer, parts.netloc + parts.path}

    async def response_issuer_ok(self, iss: str) -> bool:
        return iss == (await self.metadata())["issuer"]

    def normalise_scope(self, scope: str) -> str:
        return scope.strip()

    def authorization_error(self, error: str, description: str) -> LinkError:
        if error == "access_denied":
            return LinkError("access_denied")
        if error in _ADMIN_ERRORS:
            return LinkError("admin_consent_required")
        return LinkError("provider_error", f"Google said: {description or error}")

    async def identity(self, token: dict[str, Any], claims: dict[str, Any]) -> Identity:
        email = claims.get("email")
        if not email or claims.get("email_verified") is False:
            raise LinkError(
                "provider_error", "Google did not share a verified email address for this account."
            )
        return Identity(email=email, subject=claims["sub"])

    def unipile_body(self, token: dict[str, Any], identity: Identity) -> dict[str, Any]:
        return {
            "provider": "GOOGLE_OAUTH",
            "access_token": token["access_token"],
            "refresh_token": token["refresh_token"],
        }
