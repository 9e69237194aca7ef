"""Secrets at rest: sealed with AES-GCM, bound to where they are stored, unreadable otherwise."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from fireline_runtime.secret_box import (
    InvalidEncryptionKey,
    SecretBox,
    UndecryptableSecret,
    decode_key,
)

KEY = base64.urlsafe_b64encode(bytes(range(32))).decode()


def test_a_sealed_secret_opens_to_the_same_text_and_does_not_contain_it() -> None:
    box = SecretBox.from_text(KEY)

    sealed = box.seal_text("pd-signing-secret-value", context="i1:secret")

    assert b"pd-signing-secret-value" not in sealed
    assert box.open_text(sealed, context="i1:secret") == "pd-signing-secret-value"


def test_the_same_secret_seals_differently_each_time() -> None:
    box = SecretBox.from_text(KEY)

    assert box.seal_text("same", context="c") != box.seal_text("same", context="c")


def test_a_ciphertext_moved_to_another_row_does_not_open() -> None:
    box = SecretBox.from_text(KEY)
    sealed = box.seal_text("token", context="integration-1:pagerduty-api-token")

    with pytest.raises(UndecryptableSecret):
        box.open_text(sealed, context="integration-2:pagerduty-api-token")


def test_another_key_cannot_open_it() -> None:
    sealed = SecretBox.from_text(KEY).seal_text("token", context="c")
    other = SecretBox(b"\x07" * 32)

    with pytest.raises(UndecryptableSecret):
        other.open_text(sealed, context="c")


def test_a_tampered_ciphertext_does_not_open() -> None:
    box = SecretBox.from_text(KEY)
    sealed = bytearray(box.seal_text("token", context="c"))
    sealed[-1] ^= 1

    with pytest.raises(UndecryptableSecret):
        box.open_text(bytes(sealed), context="c")


@pytest.mark.parametrize(
    "text",
    ["", "not base64 at all!", base64.urlsafe_b64encode(b"too short").decode()],
)
def test_unusable_keys_are_refused(text: str) -> None:
    with pytest.raises(InvalidEncryptionKey):
        decode_key(text)


def test_a_key_without_padding_is_accepted() -> None:
    assert decode_key(KEY.rstrip("=")) == bytes(range(32))


def test_the_box_does_not_show_its_key() -> None:
    assert KEY not in repr(SecretBox.from_text(KEY))


def test_a_value_sealed_before_the_version_byte_still_opens_where_accepted() -> None:
    # How auth sealed its signing keys before there was one box: nonce || ciphertext+tag.
    key = bytes(range(32))
    nonce = b"\x01" + bytes(11)  # even a nonce that looks like the version byte
    legacy = nonce + AESGCM(key).encrypt(nonce, b"private key", b"kid-1")
    assert SecretBox(key, accept_unversioned=True).open(legacy, b"kid-1") == b"private key"
    with pytest.raises(UndecryptableSecret):
        SecretBox(key).open(legacy, b"kid-1")
    resealed = SecretBox(key, accept_unversioned=True).seal(b"private key", b"kid-1")
    assert resealed[:1] == b"\x01"
    assert len(resealed) == len(legacy) + 1
