"""Offset commits of the batch consumer, off the consuming path and at most every interval.

A consumer commits a record's offset only once the record's transaction committed, so a crash
never skips a record; what it re-delivers instead the inbox turns into no-ops (handlers that
take events without a claim are idempotent, or ignore them). So how often offsets are committed
decides only how much a crash or a rebalance re-delivers, not whether anything is lost. Committed
after every fetch, as FastStream's acknowledgement does, each fetch paid a broker round trip
before the next one could start, and the broker an OffsetCommit request: in an alert storm one
for every few records, at each consuming hop (BENCHMARKS.md, third wave, session 5).

Here the first commit after a quiet spell goes out at once, in the background; later ones wait
until ``interval_s`` has passed since the previous commit, and carry every offset applied
meanwhile. A revoked partition's pending offset is committed before it goes to another member.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord

log = logging.getLogger("fireline_runtime.messaging")

COMMIT_INTERVAL_S = 0.2
"""At most this much applied work is re-delivered after a crash or a lost partition (the inbox
drops it); at most five commits a second per consumer, however fast records arrive."""


class OffsetCommitter:
    """The offsets of applied records, committed soon after, never before they were applied."""

    def __init__(self, *, interval_s: float = COMMIT_INTERVAL_S) -> None:
        self._interval_s = interval_s
        self._pending: dict[TopicPartition, int] = {}
        self.consumer: AIOKafkaConsumer | None = None
        """The group member whose offsets these are; set by whoever fetches with it."""
        self._task: asyncio.Task[None] | None = None
        self._sleeping = False
        self._closing = False
        self._in_flight: asyncio.Future[None] | None = None
        # Never committed: the first batch's commit goes at once. Not 0.0, which is a time on the
        # monotonic clock: a machine up for less than an interval would hold the first commit.
        self._last = -math.inf

    def applied(self, records: Iterable[ConsumerRecord[bytes, bytes]]) -> None:
        """``records`` are applied (their transactions committed): commit past them soon."""
        pending = self._pending
        for record in records:
            tp = TopicPartition(record.topic, record.partition)
            if record.offset >= pending.get(tp, 0):
                pending[tp] = record.offset + 1
        if self._task is None and pending:
            self._task = asyncio.create_task(self._commit_soon(), name="offset-commit")

    async def _commit_soon(self) -> None:
        try:
            # Until nothing is pending: what was applied while a commit was on its way goes in
            # the next one, not whenever the next record happens to arrive.
            while self._pending and not self._closing:
                self._sleeping = True
                try:
                    await asyncio.sleep(max(0.0, self._last + self._interval_s - time.monotonic()))
                finally:
                    self._sleeping = False
                await self.flush()
        finally:
            self._task = None

    async def flush(self, partitions: Iterable[TopicPartition] | None = None) -> None:
        """Commit what is pending now (only ``partitions``' offsets, when given)."""
        consumer = self.consumer
        if consumer is None:
            return
        wanted = self._pending if partitions is None else set(partitions)
        offsets = {tp: self._pending.pop(tp) for tp in list(wanted) if tp in self._pending}
        if not offsets:
            return
        self._last = time.monotonic()
        # A partition taken away meanwhile is no longer this member's to commit; its new owner
        # re-delivers from the last committed offset, and the inbox drops what was applied.
        owned = consumer.assignment()
        offsets = {tp: offset for tp, offset in offsets.items() if tp in owned}
        if not offsets:
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._in_flight = done
        try:
            await consumer.commit(offsets)
        except KafkaError as exc:
            log.info(
                "offsets not committed; the records are re-delivered and the inbox drops them",
                extra={"error": repr(exc), "partitions": len(offsets)},
            )
        finally:
            done.set_result(None)
            if self._in_flight is done:
                self._in_flight = None

    async def settled(self) -> None:
        """Once no commit is on its way: its offsets are no longer pending, so a revocation
        that did not wait for it could hand the partition over before they were committed."""
        while (in_flight := self._in_flight) is not None:
            await asyncio.shield(in_flight)

    async def close(self) -> None:
        """Commit everything pending now, and nothing later: the consumer is about to stop.

        A commit already on its way is waited for, not cancelled (its offsets are no longer
        pending, so cancelling it would drop them); a wait for the next interval is cut short.
        The caller bounds the whole (the broker may be unreachable, and aiokafka retries a
        commit for as long as it is)."""
        self._closing = True
        task = self._task
        if task is not None:
            if self._sleeping:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.flush()

    def listener(self) -> ConsumerRebalanceListener:
        """Commits a partition's pending offset before the partition goes to another member."""
        return _CommitOnRevoke(self)


class _CommitOnRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, committer: OffsetCommitter) -> None:
        self._committer = committer

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        await self._committer.settled()
        await self._committer.flush(revoked)

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        return None
