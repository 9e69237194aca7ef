"""Scenario 4: webhook → IncidentStarted latency at a fixed rate, open loop.

Deliveries are sent at fixed times (``rate`` a second) whether or not earlier ones have been
answered, so a slow answer delays no later send and cannot hide itself (coordinated omission).
A delivery's latency runs from its 202 arriving to the IncidentStarted for its PagerDuty incident
being consumed from the incidents topic, the way a downstream consumer would see it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from aiokafka import AIOKafkaConsumer

from bench import deliveries
from bench.context import Context
from bench.rawhttp import HttpError
from bench.report import Outcome, ms
from bench.stats import summary_ms
from fireline_contracts import INCIDENTS, IncidentStarted, parse_event, topic_name

TARGET_P99_MS = 150.0
MATCH_TIMEOUT_S = 30.0
"""How long after the last answer the consumer may still deliver a missing IncidentStarted."""


class IncidentStarts:
    """When each PagerDuty incident's IncidentStarted was consumed (perf_counter seconds)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.seen: dict[str, float] = {}
        self.repeats = 0
        self.arrived = asyncio.Event()
        """Set whenever records arrived, so a waiter wakes up to look at ``seen``."""
        # No group: nothing to join or commit, every partition is ours. Tansu answers an idle
        # fetch only at its deadline, so a short one keeps that wait out of the figures.
        self.consumer: Any = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            group_id=None,
            auto_offset_reset="latest",
            enable_auto_commit=False,
            fetch_max_wait_ms=20,
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Subscribed, with every partition's position fixed at its end, before any send."""
        await self.consumer.start()
        deadline = time.monotonic() + 20
        while not self.consumer.assignment():
            if time.monotonic() > deadline:
                raise TimeoutError("no partition of the incidents topic was assigned in 20 s")
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
            now = time.perf_counter()
            for records in batches.values():
                for record in records:
                    self._record(record.value, now)
            if batches:
                self.arrived.set()

    def _record(self, value: bytes, now: float) -> None:
        try:
            event = parse_event(value, spec=INCIDENTS)
        except ValueError:
            return  # not ours to judge here; the contract tests cover malformed events
        if not isinstance(event, IncidentStarted) or event.payload.source is None:
            return
        external_id = event.payload.source.external_id
        if external_id is None:
            return
        if external_id in self.seen:
            self.repeats += 1
        else:
            self.seen[external_id] = now


async def end_to_end(ctx: Context) -> Outcome:
    outcome = Outcome.of(4)
    assert ctx.integration is not None
    rate, seconds = ctx.options.rate, ctx.options.latency_seconds
    batch = deliveries.make(max(1, round(rate * seconds)), ctx.integration.secret)
    starts = IncidentStarts(
        ctx.target.kafka_bootstrap, topic_name(INCIDENTS, ctx.target.topic_prefix)
    )
    await starts.start()
    try:
        sent = await send_open_loop(ctx, batch, rate)
        await _wait_matches(starts, set(sent.answered), MATCH_TIMEOUT_S)
    finally:
        await starts.stop()
    latencies = [
        starts.seen[pd_id] - at for pd_id, at in sent.answered.items() if pd_id in starts.seen
    ]
    figures = summary_ms(latencies, (50, 95, 99))
    matched = len(latencies)
    outcome.figures = {
        "rate_per_s": rate,
        "seconds": seconds,
        "sent": len(batch),
        "answered_2xx": len(sent.answered),
        "not_answered_2xx": sent.refused,
        "matched": matched,
        "missing": len(batch) - matched,
        "repeated_incident_started": starts.repeats,
        "latency_ms": figures,
        "max_send_lag_ms": round(sent.max_lag * 1000, 2),
        "target_p99_ms": TARGET_P99_MS,
        "note": "consumer fetch_max_wait_ms=20: an idle Tansu fetch adds up to 20 ms",
    }
    passed = bool(figures) and figures["p99"] < TARGET_P99_MS
    outcome.figures["pass"] = passed and matched == len(batch)
    outcome.show("rate / sent", f"{rate:g}/s x {seconds:g} s = {len(batch)}")
    outcome.check("matched", f"{matched}/{len(batch)}", "== sent", matched == len(batch))
    outcome.show("p50 / p95 ms", ms(figures, "p50", "p95"))
    outcome.check("p99 ms", ms(figures, "p99"), f"< {TARGET_P99_MS:.0f}", passed)
    outcome.show("max ms", ms(figures, "max"))
    if sent.refused:
        outcome.show("not answered 2xx", str(sent.refused))
    return outcome


class _Sent:
    def __init__(self) -> None:
        self.answered: dict[str, float] = {}
        self.refused = 0
        self.max_lag = 0.0


async def send_open_loop(ctx: Context, batch: list[deliveries.Delivery], rate: float) -> _Sent:
    assert ctx.integration is not None
    url = ctx.integration.webhook_url
    sent = _Sent()

    async def send(d: deliveries.Delivery) -> None:
        try:
            status = await ctx.api.send_webhook(url, d.body, d.headers)
        except HttpError:
            sent.refused += 1
            return
        if status == 202:
            sent.answered[d.pagerduty_incident_id] = time.perf_counter()
        else:
            sent.refused += 1

    loop = asyncio.get_running_loop()
    start = loop.time() + 0.1
    tasks = []
    for i, d in enumerate(batch):
        due = start + i / rate
        if (delay := due - loop.time()) > 0:
            await asyncio.sleep(delay)
        # How late the send started: a loaded client would otherwise pass for a fast system.
        sent.max_lag = max(sent.max_lag, loop.time() - due)
        tasks.append(asyncio.create_task(send(d)))
    await asyncio.gather(*tasks)
    return sent


async def _wait_matches(starts: IncidentStarts, wanted: set[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not wanted <= starts.seen.keys():
        starts.arrived.clear()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(starts.arrived.wait(), remaining)
