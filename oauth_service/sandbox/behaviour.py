"""What a sandbox provider does differently for one authorization, so tests can reach each failure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Signing = Literal["rs256", "none", "hs256_with_public_key", "unknown_key", "tampered"]


@dataclass(frozen=True)
class Behaviour:
    """Deviations from the honest protocol, attached to an authorization and everything it yields.

    A provider uses ``provider.behaviour`` (persistent, honest by default) for each new
    authorization request, unless ``provider.script(...)`` queued one for the next request.
    The behaviour then travels with the pending consent, the code and the tokens issued from it.

    Fields:
        error, error_description: the authorize step redirects straight back with this error.
        auto_approve: skip the consent page, as if the user allowed every requested scope.
        omit_refresh_token: never return a refresh token, whatever the request asked for.
        id_token_claims: claims to override in the ID token; a value of ``None`` removes it.
        sign: how the ID token is signed; everything but ``"rs256"`` must fail validation.
        iss_spelling: ``"bare"`` puts the issuer without its scheme in the ID token (Google
            really issues both ``https://accounts.google.com`` and ``accounts.google.com``).
        authorize_iss: add RFC 9207's ``iss`` to the authorization response: ``True`` for the
            provider's own issuer, or a string to send instead.
        token_error: the token endpoint answers ``(status, json body)`` instead of tokens.
        token_latency: seconds the token endpoint waits before answering.
    """

    error: str | None = None
    error_description: str | None = None
    auto_approve: bool = False
    omit_refresh_token: bool = False
    id_token_claims: Mapping[str, Any] = field(default_factory=dict)
    sign: Signing = "rs256"
    iss_spelling: Literal["url", "bare"] = "url"
    authorize_iss: str | bool = False
    token_error: tuple[int, Mapping[str, Any]] | None = None
    token_latency: float = 0.0
