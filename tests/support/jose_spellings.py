"""Other spellings of a compact JWS: the same bytes under a lax base64 decoder, a different text.

A verifier that accepts any of them gives one token several spellings, which defeats every cache,
deny list or log keyed on the token's text. Each spelling is checked here to decode to the very
bytes of the original under Python's lax decoder, so a test using them cannot pass vacuously.
"""

from __future__ import annotations

import base64
import binascii

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _lax(segment: str) -> bytes:
    text = segment.rstrip("=").replace("+", "-").replace("/", "_")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def respellings(token: str) -> dict[str, str]:
    """Non-canonical spellings of ``token``'s signature, by what makes each one non-canonical."""
    head, claims, signature = token.split(".")
    unused_bits = len(signature) % 4 in (2, 3)
    if not unused_bits:
        raise ValueError("a signature whose length leaves no unused bits")
    last = _ALPHABET.index(signature[-1])
    spellings = {
        "non-zero unused bits": signature[:-1] + _ALPHABET[last ^ 1],
        "padding": signature + "=" * (-len(signature) % 4),
        "standard alphabet": signature.replace("-", "+").replace("_", "/"),
    }
    if spellings["standard alphabet"] == signature:
        # A signature without "-" or "_" (about one in 50,000) has no such spelling.
        del spellings["standard alphabet"]
    found: dict[str, str] = {}
    for reason, spelled in spellings.items():
        try:
            same = _lax(spelled) == _lax(signature)
        except binascii.Error:
            same = False
        if not same:
            raise AssertionError(f"the {reason} spelling does not decode to the same bytes")
        found[reason] = f"{head}.{claims}.{spelled}"
    return found
