"""The Microsoft stand-in: the identity platform v2.0 under ``/microsoft/{tenant}``."""

from __future__ import annotations

import hashlib
import re
import uuid
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from .keys import b64url
from .oidc import Grant, OpenIDProvider, PendingAuthorization
from .users import PERSONAL_TENANT_ID, SandboxUser

_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
_OIDC_SCOPES = frozenset({"openid", "profile", "email", "offline_access"})
GRAPH_RESOURCE = "https://graph.microsoft.com"


def pairwise_sub(user: SandboxUser, client_id: str) -> str:
    """Microsoft's ``sub``: unique to the user and the application, unlike ``oid``."""
    return b64url(hashlib.sha256(f"{user.oid}:{client_id}".encode()).digest())


class MicrosoftProvider(OpenIDProvider):
    """Microsoft's rules: tenants, a template issuer, ``tid``, and ``offline_access`` refresh."""

    name = "microsoft"
    display_name = "Microsoft"
    default_users = (
        ("grace@contoso.example", "Grace Hopper"),
        ("alan@outlook.com", "Alan Turing"),
    )
    rotates_refresh_tokens = True

    def __init__(self, base_url: str, graph_url: str) -> None:
        self.graph_url = graph_url.rstrip("/")
        super().__init__(base_url)

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/{tenant}/v2.0/.well-known/openid-configuration", self.discovery, methods=["GET"]),
            Route("/{tenant}/oauth2/v2.0/authorize", self.authorize, methods=["GET"]),
            Route("/{tenant}/oauth2/v2.0/authorize", self.decide, methods=["POST"]),
            Route("/{tenant}/oauth2/v2.0/token", self.token, methods=["POST"]),
            Route("/{tenant}/discovery/v2.0/keys", self.jwks, methods=["GET"]),
        ]

    def tenant_problem(self, tenant: str) -> str | None:
        if tenant in ("common", "organizations", "consumers") or _GUID.fullmatch(tenant):
            return None
        return (
            f"AADSTS90002: Tenant '{tenant}' not found. Use common, organizations, consumers or a tenant id."
        )

    def issuer(self, tenant: str = "common") -> str:
        """``{tenantid}`` stays a literal template for the multi-tenant authorities."""
        if tenant in ("common", "organizations"):
            return f"{self.base_url}/{{tenantid}}/v2.0"
        if tenant == "consumers":
            return f"{self.base_url}/{PERSONAL_TENANT_ID}/v2.0"
        return f"{self.base_url}/{tenant.lower()}/v2.0"

    def token_issuer(self, user: SandboxUser) -> str:
        return f"{self.base_url}/{user.tid}/v2.0"

    async def discovery(self, request: Request) -> Response:
        tenant = request.path_params["tenant"]
        if problem := self.tenant_problem(tenant):
            return JSONResponse({"error": "invalid_tenant", "error_description": problem}, status_code=400)
        self._count("discovery")
        base = f"{self.base_url}/{tenant}"
        return JSONResponse(
            {
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "client_secret_basic",
                ],
                "jwks_uri": f"{base}/discovery/v2.0/keys",
                "response_modes_supported": ["query"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "response_types_supported": ["code"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "issuer": self.issuer(tenant),
                "request_uri_parameter_supported": False,
                "userinfo_endpoint": f"{self.graph_url}/oidc/userinfo",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "claims_supported": [
                    "sub",
                    "iss",
                    "aud",
                    "exp",
                    "iat",
                    "nbf",
                    "nonce",
                    "preferred_username",
                    "name",
                    "tid",
                    "oid",
                    "ver",
                    "email",
                ],
                "tenant_region_scope": None,
                "cloud_instance_name": "sandbox",
                "msgraph_host": self.graph_url.split("://", 1)[-1],
            },
            headers={"Cache-Control": "public, max-age=86400"},
        )

    def new_user(self, email: str, tenant: str) -> SandboxUser:
        if tenant == "consumers":
            return SandboxUser.personal(email)
        if _GUID.fullmatch(tenant):
            return SandboxUser(email=email, tid=tenant.lower())
        return SandboxUser(email=email)

    def account_note(self) -> str:
        return "An @outlook.com address signs in as a personal account (no mailbox address in Graph)."

    def refresh_allowed(self, pending: PendingAuthorization, scopes: tuple[str, ...]) -> bool:
        return "offline_access" in scopes

    def granted_scope(self, scopes: tuple[str, ...]) -> str:
        """Graph scopes given without a resource come back with it, as Microsoft answers."""
        return " ".join(
            scope if scope in _OIDC_SCOPES or "://" in scope else f"{GRAPH_RESOURCE}/{scope}"
            for scope in scopes
        )

    def authorization_extras(self) -> dict[str, str]:
        return {"session_state": str(uuid.uuid4())}

    def token_extras(self) -> dict[str, Any]:
        return {"ext_expires_in": 3599}

    def new_token(self, kind: Literal["access", "refresh"]) -> str:
        prefix = "EwA.sb" if kind == "access" else "M.C5.sb"
        return prefix + super().new_token(kind)

    def id_token_claims(self, grant: Grant, access_token: str, now: int) -> dict[str, Any]:
        user, scopes = grant.user, set(grant.scopes)
        claims: dict[str, Any] = {
            "ver": "2.0",
            "iss": self.token_issuer(user),
            "sub": pairwise_sub(user, grant.client_id),
            "aud": grant.client_id,
            "exp": now + 3600,
            "iat": now,
            "nbf": now,
            "oid": user.oid,
            "tid": user.tid,
        }
        if "profile" in scopes:
            claims.update(name=user.name, preferred_username=user.upn)
        if "email" in scopes and user.email:
            claims["email"] = user.email
        return claims
