"""The live feed's promises: per org, in order, resumable from any replica's id, never a gap."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import pytest

from fireline_incidents.domain.live import (
    InvalidPosition,
    LiveEvent,
    LiveFeed,
    Subscription,
    parse_position,
)

ORG, OTHER = uuid.uuid4(), uuid.uuid4()


def started(per_org: int = 1000) -> LiveFeed:
    feed = LiveFeed(per_org=per_org)
    feed.start({0: 10, 1: 20})  # the topic's ends when the replica started
    return feed


def offsets(events: Sequence[LiveEvent | None]) -> list[tuple[int, int]]:
    return [(e.partition, e.offset) for e in events if e is not None]


def received(stream: Subscription) -> LiveEvent:
    event = stream.queue.get_nowait()
    assert event is not None
    return event


async def test_open_streams_get_their_orgs_events_in_order_and_only_those() -> None:
    feed = started()
    mine, theirs = feed.subscribe(ORG, None), feed.subscribe(OTHER, None)

    feed.publish(0, 10, ORG, "IncidentStarted", "{}")
    feed.publish(1, 20, OTHER, "IncidentStarted", "{}")
    feed.publish(1, 21, ORG, "IncidentStatusChanged", "{}")

    got = [received(mine), received(mine)]
    assert offsets(got) == [(0, 10), (1, 21)]
    assert mine.queue.empty()
    assert offsets([received(theirs)]) == [(1, 20)]
    assert got[-1].position == "0:10.1:21"


async def test_a_reconnection_gets_exactly_what_came_after_its_last_id() -> None:
    feed = started()
    first = feed.subscribe(ORG, None)
    for offset in range(10, 14):
        feed.publish(0, offset, ORG, "IncidentStarted", "{}")
    seen = [received(first) for _ in range(2)]
    feed.unsubscribe(first)

    resumed = feed.subscribe(ORG, seen[-1].position)

    assert not resumed.reset
    assert offsets(resumed.backlog) == [(0, 12), (0, 13)]


async def test_the_ready_position_resumes_with_nothing_missed() -> None:
    feed = started()
    stream = feed.subscribe(ORG, None)
    assert stream.position == "0:9.1:19"
    feed.unsubscribe(stream)
    feed.publish(0, 10, ORG, "IncidentStarted", "{}")

    assert offsets(feed.subscribe(ORG, stream.position).backlog) == [(0, 10)]


async def test_an_id_older_than_what_is_held_asks_for_a_reload() -> None:
    feed = started(per_org=2)
    for offset in range(10, 14):
        feed.publish(0, offset, ORG, "IncidentStarted", "{}")

    behind = feed.subscribe(ORG, "0:10.1:19")  # 11 was pushed out of the org's buffer
    before_start = feed.subscribe(OTHER, "0:5.1:19")  # older than this replica

    assert behind.reset
    assert behind.backlog == []
    assert before_start.reset


async def test_another_orgs_traffic_does_not_push_an_org_out() -> None:
    feed = started(per_org=2)
    feed.publish(0, 10, ORG, "IncidentStarted", "{}")
    for offset in range(11, 20):
        feed.publish(0, offset, OTHER, "IncidentStarted", "{}")

    resumed = feed.subscribe(ORG, "0:9.1:19")

    assert not resumed.reset
    assert offsets(resumed.backlog) == [(0, 10)]


async def test_a_stream_too_far_behind_is_ended_so_it_resumes() -> None:
    feed = started()
    stream = feed.subscribe(ORG, None)
    for offset in range(10, 10 + stream.queue.maxsize + 1):
        feed.publish(0, offset, ORG, "IncidentStarted", "{}")

    assert stream.queue.get_nowait() is None
    assert feed.open_streams() == 0


@pytest.mark.parametrize("raw", ["", "x", "0:1;1:2", "0:1." + "1:2" * 2, "-1:3", "0:" + "9" * 30])
def test_a_made_up_position_is_refused(raw: str) -> None:
    with pytest.raises(InvalidPosition):
        parse_position(raw)


async def test_a_partition_added_after_start_takes_its_place_in_every_later_id() -> None:
    """The topic may grow: its new partition's offsets join the id in partition order, and a
    browser resuming from such an id gets what followed it."""
    feed = LiveFeed()
    feed.start({0: 10, 2: 30})
    first = feed.subscribe(ORG, None)
    feed.publish(2, 30, ORG, "IncidentStarted", "{}")
    feed.publish(1, 0, ORG, "IncidentStarted", "{}")  # partition 1 is new
    feed.publish(0, 10, ORG, "IncidentStatusChanged", "{}")

    got = [received(first) for _ in range(3)]
    assert [e.position for e in got] == ["0:9.2:30", "0:9.1:0.2:30", "0:10.1:0.2:30"]
    assert parse_position(got[-1].position) == feed.last_offsets
    resumed = feed.subscribe(ORG, got[1].position)
    assert offsets(resumed.backlog) == [(0, 10)]
