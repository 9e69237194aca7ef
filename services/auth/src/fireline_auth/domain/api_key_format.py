"""The API key format identity issues, checked here before any database lookup.

``flk_`` + a random part in base62 (at least 160 bits, so at least 27 characters) + a 6-character
base62 CRC32 of the random part. The checksum lets us (and secret scanners) refuse a mistyped or
made-up key without touching the database. Identity builds keys with the same algorithm in its own
``domain/api_key_format.py``; the two must agree.
"""

from __future__ import annotations

import hashlib
import secrets
import zlib

PREFIX = "flk_"
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
CHECKSUM_LENGTH = 6
MIN_RANDOM_LENGTH = 27  # 62**27 > 2**160
# Generous upper bound: keeps the work an anonymous caller can cause small.
MAX_RANDOM_LENGTH = 128
_ALPHABET_SET = frozenset(ALPHABET)


def base62(number: int) -> str:
    """``number`` (>= 0) in base62, most significant digit first."""
    if number < 0:
        raise ValueError("base62 encodes non-negative integers only")
    digits = []
    while True:
        number, rest = divmod(number, 62)
        digits.append(ALPHABET[rest])
        if number == 0:
            return "".join(reversed(digits))


def checksum(random_part: str) -> str:
    """The 6-character checksum of ``random_part``: its CRC32 in base62, left-padded with 0."""
    return base62(zlib.crc32(random_part.encode())).rjust(CHECKSUM_LENGTH, "0")


def is_well_formed(key: str) -> bool:
    """True if ``key`` has the prefix, a long enough base62 random part and a matching checksum."""
    if not key.startswith(PREFIX):
        return False
    body = key[len(PREFIX) :]
    random_part, check = body[:-CHECKSUM_LENGTH], body[-CHECKSUM_LENGTH:]
    if not MIN_RANDOM_LENGTH <= len(random_part) <= MAX_RANDOM_LENGTH:
        return False
    if not _ALPHABET_SET.issuperset(body):
        return False
    return secrets.compare_digest(check, checksum(random_part))


def digest(key: str) -> str:
    """Lower-case hex SHA-256 of the key: the only form of it identity publishes and we store."""
    return hashlib.sha256(key.encode()).hexdigest()


def generate(random_length: int = MIN_RANDOM_LENGTH) -> str:
    """A new key (used by tests and tools; identity issues the real ones)."""
    if random_length < MIN_RANDOM_LENGTH:
        raise ValueError(f"the random part needs at least {MIN_RANDOM_LENGTH} characters")
    random_part = "".join(secrets.choice(ALPHABET) for _ in range(random_length))
    return PREFIX + random_part + checksum(random_part)
