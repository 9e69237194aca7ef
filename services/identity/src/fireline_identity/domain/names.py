"""The one rule for names identity stores (keys, users, orgs): trimmed, bounded, one plain line."""

from __future__ import annotations

from fireline_contracts.text import first_name_control
from fireline_identity.domain.errors import InvalidInput


def trimmed_name(raw: str, max_length: int) -> str:
    """``raw`` trimmed; InvalidInput unless 1 to ``max_length`` characters without controls."""
    name = raw.strip()
    if not 1 <= len(name) <= max_length:
        raise InvalidInput("name", f"must be 1-{max_length} characters after trimming")
    if (control := first_name_control(name)) is not None:
        # Names appear in lists, logs and the audit log, where these would disguise them.
        raise InvalidInput("name", f"must not contain control or bidi characters ({control})")
    return name
