"""The API key format, the one wire rule identity (which issues keys) and auth (which checks them
before any lookup) must agree on: ``flk_`` + 27 random base62 characters + a 6-character base62
CRC32. Standard library only, and pinned by test vectors so other implementations can follow it.

* ``flk_`` lets secret scanners and humans recognise a Fireline key; the whole key matches
  ``SCANNER_PATTERN``.
* 27 characters drawn uniformly from 62 carry 27 * log2(62) ~= 160.8 bits of entropy.
* The checksum is ``zlib.crc32`` of the random part's ASCII bytes, written in base62 (alphabet
  ``0-9A-Za-z``, most significant digit first) and left-padded with ``0`` to 6 characters
  (62**6 > 2**32, so every CRC32 fits). A typo is caught before any database lookup.
* Only the lower-case hex SHA-256 of the whole key (prefix and checksum included) is stored.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import zlib

PREFIX = "flk_"
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
RANDOM_LENGTH = 27
CHECKSUM_LENGTH = 6
KEY_LENGTH = len(PREFIX) + RANDOM_LENGTH + CHECKSUM_LENGTH
ENTROPY_BITS = RANDOM_LENGTH * math.log2(len(ALPHABET))
HINT_SUFFIX_LENGTH = 4
SCANNER_PATTERN = r"\bflk_[0-9A-Za-z]{33}\b"
"""A regular expression a secret scanner can use to find keys in text (the checksum then tells
a real key from a look-alike without asking Fireline)."""

_ALPHABET_SET = frozenset(ALPHABET)

# Guard against someone shortening the key below the promised strength.
assert len(ALPHABET) ** RANDOM_LENGTH >= 2**160


def base62(number: int, width: int) -> str:
    """``number`` in base62, left-padded with ``0`` to ``width`` characters."""
    if number < 0:
        raise ValueError("base62 encodes non-negative integers only")
    digits: list[str] = []
    while number:
        number, remainder = divmod(number, len(ALPHABET))
        digits.append(ALPHABET[remainder])
    return "".join(reversed(digits)).rjust(width, ALPHABET[0])


def checksum(random_part: str) -> str:
    """The 6-character base62 CRC32 of the random part."""
    return base62(zlib.crc32(random_part.encode("ascii")), CHECKSUM_LENGTH)


def generate() -> str:
    """A fresh key from the operating system's CSPRNG."""
    random_part = "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_LENGTH))
    return PREFIX + random_part + checksum(random_part)


def is_well_formed(candidate: str) -> bool:
    """True when ``candidate`` has the prefix, length, alphabet and a matching checksum.

    Exactly the shape identity issues: the fixed length also bounds the work an anonymous
    caller can make auth do before it is refused.
    """
    if len(candidate) != KEY_LENGTH or not candidate.startswith(PREFIX):
        return False
    body = candidate[len(PREFIX) :]
    if not set(body) <= _ALPHABET_SET:
        return False
    random_part, check = body[:RANDOM_LENGTH], body[RANDOM_LENGTH:]
    return secrets.compare_digest(checksum(random_part), check)


def digest(key: str) -> str:
    """The lower-case hex SHA-256 of the key: the only form of it that is ever stored."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


SECRET_FINGERPRINT_CLAIM = "sfp"  # noqa: S105 - a claim name, not a credential
"""The access-token claim naming which of a key's secrets bought the token."""


def secret_fingerprint(secret_digest: str) -> str:
    """A short, one-way name for a key's secret, carried in every token it bought.

    After a rotation the old secret's tokens must die with its grace period, and only the token can
    say which secret bought it: auth may still be honouring the old secret for a few milliseconds
    after identity rotated it, so the token's ``iat`` cannot tell. Derived from the stored digest
    (never the secret) under its own label, so it reveals nothing a digest would not.
    """
    labelled = f"fireline secret fingerprint v1:{secret_digest}".encode()
    return hashlib.sha256(labelled).hexdigest()[:16]


def hint(key: str) -> str:
    """What lists show so people can tell keys apart: the prefix and the last 4 characters."""
    return PREFIX + key[-HINT_SUFFIX_LENGTH:]
