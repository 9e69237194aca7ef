"""Instants in API input: RFC 3339 text with an offset, inside the calendar every component holds.

Pydantic's datetime parsing is lax on purpose: it also takes Unix timestamps (``until=0.5``),
dates without a time and other ISO 8601 shapes, each of which readers interpret differently. A
filter on instants takes one spelling only, the one the OpenAPI documents; and an instant at the
calendar's edge (``fireline_contracts.bounds``) would overflow when moved to UTC for a query.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from fireline_contracts.bounds import EARLIEST_INSTANT, LATEST_INSTANT, within_instant_bounds

RFC3339_PATTERN = r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"
_RFC3339 = re.compile(RFC3339_PATTERN)


def _rfc3339_text(value: Any) -> Any:
    if not isinstance(value, str) or _RFC3339.match(value) is None:
        raise PydanticCustomError(
            "rfc3339",
            "must be an RFC 3339 date-time with an offset, e.g. 2026-01-31T09:00:00Z",
        )
    return value


def _within_bounds(value: datetime) -> datetime:
    utc = within_instant_bounds(value)
    if utc is None:
        raise PydanticCustomError(
            "instant_out_of_range",
            "must lie between {earliest} and {latest}",
            {"earliest": EARLIEST_INSTANT.isoformat(), "latest": LATEST_INSTANT.isoformat()},
        )
    return utc


Rfc3339Instant = Annotated[
    AwareDatetime,
    BeforeValidator(_rfc3339_text),
    AfterValidator(_within_bounds),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": RFC3339_PATTERN}),
]
"""A query parameter (or field) holding an instant: RFC 3339 only, returned in UTC."""
