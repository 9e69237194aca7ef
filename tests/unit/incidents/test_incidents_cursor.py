"""The list's pagination cursors round-trip and refuse anything else."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from uuid import uuid4

import pytest

from fireline_incidents.domain.errors import InvalidCursor
from fireline_incidents.domain.pagination import PagePosition, decode_cursor, encode_cursor


def test_a_cursor_round_trips_to_the_microsecond() -> None:
    position = PagePosition(
        created_at=datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC), incident_id=uuid4()
    )

    cursor = encode_cursor(position)

    assert decode_cursor(cursor) == position
    assert cursor.isascii()
    assert "=" not in cursor, "no padding, so it needs no escaping in a query string"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "not-base64!!",
        _b64(b"not json"),
        _b64(b"[]"),
        _b64(b'{"c": "2024-05-01T12:00:00+00:00"}'),
        _b64(b'{"c": "yesterday", "i": "6f1c3b5e-0000-4000-8000-000000000000"}'),
        _b64(b'{"c": "2024-05-01T12:00:00+00:00", "i": "nope"}'),
        _b64(b'{"c": "2024-05-01T12:00:00", "i": "6f1c3b5e-0000-4000-8000-000000000000"}'),
        "A" * 1000,
    ],
)
def test_anything_but_an_issued_cursor_is_refused(cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(cursor)
