"""Scenarios 0, 2 and 3: wrk throughput, each as a ratio to the bare FastAPI ceiling."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from typing import IO

import httpx

from bench import ROOT, cpu, wrk
from bench.context import Context
from bench.report import Outcome, ms, ratio_check
from fireline_devtools.net import free_port

TOKEN_TARGET = 0.6
READ_TARGET = 0.7

CEILING_BODY = json.dumps({"name": "bench", "count": 1})


async def ceiling(ctx: Context) -> Outcome:
    outcome = Outcome.of(0)
    run, per_request = await measure_ceiling(ctx)
    ctx.ceiling_rps = run.requests_per_s
    ctx.ceiling_cpu_ms = per_request
    outcome.figures = {
        "request": "POST /echo",
        **run.figures(),
        "server_cpu_ms_per_request": per_request,
    }
    outcome.show("POST /echo req/s", f"{run.requests_per_s:.0f}")
    if per_request is not None:
        outcome.show("server CPU ms/request", f"{per_request:.3f}")
    _latency_and_errors(outcome, run)
    return outcome


async def measure_ceiling(ctx: Context) -> tuple[wrk.WrkRun, float | None]:
    """wrk against the bare app; its run and the server's CPU ms per request."""
    async with ceiling_server() as (url, pid):
        server = {"ceiling": cpu.Watched(pid)}
        before = cpu.read(server)
        run = await wrk.run(
            f"{url}/echo",
            "post.lua",
            ctx.wrk,
            env={"BENCH_BODY": CEILING_BODY, "BENCH_HEADERS": "Content-Type: application/json"},
        )
        # What one request costs the bare server: the floor the alert storm's CPU budget
        # per delivery (scenario 8) is compared with.
        per_request = cpu.per_delivery_ms(before, cpu.read(server), run.requests)["ceiling"]
    return run, per_request


async def token_exchange(ctx: Context) -> Outcome:
    outcome = Outcome.of(2)
    run = await exchange_run(ctx)
    outcome.figures = {"request": "POST /oauth/token (client_credentials)", **run.figures()}
    outcome.show("tokens/s", f"{run.requests_per_s:.0f}")
    ratio_check(outcome, run.requests_per_s, ctx.ceiling_rps, TOKEN_TARGET)
    _latency_and_errors(outcome, run)
    return outcome


async def exchange_run(ctx: Context) -> wrk.WrkRun:
    """wrk against ``POST /oauth/token`` with the bench's key (HTTP Basic)."""
    basic = base64.b64encode(f"{ctx.key.id}:{ctx.key.secret}".encode()).decode()
    await ctx.api.token(ctx.key)  # the key works (and any earlier 429 has run out) before wrk
    return await wrk.run(
        f"{ctx.target.auth_url}/oauth/token",
        "post.lua",
        ctx.wrk,
        env={
            "BENCH_BODY": "grant_type=client_credentials",
            "BENCH_HEADERS": "Content-Type: application/x-www-form-urlencoded\n"
            f"Authorization: Basic {basic}",
        },
    )


async def authenticated_read(ctx: Context) -> Outcome:
    outcome = Outcome.of(3)
    assert ctx.incident_id is not None, "provisioning starts an incident for scenario 3"
    token = await ctx.api.token(ctx.key)  # fresh: it must outlive the run
    run = await wrk.run(
        f"{ctx.target.incidents_url}/v1/incidents/{ctx.incident_id}",
        "get.lua",
        ctx.wrk,
        env={"BENCH_AUTH": f"Bearer {token}"},
    )
    outcome.figures = {"request": "GET /v1/incidents/{id} (Bearer)", **run.figures()}
    outcome.show("reads/s", f"{run.requests_per_s:.0f}")
    ratio_check(outcome, run.requests_per_s, ctx.ceiling_rps, READ_TARGET)
    _latency_and_errors(outcome, run)
    return outcome


def _latency_and_errors(outcome: Outcome, run: wrk.WrkRun) -> None:
    outcome.show("p50 / p99 ms", ms(run.latency_ms, "p50", "p99"))
    # Not a stated target, but a rate that includes refusals measures the refusals.
    outcome.check("non-2xx", str(run.non_2xx), "== 0", run.non_2xx == 0)
    errors = sum(run.socket_errors.values())
    if errors:
        outcome.show("socket errors", str(errors))


@contextlib.asynccontextmanager
async def ceiling_server() -> AsyncIterator[tuple[str, int]]:
    """``python -m bench.ceiling`` on a free port, for as long as the block runs: URL and pid."""
    port = free_port()
    with tempfile.TemporaryFile() as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.ceiling",
            "--port",
            str(port),
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            await _wait_healthy(url, proc, log)
            yield url, proc.pid
        finally:
            await _stop(proc)


async def _wait_healthy(url: str, proc: asyncio.subprocess.Process, log: IO[bytes]) -> None:
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient(timeout=1) as client:
        while time.monotonic() < deadline:
            if proc.returncode is not None:
                log.seek(0)
                tail = log.read()[-2000:].decode(errors="replace")
                raise RuntimeError(f"bench.ceiling exited with {proc.returncode}: {tail}")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"{url}/healthz")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise TimeoutError("bench.ceiling did not answer /healthz within 30 s")


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is not None:
        return
    proc.terminate()
    try:
        await asyncio.wait_for(proc.wait(), 10)
    except TimeoutError:
        proc.kill()
        await proc.wait()
