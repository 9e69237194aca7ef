"""The list's pagination cursors round-trip and refuse anything else."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from uuid import uuid4

import pytest

from fireline_incidents.domain.errors import InvalidCursor
from fireline_incidents.domain.pagination import PagePosition, decode_cursor, encode_cursor
from fireline_incidents.domain.timeline import (
    TimelinePosition,
    decode_timeline_cursor,
    encode_timeline_cursor,
)


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


@pytest.mark.parametrize(
    "document",
    [
        '{"i": "%s", "t": "2025-03-14T09:26:53+00:00", "s": Infinity}',
        '{"i": "%s", "t": "2025-03-14T09:26:53+00:00", "s": 100000000000000000000}',
        '{"i": "%s", "t": "2025-03-14T09:26:53", "s": 1}',
        '["%s"]',
    ],
)
def test_a_forged_timeline_cursor_is_invalid_not_an_error(document: str) -> None:
    incident_id = uuid4()
    raw = (document % incident_id).encode()
    cursor = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    with pytest.raises(InvalidCursor):
        decode_timeline_cursor(cursor, incident_id=incident_id)


def test_a_timeline_cursor_round_trips_for_its_own_incident_only() -> None:
    position = TimelinePosition(
        incident_id=uuid4(), occurred_at=datetime(2025, 3, 14, tzinfo=UTC), seq=7
    )
    cursor = encode_timeline_cursor(position)

    assert decode_timeline_cursor(cursor, incident_id=position.incident_id) == position
    with pytest.raises(InvalidCursor, match="another incident"):
        decode_timeline_cursor(cursor, incident_id=uuid4())
