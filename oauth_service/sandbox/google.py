"""The Google stand-in: accounts.google.com's OpenID Connect flavour, under ``/google``."""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from .keys import b64url
from .oidc import Grant, OpenIDProvider, PendingAuthorization

_USERINFO_SCOPES = {
    "email": "https://www.googleapis.com/auth/userinfo.email",
    "profile": "https://www.googleapis.com/auth/userinfo.profile",
}


class GoogleProvider(OpenIDProvider):
    """Google's rules: refresh tokens need ``access_type=offline`` and ``prompt=consent``."""

    name = "google"
    display_name = "Google"
    default_users = (("ada@example.com", "Ada Lovelace"),)

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/.well-known/openid-configuration", self.discovery, methods=["GET"]),
            Route("/o/oauth2/v2/auth", self.authorize, methods=["GET"]),
            Route("/o/oauth2/v2/auth", self.decide, methods=["POST"]),
            Route("/token", self.token, methods=["POST"]),
            Route("/oauth2/v3/certs", self.jwks, methods=["GET"]),
            Route("/v1/userinfo", self.userinfo, methods=["GET", "POST"]),
            Route("/revoke", self.revocation, methods=["POST"]),
        ]

    def issuer(self, tenant: str = "") -> str:
        return self.base_url

    async def discovery(self, request: Request) -> Response:
        self._count("discovery")
        base = self.base_url
        return JSONResponse(
            {
                "issuer": base,
                "authorization_endpoint": f"{base}/o/oauth2/v2/auth",
                "token_endpoint": f"{base}/token",
                "userinfo_endpoint": f"{base}/v1/userinfo",
                "revocation_endpoint": f"{base}/revoke",
                "jwks_uri": f"{base}/oauth2/v3/certs",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "scopes_supported": ["openid", "email", "profile"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "client_secret_basic",
                ],
                "claims_supported": [
                    "aud",
                    "email",
                    "email_verified",
                    "exp",
                    "family_name",
                    "given_name",
                    "iat",
                    "iss",
                    "name",
                    "sub",
                    "nonce",
                    "hd",
                    "azp",
                    "at_hash",
                ],
                "code_challenge_methods_supported": ["plain", "S256"],
                "grant_types_supported": ["authorization_code", "refresh_token"],
            },
            headers={"Cache-Control": "public, max-age=3600"},
        )

    def refresh_allowed(self, pending: PendingAuthorization, scopes: tuple[str, ...]) -> bool:
        return pending.access_type == "offline" and "consent" in pending.prompt

    def granted_scope(self, scopes: tuple[str, ...]) -> str:
        return " ".join(dict.fromkeys(_USERINFO_SCOPES.get(scope, scope) for scope in scopes))

    def new_code(self) -> str:
        return f"4/0Asb{super().new_code()}"

    def new_token(self, kind: Literal["access", "refresh"]) -> str:
        prefix = "ya29.sb" if kind == "access" else "1//sb"
        return prefix + super().new_token(kind)

    def id_token_claims(self, grant: Grant, access_token: str, now: int) -> dict[str, Any]:
        user, scopes = grant.user, set(grant.scopes)
        digest = hashlib.sha256(access_token.encode()).digest()
        claims: dict[str, Any] = {
            "iss": self.base_url,
            "azp": grant.client_id,
            "aud": grant.client_id,
            "sub": user.sub,
            "at_hash": b64url(digest[:16]),
            "iat": now,
            "exp": now + 3600,
        }
        if user.hd:
            claims["hd"] = user.hd
        if scopes & {"email", _USERINFO_SCOPES["email"]}:
            claims["email"] = user.email
            claims["email_verified"] = user.email_verified
        if scopes & {"profile", _USERINFO_SCOPES["profile"]}:
            given, _, family = user.name.partition(" ")
            claims.update(name=user.name, given_name=given, family_name=family)
        return claims

    async def userinfo(self, request: Request) -> Response:
        """OpenID Connect UserInfo for a live Google access token."""
        info = self.bearer(request)
        if info is None:
            return JSONResponse(
                {"error": "invalid_request", "error_description": "Invalid Credentials"},
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        user = info.user
        body: dict[str, Any] = {"sub": user.sub, "name": user.name, "email": user.email}
        body["email_verified"] = user.email_verified
        if user.hd:
            body["hd"] = user.hd
        return JSONResponse(body)

    async def revocation(self, request: Request) -> Response:
        """RFC 7009 revocation: the token and every token of the same grant stop working."""
        form = await request.form()
        token = str(form.get("token") or request.query_params.get("token", ""))
        if not self.revoke(token):
            body = {"error": "invalid_token", "error_description": "Token expired or revoked"}
            return JSONResponse(body, status_code=400)
        return JSONResponse({})
