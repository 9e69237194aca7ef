"""``python -m bench``: measure Fireline, print a table, write ``bench/results/<time>.json``.

Starts the four services as processes (fresh databases, embedded broker, auth's failed-auth
limit raised) unless every URL of a running stack is given, provisions through the public APIs
(an API key, a PagerDuty integration, one incident), then runs the chosen scenarios in
:data:`bench.options.RUN_ORDER`. Throughput is reported as a ratio to scenario 0, a bare FastAPI
app on the services' own server settings measured in the same run, so a figure says what
Fireline's own work costs on this machine rather than how fast the machine is.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bench import (
    ROOT,
    algorithms,
    deliveries,
    floor,
    ingest,
    keys,
    latency,
    live,
    machine,
    options,
    outage,
    pagerduty_down,
    report,
    sessions,
    storm,
    throughput,
    webhooks,
)
from bench import wrk as wrk_
from bench.api import Fireline
from bench.context import Context
from bench.report import Outcome
from bench.target import Target, external, own_stack

Scenario = Callable[[Context], Awaitable[Outcome]]

SCENARIOS: dict[int, Scenario] = {
    0: throughput.ceiling,
    1: ingest.webhook_ingest,
    2: throughput.token_exchange,
    3: throughput.authenticated_read,
    4: latency.end_to_end,
    5: keys.revocation,
    6: keys.key_usable,
    7: algorithms.token_exchange_by_algorithm,
    8: storm.burst,
    9: latency.lone_deliveries,
    10: storm.storm,
    11: live.webhook_to_stream,
    12: sessions.logout_refuses_tokens,
    13: webhooks.pagerduty_to_webhook,
    14: webhooks.fan_out_burst,
    15: outage.revocation_with_broker_paused,
    16: floor.floor,
    17: pagerduty_down.pagerduty_down,
}
NEEDS_INTEGRATION = {1, 3, 4, 8, 9, 10, 11, 13, 14, 16}


def progress(message: str) -> None:
    """Progress goes to stderr: stdout carries only the table."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


@contextlib.asynccontextmanager
async def target_for(opts: options.Options, broker: str) -> AsyncIterator[Target]:
    if opts.external is not None:
        yield external(opts.external)
        return
    progress(f"starting PostgreSQL ({opts.postgres}), {broker} and the four services")
    async with own_stack(broker, opts.postgres) as target:
        yield target


async def provision(ctx: Context) -> None:
    """The integration and the incident the chosen scenarios need, through the public APIs."""
    if not set(ctx.options.scenarios) & NEEDS_INTEGRATION:
        return
    token = await ctx.api.fresh_token(ctx.key)
    ctx.integration = await ctx.api.create_integration(token)
    # One incident end to end: scenario 3 reads it, and it proves the pipeline (and the
    # incidents topic scenario 4 subscribes to) exists before anything is measured.
    probe = deliveries.make(1, ctx.integration.secret)[0]
    status = await ctx.api.send_webhook(ctx.integration.webhook_url, probe.body, probe.headers)
    if status != 202:
        raise RuntimeError(f"first webhook answered {status}; see the ingest service's log")
    ctx.incident_id = await ctx.api.wait_incident(token, probe.pagerduty_incident_id)


async def cleanup(ctx: Context) -> None:
    """Leave a running stack as found: the bench's key revoked, its integration deleted."""
    with contextlib.suppress(Exception):
        if ctx.integration is not None:
            await ctx.api.delete_integration(await ctx.api.fresh_token(ctx.key), ctx.integration)
    with contextlib.suppress(Exception):
        await ctx.api.revoke_key(ctx.key)


async def run_scenario(number: int, ctx: Context) -> Outcome:
    """One scenario; an error is reported as its outcome so the others still run."""
    progress(f"scenario {number}: {report.NAMES[number][1]}")
    try:
        return await SCENARIOS[number](ctx)
    except wrk_.WrkMissing:
        raise
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        failed = Outcome.of(number)
        failed.figures["error"] = f"{type(exc).__name__}: {exc}"
        failed.check("error", type(exc).__name__, "none", False)
        return failed


async def measure_target(opts: options.Options, target: Target) -> list[Outcome]:
    """Every chosen scenario against one stack, provisioned and cleaned up around them."""
    api = Fireline(target)
    try:
        await api.login()
        ctx = Context(
            options=opts,
            target=target,
            api=api,
            wrk=wrk_.WrkSettings(opts.threads, opts.connections, opts.seconds),
            key=await api.create_key("bench"),
        )
        try:
            progress("provisioning")
            await provision(ctx)
            return [await run_scenario(n, ctx) for n in opts.in_run_order]
        finally:
            await cleanup(ctx)
    finally:
        await api.aclose()


@dataclass
class Run:
    target: Target
    outcomes: list[Outcome]

    def as_json(self) -> dict[str, Any]:
        return {
            "broker": self.target.broker,
            "results": {o.key: {"scenario": o.number, **o.figures} for o in self.outcomes},
            "checks": report.all_checks(self.outcomes),
        }


async def measure(opts: options.Options) -> tuple[dict[str, Any], list[Run]]:
    """Run the chosen scenarios on each broker; the results document and the runs.

    The first broker's run (Apache Kafka by default) is the one the targets are checked on;
    the others stand beside it in ``alongside``, measured on the same machine in the same run.
    """
    wrk_version = wrk_.version()  # fails early, before a stack is started, without wrk
    # Read before anything starts: what the rest of the machine was doing when the run began.
    load_before = machine.load_average_now()
    started_at = datetime.now(UTC)
    runs: list[Run] = []
    for broker in opts.brokers if opts.external is None else ("external",):
        async with target_for(opts, broker) as target:
            runs.append(Run(target, await measure_target(opts, target)))
    finished_at = datetime.now(UTC)
    primary = runs[0]
    checks = report.all_checks(primary.outcomes)
    document = {
        "format": 2,
        "started_at": started_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "finished_at": finished_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "elapsed_s": round((finished_at - started_at).total_seconds(), 1),
        "options": opts.as_json(),
        "wrk": {
            "version": wrk_version,
            **wrk_.WrkSettings(opts.threads, opts.connections, opts.seconds).as_json(),
        },
        "stack": {
            "started_by_bench": primary.target.started_here,
            "auth_failed_auth_limit": primary.target.limiter_json(),
        },
        "machine": machine.describe(
            wrk_version=wrk_version,
            postgres_version=primary.target.postgres_version,
            broker=primary.target.broker,
            load_average=load_before,
        ),
        "postgres": primary.target.postgres or {"kind": "external"},
        **primary.as_json(),
        "passed": all(c["pass"] is True for c in checks),
        "alongside": [run.as_json() for run in runs[1:]],
    }
    return document, runs


def header(document: dict[str, Any]) -> list[str]:
    m, w, limiter = (
        document["machine"],
        document["wrk"],
        document["stack"]["auth_failed_auth_limit"],
    )
    stack = "started by the bench" if document["stack"]["started_by_bench"] else "external"
    limit = (
        f"raised to {limiter['failed_auth_limit']} so probes measure propagation, not the limiter"
        if limiter["raised"]
        else "as deployed (not raised)"
    )
    return [
        f"Fireline bench  {document['started_at']}  ({document['elapsed_s']} s)",
        f"machine: {m['cpu_count']} cpu ({m['cpu_model']}), {m['memory_total_mib']} MiB, "
        f"{m['os']} {m['kernel']}, Python {m['python']}",
        f"stack: {stack}; PostgreSQL {m['postgresql']} ({_postgres(document['postgres'])}); "
        f"broker {m['broker']}",
        "load average before the run (1, 5, 15 min): "
        + ", ".join(f"{v:.2f}" for v in m["load_average"]),
        f"wrk {w['version']}: {w['threads']} threads, {w['connections']} connections, "
        f"{w['seconds']} s per throughput scenario",
        f"auth failed-authentication limit: {limit}",
    ]


def _postgres(described: dict[str, Any]) -> str:
    if described.get("kind") == "external":
        return "external"
    counts = "counts statements" if described.get("pg_stat_statements") else "no statement counts"
    return (
        f"{described['kind']}, fsync {described['fsync']}, "
        f"synchronous_commit {described['synchronous_commit']}, {counts}"
    )


def verdict(checks: list[dict[str, Any]]) -> str:
    missed = sum(c["pass"] is False for c in checks)
    unmeasured = sum(c["pass"] is None for c in checks)
    if not missed and not unmeasured:
        return f"all {len(checks)} targets met"
    return f"{missed} of {len(checks)} targets missed, {unmeasured} not measured"


def main(argv: list[str] | None = None) -> None:
    opts = options.parse(argv)
    try:
        document, runs = asyncio.run(measure(opts))
    except wrk_.WrkMissing as exc:
        raise SystemExit(str(exc)) from None
    path = report.write(document, opts.results_dir)
    for i, run in enumerate(runs):
        lines = header(document) if i == 0 else ["", f"beside it, on broker {run.target.broker}:"]
        print(report.table(run.outcomes, lines))
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    print(f"\n{verdict(document['checks'])}; results written to {shown}")
    # A missed target is a finding, not a failure of the harness; a scenario that crashed is.
    results = [document["results"], *(run["results"] for run in document["alongside"])]
    if any("error" in result for by_key in results for result in by_key.values()):
        raise SystemExit(1)
