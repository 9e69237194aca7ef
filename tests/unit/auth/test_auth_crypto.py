"""Signing keys are encrypted at rest with AES-GCM and open only with the right key and row."""

from __future__ import annotations

import base64
import os

import pytest
from pydantic import ValidationError

from fireline_auth.config import Settings
from fireline_runtime.secret_box import SecretBox, UndecryptableSecret, decode_key


def test_round_trip() -> None:
    box = SecretBox(os.urandom(32))
    sealed = box.seal(b"private key bytes", b"kid-1")
    assert b"private key bytes" not in sealed
    assert box.open(sealed, b"kid-1") == b"private key bytes"


def test_each_seal_uses_a_fresh_nonce() -> None:
    box = SecretBox(os.urandom(32))
    assert box.seal(b"same", b"kid") != box.seal(b"same", b"kid")


def test_another_key_another_row_or_tampering_does_not_open() -> None:
    key = os.urandom(32)
    sealed = SecretBox(key).seal(b"secret", b"kid-1")
    with pytest.raises(UndecryptableSecret):
        SecretBox(os.urandom(32)).open(sealed, b"kid-1")
    with pytest.raises(UndecryptableSecret):
        SecretBox(key).open(sealed, b"kid-2")
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(UndecryptableSecret):
        SecretBox(key).open(tampered, b"kid-1")


def test_encryption_key_must_be_32_urlsafe_base64_bytes() -> None:
    good = base64.urlsafe_b64encode(os.urandom(32)).decode()
    assert len(decode_key(good)) == 32
    assert len(decode_key(good.rstrip("="))) == 32
    with pytest.raises(ValueError, match="32 bytes"):
        decode_key(base64.urlsafe_b64encode(os.urandom(16)).decode())


def test_settings_explain_a_missing_or_bad_encryption_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("FIRELINE_SIGNING_KEY_ENCRYPTION_KEY", raising=False)
    with pytest.raises(ValidationError, match="required: the urlsafe base64 of 32 random bytes"):
        Settings(database_url="postgresql://x/y")
    with pytest.raises(ValidationError, match="32 bytes"):
        Settings(database_url="postgresql://x/y", signing_key_encryption_key="c2hvcnQ=")
    encoded = base64.urlsafe_b64encode(b"k" * 32).decode()
    settings = Settings(database_url="postgresql://x/y", signing_key_encryption_key=encoded)
    assert settings.encryption_key == b"k" * 32
    assert encoded not in repr(settings)
