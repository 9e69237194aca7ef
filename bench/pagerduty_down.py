"""Scenario 17: an alert storm while PagerDuty's REST API does not answer.

Enrichment asks PagerDuty for the on-call users of each delivery's escalation policy, with the
integration's API token. Here that token points at a PagerDuty that answers only after the call
timeout, as one in the middle of its own outage might, so every lookup fails. The storm must
still drain: each alert goes out without emails (``failed``), and every incident starts.

The worker's pass waits for its slowest delivery, and each delivery for its lookups. Before
enrichment paused a token's calls after several went unanswered, every pass waited out the 2 s
call timeout, and the storm drained at about one batch (64) per 2 s (BENCHMARKS.md, "Third wave,
session 10").
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses

from bench import deliveries, storm
from bench.context import Context
from bench.ingest import SETTLE_S
from bench.latency import send_open_loop, wait_matches
from bench.report import Outcome
from bench.watches import IncidentStarts
from fireline_contracts import INCIDENTS
from support.fake_pagerduty import DEFAULT_TOKEN, FakePagerDuty
from support.pagerduty_fixtures import ONCALLS, USERS

RATE = 200.0
SECONDS = 10.0
ANSWER_AFTER_S = 3.0
"""When the fake PagerDuty answers: past the ingest service's call timeout (2 s at most)."""


async def pagerduty_down(ctx: Context) -> Outcome:
    outcome = Outcome.of(17)
    if not ctx.target.started_here:
        # Its fake PagerDuty listens on the bench's loopback, which a stack elsewhere can
        # neither reach nor, by its allow-list, call.
        outcome.show("skipped", "needs the stack the bench starts")
        return outcome
    token = await ctx.api.fresh_token(ctx.key)
    async with FakePagerDuty(users=USERS, oncalls=ONCALLS, slow_delay=ANSWER_AFTER_S) as fake:
        fake.set_mode("slow")
        integration = await ctx.api.create_integration(
            token, pagerduty_api_url=fake.url, pagerduty_api_token=DEFAULT_TOKEN
        )
        try:
            batch = deliveries.make(round(RATE * SECONDS), integration.secret)
            wanted = {d.pagerduty_incident_id for d in batch}
            starts = IncidentStarts(ctx.target, INCIDENTS)
            await starts.start()
            try:
                sent = await send_open_loop(
                    dataclasses.replace(ctx, integration=integration), batch, RATE
                )
                await wait_matches(starts, wanted, ctx.options.drain_timeout)
                await asyncio.sleep(SETTLE_S)  # a late duplicate
            finally:
                await starts.stop()
            calls = len(fake.requests)
        finally:
            # An error here must not hide the scenario's own.
            with contextlib.suppress(Exception):
                await ctx.api.delete_integration(await ctx.api.fresh_token(ctx.key), integration)
    n = len(batch)
    outcome.figures = {
        "rate_per_s": RATE,
        "seconds": SECONDS,
        "pagerduty_answers_after_s": ANSWER_AFTER_S,
        "sent": n,
        **storm.drain_figures(starts, wanted, sent),
        "pagerduty_calls": calls,
    }
    outcome.show("rate / sent", f"{RATE:g}/s x {SECONDS:g} s = {n}")
    outcome.show("PagerDuty answers after", f"{ANSWER_AFTER_S:g} s (past the call timeout)")
    storm.check_drain(outcome, outcome.figures, n, "drained s after the last delivery")
    outcome.show("calls that reached PagerDuty", str(calls))
    return outcome
