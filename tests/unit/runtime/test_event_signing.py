"""Identity's signature on key events: only its key makes a record a consumer applies."""

from __future__ import annotations

import pytest

from fireline_contracts import KEYS, USERS
from fireline_runtime.event_signing import (
    HEADER,
    EventSigner,
    EventVerifier,
    UnsignedEvent,
    generate_private_key,
    public_key_of,
)

VALUE = b'{"event_type":"KeyCreated","payload":{"key_id":"k"}}'


def _signed(signer: EventSigner, value: bytes = VALUE) -> list[tuple[str, bytes]]:
    return [("event_type", b"KeyCreated"), (HEADER, signer.header(KEYS, value).encode())]


def test_a_record_signed_by_identity_verifies_with_its_public_key() -> None:
    private = generate_private_key()
    EventVerifier([public_key_of(private)]).verify(KEYS, VALUE, _signed(EventSigner(private)))


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda s: (VALUE, []), id="unsigned"),
        pytest.param(lambda s: (VALUE.replace(b'"k"', b'"x"'), _signed(s)), id="value-changed"),
        pytest.param(
            lambda s: (VALUE, [(HEADER, s.header(USERS, VALUE).encode())]), id="other-topic"
        ),
        pytest.param(
            lambda s: (VALUE, [(HEADER, b"ed25519:" + s.kid.encode() + b":AAAA")]), id="garbage"
        ),
        pytest.param(lambda s: (VALUE, _signed(s) + _signed(s)), id="two-signatures"),
        pytest.param(
            lambda s: (VALUE, _signed(EventSigner(generate_private_key()))), id="another-key"
        ),
    ],
)
def test_anything_else_is_refused(forge: object) -> None:
    private = generate_private_key()
    value, headers = forge(EventSigner(private))  # type: ignore[operator]
    with pytest.raises(UnsignedEvent):
        EventVerifier([public_key_of(private)]).verify(KEYS, value, headers)


def test_during_a_rotation_of_identitys_key_both_public_keys_verify() -> None:
    old, new = generate_private_key(), generate_private_key()
    verifier = EventVerifier([public_key_of(old), public_key_of(new)])
    for private in (old, new):
        verifier.verify(KEYS, VALUE, _signed(EventSigner(private)))


@pytest.mark.parametrize("key", ["", "not base64!", "c2hvcnQ"])
def test_a_malformed_key_in_the_settings_stops_start_up(key: str) -> None:
    with pytest.raises(ValueError, match="Ed25519 public key"):
        EventVerifier([key])
