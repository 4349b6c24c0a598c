"""OpenID Connect ID-token validation (OIDC Core 3.1.3.7) with joserfc, Authlib's JOSE library.

Only RS256 is accepted: that refuses `alg: none` and HS256-signed-with-the-public-key
forgeries before any key is touched.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import extract_compact

ALGORITHMS = ("RS256",)
LEEWAY = 120  # seconds of clock skew tolerated between us and the provider


class IdTokenError(Exception):
    """The ID token must not be trusted; the message says why (it never contains the token)."""


class UnknownKeyError(IdTokenError):
    """Signed with a key id we do not hold: worth one JWKS refresh before refusing."""

    def __init__(self, kid: str) -> None:
        super().__init__(f"unknown key id {kid!r}")
        self.kid = kid


def verify_id_token(
    token: str,
    keys: KeySet,
    *,
    issuers: Callable[[dict[str, Any]], set[str]],
    audience: str,
    nonce: str,
    now: float | None = None,
) -> dict[str, Any]:
    """Return the claims of a valid ID token, or raise IdTokenError."""
    try:
        header = extract_compact(token.encode()).headers()
    except (JoseError, ValueError, UnicodeError) as exc:
        raise IdTokenError(f"malformed ID token ({type(exc).__name__})") from None
    if header.get("alg") not in ALGORITHMS:
        raise IdTokenError(f"algorithm {header.get('alg')!r} is not accepted")
    kid = header.get("kid")
    if kid is not None and not any(k.kid == kid for k in keys.keys):
        raise UnknownKeyError(kid)
    try:
        claims = jwt.decode(token, keys, algorithms=list(ALGORITHMS)).claims
    except JoseError as exc:
        raise IdTokenError(f"signature check failed ({exc.error})") from None
    except ValueError as exc:
        raise IdTokenError(f"unreadable ID token ({type(exc).__name__})") from None

    at = int(now if now is not None else time.time())
    for claim in ("iss", "sub", "aud", "exp", "iat"):
        if claim not in claims:
            raise IdTokenError(f"claim {claim!r} is missing")
    if claims["iss"] not in issuers(claims):
        raise IdTokenError("issuer does not match the provider")
    aud = claims["aud"]
    audiences = aud if isinstance(aud, list) else [aud]
    if audience not in audiences:
        raise IdTokenError("audience is not our client")
    if len(audiences) > 1 and claims.get("azp") != audience:
        raise IdTokenError("several audiences and azp is not our client")
    if not isinstance(claims["exp"], int | float) or claims["exp"] + LEEWAY < at:
        raise IdTokenError("token has expired")
    if not isinstance(claims["iat"], int | float) or claims["iat"] - LEEWAY > at:
        raise IdTokenError("token was issued in the future")
    if "nbf" in claims and (not isinstance(claims["nbf"], int | float) or claims["nbf"] - LEEWAY > at):
        raise IdTokenError("token is not valid yet")
    if claims.get("nonce") != nonce:
        raise IdTokenError("nonce does not match the flow")
    return dict(claims)
