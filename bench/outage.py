"""Scenario 15: revocation with the broker paused (SIGSTOP), against the revocation bound.

With the broker frozen, nothing identity publishes reaches anyone: a key revoked in identity
can only be refused because the services notice that their view of identity's keys is older
than the bound (``FIRELINE_KEYS_VIEW_MAX_AGE_S``, 10 s; docs/architecture.md, 2.3a). Each trial
revokes a key a moment after pausing the broker and times, from just before the DELETE, the
first refusal (401, or the 503 of a view too old to vouch) by auth's exchange, incidents and
pagerduty-ingest; then resumes the broker and times until the bench's own key works everywhere
again. The bound holds if every refusal comes within it; a paused broker is what a frozen VM or
a long GC pause looks like to the clients (sockets open, nothing answers).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from bench.api import ApiKey, Fireline
from bench.context import Context
from bench.keys import POLL_S, Poll, failures_line
from bench.report import Outcome, ms
from bench.stats import summary_ms

BOUND_S = 10.0
"""The stack's FIRELINE_KEYS_VIEW_MAX_AGE_S (its default)."""
TRIALS = 3
"""Each trial keeps the broker paused for over the bound: three are enough for the maximum."""
PROBE_TIMEOUT_S = 60.0
REFUSED = (401, 503)


async def _first(probe: Callable[[], Awaitable[int]], wanted: tuple[int, ...], t0: float) -> Poll:
    polls = 0
    while time.perf_counter() - t0 < PROBE_TIMEOUT_S:
        status = await probe()
        polls += 1
        if status in wanted:
            return Poll(time.perf_counter() - t0, polls, 0)
        await asyncio.sleep(POLL_S)
    return Poll(None, polls, 0)


@contextlib.asynccontextmanager
async def _paused(pid: int) -> AsyncIterator[None]:
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


async def revocation_with_broker_paused(ctx: Context) -> Outcome:
    outcome = Outcome.of(15)
    broker = ctx.target.processes.get("kafka")
    if broker is None:
        outcome.show("skipped", "needs the one Apache Kafka broker the bench started")
        outcome.figures["skipped"] = "no broker process of the bench's own"
        return outcome
    api = ctx.api
    refused: dict[str, list[Poll]] = {"auth": [], "incidents": [], "ingest": []}
    recovery: list[Poll] = []
    failures: list[str] = []
    for trial in range(TRIALS):
        key = await api.create_key(f"bench paused-broker revocation {trial}")
        try:
            token = await api.token(key)
            probes: dict[str, Callable[[], Awaitable[int]]] = {
                "auth": _exchange_status(api, key),
                "incidents": functools.partial(api.read_status, token),
                "ingest": functools.partial(api.ingest_read_status, token),
            }
            async with _paused(broker.pid):
                t0 = time.perf_counter()
                await api.revoke_key(key)
                polls = await asyncio.gather(*(_first(p, REFUSED, t0) for p in probes.values()))
            for name, poll in zip(probes, polls, strict=True):
                refused[name].append(poll)
            recovery.append(await _recovered(api, ctx.key, time.perf_counter()))
        except (RuntimeError, TimeoutError, OSError) as exc:
            failures.append(f"trial {trial}: {exc}")
            with contextlib.suppress(Exception):
                await api.revoke_key(key)
    outcome.figures["bound_ms"] = BOUND_S * 1000
    for name, polls in refused.items():
        _within_bound(outcome, name, polls)
    seconds = [p.seconds for p in recovery if p.seconds is not None]
    figures = summary_ms(seconds)
    outcome.figures["recovery"] = {"trials": len(recovery), "latency_ms": figures}
    outcome.show("broker resumed -> bench key works everywhere, max ms", ms(figures, "max"))
    failures_line(outcome, failures)
    return outcome


def _exchange_status(api: Fireline, key: ApiKey) -> Callable[[], Awaitable[int]]:
    async def probe() -> int:
        return (await api.exchange(key)).status_code

    return probe


async def _recovered(api: Fireline, key: ApiKey, t0: float) -> Poll:
    """Until the bench's own key exchanges and its token reads incidents and ingest again."""
    token: str | None = None

    async def everywhere() -> int:
        nonlocal token
        if token is None:
            answer = await api.exchange(key)
            if answer.status_code != 200:
                return answer.status_code
            token = str(answer.json()["access_token"])
        statuses = {await api.read_status(token), await api.ingest_read_status(token)}
        return 200 if statuses == {200} else max(statuses)

    return await _first(everywhere, (200,), t0)


def _within_bound(outcome: Outcome, name: str, polls: list[Poll]) -> None:
    seconds = [p.seconds for p in polls if p.seconds is not None]
    figures = summary_ms(seconds)
    timed_out = sum(p.seconds is None for p in polls)
    passed = bool(figures) and timed_out == 0 and figures["max"] <= BOUND_S * 1000
    outcome.figures[f"{name}_refused"] = {
        "trials": len(polls),
        "timed_out": timed_out,
        "latency_ms": figures,
        "pass": passed,
    }
    outcome.check(
        f"revoke -> {name} refuses, max ms", ms(figures, "max"), f"<= {BOUND_S * 1000:.0f}", passed
    )
