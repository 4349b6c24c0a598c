"""The state-signing module: signed, expiring references to server-side flows, and the
browser-binding secret that ties a flow to the browser which started it.

The signed value carries only a flow id and the provider; everything that matters (PKCE
verifier, nonce, link session) stays in the store, where it is consumed exactly once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadData, SignatureExpired, URLSafeTimedSerializer

from .keys import derive_keys

BINDING_COOKIE = "oauth_binding"
SECURE_BINDING_COOKIE = "__Host-oauth_binding"


class StateError(Exception):
    """A signed value could not be trusted; `expired` tells a stale one from a forged one."""

    def __init__(self, reason: str, *, expired: bool = False, payload: Any = None) -> None:
        super().__init__(reason)
        self.expired = expired
        # Only set for expired values whose signature was good: safe to act on, not to trust.
        self.payload = payload


class Signer:
    """Signs small JSON payloads for one purpose; the first key signs, every key verifies."""

    def __init__(self, secret_keys: tuple[str, ...], purpose: str) -> None:
        # itsdangerous signs with the *last* key of the list and verifies with all of them.
        keys = list(reversed(derive_keys(secret_keys, f"signer:{purpose}")))
        self._serializer = URLSafeTimedSerializer(keys, salt=purpose)

    def sign(self, payload: Any) -> str:
        return self._serializer.dumps(payload)

    def verify(self, token: str, max_age: int) -> Any:
        if not token or len(token) > 2048:
            raise StateError("missing or oversized signed value")
        try:
            return self._serializer.loads(token, max_age=max_age)
        except SignatureExpired as exc:
            payload = None
            if exc.payload is not None:
                try:
                    payload = self._serializer.load_payload(exc.payload)
                except BadData:
                    payload = None
            raise StateError("signed value expired", expired=True, payload=payload) from None
        except BadData:
            raise StateError("bad signature") from None


@dataclass(frozen=True)
class FlowState:
    """What the `state` parameter sent to a provider stands for."""

    flow_id: str
    provider: str


class StateCodec:
    """Turns flow references into the opaque `state` parameter and back."""

    def __init__(self, secret_keys: tuple[str, ...], ttl: int) -> None:
        self._signer = Signer(secret_keys, "oauth-state")
        self.ttl = ttl

    def encode(self, flow_id: str, provider: str) -> str:
        return self._signer.sign({"f": flow_id, "p": provider})

    def decode(self, token: str) -> FlowState:
        """Raise StateError unless `token` is ours and fresh; an expired one keeps its payload."""
        try:
            payload = self._signer.verify(token, self.ttl)
        except StateError as exc:
            if exc.payload is not None:
                exc.payload = _flow_state(exc.payload)
            raise
        state = _flow_state(payload)
        if state is None:
            raise StateError("malformed state payload")
        return state


def _flow_state(payload: Any) -> FlowState | None:
    if isinstance(payload, dict) and isinstance(payload.get("f"), str) and isinstance(payload.get("p"), str):
        return FlowState(flow_id=payload["f"], provider=payload["p"])
    return None


def new_binding_secret() -> str:
    return secrets.token_urlsafe(32)


def binding_hash(secret: str) -> str:
    """What the store keeps of a browser's binding secret: enough to compare, useless to steal."""
    return hashlib.sha256(secret.encode()).hexdigest()


def same_browser(secret: str | None, expected_hash: str | None) -> bool:
    if not secret or not expected_hash:
        return False
    return hmac.compare_digest(binding_hash(secret), expected_hash)


def start_proof(secret: str, session_id: str) -> str:
    """What the link page's buttons carry: proof that this browser was shown this session's page.

    A start URL planted in someone else's page carries its planter's proof, which their
    browser's secret cannot match, so it cannot bind their browser to the planter's session.
    """
    return hashlib.sha256(f"start\0{session_id}\0{secret}".encode()).hexdigest()[:32]


def valid_start_proof(secret: str | None, session_id: str, proof: str | None) -> bool:
    if not secret or not proof:
        return False
    return hmac.compare_digest(start_proof(secret, session_id), proof)


def binding_cookie_name(secure: bool) -> str:
    return SECURE_BINDING_COOKIE if secure else BINDING_COOKIE


class BrowserBinding:
    """Reads and sets the browser-binding cookie.

    `SameSite=Lax`, not `Strict`: the provider's redirect back to our callback is a cross-site
    top-level navigation, and Lax is what lets the cookie ride along with it.
    """

    max_age = 24 * 3600

    def __init__(self, secure: bool) -> None:
        self.secure = secure
        self.cookie = binding_cookie_name(secure)

    def read(self, request: Any) -> str | None:
        value = request.cookies.get(self.cookie)
        return value if value and len(value) <= 128 else None

    def ensure(self, request: Any) -> tuple[str, bool]:
        """The browser's binding secret, and whether it is new (and must be set on the answer)."""
        secret = self.read(request)
        return (secret, False) if secret else (new_binding_secret(), True)

    def set(self, response: Any, secret: str) -> None:
        response.set_cookie(
            self.cookie,
            secret,
            max_age=self.max_age,
            path="/",
            secure=self.secure,
            httponly=True,
            samesite="lax",
        )
