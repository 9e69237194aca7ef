"""Scenarios 5 and 6: how fast a key change reaches auth and incidents (identity → Kafka → ...).

Every probe polls every 5 ms and is timed from just before the request that makes the change
(DELETE or POST /v1/api-keys) is sent: the figure includes that request's own round trip, so it
errs on the long side of the real propagation delay.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bench.api import ApiKey, Fireline
from bench.context import Context
from bench.report import Outcome, ms
from bench.stats import summary_ms

POLL_S = 0.005
PROBE_TIMEOUT_S = 30.0
TARGET_P99_S = 1.0


@dataclass(frozen=True)
class Poll:
    seconds: float | None
    """From the start to the first wanted answer; None when it never came."""
    polls: int
    limited: int
    """429 answers: auth's failed-authentication limiter, not the propagation being measured."""


async def poll_until(probe: Callable[[], Awaitable[int]], want: int, started: float) -> Poll:
    polls = limited = 0
    while time.perf_counter() - started < PROBE_TIMEOUT_S:
        status = await probe()
        polls += 1
        if status == want:
            return Poll(time.perf_counter() - started, polls, limited)
        limited += status == 429
        await asyncio.sleep(POLL_S)
    return Poll(None, polls, limited)


def _exchange_status(api: Fireline, key: ApiKey) -> Callable[[], Awaitable[int]]:
    async def probe() -> int:
        return (await api.exchange(key)).status_code

    return probe


def _read_status(api: Fireline, token: str) -> Callable[[], Awaitable[int]]:
    async def probe() -> int:
        return await api.read_status(token)

    return probe


async def revocation(ctx: Context) -> Outcome:
    outcome = Outcome.of(5)
    exchange_refused: list[Poll] = []
    token_refused: list[Poll] = []
    failures: list[str] = []
    for trial in range(ctx.options.trials):
        try:
            a, b = await _revocation_trial(ctx.api, trial)
        except (RuntimeError, TimeoutError, OSError) as exc:
            failures.append(f"trial {trial}: {exc}")
            continue
        exchange_refused.append(a)
        token_refused.append(b)
    propagation(outcome, "exchange_refused", "revoke -> exchange 401", exchange_refused)
    propagation(outcome, "token_refused", "revoke -> token 401 (incidents)", token_refused)
    failures_line(outcome, failures)
    return outcome


async def _revocation_trial(api: Fireline, trial: int) -> tuple[Poll, Poll]:
    key = await api.create_key(f"bench revocation {trial}")
    try:
        token = await _usable_token(api, key)
        if (status := await api.read_status(token)) != 200:
            raise RuntimeError(f"the key's token read incidents with {status}, not 200")
        started = time.perf_counter()
        revoke = asyncio.create_task(api.revoke_key(key))
        polls = await asyncio.gather(
            poll_until(_exchange_status(api, key), 401, started),
            poll_until(_read_status(api, token), 401, started),
        )
        await revoke
        return polls[0], polls[1]
    except BaseException:
        # At most 10 active keys per org: never leave one behind (and keep the first error).
        with contextlib.suppress(Exception):
            await api.revoke_key(key)
        raise


async def _usable_token(api: Fireline, key: ApiKey) -> str:
    usable = await poll_until(_exchange_status(api, key), 200, time.perf_counter())
    if usable.seconds is None:
        raise TimeoutError(f"new key not usable within {PROBE_TIMEOUT_S:.0f} s")
    return await api.token(key)


async def key_usable(ctx: Context) -> Outcome:
    outcome = Outcome.of(6)
    usable: list[Poll] = []
    failures: list[str] = []
    for trial in range(ctx.options.trials):
        started = time.perf_counter()
        try:
            key = await ctx.api.create_key(f"bench usable {trial}")
        except RuntimeError as exc:
            failures.append(f"trial {trial}: {exc}")
            continue
        try:
            usable.append(await poll_until(_exchange_status(ctx.api, key), 200, started))
        finally:
            await ctx.api.revoke_key(key)
    propagation(outcome, "create_to_exchange", "create -> exchange 200", usable)
    failures_line(outcome, failures)
    return outcome


def propagation(outcome: Outcome, key: str, label: str, polls: list[Poll]) -> None:
    seconds = [p.seconds for p in polls if p.seconds is not None]
    figures = summary_ms(seconds)
    timed_out = sum(p.seconds is None for p in polls)
    limited = sum(p.limited for p in polls)
    outcome.figures[key] = {
        "trials": len(polls),
        "timed_out": timed_out,
        "rate_limited_answers": limited,
        "latency_ms": figures,
        "target_p99_ms": TARGET_P99_S * 1000,
    }
    passed = bool(figures) and timed_out == 0 and figures["p99"] < TARGET_P99_S * 1000
    outcome.figures[key]["pass"] = passed
    outcome.show(f"{label} p50 ms", ms(figures, "p50"))
    outcome.check(f"{label} p99 ms", ms(figures, "p99"), f"< {TARGET_P99_S * 1000:.0f}", passed)
    if timed_out:
        outcome.show(f"{label}: no answer in {PROBE_TIMEOUT_S:.0f} s", str(timed_out))
    if limited:
        outcome.show(f"{label}: 429 (limiter)", str(limited))


def failures_line(outcome: Outcome, failures: list[str]) -> None:
    outcome.figures["failed_trials"] = failures
    if failures:
        outcome.check("failed trials", str(len(failures)), "== 0", False)
