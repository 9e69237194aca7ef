"""The batch consumer's offset commits: never before a record was applied, at most one per
interval while records keep coming, and what a revoked partition or a stop has pending at once."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace
from typing import cast

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CommitFailedError
from aiokafka.structs import ConsumerRecord

from fireline_runtime.messaging import offsets as offsets_module
from fireline_runtime.messaging.offsets import OffsetCommitter
from support.waiting import wait_for

A0, A1 = TopicPartition("a", 0), TopicPartition("a", 1)


class Member:
    """What the committer uses of a group member: its assignment and its commits."""

    def __init__(self, *owned: TopicPartition) -> None:
        self.owned = set(owned)
        self.commits: list[dict[TopicPartition, int]] = []
        self.refuse: Exception | None = None
        self.gate: asyncio.Event | None = None
        """When set, a commit waits for it: a commit on its way to the broker."""
        self.on_its_way = asyncio.Event()

    def assignment(self) -> set[TopicPartition]:
        return set(self.owned)

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.on_its_way.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.refuse is not None:
            raise self.refuse
        self.commits.append(dict(offsets))


def committer(member: Member, interval_s: float) -> OffsetCommitter:
    made = OffsetCommitter(interval_s=interval_s)
    made.consumer = cast(AIOKafkaConsumer, member)
    return made


def records(tp: TopicPartition, *offsets: int) -> list[ConsumerRecord[bytes, bytes]]:
    return [
        ConsumerRecord(tp.topic, tp.partition, o, 0, 0, None, b"", None, 0, 0, []) for o in offsets
    ]


async def test_the_first_applied_batch_is_committed_at_once_past_its_last_record() -> None:
    member = Member(A0, A1)
    offsets = committer(member, interval_s=60)

    offsets.applied(records(A0, 4, 5) + records(A1, 9))

    assert await wait_for(lambda: _true(bool(member.commits)), timeout=5)
    assert member.commits == [{A0: 6, A1: 10}]


async def test_the_first_commit_does_not_wait_on_a_machine_up_for_less_than_an_interval(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The monotonic clock counts from boot: a first commit timed from 0.0 waited out the rest of
    # the interval on a freshly booted machine.
    # Only the committer's clock: the event loop's own runs on.
    monkeypatch.setattr(offsets_module, "time", SimpleNamespace(monotonic=lambda: 5.0))
    member = Member(A0)
    offsets = committer(member, interval_s=3600)

    offsets.applied(records(A0, 1))

    assert await wait_for(lambda: _true(bool(member.commits)), timeout=5)
    assert member.commits == [{A0: 2}]


async def test_batches_applied_within_the_interval_share_the_next_commit() -> None:
    member = Member(A0, A1)
    offsets = committer(member, interval_s=0.3)
    offsets.applied(records(A0, 1))
    assert await wait_for(lambda: _true(len(member.commits) == 1), timeout=5)

    offsets.applied(records(A0, 2))
    offsets.applied(records(A1, 7))
    offsets.applied(records(A0, 3))

    assert await wait_for(lambda: _true(len(member.commits) == 2), timeout=5)
    assert member.commits == [{A0: 2}, {A0: 4, A1: 8}]


async def test_what_is_applied_while_a_commit_is_on_its_way_goes_in_the_next_one() -> None:
    member = Member(A0)
    member.gate = asyncio.Event()
    offsets = committer(member, interval_s=0.05)
    offsets.applied(records(A0, 1))
    await asyncio.wait_for(member.on_its_way.wait(), 5)  # the commit of 2, held at the gate

    offsets.applied(records(A0, 2))
    member.gate.set()

    assert await wait_for(lambda: _true(len(member.commits) == 2), timeout=5)
    assert member.commits == [{A0: 2}, {A0: 3}]


async def test_a_stop_waits_for_the_commit_on_its_way_and_commits_the_rest() -> None:
    member = Member(A0, A1)
    member.gate = asyncio.Event()
    offsets = committer(member, interval_s=3600)
    offsets.applied(records(A0, 1))
    await asyncio.wait_for(member.on_its_way.wait(), 5)  # the commit of A0, held at the gate
    offsets.applied(records(A1, 4))

    closing = asyncio.create_task(offsets.close())
    member.gate.set()  # close() runs first, while the commit is still on its way
    await closing

    assert member.commits == [{A0: 2}, {A1: 5}]


async def test_a_revocation_waits_for_the_commit_on_its_way() -> None:
    member = Member(A0)
    member.gate = asyncio.Event()
    offsets = committer(member, interval_s=3600)
    offsets.applied(records(A0, 1))
    await asyncio.wait_for(member.on_its_way.wait(), 5)  # A0's offset is no longer pending

    order: list[str] = []

    async def revoke() -> None:
        await offsets.listener().on_partitions_revoked({A0})
        order.append(f"revoked after {len(member.commits)} commit(s)")

    revoking = asyncio.create_task(revoke())
    member.gate.set()  # the revocation runs first, while the commit is still on its way
    await revoking

    assert order == ["revoked after 1 commit(s)"]
    assert member.commits == [{A0: 2}]


async def pending_after_a_commit() -> tuple[Member, OffsetCommitter]:
    """A member that committed {A0: 2}, with A0 up to 3 and A1 up to 6 applied since."""
    member = Member(A0, A1)
    offsets = committer(member, interval_s=3600)
    offsets.applied(records(A0, 1))
    assert await wait_for(lambda: _true(len(member.commits) == 1), timeout=5)
    offsets.applied(records(A0, 2) + records(A1, 5))
    return member, offsets


async def test_a_revoked_partition_is_committed_before_it_goes_and_the_rest_waits() -> None:
    member, offsets = await pending_after_a_commit()

    await offsets.listener().on_partitions_revoked({A1})

    assert member.commits == [{A0: 2}, {A1: 6}]
    await offsets.close()
    assert member.commits == [{A0: 2}, {A1: 6}, {A0: 3}]


async def test_a_partition_no_longer_assigned_is_not_committed() -> None:
    member, offsets = await pending_after_a_commit()
    member.owned = {A0}  # A1 went to another member, which re-delivers from its commit

    await offsets.close()

    assert member.commits == [{A0: 2}, {A0: 3}]


async def test_a_refused_commit_is_logged_and_consuming_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    member = Member(A0)
    member.refuse = CommitFailedError("the group rebalanced")
    offsets = committer(member, interval_s=3600)

    with caplog.at_level(logging.INFO, logger="fireline_runtime.messaging"):
        offsets.applied(records(A0, 1))
        assert await wait_for(lambda: _true("offsets not committed" in caplog.text), timeout=5)

    member.refuse = None
    offsets.applied(records(A0, 2))
    await offsets.close()
    assert member.commits == [{A0: 3}]


async def _true(value: bool) -> bool:
    await asyncio.sleep(0)
    return value
