"""GroupCommit: callers that arrive together share one write, and one bad item fails alone."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from fireline_runtime.group_commit import GroupCommit


class Store:
    """A write that takes a moment, so callers pile up behind the one in flight."""

    def __init__(self, *, refuse: str | None = None, away: bool = False) -> None:
        self.groups: list[list[str]] = []
        self.refuse = refuse
        self.away = away

    async def write(self, items: Sequence[str]) -> list[str]:
        await asyncio.sleep(0.01)
        if self.away:
            raise ConnectionResetError("database restarting")
        if self.refuse in items:
            raise ValueError(f"{self.refuse} cannot be stored")
        self.groups.append(list(items))
        return [item.upper() for item in items]


async def test_an_idle_caller_is_written_at_once_and_a_crowd_shares_the_next_write() -> None:
    store = Store()
    group = GroupCommit(store.write, max_batch=100, name="test")

    first = asyncio.create_task(group.submit("a"))
    await asyncio.sleep(0)  # the first write is in flight: the rest arrive during it
    crowd = [asyncio.create_task(group.submit(name)) for name in "bcdef"]

    assert await first == "A"
    assert [await t for t in crowd] == list("BCDEF")
    assert store.groups == [["a"], ["b", "c", "d", "e", "f"]]


async def test_groups_are_capped_at_max_batch() -> None:
    store = Store()
    group = GroupCommit(store.write, max_batch=2, name="test")

    first = asyncio.create_task(group.submit("a"))
    await asyncio.sleep(0)
    rest = await asyncio.gather(*(group.submit(name) for name in "bcde"))

    assert await first == "A"
    assert rest == list("BCDE")
    assert store.groups == [["a"], ["b", "c"], ["d", "e"]]


async def test_an_item_the_store_refuses_fails_alone_and_the_others_are_written() -> None:
    store = Store(refuse="c")
    group = GroupCommit(store.write, max_batch=100, name="test")

    first = asyncio.create_task(group.submit("a"))
    await asyncio.sleep(0)
    results = await asyncio.gather(*(group.submit(n) for n in "bcd"), return_exceptions=True)

    assert await first == "A"
    assert (results[0], results[2]) == ("B", "D")
    assert isinstance(results[1], ValueError)
    assert sorted(item for g in store.groups for item in g) == ["a", "b", "d"]


async def test_a_database_outage_fails_the_whole_group_without_retrying_each() -> None:
    store = Store(away=True)
    group = GroupCommit(store.write, max_batch=100, name="test")

    results = await asyncio.gather(*(group.submit(n) for n in "abc"), return_exceptions=True)

    assert all(isinstance(r, ConnectionResetError) for r in results)
    assert store.groups == []


async def test_a_new_caller_after_an_outage_is_written_again() -> None:
    store = Store(away=True)
    group = GroupCommit(store.write, max_batch=100, name="test")
    with pytest.raises(ConnectionResetError):
        await group.submit("a")

    store.away = False
    assert await group.submit("b") == "B"
