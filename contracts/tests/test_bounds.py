"""The shared bounds: depth is measured without recursion, instants near the calendar's ends are
refused rather than overflowing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from fireline_contracts.bounds import (
    EARLIEST_INSTANT,
    LATEST_INSTANT,
    TooDeep,
    json_depth_within,
    loads_bounded,
    within_instant_bounds,
)


@pytest.mark.parametrize("depth", [1, 63, 64])
def test_documents_up_to_the_limit_load(depth: int) -> None:
    text = "[" * depth + "]" * depth
    assert loads_bounded(text, 64) is not None
    assert json_depth_within(loads_bounded(text, 64), depth)


@pytest.mark.parametrize("depth", [65, 600, 100_000])
def test_deeper_documents_are_too_deep_not_a_recursion_error(depth: int) -> None:
    with pytest.raises(TooDeep):
        loads_bounded('{"a": ' + "[" * depth + "]" * depth + "}", 64)


def test_objects_count_like_arrays() -> None:
    assert json_depth_within({"a": {"b": [1]}}, 3)
    assert not json_depth_within({"a": {"b": [1]}}, 2)
    assert json_depth_within("text", 0)


def test_bad_json_is_still_a_value_error() -> None:
    with pytest.raises(json.JSONDecodeError):
        loads_bounded(b"{nope")


@pytest.mark.parametrize(
    "moment",
    [
        datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))),  # overflows on the way to UTC
        datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-1))),
        datetime(1, 1, 2, tzinfo=UTC),
        datetime(9999, 12, 30, tzinfo=UTC),
    ],
)
def test_instants_at_the_calendars_ends_are_outside(moment: datetime) -> None:
    assert within_instant_bounds(moment) is None


def test_instants_inside_come_back_in_utc() -> None:
    local = datetime(2026, 3, 1, 12, tzinfo=timezone(timedelta(hours=2)))
    assert within_instant_bounds(local) == datetime(2026, 3, 1, 10, tzinfo=UTC)
    assert within_instant_bounds(EARLIEST_INSTANT) == EARLIEST_INSTANT
    assert within_instant_bounds(LATEST_INSTANT) == LATEST_INSTANT
