"""Encryption at rest for the secrets services keep (AES-256-GCM): one box for all of them.

Each value is sealed with a fresh 96-bit nonce and bound, as associated data, to where it is stored
(a signing key's id; an integration and purpose), so a ciphertext copied into another row or
column does not open. The stored form is ``version byte || nonce || ciphertext+tag``; the version
byte leaves room for another algorithm or a key rotation later.

Auth wrote its signing keys before the version byte existed (``nonce || ciphertext+tag``); a box
made with ``accept_unversioned=True`` still opens those rows, and seals everything new versioned.
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION_1 = b"\x01"
NONCE_BYTES = 12
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
    """Seals and opens secrets with one AES-256-GCM key."""

    def __init__(self, key: bytes, *, accept_unversioned: bool = False) -> None:
        if len(key) != KEY_BYTES:
            raise InvalidEncryptionKey(f"the encryption key must be {KEY_BYTES} bytes")
        self._aead = AESGCM(key)
        self._accept_unversioned = accept_unversioned

    @classmethod
    def from_text(cls, text: str, *, accept_unversioned: bool = False) -> SecretBox:
        """A box for the URL-safe base64 key from settings."""
        return cls(decode_key(text), accept_unversioned=accept_unversioned)

    def seal(self, plaintext: bytes, associated_data: bytes) -> bytes:
        """``plaintext`` encrypted and bound to ``associated_data`` (where it is stored)."""
        nonce = os.urandom(NONCE_BYTES)
        return VERSION_1 + nonce + self._aead.encrypt(nonce, plaintext, associated_data)

    def open(self, sealed: bytes, associated_data: bytes) -> bytes:
        """The plaintext sealed under ``associated_data``; raise UndecryptableSecret otherwise."""
        if sealed[:1] == VERSION_1 and len(sealed) > 1 + NONCE_BYTES:
            plain = self._decrypt(sealed[1:], associated_data)
            if plain is not None:
                return plain
        # An unversioned ciphertext starts with its random nonce, which is 0x01 once in 256:
        # a failed versioned open is therefore tried again as unversioned, where accepted.
        if self._accept_unversioned and len(sealed) > NONCE_BYTES:
            plain = self._decrypt(sealed, associated_data)
            if plain is not None:
                return plain
        raise UndecryptableSecret("ciphertext does not open under the configured key")

    def seal_text(self, plaintext: str, *, context: str) -> bytes:
        return self.seal(plaintext.encode("utf-8"), context.encode("utf-8"))

    def open_text(self, sealed: bytes, *, context: str) -> str:
        return self.open(sealed, context.encode("utf-8")).decode("utf-8")

    def _decrypt(self, nonce_and_ciphertext: bytes, associated_data: bytes) -> bytes | None:
        nonce, ciphertext = nonce_and_ciphertext[:NONCE_BYTES], nonce_and_ciphertext[NONCE_BYTES:]
        try:
            return self._aead.decrypt(nonce, ciphertext, associated_data)
        except (InvalidTag, ValueError):
            return None

    def __repr__(self) -> str:
        return "SecretBox(<key hidden>)"
