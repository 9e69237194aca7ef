"""Bounds on what enters Fireline from outside, shared by every service that reads it.

Three limits, each enforced where the input enters, so nothing downstream ever meets a value it
cannot hold:

* **identifiers** (PagerDuty event, incident, user, service and policy ids): at most
  :data:`MAX_EXTERNAL_ID_LENGTH` characters. They are keys of unique btree indexes downstream
  (deliveries' dedupe key, incidents' source id, the timeline's source event), and a btree entry
  holds at most about 2,700 bytes; 255 characters are at most 1,020 UTF-8 bytes, with room for
  the other columns of those indexes. PagerDuty's own ids are 7 to 38 characters.
* **JSON nesting depth**: at most :data:`MAX_JSON_DEPTH` arrays or objects inside one another.
  Everything that walks a document (text normalisation, the secret scanner's parser) is
  recursive; a body nested hundreds deep would exhaust Python's stack there. PagerDuty's
  deliveries nest about six deep.
* **instants**: between :data:`EARLIEST_INSTANT` and :data:`LATEST_INSTANT` (UTC). Python's
  ``datetime`` ends at years 1 and 9999, so a time near either end overflows as soon as it is
  moved to UTC or shifted by a day; inside this window every conversion and every day-sized
  arithmetic step stays representable, in Python and in PostgreSQL alike.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any, Final

MAX_EXTERNAL_ID_LENGTH: Final = 255
MAX_JSON_DEPTH: Final = 64

_MARGIN = timedelta(days=2)
EARLIEST_INSTANT: Final = datetime.min.replace(tzinfo=UTC) + _MARGIN
LATEST_INSTANT: Final = datetime.max.replace(tzinfo=UTC) - _MARGIN


class TooDeep(ValueError):
    """A JSON document nests arrays and objects deeper than the limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"it nests arrays or objects more than {limit} deep")
        self.limit = limit


def json_depth_within(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether ``value`` nests lists and dicts at most ``limit`` deep (walked without recursion)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        if depth + 1 > limit:
            return False
        stack.extend((child, depth + 1) for child in children)
    return True


def loads_bounded(raw: bytes | str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads`` that raises :class:`TooDeep` (a ValueError) past ``max_depth``.

    Bad JSON raises ValueError as ``json.loads`` does, so callers answer both with one 4xx.
    """
    try:
        document = json.loads(raw)
    except RecursionError:
        # The C parser gives up far deeper than our limit; either way the answer is the same.
        raise TooDeep(max_depth) from None
    # Nesting needs an opening bracket per level, so a text with no more of them than the limit
    # (a PagerDuty delivery has a few dozen) cannot nest too deep: counting them, in C, spares
    # the walk. Brackets inside strings are counted too, which only makes the walk more likely.
    if _brackets(raw) > max_depth and not json_depth_within(document, max_depth):
        raise TooDeep(max_depth)
    return document


def _brackets(raw: bytes | str) -> int:
    if isinstance(raw, str):
        return raw.count("{") + raw.count("[")
    return raw.count(b"{") + raw.count(b"[")


def within_instant_bounds(moment: datetime) -> datetime | None:
    """``moment`` in UTC, or None when it lies outside the window every component can hold.

    ``moment`` must be aware. A naive or overflowing value is never guessed at.
    """
    try:
        utc = moment.astimezone(UTC)
    except OverflowError:
        return None
    if not EARLIEST_INSTANT <= utc <= LATEST_INSTANT:
        return None
    return utc
