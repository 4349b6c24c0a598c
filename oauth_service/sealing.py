"""Tokens at rest: sealed with Fernet (AES-128-CBC + HMAC-SHA256) under keys derived from
SECRET_KEYS, so a copy of the database alone reveals nothing, and keys rotate like the rest.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from .keys import derive_keys


class SealError(Exception):
    """A sealed value could not be opened (tampered, or sealed under a retired key)."""


class Sealer:
    """Seal with the first key, open with any of them."""

    def __init__(self, secret_keys: tuple[str, ...]) -> None:
        self._fernet = MultiFernet(
            [Fernet(base64.urlsafe_b64encode(k)) for k in derive_keys(secret_keys, "seal:tokens")]
        )

    def seal(self, value: dict[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(value).encode()).decode()

    def open(self, sealed: str) -> dict[str, Any]:
        try:
            return json.loads(self._fernet.decrypt(sealed.encode()))
        except (InvalidToken, ValueError):
            raise SealError("sealed value cannot be opened") from None
