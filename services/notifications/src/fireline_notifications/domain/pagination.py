"""Opaque cursors for the delivery log, which is read newest first.

Attempts are numbered in the order they were recorded; a cursor is the number of the last one a
page showed, and the next page starts below it. It carries no secret, so it is not signed: an
altered one can only point at another position in the same endpoint's log.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Final

from fireline_notifications.domain.errors import InvalidCursor

MIN_LIMIT: Final = 1
MAX_LIMIT: Final = 100
DEFAULT_LIMIT: Final = 50
_FORM: Final = re.compile(r"attempt:([1-9][0-9]{0,18})")


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"attempt:{seq}".encode()).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> int:
    """The attempt number :func:`encode_cursor` was given; raises InvalidCursor otherwise."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, ValueError):
        raise InvalidCursor("The cursor is not valid.") from None
    found = _FORM.fullmatch(text)
    if found is None:
        raise InvalidCursor("The cursor is not valid.")
    return int(found.group(1))
