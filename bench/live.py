"""Scenario 11: webhook 202 → the change visible to a browser's open live-updates stream.

A Server-Sent Events client holds ``GET /v1/incident-events`` open on the incidents service, as
the web UI's stream does (behind identity's backend-for-frontend, which relays it as is).
Deliveries go out open loop like scenario 4's; a delivery's latency runs from its 202 to the
IncidentStarted for its PagerDuty incident arriving on the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

import httpx

from bench import deliveries
from bench.context import Context
from bench.latency import send_open_loop
from bench.report import Outcome, ms
from bench.stats import summary_ms

MATCH_TIMEOUT_S = 30.0


class StreamStarts:
    """When each PagerDuty incident's IncidentStarted arrived on the stream (perf_counter)."""

    def __init__(self) -> None:
        self.seen: dict[str, float] = {}
        self.ready = asyncio.Event()
        self.arrived = asyncio.Event()

    async def read(self, client: httpx.AsyncClient, url: str, token: str) -> None:
        headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
        async with client.stream("GET", url, headers=headers) as response:
            response.raise_for_status()
            event = ""
            async for line in response.aiter_lines():
                if line.startswith("event:"):
                    event = line.removeprefix("event:").strip()
                elif line.startswith("data:") and event == "ready":
                    self.ready.set()
                elif line.startswith("data:") and event == "IncidentStarted":
                    self._started(line.removeprefix("data:"), time.perf_counter())

    def _started(self, data: str, now: float) -> None:
        source = json.loads(data)["payload"].get("source") or {}
        external_id = source.get("external_id")
        if external_id and external_id not in self.seen:
            self.seen[external_id] = now
            self.arrived.set()


async def webhook_to_stream(ctx: Context) -> Outcome:
    outcome = Outcome.of(11)
    assert ctx.integration is not None
    rate, seconds = ctx.options.rate, ctx.options.latency_seconds
    batch = deliveries.make(max(1, round(rate * seconds)), ctx.integration.secret)
    token = await ctx.api.fresh_token(ctx.key)
    starts = StreamStarts()
    url = f"{ctx.target.incidents_url}/v1/incident-events"
    async with httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=60.0)) as client:
        reader = asyncio.create_task(starts.read(client, url, token))
        try:
            await asyncio.wait_for(starts.ready.wait(), 30)
            sent = await send_open_loop(ctx, batch, rate)
            deadline = time.monotonic() + MATCH_TIMEOUT_S
            while not set(sent.answered) <= starts.seen.keys() and time.monotonic() < deadline:
                starts.arrived.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(starts.arrived.wait(), deadline - time.monotonic())
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                await reader
    latencies = [
        starts.seen[pd_id] - at for pd_id, at in sent.answered.items() if pd_id in starts.seen
    ]
    figures = summary_ms(latencies, (50, 95, 99))
    outcome.figures = {
        "rate_per_s": rate,
        "seconds": seconds,
        "sent": len(batch),
        "answered_2xx": len(sent.answered),
        "matched": len(latencies),
        "latency_ms": figures,
    }
    outcome.show("rate / sent", f"{rate:g}/s x {seconds:g} s = {len(batch)}")
    outcome.check(
        "on the stream", f"{len(latencies)}/{len(batch)}", "== sent", len(latencies) == len(batch)
    )
    outcome.show("p50 / p99 ms", ms(figures, "p50", "p99"))
    outcome.show("max ms", ms(figures, "max"))
    return outcome
