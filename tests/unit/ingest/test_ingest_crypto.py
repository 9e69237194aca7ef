"""Secrets at rest: sealed with AES-GCM, bound to where they are stored, unreadable otherwise."""

from __future__ import annotations

import base64

import pytest

from fireline_pagerduty_ingest.adapters.crypto import (
    InvalidEncryptionKey,
    SecretBox,
    UndecryptableSecret,
    decode_key,
)

KEY = base64.urlsafe_b64encode(bytes(range(32))).decode()


def test_a_sealed_secret_opens_to_the_same_text_and_does_not_contain_it() -> None:
    box = SecretBox.from_text(KEY)

    sealed = box.seal("pd-signing-secret-value", context="i1:secret")

    assert b"pd-signing-secret-value" not in sealed
    assert box.open(sealed, context="i1:secret") == "pd-signing-secret-value"


def test_the_same_secret_seals_differently_each_time() -> None:
    box = SecretBox.from_text(KEY)

    assert box.seal("same", context="c") != box.seal("same", context="c")


def test_a_ciphertext_moved_to_another_row_does_not_open() -> None:
    box = SecretBox.from_text(KEY)
    sealed = box.seal("token", context="integration-1:pagerduty-api-token")

    with pytest.raises(UndecryptableSecret):
        box.open(sealed, context="integration-2:pagerduty-api-token")


def test_another_key_cannot_open_it() -> None:
    sealed = SecretBox.from_text(KEY).seal("token", context="c")
    other = SecretBox(b"\x07" * 32)

    with pytest.raises(UndecryptableSecret):
        other.open(sealed, context="c")


def test_a_tampered_ciphertext_does_not_open() -> None:
    box = SecretBox.from_text(KEY)
    sealed = bytearray(box.seal("token", context="c"))
    sealed[-1] ^= 1

    with pytest.raises(UndecryptableSecret):
        box.open(bytes(sealed), context="c")


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
