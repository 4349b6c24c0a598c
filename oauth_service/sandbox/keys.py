"""The signing keys of a sandbox provider, and ID tokens signed well or deliberately badly."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey

from .behaviour import Signing


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _segment(obj: dict[str, Any]) -> str:
    return b64url(json.dumps(obj, separators=(",", ":")).encode())


def _new_key() -> RSAKey:
    kid = f"sandbox-{secrets.token_hex(8)}"
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})


class SigningKeys:
    """The current RS256 key plus the keys still published in the JWKS."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._current = _new_key()
        self._published = [self._current]
        self._stranger: RSAKey | None = None

    @property
    def kid(self) -> str:
        return str(self._current.kid)

    def rotate(self, keep_old: bool = True) -> str:
        """Sign with a new key from now on; the old one stays in the JWKS if ``keep_old``."""
        key = _new_key()
        with self._lock:
            self._published = [key, *self._published] if keep_old else [key]
            self._current = key
        return str(key.kid)

    def jwks(self) -> dict[str, Any]:
        with self._lock:
            return {"keys": [key.as_dict(private=False) for key in self._published]}

    def sign(self, claims: dict[str, Any], how: Signing = "rs256") -> str:
        """A compact JWT over ``claims``; every ``how`` but ``"rs256"`` yields a forgery."""
        key = self._current
        if how == "rs256":
            return jwt.encode({"alg": "RS256", "kid": key.kid, "typ": "JWT"}, claims, key)
        if how == "none":
            return f"{_segment({'alg': 'none', 'typ': 'JWT'})}.{_segment(claims)}."
        if how == "hs256_with_public_key":
            # The classic algorithm-confusion attack: HMAC keyed with the public key's PEM.
            signing_input = f"{_segment({'alg': 'HS256', 'kid': key.kid, 'typ': 'JWT'})}."
            signing_input += _segment(claims)
            secret = key.as_pem(private=False)
            mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
            return f"{signing_input}.{b64url(mac)}"
        if how == "unknown_key":
            with self._lock:
                if self._stranger is None:
                    self._stranger = _new_key()
                stranger = self._stranger
            header = {"alg": "RS256", "kid": stranger.kid, "typ": "JWT"}
            return jwt.encode(header, claims, stranger)
        if how == "tampered":
            header, _, signature = self.sign(claims).split(".")
            forged = {**claims, "sub": f"{claims.get('sub', '')}0"}
            if "email" in forged:
                forged["email"] = "mallory@attacker.example"
            return f"{header}.{_segment(forged)}.{signature}"
        raise ValueError(f"unknown signing mode {how!r}")
