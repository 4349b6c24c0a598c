"""Microsoft identity platform v2.0: the `{tenantid}` issuer template, admin consent, Graph /me."""

from __future__ import annotations

import logging
import re
from typing import Any

import httpx2

from .. import upstream
from ..errors import LinkError
from .base import Identity, Provider

logger = logging.getLogger(__name__)

_TENANT_ID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# AADSTS codes meaning "an administrator must approve this app first".
_ADMIN_CODES = ("AADSTS65001", "AADSTS90094", "AADSTS90095", "AADSTS900941", "AADSTS90099")


class Microsoft(Provider):
    name = "microsoft"
    unipile_provider = "OUTLOOK"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Graph is another upstream, so it gets its own pooled client.
        self.graph = httpx2.AsyncClient(transport=upstream.transport(), timeout=self.timeout)

    def accepted_issuers(self, claims: dict[str, Any]) -> set[str]:
        # For common/organizations the discovered issuer is a template; fill it from the token's
        # own tid (a GUID), so a token of tenant A can never pass as tenant B's.
        template = (self._metadata or {})["issuer"]
        if "{tenantid}" not in template:
            return {template}
        tid = claims.get("tid")
        if not isinstance(tid, str) or not _TENANT_ID.match(tid):
            return set()
        return {template.replace("{tenantid}", tid)}

    async def response_issuer_ok(self, iss: str) -> bool:
        template = (await self.metadata())["issuer"]
        if "{tenantid}" not in template:
            return iss == template
        prefix, _, suffix = template.partition("{tenantid}")
        tid = (
            iss[len(prefix) : len(iss) - len(suffix)]
            if iss.startswith(prefix) and iss.endswith(suffix)
            else ""
        )
        return bool(_TENANT_ID.match(tid))

    def normalise_scope(self, scope: str) -> str:
        # Microsoft echoes Graph scopes with or without the resource prefix, in any case.
        scope = scope.strip().lower()
        return scope.removeprefix(self.settings.graph_resource.lower() + "/")

    def authorization_error(self, error: str, description: str) -> LinkError:
        text = description or ""
        if any(code in text for code in _ADMIN_CODES) or (
            error in ("access_denied", "consent_required") and "admin" in text.lower()
        ):
            return LinkError("admin_consent_required")
        if error == "access_denied":
            return LinkError("access_denied")
        return LinkError("provider_error", f"Microsoft said: {text or error}")

    async def identity(self, token: dict[str, Any], claims: dict[str, Any]) -> Identity:
        url = f"{self.settings.graph_url}/v1.0/me"
        try:
            response = await upstream.get(
                self.graph, url, headers={"Authorization": f"Bearer {token['access_token']}"}
            )
        except httpx2.HTTPError as exc:
            logger.warning("microsoft: Graph /me failed: %s", type(exc).__name__)
            raise LinkError("provider_error", "Microsoft Graph could not be reached.") from None
        if response.status_code != 200:
            logger.warning("microsoft: Graph /me answered %s", response.status_code)
            raise LinkError("provider_error", "Microsoft Graph refused to name the mailbox.")
        try:
            me = response.json()
            graph_id = me["id"]
        except (ValueError, KeyError, TypeError):
            raise LinkError("provider_error", "Microsoft Graph sent an unreadable answer.") from None
        username = me.get("mail") or me.get("userPrincipalName")
        if not username or not graph_id:
            raise LinkError("provider_error", "Microsoft Graph named no mailbox for this account.")
        return Identity(email=username, subject=claims["sub"], graph_id=graph_id)

    def unipile_body(self, token: dict[str, Any], identity: Identity) -> dict[str, Any]:
        return {
            "provider": "OUTLOOK",
            "access_token": token["access_token"],
            "refresh_token": token["refresh_token"],
            "id": identity.graph_id,
            "username": identity.email,
        }

    async def aclose(self) -> None:
        await super().aclose()
        await self.graph.aclose()
