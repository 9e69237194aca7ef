"""Group-less consumers the scenarios watch topics with, from their end, while they send."""

from __future__ import annotations

import abc
import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer

from bench.target import Target
from fireline_contracts import INCIDENTS, IncidentStarted, TopicSpec, parse_event, topic_name


def idle_fetch_ms(target: Target) -> int:
    """How long the bench's own consumers let the broker hold an empty fetch.

    Apache Kafka answers a fetch as soon as data arrives, so a long wait costs no latency, while
    a 20 ms one made the idle broker answer fifty empty fetches a second: 70 ms of its CPU each
    second, charged to the stack's budget (BENCHMARKS.md). Tansu answers only at the deadline,
    so there a short one keeps that wait out of the figures.
    """
    return 20 if "tansu" in target.broker.lower() else 500


class TopicWatch(abc.ABC):
    """A group-less consumer of one topic from its end; subclasses say what a record means."""

    def __init__(self, target: Target, spec: TopicSpec) -> None:
        self.arrived = asyncio.Event()
        """Set whenever records arrived, so a waiter wakes up to look at what was seen."""
        # No group: nothing to join or commit, every partition is ours.
        self.consumer: Any = AIOKafkaConsumer(
            topic_name(spec, target.topic_prefix),
            bootstrap_servers=target.kafka_bootstrap,
            group_id=None,
            auto_offset_reset="latest",
            enable_auto_commit=False,
            fetch_max_wait_ms=idle_fetch_ms(target),
            **target.kafka_security.client_options(),
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Subscribed, with every partition's position fixed at its end, before any send."""
        await self.consumer.start()
        deadline = time.monotonic() + 20
        while not self.consumer.assignment():
            if time.monotonic() > deadline:
                raise TimeoutError("no partition of the watched topic was assigned in 20 s")
            await asyncio.sleep(0.05)
        for partition in self.consumer.assignment():
            await self.consumer.position(partition)
        self._task = asyncio.create_task(self._consume())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.consumer.stop()

    async def _consume(self) -> None:
        while True:
            batches = await self.consumer.getmany(timeout_ms=100)
            now, wall = time.perf_counter(), time.time()
            for records in batches.values():
                for record in records:
                    self._record(record, now, wall)
            if batches:
                self.arrived.set()

    @abc.abstractmethod
    def _record(self, record: Any, now: float, wall: float) -> None:
        """Take note of one record consumed at ``now`` (perf_counter) and ``wall`` (time)."""


class IncidentStarts(TopicWatch):
    """When each PagerDuty incident's IncidentStarted was produced and consumed."""

    def __init__(self, target: Target, spec: TopicSpec) -> None:
        super().__init__(target, spec)
        self.seen: dict[str, float] = {}
        """PagerDuty incident id -> when its first IncidentStarted was consumed (perf_counter)."""
        self.consumed_at: dict[str, float] = {}
        """The same moment as wall-clock seconds, comparable with the databases' timestamps."""
        self.produced_at: dict[str, float] = {}
        """The record's Kafka timestamp (CreateTime: set by the producer), wall-clock seconds."""
        self.started: Counter[str] = Counter()
        """IncidentStarted records per PagerDuty incident: more than one is a duplicate."""
        self.repeats = 0

    def _record(self, record: Any, now: float, wall: float) -> None:
        try:
            event = parse_event(record.value, spec=INCIDENTS)
        except ValueError:
            return  # not ours to judge here; the contract tests cover malformed events
        if not isinstance(event, IncidentStarted) or event.payload.source is None:
            return
        external_id = event.payload.source.external_id
        if external_id is None:
            return
        self.started[external_id] += 1
        if external_id in self.seen:
            self.repeats += 1
        else:
            self.seen[external_id] = now
            self.consumed_at[external_id] = wall
            self.produced_at[external_id] = record.timestamp / 1000


async def wait_seen(
    watch: TopicWatch, seen: Mapping[str, object], wanted: set[str], timeout: float
) -> None:
    """Until ``seen`` (filled by ``watch``) holds every key in ``wanted``, or ``timeout`` s."""
    await wait_until(watch.arrived, lambda: wanted <= seen.keys(), timeout)


async def wait_until(arrived: asyncio.Event, done: Callable[[], bool], timeout: float) -> None:
    """Until ``done()``, looking again each time ``arrived`` is set, or ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not done():
        arrived.clear()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(arrived.wait(), remaining)
