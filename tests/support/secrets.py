"""Credentials made wrong on purpose."""

from __future__ import annotations


def tampered(secret: str) -> str:
    """``secret`` with its last character changed: always a different string (replacing it with a
    fixed character would give the secret back whenever it already ended in that character)."""
    last = secret[-1]
    return secret[:-1] + ("x" if last != "x" else "y")
