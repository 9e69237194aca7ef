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

from bench import deliveries, hops
from bench.context import Context
from bench.rawhttp import HttpError
from bench.report import Outcome, ms
from bench.stats import summary_ms
from bench.watches import IncidentStarts, wait_seen
from fireline_contracts import ALERTS, INCIDENTS

TARGET_P99_MS = 100.0
LONE_TARGET_P99_MS = 50.0
MATCH_TIMEOUT_S = 30.0
"""How long after the last answer the consumer may still deliver a missing IncidentStarted."""
HOPS_SETTLE_S = 10.0
"""How long the alerts watcher may still take to see alerts produced before the last start."""


async def end_to_end(ctx: Context) -> Outcome:
    """Scenario 4: ``--rate`` (200/s) for ``--latency-seconds``: at the storm's scale."""
    return await steady_rate(
        ctx, Outcome.of(4), ctx.options.rate, ctx.options.latency_seconds, TARGET_P99_MS
    )


async def lone_deliveries(ctx: Context) -> Outcome:
    """Scenario 9: 20/s (``--lone-rate``), far below capacity: a lone delivery must not wait
    for a batch to fill, nor, after an idle gap, for a consumer's idle back-off."""
    return await steady_rate(
        ctx, Outcome.of(9), ctx.options.lone_rate, ctx.options.latency_seconds, LONE_TARGET_P99_MS
    )


async def steady_rate(
    ctx: Context, outcome: Outcome, rate: float, seconds: float, target_p99_ms: float
) -> Outcome:
    assert ctx.integration is not None
    batch = deliveries.make(max(1, round(rate * seconds)), ctx.integration.secret)
    # The alerts topic too, so the figures say which hop the time went to (bench.hops).
    alerts = hops.AlertsProduced(ctx.target, ALERTS)
    starts = IncidentStarts(ctx.target, INCIDENTS)
    async with contextlib.AsyncExitStack() as watching:
        for watch in (alerts, starts):
            await watch.start()
            watching.push_async_callback(watch.stop)
        sent = await send_open_loop(ctx, batch, rate)
        await wait_matches(starts, set(sent.answered), MATCH_TIMEOUT_S)
        # Each alert was produced before its incident started, but the two watchers fetch on
        # their own: the alerts one may still be a fetch behind.
        await wait_seen(alerts, alerts.produced_at, set(sent.answered), HOPS_SETTLE_S)
    hop_figures = await hops.measure(ctx.target, sent.answered_wall, alerts, starts)
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
        "target_p99_ms": target_p99_ms,
        "hops": hop_figures,
        "note": "consumer fetch_max_wait_ms=20 on Tansu (an idle fetch adds up to 20 ms), "
        "500 on Apache Kafka (answered when data arrives)",
    }
    passed = bool(figures) and figures["p99"] < target_p99_ms
    outcome.figures["pass"] = passed and matched == len(batch)
    outcome.show("rate / sent", f"{rate:g}/s x {seconds:g} s = {len(batch)}")
    outcome.check("matched", f"{matched}/{len(batch)}", "== sent", matched == len(batch))
    outcome.show("p50 / p95 ms", ms(figures, "p50", "p95"))
    outcome.check("p99 ms", ms(figures, "p99"), f"< {target_p99_ms:.0f}", passed)
    outcome.show("max ms", ms(figures, "max"))
    if sent.refused:
        outcome.show("not answered 2xx", str(sent.refused))
    hops.show(outcome, hop_figures)
    return outcome


class Sent:
    def __init__(self) -> None:
        self.answered: dict[str, float] = {}
        """PagerDuty incident id -> when its 202 arrived (perf_counter)."""
        self.answered_wall: dict[str, float] = {}
        """The same moment as wall-clock seconds, for the hops (bench.hops)."""
        self.refused = 0
        self.max_lag = 0.0
        self.last_sent = 0.0
        """When the last delivery was sent (perf_counter): the end of the offered load."""


async def send_open_loop(ctx: Context, batch: list[deliveries.Delivery], rate: float) -> Sent:
    assert ctx.integration is not None
    url = ctx.integration.webhook_url
    sent = Sent()

    async def send(d: deliveries.Delivery) -> None:
        try:
            status = await ctx.api.send_webhook(url, d.body, d.headers)
        except HttpError:
            sent.refused += 1
            return
        if status == 202:
            sent.answered[d.pagerduty_incident_id] = time.perf_counter()
            sent.answered_wall[d.pagerduty_incident_id] = time.time()
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
    sent.last_sent = time.perf_counter()
    await asyncio.gather(*tasks)
    return sent


async def wait_matches(starts: IncidentStarts, wanted: set[str], timeout: float) -> None:
    await wait_seen(starts, starts.seen, wanted, timeout)
