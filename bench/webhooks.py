"""Scenarios 13 and 14: outgoing webhooks, from a PagerDuty delivery to a receiver on loopback.

13: PagerDuty 202 → the signed ``incident.started`` POST at a subscribed endpoint, p50/p99 at a
steady rate (open loop, as scenario 4). 14: a burst of PagerDuty deliveries fanned out to ten
endpoints; events per second from the first send to the last webhook received.

The receiver runs in the bench's own event loop and notes when each POST arrived; the stack the
bench starts allow-lists 127.0.0.1 for it (an external stack must allow-list the bench's host).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench import deliveries
from bench.context import Context
from bench.latency import send_open_loop
from bench.report import Outcome, ms
from bench.stats import summary_ms
from bench.watches import IncidentStarts, wait_until
from fireline_contracts import INCIDENTS

TARGET_P99_MS = 500.0
"""Scenario 4's budget to the incident, plus the dispatcher's wake-up and one local POST."""
WAIT_S = 60.0
"""How long after the last 202 the webhooks may still arrive."""
FAN_OUT_ENDPOINTS = 10
BURST = 100


class Receiver:
    """When each endpoint path first got each PagerDuty incident's webhook, and how often."""

    def __init__(self) -> None:
        self.seen: dict[str, dict[str, float]] = defaultdict(dict)
        self.received = 0
        self.arrived = asyncio.Event()
        self.port = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def _receive(self, request: Request) -> Response:
        body = await request.body()
        at = time.perf_counter()
        self.received += 1
        source = json.loads(body).get("data", {}).get("source") or {}
        external_id = source.get("external_id")
        if external_id is not None:
            self.seen[request.url.path].setdefault(external_id, at)
        self.arrived.set()
        return Response(status_code=204)

    async def wait(self, paths: list[str], wanted: set[str], timeout: float) -> None:
        await wait_until(
            self.arrived, lambda: all(wanted <= self.seen[p].keys() for p in paths), timeout
        )

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[Receiver]:
        app = Starlette(routes=[Route("/{path:path}", self._receive, methods=["POST"])])
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(app, log_config=None, log_level="warning", access_log=False)
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:  # noqa: ASYNC110 - uvicorn offers a flag, not an event
            await asyncio.sleep(0.01)
        try:
            yield self
        finally:
            server.should_exit = True
            await task
            sock.close()


async def _endpoints(ctx: Context, token: str, urls: list[str]) -> list[str]:
    created = []
    for url in urls:
        r = await ctx.api.http.post(
            f"{ctx.target.notifications_url}/v1/webhook-endpoints",
            json={"url": url, "event_types": ["incident.started"], "description": "bench"},
            headers={"Authorization": f"Bearer {token}"},
        )
        if r.status_code != 201:
            raise RuntimeError(f"creating a webhook endpoint answered {r.status_code}: {r.text}")
        created.append(str(r.json()["id"]))
    return created


async def _delete(ctx: Context, token: str, ids: list[str]) -> None:
    for endpoint_id in ids:
        with contextlib.suppress(Exception):
            await ctx.api.http.delete(
                f"{ctx.target.notifications_url}/v1/webhook-endpoints/{endpoint_id}",
                headers={"Authorization": f"Bearer {token}"},
            )


async def pagerduty_to_webhook(ctx: Context) -> Outcome:
    outcome = Outcome.of(13)
    assert ctx.integration is not None
    if not ctx.target.notifications_url:
        outcome.show("skipped", "no notifications URL for an external stack")
        return outcome
    rate, seconds = ctx.options.rate, ctx.options.latency_seconds
    batch = deliveries.make(max(1, round(rate * seconds)), ctx.integration.secret)
    token = await ctx.api.fresh_token(ctx.key)
    # Where the time goes: before the incident event is on the topic (ingest, incidents), or
    # after it (the notifications service's consumer and dispatcher).
    starts = IncidentStarts(ctx.target, INCIDENTS)
    await starts.start()
    async with Receiver().serving() as receiver:
        ids = await _endpoints(ctx, token, [receiver.url("/latency")])
        try:
            sent = await send_open_loop(ctx, batch, rate)
            await receiver.wait(["/latency"], set(sent.answered), WAIT_S)
        finally:
            await _delete(ctx, token, ids)
            await starts.stop()
    seen = receiver.seen["/latency"]
    latencies = [seen[pd_id] - at for pd_id, at in sent.answered.items() if pd_id in seen]
    figures = summary_ms(latencies, (50, 95, 99))
    to_topic = summary_ms(
        [starts.seen[i] - at for i, at in sent.answered.items() if i in starts.seen], (50, 99)
    )
    from_topic = summary_ms(
        [seen[i] - starts.seen[i] for i in seen.keys() & starts.seen.keys()], (50, 99)
    )
    matched = len(latencies)
    passed = bool(figures) and figures["p99"] < TARGET_P99_MS
    outcome.figures = {
        "rate_per_s": rate,
        "seconds": seconds,
        "sent": len(batch),
        "answered_2xx": len(sent.answered),
        "received": matched,
        "missing": len(batch) - matched,
        "latency_ms": figures,
        "hop_202_to_incident_started_consumed_ms": to_topic,
        "hop_incident_started_consumed_to_webhook_ms": from_topic,
        "target_p99_ms": TARGET_P99_MS,
        "pass": passed and matched == len(batch),
    }
    outcome.show("rate / sent", f"{rate:g}/s x {seconds:g} s = {len(batch)}")
    outcome.check("received", f"{matched}/{len(batch)}", "== sent", matched == len(batch))
    outcome.show("p50 / p95 ms", ms(figures, "p50", "p95"))
    outcome.check("p99 ms", ms(figures, "p99"), f"< {TARGET_P99_MS:.0f}", passed)
    outcome.show("hop 202 -> IncidentStarted consumed p50 / p99 ms", ms(to_topic, "p50", "p99"))
    outcome.show("hop IncidentStarted -> webhook p50 / p99 ms", ms(from_topic, "p50", "p99"))
    return outcome


async def fan_out_burst(ctx: Context) -> Outcome:
    outcome = Outcome.of(14)
    assert ctx.integration is not None
    if not ctx.target.notifications_url:
        outcome.show("skipped", "no notifications URL for an external stack")
        return outcome
    batch = deliveries.make(BURST, ctx.integration.secret)
    paths = [f"/fan-{i}" for i in range(FAN_OUT_ENDPOINTS)]
    token = await ctx.api.fresh_token(ctx.key)
    async with Receiver().serving() as receiver:
        ids = await _endpoints(ctx, token, [receiver.url(p) for p in paths])
        try:
            started = time.perf_counter()
            # As fast as the client sends: a burst, not a rate.
            sent = await send_open_loop(ctx, batch, rate=10_000.0)
            await receiver.wait(paths, set(sent.answered), WAIT_S)
        finally:
            await _delete(ctx, token, ids)
    arrivals = [at for p in paths for at in receiver.seen[p].values()]
    webhooks = len(arrivals)
    elapsed = (max(arrivals) - started) if arrivals else float("nan")
    expected = FAN_OUT_ENDPOINTS * len(sent.answered)
    per_s: dict[str, Any] = {
        "events_per_s": round(len(sent.answered) / elapsed, 1) if arrivals else None,
        "webhooks_per_s": round(webhooks / elapsed, 1) if arrivals else None,
    }
    outcome.figures = {
        "events": len(batch),
        "endpoints": FAN_OUT_ENDPOINTS,
        "webhooks_expected": expected,
        "webhooks_received": webhooks,
        "posts_received": receiver.received,
        "elapsed_s": round(elapsed, 2),
        **per_s,
        "pass": webhooks == expected,
    }
    outcome.show("burst", f"{len(batch)} events x {FAN_OUT_ENDPOINTS} endpoints")
    outcome.check("received", f"{webhooks}/{expected}", "== expected", webhooks == expected)
    outcome.show("events/s", str(per_s["events_per_s"]))
    outcome.show("webhooks/s", str(per_s["webhooks_per_s"]))
    return outcome
