"""Scenario 1: N distinct webhooks at full speed, then proof that none was lost or doubled.

1. wrk sends each of N pre-signed deliveries exactly once (``lua/deliveries.lua``): accepted/s.
2. Python sends all N again: each answer must be 2xx (202 new, 200 already received), which
   proves every delivery was stored, including any wrk's run did not get an answer for.
3. The incidents API is counted until it lists N incidents for these N PagerDuty incidents (or
   ``--drain-timeout``), and once more 2 s later so a late duplicate is still caught.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench import deliveries, wrk
from bench.context import Context
from bench.rawhttp import HttpError
from bench.report import Outcome, ms, ratio_check

INGEST_TARGET = 0.5
RESEND_CONCURRENCY = 32
RESEND_ATTEMPTS = 3
SETTLE_S = 2.0
WRK_TIMEOUT_S = 30
"""Under a burst an answer may take seconds; wrk's time-out would count it as never answered."""


async def webhook_ingest(ctx: Context) -> Outcome:
    outcome = Outcome.of(1)
    assert ctx.integration is not None
    n = ctx.options.deliveries
    batch = deliveries.make(n, ctx.integration.secret)
    run = await _wrk_once_each(ctx, batch)
    wrk_done = time.perf_counter()
    statuses = await _resend_all(ctx, batch)
    drain = await _drain(ctx, {d.pagerduty_incident_id for d in batch}, wrk_done)

    c = run.counters
    accepted_per_s = c["accepted"] / run.duration_s if run.duration_s > 0 else 0.0
    answered_2xx = sum(count for status, count in statuses.items() if 200 <= status < 300)
    outcome.figures = {
        "deliveries": n,
        "wrk": {
            **run.figures(),
            "accepted_per_s": round(accepted_per_s, 1),
            "accepted_202": c["accepted"],
            "duplicate_200": c["duplicates"],
            "non_2xx": c["refused"],
            "originals_answered": c["answered"],
            "repeats_sent": c["repeats"],
            "duration_cap_s": _duration_cap(n),
        },
        "resend": {
            "statuses": {str(status): count for status, count in sorted(statuses.items())},
            "new_202": statuses.get(202, 0),
            "not_2xx": n - answered_2xx,
        },
        "unique_accepted": answered_2xx,
        "incidents_started": drain.started,
        "incidents_distinct": drain.distinct,
        "lost": n - drain.distinct,
        "duplicated": drain.started - drain.distinct,
        # From the end of the wrk run (every delivery answered) to all N incidents listed.
        "drain_s": round(drain.seconds, 2) if drain.seconds is not None else None,
        "drain_timeout_s": ctx.options.drain_timeout,
    }
    f = outcome.figures
    outcome.show("accepted/s", f"{accepted_per_s:.0f}")
    ratio_check(outcome, accepted_per_s, ctx.ceiling_rps, INGEST_TARGET)
    outcome.show("p50 / p99 ms", ms(run.latency_ms, "p50", "p99"))
    outcome.show("non-2xx (wrk)", str(c["refused"]))
    outcome.check("answered 2xx (resend)", f"{answered_2xx}/{n}", "== N", answered_2xx == n)
    outcome.show("new on resend", str(f["resend"]["new_202"]))
    outcome.show("incidents started", str(f["incidents_started"]))
    outcome.check("lost", str(f["lost"]), "== 0", f["lost"] == 0)
    outcome.check("duplicated", str(f["duplicated"]), "== 0", f["duplicated"] == 0)
    drained = f["drain_s"]
    timeout = f"timed out ({ctx.options.drain_timeout:g} s)"
    outcome.show("drain s", f"{drained:.1f}" if drained is not None else timeout)
    return outcome


def _duration_cap(n: int) -> int:
    """wrk's -d: the run normally ends when every thread is done, long before this."""
    return max(60, n // 20)


async def _wrk_once_each(ctx: Context, batch: list[deliveries.Delivery]) -> wrk.WrkRun:
    assert ctx.integration is not None
    settings = wrk.WrkSettings(
        threads=ctx.wrk.threads,
        connections=ctx.wrk.connections,
        seconds=ctx.wrk.seconds,
        timeout_s=WRK_TIMEOUT_S,
    )
    with tempfile.TemporaryDirectory(prefix="fireline-bench-") as tmp:
        file, done = Path(tmp) / "deliveries.tsv", Path(tmp) / "done"
        deliveries.write_for_wrk(batch, file)
        done.touch()

        def all_threads_done() -> bool:
            return len(done.read_text().split()) >= settings.threads

        return await wrk.run(
            ctx.integration.webhook_url,
            "deliveries.lua",
            settings,
            env={
                "BENCH_DELIVERIES": str(file),
                "BENCH_DONE_FILE": str(done),
                "BENCH_THREADS": str(settings.threads),
            },
            seconds=_duration_cap(len(batch)),
            finished=all_threads_done,
        )


async def _resend_all(ctx: Context, batch: list[deliveries.Delivery]) -> Counter[int]:
    """Every delivery once more; the final status of each (0: no answer after every attempt)."""
    assert ctx.integration is not None
    url = ctx.integration.webhook_url
    gate = asyncio.Semaphore(RESEND_CONCURRENCY)

    async def resend(d: deliveries.Delivery) -> int:
        status = 0
        async with gate:
            # As PagerDuty would: retry what was not stored (5xx, no answer), never a 4xx.
            for _ in range(RESEND_ATTEMPTS):
                try:
                    status = await ctx.api.send_webhook(url, d.body, d.headers)
                except HttpError:
                    status = 0
                if 0 < status < 500:
                    break
                await asyncio.sleep(0.5)
        return status

    return Counter(await asyncio.gather(*(resend(d) for d in batch)))


@dataclass(frozen=True)
class Drain:
    started: int
    """Incidents listed for the N PagerDuty incidents (a duplicate counts twice)."""
    distinct: int
    """PagerDuty incidents among the N with at least one incident."""
    seconds: float | None
    """From ``since`` until all N were listed; None when the drain timed out."""


async def _drain(ctx: Context, wanted: set[str], since: float) -> Drain:
    """Count incidents until all ``wanted`` have one, then once more after SETTLE_S."""
    deadline = time.perf_counter() + ctx.options.drain_timeout
    drained: float | None = None
    while True:
        _, distinct = await count_incidents(ctx, wanted)
        if distinct == len(wanted):
            drained = time.perf_counter() - since
            break
        if time.perf_counter() > deadline:
            break
        await asyncio.sleep(1.0)
    # A duplicate could still be on its way when the last original arrived.
    await asyncio.sleep(SETTLE_S)
    started, distinct = await count_incidents(ctx, wanted)
    return Drain(started, distinct, drained)


async def count_incidents(ctx: Context, wanted: set[str]) -> tuple[int, int]:
    """(incidents for ``wanted`` PagerDuty incidents, distinct PagerDuty incidents among them)."""
    token = await ctx.api.fresh_token(ctx.key)
    started = 0
    distinct: set[str] = set()
    async for item in ctx.api.incidents(token, source="pagerduty"):
        external_id = (item.get("source") or {}).get("external_id")
        if external_id in wanted:
            started += 1
            distinct.add(external_id)
    return started, len(distinct)
