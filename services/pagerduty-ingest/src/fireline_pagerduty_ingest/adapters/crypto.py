"""Encryption at rest for signing secrets and PagerDuty API tokens (AES-256-GCM).

Each value is sealed with a fresh 96-bit nonce and bound, as associated data, to where it is
stored (integration id and purpose), so a ciphertext copied into another row or column does not
decrypt. The stored form is ``version byte || nonce || ciphertext+tag``; the version byte leaves
room for a later key rotation.
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = b"\x01"
_NONCE_BYTES = 12
KEY_BYTES = 32


class InvalidEncryptionKey(ValueError):
    """The configured key is not URL-safe base64 of exactly 32 bytes."""


class UndecryptableSecret(RuntimeError):
    """A stored ciphertext does not open under the configured key (wrong key or tampering)."""


def decode_key(text: str) -> bytes:
    """The raw key from its URL-safe base64 form (padding optional)."""
    cleaned = text.strip()
    try:
        raw = base64.urlsafe_b64decode(cleaned + "=" * (-len(cleaned) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InvalidEncryptionKey("the encryption key is not URL-safe base64") from exc
    if len(raw) != KEY_BYTES:
        raise InvalidEncryptionKey(
            f"the encryption key must decode to {KEY_BYTES} bytes, not {len(raw)}"
        )
    return raw


class SecretBox:
    """Seals and opens short secrets with one AES-256-GCM key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise InvalidEncryptionKey(f"the encryption key must be {KEY_BYTES} bytes")
        self._aead = AESGCM(key)

    @classmethod
    def from_text(cls, text: str) -> SecretBox:
        """A box for the URL-safe base64 key from settings."""
        return cls(decode_key(text))

    def seal(self, plaintext: str, *, context: str) -> bytes:
        """``plaintext`` encrypted and bound to ``context`` (where it is stored)."""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode("utf-8"), context.encode("utf-8"))
        return _VERSION + nonce + sealed

    def open(self, blob: bytes, *, context: str) -> str:
        """The plaintext sealed under ``context``; raise UndecryptableSecret otherwise."""
        if len(blob) <= 1 + _NONCE_BYTES or blob[:1] != _VERSION:
            raise UndecryptableSecret("unknown ciphertext format")
        nonce, sealed = blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :]
        try:
            plain = self._aead.decrypt(nonce, sealed, context.encode("utf-8"))
        except InvalidTag as exc:
            raise UndecryptableSecret("ciphertext does not open under the configured key") from exc
        return plain.decode("utf-8")

    def __repr__(self) -> str:
        return "SecretBox(<key hidden>)"


def api_token_context(integration_id: object) -> str:
    """Associated data of an integration's API token."""
    return f"{integration_id}:pagerduty-api-token"


def signing_secret_context(integration_id: object, secret_id: object) -> str:
    """Associated data of one signing secret."""
    return f"{integration_id}:signing-secret:{secret_id}"
