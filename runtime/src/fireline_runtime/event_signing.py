"""Signed events: how a consumer knows a record on a topic that grants access came from its owner.

Kafka does not tell a consumer which principal produced a record, so ACLs alone leave every
consumer trusting whoever managed to write (a superuser, a misconfigured ACL, a broker without
authentication). Identity therefore signs every record of its keys topic with an Ed25519 key only
it holds, and the services that act on those records accept a record only if the signature
verifies with one of identity's public keys, which they read from their own settings, never from
the bus.

The signature travels in the record header :data:`HEADER` as ``ed25519:<kid>:<signature>``
(base64url, no padding), over the topic's unprefixed name and the record's value, so a signed
value cannot be replayed on another topic. ``kid`` names the public key (the first 8 bytes of its
SHA-256, hex) so identity's key can be rotated: consumers accept several public keys while the
new one is introduced. The value is the event's whole JSON, key id and event type included, so
a signature cannot be moved to another key's record either.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable, Sequence

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from fireline_contracts import TopicSpec

HEADER = "fireline-signature"
_SCHEME = "ed25519"
_DOMAIN = b"fireline-event-signature-v1\n"


class UnsignedEvent(ValueError):
    """A record that does not carry a valid signature of the topic's owner.

    A ``ValueError``, like a record that does not parse: the consumer sends it to the dead-letter
    topic (where an operator can see what was forged) and applies nothing.
    """


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _message(spec: TopicSpec, value: bytes) -> bytes:
    return _DOMAIN + spec.name.encode() + b"\n" + value


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(public_key: bytes) -> str:
    return hashlib.sha256(public_key).hexdigest()[:16]


def generate_private_key() -> str:
    """A new signing key in the settings' encoding (base64url of the 32-byte Ed25519 seed)."""
    seed = Ed25519PrivateKey.generate().private_bytes(
        Encoding.Raw, PrivateFormat.Raw, NoEncryption()
    )
    return _b64(seed)


def _key_bytes(encoded: str, what: str) -> bytes:
    try:
        raw = _unb64(encoded.strip())
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"an Ed25519 {what} key must be base64url") from exc
    if len(raw) != 32:
        raise ValueError(f"an Ed25519 {what} key is 32 bytes (base64url, 43 characters)")
    return raw


def load_private_key(encoded: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(_key_bytes(encoded, "private"))


def public_key_of(private_key: str) -> str:
    """The public key to give consumers, in the settings' encoding, for ``private_key``."""
    return _b64(_raw_public(load_private_key(private_key).public_key()))


class EventSigner:
    """Signs the records of the topics its owner writes (identity's keys topic)."""

    def __init__(self, private_key: str) -> None:
        self._key = load_private_key(private_key)
        self.kid = key_id(_raw_public(self._key.public_key()))

    def header(self, spec: TopicSpec, value: bytes) -> str:
        signature = self._key.sign(_message(spec, value))
        return f"{_SCHEME}:{self.kid}:{_b64(signature)}"

    def verifier(self) -> EventVerifier:
        """The verifier of this signer's own records (identity reading its own topic)."""
        return EventVerifier([_b64(_raw_public(self._key.public_key()))])


class EventVerifier:
    """Accepts a record only if it is signed by one of the owner's public keys."""

    def __init__(self, public_keys: Iterable[str]) -> None:
        self._keys: dict[str, Ed25519PublicKey] = {}
        for encoded in public_keys:
            raw = _key_bytes(encoded, "public")
            self._keys[key_id(raw)] = Ed25519PublicKey.from_public_bytes(raw)
        if not self._keys:
            raise ValueError("at least one public key is needed")

    def verify(
        self, spec: TopicSpec, value: bytes, headers: Sequence[tuple[str, bytes]] | None
    ) -> None:
        """Raise :class:`UnsignedEvent` unless ``value`` carries a valid signature."""
        signatures = [v for k, v in headers or () if k == HEADER]
        if len(signatures) != 1:
            raise UnsignedEvent(f"{spec.name}: no {HEADER} header, or more than one")
        scheme, _, rest = signatures[0].decode("ascii", "replace").partition(":")
        kid, _, encoded = rest.partition(":")
        key = self._keys.get(kid)
        if scheme != _SCHEME or key is None:
            raise UnsignedEvent(f"{spec.name}: signed by a key that is not the owner's")
        try:
            key.verify(_unb64(encoded), _message(spec, value))
        except (InvalidSignature, binascii.Error, ValueError):
            raise UnsignedEvent(f"{spec.name}: the signature does not verify") from None


def split_keys(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


if __name__ == "__main__":
    # A new pair for a deployment: the first line is identity's FIRELINE_EVENT_SIGNING_KEY, the
    # second the FIRELINE_IDENTITY_EVENT_PUBLIC_KEYS of every service that acts on key events.
    private = generate_private_key()
    print(private)
    print(public_key_of(private))
