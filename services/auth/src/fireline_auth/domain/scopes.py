"""Scopes (RFC 6749 §3.3): parsing a requested scope and granting a subset of a key's scopes."""

from __future__ import annotations

import re
from collections.abc import Iterable

from fireline_auth.domain.errors import InvalidScope
from fireline_contracts.scopes import ALL_SCOPES

# scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
MAX_SCOPE_LENGTH = 1024

# The scopes identity lets an admin give a key; advertised in the server metadata.
KNOWN_SCOPES = ALL_SCOPES


def parse_scope(raw: str | None) -> frozenset[str] | None:
    """The requested scopes; None when the client asked for none (it then gets all the key's)."""
    if raw is None or raw.strip() == "":
        return None
    if len(raw) > MAX_SCOPE_LENGTH:
        raise InvalidScope("The requested scope is too long.")
    tokens = raw.split(" ")
    if any(not _SCOPE_TOKEN.fullmatch(token) for token in tokens if token != ""):
        raise InvalidScope("The requested scope is malformed.")
    return frozenset(token for token in tokens if token)


def grant(requested: frozenset[str] | None, allowed: Iterable[str]) -> tuple[str, ...]:
    """The scopes to put in the token: the request if it is a subset of ``allowed``, else raise."""
    allowed_set = frozenset(allowed)
    if requested is None:
        return tuple(sorted(allowed_set))
    if not requested <= allowed_set:
        raise InvalidScope("The requested scope exceeds the scopes of this key.")
    return tuple(sorted(requested))


def format_scope(scopes: Iterable[str]) -> str:
    """Scopes as the space-separated string OAuth uses."""
    return " ".join(scopes)
