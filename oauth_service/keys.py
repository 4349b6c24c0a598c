"""Purpose-specific keys derived from SECRET_KEYS, so no key is ever used for two jobs."""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def derive_keys(secret_keys: tuple[str, ...] | list[str], purpose: str) -> list[bytes]:
    """One 32-byte key per secret, in the same order (the first is the current one)."""
    return [
        HKDF(
            algorithm=hashes.SHA256(),
            length=32,
            salt=b"oauth-service/v1",
            info=purpose.encode(),
        ).derive(secret.encode())
        for secret in secret_keys
    ]
