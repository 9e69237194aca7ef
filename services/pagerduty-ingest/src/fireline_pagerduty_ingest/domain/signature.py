"""PagerDuty V3 webhook signatures: ``X-PagerDuty-Signature: v1=<hex>[,v1=<hex>...]``.

PagerDuty signs each delivery with HMAC-SHA256 over the request body, keyed by the subscription's
signing secret, and sends one ``v1=`` value per active secret so a secret can be rotated without
downtime. This module is pure: it neither reads the request nor knows where secrets are stored.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

SIGNATURE_HEADER = "X-PagerDuty-Signature"
"""Name of the header PagerDuty puts the signatures in."""

SIGNATURE_VERSION = "v1"
"""The only signature scheme PagerDuty documents; other versions in a header are ignored."""

# A SHA-256 digest in hex. Candidates of any other shape are skipped before comparing: they can
# never match, and hmac.compare_digest refuses non-ASCII text, which a hostile header may carry.
_HEX_DIGEST_LENGTH = 64
_HEX_CHARS = frozenset("0123456789abcdef")


def sign(body: bytes, secret: str) -> str:
    """The ``v1=<hex>`` signature PagerDuty would send for ``body`` under ``secret``."""
    return f"{SIGNATURE_VERSION}={_digest(body, secret)}"


def header_for(body: bytes, secrets: Sequence[str]) -> str:
    """A full signature header for ``body``: one ``v1=`` value per secret, comma-separated."""
    _refuse_bare_string(secrets)
    return ",".join(sign(body, secret) for secret in secrets)


def verify(body: bytes, header: str | None, secrets: Sequence[str]) -> bool:
    """Whether any ``v1=`` signature in ``header`` matches ``body`` under any of ``secrets``.

    ``body`` must be the raw request bytes exactly as received: PagerDuty signed those bytes, and
    parsing then re-serialising the JSON (key order, whitespace, ``\\u`` escapes) changes them.
    Several secrets are accepted because during a rotation both the old and the new secret are
    active, and PagerDuty sends a signature for each; one match is enough.
    """
    _refuse_bare_string(secrets)
    if not header or not secrets:
        return False
    candidates = _v1_signatures(header)
    if not candidates:
        return False
    # Compute each secret's digest once rather than once per candidate: the header is
    # attacker-controlled and may repeat v1= many times.
    expected = [_digest(body, secret).encode("ascii") for secret in secrets]
    # compare_digest takes time independent of where the strings differ, so response timing
    # cannot be used to guess a valid signature byte by byte.
    return any(
        hmac.compare_digest(candidate, digest) for candidate in candidates for digest in expected
    )


def _digest(body: bytes, secret: str) -> str:
    # The key is the secret string's UTF-8 bytes, as PagerDuty's own examples use; the digest is
    # lowercase hex.
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def _v1_signatures(header: str) -> list[bytes]:
    """The well-formed ``v1`` digests in ``header``, lowercased; anything else is ignored.

    PagerDuty documents a comma-separated list. Whitespace around items is tolerated because
    proxies and hand-written test requests add it; other versions are skipped so a future ``v2``
    does not break verification while ``v1`` is still sent alongside it.
    """
    found: list[bytes] = []
    for item in header.split(","):
        version, sep, value = item.strip().partition("=")
        if not sep or version.strip().lower() != SIGNATURE_VERSION:
            continue
        # Hex is case-insensitive; PagerDuty sends lowercase, but an uppercase rendering of the
        # same digest is the same signature.
        digest = value.strip().lower()
        if len(digest) == _HEX_DIGEST_LENGTH and set(digest) <= _HEX_CHARS:
            found.append(digest.encode("ascii"))
    return found


def _refuse_bare_string(secrets: Sequence[str]) -> None:
    # A str is itself a Sequence[str]; passing one secret unwrapped would silently treat each
    # character as a secret and never verify anything.
    if isinstance(secrets, str):
        raise TypeError("secrets must be a sequence of secret strings, not a single str")
