"""Opaque keyset cursors for the incidents list (newest first, id breaking ties).

A cursor is base64url JSON of the last item's ``created_at`` and ``id``. It is opaque to clients
and carries no secret, so it is not signed: an altered cursor can only point at another position
in the caller's own org's list.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Final
from uuid import UUID

from fireline_incidents.domain.errors import InvalidCursor

MIN_LIMIT: Final = 1
MAX_LIMIT: Final = 100
DEFAULT_LIMIT: Final = 50
# Real cursors are about 100 characters; anything much longer is not one of ours.
_MAX_CURSOR_LENGTH: Final = 256


@dataclass(frozen=True)
class PagePosition:
    """The last item of a page; the next page starts right after it."""

    created_at: datetime
    incident_id: UUID


def encode_cursor(position: PagePosition) -> str:
    """The opaque cursor for ``position``."""
    document = {"c": position.created_at.isoformat(), "i": str(position.incident_id)}
    raw = json.dumps(document, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> PagePosition:
    """The position a cursor from :func:`encode_cursor` stands for; raises InvalidCursor."""
    if not cursor or len(cursor) > _MAX_CURSOR_LENGTH:
        raise InvalidCursor("The cursor is not valid.")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        document = json.loads(raw)
        created_at = datetime.fromisoformat(document["c"])
        incident_id = UUID(document["i"])
    except (binascii.Error, ValueError, TypeError, KeyError, UnicodeDecodeError):
        raise InvalidCursor("The cursor is not valid.") from None
    if created_at.tzinfo is None:
        raise InvalidCursor("The cursor is not valid.")
    return PagePosition(created_at=created_at, incident_id=incident_id)
