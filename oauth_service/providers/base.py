"""What Google and Microsoft have in common: OpenID discovery, PKCE authorization, the code
exchange through Authlib, and ID-token validation against cached JWKS.

A concrete provider supplies only what differs: its issuer rule, how it reports granted
scopes, how it names its errors, where the mailbox identity comes from, and Unipile's body.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import httpx2
from authlib.integrations.base_client import OAuthError
from authlib.integrations.httpx_client import AsyncOAuth2Client
from joserfc.jwk import KeySet

from .. import upstream
from ..errors import LinkError
from ..idtoken import IdTokenError, UnknownKeyError, verify_id_token
from ..settings import ProviderSettings, scopes_for

logger = logging.getLogger(__name__)

METADATA_TTL = 24 * 3600
JWKS_TTL = 3600
MAX_REMEMBERED_KIDS = 256


@dataclass(frozen=True)
class Identity:
    """Who consented: the mailbox Unipile will link."""

    email: str
    subject: str
    graph_id: str | None = None


class Provider:
    """One configured OAuth client and everything the flow asks of its provider."""

    name: str = ""
    unipile_provider: str = ""

    def __init__(self, settings: ProviderSettings, callback_url: str, timeout: float) -> None:
        self.settings = settings
        self.callback_url = callback_url
        self.timeout = upstream.timeout(timeout)
        # One pool per provider: discovery, JWKS and token calls all reuse its connections.
        self._transport = upstream.transport()
        self.http = httpx2.AsyncClient(transport=self._transport, timeout=self.timeout)
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._jwks: KeySet | None = None
        self._jwks_at = 0.0
        self._kids_refreshed_for: set[str] = set()
        self._lock = asyncio.Lock()
        self.fetch_counts = {"metadata": 0, "jwks": 0}

    @property
    def label(self) -> str:
        return self.settings.label

    async def aclose(self) -> None:
        await self.http.aclose()

    # Discovery and keys

    def _metadata_stale(self) -> bool:
        return self._metadata is None or time.monotonic() - self._metadata_at > METADATA_TTL

    def _jwks_stale(self) -> bool:
        return self._jwks is None or time.monotonic() - self._jwks_at > JWKS_TTL

    async def metadata(self) -> dict[str, Any]:
        """The discovery document, fetched once per METADATA_TTL whatever the traffic."""
        if self._metadata_stale():
            async with self._lock:
                await self._load_metadata_if_stale()
        assert self._metadata is not None
        return self._metadata

    async def _load_metadata_if_stale(self) -> dict[str, Any]:
        if self._metadata_stale():
            self._metadata = await self._get_json(self.settings.metadata_url)
            self._metadata_at = time.monotonic()
            self.fetch_counts["metadata"] += 1
        assert self._metadata is not None
        return self._metadata

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = await upstream.get(self.http, url)
            response.raise_for_status()
            data = response.json()
        except (httpx2.HTTPError, ValueError) as exc:
            logger.warning("%s: fetching %s failed: %s", self.name, url, type(exc).__name__)
            raise LinkError(
                "provider_error", f"{self.label} could not be reached. Please try again."
            ) from None
        if not isinstance(data, dict):
            raise LinkError("provider_error", f"{self.label} sent an unreadable answer.")
        return data

    async def keys(self, unknown_kid: str | None = None) -> KeySet:
        """The provider's signing keys, cached for JWKS_TTL.

        A token signed with a key id we do not hold triggers one refetch per distinct kid (the
        provider may have rotated since we cached), never more, so a stream of made-up kids
        cannot turn us into a JWKS-fetching loop.
        """
        if not self._jwks_stale() and (unknown_kid is None or unknown_kid in self._kids_refreshed_for):
            return self._jwks  # type: ignore[return-value]
        async with self._lock:
            wanted = unknown_kid is not None and unknown_kid not in self._kids_refreshed_for
            if wanted:
                if len(self._kids_refreshed_for) >= MAX_REMEMBERED_KIDS:
                    self._kids_refreshed_for.clear()
                self._kids_refreshed_for.add(unknown_kid)
            if self._jwks_stale() or wanted:
                metadata = await self._load_metadata_if_stale()
                self._jwks = KeySet.import_key_set(await self._get_json(metadata["jwks_uri"]))
                self._jwks_at = time.monotonic()
                self.fetch_counts["jwks"] += 1
        assert self._jwks is not None
        return self._jwks

    # Authorization

    def scopes_for(self, features: list[str]) -> list[str]:
        return scopes_for(self.settings.feature_scopes, features, self.settings.base_scopes)

    def _oauth_client(self) -> AsyncOAuth2Client:
        # A client per flow keeps no token on a shared object; the shared transport keeps the pool.
        return AsyncOAuth2Client(
            client_id=self.settings.client_id,
            client_secret=self.settings.client_secret,
            token_endpoint_auth_method=self.settings.token_endpoint_auth_method,
            redirect_uri=self.callback_url,
            code_challenge_method="S256",
            transport=self._transport,
            timeout=self.timeout,
        )

    async def authorization_url(
        self,
        *,
        state: str,
        code_verifier: str,
        nonce: str,
        features: list[str],
        login_hint: str | None,
    ) -> str:
        metadata = await self.metadata()
        params: dict[str, str] = dict(self.settings.authorize_params)
        params["nonce"] = nonce
        if login_hint:
            params["login_hint"] = login_hint
        url, _ = self._oauth_client().create_authorization_url(
            metadata["authorization_endpoint"],
            state=state,
            code_verifier=code_verifier,
            scope=" ".join(self.scopes_for(features)),
            **params,
        )
        return url

    async def exchange_code(self, code: str, code_verifier: str) -> dict[str, Any]:
        metadata = await self.metadata()
        client = self._oauth_client()
        try:
            token = await client.fetch_token(
                metadata["token_endpoint"],
                grant_type="authorization_code",
                code=code,
                code_verifier=code_verifier,
                redirect_uri=self.callback_url,
            )
        except OAuthError as exc:
            logger.info("%s: token endpoint refused the code: %s", self.name, exc.error)
            raise LinkError(
                "provider_error",
                f"{self.label} did not accept the sign-in ({exc.error}). Please try again.",
            ) from None
        except (httpx2.HTTPError, ValueError) as exc:
            logger.warning("%s: token exchange failed: %s", self.name, type(exc).__name__)
            raise LinkError(
                "provider_error", f"{self.label} could not be reached. Please try again."
            ) from None
        return dict(token)

    # Validation

    async def verify_id_token(self, id_token: str | None, nonce: str) -> dict[str, Any]:
        if not id_token:
            raise LinkError("id_token_invalid", f"{self.label} sent no ID token.")
        await self.metadata()  # accepted_issuers reads the discovered issuer
        try:
            try:
                return verify_id_token(
                    id_token,
                    await self.keys(),
                    issuers=self.accepted_issuers,
                    audience=self.settings.client_id,
                    nonce=nonce,
                )
            except UnknownKeyError as unknown:
                # The provider may have rotated its keys since we cached them: look once more.
                return verify_id_token(
                    id_token,
                    await self.keys(unknown_kid=unknown.kid),
                    issuers=self.accepted_issuers,
                    audience=self.settings.client_id,
                    nonce=nonce,
                )
        except IdTokenError as exc:
            logger.warning("%s: ID token refused: %s", self.name, exc)
            raise LinkError(
                "id_token_invalid", f"The sign-in answer from {self.label} failed verification."
            ) from None

    def accepted_issuers(self, claims: dict[str, Any]) -> set[str]:
        """The `iss` values an ID token with these claims may carry."""
        raise NotImplementedError

    async def response_issuer_ok(self, iss: str) -> bool:
        """RFC 9207: an `iss` in the authorization response must name this provider."""
        raise NotImplementedError

    def granted_scopes(self, token: dict[str, Any]) -> set[str] | None:
        """Normalised scopes the token response says were granted (None: as requested)."""
        raw = token.get("scope")
        if raw is None:
            return None
        items = raw if isinstance(raw, list) else str(raw).split()
        return {self.normalise_scope(s) for s in items}

    def normalise_scope(self, scope: str) -> str:
        return scope

    def missing_features(self, features: list[str], token: dict[str, Any]) -> list[str]:
        granted = self.granted_scopes(token)
        if granted is None:
            return []
        return [
            feature
            for feature in features
            if any(self.normalise_scope(s) not in granted for s in self.settings.feature_scopes[feature])
        ]

    def authorization_error(self, error: str, description: str) -> LinkError:
        """Map an `error` sent back to the callback onto our documented codes."""
        raise NotImplementedError

    async def identity(self, token: dict[str, Any], claims: dict[str, Any]) -> Identity:
        raise NotImplementedError

    def unipile_body(self, token: dict[str, Any], identity: Identity) -> dict[str, Any]:
        raise NotImplementedError
